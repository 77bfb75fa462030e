"""The reliability run's version check: flags real regressions, not client scheduling."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))
spec = importlib.util.spec_from_file_location("reliability", BENCH / "reliability.py")
reliability = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reliability)
Sample = reliability.load.Sample


def sample(t: float, ms: float, version: str, worker: str = "1") -> Sample:
    return Sample(t=t, ms=ms, status=200, version=version, worker=worker)


def test_overlapping_responses_recorded_out_of_order_are_not_a_regression():
    # Sent at 1.0 and 1.001; the client recorded the newer one first.
    samples = [sample(1.001, 5, "v2"), sample(1.0, 20, "v1")]
    assert reliability.check_versions(samples, refused={"v9"}) == []


def test_older_version_sent_after_newer_arrived_is_a_regression():
    samples = [sample(1.0, 5, "v2"), sample(2.0, 5, "v1")]
    assert reliability.check_versions(samples, refused={"v9"}) == ["worker 1 went back from v2 to v1"]


def test_workers_are_checked_separately_and_corrupt_is_flagged():
    samples = [sample(1.0, 5, "v2", "1"), sample(2.0, 5, "v1", "2"), sample(3.0, 5, "v9", "2")]
    assert reliability.check_versions(samples, refused={"v9"}) == ["worker 2 served a refused version"]


def test_each_step_is_charged_with_the_requests_that_ended_until_the_next_one():
    expect = reliability.faults.Expectations(["q0"])
    expect.digests = {"v1": ["right"], "v2": ["new"]}
    # the lost request was sent before the kill and failed after it
    samples = [Sample(0.5, 5, 200, "v1", "1", 0, "right"), Sample(0.9, 200, 0, None, None),
               Sample(2.5, 5, 200, "v2", "1", 0, "right"), Sample(2.6, 5, 503, "v2", "1")]
    rows = reliability.per_step(samples, [(1.0, "kill"), (2.0, "publish")], expect)
    assert [(r["step"], r["requests"], r["lost"], r["non_2xx"], r["checked"], r["wrong"]) for r in rows] == [
        ("load alone, before the first fault", 1, 0, 0, 1, 0), ("kill", 1, 1, 0, 0, 0), ("publish", 2, 0, 1, 1, 1)]


def _run2(disk: dict | None) -> dict:
    return {"summary": {"non_2xx": 0, "errors": 0}, "restarted": 0, "wrong": [], "served_refused": [],
            "backwards": [], "finals": ["v-2"], "good": ["v-1", "v-2"], "chunked": [400], "disk": disk,
            "index": "/x/index"}


def test_a_publish_on_the_full_disk_must_fail_in_one_line_and_leave_nothing():
    sound = {"rc": 1, "stderr": ["error: /x/index: cannot write the index: No space left on device"],
             "current_untouched": True, "left": []}
    assert reliability.fault_problems(_run2(sound), 8) == []
    assert reliability.fault_problems(_run2(None), 8) == []  # skipped: no tmpfs
    for bad in ({"rc": 0}, {"left": [".CURRENT.1a2b3c4d"]}, {"current_untouched": False},
                {"stderr": ["Traceback (most recent call last):", "OSError: 650 requested and 496 written"]}):
        assert reliability.fault_problems(_run2({**sound, **bad}), 8), bad
