"""Reliability under load: the real ``serve`` command, loopback only.

Run 1: 20,000 requests at concurrency 8 over 1,000 varied questions;
expects 0 errors and 0 non-2xx.

Run 2: the same load (at least as many requests, and on until the last
fault is over) while the faults of bench/faults.py happen in turn:
two publishes, a corrupt publish, a worker killed with SIGKILL, a build
made with the clock 2 h ahead and one after it, a publish of another
corpus's index, ``CURRENT`` deleted with a worker killed and the master
HUPed, a publish of a copy missing a file (then completed), malformed
chunked requests, damage to the live version (found by the scrub), a
publish, then (the index folder being a tmpfs of its own; skipped where
mounting is not permitted) the disk filled, a publish that fails for lack of
it (one line, exit 1, ``CURRENT`` untouched, nothing left behind) and a
worker killed with SIGKILL while it is full, the disk freed and a last
publish.  Expects no request to fail but those the killed and
restarted workers held (one per client connection each), every answer to
the checked questions right for the version that gave it, every worker's
version to only move forward (before the damage, after which the scrub
moves workers to an older sound version on purpose) and never to a refused
one, the worker count restored and all workers on the last version.

Run 3 (bench/slow_clients.py): 200 connections send request heads a few
bytes a second for 30 s while ``/healthz`` and ``/api/search`` are polled;
expects at least 99% of polls answered within 1 s and none failed.  Then
requests that never complete (a body shorter than its Content-Length, an
unfinished chunked body, a TLS hello), more than there are workers: each
gets a 4xx within 15 s and ``/healthz`` answers within 1 s meanwhile.

``--long SECONDS`` (not run by CI) adds ``wrk`` runs of that length at 16
and 64 connections (bench/wrk_runs.py).

Writes bench/RELIABILITY.md; exits non-zero when an expectation fails.

    python bench/reliability.py [--requests 20000] [--concurrency 8] [--slow 200] [--slow-seconds 30] [--long 60]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path
from typing import Collection

sys.path.insert(0, str(Path(__file__).resolve().parent))
import faults  # noqa: E402  (bench/faults.py, beside this file)
import load  # noqa: E402
import publish_latency  # noqa: E402
import slow_clients  # noqa: E402
import wrk_runs  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from service.index.store import current_version  # noqa: E402

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


def check_versions(samples: list[load.Sample], refused: Collection[str]) -> list[str]:
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
        if any(s.version in refused for s in served):
            problems.append(f"worker {worker} served a refused version")
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


#: Questions whose every answer in run 2 is checked against the version that gave it.
CHECKED = 50


def fault_run(args, base: str, server: subprocess.Popen, work: Path, questions: list[str],
              disk_skipped: str | None) -> dict:
    """Run 2: load while the faults happen; what happened and what went wrong."""
    corpus, idx, staging, other = work / "corpus", work / "index", work / "staging", work / "other"
    expect = faults.Expectations(questions[:CHECKED])
    start = expect.add(current_version(idx))
    events: list[str] = []
    box: dict[str, load.RunResult] = {}
    done = threading.Event()  # the load goes on until the last fault is over
    loader = threading.Thread(target=lambda: box.setdefault(
        "r", load.run(base, questions, args.requests, args.concurrency, args.deadline, checked=CHECKED, until=done)))
    t0 = time.monotonic()
    loader.start()

    steps: list[tuple[float, str]] = []  # (seconds from the start, what), as each step began

    def at(seconds: float, what: str, action):
        time.sleep(max(0.0, seconds - (time.monotonic() - t0)))
        steps.append((time.monotonic() - t0, what))
        result = action()
        events.append(f"{time.monotonic() - t0:5.1f} s  {what}: {result}")
        return result

    def article(n: int, text: str) -> None:
        (corpus / f"extra-{n}.txt").write_text(text)

    good, refused, restarted = [start], [], 0
    article(1, "The first extra article mentions quinoa exports from Peru.")
    good.append(expect.add(idx / at(2, "published a new index", lambda: faults.index(corpus, idx))))
    article(2, "The second extra article mentions saffron harvests in Iran.")
    good.append(expect.add(idx / at(5, "published a new index", lambda: faults.index(corpus, idx))))
    refused.append(at(8, "published a CORRUPT index (item 7)", lambda: faults.publish_corrupt(corpus, idx, staging)))
    victim = children(server.pid)[0]
    at(11, "kill -9 worker", lambda: (os.kill(victim, 9), victim)[1])
    restarted += 1
    article(3, "The third extra article mentions cobalt mines in the Congo.")
    good.append(expect.add(idx / at(14, "published an index built with the clock 2 h ahead (item 3)",
                                    lambda: faults.index(corpus, idx, clock="+2h"))))
    article(4, "The fourth extra article mentions vanilla farms in Madagascar.")
    good.append(expect.add(idx / at(17, "published an index built with the clock back",
                                    lambda: faults.index(corpus, idx))))
    refused.append(at(20, "published the index of ANOTHER corpus (item 6)",
                      lambda: faults.index(other, idx, "--rebuild")))
    good.append(expect.add(idx / at(23, "published the corpus's index again (--rebuild)",
                                    lambda: faults.index(corpus, idx, "--rebuild"))))
    live_at_drop, dropped_at = good[-1], time.monotonic() - t0
    at(26, "deleted CURRENT, kill -9 worker, HUP the master (item 4)",
       lambda: faults.drop_pointer_kill_and_hup(idx, server.pid, children(server.pid)))
    restarted += 1 + WORKERS
    article(5, "The fifth extra article mentions tea estates in Assam.")
    log_mark = (work / "server.log").stat().st_size
    partial, missing = at(30, "published a copy missing docs.npy (item 7)",
                          lambda: faults.publish_incomplete(corpus, idx, staging))
    # Each step waits for the one before to have its effect: with builds
    # slower than the schedule (a loaded machine), the copy was completed and
    # damaged within a second, before any worker had loaded it, so every
    # worker refused it as damaged and no scrub had anything to find.
    at(30.5, "a worker refused the incomplete copy, after s",
       lambda: wait_for_log(work / "server.log", log_mark, "index version rejected", partial,
                            seconds=30))
    at(33, "completed the copy", lambda: faults.complete(idx, partial, missing))
    good.append(expect.add(idx / partial))
    at(33.5, "every worker answers from the completed copy, after s", lambda: wait_for_workers(base, partial, 30))
    host, port = load.check_loopback(base)
    chunked = at(36, "sent malformed chunked requests (item 5)", lambda: faults.malformed_chunked(host, port))
    damaged_at = time.monotonic() - t0
    damaged = at(38, "flipped a byte in the live version's sources.json (item 2)", lambda: faults.damage_live(idx))
    not_ready = at(38.5, "/readyz answered 503 (scrub found the damage) after, s",
                   lambda: wait_for_status(base, 503, 30))
    article(6, "The sixth extra article mentions cork forests in Portugal.")
    good.append(expect.add(idx / at(48, "published a new index", lambda: faults.index(corpus, idx))))
    at(50, "every worker answers from it, after s", lambda: wait_for_workers(base, good[-1], 30))
    disk = None
    if not disk_skipped:  # the index folder is a tmpfs of its own (item 7's full disk)
        article(7, "The seventh extra article mentions lithium brines in Chile.")
        at(52, "filled the index's disk (tmpfs shrunk to what it holds + 4 KB)", lambda: faults.fill_disk(idx))
        disk = at(52.5, "published on the full disk (item 7)", lambda: faults.publish_on_full_disk(corpus, idx))
        victim = children(server.pid)[0]
        at(55, "kill -9 worker while the disk is full (item 7)", lambda: (os.kill(victim, 9), victim)[1])
        restarted += 1
        at(55.5, "both workers (the respawned one too) answer from the live version, after s",
           lambda: wait_for_workers(base, good[-1], 60))
        at(58, "freed the disk (tmpfs back to)", lambda: faults.free_disk(idx))
        good.append(expect.add(idx / at(59, "published a new index", lambda: faults.index(corpus, idx))))
        at(61, "every worker answers from it, after s", lambda: wait_for_workers(base, good[-1], 30))
    done.set()
    loader.join()
    run = box["r"]
    load.wait_until(lambda: len(children(server.pid)) == WORKERS, 60, "gunicorn to restore its workers")
    finals = set()
    for _ in range(20):
        finals.add(readyz(base)[1]["X-Index-Version"])
    checked, wrong = expect.wrong(run.samples)
    before_damage = [s for s in run.samples if s.t < damaged_at]
    # With CURRENT gone, no worker (the new ones forked from the master's
    # preloaded index included) answers from an older version than was live.
    stale = sorted({s.version for s in before_damage if s.t > dropped_at and s.version and s.version < live_at_drop})
    return {"summary": run.summary(), "events": events, "per_step": per_step(run.samples, steps, expect), "good": good, "refused": refused, "damaged": damaged,
            "chunked": chunked, "disk": disk, "disk_skipped": disk_skipped, "index": str(idx), "not_ready_after_s": not_ready, "finals": sorted(finals), "checked": checked,
            "wrong": wrong, "restarted": restarted,
            "backwards": check_versions(before_damage, refused) + [
                f"served {v}, older than {live_at_drop}, after CURRENT was deleted" for v in stale],
            "served_refused": sorted({s.version for s in run.samples if s.version in refused}),
            "versions_seen": sorted({s.version for s in run.samples if s.version})}


def per_step(samples: list[load.Sample], steps: list[tuple[float, str]], expect: faults.Expectations) -> list[dict]:
    """What the requests that ended between a step's start and the next
    one's met (a request a killed worker held fails after the kill; a
    publish takes effect at the end of its build): requests lost
    (connection errors), non-2xx, wrong answers of those checked."""
    bounds = [(0.0, "load alone, before the first fault")] + steps + [(float("inf"), "")]
    rows = []
    for (start, what), (end, _) in zip(bounds, bounds[1:]):
        window = [s for s in samples if start <= s.t + s.ms / 1000 < end]
        rows.append({"from_s": round(start, 1), "step": what, "requests": len(window),
                     "lost": sum(1 for s in window if s.status == 0),
                     "non_2xx": sum(1 for s in window if s.status and not 200 <= s.status < 300),
                     "checked": sum(1 for s in window if s.digest is not None),
                     "wrong": sum(1 for s in window if expect.is_wrong(s))})
    return rows


def readyz(base: str) -> tuple[int, Message]:
    """``/readyz``'s status and headers (a 503 included)."""
    try:
        with urllib.request.urlopen(base + "/readyz", timeout=5) as resp:
            return resp.status, resp.headers
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers


def wait_for_status(base: str, status: int, seconds: float) -> float:
    """Seconds until ``/readyz`` answers ``status``."""
    t0 = time.monotonic()

    def answered() -> bool:
        try:
            return readyz(base)[0] == status
        except OSError:
            return False

    load.wait_until(answered, seconds, f"/readyz to answer {status}")
    return round(time.monotonic() - t0, 2)


def wait_for_log(log: Path, since: int, *words: str, seconds: float) -> float:
    """Seconds until a line the server logged past byte ``since`` of its log
    holds all of ``words``."""
    t0 = time.monotonic()
    with open(log, "rb") as fh:
        fh.seek(since)
        text = b""

        def logged() -> bool:
            nonlocal text
            text = text.rsplit(b"\n", 1)[-1] + fh.read()
            return any(all(w in line for w in words) for line in text.decode(errors="replace").splitlines())

        load.wait_until(logged, seconds, f"the server to log {words}")
    return round(time.monotonic() - t0, 2)


def wait_for_workers(base: str, version: str, seconds: float) -> float:
    """Seconds until ``WORKERS`` workers (told apart by ``X-Served-By``)
    have answered ``/readyz`` from ``version``."""
    t0, on = time.monotonic(), set()

    def all_on() -> bool:
        headers = readyz(base)[1]
        if headers["X-Index-Version"] == version:
            on.add(headers["X-Served-By"])
        return len(on) >= WORKERS

    load.wait_until(all_on, seconds, f"{WORKERS} workers to answer from {version}")
    return round(time.monotonic() - t0, 2)


def fault_problems(r: dict, concurrency: int) -> list[str]:
    s, out = r["summary"], []
    # A killed or restarted worker's threads and kept-alive connections die
    # with it: at most one request per client connection it held fails.
    if s["non_2xx"] or s["errors"] > concurrency * r["restarted"]:
        out.append(f"run 2: more requests failed than the killed and restarted workers held: {s}")
    if r["wrong"]:
        out.append(f"run 2: {len(r['wrong'])} wrong answers, e.g. {r['wrong'][:3]}")
    if r["served_refused"]:
        out.append(f"run 2: served refused versions {r['served_refused']}")
    out += r["backwards"]
    if r["finals"] != [r["good"][-1]]:
        out.append(f"run 2: workers ended on {r['finals']}, expected {r['good'][-1]}")
    disk = r["disk"]
    one_line = disk and len(disk["stderr"]) == 1 and disk["stderr"][0].startswith(f"error: {r['index']}: cannot write")
    if disk and (disk["rc"] != 1 or not one_line or not disk["current_untouched"] or disk["left"]):
        out.append(f"run 2: the publish on the full disk: {disk}")
    if any(status != 400 for status in r["chunked"]):
        out.append(f"run 2: malformed chunked requests answered {r['chunked']}, expected 400s")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--requests", type=int, default=20000)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--deadline", type=float, default=600.0, help="seconds per load run, at most")
    p.add_argument("--slow", type=int, default=200, help="slow connections in run 3")
    p.add_argument("--slow-seconds", type=float, default=30.0)
    p.add_argument("--long", type=float, default=0.0, metavar="SECONDS",
                   help="also run wrk this long at 16 and 64 connections (0: not)")
    p.add_argument("--big", type=int, default=0, metavar="PASSAGES",
                   help="also measure latency while an index of this many passages is published (0: not)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "RELIABILITY.md")
    args = p.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="reliability-"))
    corpus, idx = work / "corpus", work / "index"
    disk_skipped = faults.mount_small_disk(idx)
    shutil.copytree(ROOT / "corpus", corpus)
    (work / "other").mkdir()
    (work / "other" / "yaks.txt").write_text("Yaks live in the mountains of Tibet and give milk.")
    faults.index(corpus, idx)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "GROUNDEDQA_RELOAD_INTERVAL": "0.5", "GROUNDEDQA_SCRUB_INTERVAL": "2"}
    log_file = open(work / "server.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "service", "serve", "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(WORKERS), "--corpus", str(corpus), "--index", str(idx)],
        stdout=log_file, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    failures: list[str] = []
    load_avg = os.getloadavg()[0]
    try:
        load.wait_ready(base, 120)
        questions = load.make_questions(1000)
        long_runs = wrk_runs.runs(base, questions, args.long) if args.long else []
        failures += [f"wrk at {r['connections']} connections: {r['errors']} errors" for r in long_runs
                     if r["errors"]]

        run1 = load.run(base, questions, args.requests, args.concurrency, args.deadline)
        s1 = run1.summary()
        if s1["errors"] or s1["non_2xx"] or s1["requests"] < args.requests:
            failures.append(f"run 1: {s1}")

        run2 = fault_run(args, base, server, work, questions, disk_skipped)
        failures += fault_problems(run2, args.concurrency)

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
        if not disk_skipped:
            faults.unmount(idx)
    big = publish_latency.measure(args.big, 4, 30, free_port()) if args.big else None

    report = render(args, load_avg, long_runs, s1, run2, slow, incomplete, big, failures)
    args.out.write_text(report)
    print(report)
    if failures:  # the server's log tells what happened
        print(f"kept {work} (server.log)", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 1 if failures else 0


def _table(rows: list[tuple[str, dict]], cols: list[str]) -> str:
    return "\n".join([f"| run | {' | '.join(cols)} |", "|---|" + "---|" * len(cols)]
                     + [f"| {name} | " + " | ".join(str(s[c]) for c in cols) + " |" for name, s in rows])


def _big_section(big: dict | None) -> str:
    if big is None:
        return ""
    windows = [(name, big[key]) for name, key in (("before the publish", "before"),
                                                  ("until both workers answered from it", "while_verifying"),
                                                  ("after", "after"))]
    return f"""
Publishing a big index (bench/publish_latency.py, `--big {big['passages']}`): a synthetic lexical
index of {big['passages']:,} passages ({big['index_mb']} MB) served by {WORKERS} workers under
{big['concurrency']} client connections; the live version was copied in under the next sequence
number ({big['copy_s']} s) and published; the workers answered from it
{big['workers_switched_after_s']} s after (each read and verified all {big['index_mb']} MB in its reload thread):

{_table(windows, ["requests", "p50_ms", "p99_ms", "max_ms", "failed"])}
"""


def _disk_line(r2: dict) -> str:
    disk = r2["disk"]
    if disk is None:
        return f"Full disk (item 7): skipped: {r2['disk_skipped']}."
    return (f"Full disk (item 7): `index` exited {disk['rc']} printing {len(disk['stderr'])} line(s): "
            f"`{' / '.join(disk['stderr'])}`; `CURRENT` untouched: {disk['current_untouched']}; "
            f"left behind (`.CURRENT.*`, `.tmp-*`): {disk['left'] or 'nothing'}; a worker killed -9 on the full "
            "disk was respawned and answered from the live version (events above).")


def render(args, load_avg, long_runs, s1, r2, slow, incomplete, big, failures) -> str:
    cols = ["requests", "ok_2xx", "non_2xx", "errors", "seconds", "req_per_s", "p50_ms", "p95_ms", "p99_ms"]
    long_part = ""
    if long_runs:
        long_part = f"""
wrk runs (bench/wrk_runs.py: `wrk -t2 -c N -d {args.long:g}s --latency` over the same 1,000
questions), before run 1:

{_table([(f"wrk, {r['connections']} connections", r) for r in long_runs],
         ["connections", "seconds", "requests", "req_per_s", "p50_ms", "p99_ms", "errors", "non_2xx"])}
"""
    flags = (f" --long {args.long:g}" if args.long else "") + (f" --big {args.big}" if args.big else "")
    return f"""# Reliability under load

Produced by `python bench/reliability.py --requests {args.requests} --concurrency {args.concurrency} --slow {args.slow} --slow-seconds {args.slow_seconds:g}{flags}`
(`make reliability` runs it without `--long` and `--big`) on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}: the real
`python -m service serve` with {WORKERS} gunicorn workers on 127.0.0.1, the bundled corpus,
{args.concurrency} keep-alive client threads (bench/load.py) over 1,000 varied questions.
Machine: {os.cpu_count()} cores, shared with other jobs (load average {load_avg:.2f} before the run);
the client and the server share these cores too, so the figures are lower bounds.
{long_part}
{_table([("1: steady load", s1), ("2: faults of items 2-7 (below)", r2["summary"])], cols)}

Run 2 events (seconds from its start):

```
{chr(10).join(r2["events"])}
```

Requests by step (those that ended from the step's start until the next
step's start; a publish's build comes first, so it takes effect at the time
above; "lost" are connection errors):

| from, s | step | requests | lost | non_2xx | checked | wrong |
|---|---|---|---|---|---|---|
{chr(10).join(f"| {r['from_s']} | {r['step']} | {r['requests']} | {r['lost']} | {r['non_2xx']} | {r['checked']} | {r['wrong']} |" for r in r2["per_step"])}

- Versions published and sound: {', '.join(f'`{v}`' for v in r2['good'])}; refused: {', '.join(f'`{v}`' for v in r2['refused'])}; damaged while live: `{r2['damaged']}`.
- Versions seen in run 2's responses: {', '.join(f'`{v}`' for v in r2['versions_seen'])}; refused versions served: {r2['served_refused'] or 'none'}.
- Requests lost: {r2['summary']['errors']} (connection errors; allowed: one per client connection each of the {r2['restarted']} killed or restarted workers held); non-2xx: {r2['summary']['non_2xx']}.
- Wrong answers: {len(r2['wrong'])} of {r2['checked']} responses to the {CHECKED} checked questions, each compared with the answer computed from the version named in its `X-Index-Version`.
- {_disk_line(r2)}
- Malformed chunked requests answered: {r2['chunked']}.
- All workers ended on: {', '.join(f'`{v}`' for v in r2['finals'])}.

Run 3: {slow['connections']} slow connections (a header line a second, never finished; reopened
when the server closes them) for {slow['seconds']:g} s while `/healthz` and `/api/search` were polled:

| polls | within 1 s | within 1 s, % | failed | slowest poll, s | slow connections reopened |
|---|---|---|---|---|---|
| {slow['polls']} | {slow['within_1s']} | {slow['within_1s_pct']} | {slow['failed']} | {slow['max_poll_s']} | {slow['slow_connections_reopened']} |

Requests that never complete, {incomplete['copies']} of each at once (answers as (status, seconds)):

{chr(10).join(f"- {name}: {answers}" for name, answers in incomplete['answers'].items())}
- `/healthz` meanwhile: slowest {incomplete['healthz_meanwhile_max_s']} s, {incomplete['healthz_meanwhile_failed']} failed.

{_big_section(big)}
- Checks: {'all passed' if not failures else 'FAILED: ' + '; '.join(failures)}.

Expectations: run 1 has 0 errors and 0 non-2xx; in run 2 no response is a
non-2xx, at most one request per client connection fails for each worker
killed or restarted (its threads' requests and kept-alive connections die
with it), no answer to a checked question differs from the one its version
gives, no refused version (corrupt, another corpus's) is ever served, each
worker's `X-Index-Version` only moves forward until the damage (the scrub
then moves it to an older sound version on purpose), gunicorn restores the
worker count and all workers end on the last version; a publish on the full disk exits 1 printing one line and leaves `CURRENT`
as it was and no `.CURRENT.*` or `.tmp-*` behind; malformed chunked
requests get 400s; in run 3 at least 99% of polls are answered within 1 s
and none fails, and every incomplete request gets a 4xx within 15 s (the
server's request timeout is 10 s).
"""


if __name__ == "__main__":
    sys.exit(main())
