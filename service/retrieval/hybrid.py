"""Hybrid ranking: BM25's candidates (and the passages nearest in meaning)
re-ordered by a blend of BM25 and the cosine of question and passage.

BM25 finds passages that share the question's words and cannot see a
paraphrase; the encoder sees meaning but blurs names and numbers.  The
blend keeps both: BM25's score is scaled by the best candidate's (so a
question's scores sit in [0, 1] whatever their raw size) and added to the
cosine, ``weight`` on BM25's share.  Scores of passages reached only by
meaning are their exact BM25 scores too (often 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..embedding.encoder import quantized_dot


@dataclass(frozen=True)
class Ranked:
    """Candidates in blended order: passage ids and their three scores."""

    docs: np.ndarray  # int64
    bm25: np.ndarray
    cosine: np.ndarray
    blended: np.ndarray


def blend(bm25: np.ndarray, cosine: np.ndarray, weight: float) -> np.ndarray:
    """``weight * bm25 / max(bm25) + (1 - weight) * cosine``; a question
    with no positive BM25 score is ranked by its cosines alone."""
    top = float(bm25.max(initial=0.0))
    lexical = bm25 / top if top > 0 else np.zeros_like(bm25)
    return weight * lexical + (1.0 - weight) * cosine


def nearest(question_vec: np.ndarray, vectors: np.ndarray, scales: np.ndarray, n: int,
            live: np.ndarray | None = None) -> np.ndarray:
    """The ``n`` passages whose vectors are nearest ``question_vec``
    (ascending ids), among the ``live`` ones (a bool per passage) if given."""
    if n <= 0 or not len(vectors):
        return np.empty(0, dtype=np.int64)
    cos = quantized_dot(question_vec, vectors, scales)
    if live is not None and not live.all():
        cos = np.where(live, cos, -np.inf)
        n = min(n, int(live.sum()))
    n = min(n, len(cos))
    if n <= 0:
        return np.empty(0, dtype=np.int64)
    return np.sort(np.argpartition(-cos, n - 1)[:n]).astype(np.int64)


def rerank(docs: np.ndarray, bm25: np.ndarray, question_vec: np.ndarray, vectors: np.ndarray,
           scales: np.ndarray, weight: float) -> Ranked:
    """Order candidates ``docs`` (with their BM25 scores) by the blend; ties
    go to the lower passage id, as in BM25's own ranking."""
    docs = np.asarray(docs, dtype=np.int64)
    cosine = quantized_dot(question_vec, vectors[docs], scales[docs]).astype(np.float64)
    blended = blend(np.asarray(bm25, dtype=np.float64), cosine, weight)
    order = np.lexsort((docs, -blended))
    return Ranked(docs[order], np.asarray(bm25)[order], cosine[order], blended[order])
