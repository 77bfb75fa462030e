"""Request latency while a big index is published, loopback only.

Serves a synthetic lexical index (bench/synthetic.py; 100,000 passages
make about 160 MB), loads it at a steady concurrency, and publishes a copy
of the live version under the next sequence number: every worker then
reads and verifies 160 MB before it swaps the copy in.  The latencies of
the requests sent before the publish, while the workers verified (until
the last worker answered from the copy), and after are compared: the
verification runs in each worker's reload thread, so no request should
wait for it (it did: both workers stalled 334-425 ms at once on this size).

    python bench/publish_latency.py [--passages 100000] [--concurrency 4] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

import faults
import load
import synthetic

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(__file__).resolve().parent / "out"
sys.path.insert(0, str(ROOT))
from service.index.store import current_version  # noqa: E402


def _window(samples: list[load.Sample]) -> dict:
    lat = np.array([s.ms for s in samples if s.status == 200]) if samples else np.zeros(1)
    return {"requests": len(samples), "p50_ms": round(float(np.percentile(lat, 50)), 2),
            "p99_ms": round(float(np.percentile(lat, 99)), 2), "max_ms": round(float(lat.max()), 2),
            "failed": sum(1 for s in samples if s.status != 200)}


def measure(passages: int, concurrency: int, seconds: float, port: int) -> dict:
    """Serve, load, publish a copy at a third of the run; the figures."""
    OUT.mkdir(parents=True, exist_ok=True)
    corpus = synthetic.write_corpus(OUT / f"syn-{passages}.jsonl", passages)
    work = Path(tempfile.mkdtemp(prefix="publish-latency-"))
    idx = work / "index"
    faults.index(corpus, idx, "--no-semantic")
    size_mb = sum(f.stat().st_size for f in current_version(idx).rglob("*") if f.is_file()) / 2**20  # segment folders
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "GROUNDEDQA_RELOAD_INTERVAL": "0.5", "GROUNDEDQA_SCRUB_INTERVAL": "0"}
    with open(work / "server.log", "wb") as log:
        server = subprocess.Popen([sys.executable, "-m", "service", "serve", "--port", str(port), "--workers", "2",
                                   "--index", str(idx)], stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    try:
        load.wait_ready(base, 300)
        questions = [" ".join(q) for q in synthetic.queries(1000)]
        box: dict[str, load.RunResult] = {}
        loader = threading.Thread(target=lambda: box.setdefault(
            "r", load.run(base, questions, 10**9, concurrency, seconds)))
        t0 = time.perf_counter()
        loader.start()
        time.sleep(seconds / 3)
        copied_at = time.perf_counter() - t0
        new = faults.copy_live(idx)
        published_at = time.perf_counter() - t0
        loader.join()
    finally:
        server.terminate()
        server.wait(timeout=30)
        shutil.rmtree(work, ignore_errors=True)
    samples = box["r"].samples
    switched = {}
    for s in samples:
        if s.version == new and s.worker not in switched:
            switched[s.worker] = s.t
    done = max(switched.values()) if len(switched) == 2 else float("inf")
    return {
        "passages": passages, "index_mb": round(size_mb, 1), "concurrency": concurrency,
        "copy_s": round(published_at - copied_at, 2),
        "workers_switched_after_s": sorted(round(t - published_at, 2) for t in switched.values()),
        "before": _window([s for s in samples if s.t < copied_at]),
        "while_verifying": _window([s for s in samples if published_at <= s.t < done]),
        "after": _window([s for s in samples if s.t >= done]),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--passages", type=int, default=100_000)
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--port", type=int, default=8093)
    args = p.parse_args(argv)
    print(json.dumps(measure(args.passages, args.concurrency, args.seconds, args.port), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
