"""The retrieval tail: top-10 p50 and p99 of this project against
bm25s-numba, interleaved in one process, on the synthetic corpora's saved
indexes, with this project's path before the block-max kernels
(``ours_plain``: :func:`service.retrieval.kernels.pruned_top_k` for every
query) timed in the same loop.

    python bench/tail.py                        # 100k and 1M passages
    python bench/tail.py --sizes 100000

The queries are bench/retrieval.py's (2-6 words from the text's Zipf law,
so many are made of very common words only: the tail).  An index already
saved in bench/out (``index-N``, ``bm25s_numba-N``) is used as it is,
else it is built by bench/retrieval.py's build worker.  Writes
bench/out/tail.json and bench/RESULTS.md (its section and target line).
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

import retrieval  # noqa: E402

ENGINES = ("ours", "ours_plain", "bm25s_numba")


def saved(engine: str, name: str) -> bool:
    if engine == "ours":
        return (retrieval.OUT / f"index-{name}" / "CURRENT").exists()
    return retrieval.bm25s_dir(engine, name).exists()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100000,1000000", help="synthetic corpus sizes (passages)")
    ap.add_argument("--queries", type=int, default=1000, help="timed queries per engine (at most)")
    ap.add_argument("--seconds", type=float, default=60.0, help="time limit of each engine's query loop")
    ap.add_argument("--timeout", type=float, default=3600.0, help="time limit of each worker process")
    args = ap.parse_args()
    started, load_before = time.time(), os.getloadavg()
    results = []
    for name in [s for s in args.sizes.split(",") if s]:
        retrieval.corpus_path(name)
        built = {}
        for engine in ("ours", "bm25s_numba"):
            if not saved(engine, name):
                built[engine] = retrieval.run_worker("--build", engine, name, args)
        load = os.getloadavg()
        row = {"corpus": name, "load_before": load, "built": built,
               **retrieval.run_worker("--query", ",".join(ENGINES), name, args)}
        row["load_after"] = os.getloadavg()
        results.append(row)
    info = {**retrieval.run_info(started, load_before), "args": vars(args),
            "command": "python bench/tail.py " + " ".join(sys.argv[1:])}
    retrieval.OUT.mkdir(parents=True, exist_ok=True)
    (retrieval.OUT / "tail.json").write_text(json.dumps({"info": info, "results": results}, indent=2))
    import report

    report.write()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
