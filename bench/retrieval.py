"""Retrieval benchmark: this project's scorer side by side with rank-bm25
and bm25s (numpy and numba backends), on the same machine, in one run, on
the same tokens.

    python bench/retrieval.py                       # seeds, SciFact, 10k, 100k, 1M
    python bench/retrieval.py --sizes 10000,100000  # skip the 1M corpus

Every (engine, corpus) pair runs in its own subprocess, so each peak RSS
(``ru_maxrss`` of that process) is that engine's alone.  Each worker reads
the corpus text, cuts it into passages and analyses them with the project's
analyzer, so every engine indexes exactly the same tokens; "tokenize" is
that time, "build" the engine's own indexing after it.  For this project
the build is the real ``python -m service index`` pipeline (text in,
published index out, tokenization included; the manifest's timer gives the
analysis share).  Queries are analysed the same way and timed one at a
time, single-threaded, top-10, after 10 untimed warm-up queries, up to
``--queries`` queries or ``--seconds`` seconds per engine and corpus.

Writes bench/RESULTS.md (tables, machine, load) and bench/latency.png;
raw numbers go to bench/out/retrieval.json.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
sys.path[:0] = [str(ROOT), str(BENCH)]

import numpy as np  # noqa: E402

ENGINES = ["ours", "rank_bm25", "bm25s_numpy", "bm25s_numba"]
LABELS = {
    "ours": "groundedqa (numba MaxScore)",
    "ours_search": "groundedqa Retriever.search (analysis + hits)",
    "rank_bm25": "rank-bm25 BM25Okapi",
    "bm25s_numpy": "bm25s (numpy)",
    "bm25s_numba": "bm25s (numba)",
}
RANK_BM25_MAX = 100_000  # rank-bm25 takes seconds per query beyond this
SCIFACT = Path("/work/shared/datasets/scifact")
WARMUP = 10


# -- corpora and queries --------------------------------------------------------


def corpus_path(name: str) -> Path:
    if name == "seeds":
        from service.config import BUNDLED_CORPUS

        return BUNDLED_CORPUS
    if name == "scifact":
        return SCIFACT / "corpus.jsonl"
    import synthetic

    OUT.mkdir(parents=True, exist_ok=True)
    return synthetic.write_corpus(OUT / f"syn-{int(name)}.jsonl", int(name))


def query_texts(name: str, n: int) -> list[str]:
    """The benchmark questions of a corpus, as text."""
    if name == "scifact":
        wanted = {line.split("\t")[0] for line in (SCIFACT / "qrels" / "test.tsv").read_text().splitlines()[1:]}
        out = []
        for line in (SCIFACT / "queries.jsonl").read_text().splitlines():
            rec = json.loads(line)
            if rec["_id"] in wanted:
                out.append(rec["text"])
        return out[:n]
    if name == "seeds":
        # No question set ships with the seeds: each passage's first
        # sentence stands in for a question about it.
        from service.corpus import load_corpus
        from service.passages import make_passages, split_sentences

        out = []
        for article in load_corpus(corpus_path(name)).articles:
            for p in make_passages(article):
                s, e = split_sentences(p.text)[0]
                out.append(p.text[s:e])
        return out[:n]
    import synthetic

    return [" ".join(q) for q in synthetic.queries(n)]


def passage_tokens(name: str) -> list[list[str]]:
    """Every passage's terms, exactly as this project indexes them."""
    from service.analysis import Analyzer
    from service.config import IndexSettings
    from service.corpus import load_corpus
    from service.passages import make_passages

    settings = IndexSettings()
    analyzer = Analyzer(settings)
    out = []
    for article in load_corpus(corpus_path(name)).articles:
        title = analyzer(article.title) if settings.index_titles and article.title else []
        out.extend(title + analyzer(p.text) for p in make_passages(article, settings))
    return out


# -- the worker: one engine on one corpus ---------------------------------------------


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dir_mb(path: Path, names: set[str] | None = None) -> float:
    files = [f for f in Path(path).rglob("*") if f.is_file() and (names is None or f.name in names)]
    return sum(f.stat().st_size for f in files) / 2**20


def time_queries(search, queries: list, n: int, seconds: float) -> dict:
    for q in queries[:WARMUP]:
        search(q)
    lat = []
    started = time.perf_counter()
    for i in range(n):
        t0 = time.perf_counter()
        search(queries[i % len(queries)])
        lat.append(time.perf_counter() - t0)
        if time.perf_counter() - started > seconds:
            break
    ms = np.array(lat) * 1000
    return {
        "queries": len(ms),
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "qps": float(len(ms) / (ms.sum() / 1000)),
    }


def worker(engine: str, name: str, n_queries: int, seconds: float) -> dict:
    from service.analysis import Analyzer

    texts = query_texts(name, n_queries)
    analyzer = Analyzer()
    queries = [analyzer(t) for t in texts]
    result: dict = {"engine": engine, "corpus": name}
    if engine == "ours":
        from service.build import build_index
        from service.config import IndexSettings
        from service.search import Retriever
        from service.store import _ARRAYS

        index_dir = OUT / f"index-{name}"
        t0 = time.perf_counter()
        version, _ = build_index(corpus_path(name), index_dir, IndexSettings(), progress=False)
        total = time.perf_counter() - t0
        stats = json.loads((version / "manifest.json").read_text())["build_stats"]
        result.update(
            build_s=total - stats["analysis_s"],
            tokenize_s=stats["analysis_s"],
            build_total_s=total,
            peak_rss_mb=peak_rss_mb(),
            index_mb=dir_mb(version, {f"{k}.npy" for k in _ARRAYS} | {"terms.json"}),
            index_total_mb=dir_mb(version),
        )
        t0 = time.perf_counter()
        retriever = Retriever.open(index_dir, verify=False)
        result["load_s"] = time.perf_counter() - t0
        result["n_passages"] = retriever.n_passages
        scorer = retriever.scorer
        result.update(time_queries(lambda q: scorer.top_k(q, 10), queries, n_queries, seconds))
        result["search_api"] = time_queries(lambda t: retriever.search(t, 10), texts, n_queries, seconds)
        t0 = time.perf_counter()
        retriever.search_many(texts, 10)
        result["search_many_qps"] = len(texts) / (time.perf_counter() - t0)
        return result

    t0 = time.perf_counter()
    tokens = passage_tokens(name)
    result["tokenize_s"] = time.perf_counter() - t0
    result["n_passages"] = len(tokens)
    if engine == "rank_bm25":
        from rank_bm25 import BM25Okapi

        t0 = time.perf_counter()
        bm25 = BM25Okapi(tokens)
        result["build_s"] = time.perf_counter() - t0
        result["peak_rss_mb"] = peak_rss_mb()
        del tokens
        result["index_mb"] = len(pickle.dumps(bm25, protocol=pickle.HIGHEST_PROTOCOL)) / 2**20

        def search(q):
            scores = bm25.get_scores(q)
            top = np.argpartition(-scores, 9)[:10]
            return top[np.argsort(-scores[top], kind="stable")]

    else:
        import bm25s

        backend = engine.split("_")[1]
        t0 = time.perf_counter()
        retriever = bm25s.BM25(k1=1.5, b=0.75, backend=backend)
        retriever.index(tokens, show_progress=False)
        result["build_s"] = time.perf_counter() - t0
        result["peak_rss_mb"] = peak_rss_mb()
        del tokens
        save_dir = OUT / f"bm25s-{name}"
        retriever.save(str(save_dir))
        result["index_mb"] = dir_mb(save_dir)
        known = set(retriever.vocab_dict)

        def search(q):
            q = [t for t in q if t in known]  # bm25s rejects unknown tokens
            if q:
                retriever.retrieve([q], k=10, show_progress=False, n_threads=1, backend_selection=backend)

    result.update(time_queries(search, queries, n_queries, seconds))
    return result


# -- the driver ---------------------------------------------------------------


def machine() -> dict:
    import psutil

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for mod in ("numpy", "numba", "rank_bm25", "bm25s", "Stemmer", "flask", "gunicorn"):
        try:
            from importlib.metadata import version

            versions[mod] = version({"rank_bm25": "rank-bm25", "Stemmer": "PyStemmer"}.get(mod, mod))
        except Exception:  # noqa: BLE001 - absent packages are just not listed
            pass
    return {
        "cpu": cpu,
        "logical_cpus": os.cpu_count(),
        "ram_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
    }


def run_worker(engine: str, name: str, args) -> dict | None:
    cmd = [sys.executable, __file__, "--worker", engine, name, "--queries", str(args.queries),
           "--seconds", str(args.seconds)]
    print(f"[{time.strftime('%H:%M:%S')}] {engine} on {name} (load {os.getloadavg()[0]:.2f})", flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        return {"engine": engine, "corpus": name, "error": proc.stderr.strip().splitlines()[-1:]}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    res["load_avg_1m"] = os.getloadavg()[0]
    print("   ", {k: (round(v, 3) if isinstance(v, float) else v) for k, v in res.items() if k != "search_api"}, flush=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000", help="synthetic corpus sizes (passages)")
    ap.add_argument("--corpora", default="seeds,scifact", help="real corpora to include")
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--queries", type=int, default=1000, help="timed queries per engine and corpus (at most)")
    ap.add_argument("--seconds", type=float, default=30.0, help="time limit of each query loop")
    ap.add_argument("--timeout", type=float, default=1800.0, help="time limit of each worker process")
    ap.add_argument("--worker", nargs=2, metavar=("ENGINE", "CORPUS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], args.worker[1], args.queries, args.seconds)))
        return

    started = time.time()
    load_before = os.getloadavg()
    corpora = [c for c in args.corpora.split(",") if c] + [s for s in args.sizes.split(",") if s]
    engines = args.engines.split(",")
    results = []
    skipped = []
    for name in corpora:
        corpus_path(name)  # generate synthetic text once, outside the timed workers
        for engine in engines:
            if engine == "rank_bm25" and name.isdigit() and int(name) > RANK_BM25_MAX:
                skipped.append(f"rank-bm25 on {int(name):,} passages (seconds per query; skipped above "
                               f"{RANK_BM25_MAX:,})")
                continue
            res = run_worker(engine, name, args)
            if res:
                results.append(res)
    info = {
        "machine": machine(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started)),
        "minutes": round((time.time() - started) / 60, 1),
        "load_before": load_before,
        "load_after": os.getloadavg(),
        "args": {k: v for k, v in vars(args).items() if k != "worker"},
        "skipped": skipped,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "retrieval.json").write_text(json.dumps({"info": info, "results": results}, indent=2))
    import report

    report.write()
    print(f"wrote {BENCH / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
