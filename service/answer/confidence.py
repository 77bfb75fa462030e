"""Confidence: how likely the chosen sentence is to answer the question.

The chosen candidate's evidence (:data:`~.model.EVIDENCE`: its score; its
margin over the runner-up, and its lead over the best finalist sharing
none of its sentences: a runner-up that is the answer with a sentence
more or less is no rival, one elsewhere is; the share of the question it
holds, its meaning's nearness, the wanted type of answer near the
question's words or not, how few of the question's words it has, whether
it only repeats the question, its passage's BM25 score relative to the
best passage's: whether BM25 agrees with the blend that put it there, and
the answer judge's score.  Not the blended score itself: the z-score blend
is 0 for a lone candidate, so its ratio says nothing) goes through the
model's confidence weights and their calibration
(:meth:`~.model.SelectorModel.probability`).  The same function gives the
training script its rows, so training and serving read the same numbers.
"""

from __future__ import annotations

from .candidates import Candidate
from .question import Question

#: A sentence with fewer of the question's words than this (or than the
#: question has) shares a single word with it.
MIN_MATCHED_WORDS = 2


def evidence_of(features: tuple[float, ...], score: float, margin: float, lead: float, matched: int,
                words: int) -> tuple[float, ...]:
    """The evidence of a chosen candidate with these features (cheap and
    semantic), score, margin and lead, holding ``matched`` of the question's
    ``words`` content words."""
    coverage, _, bm25, _, near, untyped, _, repeat, meaning, cosine, judge = features
    few = 1.0 if matched < min(MIN_MATCHED_WORDS, words) else 0.0
    return (score, margin, lead, coverage, cosine, near, untyped, few, repeat, meaning, bm25, judge)


def evidence(best: Candidate, q: Question) -> tuple[float, ...]:
    """:func:`evidence_of` the chosen candidate."""
    return evidence_of(best.features, best.score, best.margin, best.lead, len(best.terms & q.weights.keys()),
                       len(q.weights))
