"""Candidates: a run of sentences of a top passage, read for one question,
and the features the learned model (:mod:`.model`) scores it by.

The features are defined here once, for the plain definition of the
choice and its fast path alike (:mod:`.selection`); ``feature_bounds``
gives the ranges the fast path bounds a candidate's score by before
working out the dearer ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ..retrieval.retriever import Hit, Retriever, SearchResult
from .judge import run_judgement
from .model import SEMANTIC, SelectorModel
from .question import Question
from .reading import SentenceReading, Word
from .semantic import sentence_cosine, sentence_text

#: Passages read for an answer: the default number shown.  Questions worded
#: unlike their source often find it only at rank 6-10; the rank weight
#: keeps the lower passages from winning on a tie.
ANSWER_DEPTH = 10
#: Longest run of consecutive sentences considered as one answer.
MAX_RUN = 2

#: Within the type cue: a typed word next to a question word earns all of
#: it, one NEAR_WORDS words away three quarters ("396 are now amber" beats
#: "125 ... amber").
NEAR_WORDS = 6
#: The confidence's ``margin`` (best score less the runner-up's) when
#: there is no runner-up, and its most: beyond it the lead says no more.
MAX_MARGIN = 3.0


@dataclass(frozen=True)
class Sentence:
    """A sentence of a hit, read for one question: its words the question
    already holds have lost their answer-type cue (see :func:`asked_word`).

    The words are built only when read: a request's winning sentence is
    often only checked for coverage before abstaining.
    """

    hit: Hit
    analysed: SentenceReading
    asked: tuple[int, ...]  # its cued words that are in the question

    @property
    def start(self) -> int:  # in the source
        return self.analysed.start

    @property
    def end(self) -> int:
        return self.analysed.end

    @property
    def paragraph(self) -> int:
        return self.analysed.paragraph

    @property
    def terms(self) -> frozenset[str]:
        return self.analysed.terms

    @property
    def words(self) -> tuple[Word, ...]:
        words = self.analysed.words
        if not self.asked:
            return words
        changed = list(words)
        for i in self.asked:
            changed[i] = words[i]._replace(cue=())
        return tuple(changed)


@dataclass(frozen=True)
class Candidate:
    sentences: tuple[Sentence, ...]
    terms: frozenset[str]  # of all its sentences
    features: tuple[float, ...]  # model.CHEAP + model.SEMANTIC
    score: float  # the model's score of the features
    margin: float  # over the runner-up finalist's score, at most MAX_MARGIN
    lead: float  # over the best finalist sharing none of its sentences, at most MAX_MARGIN

    @property
    def hit(self) -> Hit:
        return self.sentences[0].hit

    @property
    def coverage(self) -> float:  # of the question's weight, in the sentence(s)
        return self.features[0]

    @property
    def near(self) -> float:  # the answer-type cue
        return self.features[4]

    @property
    def typed(self) -> bool:  # holds a word of the expected answer type
        return self.near > 0.0

    @property
    def novel(self) -> bool:  # says something the question does not
        return self.features[7] == 0.0

    @property
    def meaning(self) -> float:  # the passage's cosine
        return self.features[8]

    @property
    def cosine(self) -> float:  # its nearest sentence's
        return self.features[9]

    @property
    def judge(self) -> float:  # the answer judge's best score of its sentences
        return self.features[10]


def asked_word(a: SentenceReading, i: int, q: Question) -> bool:
    """Is word ``i`` of ``a`` one the question already holds?  Then it
    cannot be the answer, and loses its answer-type cue."""
    return not q.weights.keys().isdisjoint(a.word_terms[i]) or a.norms[i] in q.raw


def sentence_for(hit: Hit, a: SentenceReading, q: Question) -> Sentence:
    """Sentence ``a`` of ``hit`` for this question (see :func:`asked_word`)."""
    return Sentence(hit, a, tuple(i for i in a.cued if asked_word(a, i, q)))


def answering_hits(result: SearchResult, q: Question) -> tuple[list[Hit], float, float]:
    """The hits an answer is chosen from, and the best one's BM25 score and
    ranking score (the units of the rank features)."""
    hits = result.hits[:ANSWER_DEPTH] if q.weights else []
    top = max((h.score for h in hits), default=0.0) or 1.0
    top_rank = max((ranked_by(h) for h in hits), default=0.0) or 1.0
    return hits, top, top_rank


def ranked_by(hit: Hit) -> float:
    return hit.score if hit.rank_score is None else hit.rank_score


def meaning_of(hit: Hit, model: SelectorModel) -> float:
    """The passage's cosine to the question (the sentence's context in
    meaning), as hybrid retrieval scored it; the model's fallback otherwise."""
    return model.fallback_meaning if hit.semantic_score is None else hit.semantic_score


def cheap_features(coverage: float, context: float, bm25: float, rank: float, near: float,
                   q: Question, n: int, novel: bool, meaning: float) -> tuple[float, ...]:
    """A candidate's :data:`~.model.CHEAP` features."""
    untyped = 1.0 if q.kind is not None and near == 0.0 else 0.0
    return (coverage, context, bm25, rank, near, untyped, float(n - 1), 0.0 if novel else 1.0, meaning)


def feature_bounds(q: Question, coverage: tuple[float, float], context: float, bm25: float, rank: float,
            n: tuple[int, int], novel: tuple[bool, bool],
            meaning: float) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The lowest and highest cheap features of candidates whose coverage,
    run length and novelty lie in the given ranges, whatever their type cue."""
    typed = q.kind is not None
    low = (coverage[0], context, bm25, rank, 0.0, 0.0, float(n[0] - 1), 0.0 if novel[1] else 1.0, meaning)
    high = (coverage[1], context, bm25, rank, 1.0 if typed else 0.0, 1.0 if typed else 0.0,
            float(n[1] - 1), 0.0 if novel[0] else 1.0, meaning)
    return low, high


def run_cosine(qvec: np.ndarray | None, run: Sequence[SentenceReading], hit: Hit, retriever: Retriever,
            model: SelectorModel, cached: bool) -> float:
    """The best cosine of a sentence of ``run`` to the question (each cut to
    the model's ``sentence_words``); the model's fallback without vectors."""
    if qvec is None:
        return model.fallback_cosine
    return max(sentence_cosine(qvec, retriever, sentence_text(hit, s, model.sentence_words), cached)
               for s in run)


def semantic_feature(name: str, result: SearchResult, qvec: np.ndarray | None, run: Sequence[SentenceReading],
                     hit: Hit, retriever: Retriever, model: SelectorModel, cached: bool) -> float:
    """A run's semantic feature ``name`` (:data:`~.model.SEMANTIC`)."""
    if name == "cosine":
        return run_cosine(qvec, run, hit, retriever, model, cached)
    return run_judgement(result.query, run, hit, retriever, model)


#: Where a candidate is: (hit, first sentence, number of sentences).
Place = tuple[int, int, int]


def overlaps(a: Place, b: Place) -> bool:
    """Do two candidates share a sentence (one run extends the other)?"""
    return a[0] == b[0] and a[1] < b[1] + b[2] and b[1] < a[1] + a[2]


def choose(finalists: list[tuple[tuple[float, ...], Callable[[str], float]]], places: Sequence[Place],
           model: SelectorModel) -> tuple[int, tuple[float, ...], float, float, float] | None:
    """The best of the finalists (cheap features and a function giving each
    semantic feature by name, in the prefilter's order, and where each is;
    the first of equals wins): its index, full features, score, margin over
    the runner-up, and lead over the best finalist sharing none of its
    sentences (a runner-up that is the answer with one sentence more or
    less says nothing against it).
    The semantic features the score weighs are worked out for every
    finalist; the others (0 until then) for the winner only, which the
    confidence and the rules read: its score is the same either way."""
    weighed = [model.weighs(n) for n in SEMANTIC]
    scored = []
    for j, (x, semantic) in enumerate(finalists):
        full = x + tuple(semantic(n) if w else 0.0 for n, w in zip(SEMANTIC, weighed))
        scored.append((model.score(full), -j, full))
    if not scored:
        return None
    score, j, full = max(scored, key=lambda t: t[:2])
    runner = max((t[0] for t in scored if t[1] != j), default=score - MAX_MARGIN)
    apart = max((t[0] for t in scored if not overlaps(places[-t[1]], places[-j])), default=score - MAX_MARGIN)
    x, semantic = finalists[-j]
    full = x + tuple(v if w else semantic(n) for n, w, v in zip(SEMANTIC, weighed, full[len(x):]))
    return -j, full, score, min(score - runner, MAX_MARGIN), min(score - apart, MAX_MARGIN)


def misses_focus(q: Question, sentences: Sequence[Sentence | SentenceReading]) -> bool:
    """Does a "how many" question count something ``sentences`` do not
    name?  Then they hold no answer of its type."""
    return q.focus is not None and not any(q.focus in s.terms for s in sentences)


def nearness(typed: list[int], asked: list[int]) -> float:
    """The type cue earned by words of the wanted type at positions
    ``typed`` among question words at ``asked``: 1 when adjacent, falling
    with distance; a half when the run holds no question word; 0 when it
    holds no typed word."""
    if not typed:
        return 0.0
    if not asked:
        return 0.5
    gap = min(abs(i - j) for i in typed for j in asked) - 1
    return 0.5 + 0.5 * NEAR_WORDS / (NEAR_WORDS + gap)
