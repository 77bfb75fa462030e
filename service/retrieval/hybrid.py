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
BM25 scores too (often 0).

A passage's one vector blurs the one sentence a question is about, so
where the index stores its sentences' vectors the meaning share is split
between the passage's cosine and its best sentence's (``sentence_share``
of it), each a z-score too: the sentence finds the fact, the passage
keeps the context a sentence alone lacks."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..embedding.encoder import quantized_dot
from ..index.segments import SentenceVectors


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


def blend_sentences(bm25: np.ndarray, cosine: np.ndarray, best: np.ndarray, weight: float,
                    share: float) -> np.ndarray:
    """:func:`blend` with the meaning share split: ``1 - share`` of it the
    passage's cosine, ``share`` its best sentence's (both z-scores)."""
    meaning = (1.0 - share) * zscore(cosine) + share * zscore(best)
    return weight * zscore(bm25) + (1.0 - weight) * meaning


def best_sentence_plain(question_vec: np.ndarray, docs: np.ndarray, sentences: SentenceVectors,
                        cosine: np.ndarray) -> np.ndarray:
    """Per candidate, the highest cosine of its sentences' vectors with the
    question; a passage without sentences (headings only) keeps its own
    ``cosine``.  What :func:`best_sentence` must equal."""
    out = np.asarray(cosine, dtype=np.float64).copy()
    for i, d in enumerate(np.asarray(docs).tolist()):
        a, b = int(sentences.ptr[d]), int(sentences.ptr[d + 1])
        if b > a:
            out[i] = float(quantized_dot(question_vec, sentences.codes[a:b], sentences.scales[a:b]).max())
    return out


def best_sentence(question_vec: np.ndarray, docs: np.ndarray, sentences: SentenceVectors,
                  cosine: np.ndarray) -> np.ndarray:
    """:func:`best_sentence_plain` in one product: every candidate's
    sentence rows gathered, then a maximum per candidate."""
    docs = np.asarray(docs, dtype=np.int64)
    starts = np.asarray(sentences.ptr)[docs]
    counts = np.asarray(sentences.ptr)[docs + 1] - starts
    out = np.asarray(cosine, dtype=np.float64).copy()
    total = int(counts.sum())
    if not total:
        return out
    firsts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rows = np.repeat(starts - firsts, counts) + np.arange(total)
    cos = quantized_dot(question_vec, sentences.codes[rows], sentences.scales[rows])
    has = counts > 0
    out[has] = np.maximum.reduceat(cos, firsts[has]).astype(np.float64)
    return out


def rerank(docs: np.ndarray, bm25: np.ndarray, question_vec: np.ndarray, vectors: np.ndarray,
           scales: np.ndarray, weight: float, sentences: SentenceVectors | None = None,
           share: float = 0.0, sentence_weight: float = 0.0) -> Ranked:
    """Order candidates ``docs`` (with their BM25 scores) by the blend at
    ``weight``; where ``sentences`` are given and ``share`` is above 0, by
    :func:`blend_sentences` at ``sentence_weight`` (the two blends weigh
    BM25 apart: its share that suits the one does not suit the other).
    Ties go to the lower passage id, as in BM25's own ranking."""
    docs = np.asarray(docs, dtype=np.int64)
    cosine = quantized_dot(question_vec, vectors[docs], scales[docs]).astype(np.float64)
    bm25 = np.asarray(bm25, dtype=np.float64)
    if sentences is not None and share > 0:
        best = best_sentence(question_vec, docs, sentences, cosine)
        blended = blend_sentences(bm25, cosine, best, sentence_weight, share)
    else:
        blended = blend(bm25, cosine, weight)
    order = np.lexsort((docs, -blended))
    return Ranked(docs[order], np.asarray(bm25)[order], cosine[order], blended[order])
