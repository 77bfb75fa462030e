"""Response: the JSON document a search returns.

Built here, outside Flask, so that ``python -m service ask --json`` prints
exactly what ``/api/search`` returns and the evaluation script's in-process
mode scores exactly what the API would have served.
"""

from __future__ import annotations

import time
from typing import Any

from .answer import ANSWER_DEPTH, answer
from .highlight import highlight
from .search import Hit, Retriever, SearchResult


def hit_json(hit: Hit, terms: list[str], retriever: Retriever) -> dict[str, Any]:
    return {
        "rank": hit.rank,
        "id": hit.passage_id,
        "source_id": hit.source_id,
        "score": hit.score,
        "text": hit.text,
        "start_char": hit.start_char,
        "end_char": hit.end_char,
        "highlights": highlight(hit.text, terms, retriever.analyzer),
        "source": hit.source,
    }


def result_json(result: SearchResult, retriever: Retriever, took_ms: float,
                k: int | None = None) -> dict[str, Any]:
    """The response to ``result``; the answer is read from all its hits,
    the first ``k`` (default: all) are listed."""
    outcome = answer(result, retriever)
    k = result.k if k is None else k
    return {
        "ok": True,
        "query": result.query,
        "k": k,
        "took_ms": round(took_ms, 3),
        "total": result.total,
        "answer": outcome.answer.to_json() if outcome.answer else None,
        "abstained": outcome.abstained,
        "reason": outcome.reason,
        "hits": [hit_json(h, result.terms, retriever) for h in result.hits[:k]],
    }


def search_json(retriever: Retriever, question: str, k: int) -> dict[str, Any]:
    """Search and render; ``took_ms`` covers retrieval and rendering.

    At least ANSWER_DEPTH passages are retrieved so that the answer does
    not depend on how many passages the caller wants listed.
    """
    t0 = time.perf_counter()
    result = retriever.search(question, max(k, ANSWER_DEPTH))
    doc = result_json(result, retriever, 0.0, k)
    doc["took_ms"] = round((time.perf_counter() - t0) * 1000, 3)
    return doc
