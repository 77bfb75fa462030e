"""Searching for an evaluation, and the per-question results it produces.

A question set is sent through exactly what the HTTP API serves
(:func:`service.qa.ask.search_json` in-process, or ``GET /api/search`` of a
running server), so its figures describe what a user gets, not a private
shortcut.  A BEIR set, thousands of queries deep, is ranked by
``Retriever.search``: the same ranking without rendering highlights.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..qa.ask import search_json
from ..retrieval.retriever import Retriever
from .datasets import BeirSet, EvalError, Question
from .metrics import BeirEvaluation, Evaluation, best_per_source, score_beir, score_questions

#: A question → the JSON document ``/api/search`` returns for it.
Search = Callable[[str], Mapping[str, Any]]
#: A query → (source ID, score) of the ranked passages, best first.
RankPassages = Callable[[str], list[tuple[str, float]]]


def api_search(retriever: Retriever, k: int, retrieval: str | None = None) -> Search:
    """In-process search through the very function the API serves."""
    return lambda question: search_json(retriever, question, k, retrieval=retrieval)


def http_search(url: str, k: int, timeout: float = 30.0, retrieval: str | None = None) -> Search:
    """Search a running server: ``GET {url}/api/search?q=...&k=...[&retrieval=...]``."""
    base = url.rstrip("/")
    parts = urllib.parse.urlsplit(base)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise EvalError(f"--url must be an http(s) URL such as http://127.0.0.1:8000, got {url!r}")
    endpoint = base if parts.path.endswith("/api/search") else base + "/api/search"

    def search(question: str) -> Mapping[str, Any]:
        params = {"q": question, "k": k, **({"retrieval": retrieval} if retrieval else {})}
        target = endpoint + "?" + urllib.parse.urlencode(params)
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


def retriever_rank_passages(retriever: Retriever, k: int, retrieval: str | None = None) -> RankPassages:
    """The same ranking without rendering highlights, for large benchmarks
    (scored by the order's own score: BM25's, or the hybrid blend)."""
    return lambda q: [(h.source_id, h.rank_score) for h in retriever.search(q, k, retrieval).hits]


def evaluate_questions(questions: Sequence[Question], search: Search) -> Evaluation:
    """Ask every question, then measure the responses."""
    return score_questions(questions, [search(q.question) for q in questions])


def evaluate_beir(beir: BeirSet, rank: RankPassages, depth: int = 100) -> BeirEvaluation:
    """Rank documents by their best passage and score the top ``depth``."""
    rankings = {qid: best_per_source(rank(text))[:depth] for qid, text in beir.queries.items()}
    return score_beir(beir.qrels, rankings)
