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
            allowed: np.ndarray | None = None) -> np.ndarray:
    """The ``n`` passages of ``allowed`` (a mask; None: all) whose vectors
    are nearest ``question_vec`` (ascending ids)."""
    if n <= 0 or not len(vectors):
        return np.empty(0, dtype=np.int64)
    if allowed is None:
        cos = quantized_dot(question_vec, vectors, scales)
        n = min(n, len(cos))
        return np.sort(np.argpartition(-cos, n - 1)[:n]).astype(np.int64)
    ids = np.flatnonzero(allowed)
    if not len(ids):
        return np.empty(0, dtype=np.int64)
    cos = quantized_dot(question_vec, vectors[ids], scales[ids])
    n = min(n, len(cos))
    return np.sort(ids[np.argpartition(-cos, n - 1)[:n]]).astype(np.int64)


def rerank(docs: np.ndarray, bm25: np.ndarray, question_vec: np.ndarray, vectors: np.ndarray,
           scales: np.ndarray, weight: float) -> Ranked:
    """Order candidates ``docs`` (with their BM25 scores) by the blend; ties
    go to the lower passage id, as in BM25's own ranking."""
    docs = np.asarray(docs, dtype=np.int64)
    cosine = quantized_dot(question_vec, vectors[docs], scales[docs]).astype(np.float64)
    blended = blend(np.asarray(bm25, dtype=np.float64), cosine, weight)
    order = np.lexsort((docs, -blended))
    return Ranked(docs[order], np.asarray(bm25)[order], cosine[order], blended[order])
