"""Sweep hybrid retrieval settings: BM25 alone against BM25 blended with meaning.

    python eval/hybrid_sweep.py --datasets DIR [--work /tmp/sweep]

Why: ``RetrievalSettings`` (``hybrid_weight``, ``hybrid_depth``,
``dense_depth``) and the blend's normalisation (z-scores of both among
the candidates) need defaults that hold on every set, not on one.  Measured on the question set and the held-out check set (bundled
corpus, passages as served, answerable questions), squad-dev-a (passages)
and SciFact (whole documents; the train qrels for choosing, test for
reporting):

1. BM25 alone (``lexical``), and for reference the cosine alone;
2. the service's blend: weight × dense depth at hybrid depth 100, then the
   hybrid depth at the weight and dense depth that choose best;
3. other fusions of the same candidates: BM25 divided by the best
   candidate's plus the raw cosine (``max``, the service's blend until
   issue 13's third round), min-max of both among the candidates, and
   reciprocal rank fusion (k = 60).

"Tuning gain" is the mean gain over BM25 of squad-dev-a Success@1 and
SciFact-train nDCG@10: the only figures the choice looks at.

How: each index is built once into WORK/index/NAME and reused
(``ensure_index``); each question is encoded once, alone, as
``Retriever.search`` encodes it, and its vector cached in WORK.  BM25's top
``max(DEPTHS)`` and the nearest passages are fetched once per question, and
every setting re-orders those candidates offline with the service's own
``dense.nearest`` and ``hybrid.blend``; a self-check first asserts that
this gives exactly ``Retriever.search``'s passages on a sample.  The
measures are the project's (``score_questions``, ``score_beir``).  Prints
Markdown; writes every figure to WORK/results.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from service.config import BUNDLED_CORPUS, PROJECT_ROOT, Config, IndexSettings, RetrievalSettings
from service.corpus.passages import passage_id
from service.embedding import quantized_dot
from service.embedding.shared import encoder_fingerprint
from service.evaluation.datasets import check_sources, load_beir, load_questions
from service.evaluation.metrics import ALL, ANSWERABLE, best_per_source, score_beir, score_questions
from service.index.build import ensure_index
from service.index.segments import Segment
from service.retrieval import dense, hybrid
from service.retrieval.retriever import Retriever

WEIGHTS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
DEPTHS = (20, 50, 100, 200)
DENSE_DEPTHS = (0, 10, 20, 50, 100, 200)
BASE_DEPTH = 100  # the hybrid depth of the weight × dense-depth sweep
RRF_K = 60
QUESTION_K = 10  # passages per question-set question: the API's default k
BEIR_DOCS = 100  # documents scored per BEIR query, as evaluate_beir does
TIMING_QUERIES = 500  # squad-dev-a questions timed
CHECK_QUERIES = 100  # questions per set compared with Retriever.search

#: (set, metric, column header) of the printed table; the set's own names.
COLUMNS = [
    ("questions", "S@1", "QS S@1"), ("questions", "S@5", "QS S@5"),
    ("questions", "para S@1", "QS para S@1"), ("questions", "para S@5", "QS para S@5"),
    ("questions", "Ans@1", "QS Ans@1"),
    ("check", "S@1", "check S@1"), ("check", "S@5", "check S@5"), ("check", "para S@1", "check para S@1"),
    ("squad-dev-a", "S@1", "SQuAD S@1"), ("squad-dev-a", "nDCG@10", "SQuAD nDCG@10"),
    ("scifact-train", "nDCG@10", "SciFact train nDCG@10"), ("scifact-test", "nDCG@10", "SciFact test nDCG@10"),
]
TUNING = [("squad-dev-a", "S@1"), ("scifact-train", "nDCG@10")]
#: The sets whose articles have titles, and their index's name in WORK.
TITLED = {"squad-dev-a": "squad-dev-a", "scifact-train": "scifact-whole", "scifact-test": "scifact-whole"}
TARGETS = ("targets: QS answerable S@1 ≥ 0.85 (paraphrase ≥ 0.66), squad-dev-a S@1 ≥ 0.80, "
           "SciFact test (whole documents) nDCG@10 ≥ 0.73")

Candidates = tuple[np.ndarray, np.ndarray, np.ndarray]  # passage ids, BM25, cosine


@dataclass(frozen=True)
class Setting:
    fusion: str  # "lexical", "dense", "z" (the service's), "max", "minmax" or "rrf"
    weight: float | None = None
    depth: int | None = None
    dense: int | None = None

    @property
    def label(self) -> str:
        if self.fusion in ("lexical", "dense"):
            return {"lexical": "lexical (BM25 alone)", "dense": "cosine alone"}[self.fusion]
        w = "" if self.weight is None else f" w={self.weight}"
        return f"{self.fusion}{w} depth={self.depth} dense={self.dense}"


@dataclass
class QuerySet:
    """One evaluation set: its queries, its index, and per query BM25's top
    ``max(DEPTHS)``, the question's vector and its nearest passages."""

    name: str
    retriever: Retriever
    texts: list[str]
    score: Callable[[list[np.ndarray]], dict[str, float]]  # rankings of passage ids → measures
    terms: list[list[str]]
    tops: list[tuple[np.ndarray, np.ndarray]]
    vecs: np.ndarray
    near: dict[int, list[np.ndarray]]  # n → the n nearest passages of each query
    vectors: np.ndarray  # the index's passage vectors (int8) and their scales
    scales: np.ndarray

    def cosine(self, i: int, docs: np.ndarray) -> np.ndarray:
        """Query ``i``'s cosines with ``docs``, computed as ``hybrid.rerank`` computes them."""
        return quantized_dot(self.vecs[i], self.vectors[docs], self.scales[docs]).astype(np.float64)


def order(docs: np.ndarray, score: np.ndarray) -> np.ndarray:
    """``docs`` best first; ties to the lower passage id, as the service breaks them."""
    return docs[np.lexsort((docs, -score))]


def minmax(x: np.ndarray) -> np.ndarray:
    span = np.ptp(x) if len(x) else 0.0
    return (x - x.min()) / span if span > 0 else np.zeros_like(x)


def rrf(docs: np.ndarray, bm25: np.ndarray, cosine: np.ndarray) -> np.ndarray:
    """Reciprocal rank fusion of the candidates' BM25 and cosine orders; a
    passage with no BM25 score is not in BM25's list and gets nothing from it."""
    def ranks(x: np.ndarray) -> np.ndarray:
        out = np.empty(len(x))
        out[np.lexsort((docs, -x))] = np.arange(1, len(x) + 1)
        return out

    return np.where(bm25 > 0, 1.0 / (RRF_K + ranks(bm25)), 0.0) + 1.0 / (RRF_K + ranks(cosine))


FUSIONS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray, float], np.ndarray]] = {
    "z": lambda docs, bm25, cos, w: hybrid.blend(bm25, cos, w),
    "max": lambda docs, bm25, cos, w: w * bm25 / max(bm25.max(initial=0.0), 1e-300) + (1 - w) * cos,
    "minmax": lambda docs, bm25, cos, w: w * minmax(bm25) + (1 - w) * minmax(cos),
    "rrf": lambda docs, bm25, cos, w: rrf(docs, bm25, cos),
}


def merge(retriever: Retriever, terms: list[str], docs: np.ndarray, scores: np.ndarray,
          near: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """BM25's candidates plus the nearest passages, with their BM25 scores:
    what ``Retriever.rerank`` hands to ``hybrid.rerank`` (none for a
    question sharing no word with any passage)."""
    extra = np.setdiff1d(near, docs, assume_unique=True) if len(docs) else near[:0]
    if len(extra):
        docs = np.concatenate([docs, extra])
        scores = np.concatenate([scores, retriever.scorer.scores_of(terms, extra)])
    return docs, np.asarray(scores, dtype=np.float64)


def pool(qs: QuerySet, depth: int, dense: int) -> list[Candidates]:
    """Every query's candidates at hybrid depth ``depth`` and dense depth ``dense``."""
    out = []
    for i, (terms, (docs, scores)) in enumerate(zip(qs.terms, qs.tops)):
        docs, bm25 = merge(qs.retriever, terms, docs[:depth], scores[:depth], qs.near[dense][i])
        out.append((docs, bm25, qs.cosine(i, docs)))
    return out


def rankings(qs: QuerySet, setting: Setting, cands: list[Candidates] | None = None) -> list[np.ndarray]:
    if setting.fusion == "lexical":
        return [docs for docs, _ in qs.tops]
    if setting.fusion == "dense":
        return [order(near, qs.cosine(i, near)) for i, near in enumerate(qs.near[max(DEPTHS)])]
    fuse = FUSIONS[setting.fusion]
    return [order(docs, fuse(docs, bm25, cos, setting.weight)) for docs, bm25, cos in cands]


# -- the sets ------------------------------------------------------------------


def open_index(work: Path, name: str, corpus: Path, settings: IndexSettings, builds: dict) -> Retriever:
    """The index built once into WORK/index/NAME; records what its build took."""
    started = time.perf_counter()
    stored = ensure_index(Config(corpus=corpus, index_dir=work / "index" / name, settings=settings))
    stats = stored.manifest["build_stats"]
    n = stored.manifest["n_passages"]
    builds[name] = {"passages": n, "opened_s": round(time.perf_counter() - started, 1),
                    "built_s": stats["until_save_s"], "vectors_s": stats["vectors_s"],
                    "passages_per_s": round(n / stats["vectors_s"], 1)}
    return Retriever(stored)


def question_vectors(work: Path, name: str, retriever: Retriever, texts: list[str]) -> np.ndarray:
    """One vector per text, each encoded alone; cached by encoder and texts."""
    digest = hashlib.sha256("\n".join([encoder_fingerprint(), *texts]).encode()).hexdigest()[:16]
    path = work / f"qvec-{name}-{digest}.npy"
    if path.exists():
        return np.load(path)
    vecs = np.stack([retriever.encoder.encode_queries([t])[0] for t in texts])
    np.save(path, vecs)
    return vecs


def titled_vectors(work: Path, name: str, retriever: Retriever) -> tuple[np.ndarray, np.ndarray]:
    """Each passage's vector encoded with its article's title before its
    text ("Title. text"), as ``encode_passages`` encodes; cached in WORK."""
    from service.index.vectors import encode_passages

    path = work / f"pvec-title-{name}-{encoder_fingerprint()[:16]}.npz"
    if path.exists():
        saved = np.load(path)
        return saved["codes"], saved["scales"]
    seg, texts = segment(retriever), []
    p = {k: np.asarray(v) for k, v in seg.passages.items()}
    for si, start, end in zip(p["p_source"].tolist(), p["p_start"].tolist(), p["p_end"].tolist()):
        title = (seg.sources[si].get("title") or "").strip()
        head = "" if not title else title + (" " if title[-1] in ".?!:" else ". ")
        texts.append(head + seg.source_text(si)[start:end])
    codes, scales = encode_passages(texts, progress=False)
    np.savez(path, codes=codes, scales=scales)
    return codes, scales


def with_vectors(qs: QuerySet, vectors: np.ndarray, scales: np.ndarray) -> QuerySet:
    """``qs`` with other passage vectors: its nearest passages found again in them."""
    near = {n: [dense.nearest(v, vectors, scales, n) for v in qs.vecs] for n in qs.near}
    return replace(qs, near=near, vectors=vectors, scales=scales)


def query_set(work: Path, name: str, retriever: Retriever, texts: list[str],
              score: Callable[[list[np.ndarray]], dict[str, float]]) -> QuerySet:
    terms = [retriever.query_terms(t) for t in texts]
    tops = [retriever.scorer.top_k(t, max(DEPTHS))[:2] for t in terms]
    vecs = question_vectors(work, name, retriever, texts)
    vectors, scales = np.asarray(segment(retriever).vectors), np.asarray(segment(retriever).vector_scales)
    near = {n: [dense.nearest(v, vectors, scales, n) for v in vecs] for n in (*DENSE_DEPTHS, max(DEPTHS))}
    return QuerySet(name, retriever, texts, score, terms, tops, vecs, near, vectors, scales)


def segment(retriever: Retriever) -> Segment:
    """The index's one segment (a full build writes one): its document
    numbers are the scorer's."""
    (only,) = retriever.stored.segments
    return only


def source_ids(retriever: Retriever) -> np.ndarray:
    """The source ID of every passage."""
    ids = np.array([s["id"] for s in segment(retriever).sources], dtype=object)
    return ids[np.asarray(segment(retriever).passages["p_source"])]


def question_scorer(retriever: Retriever, questions: list) -> Callable[[list[np.ndarray]], dict[str, float]]:
    """Source-level measures of the first QUESTION_K passages, as ``service eval`` computes them."""
    sids = source_ids(retriever)
    p = {k: np.asarray(v) for k, v in segment(retriever).passages.items()}

    def text(doc: int) -> str:
        return segment(retriever).source_text(int(p["p_source"][doc]))[int(p["p_start"][doc]):int(p["p_end"][doc])]

    def score(ranked: list[np.ndarray]) -> dict[str, float]:
        responses = [{"hits": [{"source_id": sids[d], "score": float(-r), "text": text(d), "id": str(d)}
                               for r, d in enumerate(docs[:QUESTION_K].tolist())]} for docs in ranked]
        s = score_questions(questions, responses).summary
        return {"S@1": s["Success@1"][ANSWERABLE], "S@5": s["Success@5"][ANSWERABLE],
                "para S@1": s["Success@1"]["paraphrase"], "para S@5": s["Success@5"]["paraphrase"],
                "Ans@1": s["AnswerInTop1"][ANSWERABLE]}

    return score


def beir_scorer(retriever: Retriever, qids: list[str], qrels: dict) -> Callable[[list[np.ndarray]], dict[str, float]]:
    """Documents ranked by their best passage, scored as ``evaluate_beir`` does."""
    sids = source_ids(retriever)

    def score(ranked: list[np.ndarray]) -> dict[str, float]:
        runs = {q: best_per_source((s, 0.0) for s in sids[docs])[:BEIR_DOCS] for q, docs in zip(qids, ranked)}
        s = score_beir(qrels, runs).summary
        return {"S@1": s["Success@1"][ALL], "nDCG@10": s["nDCG@10"][ALL]}

    return score


def load_sets(datasets: Path, work: Path, builds: dict) -> dict[str, QuerySet]:
    seed = open_index(work, "seed", BUNDLED_CORPUS, IndexSettings(), builds)
    out = {}
    for name, file in (("questions", "questions.jsonl"), ("check", "check_questions.jsonl")):
        questions = load_questions(PROJECT_ROOT / "eval" / file)
        check_sources(questions, set(seed.stored.live_source_ids()))
        out[name] = query_set(work, name, seed, [q.question for q in questions], question_scorer(seed, questions))
    squad = load_beir(datasets / "squad-dev-a")
    retriever = open_index(work, "squad-dev-a", squad.corpus, IndexSettings(), builds)
    out["squad-dev-a"] = query_set(work, "squad-dev-a", retriever, list(squad.queries.values()),
                                   beir_scorer(retriever, list(squad.queries), squad.qrels))
    retriever = None
    for split in ("train", "test"):
        scifact = load_beir(datasets / "scifact", split)
        retriever = retriever or open_index(work, "scifact-whole", scifact.corpus, IndexSettings(max_words=0), builds)
        out[f"scifact-{split}"] = query_set(work, f"scifact-{split}", retriever, list(scifact.queries.values()),
                                            beir_scorer(retriever, list(scifact.queries), scifact.qrels))
    return out


# -- checking, measuring, timing -------------------------------------------------


def self_check(sets: dict[str, QuerySet]) -> dict[str, int]:
    """Offline rankings must be exactly ``Retriever.search``'s first passages."""
    checked = {}
    for name, qs in sets.items():
        pids = {}
        p_n = np.asarray(segment(qs.retriever).passages["p_n"])
        sids = source_ids(qs.retriever)
        sample = range(min(CHECK_QUERIES, len(qs.texts)))
        for setting in (Setting("lexical"), Setting("z", 0.5, BASE_DEPTH, 0), Setting("z", 0.3, 50, 50)):
            cands = None if setting.fusion == "lexical" else pool(qs, setting.depth, setting.dense)
            ranked = rankings(qs, setting, cands)
            retriever = Retriever(qs.retriever.stored, RetrievalSettings(
                "hybrid", setting.depth or BASE_DEPTH, setting.weight or 0.5, setting.dense or 0))
            mode = "lexical" if setting.fusion == "lexical" else "hybrid"
            for i in sample:
                want = [pids.setdefault(d, passage_id(sids[d], int(p_n[d]))) for d in ranked[i][:QUESTION_K].tolist()]
                got = [h.passage_id for h in retriever.search(qs.texts[i], QUESTION_K, retrieval=mode).hits]
                if got != want:
                    raise SystemExit(f"self-check: {name} {setting.label} question {i}: offline {want[:3]}..., "
                                     f"Retriever.search {got[:3]}...")
        checked[name] = len(sample)
    return checked


def measure(sets: dict[str, QuerySet], settings: list[Setting]) -> list[dict]:
    """Every setting on every set; candidates are pooled once per (depth, dense depth)."""
    rows = {s: {"setting": s.label, "fusion": s.fusion, "weight": s.weight, "depth": s.depth, "dense": s.dense,
                "metrics": {}} for s in settings}
    groups: dict[tuple[int, int] | None, list[Setting]] = {}
    for s in settings:
        groups.setdefault(None if s.depth is None else (s.depth, s.dense), []).append(s)
    for name, qs in sets.items():
        for key, members in groups.items():
            cands = pool(qs, *key) if key else None
            for s in members:
                rows[s]["metrics"][name] = qs.score(rankings(qs, s, cands))
    return list(rows.values())


def tuning_gain(row: dict, lexical: dict) -> float:
    return float(np.mean([row["metrics"][n][m] - lexical["metrics"][n][m] for n, m in TUNING]))


def timing(qs: QuerySet) -> dict[str, float | int | str]:
    """Per question, in ms: encoding (the calling thread's CPU, which is where
    onnxruntime runs with one intra-op thread; the process's CPU, which also
    counts OpenBLAS's threads; wall), BM25's top 10 and top 100 (warm: each
    query is scored once untimed first), and the hybrid re-rank at depth 100
    with dense depth 0 and 100 (nearest passages, their BM25 scores, the
    cosines, blend and order).  OpenBLAS threads: ``OPENBLAS_NUM_THREADS``."""
    r = qs.retriever
    r.encoder.encode_queries(["warm up"])
    totals = dict.fromkeys(("encode_thread_cpu_ms", "encode_process_cpu_ms", "encode_wall_ms", "bm25_top10_ms",
                            "bm25_top100_ms", "rerank_dense0_ms", "rerank_dense100_ms"), 0.0)
    sample = list(zip(qs.texts, qs.terms))[:TIMING_QUERIES]
    for text, terms in sample:
        thread, cpu, wall = time.thread_time(), time.process_time(), time.perf_counter()
        vec = r.encoder.encode_queries([text])[0]
        totals["encode_thread_cpu_ms"] += time.thread_time() - thread
        totals["encode_process_cpu_ms"] += time.process_time() - cpu
        totals["encode_wall_ms"] += time.perf_counter() - wall
        r.scorer.top_k(terms, BASE_DEPTH)
        t = time.perf_counter()
        r.scorer.top_k(terms, 10)
        totals["bm25_top10_ms"] += time.perf_counter() - t
        t = time.perf_counter()
        docs, scores, _ = r.scorer.top_k(terms, BASE_DEPTH)
        totals["bm25_top100_ms"] += time.perf_counter() - t
        for n_near in (0, 100):
            t = time.perf_counter()
            cand_docs, bm25 = merge(r, terms, docs, scores, dense.nearest(vec, qs.vectors, qs.scales, n_near))
            hybrid.rerank(cand_docs, bm25, vec, qs.vectors, qs.scales, 0.5)
            totals[f"rerank_dense{n_near}_ms"] += time.perf_counter() - t
    return ({k: round(1000 * v / len(sample), 3) for k, v in totals.items()}
            | {"questions": len(sample), "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS", "default")})


# -- output ----------------------------------------------------------------------


def table(title: str, rows: list[dict], lexical: dict) -> str:
    head = ["setting", *(h for _, _, h in COLUMNS), "tuning gain"]
    lines = [f"\n### {title}\n", "| " + " | ".join(head) + " |", "|---" * len(head) + "|"]
    for row in rows:
        cells = [f"{row['metrics'][n][m]:.3f}" for n, m, _ in COLUMNS]
        lines.append(f"| {row['setting']} | " + " | ".join(cells) + f" | {tuning_gain(row, lexical):+.4f} |")
    return "\n".join(lines)


def gain_grid(fusion: str, rows: list[dict], lexical: dict) -> str:
    """Tuning gain of ``fusion`` at BASE_DEPTH: weights down, dense depths across."""
    cell = {(r["weight"], r["dense"]): tuning_gain(r, lexical) for r in rows
            if r["fusion"] == fusion and r["depth"] == BASE_DEPTH}
    lines = [f"\n{fusion}: tuning gain at depth {BASE_DEPTH}\n",
             "| w \\ dense | " + " | ".join(map(str, DENSE_DEPTHS)) + " |", "|---" * (1 + len(DENSE_DEPTHS)) + "|"]
    lines += [f"| {w} | " + " | ".join(f"{cell[w, d]:+.4f}" for d in DENSE_DEPTHS) + " |" for w in WEIGHTS]
    return "\n".join(lines)


def title_table(title_rows: list[dict], rows: list[dict]) -> str:
    """The sets with titles, passage vectors without → with their title."""
    plain = {r["setting"]: r for r in rows}
    names = list(title_rows[0]["metrics"])
    cols = [(n, m) for n, m, _ in COLUMNS if n in names]
    lines = ["\n### Passage vectors encoded with the article's title (without → with)\n",
             "| setting | " + " | ".join(f"{n} {m}" for n, m in cols) + " | mean gain of the tuning sets |",
             "|---" * (len(cols) + 2) + "|"]
    for r in title_rows:
        before = plain[r["setting"]]
        cells = [f"{before['metrics'][n][m]:.3f} → {r['metrics'][n][m]:.3f}" for n, m in cols]
        gain = np.mean([r["metrics"][n][m] - before["metrics"][n][m] for n, m in TUNING])
        lines.append(f"| {r['setting']} | " + " | ".join(cells) + f" | {gain:+.4f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", type=Path, required=True, help="folder holding scifact/ and squad-dev-a/")
    parser.add_argument("--work", type=Path, default=Path("/tmp/sweep"), help="indexes, question vectors, results")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)

    builds: dict = {}
    sets = load_sets(args.datasets, args.work, builds)
    checked = self_check(sets)

    base = [Setting("lexical"), Setting("dense")]
    grid = [Setting(f, w, BASE_DEPTH, d) for f in ("z", "max", "minmax") for w in WEIGHTS for d in DENSE_DEPTHS]
    fused = [Setting("rrf", None, BASE_DEPTH, d) for d in DENSE_DEPTHS]
    rows = measure(sets, base + grid + fused)
    lexical = rows[0]
    best = {f: max((r for r in rows if r["fusion"] == f), key=lambda r: tuning_gain(r, lexical))
            for f in ("z", "max", "minmax", "rrf")}
    chosen = best["z"]
    depth_rows = measure(sets, [Setting("z", chosen["weight"], depth, dense) for dense in DENSE_DEPTHS
                                for depth in DEPTHS if depth != BASE_DEPTH])
    depth_rows = sorted(depth_rows + [r for r in rows if r["fusion"] == "z" and r["weight"] == chosen["weight"]],
                        key=lambda r: (r["dense"], r["depth"]))
    timings = timing(sets["squad-dev-a"])
    # The titled vectors where the articles have titles (the bundled ones have none).
    titled = {name: with_vectors(qs, *titled_vectors(args.work, index, qs.retriever))
              for name, qs in sets.items() for index in [TITLED.get(name)] if index}
    title_rows = measure(titled, [Setting("lexical"), Setting("dense"), *(
        Setting(r["fusion"], r["weight"], r["depth"], r["dense"]) for r in (best["z"], best["max"]))])

    print("## Hybrid retrieval sweep\n")
    print(f"{TARGETS}. Question sets: answerable questions, source level, first {QUESTION_K} passages; "
          f"tuning gain: mean gain over BM25 of {' and '.join(f'{n} {m}' for n, m in TUNING)}. "
          f"Self-check: offline rankings equal Retriever.search on {checked}.")
    print(table("Baselines and the service's blend (z-scores of BM25 and cosine), depth 100",
                [r for r in rows if r["fusion"] in ("lexical", "dense", "z")], lexical))
    print(table(f"Hybrid depth at w={chosen['weight']}", depth_rows, lexical))
    print(table("Other fusions, depth 100", [r for r in rows if r["fusion"] in ("max", "minmax", "rrf")], lexical))
    print(table("Best of each fusion by tuning gain", [lexical, *best.values()], lexical))
    for fusion in ("z", "max", "minmax"):
        print(gain_grid(fusion, rows, lexical))
    print(title_table(title_rows, rows))
    print("\n### Time per squad-dev-a question (ms)\n\n| " + " | ".join(timings) + " |\n" + "|---" * len(timings)
          + "|\n| " + " | ".join(str(v) for v in timings.values()) + " |")
    print("\n### Index builds (from each index's manifest; opened: this run, about 0 when reused)\n\n"
          "| index | passages | built in s | of which vectors s | passages/s (vectors) | opened in s |\n"
          "|---|---|---|---|---|---|")
    for name, b in builds.items():
        print(f"| {name} | {b['passages']} | {b['built_s']} | {b['vectors_s']} | {b['passages_per_s']} "
              f"| {b['opened_s']} |")

    results = {"targets": TARGETS, "tuning": TUNING, "self_check": checked, "rows": rows, "depth_rows": depth_rows,
               "title_rows": title_rows,
               "best": {f: r["setting"] for f, r in best.items()}, "timing": timings, "builds": builds}
    (args.work / "results.json").write_text(json.dumps(results, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
