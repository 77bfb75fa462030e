"""bench/RESULTS.md from the raw results of retrieval.py, http_bench.py
and request.py.

Each script rewrites the whole file from whichever result files exist
(bench/out/retrieval.json, http.json, request.json), so none clobbers
another's section.
"""

from __future__ import annotations

import json
from pathlib import Path

BENCH = Path(__file__).resolve().parent
OUT = BENCH / "out"
RESULTS = BENCH / "RESULTS.md"
TARGETS_HEADING = "## Targets against this run"
PLOT = BENCH / "latency.png"

LABELS = {
    "ours": "groundedqa",
    "rank_bm25": "rank-bm25 BM25Okapi",
    "bm25s_numpy": "bm25s (numpy)",
    "bm25s_numba": "bm25s (numba)",
}


def _f(v, digits=2):
    if v is None:
        return "–"
    if isinstance(v, float):
        if v >= 100:
            return f"{v:,.0f}"
        if v < 1:
            return f"{v:.3f}"
        return f"{v:.{digits}f}"
    return str(v)


def _machine(info: dict) -> list[str]:
    m = info["machine"]
    lines = [
        f"- CPU: {m['cpu']}, {m['logical_cpus']} logical CPUs; RAM {m['ram_gb']} GB; {m['platform']}",
        f"- Python {m['python']}; " + ", ".join(f"{k} {v}" for k, v in sorted(m["versions"].items())),
        f"- Run started {info['started']}, took {info['minutes']} min; load average (1/5/15 min) "
        f"before {tuple(round(x, 2) for x in info['load_before'])}, after "
        f"{tuple(round(x, 2) for x in info['load_after'])}. The machine is shared with other "
        "work, so absolute figures are noisy; ratios come from the same run.",
    ]
    return lines


def retrieval_section(data: dict) -> list[str]:
    info, results = data["info"], data["results"]
    out = ["## Retrieval: side by side", "", *_machine(info), "",
           "Same tokens for every engine (this project's analyzer), single thread, top-10, "
           f"up to {info['args']['queries']} queries or {info['args']['seconds']:.0f} s per engine and corpus; "
           "groundedqa and bm25s are timed interleaved (query i to each engine in turn, from their saved "
           "indexes, in one process), rank-bm25 on its own; the `Retriever.search` rows are timed "
           "after that loop, alone. "
           "*tokenize* = corpus text → passages → terms; *build* = the engine's indexing after that "
           "(for groundedqa the real `service index` pipeline, whose total from text is *build total*, "
           "and whose *tokenize* is the wall-clock time until every passage is cut and analysed, by 2 "
           "spawned worker processes above 50 MB of text); "
           "*peak RSS* = the whole worker process tree at its largest simultaneous sum (the build process "
           "plus its tokenizer processes, RSS sampled every 20 ms with psutil, and never less than the "
           "process's own `ru_maxrss`; tokens included); *index* = files on disk "
           "(groundedqa: BM25 arrays + vocabulary; rank-bm25 has no file format, so its pickle). "
           "bm25s uses its default Lucene-style idf (scores differ from BM25Okapi; speed is what is compared). "
           "Ratios are QPS divided by the other engine's QPS on the same corpus.", ""]
    for s in info["skipped"]:
        out.append(f"- Skipped: {s}.")
    corpora = []
    for r in results:
        if r["corpus"] not in corpora:
            corpora.append(r["corpus"])
    for name in corpora:
        rows = [r for r in results if r["corpus"] == name]
        by = {r["engine"]: r for r in rows if "error" not in r}
        n = next((r.get("n_passages") for r in rows if r.get("n_passages")), None)
        title = "synthetic" if name.isdigit() else name
        out += ["", f"### {title}, {n:,} passages" if n else f"### {title}", "",
                "| engine | tokenize s | build s | build total s | index MB | peak RSS MB | p50 ms | p99 ms | QPS "
                "| × rank-bm25 | × bm25s-numpy | × bm25s-numba | p50 ÷ bm25s-numba p50 | load avg at build |",
                "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            if "error" in r:
                out.append(f"| {LABELS.get(r['engine'], r['engine'])} | error: {' '.join(r['error'])} |")
                continue

            def p50_ratio(r):
                o = by.get("bm25s_numba")
                return r["p50_ms"] / o["p50_ms"] if o and o is not r else None

            def ratio(other):
                o = by.get(other)
                return r["qps"] / o["qps"] if o and o is not r else None

            out.append(
                f"| {LABELS.get(r['engine'], r['engine'])} | {_f(r.get('tokenize_s'))} | {_f(r.get('build_s'))} "
                f"| {_f(r.get('build_total_s'))} | {_f(r.get('index_mb'), 1)} | {_f(r.get('peak_rss_mb'))} "
                f"| {_f(r['p50_ms'], 3)} | {_f(r['p99_ms'], 3)} | {_f(r['qps'], 0)} | {_f(ratio('rank_bm25'), 1)} "
                f"| {_f(ratio('bm25s_numpy'), 2)} | {_f(ratio('bm25s_numba'), 2)} "
                f"| {_f(p50_ratio(r), 2)} | {_f(r.get('load_avg_1m'))} |")
            if r["engine"] == "ours" and "search_api" in r:
                api = r["search_api"]
                out.append(f"| ↳ `Retriever.search` (analysis + top-10 + hit texts) | | | | | "
                           f"| {_f(api['p50_ms'], 3)} | {_f(api['p99_ms'], 3)} | {_f(api['qps'], 0)} | | | | | |")
                out.append(f"| ↳ `Retriever.search_many` (same, batch of {api['queries']:,}, thread pool) "
                           f"| | | | | | | | {_f(r.get('search_many_qps'), 0)} | | | | | |")
    out += ["", "index MB: ours, every file of the index's segment folders (postings, passages, texts, terms and the "
            "readings); bm25s, its saved folder; rank-bm25, its pickle.",
            "", f"![p50 latency vs corpus size]({PLOT.name})", ""]
    return out


def plot(results: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for engine, label in LABELS.items():
        pts = sorted((int(r["corpus"]), r["p50_ms"]) for r in results
                     if r["engine"] == engine and r["corpus"].isdigit() and "error" not in r)
        if pts:
            ax.plot(*zip(*pts), marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("passages (synthetic, ~100 tokens, Zipf vocabulary of 200k)")
    ax.set_ylabel("top-10 query latency p50 (ms)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(PLOT, dpi=120)


def http_section(data: dict) -> list[str]:
    info, results = data["info"], data["results"]
    out = ["## HTTP: `/api/search` under load", "", *_machine(info), "",
           f"`wrk` on loopback, {info['threads']} threads, {info['connections']} connections, "
           f"{info['duration_s']} s per target, against `python -m service serve` "
           f"({info['server']}) and, as the ceiling, a bare Flask JSON endpoint under the same gunicorn "
           "configuration. Requests go through the corpus's queries in order (the warm-up through the same list from "
           "its end); *distinct questions*: how many the list holds, so a run with fewer requests asked none twice; "
           "*worker USS*: the largest worker's private memory after every request the server answered (the "
           "warm-up's, the loaded run's and the one-connection run's: *served*)."
           + (f" {info['note']}" if info.get("note") else "")
           + (f" Command: `{info['command']}`." if info.get("command") else ""), "",
           "| target | corpus | req/s | p50 ms | p99 ms | requests | errors (non-2xx, socket) | % of ceiling "
           "| server CPU µs/request | distinct questions | worker USS MB (requests served) | load avg |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    ceiling = {r["corpus"]: r["rps"] for r in results if r["target"] == "bare flask"}
    for r in results:
        c = ceiling.get(r["corpus"]) or ceiling.get("-")
        pct = f"{100 * r['rps'] / c:.0f}%" if c and r["target"] != "bare flask" else ""
        out.append(f"| {r['target']} | {r['corpus']} | {r['rps']:,.0f} | {_f(r['p50_ms'])} | {_f(r['p99_ms'])} "
                   f"| {r['requests']:,} | {r['non2xx']}, {r['socket_errors']} | {pct} "
                   f"| {_f(r.get('server_cpu_us'))} | {_f(r.get('distinct_questions'))} "
                   f"| {_f(r.get('worker_uss_mb'))}"
                   + (f" ({r['requests_served']:,})" if "requests_served" in r else "")
                   + f" | {_f(r.get('load_avg_1m'))} |")
    out += _http_parts(results)
    if any(r["target"].startswith("serve, ") for r in results):
        out += ["", "Rows `serve, ...` (`--parts`, `bench/ablated.py`) are the same server with a stage of the "
                "request left out: `no-answer` chooses no answer, `no-marks` returns each passage escaped but "
                "without `<mark>`s, `cached` answers each question once per worker and then serves the stored "
                "document, leaving only the HTTP layer (URL parsing, validation, encoding the same JSON, "
                "headers, gunicorn). The gaps between rows are what each stage costs under load; the service "
                "itself has no such modes."]
    if any("rounds_rps" in r for r in results):
        out += ["", f"Each target ran {info.get('rounds', '?')} rounds, interleaved (the ceiling, then each "
                "corpus, in turn); the table shows each target's median round. req/s by round: "
                + "; ".join(f"{r['target']} {r['corpus']}: " + ", ".join(f"{x:,.0f}" for x in r["rounds_rps"])
                            for r in results if "rounds_rps" in r) + "."]
        base = next((r for r in results if (r["target"], r["corpus"]) == (SERVICE, SCALING_BASE)), None)
        if base and "rounds_p50_ms" in base:
            out += ["", f"p50 and p99 by round, and each over the {int(SCALING_BASE):,}-passage server's in the same "
                    "round: " + "; ".join(
                        f"{r['corpus']}: " + ", ".join(
                            f"{p50:.2f} ms ({p50 / b50:.2f}×) / {p99:.0f} ms ({p99 / b99:.2f}×)"
                            for p50, p99, b50, b99 in zip(r["rounds_p50_ms"], r["rounds_p99_ms"],
                                                         base["rounds_p50_ms"], base["rounds_p99_ms"]))
                        for r in results if r["target"] == SERVICE and "rounds_p50_ms" in r) + "."]
    out.append("")
    return out


def _http_parts(results: list[dict]) -> list[str]:
    """Where a served request's time goes, for the rows that measured it."""
    rows = [r for r in results if "server_cpu_split_us" in r]
    if not rows:
        return []
    out = ["", "Where the time goes, in the same rounds: *latency mean* under the load above; *in the app*: the "
           "mean `took_ms` of the answers (the time `search_json` took inside the server: search, answer, "
           "highlights), the rest of the latency being HTTP, gunicorn and the wait for a thread and a core "
           "behind the other connections' requests; *one connection*: the same server after the loaded run, "
           "one request at a time (questions from the middle of the list, asked by neither run before), so "
           "no queue; server CPU per request of the loaded run by where it ran (the workers' event loops, "
           "the threads that answer, the master); the workers' page faults per request (minor: a page of "
           "the mapped index already in the page cache, major: read from disk).", "",
           "| target | corpus | latency mean ms | in the app ms | one connection: p50 ms | p99 ms | mean ms "
           "| in the app ms | CPU µs/request: event loops | answering threads | master | minor faults/request "
           "| major faults/request |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        one, cpu = r.get("single", {}), r["server_cpu_split_us"]
        out.append(f"| {r['target']} | {r['corpus']} | {_f(r.get('mean_ms'))} | {_f(r.get('took_ms_mean'))} "
                   f"| {_f(one.get('p50_ms'))} | {_f(one.get('p99_ms'))} | {_f(one.get('mean_ms'))} "
                   f"| {_f(one.get('took_ms_mean'))} | {_f(cpu['event loops'])} | {_f(cpu['request threads'])} "
                   f"| {_f(cpu['master'])} | {_f(r.get('minor_faults_per_request'))} "
                   f"| {_f(r.get('major_faults_per_request'))} |")
    return out


def request_section(data: dict) -> list[str]:
    info, results = data["info"], data["results"]
    out = ["## One request's work, in-process", "", *_machine(info), "",
           "`service.qa.ask.search_json` (what `/api/search` computes: search, answer, highlights), "
           "single thread, per question, µs. *warm*: every passage read before (best of "
           f"{info['rounds']} passes); *cold*: what is kept between requests (the retriever's hit fields and "
           "article texts, sentence vectors) emptied before each question (words known; emptied before each "
           "pass too, the best kept, as for warm; *cold 1st pass*: the first pass's alone), as on a large archive "
           "under varied questions; the answer and the highlights read the index's stored readings either way; "
           "then the warm parts; then each stage of a cold request apart, in CPU µs (mean of the best passes): search with the "
           "hits' fields, the answer, the ten highlights, the document (`response_json` and `json.dumps`). "
           "The cold requests are interleaved across the corpora (question i on each in turn, one process), so "
           "the sizes share the machine's load alike.", "",
           "| corpus | passages | questions | warm p50 | warm mean | cold p50 | cold p90 | cold mean "
           "| cold 1st pass mean | search mean | answer mean | 10 highlights mean | cold CPU: search | answer | highlights | document |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        cpu = r.get("cold_cpu", {})
        first = f"{r['cold_first_pass']['mean_us']:,.0f}" if "cold_first_pass" in r else "–"
        split = " | ".join(f"{cpu[s]['mean_us']:,.0f}" if s in cpu else "–"
                           for s in ("search", "answer", "highlights", "document"))
        out.append(f"| {r['corpus']} | {r['passages']:,} | {r['questions']} | {r['warm']['p50_us']:,.0f} "
                   f"| {r['warm']['mean_us']:,.0f} | {r['cold']['p50_us']:,.0f} | {r['cold']['p90_us']:,.0f} "
                   f"| {r['cold']['mean_us']:,.0f} | {first} | {r['search']['mean_us']:,.0f} "
                   f"| {r['answer']['mean_us']:,.0f} "
                   f"| {r['highlights']['mean_us']:,.0f} | {split} |")
    built = [r for r in results if r.get("build")]
    if built:
        out += ["", "Each index as built for this run (`service index`, timed from outside: wall time, the peak "
                "of the build's processes' summed RSS, files on disk):", "",
                "| corpus | build s | peak RSS MB | index MB | of which readings MB | load avg | command |",
                "|---|---|---|---|---|---|---|"]
        out += [f"| {r['corpus']} | {r['build']['build_s']:.1f} | {r['build']['peak_rss_mb']:,.0f} "
                f"| {r['build']['index_mb']:,.1f} | {r['build']['readings_mb']:,.1f} | {r['build']['load_avg_1m']:.2f} "
                f"| `{r['build']['command']}` |" for r in built]
    out.append("")
    return out


#: HTTP rows are (target, corpus) as bench/http_bench.py names them; each
#: target line reads the one row that measures it.
CEILING_ROW = ("bare flask", "-")
SERVICE = "service serve"  # the full service, no stage left out
#: /api/search p50 and p99 at a size, through the real server with varied
#: questions, against the same at SCALING_BASE passages of the same synthetic
#: text (bench/synthetic.py: a smaller corpus is the start of a larger one).
SCALING_BASE = "1000"
SCALING_TARGETS = (("100000", 1.2), ("1000000", 1.3))


def _latencies(row: dict | None) -> tuple[float, float] | None:
    if not row or not row.get("p50_ms") or not row.get("p99_ms"):
        return None
    return row["p50_ms"], row["p99_ms"]


def http_targets(http: dict | None) -> list[str]:
    """The latency-scaling targets ("not measured" without their rows), then
    the seeds' req/s against the bare-Flask ceiling as context."""
    rows = {(r["target"], r["corpus"]): r for r in http["results"]} if http else {}
    out = []
    base = _latencies(rows.get((SERVICE, SCALING_BASE)))
    for size, limit in SCALING_TARGETS:
        what = (f"- `/api/search` through `{SERVICE}`, varied questions: p50 and p99 at {int(size):,} passages "
                f"≤ {limit}× those at {int(SCALING_BASE):,} passages of the same text")
        big = _latencies(rows.get((SERVICE, size)))
        if not (base and big):
            out.append(f"{what}: not measured")
            continue
        (p50, p99), (base50, base99) = big, base
        ok = p50 <= limit * base50 and p99 <= limit * base99
        out.append(f"{what}: p50 {p50:.2f} vs {base50:.2f} ms ({p50 / base50:.2f}×), p99 {p99:.2f} vs "
                   f"{base99:.2f} ms ({p99 / base99:.2f}×): {'met' if ok else 'NOT met'}")
    big = rows.get((SERVICE, "1000000"))
    what = (f"- Worker private memory (USS, largest worker) after {WORKER_REQUESTS:,} varied requests on "
            f"1,000,000 passages ≤ {WORKER_USS_MB} MB")
    if not big or "worker_uss_mb" not in big:
        out.append(f"{what}: not measured")
    elif big.get("requests_served", big["requests"]) < WORKER_REQUESTS:
        out.append(f"{what}: not measured (only {big.get('requests_served', big['requests']):,} requests "
                   "in the run)")
    else:
        out.append(f"{what}: {big['worker_uss_mb']:.1f} MB after {big.get('requests_served', big['requests']):,} "
                   "requests: "
                   f"{'met' if big['worker_uss_mb'] <= WORKER_USS_MB else 'NOT met'}")
    ceiling, seeds = rows.get(CEILING_ROW), rows.get((SERVICE, "seeds"))
    if ceiling and seeds:
        out.append(f"{HTTP_CONTEXT} through `{SERVICE}` on the seeds at "
                   f"{seeds['rps']:,.0f} req/s, {100 * seeds['rps'] / ceiling['rps']:.0f}% of the bare-Flask "
                   f"ceiling ({ceiling['rps']:,.0f} req/s)")
    return out


HTTP_CONTEXT = "- Context, not a target: `/api/search`"


def _is_target_of(targets, line: str) -> bool:
    """Whether a line of the targets list is one ``targets`` (a function of
    a results file, :data:`TARGET_LINES`) writes, whatever its figures: a
    line says what it measures before its figures."""
    whats = [what.removesuffix(": not measured") + ":" for what in targets(None)]
    if targets is http_targets:
        whats.append(HTTP_CONTEXT)  # written only when measured
    return any(line.startswith(what) for what in whats)


#: Worker memory: private memory of the largest worker after this many requests.
WORKER_REQUESTS, WORKER_USS_MB = 10_000, 150
#: The in-process cold request at 1M passages: its mean at most this, and
#: at most this many times the warm mean.
COLD_MS, COLD_OVER_WARM = 1.5, 2.0
#: The 1M build from text with the readings: seconds and peak RSS MB, and
#: the limits allowed where the readings make those impossible.
BUILD_LIMITS, BUILD_FALLBACK = (90, 2048), (120, 2560)


def request_targets(request: dict | None) -> list[str]:
    """The in-process cold request and the 1M build (with the readings),
    from bench/request.py's 1,000,000-passage row."""
    rows = {r["corpus"]: r for r in request["results"]} if request else {}
    big = rows.get("1000000")
    what = (f"- In-process cold request (`bench/request.py`) at 1,000,000 passages: mean ≤ {COLD_MS} ms and "
            f"≤ {COLD_OVER_WARM:g}× the warm mean")
    if not big:
        return [f"{what}: not measured", "- 1,000,000-passage build from text with the readings: not measured"]
    cold, warm = big["cold"]["mean_us"] / 1000, big["warm"]["mean_us"] / 1000
    ok = cold <= COLD_MS and cold <= COLD_OVER_WARM * warm
    out = [f"{what}: cold {cold:.3f} ms, warm {warm:.3f} ms ({cold / warm:.2f}×): {'met' if ok else 'NOT met'}"]
    b = big.get("build")
    what = (f"- 1,000,000-passage build from text with the readings ≤ {BUILD_LIMITS[0]} s and "
            f"≤ {BUILD_LIMITS[1] / 1024:g} GB peak RSS (else ≤ {BUILD_FALLBACK[0]} s, "
            f"≤ {BUILD_FALLBACK[1] / 1024:g} GB)")
    if not b:
        return out + [f"{what}: not measured"]
    fits = lambda limits: b["build_s"] <= limits[0] and b["peak_rss_mb"] <= limits[1]  # noqa: E731
    verdict = "met" if fits(BUILD_LIMITS) else "fallback met" if fits(BUILD_FALLBACK) else "NOT met"
    return out + [f"{what}: {b['build_s']:.1f} s, {b['peak_rss_mb']:,.0f} MB peak RSS, index {b['index_mb']:,.0f} MB "
                  f"on disk ({b['readings_mb']:,.0f} MB of it the readings): {verdict}"]


def targets_section(ret: dict | None, http: dict | None, request: dict | None = None,
                    tail: dict | None = None) -> list[str]:
    """The targets against this run's figures, computed, not typed."""
    out = [TARGETS_HEADING, ""]
    if ret:
        rows = {(r["corpus"], r["engine"]): r for r in ret["results"] if "error" not in r}
        for size in ("100000", "1000000"):
            ours, numba = rows.get((size, "ours")), rows.get((size, "bm25s_numba"))
            if ours and numba:
                out.append(f"- {int(size):,} passages: top-10 p50 {ours['p50_ms']:.3f} ms vs bm25s-numba "
                           f"{numba['p50_ms']:.3f} ms (target ≤): {'met' if ours['p50_ms'] <= numba['p50_ms'] else 'NOT met'}"
                           + (f"; moonshot ≤ 1 ms: {'met' if ours['p50_ms'] <= 1 else 'not met'}" if size == "1000000" else ""))
        ours, rank = rows.get(("100000", "ours")), rows.get(("100000", "rank_bm25"))
        if ours and rank:
            x = ours["qps"] / rank["qps"]
            out.append(f"- 100,000 passages: QPS {x:,.0f}× rank-bm25's (target ≥ 300×): {'met' if x >= 300 else 'NOT met'}")
        big = rows.get(("1000000", "ours"))
        if big:
            ok = big["build_total_s"] <= 90 and big["peak_rss_mb"] <= 2048
            out.append(f"- 1,000,000 passages built from text in {big['build_total_s']:.0f} s (tokenization "
                       f"{big['tokenize_s']:.0f} s) with {big['peak_rss_mb']:,.0f} MB peak RSS (target ≤ 90 s, "
                       f"≤ 2 GB): {'met' if ok else 'NOT met'}")
    out += tail_target(tail)
    out += http_targets(http)
    out += request_targets(request)
    out.append("")
    return out


#: The tail target's corpus: p99 of top-10 there at most bm25s-numba's in the same run.
TAIL_SIZE = "1000000"
TAIL_LABELS = {"ours": "groundedqa", "ours_plain": "groundedqa before the block-max path",
               "bm25s_numba": "bm25s (numba)"}


def tail_target(tail: dict | None) -> list[str]:
    """The 1M tail, from bench/tail.py's 1,000,000-passage row."""
    what = (f"- The {int(TAIL_SIZE):,}-passage tail: top-10 p99 ≤ bm25s-numba's p99 in the same run "
            "(`bench/tail.py`)")
    rows = {r["corpus"]: r for r in tail["results"]} if tail else {}
    row = rows.get(TAIL_SIZE, {})
    ours, numba = row.get("ours"), row.get("bm25s_numba")
    if not (ours and numba and "p99_ms" in ours and "p99_ms" in numba):
        return [f"{what}: not measured"]
    verdict = lambda a, b: "met" if a <= b else "NOT met"  # noqa: E731
    line = (f"{what}: wall clock p99 {ours['p99_ms']:.2f} vs {numba['p99_ms']:.2f} ms (p50 {ours['p50_ms']:.3f} vs "
            f"{numba['p50_ms']:.3f} ms): {verdict(ours['p99_ms'], numba['p99_ms'])}")
    if "cpu_p99_ms" in ours and "cpu_p99_ms" in numba:
        line += (f"; CPU time p99 {ours['cpu_p99_ms']:.2f} vs {numba['cpu_p99_ms']:.2f} ms (p50 "
                 f"{ours['cpu_p50_ms']:.3f} vs {numba['cpu_p50_ms']:.3f} ms): "
                 f"{verdict(ours['cpu_p99_ms'], numba['cpu_p99_ms'])}")
    return [f"{line} (load {row['load_before'][0]:.2f})"]


def tail_section(data: dict) -> list[str]:
    info = data["info"]
    out = ["## Retrieval tail: block-max", "", *_machine(info), "",
           f"`{info['command']}`: top-10 of the synthetic queries (2-6 words of the text's Zipf law, many of "
           "very common words only), single thread, interleaved in one process (query i to each engine in "
           f"turn), up to {info['args']['queries']} queries or {info['args']['seconds']:.0f} s per engine, from "
           "the saved indexes. *before* is this project's scorer without the block-max path "
           "(`kernels.pruned_top_k` for every query), timed in the same loop. The block bounds are made when "
           "an index is loaded (nothing is stored, the build is unchanged): *bounds MB* is their memory, "
           "*bounds s* the time to compute them again, beside the bitmaps' memory. *CPU* columns are the "
           "timing thread's CPU time per query (`time.thread_time`): on this shared 2-core machine the wall "
           "clock's p99 also counts waits for a core.", "",
           "| corpus | engine | p50 ms | p99 ms | CPU p50 ms | CPU p99 ms | QPS | p99 ÷ bm25s-numba p99 "
           "| CPU p99 ÷ bm25s-numba CPU p99 | bounds MB | bitmaps MB | bounds s | load avg before, after |",
           "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in data["results"]:
        numba = r.get("bm25s_numba", {})
        for engine, label in TAIL_LABELS.items():
            e = r.get(engine)
            if not e or "p99_ms" not in e:
                continue

            def ratio(key: str) -> str:
                return f"{e[key] / numba[key]:.2f}" if key in e and key in numba and engine != "bm25s_numba" else "–"

            out.append(f"| {int(r['corpus']):,} | {label} | {_f(e['p50_ms'], 3)} | {_f(e['p99_ms'], 3)} "
                       f"| {_f(e.get('cpu_p50_ms'), 3)} | {_f(e.get('cpu_p99_ms'), 3)} "
                       f"| {_f(e['qps'], 0)} | {ratio('p99_ms')} | {ratio('cpu_p99_ms')} | {_f(e.get('block_bounds_mb'), 1)} "
                       f"| {_f(e.get('bitmaps_mb'), 1)} | {_f(e.get('block_bounds_s'), 3)} "
                       f"| {r['load_before'][0]:.2f}, {r['load_after'][0]:.2f} |")
    out.append("")
    return out


def semantic_section(data: dict) -> list[str]:
    info, r = data["info"], data["results"][0]
    lex, vec = r["build_lexical"], r["build_vectors"]
    out = ["## The semantic stage", "", *_machine(info), "",
           f"`bench/semantic.py --corpus {r['corpus']}`: {r['passages']:,} passages, {r['questions']} questions, "
           f"one thread, CPU ms per question (the best of {r['rounds']} passes; in each pass the parts take turns question by question).", "",
           "| part | p50 ms | p90 ms | mean ms |", "|---|---|---|---|"]
    for name, s in r["timings"].items():
        out.append(f"| {name} | {s['p50_ms']:.3f} | {s['p90_ms']:.3f} | {s['mean_ms']:.3f} |")
    if r.get("baseline"):
        out += ["", f"*baseline model*: the shipped model as committed at `{r['baseline']}` "
                f"(`bench/semantic.py --baseline {r['baseline']}`), timed in the same passes."]
    stage = r["timings"].get("semantic stage (encode + re-rank)")
    if stage:
        out += ["", f"Target: semantic stage p50 ≤ 2.5 ms: {stage['p50_ms']:.3f} ms, "
                f"{'met' if stage['p50_ms'] <= 2.5 else 'NOT met'}."]
    answering = r["timings"].get("answer stage (hybrid, cold)")
    if answering:
        out += ["", f"Target: answer stage p50 ≤ 25 ms: {answering['p50_ms']:.3f} ms, "
                f"{'met' if answering['p50_ms'] <= 25 else 'NOT met'}."]
    pas = r.get("build_passage_vectors")
    out += ["", "| index build | seconds | passages/s | vectors MB on disk |", "|---|---|---|---|",
            f"| lexical (`--no-semantic`) | {lex['seconds']} | {lex['passages_per_s']:,} | 0 |"]
    if pas:
        out.append(f"| with passage vectors only (`--no-sentence-vectors`) | {pas['seconds']} | "
                   f"{pas['passages_per_s']:,} | {pas['vector_mb']} |")
    label = f"with passage and sentence vectors ({vec['sentences']:,} sentences)" if vec.get("sentences") \
        else "with passage vectors"
    out += [f"| {label} | {vec['seconds']} | {vec['passages_per_s']:,} | {vec.get('vector_mb', '')} |", ""]
    if pas:
        out += [f"Encoding (the builds' own timers): passages {vec['vectors_s']} s, their sentences "
                f"{vec['sentence_vectors_s']} s ({pas['vectors_s']} s for the passages in the build without them).", ""]
    out += [f"Private memory (USS) of a fresh process after the questions: {r['uss_lexical_mb']:.1f} MB on the "
            f"lexical-only index answering lexically, {r['uss_hybrid_mb']:.1f} MB on the index with vectors "
            f"answering hybrid: the semantic stage adds {r['uss_hybrid_mb'] - r['uss_lexical_mb']:.1f} MB"
            + (f" ({r['uss_hybrid_passages_mb']:.1f} MB with passage vectors only)." if "uss_hybrid_passages_mb" in r
               else "."), ""]
    return out


#: Sections in page order: (results file, the start of its heading, renderer).
SECTIONS = (("retrieval.json", "## Retrieval: side", retrieval_section),
            ("tail.json", "## Retrieval tail", tail_section), ("http.json", "## HTTP", http_section),
            ("request.json", "## One request's work", request_section),
            ("semantic.json", "## The semantic stage", semantic_section),
            ("dense.json", "## Dense candidates", lambda data: __import__("dense").section(data)),
            ("archive.json", "## Changing the archive", lambda data: __import__("archive").section(data)),
            ("startup.json", "## Start-up", lambda data: __import__("startup").section(data)))


def _kept_sections() -> dict[str, str]:
    """The sections of the current RESULTS.md by heading: a run that did not
    redo a benchmark keeps that benchmark's last figures."""
    if not RESULTS.exists():
        return {}
    kept, heading, lines = {}, None, []
    for line in RESULTS.read_text().splitlines():
        if line.startswith("## "):
            if heading:
                kept[heading] = "\n".join(lines)
            heading, lines = line, [line]
        elif heading:
            lines.append(line)
    if heading:
        kept[heading] = "\n".join(lines)
    return kept


def write() -> None:
    """RESULTS.md again from every results file there is; a section no
    results file renders (figures written by hand) is kept, after the rest."""
    parts = ["# Benchmarks", "",
             "Generated by `make bench` (`bench/retrieval.py`), `make bench-http` (`bench/http_bench.py`), "
             "`make bench-request` (`bench/request.py`), `make bench-semantic` (`bench/semantic.py`), "
             "`bench/tail.py` and `bench/archive.py`; "
             "not part of the test suite. A section a run did not redo keeps its last figures.", ""]
    data = {name: json.loads((OUT / name).read_text()) for name, _, _ in SECTIONS if (OUT / name).exists()}
    kept = _kept_sections()
    parts += targets_section(data.get("retrieval.json"), data.get("http.json"), data.get("request.json"),
                             data.get("tail.json"))
    if "retrieval.json" in data:
        plot(data["retrieval.json"]["results"])
    for name, heading, render in SECTIONS:
        if name in data:
            parts += render(data[name])
        else:
            parts += [next((text for h, text in kept.items() if h.startswith(heading)), "").rstrip("\n"), ""]
    owned = [TARGETS_HEADING, *(heading for _, heading, _ in SECTIONS)]
    parts += [text.rstrip("\n") + "\n" for h, text in kept.items() if not any(h.startswith(o) for o in owned)]
    RESULTS.write_text("\n".join(parts).rstrip() + "\n")




def write_section(name: str) -> None:
    """Put results file ``name``'s section into RESULTS.md, every other
    section as it is: a worktree without the other benchmarks' results
    files must not rewrite their figures (the targets list included, but
    for the lines this file measures: the HTTP run's, read again)."""
    heading, render = next((h, r) for n, h, r in SECTIONS if n == name)
    new = "\n".join(render(json.loads((OUT / name).read_text()))).rstrip("\n")
    kept = _kept_sections()
    old = next((h for h in kept if h.startswith(heading)), None)
    if old is None:
        RESULTS.write_text(RESULTS.read_text().rstrip() + "\n\n" + new + "\n")
        return
    sections = [new if h == old else text.rstrip("\n") for h, text in kept.items()]
    if name in TARGET_LINES:
        sections = [_with_targets(text, TARGET_LINES[name], json.loads((OUT / name).read_text()))
                    if h == TARGETS_HEADING else text for h, text in zip(kept, sections)]
    head = RESULTS.read_text().split("\n## ", 1)[0].rstrip("\n")
    RESULTS.write_text(head + "\n\n" + "\n\n".join(sections) + "\n")


def _with_targets(section: str, targets, data: dict) -> str:
    """The targets section ``section`` with the lines ``targets`` writes
    read again from ``data`` (where the old ones stood, or at the end), the
    others as they are."""
    lines = section.rstrip("\n").split("\n")
    at = next((i for i, line in enumerate(lines) if _is_target_of(targets, line)), len(lines))
    kept = [line for line in lines if not _is_target_of(targets, line)]
    return "\n".join(kept[:at] + targets(data) + kept[at:])


def cold_request_target(request: dict | None) -> list[str]:
    """The cold-request line of :func:`request_targets` alone: the build's
    line is the build's run's (a quiet machine's, not this one's)."""
    return request_targets(request)[:1]


#: The target lines a results file's :func:`write_section` reads again.
TARGET_LINES = {"http.json": http_targets, "request.json": cold_request_target}
