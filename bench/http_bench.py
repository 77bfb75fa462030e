"""HTTP benchmark: ``/api/search`` of the real ``python -m service serve``
under ``wrk`` on loopback, with a bare Flask JSON endpoint under the same
gunicorn configuration as the ceiling, all in one run.

    python bench/http_bench.py                  # seeds and 100,000 synthetic passages
    python bench/http_bench.py --duration 20 --connections 16
    python bench/http_bench.py --corpora seeds --parts   # + each stage's cost (bench/ablated.py)

(Not named http.py: with bench/ first on sys.path that would shadow the
standard library's ``http`` package.)

Needs ``wrk`` (Debian: ``apt-get install wrk``).  Each target is started
as its own server process on a free loopback port, warmed up for a few
seconds, then loaded for ``--duration`` seconds; requests go through the
corpus's benchmark questions (bench/retrieval.py's) in order, URL-encoded
GETs of ``/api/search?q=...&k=10``: the warm-up takes its questions from
the end of the list, the measured run from the start, so with
``--queries`` above the requests a run makes no question is asked twice of
one server (each row says how many distinct questions it had).  After the
measured run, each worker's private memory (USS) is read.  The targets run in ``--rounds`` interleaved
rounds (ceiling, then each corpus, in turn) and each reports its median
round, so load from other work on the machine hits them alike.  Every
wait is bounded (server start-up, ``wrk``'s own duration and a timeout on
it).  The index is built before its
server starts (by bench/request.py's ``build``: kept if it is there), so
start-up is loading only.  Results go to
bench/out/http.json and the HTTP section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
OUT = BENCH / "out"
sys.path[:0] = [str(ROOT), str(BENCH)]

import ablated  # noqa: E402
import report  # noqa: E402
import request  # noqa: E402
import retrieval  # noqa: E402
from service.config import Config  # noqa: E402

# wrk's Lua hooks: cycle through the request paths, add up the ``took_ms``
# of each answer (the time the app spent in search_json), print a JSON summary.
LUA = """
local paths = {%s}
local i = 0
local threads = {}
setup = function(thread) table.insert(threads, thread) end
init = function(args) took, answered = 0, 0 end
request = function()
  i = i %% #paths + 1
  return wrk.format("GET", paths[i])
end
response = function(status, headers, body)
  local t = body:match('"took_ms":%%s*([%%d%%.]+)')
  if t then took, answered = took + tonumber(t), answered + 1 end
end
done = function(summary, latency, requests)
  local e, took_sum, n = summary.errors, 0, 0
  for _, t in ipairs(threads) do took_sum, n = took_sum + t:get("took"), n + t:get("answered") end
  io.write(string.format(
    'WRKJSON {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, "mean_us": %%.1f, ' ..
    '"took_ms_mean": %%s, "non2xx": %%d, "socket_errors": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.mean,
    n > 0 and string.format("%%.4f", took_sum / n) or "null", e.status, e.connect + e.read + e.write + e.timeout))
end
"""

# The ceiling: the same gunicorn set-up as `serve`, a constant JSON answer.
BARE_APP = """
import sys
from types import SimpleNamespace
from flask import Flask, jsonify
from service.config import Config
from service.web.serve import GunicornApp, gunicorn_options

app = Flask("bare")

@app.get("/api/search")
def search():
    return jsonify({"ok": True, "hits": []})

config = Config.from_env().with_overrides(port=int(sys.argv[1]))
# What the service's gunicorn worker reads its timeouts from (service/web/worker.py).
app.extensions["groundedqa"] = SimpleNamespace(config=config)
GunicornApp(app, gunicorn_options(config)).run()
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with status {proc.returncode} before answering {url}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url}: no answer within {timeout:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)


def server_cpu_s(pid: int) -> dict[str, float]:
    """CPU seconds used so far by a server process and its workers, by
    where: the master, the workers' main threads (gunicorn's event loop:
    accepting, reading requests, keep-alive) and their other threads (the
    requests themselves, and the index reload check)."""
    import psutil

    root = psutil.Process(pid)
    total = {"master": 0.0, "event loops": 0.0, "request threads": 0.0}
    for p in [root, *root.children(recursive=True)]:
        try:
            threads = p.threads()
        except psutil.NoSuchProcess:
            continue
        for t in threads:
            where = "master" if p.pid == pid else "event loops" if t.id == p.pid else "request threads"
            total[where] += t.user_time + t.system_time
    return total


def worker_faults(pid: int) -> tuple[int, int]:
    """Minor and major page faults so far of the workers of the server ``pid``
    (Linux's /proc: faults on the memory-mapped index show here)."""
    import psutil

    minor = major = 0
    for p in psutil.Process(pid).children(recursive=True):
        try:
            fields = Path(f"/proc/{p.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        minor, major = minor + int(fields[7]), major + int(fields[9])
    return minor, major


def run_wrk(url: str, lua: Path, args, duration: float) -> dict:
    cmd = ["wrk", "-t", str(args.threads), "-c", str(args.connections), "-d", f"{duration:.0f}s",
           "--timeout", "5s", "-s", str(lua), url]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("WRKJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed: {proc.stderr.strip() or proc.stdout.strip()}")
    res = json.loads(line[len("WRKJSON "):])
    return {
        "rps": res["requests"] / (res["duration_us"] / 1e6),
        "p50_ms": res["p50_us"] / 1000,
        "p99_ms": res["p99_us"] / 1000,
        "mean_ms": res["mean_us"] / 1000,
        "took_ms_mean": res["took_ms_mean"],
        "requests": res["requests"],
        "non2xx": res["non2xx"],
        "socket_errors": res["socket_errors"],
    }


def worker_uss_mb(pid: int) -> list[float]:
    """Private memory (USS, MB) of each worker of the server ``pid``."""
    import psutil

    out = []
    for p in psutil.Process(pid).children(recursive=True):
        try:
            out.append(p.memory_full_info().uss / 2**20)
        except psutil.Error:
            pass
    return out


def load_target(target: str, corpus: str, server_cmd: list[str], paths: list[str], args, env) -> dict:
    port = free_port()
    lua, warm, single = (OUT / f"wrk-{corpus}{part}.lua" for part in ("", "-warmup", "-single"))
    lua.write_text(LUA % ", ".join(json.dumps(p) for p in paths))
    warm.write_text(LUA % ", ".join(json.dumps(p) for p in reversed(paths)))
    # The one-connection run asks the middle of the list: questions neither
    # the warm-up (from the end) nor the loaded run (from the start) reached.
    middle = len(paths) // 2
    single.write_text(LUA % ", ".join(json.dumps(p) for p in paths[middle:] + paths[:middle]))
    log = open(OUT / f"server-{target.replace(' ', '_')}-{corpus}.log", "w")
    print(f"[{time.strftime('%H:%M:%S')}] {target} on {corpus}, port {port} "
          f"(load {os.getloadavg()[0]:.2f})", flush=True)
    cmd = [str(port) if part == "{port}" else part for part in server_cmd]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=ROOT)
    try:
        wait_ready(f"http://127.0.0.1:{port}{paths[0]}", proc, args.startup_timeout)
        url = f"http://127.0.0.1:{port}"
        served = run_wrk(url, warm, args, args.warmup)["requests"]
        cpu_before, faults_before = server_cpu_s(proc.pid), worker_faults(proc.pid)
        res = run_wrk(url, lua, args, args.duration)
        # CPU the server spent per request (master and workers, user and
        # system): what the service adds to the ceiling, free of how the
        # machine's two cores were shared with wrk and other work.
        cpu = {k: (v - cpu_before[k]) / max(res["requests"], 1) * 1e6 for k, v in server_cpu_s(proc.pid).items()}
        res["server_cpu_us"], res["server_cpu_split_us"] = sum(cpu.values()), cpu
        res["minor_faults_per_request"], res["major_faults_per_request"] = (
            (after - before) / max(res["requests"], 1) for after, before in zip(worker_faults(proc.pid), faults_before))
        if args.single > 0:
            # One connection, one request at a time: what a request costs
            # with no queue in front of it (the loaded run's latency is
            # mostly the wait behind the other connections' requests).
            one = run_wrk(url, single, argparse.Namespace(threads=1, connections=1), args.single)
            res["single"] = {k: one[k] for k in ("p50_ms", "p99_ms", "mean_ms", "took_ms_mean", "requests", "rps")}
            served += one["requests"]
        # Private memory after every request this server answered (all
        # distinct questions: the three runs read different parts of the list).
        res["requests_served"] = served + res["requests"]
        uss = worker_uss_mb(proc.pid)
        if uss:
            res["worker_uss_mb"] = max(uss)
    finally:
        stop(proc)
        log.close()
    res.update(target=target, corpus=corpus, load_avg_1m=os.getloadavg()[0], distinct_questions=len(set(paths)))
    print("   ", {k: (round(v, 2) if isinstance(v, float) else v) for k, v in res.items()}, flush=True)
    return res


def median_round(rounds: list[dict]) -> dict:
    """A target's round with the median req/s (all its figures from that one
    round), with every round's req/s alongside."""
    ranked = sorted(rounds, key=lambda r: r["rps"])
    return {**ranked[(len(ranked) - 1) // 2], "rounds_rps": [r["rps"] for r in rounds],
            "rounds_p50_ms": [r["p50_ms"] for r in rounds], "rounds_p99_ms": [r["p99_ms"] for r in rounds]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpora", default="seeds,100000", help="corpora (names as in retrieval.py)")
    ap.add_argument("--duration", type=float, default=15, help="seconds of load per target")
    ap.add_argument("--warmup", type=float, default=3, help="seconds of unrecorded load first")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--connections", type=int, default=8)
    ap.add_argument("--workers", type=int, default=2, help="gunicorn workers (both servers)")
    ap.add_argument("--queries", type=int, default=40000, help="distinct questions (a run asks each at most once if it makes fewer requests)")
    ap.add_argument("--single", type=float, default=10,
                    help="seconds of one connection after the loaded run (0: none)")
    ap.add_argument("--startup-timeout", type=float, default=180)
    ap.add_argument("--parts", action="store_true",
                    help="also serve the seeds with stages of a request left out (bench/ablated.py): "
                         "what each stage costs under load")
    ap.add_argument("--rebuild", action="store_true", help="build every index again even if it is there")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds of every target in turn; each target's figures are its median round's")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (Debian: apt-get install wrk)")
    OUT.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GROUNDEDQA_WORKERS": str(args.workers), "PYTHONPATH": str(ROOT)}
    started = time.time()
    load_before = os.getloadavg()
    bare = OUT / "bare_flask.py"
    bare.write_text(BARE_APP)
    targets = [("bare flask", "-", [sys.executable, str(bare), "{port}"], ["/api/search?q=ceiling&k=10"])]
    for corpus in args.corpora.split(","):
        path = retrieval.corpus_path(corpus)
        index_dir = OUT / f"index-{corpus}"
        request.build(corpus, index_dir, args.rebuild)  # built (and timed) unless it is there
        paths = ["/api/search?" + urllib.parse.urlencode({"q": q, "k": 10})
                 for q in retrieval.query_texts(corpus, args.queries)]
        # The index as it is (no corpus to read and fingerprint at start-up).
        cmd = [sys.executable, "-m", "service", "serve", "--index", str(index_dir), "--port", "{port}"]
        targets.append(("service serve", corpus, cmd, paths))
        if args.parts and corpus == "seeds":
            for variant in ablated.VARIANTS:
                targets.append((f"serve, {variant}", corpus,
                                [sys.executable, str(BENCH / "ablated.py"), variant, "--corpus", str(path), *cmd[4:]], paths))
    # Rounds interleave the targets, so load from anything else on the
    # machine that comes and goes during the run falls on all of them alike.
    runs: dict[tuple[str, str], list[dict]] = {(t, c): [] for t, c, _, _ in targets}
    for _ in range(args.rounds):
        for target, corpus, cmd, paths in targets:
            runs[target, corpus].append(load_target(target, corpus, cmd, paths, args, env))
    results = [median_round(rounds) for rounds in runs.values()]
    info = {
        **retrieval.run_info(started, load_before),
        "threads": args.threads,
        "connections": args.connections,
        "duration_s": args.duration,
        "rounds": args.rounds,
        "command": " ".join(["python bench/http_bench.py", *sys.argv[1:]]),
        "server": f"gunicorn, {args.workers} workers of {Config.from_env().threads} threads, preloaded app, "
                  "access log on, as `serve` configures it",
    }
    (OUT / "http.json").write_text(json.dumps({"info": info, "results": results}, indent=2))
    # Only this benchmark's section and target lines: the others' results
    # files may not be here.
    report.write_section("http.json")
    print(f"wrote {BENCH / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
