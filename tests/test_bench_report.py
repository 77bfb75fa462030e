"""bench/report.py: each target line reads the row that measures it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"
spec = importlib.util.spec_from_file_location("bench_report", BENCH / "report.py")
report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(report)


def row(target, corpus, rps, p50=5.0, p99=8.0):
    return {"target": target, "corpus": corpus, "rps": rps, "p50_ms": p50, "p99_ms": p99}


# The HTTP rows of bench/RESULTS.md: the full service at 51% of the ceiling,
# and, after it, ablation rows of the same corpus up to 74%.
SEEDS_RUN = {"results": [
    row("bare flask", "-", 2701.0),
    row("service serve", "seeds", 1379.0),
    row("serve, no-answer", "seeds", 1561.0),
    row("serve, cached", "seeds", 2010.0),
    row("service serve", "100000", 1280.0),
]}


def http_lines(http):
    return [line for line in report.targets_section(None, http) if line.startswith("- ")]


def test_the_seeds_line_reads_the_full_service_row_and_claims_no_target():
    lines = http_lines(SEEDS_RUN)
    (context,) = [line for line in lines if "bare-Flask" in line]
    assert "1,379 req/s, 51% of the bare-Flask ceiling (2,701 req/s)" in context
    assert "74%" not in context and "met" not in context and "target ≥" not in context


def test_scaling_targets_are_not_measured_without_their_rows():
    for http in (None, SEEDS_RUN):
        scaling = [line for line in http_lines(http) if "varied questions" in line]
        assert len(scaling) == 2 and all(line.endswith(": not measured") for line in scaling)
        assert "100,000 passages ≤ 1.2×" in scaling[0] and "1,000,000 passages ≤ 1.3×" in scaling[1]


def test_scaling_targets_compare_p50_and_p99_with_the_1k_row():
    http = {"results": [
        row("service serve", "1000", 1500.0, p50=4.0, p99=10.0),
        row("serve, cached", "1000000", 1500.0, p50=4.0, p99=10.0),  # not the row that measures it
        row("service serve", "100000", 1400.0, p50=4.4, p99=12.5),  # p99 1.25× > 1.2×
        row("service serve", "1000000", 1300.0, p50=5.0, p99=12.0),  # 1.25× and 1.2×: met
    ]}
    at_100k, at_1m = (line for line in http_lines(http) if "varied questions" in line)
    assert at_100k.endswith("p50 4.40 vs 4.00 ms (1.10×), p99 12.50 vs 10.00 ms (1.25×): NOT met")
    assert at_1m.endswith("p50 5.00 vs 4.00 ms (1.25×), p99 12.00 vs 10.00 ms (1.20×): met")


def request_row(corpus, cold_us, warm_us, build=None):
    row = {"corpus": corpus, "cold": {"mean_us": cold_us}, "warm": {"mean_us": warm_us}}
    return {**row, "build": build} if build else row


def request_lines(request):
    return [line for line in report.targets_section(None, None, request) if "In-process" in line or "build" in line]


def test_cold_request_and_build_targets_read_the_1m_row_of_the_request_run():
    assert all(line.endswith(": not measured") for line in request_lines(None))
    request = {"results": [
        request_row("100000", 900.0, 300.0),  # not the row that measures it
        request_row("1000000", 1400.0, 800.0, {"build_s": 101.0, "peak_rss_mb": 1900.0, "index_mb": 2100.0,
                                               "readings_mb": 900.0}),
    ]}
    cold, built = request_lines(request)
    assert cold.endswith("cold 1.400 ms, warm 0.800 ms (1.75×): met")
    assert built.endswith("101.0 s, 1,900 MB peak RSS, index 2,100 MB on disk (900 MB of it the readings): "
                          "fallback met")
    request["results"][1]["cold"]["mean_us"] = 1700.0  # over 1.5 ms, under 2× warm
    assert request_lines(request)[0].endswith("(2.12×): NOT met")


def test_worker_memory_reads_the_1m_service_row_and_needs_enough_requests():
    def worker_line(http):
        return next(line for line in http_lines(http) if "Worker private memory" in line)

    assert worker_line(SEEDS_RUN).endswith(": not measured")
    few = {"results": [dict(row("service serve", "1000000", 500.0), requests=9_000, worker_uss_mb=90.0)]}
    assert worker_line(few).endswith("not measured (only 9,000 requests in the run)")
    enough = {"results": [dict(row("service serve", "1000000", 500.0), requests=12_000, worker_uss_mb=151.5),
                          dict(row("serve, cached", "1000000", 500.0), requests=12_000, worker_uss_mb=80.0)]}
    assert worker_line(enough).endswith("151.5 MB after 12,000 requests: NOT met")
    # Counted over every request the server answered (warm-up and one-connection runs too).
    served = {"results": [dict(row("service serve", "1000000", 500.0), requests=9_000, requests_served=10_500,
                               worker_uss_mb=90.0)]}
    assert worker_line(served).endswith("90.0 MB after 10,500 requests: met")


def _tail_row(corpus, ours_p99, numba_p99):
    return {"corpus": corpus, "load_before": [3.5, 3.0, 2.0], "load_after": [3.9, 3.1, 2.0],
            "ours": {"p50_ms": 0.5, "p99_ms": ours_p99, "qps": 900.0},
            "ours_plain": {"p50_ms": 0.6, "p99_ms": 13.5, "qps": 300.0},
            "bm25s_numba": {"p50_ms": 2.5, "p99_ms": numba_p99, "qps": 350.0}}


def test_the_tail_target_reads_the_1m_row_of_the_tail_run():
    def line(tail):
        (found,) = [x for x in report.targets_section(None, None, None, tail) if "tail" in x]
        return found

    assert line(None).endswith(": not measured")
    assert line({"results": [_tail_row("100000", 1.0, 2.0)]}).endswith(": not measured")
    # The 100k row passes, the 1M row does not: the line is the 1M row's.
    run = {"results": [_tail_row("100000", 1.0, 2.0), _tail_row("1000000", 7.25, 6.7)]}
    assert "wall clock p99 7.25 vs 6.70 ms" in line(run) and "): NOT met" in line(run)
    assert "): met" in line({"results": [_tail_row("1000000", 4.0, 6.7)]})
    # With CPU times, both comparisons are given, each with its verdict.
    cpu = _tail_row("1000000", 7.25, 6.7)
    cpu["ours"].update(cpu_p50_ms=0.4, cpu_p99_ms=3.1)
    cpu["bm25s_numba"].update(cpu_p50_ms=2.4, cpu_p99_ms=6.0)
    both = line({"results": [cpu]})
    assert "2.500 ms): NOT met; CPU time p99 3.10 vs 6.00 ms" in both and "2.400 ms): met (load 3.50)" in both


def test_a_full_rewrite_keeps_the_sections_no_results_file_renders(tmp_path, monkeypatch):
    results = tmp_path / "RESULTS.md"
    results.write_text("# Benchmarks\n\n## Start-up\n\nold start-up figures\n\n"
                       "## The 1M build from outside\n\n| build | 156.7 s |\n")
    monkeypatch.setattr(report, "RESULTS", results)
    monkeypatch.setattr(report, "OUT", tmp_path / "out")
    report.write()
    text = results.read_text()
    assert "## The 1M build from outside\n\n| build | 156.7 s |" in text
    assert text.count("old start-up figures") == 1
    assert text.count("## Targets against this run") == 1


def test_writing_the_http_section_redoes_its_target_lines_and_keeps_the_others(tmp_path, monkeypatch):
    import json

    monkeypatch.setattr(report, "OUT", tmp_path)
    monkeypatch.setattr(report, "RESULTS", tmp_path / "RESULTS.md")
    others = ["- In-process cold request (`bench/request.py`) at 1,000,000 passages: cold 3.321 ms: NOT met",
              "- The 1,000,000-passage tail: p99 66.91 vs 237.58 ms: met"]
    stale = [line.replace(": not measured", ": p50 27.02 vs 14.22 ms (1.90×): NOT met")
             for line in report.http_targets(None)]
    (tmp_path / "RESULTS.md").write_text("\n".join([
        "# Benchmarks", "", "intro", "", report.TARGETS_HEADING, "", *stale, *others, "",
        "## HTTP: `/api/search` under load", "", "old figures", "", "## Retrieval: side by side", "", "kept", ""]))
    run = {"results": [row("service serve", "1000", 500.0, p50=10.0, p99=50.0),
                       row("service serve", "100000", 450.0, p50=11.0, p99=55.0),
                       row("service serve", "1000000", 400.0, p50=14.0, p99=70.0)]}
    (tmp_path / "http.json").write_text(json.dumps(run))
    monkeypatch.setattr(report, "http_section", lambda data: ["## HTTP: `/api/search` under load", "", "new"])
    monkeypatch.setattr(report, "SECTIONS", (("http.json", "## HTTP", report.http_section),))
    report.write_section("http.json")
    text = (tmp_path / "RESULTS.md").read_text()
    assert "old figures" not in text and "\nnew\n" in text and "kept" in text
    bullets = [line for line in text.splitlines() if line.startswith("- ")]
    assert bullets == report.http_targets(run) + others
    assert "p50 11.00 vs 10.00 ms (1.10×), p99 55.00 vs 50.00 ms (1.10×): met" in bullets[0]
    assert "1.90×" not in text


def test_writing_the_request_section_redoes_its_cold_line_and_keeps_the_build_and_http_lines(tmp_path, monkeypatch):
    import json

    monkeypatch.setattr(report, "OUT", tmp_path)
    monkeypatch.setattr(report, "RESULTS", tmp_path / "RESULTS.md")
    build = ("- 1,000,000-passage build from text with the readings ≤ 90 s and ≤ 2 GB peak RSS (else ≤ 120 s, "
             "≤ 2.5 GB): 156.7 s, 2,443 MB peak RSS: NOT met (load 0.85; hand-written)")
    others = [f"{report.HTTP_CONTEXT} through `service serve` on the seeds at 1,379 req/s", build]
    stale = report.cold_request_target(None)[0].replace(": not measured", ": cold 3.321 ms, warm 4.089 ms: NOT met")
    (tmp_path / "RESULTS.md").write_text("\n".join([
        "# Benchmarks", "", "intro", "", report.TARGETS_HEADING, "", others[0], stale, build, "",
        "## One request's work, in-process", "", "old figures", "", "## HTTP: x", "", "kept", ""]))
    run = {"results": [request_row("1000", 900.0, 800.0),
                       request_row("1000000", 1400.0, 800.0, {"build_s": 694.9, "peak_rss_mb": 2832.0,
                                                              "index_mb": 1912.0, "readings_mb": 919.0})]}
    (tmp_path / "request.json").write_text(json.dumps(run))
    monkeypatch.setattr(report, "SECTIONS", (("request.json", "## One request's work", lambda data: [
        "## One request's work, in-process", "", "new"]),))
    report.write_section("request.json")
    text = (tmp_path / "RESULTS.md").read_text()
    assert "old figures" not in text and "\nnew\n" in text and "kept" in text
    bullets = [line for line in text.splitlines() if line.startswith("- ")]
    assert bullets == [others[0], *report.cold_request_target(run), build]
    assert "cold 1.400 ms, warm 0.800 ms (1.75×): met" in bullets[1] and "3.321" not in text
