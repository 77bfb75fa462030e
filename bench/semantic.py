"""The semantic stage's costs: passage vectors at index time, and per
question the encoding and the hybrid re-rank, beside lexical search in
the same run.

    python bench/semantic.py [--corpus squad-dev-a|scifact|seeds] [--questions 300] [--baseline REV]

* index time: the same corpus built without vectors (``--no-semantic``),
  with passage vectors only (``--no-sentence-vectors``) and with the
  sentences' vectors too (the default): passages per second, the
  vectors' disk bytes;
* per question (one thread, CPU time): lexical search (BM25 top 10), the
  question's encoding, and the hybrid search without and with the
  encoding, all on the same questions, interleaved; the semantic stage is
  what hybrid adds to lexical: the question's encoding and the re-rank of
  BM25's candidates (target: p50 ≤ 2.5 ms), with the best sentences'
  cosines (the default) and with the passages' alone;
* ``--baseline REV``: the shipped model as it was at git revision REV, timed
  in the same passes (encoding and semantic stage), for before/after;
* the answer stage on the hybrid results (``service.answer.answer``, the
  sentence vectors forgotten before each question, as for a question about
  other sentences: the cost the answer judge adds is per question anyway),
  and with ``--selector-baseline REV`` the answer selector as committed at
  REV, in the same passes (target: answer stage p50 ≤ 25 ms);
* memory: the private memory (USS) of a fresh process that opened the
  lexical-only index and answered the questions lexically, and of one that
  opened the index with vectors and answered them hybrid: what the
  semantic stage adds to a worker.

Writes bench/out/semantic.json and the semantic section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
DATASETS = ROOT.parent / "shared" / "datasets"
sys.path[:0] = [str(ROOT), str(BENCH)]

import report  # noqa: E402
import retrieval  # noqa: E402


def corpus_and_questions(name: str, n: int) -> tuple[Path, list[str]]:
    if name == "seeds":
        return retrieval.corpus_path("seeds"), retrieval.query_texts("seeds", n)
    folder = DATASETS / name
    queries = [json.loads(line)["text"] for line in (folder / "queries.jsonl").read_text().splitlines()[:n]]
    return folder / "corpus.jsonl", queries


def build(corpus: Path, index: Path, semantic: bool, sentences: bool = True) -> dict:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "service", "index", "--corpus", str(corpus), "--index", str(index),
                    *([] if semantic else ["--no-semantic"]), *([] if sentences else ["--no-sentence-vectors"])],
                   check=True, cwd=ROOT, timeout=7200, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - t0
    from service.index.store import current_version, read_manifest

    manifest = read_manifest(current_version(index))
    stats = manifest["build_stats"]
    vector_bytes = sum(f["bytes"] for name, f in manifest["files"].items()
                       if name.rsplit("/", 1)[-1].startswith(("vector", "sentence_")))
    return {"seconds": round(seconds, 1), "passages": manifest["n_passages"],
            "passages_per_s": round(manifest["n_passages"] / seconds, 1),
            "vectors_s": stats.get("vectors_s"), "sentence_vectors_s": stats.get("sentence_vectors_s"),
            "sentences": stats.get("sentences"), "vector_mb": round(vector_bytes / 2**20, 2)}


def cpu_ms(parts: dict, items) -> dict[str, list[float]]:
    """CPU ms of each part on each item, the parts taking turns item by item
    (so a busy spell on the shared machine hits every part alike)."""
    out: dict[str, list[float]] = {name: [] for name in parts}
    for item in items:
        for name, fn in parts.items():
            t0 = time.process_time()
            fn(item)
            out[name].append((time.process_time() - t0) * 1000)
    return out


def summary(ms: list[float]) -> dict:
    ms = sorted(ms)
    return {"p50_ms": round(ms[len(ms) // 2], 3), "p90_ms": round(ms[int(len(ms) * 0.9)], 3),
            "mean_ms": round(statistics.fmean(ms), 3)}


def uss_mb() -> float:
    import psutil

    return psutil.Process().memory_full_info().uss / 2**20


def memory_probe(index: Path, questions: list[str], retrieval: str) -> float:
    """USS (MB) of a fresh process after answering ``questions`` from ``index``."""
    code = ("import json, sys; sys.path[:0] = sys.argv[1:3]; import semantic; "
            "from service.retrieval.retriever import Retriever; "
            "r = Retriever.open(sys.argv[3], verify=False); qs = json.loads(sys.stdin.read()); "
            "[r.search(q, 10, sys.argv[4]) for q in qs]; print(semantic.uss_mb())")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT), str(BENCH), str(index), retrieval],
                         input=json.dumps(questions), capture_output=True, text=True, check=True, cwd=ROOT)
    return float(out.stdout.strip().splitlines()[-1])


def model_at(rev: str, into: Path) -> Path:
    """The shipped model directory as committed at ``rev``, unpacked under ``into``."""
    from service.embedding import default_model_dir

    folder = default_model_dir().relative_to(ROOT).as_posix()
    archive = subprocess.run(["git", "archive", rev, folder], cwd=ROOT, check=True, capture_output=True).stdout
    archive_path = into / "model.tar"
    archive_path.write_bytes(archive)
    with tarfile.open(archive_path) as tar:
        tar.extractall(into, filter="data")
    return into / folder


def selector_at(rev: str):
    """The answer selector as committed at ``rev``; a file of before the
    answer judge gets the judge at weight 0 (so it is never run: the choices
    of that revision's code)."""
    from service.answer.model import CHEAP, EVIDENCE, MODEL_DIR, MODEL_FILE, SEMANTIC, SelectorModel

    path = (MODEL_DIR / MODEL_FILE).relative_to(ROOT).as_posix()
    raw = json.loads(subprocess.run(["git", "show", f"{rev}:{path}"], cwd=ROOT, check=True,
                                    capture_output=True).stdout)
    for part, names in (("score", CHEAP + SEMANTIC), ("confidence", EVIDENCE)):
        for name in names[len(raw[part]["features"]):]:  # the judge came last in both
            raw[part]["features"].append(name)
            raw[part]["weights"].append(0.0)
    raw.setdefault("fallback_judge", 0.0)
    return SelectorModel.from_json(raw)


def measure(index: Path, questions: list[str], rounds: int, baseline: Path | None = None,
            selector_baseline: str | None = None) -> dict:
    from service.answer import answer
    from service.answer.semantic import forget_sentence_vectors
    from service.config import RetrievalSettings
    from service.embedding import Encoder
    from service.retrieval.retriever import Retriever

    retriever = Retriever.open(index, verify=False)
    passages_only = Retriever(retriever.stored, RetrievalSettings(sentence_share=0.0))
    for q in questions[:20]:  # compiled kernels, the pages the questions touch
        retriever.search(q, 10, "hybrid")
    encoder = retriever.encoder
    vecs = {q: encoder.encode_queries([q])[0] for q in questions}
    terms = {q: retriever.query_terms(q) for q in questions}
    depth = retriever.candidate_depth(10)
    tops = {q: retriever.scorer.top_k(terms[q], depth) for q in questions}
    parts = {"lexical search": lambda q: retriever.search(q, 10, "lexical"),
             "encode question": lambda q: encoder.encode_queries([q]),
             "hybrid re-rank (no encoding, no BM25)": lambda q: retriever.rerank(q, 10, terms[q], vecs[q], tops[q]),
             "hybrid search (all)": lambda q: retriever.search(q, 10, "hybrid"),
             "semantic stage (encode + re-rank)":
                 lambda q: retriever.rerank(q, 10, terms[q], encoder.encode_queries([q])[0], tops[q]),
             "hybrid re-rank, passage cosines alone":
                 lambda q: passages_only.rerank(q, 10, terms[q], vecs[q], tops[q]),
             "semantic stage, passage cosines alone":
                 lambda q: passages_only.rerank(q, 10, terms[q], encoder.encode_queries([q])[0], tops[q])}
    results = {q: retriever.search(q, 10, "hybrid") for q in questions}

    def cold_answer(q: str, model=None) -> None:
        forget_sentence_vectors()
        answer(results[q], retriever, model)

    parts["answer stage (hybrid, cold)"] = cold_answer
    if selector_baseline is not None:
        old = selector_at(selector_baseline)
        parts[f"answer stage (hybrid, cold), selector of {selector_baseline}"] = lambda q: cold_answer(q, old)
    for q in questions[:20]:
        cold_answer(q)  # the judge's session
    if baseline is not None:
        before = Encoder.load(baseline)
        before.encode_queries(questions[:20])
        parts["encode question, baseline model"] = lambda q: before.encode_queries([q])
        parts["semantic stage, baseline model"] = \
            lambda q: retriever.rerank(q, 10, terms[q], before.encode_queries([q])[0], tops[q])
    runs: dict[str, list[list[float]]] = {name: [] for name in parts}
    for _ in range(rounds):
        for name, ms in cpu_ms(parts, questions).items():
            runs[name].append(ms)
    timings = {name: summary([min(col) for col in zip(*r)]) for name, r in runs.items()}
    return {"passages": retriever.n_passages, "questions": len(questions), "rounds": rounds, "timings": timings}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", default="squad-dev-a", help="seeds, squad-dev-a or scifact")
    ap.add_argument("--questions", type=int, default=300)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--baseline", metavar="REV", help="also time the shipped model as of this git revision")
    ap.add_argument("--selector-baseline", metavar="REV",
                    help="also time the answer stage with the answer selector as of this git revision")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    started, load_before = time.time(), os.getloadavg()
    corpus, questions = corpus_and_questions(args.corpus, args.questions)
    lexical = build(corpus, OUT / f"sem-{args.corpus}-lexical", semantic=False)
    passages = build(corpus, OUT / f"sem-{args.corpus}-passage-vectors", semantic=True, sentences=False)
    hybrid = build(corpus, OUT / f"sem-{args.corpus}-vectors", semantic=True)
    with tempfile.TemporaryDirectory() as tmp:
        baseline = model_at(args.baseline, Path(tmp)) if args.baseline else None
        timed = measure(OUT / f"sem-{args.corpus}-vectors", questions, args.rounds, baseline,
                        args.selector_baseline)
    row = {"corpus": args.corpus, "build_lexical": lexical, "build_passage_vectors": passages,
           "build_vectors": hybrid, **timed, "baseline": args.baseline,
           "uss_lexical_mb": round(memory_probe(OUT / f"sem-{args.corpus}-lexical", questions, "lexical"), 1),
           "uss_hybrid_passages_mb": round(memory_probe(OUT / f"sem-{args.corpus}-passage-vectors", questions,
                                                        "hybrid"), 1),
           "uss_hybrid_mb": round(memory_probe(OUT / f"sem-{args.corpus}-vectors", questions, "hybrid"), 1)}
    print(json.dumps(row, indent=2), flush=True)
    info = retrieval.run_info(started, load_before)
    (OUT / "semantic.json").write_text(json.dumps({"info": info, "results": [row]}, indent=2))
    report.write_section("semantic.json")  # the other sections as they are
    print(f"wrote {BENCH / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
