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
from ..answer.reading import passage_reader
from ..retrieval.collection import Filters
from ..retrieval.retriever import Hit, Retriever, SearchResult

log = logging.getLogger(__name__)


#: How a search may order its hits.
SORTS = ("relevance", "date")


@dataclass(frozen=True)
class Options:
    """What a search asks for beyond the question and ``k``: which
    passages (``filters``), in which order (``sort``: "relevance" or
    "date", newest first), from which place of that order (``offset``),
    and whether to say why each hit scored (``explain``)."""

    filters: Filters = Filters()
    sort: str = "relevance"
    offset: int = 0
    explain: bool = False


@dataclass(frozen=True)
class ShownHit:
    """A ranked passage as shown: the hit and its text with the question's
    words marked (and its score's terms when explained)."""

    hit: Hit
    highlights: str  # escaped HTML with <mark>s
    explain: list[dict[str, Any]] | None = None


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
    options: Options = Options()
    notice: str | None = None  # said instead of a ranking that means nothing
    answer_explain: dict[str, Any] | None = None


#: What the web layer calls to answer a search (``search_json`` or a variant):
#: ``(retriever, question, k, terms, retrieval, options=)`` → the search document.
Search = Callable[..., dict[str, Any]]

_LEFT_OUT = "the answer stage was left out"
NO_WEIGHT = {"lexical": "The question's words carry no weight here: each is in half the passages or more, so "
                        "every passage scores 0 and the order below means nothing. Add a rarer word.",
             "hybrid": "The question's words carry no weight here: each is in half the passages or more, so "
                       "every passage's word score is 0 and the passages are ranked by meaning alone."}


def ask(retriever: Retriever, question: str, k: int, terms: list[str] | None = None, *,
        retrieval: str | None = None, options: Options = Options(), with_answer: bool = True,
        with_marks: bool = True) -> Response:
    """Search, choose the answer and mark ``k`` passages from ``options.offset``.

    At least ANSWER_DEPTH passages are retrieved so that the answer does
    not depend on how many passages the caller wants listed, nor on the
    page or the order asked for: it comes from the best passages by
    relevance that the filters allow.  ``terms``: the question's search
    terms when the caller has them already; ``retrieval``: "lexical" or
    "hybrid" (None: the index's default).  ``with_answer`` /
    ``with_marks`` false leave a stage out, for the benchmark that
    measures what each stage costs (``bench/ablated.py``).
    """
    t0 = time.perf_counter()
    if terms is None:
        terms = retriever.query_terms(question)
    end = options.offset + k
    result = _finite_hits(retriever.search_terms(question, terms, max(end, ANSWER_DEPTH), retrieval,
                                                 options.filters))
    shown = result
    if options.sort == "date":
        shown = _finite_hits(retriever.by_date(question, terms, end, options.filters))
    chosen, abstained, reason, why = (None, True, _LEFT_OUT, None)
    read = passage_reader(retriever, result.terms)  # each passage read once, for the answer and its marks
    if with_answer:
        outcome = answer(result, retriever, read=read)
        chosen, abstained, reason = outcome.answer, outcome.abstained, outcome.reason
        why = outcome.explain if options.explain else None
    marked = result.terms if with_marks else ()
    hits = tuple(ShownHit(h, highlight(h, marked, retriever, read),
                          retriever.explain(terms, h) if options.explain else None)
                 for h in shown.hits[options.offset:end])
    notice = NO_WEIGHT[result.retrieval] if result.hits and all(h.score == 0 for h in result.hits) else None
    took_ms = round((time.perf_counter() - t0) * 1000, 3)
    return Response(result.query, k, took_ms, result.total, chosen, abstained, reason, hits, result.retrieval,
                    options, notice, why)


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
    doc = {
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
    if shown.explain is not None:
        doc["explain"] = {"terms": shown.explain}
    return doc


def _answer_json(response: Response, titles: dict[str, str | None]) -> dict[str, Any] | None:
    """The answer's document, each citation with its source's title."""
    if response.answer is None:
        return None
    doc = response.answer.to_json()
    for c in doc["citations"]:
        c["title"] = titles.get(c["source_id"])
    if response.answer_explain is not None:
        doc["explain"] = response.answer_explain
    return doc


def response_json(response: Response, titles: dict[str, str | None] | None = None) -> dict[str, Any]:
    """The search document of the API (``service/web/openapi.json``);
    ``titles``: source titles by ID, for the answer's citations."""
    o = response.options
    return {
        "ok": True,
        "query": response.query,
        "k": response.k,
        "offset": o.offset,
        "sort": o.sort,
        "filters": o.filters.to_json(),
        "retrieval": response.retrieval,
        "took_ms": response.took_ms,
        "total": response.total,
        "notice": response.notice,
        "answer": _answer_json(response, titles or {}),
        "abstained": response.abstained,
        "reason": response.reason,
        "hits": [hit_json(h) for h in response.hits],
    }


def search_json(retriever: Retriever, question: str, k: int, terms: list[str] | None = None,
                retrieval: str | None = None, options: Options = Options()) -> dict[str, Any]:
    """:func:`ask`, as the API's search document."""
    response = ask(retriever, question, k, terms, retrieval=retrieval, options=options)
    titles = {c.source_id: retriever.title(c.source_id) for c in response.answer.citations} if response.answer else {}
    return response_json(response, titles)
