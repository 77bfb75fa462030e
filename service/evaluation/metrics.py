"""The measures: source level by ``ir-measures``, passage and answer level here,
and their means by question kind.

Source-level measures are computed by ``ir-measures`` (trec_eval's
definitions) on a run holding one entry per source: its best passage, in
the order the system ranked them.  The run's scores are ``depth - rank``
rather than BM25 scores, so trec_eval sees the system's own order, tie
breaks included, and a run file written from it reproduces these figures.
Passage-level measures check that the expected answer text is inside the
passages shown, after the analyzer's Unicode and quote folding; answer
measures check the response's ``answer`` (it must quote the expected text
from an expected source) and ``abstained`` (it must abstain exactly on the
unanswerable questions); confidence measures read ``answer.confident``:
**Coverage** is the share of answerable questions answered confidently,
**ConfidentPrecision** the share of confident answers that are right (one
to an unanswerable question is wrong).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import ir_measures
from ir_measures import R, RR, Success, nDCG

from ..text.analysis import normalize
from .datasets import KINDS, Question, qrels_of

ALL = "all"
ANSWERABLE = "answerable"  # the group the targets are stated for

SOURCE_MEASURES = (Success @ 1, Success @ 3, Success @ 5, RR @ 10, nDCG @ 10, R @ 10)
BEIR_MEASURES = (nDCG @ 10, R @ 100, RR @ 10, Success @ 1)
PASSAGE_METRICS = ("AnswerInTop1", "AnswerInTop5")
ANSWER_METRICS = ("Abstention", "FalseAbstention", "AnswerAccuracy", "Coverage", "ConfidentPrecision")
QUESTION_METRICS = tuple(str(m) for m in SOURCE_MEASURES) + PASSAGE_METRICS + ANSWER_METRICS


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
    confident = None if answer is not None and "confident" not in answer else (
        not abstained and answer is not None and bool(answer["confident"]))
    if not q.answerable:
        return {"Abstention": float(abstained), "FalseAbstention": None, "AnswerAccuracy": float(abstained),
                "Coverage": None, "ConfidentPrecision": 0.0 if confident else None}
    correct = (
        not abstained
        and answer is not None
        and isinstance(answer.get("text"), str)
        and answer.get("source_id", q.sources[0]) in q.sources
        and fold(q.answer or "") in fold(answer["text"])
    )
    return {"Abstention": None, "FalseAbstention": float(abstained), "AnswerAccuracy": float(correct),
            "Coverage": None if confident is None else float(confident),
            "ConfidentPrecision": float(correct) if confident else None}


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


def score_questions(questions: Sequence[Question], responses: Sequence[Mapping[str, Any]]) -> Evaluation:
    """Measures of every question, from its ``/api/search`` response, then means by kind."""
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


@dataclass(frozen=True)
class BeirEvaluation:
    summary: dict[str, dict[str, float | None]]  # metric → {"all": mean}
    counts: dict[str, int]
    rankings: dict[str, list[str]]  # query → documents, best first
    per_query: dict[str, dict[str, float]]


def score_beir(qrels: Mapping[str, Mapping[str, int]], rankings: dict[str, list[str]]) -> BeirEvaluation:
    """BEIR's measures of each judged query's ranked documents, and their means."""
    per_query = ir_scores(qrels, {q: as_run(r) for q, r in rankings.items()}, BEIR_MEASURES)
    summary = {str(m): {ALL: _mean(v[str(m)] for v in per_query.values())} for m in BEIR_MEASURES}
    return BeirEvaluation(summary, {ALL: len(per_query)}, rankings, per_query)
