"""Retrieval benchmark: this project's scorer side by side with rank-bm25
and bm25s (numpy and numba backends), on the same machine, in one run, on
the same tokens.

    python bench/retrieval.py                       # seeds, SciFact, 10k, 100k, 1M
    python bench/retrieval.py --sizes 10000,100000  # skip the 1M corpus

Every (engine, corpus) pair runs in its own subprocess, so each peak RSS
is that engine's alone: the sampled peak of the sum of RSS over that
process and its children (this project's build tokenizes in spawned
worker processes; see ``TreePeak``).  Each worker reads
the corpus text, cuts it into passages and analyses them with the project's
analyzer, so every engine indexes exactly the same tokens; "tokenize" is
that time, "build" the engine's own indexing after it.  For this project
the build is the real ``python -m service index`` pipeline (text in,
published index out, tokenization included; the manifest's timer gives the
analysis share: the wall-clock time until every passage was cut and
analysed, by parallel workers for big corpora).  Then one more subprocess
per corpus loads the saved indexes of this project and bm25s and times them *interleaved*: query i
goes to each engine in turn, so load from other processes on a shared
machine hits them alike.  Queries are analysed the same way and timed one
at a time, single-threaded, top-10, after 10 untimed warm-up queries, up to
``--queries`` queries or ``--seconds`` seconds per engine and corpus.
rank-bm25 has no file format, so it is timed in its own build process.

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
import shutil
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
RANK_BM25_MAX = 100_000  # rank-bm25 takes seconds per query beyond this
SCIFACT = Path("/work/shared/datasets/scifact")
#: Real questions over real paragraphs, for the request benchmarks (not the retrieval tables).
SQUAD = SCIFACT.parent / "squad-dev-a"
WARMUP = 10


# -- corpora and queries --------------------------------------------------------


def index_flags(name: str) -> list[str]:
    """Extra ``service index`` flags for a corpus: synthetic corpora are
    random words, with no meaning to encode (and a million passages would
    take hours to), so they are indexed lexically; the real ones get vectors."""
    return [] if name in ("seeds", "squad") else ["--no-semantic"]


def corpus_path(name: str) -> Path:
    if name == "seeds":
        from service.config import BUNDLED_CORPUS

        return BUNDLED_CORPUS
    if name == "scifact":
        return SCIFACT / "corpus.jsonl"
    if name == "squad":
        return SQUAD / "corpus.jsonl"
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
    if name == "squad":
        lines = (SQUAD / "queries.jsonl").read_text().splitlines()
        return [json.loads(line)["text"] for line in lines[:n]]
    if name == "seeds":
        # No question set ships with the seeds: each passage's first
        # sentence stands in for a question about it.
        from service.corpus.reader import load_corpus
        from service.corpus.passages import make_passages
        from service.text.sentences import split_sentences

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
    from service.text.analysis import Analyzer
    from service.config import IndexSettings
    from service.corpus.reader import load_corpus
    from service.corpus.passages import make_passages

    settings = IndexSettings()
    analyzer = Analyzer(settings)
    out = []
    for article in load_corpus(corpus_path(name)).articles:
        title = analyzer(article.title) if settings.index_titles and article.title else []
        out.extend(title + analyzer(p.text) for p in make_passages(article, settings))
    return out


# -- the worker: one engine on one corpus ---------------------------------------------


class TreePeak:
    """Peak resident memory of this process and all its children together.

    The project's build tokenizes in child processes, so the memory of a
    build is the sum over the process tree at one moment.  A thread samples
    that sum (psutil RSS of every live process) every 20 ms; the peak
    reported is the larger of the sampled peak and this process's own
    ``ru_maxrss`` (which a sample can miss).  The children are spawned
    interpreters, sharing no pages with the parent, so summing RSS counts
    nothing twice.
    """

    def __init__(self, interval: float = 0.02) -> None:
        import psutil
        import threading

        self._me = psutil.Process()
        self._peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(interval,), daemon=True)
        self._thread.start()

    def _sample(self) -> int:
        import psutil

        total = 0
        for proc in [self._me, *self._me.children(recursive=True)]:
            try:
                total += proc.memory_info().rss
            except psutil.Error:  # exited between listing and reading
                pass
        return total

    def _run(self, interval: float) -> None:
        while not self._stop.wait(interval):
            self._peak = max(self._peak, self._sample())

    def mb(self) -> float:
        own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        return max(self._peak, self._sample(), own) / 2**20


_TREE_PEAK: TreePeak | None = None


def peak_rss_mb() -> float:
    """Peak RSS of this worker and its children (see :class:`TreePeak`)."""
    return _TREE_PEAK.mb() if _TREE_PEAK else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def dir_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) / 2**20


def segment_mb(version: Path) -> dict:
    """An index version's size on disk: ``index_mb`` counts every file of
    every segment folder (postings, passages, texts, terms, the readings;
    not the manifest), ``readings_mb`` the readings' files among them."""
    from service.index.readings import READING_ARRAYS

    readings = {f"{k}.npy" for k in READING_ARRAYS} | {"extra_terms.json"}
    files = [f for seg in Path(version).glob("seg-*") for f in seg.rglob("*") if f.is_file()]
    return {"index_mb": round(sum(f.stat().st_size for f in files) / 2**20, 1),
            "readings_mb": round(sum(f.stat().st_size for f in files if f.name in readings) / 2**20, 1)}


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
    return latency_stats(lat)


def latency_stats(lat: list[float]) -> dict:
    ms = np.array(lat) * 1000
    return {
        "queries": len(ms),
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
        "qps": float(len(ms) / (ms.sum() / 1000)),
    }


def bm25s_dir(engine: str, name: str) -> Path:
    return OUT / f"{engine}-{name}"


def build_worker(engine: str, name: str, n_queries: int, seconds: float) -> dict:
    """Build (and save) one engine's index of one corpus; rank-bm25, which
    has no file format, is also queried here."""
    result: dict = {"engine": engine, "corpus": name}
    if engine == "ours":
        from service.index.build import build_index
        from service.config import IndexSettings

        t0 = time.perf_counter()
        # The BM25 build alone: passage vectors are timed by bench/semantic.py.
        version, _ = build_index(corpus_path(name), OUT / f"index-{name}", IndexSettings(), progress=False,
                                 semantic=False)
        total = time.perf_counter() - t0
        manifest = json.loads((version / "manifest.json").read_text())
        analysis_s = manifest["build_stats"]["analysis_s"]
        result.update(
            build_s=total - analysis_s,
            tokenize_s=analysis_s,
            tokenize_workers=manifest["build_stats"]["workers"],
            build_total_s=total,
            peak_rss_mb=peak_rss_mb(),
            **segment_mb(version),
            index_total_mb=dir_mb(version),
            n_passages=manifest["n_passages"],
        )
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

        from service.text.analysis import Analyzer

        analyzer = Analyzer()
        queries = [analyzer(t) for t in query_texts(name, n_queries)]
        result.update(time_queries(search, queries, n_queries, seconds))
        return result

    import bm25s

    t0 = time.perf_counter()
    retriever = bm25s.BM25(k1=1.5, b=0.75, backend=engine.split("_")[1])
    retriever.index(tokens, show_progress=False)
    result["build_s"] = time.perf_counter() - t0
    result["peak_rss_mb"] = peak_rss_mb()
    del tokens
    retriever.save(str(bm25s_dir(engine, name)))
    result["index_mb"] = dir_mb(bm25s_dir(engine, name))
    return result


def plain_search(scorer):
    """Top-10 of a one-segment index the way it was done before the
    block-max path (:func:`service.retrieval.kernels.pruned_top_k` for
    every query, and the match count), for a before/after in one run."""
    from service.retrieval import kernels
    from service.retrieval.scorer import ALL

    (part,) = scorer.parts

    def search(q):
        ids, mul = part.query_ids(q)
        if len(ids):
            acc, mark = part._scratch()
            kernels.pruned_top_k(*part.postings, part._idf, part._df, ids, mul, 10, acc, mark, ALL)
            part._union_count(ids, ALL)

    return search


def block_bounds_cost(scorer) -> dict:
    """What the block-max bounds cost a loaded index: their memory, and
    the time to compute them again (they are made at load, not stored)."""
    from service.retrieval import block_kernels

    t0 = time.perf_counter()
    for p in scorer.parts:
        block_kernels.block_bounds(*p.postings, p._bitmaps[0], p._bitmaps[1].shape[0], p.arrays.n_docs)
    return {"block_bounds_s": time.perf_counter() - t0,
            "block_bounds_mb": sum(p._bounds.nbytes for p in scorer.parts) / 2**20,
            "bitmaps_mb": sum(p._bitmaps[1].nbytes for p in scorer.parts) / 2**20}


def query_worker(name: str, engines: list[str], n_queries: int, seconds: float) -> dict:
    """Time the saved indexes of ``engines`` on one corpus, interleaved.

    Query i goes to every engine in turn (the starting engine rotating), so
    a burst of load from other processes on this shared machine hits all
    engines alike and the ratios stay fair.
    """
    from service.text.analysis import Analyzer
    from service.retrieval.retriever import Retriever

    texts = query_texts(name, n_queries)
    analyzer = Analyzer()
    queries = [analyzer(t) for t in texts]
    searches = {}
    out: dict = {}
    if "ours" in engines or "ours_plain" in engines:
        t0 = time.perf_counter()
        retriever = Retriever.open(OUT / f"index-{name}", verify=False)
        out["ours"] = {"load_s": time.perf_counter() - t0}
        scorer = retriever.scorer
        searches["ours"] = lambda q: scorer.top_k(q, 10)
    if "ours_plain" in engines:
        searches["ours_plain"] = plain_search(scorer)
        out["ours_plain"] = {}
        out["ours"].update(block_bounds_cost(scorer))
    for engine in engines:
        if not engine.startswith("bm25s"):
            continue
        import bm25s

        backend = engine.split("_")[1]
        t0 = time.perf_counter()
        r = bm25s.BM25.load(str(bm25s_dir(engine, name)), override_params={"backend": backend})
        r.backend = backend
        out[engine] = {"load_s": time.perf_counter() - t0}
        known = set(r.vocab_dict)

        def search(q, r=r, known=known, backend=backend):
            q = [t for t in q if t in known]  # bm25s rejects unknown tokens
            if q:
                r.retrieve([q], k=10, show_progress=False, n_threads=1, backend_selection=backend)

        searches[engine] = search
    names = list(searches)
    for engine in names:
        for q in queries[:WARMUP]:
            searches[engine](q)
    lat: dict[str, list[float]] = {e: [] for e in names}
    cpu: dict[str, list[float]] = {e: [] for e in names}  # this thread's CPU time: no waits for a core
    started = time.perf_counter()
    for i in range(n_queries):
        q = queries[i % len(queries)]
        for j in range(len(names)):
            engine = names[(i + j) % len(names)]
            t0, c0 = time.perf_counter(), time.thread_time()
            searches[engine](q)
            lat[engine].append(time.perf_counter() - t0)
            cpu[engine].append(time.thread_time() - c0)
        if time.perf_counter() - started > seconds * len(names):
            break
    for engine in names:
        out[engine].update(latency_stats(lat[engine]))
        out[engine].update({f"cpu_{k}": v for k, v in latency_stats(cpu[engine]).items() if k.endswith("_ms")})
    if "ours" in out:
        out["ours"]["search_api"] = time_queries(lambda t: retriever.search(t, 10), texts, n_queries, seconds)
        t0 = time.perf_counter()
        retriever.search_many(texts, 10)
        out["ours"]["search_many_qps"] = len(texts) / (time.perf_counter() - t0)
    return out


# -- the driver ---------------------------------------------------------------


def run_in_work(name: str, run, *args) -> dict:
    """``run(*args, work)`` in a fresh bench/out/<name>-work (removed after);
    its result, with :func:`run_info`, to bench/out/<name>.json and its
    own section of bench/RESULTS.md."""
    started, load_before = time.time(), os.getloadavg()
    work = OUT / f"{name}-work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        result = run(*args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    data = {"info": run_info(started, load_before), "results": [result]}
    (OUT / f"{name}.json").write_text(json.dumps(data, indent=2))
    import report

    report.write_section(f"{name}.json")
    print(json.dumps(result, indent=2))
    return result


def run_info(started: float, load_before: tuple[float, float, float]) -> dict:
    """The machine, and when a run started, how long it took and the load
    around it: what every results file records beside its figures."""
    return {
        "machine": machine(),
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started)),
        "minutes": round((time.time() - started) / 60, 1),
        "load_before": load_before,
        "load_after": os.getloadavg(),
    }


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


def run_worker(mode: str, engine: str, name: str, args) -> dict:
    cmd = [sys.executable, __file__, mode, engine, name, "--queries", str(args.queries),
           "--seconds", str(args.seconds)]
    print(f"[{time.strftime('%H:%M:%S')}] {mode[2:]} {engine} on {name} (load {os.getloadavg()[0]:.2f})",
          flush=True)
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout)
    if proc.returncode != 0:
        print(proc.stderr[-3000:], file=sys.stderr)
        return {"error": proc.stderr.strip().splitlines()[-1:]}
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    print("   ", json.dumps(res, default=str)[:600], flush=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10000,100000,1000000", help="synthetic corpus sizes (passages)")
    ap.add_argument("--corpora", default="seeds,scifact", help="real corpora to include")
    ap.add_argument("--engines", default=",".join(ENGINES))
    ap.add_argument("--queries", type=int, default=1000, help="timed queries per engine and corpus (at most)")
    ap.add_argument("--seconds", type=float, default=30.0, help="time limit of each query loop")
    ap.add_argument("--timeout", type=float, default=1800.0, help="time limit of each worker process")
    ap.add_argument("--build", nargs=2, metavar=("ENGINE", "CORPUS"), help=argparse.SUPPRESS)
    ap.add_argument("--query", nargs=2, metavar=("ENGINES", "CORPUS"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.build:
        global _TREE_PEAK
        _TREE_PEAK = TreePeak()
        print(json.dumps(build_worker(args.build[0], args.build[1], args.queries, args.seconds)))
        return
    if args.query:
        print(json.dumps(query_worker(args.query[1], args.query[0].split(","), args.queries, args.seconds)))
        return

    started = time.time()
    load_before = os.getloadavg()
    corpora = [c for c in args.corpora.split(",") if c] + [s for s in args.sizes.split(",") if s]
    engines = args.engines.split(",")
    results = []
    skipped = []
    for name in corpora:
        corpus_path(name)  # generate synthetic text once, outside the timed workers
        rows = {}
        for engine in engines:
            if engine == "rank_bm25" and name.isdigit() and int(name) > RANK_BM25_MAX:
                skipped.append(f"rank-bm25 on {int(name):,} passages (seconds per query; skipped above "
                               f"{RANK_BM25_MAX:,})")
                continue
            rows[engine] = {"engine": engine, "corpus": name, "load_avg_1m": os.getloadavg()[0],
                            **run_worker("--build", engine, name, args)}
        timed = [e for e in rows if e != "rank_bm25" and "error" not in rows[e]]
        if timed:
            queried = run_worker("--query", ",".join(timed), name, args)
            for engine in timed:
                rows[engine].update(queried.get(engine) or {"error": queried.get("error", ["no result"])})
        results.extend(rows.values())
    info = {
        **run_info(started, load_before),
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
