"""What an evaluation writes: the metrics table, the miss list, the JSON
document, TREC run and qrels files, and a Markdown report with a PNG chart."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .datasets import BeirSet, EvalError
from .metrics import ALL, ANSWERABLE, BeirEvaluation, Evaluation, as_run


def write_trec(run_path: Path, rankings: Mapping[str, Sequence[str]], qrels: Mapping[str, Mapping[str, int]],
               tag: str = "groundedqa") -> Path:
    """Write the run, and the qrels beside it (``<run stem>.qrels``)."""
    qrels_path = run_path.with_suffix(".qrels")
    with open(run_path, "w", encoding="utf-8") as fh:
        for qid, ranking in rankings.items():
            for rank, (sid, score) in enumerate(as_run(ranking).items(), start=1):
                fh.write(f"{qid} Q0 {sid} {rank} {score:g} {tag}\n")
    with open(qrels_path, "w", encoding="utf-8") as fh:
        for qid, docs in qrels.items():
            for sid, rel in docs.items():
                fh.write(f"{qid} 0 {sid} {rel}\n")
    return qrels_path


def format_value(value: float | None) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.3f}"


def summary_table(summary: Mapping[str, Mapping[str, float | None]], counts: Mapping[str, int],
                  markdown: bool = False) -> str:
    """Metrics as rows, groups (all, then each kind) as columns."""
    groups = [g for g in counts if counts[g]]
    head = ["metric"] + [f"{g} ({counts[g]})" for g in groups]
    rows = [[m] + [_cell(m, g, summary[m].get(g)) for g in groups] for m in summary]
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    return _aligned(head, rows)


def _aligned(head: list[str], rows: list[list[str]]) -> str:
    """A plain-text table: the first column left-aligned, the rest right."""
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(r) for r in rows])


def comparison_table(before: Mapping[str, Mapping[str, float | None]],
                     after: Mapping[str, Mapping[str, float | None]], counts: Mapping[str, int]) -> str:
    """Two runs' metrics side by side: each cell "before → after"."""
    groups = [g for g in counts if counts[g]]
    head = ["metric"] + [f"{g} ({counts[g]})" for g in groups]
    rows = [[m] + [f"{_cell(m, g, before[m].get(g))} → {_cell(m, g, after[m].get(g))}" for g in groups]
            for m in after if m in before]
    return _aligned(head, rows)


def _cell(metric: str, group: str, value: float | None) -> str:
    """A value; "n/a" when the server did not report it; "-" where undefined."""
    return format_value(value) if value is not None or _applies(metric, group) else "-"


def _applies(metric: str, group: str) -> bool:
    """Whether a blank cell means "n/a" (not reported) rather than "not defined"
    (ConfidentPrecision: no answer was confident)."""
    if metric == "ConfidentPrecision":
        return False
    if group == ALL or metric == "AnswerAccuracy":
        return True
    if group == ANSWERABLE:
        return metric != "Abstention"
    if metric == "Abstention":
        return group == "unanswerable"
    return group != "unanswerable"


def miss_lines(evaluation: Evaluation) -> list[str]:
    """Each missed question, what was expected and what came first, and why it is a miss."""
    out = []
    for r in evaluation.misses:
        q = r.question
        first = r.first
        got = f"{first['id']} ({first['source_id']})" if first else "nothing"
        expected = ", ".join(q.sources) or "none (should abstain)"
        why = []
        if q.answerable and r.metrics["Success@1"] == 0.0:
            why.append("wrong source first")
        if q.answerable and r.metrics["AnswerInTop1"] == 0.0:
            why.append("answer not in top passage")
        if not q.answerable:
            why.append("answered instead of abstaining")
        out.append(f"[{q.id} {q.kind}] {q.question}\n    expected: {expected}; answer: {q.answer!r}\n"
                   f"    first: {got}; {', '.join(why)}")
    return out


def beir_miss_lines(beir: BeirSet, result: BeirEvaluation) -> list[str]:
    """The queries whose first document is not relevant, with what came first."""
    return [f"{q}: {beir.queries[q]!r} expected {', '.join(beir.qrels[q])}; "
            f"first: {(result.rankings[q] or ['nothing'])[0]}"
            for q, v in result.per_query.items() if v["Success@1"] == 0.0]


def evaluation_json(evaluation: Evaluation) -> dict[str, Any]:
    """The summary and every question's result, as ``eval --json`` prints them."""
    return {
        "summary": evaluation.summary,
        "counts": evaluation.counts,
        "results": [
            {"id": r.question.id, "kind": r.question.kind, "question": r.question.question,
             "sources": list(r.question.sources), "answer": r.question.answer,
             "ranking": r.ranking, "first": r.first, "metrics": r.metrics, "missed": r.missed}
            for r in evaluation.results
        ],
    }


def write_report(path: Path, title: str, how: str, summary: Mapping[str, Mapping[str, float | None]],
                 counts: Mapping[str, int], misses: Sequence[str]) -> Path:
    """A Markdown report with a PNG chart of the metrics by group beside it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise EvalError("--report needs matplotlib: pip install 'groundedqa[eval]'") from None
    chart = path.with_suffix(".png")
    metrics = [m for m in summary if any(v is not None for v in summary[m].values())]
    groups = [g for g in counts if counts[g] and any(summary[m].get(g) is not None for m in metrics)]
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(metrics)) + 2, 4))
    width = 0.8 / len(groups)
    for i, g in enumerate(groups):
        ys = [summary[m].get(g) or 0.0 for m in metrics]
        ax.bar([x + i * width for x in range(len(metrics))], ys, width, label=f"{g} ({counts[g]})")
    ax.set_xticks([x + 0.4 - width / 2 for x in range(len(metrics))], metrics, rotation=30, ha="right")
    ax.set_ylim(0, 1.05)
    ax.set_title(title)
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    fig.savefig(chart, dpi=100)
    plt.close(fig)
    parts = [f"# {title}", "", how, "", summary_table(summary, counts, markdown=True), "",
             f"![metrics by group]({chart.name})", "", f"## Misses ({len(misses)})", ""]
    parts += [f"- {m}".replace("\n    ", "\n  - ") for m in misses] or ["None."]
    path.write_text("\n".join(parts) + "\n", encoding="utf-8")
    return chart
