"""A bounded HTTP load client for /api/search, loopback only.

Why not wrk: the reliability runs need every response's status and the
``X-Index-Version`` / ``X-Served-By`` headers, in order, per worker, to prove
that no request failed and that each worker's index only moved forward.

Every loop is bounded twice: by the number of requests and by a deadline.
The target must be a loopback address.

    python bench/load.py --url http://127.0.0.1:8000 --requests 20000 --concurrency 8
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import ipaddress
import itertools
import json
import random
import socket
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class Sample:
    t: float  # seconds since the run started, at send time
    ms: float
    status: int  # 0 = connection error
    version: str | None
    worker: str | None
    question: int = -1  # index into the run's questions
    digest: str | None = None  # answer_digest of the document, for the checked questions


@dataclass
class RunResult:
    samples: list[Sample] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict:
        ok = [s for s in self.samples if 200 <= s.status < 300]
        lat = np.array([s.ms for s in ok]) if ok else np.zeros(1)
        return {
            "requests": len(self.samples),
            "ok_2xx": len(ok),
            "non_2xx": sum(1 for s in self.samples if s.status and not 200 <= s.status < 300),
            "errors": sum(1 for s in self.samples if s.status == 0),
            "seconds": round(self.seconds, 2),
            "req_per_s": round(len(self.samples) / self.seconds, 1) if self.seconds else 0.0,
            "p50_ms": round(float(np.percentile(lat, 50)), 2),
            "p95_ms": round(float(np.percentile(lat, 95)), 2),
            "p99_ms": round(float(np.percentile(lat, 99)), 2),
        }


def check_loopback(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    host = parts.hostname or ""
    addr = socket.gethostbyname(host)
    if not ipaddress.ip_address(addr).is_loopback:
        raise SystemExit(f"refusing to load {host} ({addr}): only loopback targets are allowed")
    return host, parts.port or 80


def answer_digest(doc: dict) -> str:
    """What a search document answers (the hits, their scores and order,
    the quoted answer), without what may differ between two right answers
    (``took_ms``): two documents with one digest give the same answer."""
    answer = doc.get("answer") or {}
    key = [[h["id"], h["score"], h["rank_score"], h["start_char"], h["end_char"]] for h in doc["hits"]]
    key.append([answer.get("passage_id"), answer.get("start_char"), answer.get("end_char"), doc["abstained"]])
    return hashlib.sha256(json.dumps(key).encode()).hexdigest()[:16]


def wait_until(predicate, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {seconds} s waiting for {what}")
        time.sleep(0.1)


def wait_ready(base: str, seconds: float) -> None:
    """Wait until the server at ``base`` answers ``/readyz`` with a 200."""

    def ready() -> bool:
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=2) as resp:
                return resp.status == 200
        except OSError:
            return False

    wait_until(ready, seconds, "the server to be ready")


def make_questions(n: int, seed: int = 1) -> list[str]:
    """``n`` varied questions: the evaluation questions plus random mixes of
    corpus words, so the load touches many different postings."""
    rng = random.Random(seed)
    questions = []
    for name in ("eval/questions.jsonl", "eval/check_questions.jsonl"):
        path = ROOT / name
        if path.exists():
            questions += [json.loads(line)["question"] for line in path.read_text().splitlines() if line.strip()]
    words = sorted({w.strip(".,“”‘’\"'()").lower() for f in (ROOT / "corpus").glob("*.txt")
                    for w in f.read_text().split() if len(w) > 3})
    stems = ["What", "Who", "How many", "When did", "Why did", "Which"]
    while len(questions) < n:
        questions.append(f"{rng.choice(stems)} {' '.join(rng.sample(words, rng.randint(1, 6)))}?")
    rng.shuffle(questions)
    return questions[:n]


def run(url: str, questions: list[str], requests: int, concurrency: int, deadline_s: float,
        checked: int = 0, until: threading.Event | None = None) -> RunResult:
    """Send ``requests`` GETs over ``concurrency`` keep-alive connections
    (with ``until``: at least that many, and on until it is set); the
    answers to the first ``checked`` questions are digested."""
    host, port = check_loopback(url)
    result = RunResult()
    lock = threading.Lock()
    counter = iter(range(requests)) if until is None else itertools.count()
    start = time.perf_counter()
    stop_at = start + deadline_s

    def worker() -> None:
        conn = http.client.HTTPConnection(host, port, timeout=30)
        while time.perf_counter() < stop_at:
            with lock:
                i = next(counter, None)
            if i is None or (until is not None and i >= requests and until.is_set()):
                break
            question = i % len(questions)
            path = f"/api/search?k=10&q={quote(questions[question])}"
            t0 = time.perf_counter()
            try:
                conn.request("GET", path)
                resp = conn.getresponse()
                body = resp.read()
                ms = (time.perf_counter() - t0) * 1000
                digest = answer_digest(json.loads(body)) if question < checked and resp.status == 200 else None
                sample = Sample(t0 - start, ms, resp.status, resp.getheader("X-Index-Version"),
                                resp.getheader("X-Served-By"), question, digest)
            except (OSError, http.client.HTTPException):
                sample = Sample(t0 - start, (time.perf_counter() - t0) * 1000, 0, None, None)
                conn.close()
                conn = http.client.HTTPConnection(host, port, timeout=30)
            with lock:
                result.samples.append(sample)
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    result.seconds = time.perf_counter() - start
    result.samples.sort(key=lambda s: s.t)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--requests", type=int, default=20000)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--questions", type=int, default=1000)
    p.add_argument("--deadline", type=float, default=300.0, help="stop after this many seconds")
    args = p.parse_args(argv)
    res = run(args.url, make_questions(args.questions), args.requests, args.concurrency, args.deadline)
    print(json.dumps(res.summary(), indent=2))
    s = res.summary()
    return 0 if s["errors"] == 0 and s["non_2xx"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
