"""Response: the JSON document a search returns.

Built here, outside Flask, so that ``python -m service ask --json`` prints
exactly what ``/api/search`` returns and the evaluation script's in-process
mode scores exactly what the API would have served.
"""

from __future__ import annotations

import time
from typing import Any

from ..answer.highlight import highlight
from ..answer import ANSWER_DEPTH, answer
from ..retrieval.retriever import Hit, Retriever


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


def search_json(retriever: Retriever, question: str, k: int) -> dict[str, Any]:
    """Search and render; ``took_ms`` covers retrieval, the answer and rendering.

    At least ANSWER_DEPTH passages are retrieved so that the answer does
    not depend on how many passages the caller wants listed; the first
    ``k`` are listed.
    """
    t0 = time.perf_counter()
    result = retriever.search(question, max(k, ANSWER_DEPTH))
    outcome = answer(result, retriever)
    hits = [hit_json(h, result.terms, retriever) for h in result.hits[:k]]
    took_ms = (time.perf_counter() - t0) * 1000
    return {
        "ok": True,
        "query": result.query,
        "k": k,
        "took_ms": round(took_ms, 3),
        "total": result.total,
        "answer": outcome.answer.to_json() if outcome.answer else None,
        "abstained": outcome.abstained,
        "reason": outcome.reason,
        "hits": hits,
    }
