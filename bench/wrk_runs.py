"""Long steady runs with ``wrk`` (Debian's wrk: a C client, so 64
connections do not make the client the bottleneck), loopback only.

Each run sends ``/api/search`` GETs over the same varied questions as
bench/load.py, ``wrk -t2 -c N -d S --latency``, and reads requests/s, p50,
p99, socket errors and non-2xx responses from wrk's report.

    python bench/wrk_runs.py --url http://127.0.0.1:8000 [--seconds 60] [--connections 16 64]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from urllib.parse import quote

import load

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return round(float(value) * _UNITS[unit], 2)


def parse(report: str) -> dict:
    """The figures of one wrk report."""
    found = re.search(r"(\d+) requests in ([\d.]+)(\w+)", report)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", report)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", report)
    return {
        "requests": int(found.group(1)),
        "seconds": round(_ms(found.group(2) + found.group(3)) / 1000, 1),
        "req_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", report).group(1)),
        "p50_ms": _ms(re.search(r"50%\s+(\S+)", report).group(1)),
        "p99_ms": _ms(re.search(r"99%\s+(\S+)", report).group(1)),
        "errors": sum(int(n) for n in socket_errors.groups()) if socket_errors else 0,
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
    }


def run(url: str, questions: list[str], seconds: float, connections: int) -> dict:
    load.check_loopback(url)
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    paths = ", ".join(json.dumps(f"/api/search?k=10&q={quote(q)}") for q in questions)
    script = f"paths = {{{paths}}}\ni = 0\nrequest = function()\n  i = i % #paths + 1\n" \
             f"  return wrk.format(\"GET\", paths[i])\nend\n"
    with tempfile.NamedTemporaryFile("w", suffix=".lua") as fh:
        fh.write(script)
        fh.flush()
        out = subprocess.run([wrk, "-t2", f"-c{connections}", f"-d{seconds:g}s", "--latency", "-s", fh.name, url],
                             capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    return {"connections": connections, **parse(out)}


def runs(url: str, questions: list[str], seconds: float, connections: tuple[int, ...] = (16, 64)) -> list[dict]:
    return [run(url, questions, seconds, n) for n in connections]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--connections", type=int, nargs="+", default=[16, 64])
    args = p.parse_args(argv)
    results = runs(args.url, load.make_questions(1000), args.seconds, tuple(args.connections))
    print(json.dumps(results, indent=2))
    return 1 if any(r["errors"] or r["non_2xx"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
