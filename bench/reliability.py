"""Reliability under load: the real ``serve`` command, loopback only.

Run 1: 20,000 requests at concurrency 8 over 1,000 varied questions;
expects 0 errors and 0 non-2xx.

Run 2: the same load while, in this order, a new index is published twice,
a corrupt one is published once, and one worker is killed with SIGKILL.
Expects at most one request per client connection the killed worker held
(its threads' and its kept-alive ones) to fail, the worker
count restored, and every worker's index version to only move forward and
never to the corrupt one.

Run 3 (bench/slow_clients.py): 200 connections send request heads a few
bytes a second for 30 s while ``/healthz`` and ``/api/search`` are polled;
expects at least 99% of polls answered within 1 s and none failed.  Then
requests that never complete (a body shorter than its Content-Length, an
unfinished chunked body, a TLS hello), more than there are workers: each
gets a 4xx within 15 s and ``/healthz`` answers within 1 s meanwhile.

Writes bench/RELIABILITY.md; exits non-zero when an expectation fails.

    python bench/reliability.py [--requests 20000] [--concurrency 8] [--slow 200] [--slow-seconds 30]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load  # noqa: E402  (bench/load.py, beside this file)
import slow_clients  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from service.index.store import build_lock, current_version, new_staging, publish  # noqa: E402

WORKERS = 2


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    """PIDs whose parent is ``pid`` (gunicorn's workers), read from /proc."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return sorted(out)


def wait_until(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.1)


def ready(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "/readyz", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def index(corpus: Path, idx: Path) -> str:
    subprocess.run([sys.executable, "-m", "service", "index", "--corpus", str(corpus), "--index", str(idx)],
                   check=True, capture_output=True, cwd=ROOT)
    return current_version(idx).name


def publish_corrupt(corpus: Path, idx: Path, staging: Path) -> str:
    """Build a version elsewhere, flip a byte in it, move it in under the
    next sequence number, point CURRENT at it."""
    built = index(corpus, staging)
    weights = staging / built / "weights.npy"
    data = bytearray(weights.read_bytes())
    data[-3] ^= 0xFF
    weights.write_bytes(bytes(data))
    with build_lock(idx):
        name = new_staging(idx).name.removeprefix(".tmp-")
        shutil.rmtree(idx / f".tmp-{name}")
        shutil.move(str(staging / built), str(idx / name))
        publish(idx, name)
    return name


def check_versions(samples: list[load.Sample], corrupt: str) -> list[str]:
    """Problems with any worker's sequence of index versions.

    The client's threads record responses in whatever order the OS schedules
    them, so list order is not the order a worker served them.  A worker
    provably went back only when a response with an older version was *sent*
    after a response with a newer one had *arrived*: the worker had swapped
    in the newer index before the older request reached it.
    """
    problems = []
    by_worker: dict[str, list[load.Sample]] = {}
    for s in samples:
        if s.worker and s.version:
            by_worker.setdefault(s.worker, []).append(s)
    for worker, served in by_worker.items():
        if any(s.version == corrupt for s in served):
            problems.append(f"worker {worker} served the corrupt version")
        arrived = sorted(served, key=lambda s: s.t + s.ms / 1000)
        newest, i = "", 0
        for s in sorted(served, key=lambda s: s.t):
            while i < len(arrived) and arrived[i].t + arrived[i].ms / 1000 < s.t:
                newest = max(newest, arrived[i].version)
                i += 1
            if s.version < newest:
                problems.append(f"worker {worker} went back from {newest} to {s.version}")
                break
    return problems


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=20000)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--deadline", type=float, default=600.0, help="seconds per load run, at most")
    p.add_argument("--slow", type=int, default=200, help="slow connections in run 3")
    p.add_argument("--slow-seconds", type=float, default=30.0)
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "RELIABILITY.md")
    args = p.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="reliability-"))
    corpus, idx, staging = work / "corpus", work / "index", work / "staging"
    shutil.copytree(ROOT / "corpus", corpus)
    start_version = index(corpus, idx)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "GROUNDEDQA_RELOAD_INTERVAL": "0.5"}
    log_file = open(work / "server.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(WORKERS), "--corpus", str(corpus), "--index", str(idx)],
        stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    failures: list[str] = []
    try:
        wait_until(lambda: ready(base), 120, "the server to be ready")
        questions = load.make_questions(1000)

        run1 = load.run(base, questions, args.requests, args.concurrency, args.deadline)
        s1 = run1.summary()
        if s1["errors"] or s1["non_2xx"] or s1["requests"] < args.requests:
            failures.append(f"run 1: {s1}")

        events: list[str] = []
        box: dict[str, load.RunResult] = {}
        loader = threading.Thread(target=lambda: box.setdefault(
            "r", load.run(base, questions, args.requests, args.concurrency, args.deadline)))
        t0 = time.monotonic()
        loader.start()

        def at(seconds: float, what: str, action) -> str:
            time.sleep(max(0.0, seconds - (time.monotonic() - t0)))
            result = action()
            events.append(f"{time.monotonic() - t0:5.1f} s  {what}: {result}")
            return result

        (corpus / "extra-1.txt").write_text("The first extra article mentions quinoa exports from Peru.")
        v1 = at(2, "published a new index", lambda: index(corpus, idx))
        (corpus / "extra-2.txt").write_text("The second extra article mentions saffron harvests in Iran.")
        v2 = at(5, "published a new index", lambda: index(corpus, idx))
        corrupt = at(8, "published a CORRUPT index", lambda: publish_corrupt(corpus, idx, staging))
        before = children(server.pid)
        victim = before[0]
        at(11, "kill -9 worker", lambda: (os.kill(victim, signal.SIGKILL), victim)[1])
        loader.join()
        run2 = box["r"]
        s2 = run2.summary()
        wait_until(lambda: len(children(server.pid)) == WORKERS and victim not in children(server.pid),
                   30, "gunicorn to replace the killed worker")
        after = children(server.pid)
        # The killed worker's threads and kept-alive connections die with it:
        # at most one request per client connection it held fails.
        if s2["non_2xx"] or s2["errors"] > args.concurrency:
            failures.append(f"run 2: more requests failed than the killed worker had connections: {s2}")
        failures += check_versions(run2.samples, corrupt)
        # Every worker, the new one included, ends on the last good version.
        finals = set()
        for _ in range(20):
            with urllib.request.urlopen(base + "/readyz", timeout=5) as resp:
                finals.add(resp.headers["X-Index-Version"])
        if finals != {v2}:
            failures.append(f"workers ended on {sorted(finals)}, expected {v2}")
        versions_seen = sorted({s.version for s in run2.samples if s.version})

        slow = slow_clients.slow_heads(base, args.slow, args.slow_seconds)
        incomplete = slow_clients.incomplete_requests(base, WORKERS + 1)
        failures += slow_clients.problems(slow, incomplete)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log_file.close()

    report = render(args, s1, s2, events, start_version, v1, v2, corrupt, before, after, versions_seen,
                    slow, incomplete, failures)
    args.out.write_text(report)
    print(report)
    shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


def render(args, s1, s2, events, v0, v1, v2, corrupt, before, after, versions_seen, slow, incomplete,
           failures) -> str:
    cols = ["requests", "ok_2xx", "non_2xx", "errors", "seconds", "req_per_s", "p50_ms", "p95_ms", "p99_ms"]
    rows = "\n".join(f"| {name} | " + " | ".join(str(s[c]) for c in cols) + " |"
                     for name, s in (("1: steady load", s1), ("2: publishes + corrupt publish + kill -9", s2)))
    return f"""# Reliability under load

Produced by `python bench/reliability.py --requests {args.requests} --concurrency {args.concurrency} --slow {args.slow} --slow-seconds {args.slow_seconds:g}`
(also run by `.ci/run`) on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: the real
`python -m service serve` with {WORKERS} gunicorn workers on 127.0.0.1, the bundled corpus,
{args.concurrency} keep-alive client threads (bench/load.py) over 1,000 varied questions.
Machine: {os.cpu_count()} cores, load average before the run {os.getloadavg()[0]:.2f}
(the client and the server share these cores).

| run | {' | '.join(cols)} |
|---|{'---|' * len(cols)}
{rows}

Run 2 events (seconds from its start):

```
{chr(10).join(events)}
```

- Index versions: start `{v0}`, then `{v1}`, `{v2}`; corrupt: `{corrupt}`.
- Versions seen in run 2's responses: {', '.join(f'`{v}`' for v in versions_seen)}.
- Workers before the kill: {before}; after: {after}.

Run 3: {slow['connections']} slow connections (a header line a second, never finished; reopened
when the server closes them) for {slow['seconds']:g} s while `/healthz` and `/api/search` were polled:

| polls | within 1 s | within 1 s, % | failed | slowest poll, s | slow connections reopened |
|---|---|---|---|---|---|
| {slow['polls']} | {slow['within_1s']} | {slow['within_1s_pct']} | {slow['failed']} | {slow['max_poll_s']} | {slow['slow_connections_reopened']} |

Requests that never complete, {incomplete['copies']} of each at once (answers as (status, seconds)):

{chr(10).join(f"- {name}: {answers}" for name, answers in incomplete['answers'].items())}
- `/healthz` meanwhile: slowest {incomplete['healthz_meanwhile_max_s']} s, {incomplete['healthz_meanwhile_failed']} failed.

- Checks: {'all passed' if not failures else 'FAILED: ' + '; '.join(failures)}.

Expectations: run 1 has 0 errors and 0 non-2xx; in run 2 at most one request
per client connection the killed worker held fails (its threads' requests and
its kept-alive connections die with it: at most {args.concurrency}), gunicorn restores the worker count,
each worker's `X-Index-Version` only moves forward and is never the corrupt
version, and all workers end on the last good version; in run 3 at least
99% of polls are answered within 1 s and none fails, and every incomplete
request gets a 4xx within 15 s (the server's request timeout is 10 s).
"""


if __name__ == "__main__":
    sys.exit(main())
