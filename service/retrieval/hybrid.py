"""Hybrid ranking: BM25's candidates and the passages nearest in meaning,
re-ordered by a blend of BM25 and the cosine of question and passage.

BM25 finds passages that share the question's words and cannot see a
paraphrase; the encoder sees meaning but blurs names and numbers.  The
blend keeps both, each score as a z-score among the question's candidates
(its distance from their mean in standard deviations), ``weight`` on
BM25's share: the two scales differ from question to question (BM25's
with the question's words, the cosines' spread with its wording), and a
z-score puts both in one unit whatever their raw size, so neither swamps
the other.  Scores of passages reached only by meaning are their exact
BM25 scores too (often 0)."""

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


def zscore(x: np.ndarray) -> np.ndarray:
    """``(x - mean) / sd`` over ``x``; all 0 where ``x`` does not vary."""
    sd = float(x.std()) if len(x) else 0.0
    return (x - x.mean()) / sd if sd > 0 else np.zeros_like(x)


def blend(bm25: np.ndarray, cosine: np.ndarray, weight: float) -> np.ndarray:
    """``weight * z(bm25) + (1 - weight) * z(cosine)`` over the candidates; a
    question whose candidates' BM25 scores are all equal (none shares a word)
    is ranked by its cosines alone."""
    return weight * zscore(bm25) + (1.0 - weight) * zscore(cosine)


def rerank(docs: np.ndarray, bm25: np.ndarray, question_vec: np.ndarray, vectors: np.ndarray,
           scales: np.ndarray, weight: float) -> Ranked:
    """Order candidates ``docs`` (with their BM25 scores) by the blend; ties
    go to the lower passage id, as in BM25's own ranking."""
    docs = np.asarray(docs, dtype=np.int64)
    cosine = quantized_dot(question_vec, vectors[docs], scales[docs]).astype(np.float64)
    blended = blend(np.asarray(bm25, dtype=np.float64), cosine, weight)
    order = np.lexsort((docs, -blended))
    return Ranked(docs[order], np.asarray(bm25)[order], cosine[order], blended[order])
