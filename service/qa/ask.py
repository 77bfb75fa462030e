"""Question answering: a question → the quoted answer (or an abstention)
and the ranked passages behind it.

:func:`ask` returns a typed :class:`Response`; :func:`response_json` is its
wire form, the one document ``/api/search`` returns, ``python -m service
ask --json`` prints and the evaluation's in-process mode scores, so the
three cannot disagree.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, replace
from typing import Any, Callable

from ..answer import ANSWER_DEPTH, Answer, answer, highlight
from ..retrieval.retriever import Hit, Retriever, SearchResult

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ShownHit:
    """A ranked passage as shown: the hit and its text with the question's words marked."""

    hit: Hit
    highlights: str  # escaped HTML with <mark>s


@dataclass(frozen=True)
class Response:
    query: str
    k: int
    took_ms: float  # retrieval, the answer and highlighting
    total: int  # passages sharing at least one search term with the question
    answer: Answer | None
    abstained: bool
    reason: str | None
    hits: tuple[ShownHit, ...]
    retrieval: str  # "lexical" or "hybrid"


#: What the web layer calls to answer a search (``search_json`` or a variant):
#: ``(retriever, question, k, terms, retrieval)`` → the search document.
Search = Callable[[Retriever, str, int, "list[str] | None", "str | None"], dict[str, Any]]

_LEFT_OUT = "the answer stage was left out"


def ask(retriever: Retriever, question: str, k: int, terms: list[str] | None = None, *,
        retrieval: str | None = None, with_answer: bool = True, with_marks: bool = True) -> Response:
    """Search, choose the answer and mark the first ``k`` passages.

    At least ANSWER_DEPTH passages are retrieved so that the answer does
    not depend on how many passages the caller wants listed.  ``terms``:
    the question's search terms when the caller has them already;
    ``retrieval``: "lexical" or "hybrid" (None: the index's default).
    ``with_answer`` / ``with_marks`` false leave a stage out, for the
    benchmark that measures what each stage costs (``bench/ablated.py``).
    """
    t0 = time.perf_counter()
    if terms is None:
        terms = retriever.query_terms(question)
    result = _finite_hits(retriever.search_terms(question, terms, max(k, ANSWER_DEPTH), retrieval))
    chosen, abstained, reason = (None, True, _LEFT_OUT)
    if with_answer:
        outcome = answer(result, retriever)
        chosen, abstained, reason = outcome.answer, outcome.abstained, outcome.reason
    marked = result.terms if with_marks else ()
    hits = tuple(ShownHit(h, highlight(h.text, marked, retriever.analyzer)) for h in result.hits[:k])
    took_ms = round((time.perf_counter() - t0) * 1000, 3)
    return Response(result.query, k, took_ms, result.total, chosen, abstained, reason, hits, result.retrieval)


def _finite(value: float | None) -> bool:
    return value is None or math.isfinite(value)


def _finite_hits(result: SearchResult) -> SearchResult:
    """``result`` without hits whose scores are not finite numbers: the
    index is checked when loaded, but a response must never carry NaN or
    infinity (JSON has neither), whatever went wrong; it is logged."""
    kept = [h for h in result.hits if _finite(h.score) and _finite(h.semantic_score) and _finite(h.rank_score)]
    if len(kept) == len(result.hits):
        return result
    log.error("left out %d hits with non-finite scores for %r", len(result.hits) - len(kept), result.query[:80])
    return replace(result, hits=[replace(h, rank=i) for i, h in enumerate(kept, 1)])


def hit_json(shown: ShownHit) -> dict[str, Any]:
    hit = shown.hit
    return {
        "rank": hit.rank,
        "id": hit.passage_id,
        "source_id": hit.source_id,
        "score": hit.score,
        "semantic_score": hit.semantic_score,
        "rank_score": hit.rank_score,
        "text": hit.text,
        "start_char": hit.start_char,
        "end_char": hit.end_char,
        "highlights": shown.highlights,
        "source": hit.source,
    }


def response_json(response: Response) -> dict[str, Any]:
    """The search document of the API (``service/web/openapi.json``)."""
    return {
        "ok": True,
        "query": response.query,
        "k": response.k,
        "retrieval": response.retrieval,
        "took_ms": response.took_ms,
        "total": response.total,
        "answer": response.answer.to_json() if response.answer else None,
        "abstained": response.abstained,
        "reason": response.reason,
        "hits": [hit_json(h) for h in response.hits],
    }


def search_json(retriever: Retriever, question: str, k: int, terms: list[str] | None = None,
                retrieval: str | None = None) -> dict[str, Any]:
    """:func:`ask`, as the API's search document."""
    return response_json(ask(retriever, question, k, terms, retrieval=retrieval))
