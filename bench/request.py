"""The work of one ``/api/search`` request, in-process: what the service
adds to a bare Flask endpoint, without the HTTP server and load tool.

    python bench/request.py                     # seeds, squad-dev-a and 100,000 synthetic passages
    python bench/request.py --corpora seeds --questions 50

``service.qa.ask.search_json`` (search, answer, highlights; the very
document the API returns) is timed per question, single thread, in three
states of the per-passage caches (service/answer/caches.py):

* *warm*: every passage already read: a server's steady state when the
  same passages keep coming back (what ``bench/http_bench.py`` loads);
* *cold*: every passage new to the worker but its words known (their
  caches emptied before each question): a large archive under varied
  questions, where each request reads about ten passages for the first time;
* the warm parts: search alone, the answer alone, the ten highlights;
* the answer stage cold, in CPU time: what one question's answer costs
  when none of its passages or sentences were read before.

Writes bench/out/request.json and the request section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
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


def measure(corpus: str, n_questions: int, rounds: int) -> dict:
    from service.answer import ANSWER_DEPTH, answer, highlight
    from service.answer import PassageCaches
    from service.answer.semantic import forget_sentence_vectors
    from service.qa.ask import search_json
    from service.retrieval.retriever import Retriever

    index_dir = OUT / f"index-{corpus}"
    subprocess.run([sys.executable, "-m", "service", "index", "--corpus", str(retrieval.corpus_path(corpus)),
                    "--index", str(index_dir), *retrieval.index_flags(corpus)], check=True, cwd=ROOT, timeout=1800, stdout=subprocess.DEVNULL)
    retriever = Retriever.open(index_dir, verify=False)
    questions = retrieval.query_texts(corpus, n_questions)
    for q in questions:  # every passage and word read once
        search_json(retriever, q, 10)
    gc.freeze()  # as `serve` does after loading

    def best_of_rounds(fn, items) -> list[float]:
        runs = [timed(fn, items) for _ in range(rounds)]
        return [min(col) for col in zip(*runs)]

    results = {q: retriever.search(q, max(10, ANSWER_DEPTH)) for q in questions}

    row = {
        "corpus": corpus,
        "passages": retriever.n_passages,
        "questions": len(questions),
        "warm": summary(best_of_rounds(lambda q: search_json(retriever, q, 10), questions)),
        "search": summary(best_of_rounds(lambda q: retriever.search(q, max(10, ANSWER_DEPTH)), questions)),
        "answer": summary(best_of_rounds(lambda q: answer(results[q], retriever), questions)),
        "highlights": summary(best_of_rounds(
            lambda q: [highlight(h.text, results[q].terms, retriever.analyzer) for h in results[q].hits[:10]],
            questions)),
    }
    def forget() -> None:
        retriever.analyzer.caches[PassageCaches].clear()
        forget_sentence_vectors()

    cold_us: list[float] = []
    answer_cpu_us: list[float] = []
    for q in questions:
        forget()
        cold_us += timed(lambda q: search_json(retriever, q, 10), [q])
        forget()
        t0 = time.process_time()
        answer(results[q], retriever)
        answer_cpu_us.append((time.process_time() - t0) * 1e6)
    row["cold"] = summary(cold_us)
    row["answer_cold_cpu"] = summary(answer_cpu_us)
    gc.unfreeze()
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpora", default="seeds,squad,100000", help="corpora (names as in retrieval.py)")
    ap.add_argument("--questions", type=int, default=300, help="distinct questions per corpus")
    ap.add_argument("--rounds", type=int, default=3, help="warm timings: the best of this many passes")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.time()
    load_before = os.getloadavg()
    rows = [measure(c, args.questions, args.rounds) for c in args.corpora.split(",")]
    info = {
        **retrieval.run_info(started, load_before),
        "rounds": args.rounds,
    }
    (OUT / "request.json").write_text(json.dumps({"info": info, "results": rows}, indent=2))
    report.write()
    print(f"wrote {BENCH / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
