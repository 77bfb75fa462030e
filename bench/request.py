"""The work of one ``/api/search`` request, in-process: what the service
adds to a bare Flask endpoint, without the HTTP server and load tool.

    python bench/request.py                     # seeds, squad-dev-a and 100,000 synthetic passages
    python bench/request.py --corpora seeds --questions 50

``service.qa.ask.search_json`` (search, answer, highlights; the very
document the API returns) is timed per question, single thread.  The
answer and the highlights read each passage's words from the arrays the
index stored (service/index/readings.py) and keep nothing; what is still
kept between requests is the retriever's hit fields and article texts and
the sentence vectors:

* *warm*: every question asked before, so those are kept;
* *cold*: those emptied before each question (before each of the passes
  too, the best of which is kept, as for *warm*): a large archive under
  varied questions, where each request meets about ten passages for the
  first time;
* the warm parts: search alone, the answer alone, the ten highlights;
* each stage of a cold request apart, in CPU time (what other work on the
  machine changes least): search (with the hits' fields), the answer, the
  ten highlights, the document (``response_json`` and ``json.dumps``).

The cold requests are interleaved across the corpora (question i on each
in turn, in one process), so what a size adds is measured side by side.

Each corpus's index is built first if it is not there yet (``--rebuild``:
always), by ``python -m service index`` in a subprocess whose wall time,
peak RSS (the process and its tokenizer processes, summed, sampled every
20 ms) and index size on disk (the readings' share apart) are recorded in
bench/out/build-<corpus>.json and reported with the corpus.

Writes bench/out/request.json and the request section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
sys.path[:0] = [str(ROOT), str(BENCH)]

import report  # noqa: E402
import retrieval  # noqa: E402


def timed(fn, items) -> list[float]:
    """Microseconds per call of ``fn`` on each item."""
    out = []
    for item in items:
        t0 = time.perf_counter()
        fn(item)
        out.append((time.perf_counter() - t0) * 1e6)
    return out


def summary(us: list[float]) -> dict:
    us = sorted(us)
    return {"p50_us": us[len(us) // 2], "p90_us": us[int(len(us) * 0.9)], "mean_us": statistics.fmean(us)}


def tree_rss(proc) -> int:
    """Resident bytes of ``proc`` (a psutil process) and its children now."""
    import psutil

    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
        except psutil.Error:  # exited between listing and reading
            pass
    return total


def build(corpus: str, index_dir: Path, rebuild: bool) -> dict:
    """Build ``corpus``'s index unless it is there (see the module doc);
    the figures of the build that made it."""
    import psutil

    figures = OUT / f"build-{corpus}.json"
    if not rebuild and (index_dir / "CURRENT").exists() and figures.exists():
        return json.loads(figures.read_text())
    cmd = [sys.executable, "-m", "service", "index", "--corpus", str(retrieval.corpus_path(corpus)),
           "--index", str(index_dir), "--full", *retrieval.index_flags(corpus)]
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL)
    watched, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None and time.perf_counter() - t0 < 1800:
        peak = max(peak, tree_rss(watched))
        time.sleep(0.02)
    if proc.wait(timeout=60) != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed")
    seconds = time.perf_counter() - t0
    # CPU seconds of the whole tree: the build waited for its tokenizers,
    # so their time is in the build's own children's time, and so in ours.
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    version = index_dir / (index_dir / "CURRENT").read_text().strip()
    row = {"build_s": round(seconds, 2), "cpu_s": round(cpu, 1), "peak_rss_mb": round(peak / 2**20, 1), "load_avg_1m": load,
           **retrieval.segment_mb(version),
           "command": " ".join(["python", *cmd[1:]]).replace(str(ROOT) + "/", "")}
    figures.write_text(json.dumps(row, indent=2))
    return row


def open_corpus(corpus: str, n_questions: int, rebuild: bool):
    """``corpus``'s retriever (its index built first if need be), questions
    and build figures, every question asked once (every passage and word
    read once), as a served index would have been."""
    from service.qa.ask import search_json
    from service.retrieval.retriever import Retriever

    index_dir = OUT / f"index-{corpus}"
    built = build(corpus, index_dir, rebuild)
    retriever = Retriever.open(index_dir, verify=False)
    questions = retrieval.query_texts(corpus, n_questions)
    for q in questions:
        search_json(retriever, q, 10)
    return retriever, questions, built


def measure_warm(corpus: str, retriever, questions: list[str], built: dict, rounds: int) -> dict:
    from service.answer import ANSWER_DEPTH, answer, highlight
    from service.qa.ask import search_json

    def best_of_rounds(fn, items) -> list[float]:
        runs = [timed(fn, items) for _ in range(rounds)]
        return [min(col) for col in zip(*runs)]

    results = {q: retriever.search(q, max(10, ANSWER_DEPTH)) for q in questions}
    return {
        "corpus": corpus,
        "passages": retriever.n_passages,
        "questions": len(questions),
        "build": built,
        "warm": summary(best_of_rounds(lambda q: search_json(retriever, q, 10), questions)),
        "search": summary(best_of_rounds(lambda q: retriever.search(q, max(10, ANSWER_DEPTH)), questions)),
        "answer": summary(best_of_rounds(lambda q: answer(results[q], retriever), questions)),
        "highlights": summary(best_of_rounds(
            lambda q: [highlight(h, results[q].terms, retriever) for h in results[q].hits[:10]],
            questions)),
    }


#: The stages of a request as ``service.qa.ask`` runs them, timed apart cold.
STAGES = ("search", "answer", "highlights", "document")


def cold_request(retriever, question: str, rounds: int) -> tuple[float, float, dict[str, float]]:
    """One cold request, ``rounds`` times, each with what is kept between
    requests emptied first: the wall µs of ``search_json``, the best pass's
    (as the warm figures are: one timing on a loaded machine is mostly the
    wait for a core) and the first's, then, emptied again, each stage's CPU
    µs (the best pass's)."""
    import json as json_

    from service.answer import ANSWER_DEPTH, answer, highlight
    from service.answer.semantic import forget_sentence_vectors
    from service.qa.ask import ask, response_json, search_json

    def forget() -> None:
        retriever._passage_fields.cache_clear()
        retriever._source_text.cache_clear()
        forget_sentence_vectors()

    walls, cpus = [], []
    for _ in range(rounds):
        forget()
        t0 = time.perf_counter()
        search_json(retriever, question, 10)
        walls.append((time.perf_counter() - t0) * 1e6)
        forget()
        c0 = time.process_time()
        result = retriever.search(question, max(10, ANSWER_DEPTH))
        c1 = time.process_time()
        answer(result, retriever)
        c2 = time.process_time()
        [highlight(h, result.terms, retriever) for h in result.hits[:10]]
        c3 = time.process_time()
        response = ask(retriever, question, 10)  # its stages again (warm now), for the document alone
        c4 = time.process_time()
        json_.dumps(response_json(response))
        c5 = time.process_time()
        cpus.append(((c1 - c0) * 1e6, (c2 - c1) * 1e6, (c3 - c2) * 1e6, (c5 - c4) * 1e6))
    return min(walls), walls[0], dict(zip(STAGES, map(min, zip(*cpus))))


def measure(corpora: list[str], n_questions: int, rounds: int, rebuild: bool = False) -> list[dict]:
    """Each corpus's row: warm figures corpus by corpus, then the cold
    requests interleaved (question i on every corpus in turn), so load from
    other work on the machine falls on the sizes alike."""
    opened = {c: open_corpus(c, n_questions, rebuild) for c in corpora}
    gc.freeze()  # as `serve` does after loading
    rows = {c: measure_warm(c, *opened[c], rounds) for c in corpora}
    cold: dict[str, list[float]] = {c: [] for c in corpora}
    first: dict[str, list[float]] = {c: [] for c in corpora}
    stages: dict[str, dict[str, list[float]]] = {c: {s: [] for s in STAGES} for c in corpora}
    for i in range(max(len(opened[c][1]) for c in corpora)):
        for c in corpora:
            retriever, questions, _ = opened[c]
            if i < len(questions):
                wall, wall_first, cpu = cold_request(retriever, questions[i], rounds)
                cold[c].append(wall)
                first[c].append(wall_first)
                for s in STAGES:
                    stages[c][s].append(cpu[s])
    gc.unfreeze()
    for c in corpora:
        rows[c]["cold"] = summary(cold[c])
        rows[c]["cold_first_pass"] = summary(first[c])
        rows[c]["cold_cpu"] = {s: summary(stages[c][s]) for s in STAGES}
        print(json.dumps(rows[c]), flush=True)
    return [rows[c] for c in corpora]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpora", default="seeds,squad,100000", help="corpora (names as in retrieval.py)")
    ap.add_argument("--questions", type=int, default=300, help="distinct questions per corpus")
    ap.add_argument("--rounds", type=int, default=3, help="warm timings: the best of this many passes")
    ap.add_argument("--rebuild", action="store_true", help="build every index again (timed) even if it is there")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.time()
    load_before = os.getloadavg()
    rows = measure(args.corpora.split(","), args.questions, args.rounds, args.rebuild)
    info = {
        **retrieval.run_info(started, load_before),
        "rounds": args.rounds,
    }
    (OUT / "request.json").write_text(json.dumps({"info": info, "results": rows}, indent=2))
    report.write_section("request.json")
    print(f"wrote {BENCH / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
