"""What recording the readings costs a tokenizer process, in CPU seconds:
one :class:`service.index.passage_terms.ChunkTokenizer` over a synthetic
corpus with no readings (term ids alone), the fast reader
(:class:`~service.index.reading_record.ReadingRecorder`: term ids and
readings by whitespace piece) and the plain one, side by side.

    python bench/reading_cost.py --passages 100000 --warm 80000

The first ``--warm`` passages fill the memos (a million-passage build's
workers spend most of their time with memos full of the corpus's
spellings); the CPU time of the rest is what is reported, per passage.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path[:0] = [str(BENCH.parent), str(BENCH)]

from service.config import IndexSettings  # noqa: E402
from service.index import passage_terms, reading_record  # noqa: E402

import retrieval  # noqa: E402


class NoReadings(reading_record.PlainReader):
    """The passages' term ids alone, cut as the plain reader cuts them."""

    def passage(self, text, pieces, starts, title_ids, sentences=None):
        return title_ids + self._term_ids(text)


RECORDERS = {"none": NoReadings, "fast": reading_record.ReadingRecorder, "plain": reading_record.PlainReader}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--passages", type=int, default=100_000, help="synthetic corpus size")
    ap.add_argument("--warm", type=int, default=80_000, help="passages read before timing")
    args = ap.parse_args()
    with open(retrieval.corpus_path(str(args.passages)), encoding="utf-8") as fh:
        articles = [(r["_id"], r.get("title"), r["text"]) for r in map(json.loads, fh)]
    per_article = args.passages // len(articles)
    warm, step = args.warm // per_article, 2000
    print(f"load average {os.getloadavg()[0]:.2f}")
    print("| recorder | warm-up CPU s | CPU s after | µs per passage after |\n|---|---|---|---|")
    for name, recorder in RECORDERS.items():
        tokenizer = passage_terms.ChunkTokenizer(IndexSettings(), recorder)
        t0 = time.process_time()
        for i in range(0, warm, step):
            tokenizer(articles[i:min(i + step, warm)])
        t1 = time.process_time()
        for i in range(warm, len(articles), step):
            tokenizer(articles[i:i + step])
        t2 = time.process_time()
        n = (len(articles) - warm) * per_article
        print(f"| {name} | {t1 - t0:.2f} | {t2 - t1:.2f} | {(t2 - t1) / n * 1e6:.0f} |", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
