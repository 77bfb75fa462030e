"""Slow clients against a running server, loopback only.

Run A: ``--connections`` connections send a request head a few bytes a
second (never finishing it) for ``--seconds``, reopened when the server
closes them, while one client polls ``/healthz`` and ``/api/search`` with
fresh connections.  Expects at least 99% of polls answered within 1 s and
none failed.

Run B: requests that never complete (a body shorter than its
Content-Length, an unfinished chunked body, a TLS hello on the HTTP port),
more of them than the server has workers.  Expects each to get a 4xx within
15 s, never a 5xx, and ``/healthz`` to answer within 1 s meanwhile.

    python bench/slow_clients.py --url http://127.0.0.1:8000 [--connections 200] [--seconds 30]
"""

from __future__ import annotations

import argparse
import http.client
import json
import socket
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import check_loopback  # noqa: E402  (bench/load.py, beside this file)

HEAD = b"GET /healthz HTTP/1.1\r\nHost: slow\r\n"
INCOMPLETE = {
    "body shorter than Content-Length": (b"POST /api/search HTTP/1.1\r\nHost: slow\r\n"
                                         b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"q\": "),
    "unfinished chunked body": (b"POST /api/search HTTP/1.1\r\nHost: slow\r\nContent-Type: application/json\r\n"
                                b"Transfer-Encoding: chunked\r\n\r\n5\r\n{\"q\":\r\n"),
    "TLS hello on the HTTP port": bytes.fromhex("16030100a5010000a10303") + bytes(40),
}
POLL_PATHS = ("/healthz", "/api/search?q=BT+London+write-down&k=3")


def _poll_once(host: str, port: int, path: str, timeout: float = 10.0) -> tuple[float, int]:
    """Seconds to a full answer on a fresh connection and its status (0: failed)."""
    t = time.monotonic()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return time.monotonic() - t, resp.status
    except OSError:
        return time.monotonic() - t, 0
    finally:
        conn.close()


def _open(host: str, port: int) -> socket.socket | None:
    try:
        s = socket.create_connection((host, port), timeout=5)
        s.sendall(HEAD)
        s.setblocking(False)
        return s
    except OSError:
        return None


def slow_heads(base: str, connections: int, seconds: float) -> dict:
    """Run A: see the module docstring."""
    host, port = check_loopback(base)
    socks = [_open(host, port) for _ in range(connections)]
    polls: list[tuple[float, int]] = []
    stop = threading.Event()

    def poller() -> None:
        i = 0
        while not stop.is_set():
            polls.append(_poll_once(host, port, POLL_PATHS[i % 2]))
            i += 1
            stop.wait(0.1)

    thread = threading.Thread(target=poller)
    thread.start()
    reopened, t_end, n = 0, time.monotonic() + seconds, 0
    while time.monotonic() < t_end:
        for i, s in enumerate(socks):
            try:
                if s is None:
                    raise OSError
                s.send(b"X-Slow-%d: 1\r\n" % n)
            except OSError:
                if s is not None:
                    s.close()
                socks[i] = _open(host, port)
                reopened += 1
        n += 1
        time.sleep(1.0)
    stop.set()
    thread.join()
    for s in socks:
        if s is not None:
            s.close()
    within = sum(1 for dt, status in polls if status and dt <= 1.0)
    return {
        "connections": connections,
        "seconds": seconds,
        "polls": len(polls),
        "within_1s": within,
        "within_1s_pct": round(100.0 * within / len(polls), 2) if polls else 0.0,
        "failed": sum(1 for _, status in polls if not 200 <= status < 300),
        "max_poll_s": round(max((dt for dt, _ in polls), default=0.0), 3),
        "slow_connections_reopened": reopened,
    }


def _answer_to(host: str, port: int, data: bytes, limit: float) -> tuple[int, float]:
    """Send ``data`` and wait (up to ``limit`` s) for the status line: (status or 0, seconds)."""
    t, got = time.monotonic(), b""
    try:
        with socket.create_connection((host, port), timeout=limit) as s:
            s.sendall(data)
            while b"\r\n" not in got:
                chunk = s.recv(4096)
                if not chunk:
                    break
                got += chunk
    except OSError:
        pass
    parts = got.split(b" ", 2)
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return status, round(time.monotonic() - t, 2)


def incomplete_requests(base: str, copies: int, limit: float = 15.0) -> dict:
    """Run B: see the module docstring."""
    host, port = check_loopback(base)
    results: dict[str, list[tuple[int, float]]] = {name: [] for name in INCOMPLETE}
    threads = [threading.Thread(target=lambda name=name, data=data: results[name].append(
                   _answer_to(host, port, data, limit)))
               for name, data in INCOMPLETE.items() for _ in range(copies)]
    for t in threads:
        t.start()
    time.sleep(0.5)  # they are all waiting on the server now
    meanwhile = [_poll_once(host, port, "/healthz") for _ in range(10)]
    for t in threads:
        t.join()
    return {
        "copies": copies,
        "answers": {name: sorted(set(r)) for name, r in results.items()},
        "healthz_meanwhile_max_s": round(max(dt for dt, _ in meanwhile), 3),
        "healthz_meanwhile_failed": sum(1 for _, status in meanwhile if status != 200),
    }


def problems(a: dict, b: dict) -> list[str]:
    """What runs A and B fell short of."""
    out = []
    if a["within_1s_pct"] < 99.0 or a["failed"]:
        out.append(f"slow heads: {a['within_1s_pct']}% of polls within 1 s, {a['failed']} failed")
    for name, answers in b["answers"].items():
        if any(not 400 <= status < 500 or seconds > 15 for status, seconds in answers):
            out.append(f"{name}: answered {answers} (status, seconds), expected a 4xx within 15 s")
    if b["healthz_meanwhile_max_s"] > 1.0 or b["healthz_meanwhile_failed"]:
        out.append(f"incomplete requests held a worker: /healthz took {b['healthz_meanwhile_max_s']} s")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True)
    p.add_argument("--connections", type=int, default=200)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument("--copies", type=int, default=3, help="of each incomplete request (more than the workers)")
    args = p.parse_args(argv)
    a = slow_heads(args.url, args.connections, args.seconds)
    b = incomplete_requests(args.url, args.copies)
    print(json.dumps({"slow_heads": a, "incomplete": b}, indent=2))
    found = problems(a, b)
    for line in found:
        print("FAILED:", line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
