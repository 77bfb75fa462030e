"""Evaluation: how good are retrieval and answers, where do they fail, did a change help?

Two kinds of run, one set of measures:

* **The question set** (``eval/questions.jsonl``): each question is sent
  through exactly what the HTTP API serves (:func:`service.response.search_json`
  in-process, or ``GET /api/search`` of a running server with ``--url``), so
  the figures describe what a user gets, not a private shortcut.
* **A BEIR-layout dataset** (``corpus.jsonl[.gz]``, ``queries.jsonl``,
  ``qrels/test.tsv``): the same analyzer, index and ranking, at scale.

Source-level measures are computed by ``ir-measures`` (trec_eval's
definitions) on a run holding one entry per source: its best passage, in
the order the system ranked them.  The run's scores are ``depth - rank``
rather than BM25 scores, so trec_eval sees the system's own order, tie
breaks included, and a run file written here reproduces these figures.
Passage-level measures check that the expected answer text is inside the
passages shown, after the analyzer's Unicode and quote folding; answer
measures check the response's ``answer`` (it must quote the expected text
from an expected source) and ``abstained`` (it must abstain exactly on the
unanswerable questions).
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import ir_measures
from ir_measures import R, RR, Success, nDCG

from ..qa.ask import search_json
from ..retrieval.retriever import Retriever
from ..text.analysis import normalize

KINDS = ("lexical", "paraphrase", "multi", "unanswerable")
ANSWERABLE_KINDS = KINDS[:3]
ALL = "all"
ANSWERABLE = "answerable"  # the group the targets are stated for

SOURCE_MEASURES = (Success @ 1, Success @ 3, Success @ 5, RR @ 10, nDCG @ 10, R @ 10)
BEIR_MEASURES = (nDCG @ 10, R @ 100, RR @ 10, Success @ 1)
PASSAGE_METRICS = ("AnswerInTop1", "AnswerInTop5")
ANSWER_METRICS = ("Abstention", "FalseAbstention", "AnswerAccuracy")
QUESTION_METRICS = tuple(str(m) for m in SOURCE_MEASURES) + PASSAGE_METRICS + ANSWER_METRICS

#: A question → the JSON document ``/api/search`` returns for it.
Search = Callable[[str], Mapping[str, Any]]
#: A query → (source ID, score) of the ranked passages, best first.
RankPassages = Callable[[str], list[tuple[str, float]]]


class EvalError(Exception):
    """The evaluation cannot run as asked (bad file, unknown source, server down)."""


# -- the question set --------------------------------------------------------


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    sources: tuple[str, ...]  # any one of them answers it; () = unanswerable
    answer: str | None  # words occurring verbatim in one of the sources
    kind: str

    @property
    def answerable(self) -> bool:
        return bool(self.sources)


def _read_lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        raise EvalError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise EvalError(f"{path}: not valid UTF-8 (byte {exc.start})") from None
    except OSError as exc:
        raise EvalError(f"{path}: cannot be read: {exc.strerror or exc}") from None


def _json_line(path: Path, lineno: int, line: str) -> dict[str, Any]:
    try:
        rec = json.loads(line)
    except (json.JSONDecodeError, RecursionError) as exc:
        raise EvalError(f"{path}:{lineno}: not valid JSON: {getattr(exc, 'msg', exc)}") from None
    if not isinstance(rec, dict):
        raise EvalError(f"{path}:{lineno}: not a JSON object")
    return rec


def _question_problem(rec: dict[str, Any]) -> str | None:
    """Why a question record is unusable, or None."""
    for name in ("id", "question"):
        if not isinstance(rec.get(name), str) or not rec[name].strip():
            return f'"{name}" must be a non-empty string'
    sources, answer, kind = rec.get("sources"), rec.get("answer", "missing"), rec.get("kind")
    if not isinstance(sources, list) or not all(isinstance(s, str) and s for s in sources):
        return '"sources" must be a list of source IDs'
    if kind not in KINDS:
        return f'"kind" must be one of {", ".join(KINDS)}'
    if (kind == "unanswerable") != (not sources):
        return 'a question has no sources exactly when its "kind" is "unanswerable"'
    if sources and (not isinstance(answer, str) or not answer.strip()):
        return '"answer" must be the words of a source that answer it'
    if not sources and answer is not None:
        return 'an unanswerable question has "answer": null'
    if kind == "multi" and len(set(sources)) < 2:
        return 'a "multi" question needs at least two sources'
    return None


def load_questions(path: Path | str) -> list[Question]:
    """Read and check a question set; the first problem raises, naming file:line."""
    path = Path(path)
    out: list[Question] = []
    seen: set[str] = set()
    for lineno, line in enumerate(_read_lines(path), start=1):
        if not line.strip():
            continue
        rec = _json_line(path, lineno, line)
        why = _question_problem(rec)
        if why is None and rec["id"] in seen:
            why = f"duplicate question id {rec['id']!r}"
        if why:
            raise EvalError(f"{path}:{lineno}: {why}")
        seen.add(rec["id"])
        out.append(Question(rec["id"], rec["question"], tuple(rec["sources"]), rec["answer"], rec["kind"]))
    if not out:
        raise EvalError(f"{path}: no questions")
    return out


def check_sources(questions: Iterable[Question], known: Collection[str]) -> None:
    """Every expected source must exist in the corpus searched, or every
    question naming it would count as a miss for the wrong reason."""
    unknown = sorted({s for q in questions for s in q.sources if s not in known})
    if unknown:
        raise EvalError("the question set names sources that are not in the corpus: " + ", ".join(unknown))


# -- searching ----------------------------------------------------------------


def api_search(retriever: Retriever, k: int) -> Search:
    """In-process search through the very function the API serves."""
    return lambda question: search_json(retriever, question, k)


def http_search(url: str, k: int, timeout: float = 30.0) -> Search:
    """Search a running server: ``GET {url}/api/search?q=...&k=...``."""
    base = url.rstrip("/")
    parts = urllib.parse.urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise EvalError(f"--url must be an http(s) URL such as http://127.0.0.1:8000, got {url!r}")
    endpoint = base if parts.path.endswith("/api/search") else base + "/api/search"

    def search(question: str) -> Mapping[str, Any]:
        target = endpoint + "?" + urllib.parse.urlencode({"q": question, "k": k})
        try:
            with urllib.request.urlopen(target, timeout=timeout) as resp:
                body = resp.read()
        except urllib.error.HTTPError as exc:
            raise EvalError(f"{endpoint}: HTTP {exc.code} for {question!r}: {_error_text(exc)}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise EvalError(f"cannot reach {endpoint}: {reason}") from None
        try:
            doc = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise EvalError(f"{endpoint}: the response is not JSON") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("hits"), list):
            raise EvalError(f'{endpoint}: the response has no "hits" list')
        return doc

    return search


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        doc = json.loads(exc.read())
        return str(doc.get("error", doc)) if isinstance(doc, dict) else str(doc)
    except (json.JSONDecodeError, UnicodeDecodeError, OSError):
        return exc.reason or "error"


def api_rank_passages(search: Search) -> RankPassages:
    """(source ID, score) pairs of an API response's hits."""
    return lambda q: [(h["source_id"], float(h["score"])) for h in search(q)["hits"]]


def retriever_rank_passages(retriever: Retriever, k: int) -> RankPassages:
    """The same ranking without rendering highlights, for large benchmarks."""
    return lambda q: [(h.source_id, h.score) for h in retriever.search(q, k).hits]


def best_per_source(passages: Iterable[tuple[str, float]]) -> list[str]:
    """Source IDs in the order of their best passage: a document is scored by
    its best passage (passages arrive best first)."""
    return list(dict.fromkeys(sid for sid, _ in passages))


def as_run(ranking: Sequence[str]) -> dict[str, float]:
    """A trec_eval run entry keeping the system's order exactly."""
    return {sid: float(len(ranking) - i) for i, sid in enumerate(ranking)}


def ir_scores(
    qrels: Mapping[str, Mapping[str, int]],
    run: Mapping[str, Mapping[str, float]],
    measures: Sequence[Any],
) -> dict[str, dict[str, float]]:
    """Per-query values of ``measures``; a query missing from the run scores 0."""
    out = {qid: {str(m): 0.0 for m in measures} for qid in qrels}
    for m in ir_measures.iter_calc(list(measures), qrels, {q: dict(d) for q, d in run.items()}):
        out[m.query_id][str(m.measure)] = float(m.value)
    return out


# -- scoring the question set -------------------------------------------------


def fold(text: str) -> str:
    """The analyzer's Unicode/quote/case folding, with whitespace collapsed."""
    return " ".join(normalize(text).split())


def _answer_in(answer: str, texts: Iterable[str]) -> float:
    want = fold(answer)
    return float(any(want in fold(t) for t in texts))


def _answer_metrics(q: Question, doc: Mapping[str, Any]) -> dict[str, float | None]:
    """Abstention and answer accuracy from the response's ``answer`` and
    ``abstained``; None (n/a) when the server does not report abstention."""
    if "abstained" not in doc:
        return {m: None for m in ANSWER_METRICS}
    abstained = bool(doc["abstained"])
    answer = doc.get("answer") if isinstance(doc.get("answer"), dict) else None
    if not q.answerable:
        return {"Abstention": float(abstained), "FalseAbstention": None, "AnswerAccuracy": float(abstained)}
    correct = (
        not abstained
        and answer is not None
        and isinstance(answer.get("text"), str)
        and answer.get("source_id", q.sources[0]) in q.sources
        and fold(q.answer or "") in fold(answer["text"])
    )
    return {"Abstention": None, "FalseAbstention": float(abstained), "AnswerAccuracy": float(correct)}


@dataclass(frozen=True)
class QuestionResult:
    question: Question
    ranking: list[str]  # source IDs, best passage first
    first: dict[str, Any] | None  # the top hit: source_id, id, text
    metrics: dict[str, float | None]

    @property
    def missed(self) -> bool:
        """Wrong source first, answer not in the top passage, or (when the
        server reports it) an answer given where it should have abstained."""
        m = self.metrics
        if self.question.answerable:
            return m["Success@1"] == 0.0 or m["AnswerInTop1"] == 0.0
        return m["Abstention"] == 0.0


@dataclass(frozen=True)
class Evaluation:
    """What a run measured: the summary by group and every question's result."""

    summary: dict[str, dict[str, float | None]]  # metric → group → mean (None: n/a)
    counts: dict[str, int]  # group → questions
    results: list[QuestionResult] = field(default_factory=list)

    @property
    def misses(self) -> list[QuestionResult]:
        return [r for r in self.results if r.missed]


def qrels_of(questions: Iterable[Question]) -> dict[str, dict[str, int]]:
    return {q.id: {s: 1 for s in q.sources} for q in questions if q.answerable}


def score_questions(questions: Sequence[Question], responses: Sequence[Mapping[str, Any]]) -> Evaluation:
    """Measures of every question, then means by kind."""
    rankings = [best_per_source((h["source_id"], h["score"]) for h in doc["hits"]) for doc in responses]
    per_query = ir_scores(qrels_of(questions), {q.id: as_run(r) for q, r in zip(questions, rankings)},
                          SOURCE_MEASURES)
    results = []
    for q, doc, ranking in zip(questions, responses, rankings):
        metrics: dict[str, float | None] = {m: None for m in QUESTION_METRICS}
        if q.answerable:
            metrics.update(per_query[q.id])
            texts = [h["text"] for h in doc["hits"]]
            metrics["AnswerInTop1"] = _answer_in(q.answer or "", texts[:1])
            metrics["AnswerInTop5"] = _answer_in(q.answer or "", texts[:5])
        metrics.update(_answer_metrics(q, doc))
        hits = doc["hits"]
        first = {k: hits[0].get(k) for k in ("source_id", "id", "text")} if hits else None
        results.append(QuestionResult(q, ranking, first, metrics))
    groups = {ALL: results, ANSWERABLE: [r for r in results if r.question.answerable],
              **{k: [r for r in results if r.question.kind == k] for k in KINDS}}
    summary = {m: {g: _mean(r.metrics[m] for r in rs) for g, rs in groups.items()} for m in QUESTION_METRICS}
    counts = {g: len(rs) for g, rs in groups.items()}
    return Evaluation(summary, counts, results)


def _mean(values: Iterable[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def evaluate_questions(questions: Sequence[Question], search: Search) -> Evaluation:
    return score_questions(questions, [search(q.question) for q in questions])


# -- BEIR ----------------------------------------------------------------------


@dataclass(frozen=True)
class BeirSet:
    corpus: Path
    queries: dict[str, str]  # only the queries that have qrels
    qrels: dict[str, dict[str, int]]


def load_beir(folder: Path | str, split: str = "test") -> BeirSet:
    """Read a BEIR folder; only queries appearing in the qrels are kept."""
    folder = Path(folder)
    if not folder.is_dir():
        raise EvalError(f"{folder}: no such folder")
    corpus = next((folder / n for n in ("corpus.jsonl", "corpus.jsonl.gz") if (folder / n).is_file()), None)
    if corpus is None:
        raise EvalError(f"{folder}: no corpus.jsonl or corpus.jsonl.gz")
    qrels = _read_qrels(folder / "qrels" / f"{split}.tsv")
    queries_path = folder / "queries.jsonl"
    queries: dict[str, str] = {}
    for lineno, line in enumerate(_read_lines(queries_path), start=1):
        if not line.strip():
            continue
        rec = _json_line(queries_path, lineno, line)
        qid, text = rec.get("_id", rec.get("id")), rec.get("text")
        if not isinstance(qid, (str, int)) or not isinstance(text, str):
            raise EvalError(f'{queries_path}:{lineno}: a query needs "_id" and "text"')
        if str(qid) in qrels:
            queries[str(qid)] = text
    missing = sorted(set(qrels) - set(queries))
    if missing:
        raise EvalError(f"{queries_path}: no text for queries in the qrels: {', '.join(missing[:5])}")
    return BeirSet(corpus, queries, qrels)


def _read_qrels(path: Path) -> dict[str, dict[str, int]]:
    qrels: dict[str, dict[str, int]] = {}
    for lineno, line in enumerate(_read_lines(path), start=1):
        cols = line.split("\t")
        if not line.strip() or (lineno == 1 and cols[0] == "query-id"):
            continue
        try:
            qid, doc, rel = cols
            qrels.setdefault(qid, {})[doc] = int(rel)
        except ValueError:
            raise EvalError(f"{path}:{lineno}: expected query-id<TAB>corpus-id<TAB>score") from None
    if not qrels:
        raise EvalError(f"{path}: no judgements")
    return qrels


@dataclass(frozen=True)
class BeirEvaluation:
    summary: dict[str, dict[str, float | None]]  # metric → {"all": mean}
    counts: dict[str, int]
    rankings: dict[str, list[str]]  # query → documents, best first
    per_query: dict[str, dict[str, float]]


def evaluate_beir(beir: BeirSet, rank: RankPassages, depth: int = 100) -> BeirEvaluation:
    """Rank documents by their best passage and score the top ``depth``."""
    rankings = {qid: best_per_source(rank(text))[:depth] for qid, text in beir.queries.items()}
    per_query = ir_scores(beir.qrels, {q: as_run(r) for q, r in rankings.items()}, BEIR_MEASURES)
    summary = {str(m): {ALL: _mean(v[str(m)] for v in per_query.values())} for m in BEIR_MEASURES}
    return BeirEvaluation(summary, {ALL: len(per_query)}, rankings, per_query)


# -- output ------------------------------------------------------------------------


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
    widths = [max(len(r[i]) for r in [head] + rows) for i in range(len(head))]

    def line(cells: list[str]) -> str:
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([line(head), line(["-" * w for w in widths])] + [line(r) for r in rows])


def _cell(metric: str, group: str, value: float | None) -> str:
    """A value; "n/a" when the server did not report it; "-" where undefined."""
    return format_value(value) if value is not None or _applies(metric, group) else "-"


def _applies(metric: str, group: str) -> bool:
    """Whether a blank cell means "n/a" (not reported) rather than "not defined"."""
    if group == ALL or metric == "AnswerAccuracy":
        return True
    if group == ANSWERABLE:
        return metric != "Abstention"
    if metric == "Abstention":
        return group == "unanswerable"
    return group != "unanswerable"


def miss_lines(evaluation: Evaluation) -> list[str]:
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


def evaluation_json(evaluation: Evaluation) -> dict[str, Any]:
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
