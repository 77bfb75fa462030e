"""Other evidence for the hybrid ranking, against the shipped blend, on every set.

    python eval/hybrid_candidates.py --datasets DIR [--work /tmp/sweep] [--sentences]

Why: the shipped blend (z-scores of BM25 and the passage's cosine among
BM25's top 100 and the 50 nearest passages, w = 0.5; ``hybrid_sweep.py``)
leaves paraphrased questions whose words BM25 matches in the wrong
article.  Each family below is a principled way to read more evidence
from what the index already holds, measured on the same candidates:

* ``adaptive``: the weight follows BM25's own confidence.  A flat BM25
  top (its best candidate barely above the rest: the question is not in
  any passage's words) gives meaning more weight.  Confidence: the best
  candidate's z-score among the candidates, or its relative lead over the
  second; the weight moves linearly from ``lo`` to ``hi`` between the two
  confidence bounds.
* ``article``: a passage is judged with its article.  ``sibling`` adds
  ``lam`` times the best other candidate passage of the same article
  (two passages matching is more evidence than one); ``mean`` and
  ``lead`` mix into the passage's cosine the cosine of its article's mean
  passage vector, or of its article's first passage.
* ``norm``: other per-query normalisations: ranks on a fixed depth,
  z-scores of log(1 + BM25), and BM25's z-score over the passages it
  matches (the meaning-only candidates' zeros left out of its mean).
* ``sentence`` (``--sentences``): a passage's best sentence's cosine
  (every sentence of every passage encoded once, cached in WORK) in place
  of, averaged with, the larger of, or beside the passage's cosine (with
  ``share`` of the meaning's weight).  Split by ``split_sentences``, a
  heading counted as a sentence: the index's stored sentence vectors
  leave headings out (``service.index.vectors.passage_sentences``), which
  ``python -m service eval`` measures.

The sets, candidates and measures are ``hybrid_sweep``'s (its indexes and
question vectors are reused from WORK).  The choice would be read off the
tuning columns (squad-dev-a Success@1 and SciFact train nDCG@10); every
set is printed, and ``Δ tuning`` is the mean change of the two against the
shipped blend.  Prints Markdown.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Callable

import numpy as np

import hybrid_sweep as hs
from service.config import RetrievalSettings
from service.embedding import quantized_dot
from service.retrieval.hybrid import SentenceVectors, best_sentence, blend, blend_sentences, zscore

SHIPPED = RetrievalSettings()
COLUMNS = [("questions", "S@1"), ("questions", "para S@1"), ("check", "S@1"), ("check", "para S@1"),
           ("squad-dev-a", "S@1"), ("squad-dev-a", "nDCG@10"), ("scifact-train", "nDCG@10"),
           ("scifact-test", "nDCG@10")]
#: query index, candidate ids, their BM25 scores, their cosines → blended scores
Fusion = Callable[[int, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


class Evidence:
    """Per-set lookups the candidates read: each passage's article, each
    article's first passage and mean passage vector, and (optionally) the
    vectors of every passage's sentences."""

    def __init__(self, qs: hs.QuerySet) -> None:
        p = hs.segment(qs.retriever).passages
        self.qs = qs
        self.source = np.asarray(p["p_source"]).astype(np.int64)
        first = np.flatnonzero(np.asarray(p["p_n"]) == 0)
        self.lead = np.full(self.source.max() + 1, -1, np.int64)
        self.lead[self.source[first]] = first
        vecs = qs.vectors.astype(np.float32) * qs.scales[:, None]
        mean = np.zeros((len(self.lead), vecs.shape[1]), np.float32)
        np.add.at(mean, self.source, vecs)
        self.mean = mean / np.maximum(np.linalg.norm(mean, axis=1, keepdims=True), 1e-9)
        self.sentences: SentenceVectors | None = None

    def article_cosine(self, i: int, docs: np.ndarray, kind: str) -> np.ndarray:
        src = self.source[docs]
        if kind == "mean":
            return (self.mean[src] @ self.qs.vecs[i]).astype(np.float64)
        return self.qs.cosine(i, self.lead[src])

    def best_sentence(self, i: int, docs: np.ndarray, cos: np.ndarray) -> np.ndarray:
        return best_sentence(self.qs.vecs[i], docs, self.sentences, cos)


def sentence_vectors(work: Path, name: str, qs: hs.QuerySet) -> SentenceVectors:
    """Every sentence of every passage encoded alone (as the index encodes
    passages), and where each passage's sentences start; cached in WORK."""
    from service.index.vectors import encode_passages
    from service.text.sentences import split_sentences

    path = work / f"svec-{name}-{hs.encoder_fingerprint()[:16]}.npz"
    if not path.exists():
        seg = hs.segment(qs.retriever)
        p = {k: np.asarray(v) for k, v in seg.passages.items()}
        texts, owner = [], []
        for doc, (si, start, end) in enumerate(zip(p["p_source"].tolist(), p["p_start"].tolist(),
                                                   p["p_end"].tolist())):
            text = seg.source_text(si)[start:end]
            for a, b in split_sentences(text) or [(0, len(text))]:
                texts.append(text[a:b])
                owner.append(doc)
        started = time.perf_counter()
        codes, scales = encode_passages(texts, workers=1, progress=False)
        print(f"<!-- {name}: {len(texts)} sentences of {len(p['p_source'])} passages encoded in "
              f"{time.perf_counter() - started:.0f} s -->", flush=True)
        np.savez(path, codes=codes, scales=scales, owner=np.asarray(owner))
    saved = np.load(path)
    starts = np.searchsorted(saved["owner"], np.arange(len(qs.scales) + 1))
    return SentenceVectors(starts.astype(np.int64), saved["codes"], saved["scales"])


# -- the candidates ----------------------------------------------------------------


def shipped(ev: Evidence) -> Fusion:
    return lambda i, docs, bm25, cos: blend(bm25, cos, SHIPPED.hybrid_weight)


def adaptive(stat: str, bounds: tuple[float, float], weights: tuple[float, float]) -> Callable[[Evidence], Fusion]:
    def confidence(bm25: np.ndarray) -> float:
        top = np.sort(bm25)[::-1]
        if not len(top):
            return 0.0
        if stat == "z of the best":
            return float(zscore(bm25)[np.argmax(bm25)])
        return float((top[0] - top[1]) / top[0]) if len(top) > 1 and top[0] > 0 else 0.0

    def make(ev: Evidence) -> Fusion:
        def fuse(i: int, docs: np.ndarray, bm25: np.ndarray, cos: np.ndarray) -> np.ndarray:
            a = np.clip((confidence(bm25) - bounds[0]) / (bounds[1] - bounds[0]), 0.0, 1.0)
            return blend(bm25, cos, weights[0] + (weights[1] - weights[0]) * a)
        return fuse
    return make


def sibling(lam: float) -> Callable[[Evidence], Fusion]:
    def make(ev: Evidence) -> Fusion:
        def fuse(i: int, docs: np.ndarray, bm25: np.ndarray, cos: np.ndarray) -> np.ndarray:
            b = blend(bm25, cos, SHIPPED.hybrid_weight)
            out = b.copy()
            src = ev.source[docs]
            for s in np.unique(src):
                members = np.flatnonzero(src == s)
                if len(members) < 2:
                    continue
                ranked = members[np.argsort(-b[members], kind="stable")]
                out[members] += lam * max(b[ranked[0]], 0.0)
                out[ranked[0]] += lam * (max(b[ranked[1]], 0.0) - max(b[ranked[0]], 0.0))
            return out
        return fuse
    return make


def article_vector(kind: str, lam: float) -> Callable[[Evidence], Fusion]:
    def make(ev: Evidence) -> Fusion:
        return lambda i, docs, bm25, cos: blend(
            bm25, (1 - lam) * cos + lam * ev.article_cosine(i, docs, kind), SHIPPED.hybrid_weight)
    return make


def ranks(docs: np.ndarray, x: np.ndarray) -> np.ndarray:
    out = np.empty(len(x))
    out[np.lexsort((docs, -x))] = np.arange(len(x))
    return out


def normalised(kind: str, w: float, depth: int = 0) -> Callable[[Evidence], Fusion]:
    def fuse(i: int, docs: np.ndarray, bm25: np.ndarray, cos: np.ndarray) -> np.ndarray:
        if kind == "rank":
            lexical = np.where(bm25 > 0, np.maximum(0.0, 1 - ranks(docs, bm25) / depth), 0.0)
            return w * lexical + (1 - w) * np.maximum(0.0, 1 - ranks(docs, cos) / depth)
        if kind == "log":
            return w * zscore(np.log1p(bm25)) + (1 - w) * zscore(cos)
        matched = bm25[bm25 > 0]
        sd = float(matched.std()) if len(matched) else 0.0
        z = (bm25 - matched.mean()) / sd if sd > 0 else np.zeros_like(bm25)
        return w * z + (1 - w) * zscore(cos)
    return lambda ev: fuse


def sentence(mode: str, w: float, share: float = 0.5) -> Callable[[Evidence], Fusion]:
    def make(ev: Evidence) -> Fusion:
        def fuse(i: int, docs: np.ndarray, bm25: np.ndarray, cos: np.ndarray) -> np.ndarray:
            best = ev.best_sentence(i, docs, cos)
            if mode == "instead":
                return blend(bm25, best, w)
            if mode == "averaged":
                return blend(bm25, (cos + best) / 2, w)
            if mode == "max":
                return blend(bm25, np.maximum(cos, best), w)
            return blend_sentences(bm25, cos, best, w, share)
        return fuse
    return make


def candidates(with_sentences: bool) -> list[tuple[str, str, Callable[[Evidence], Fusion]]]:
    out = [("shipped", f"z w={SHIPPED.hybrid_weight}, depth {SHIPPED.hybrid_depth}, dense {SHIPPED.dense_depth}",
            shipped)]
    for stat, bounds in (("z of the best", (1.0, 4.0)), ("z of the best", (2.0, 6.0)), ("lead", (0.0, 0.3))):
        for weights in ((0.3, 0.6), (0.4, 0.6), (0.35, 0.55)):
            out.append(("adaptive", f"{stat} in [{bounds[0]}, {bounds[1]}] → w {weights[0]}–{weights[1]}",
                        adaptive(stat, bounds, weights)))
    out += [("article", f"sibling lam={lam}", sibling(lam)) for lam in (0.1, 0.2, 0.5)]
    out += [("article", f"{kind} cosine lam={lam}", article_vector(kind, lam))
            for kind in ("mean", "lead") for lam in (0.1, 0.3)]
    for w in (0.4, 0.5, 0.6):
        out += [("norm", f"rank depth {d} w={w}", normalised("rank", w, d)) for d in (20, 100)]
        out += [("norm", f"log BM25 w={w}", normalised("log", w)),
                ("norm", f"BM25 z over its matches w={w}", normalised("matched", w))]
    if with_sentences:
        out += [("sentence", f"best sentence {mode} w={w}", sentence(mode, w))
                for mode in ("instead", "averaged", "max") for w in (0.4, 0.5, 0.6)]
        out += [("sentence", f"best sentence beside, share {share} w={w}", sentence("beside", w, share))
                for share in (0.25, 0.5, 0.75) for w in (0.35, 0.4, 0.45, 0.5, 0.6)]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, required=True, help="folder holding scifact/ and squad-dev-a/")
    parser.add_argument("--work", type=Path, default=Path("/tmp/sweep"), help="hybrid_sweep's WORK folder")
    parser.add_argument("--sentences", action="store_true", help="also the best sentence's cosine (encodes "
                        "every sentence of every set once: minutes)")
    parser.add_argument("--families", nargs="+", help="only these families (the shipped row always)")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    sets = hs.load_sets(args.datasets, args.work, {})
    evidence = {name: Evidence(qs) for name, qs in sets.items()}
    if args.sentences:
        for name, ev in evidence.items():
            index = hs.TITLED.get(name, "seed")
            ev.sentences = sentence_vectors(args.work, index, ev.qs)
    pools = {name: hs.pool(qs, SHIPPED.hybrid_depth, SHIPPED.dense_depth) for name, qs in sets.items()}

    print("| family | setting | " + " | ".join(f"{n} {m}" for n, m in COLUMNS) + " | Δ tuning |")
    print("|---" * (len(COLUMNS) + 3) + "|")
    base = None
    for family, label, make in candidates(args.sentences):
        if args.families and family != "shipped" and family not in args.families:
            continue
        row = {}
        for name, qs in sets.items():
            fuse = make(evidence[name])
            row[name] = qs.score([hs.order(docs, fuse(i, docs, bm25, cos))
                                  for i, (docs, bm25, cos) in enumerate(pools[name])])
        base = base or row
        delta = np.mean([row[n][m] - base[n][m] for n, m in hs.TUNING])
        print(f"| {family} | {label} | " + " | ".join(f"{row[n][m]:.3f}" for n, m in COLUMNS)
              + f" | {delta:+.4f} |", flush=True)


if __name__ == "__main__":
    main()
