"""Outcome: the selected sentence as a quoted answer with its citations and
confidence, or an abstention with its reason.

Every answer is a verbatim quote of a source with its character span, and
carries the calibrated probability that it answers the question
(:mod:`.confidence`): from the model's ``confident_at`` it is shown as the
answer, below it as a possible answer.  The articles do not answer it,
and we say so instead of quoting the nearest sentence as if it did, when
the sentence lacks what an answer needs (a key word of the question, the
number/date/name asked for: the rules below) or its confidence is below
``abstain_below``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ..retrieval.retriever import Hit, Retriever, SearchResult
from ..text.analysis import Analyzer
from ..text.words import word_spans
from .candidates import Candidate
from .confidence import MIN_MATCHED_WORDS, evidence
from .model import SelectorModel, shipped_model
from .question import Question
from .reading import StoredPassage, Word
from .selection import select

#: The longest quote returned; a longer sentence is cut to its best window.
MAX_ANSWER_WORDS = 120

# Abstention whatever the confidence, on answer-type and word evidence,
# which separates near misses better than any score: a sentence sharing a
# single word with a question of several is almost never its answer unless
# it is near it in meaning (on squad-dev-a such a chosen sentence is right
# 4% of the time below FEW_WORDS_COSINE, 30-50% above it, as often as one
# sharing more words at the same cosine); below MIN_COVERAGE of the question's weight it is about something else;
# and a question asking for a number/date/name is only answered by a
# sentence holding one, unless the sentence has nearly all its words
# (MIN_UNTYPED_COVERAGE: "when does the liability occur?" is answered by a
# "when ..." clause).
MIN_COVERAGE = 0.15
FEW_WORDS_COSINE = 0.3
MIN_UNTYPED_COVERAGE = 0.9

#: How an abstention names the type of answer that is missing.
_KIND_NAMES = {"name": "name", "date": "date", "place": "place", "money": "sum of money",
               "number": "number", "duration": "length of time"}


@dataclass(frozen=True)
class Citation:
    source_id: str
    passage_id: str


@dataclass(frozen=True)
class Answer:
    """A verbatim quote: ``source_text[start_char:end_char] == text``."""

    text: str
    source_id: str
    passage_id: str
    start_char: int
    end_char: int
    citations: tuple[Citation, ...]
    confidence: float  # the probability, as calibrated, that it answers the question
    confident: bool  # shown as the answer (else as a possible answer)

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "source_id": self.source_id,
            "passage_id": self.passage_id,
            "start_char": self.start_char,
            "end_char": self.end_char,
            "citations": [{"source_id": c.source_id, "passage_id": c.passage_id} for c in self.citations],
            "confidence": self.confidence,
            "confident": self.confident,
        }


@dataclass(frozen=True)
class AnswerOutcome:
    answer: Answer | None
    abstained: bool
    reason: str | None
    confidence: float | None = None  # of the best sentence, answered or not; None: there was none
    #: What chose the answer's sentence: the selector's features, each one's
    #: share of its score, and the score's margin over the runner-up.
    explain: dict[str, Any] | None = None


def _why(best: Candidate, model: SelectorModel) -> dict[str, Any]:
    names = model.score.names
    return {"features": dict(zip(names, best.features)), "contributions": model.score.contributions(best.features),
            "bias": model.score.bias, "score": best.score, "margin": best.margin}


def _trim(c: Candidate, q: Question) -> tuple[int, int]:
    """The span of a candidate, cut to its best MAX_ANSWER_WORDS-word window."""
    start, end = c.sentences[0].start, c.sentences[-1].end
    if sum(s.analysed.n_words for s in c.sentences) <= MAX_ANSWER_WORDS:
        return start, end
    words = [w for s in c.sentences for w in s.words]

    def value(w: Word) -> float:
        hit = sum(q.weights.get(t, 0.0) for t in w.terms)
        return hit + (1.0 if q.kind in w.cue else 0.0)

    best, best_i = -1.0, 0
    for i in range(len(words) - MAX_ANSWER_WORDS + 1):
        v = sum(value(w) for w in words[i:i + MAX_ANSWER_WORDS])
        if v > best:
            best, best_i = v, i
    return words[best_i].start, words[best_i + MAX_ANSWER_WORDS - 1].end


def _statement(best: Candidate, q: Question) -> Callable[[frozenset[str]], bool]:
    """A test of whether a sentence (of another source), given its terms,
    states the answer ``best`` gives, for a sentence about the question
    (holding half the answer's coverage at least: :data:`STATING_SHARE`,
    which the caller checks first, so the terms of most sentences are
    never read).

    It must contain what the answer says that the question does not: its
    words of the wanted type ("CSC", "£1m"), or, for untyped questions, at
    least half of its new words.
    """
    typed = {t for r in best.sentences for j in r.analysed.cued
             if j not in r.asked and q.kind in r.analysed.cues[j] for t in r.analysed.word_terms[j]}
    new = best.terms - q.weights.keys()

    def states(terms: frozenset[str]) -> bool:
        if typed:
            return typed <= terms
        return len(new & terms) * 2 >= len(new)

    return states


#: A sentence stating the answer holds at least this share of the answer's coverage.
STATING_SHARE = 0.5


def _abstain(reason: str, confidence: float | None = None) -> AnswerOutcome:
    return AnswerOutcome(None, True, reason, confidence)


def lacks(best: Candidate, q: Question, analyzer: Analyzer) -> str | None:
    """What the best sentence lacks to answer the question (see the rules above), if anything."""
    if not best.novel:
        return "the closest sentence only repeats the question"
    if len(best.terms & q.weights.keys()) < min(MIN_MATCHED_WORDS, len(q.weights)) and best.cosine < FEW_WORDS_COSINE:
        return "no sentence of the closest passages has more than one of the question's words"
    if best.coverage < MIN_COVERAGE:
        return f"the closest passages barely mention {_missing(q, best.terms, analyzer)}"
    if q.kind is not None and not best.typed and best.coverage < MIN_UNTYPED_COVERAGE:
        return f"no {_KIND_NAMES[q.kind]} is given near the question's words"
    return None


def _missing(q: Question, found: frozenset[str], analyzer: Analyzer) -> str:
    """The question's heaviest words (as the asker wrote them) that are not in ``found``."""
    words: dict[str, str] = {}
    for s, e in word_spans(q.text):
        for t in analyzer.word_terms(q.text[s:e]):
            words.setdefault(t, q.text[s:e])
    gone = [words.get(t, t) for t in sorted(q.weights, key=lambda t: -q.weights[t]) if t not in found]
    return ", ".join(f"“{w}”" for w in gone[:3])


def answer(result: SearchResult, retriever: Retriever, model: SelectorModel | None = None,
           read: Callable[[Hit], StoredPassage] | None = None) -> AnswerOutcome:
    """The answer to ``result.query`` from ``result``'s top passages, or why
    there is none (``read``: the request's passage reader, as for :func:`select`)."""
    model = model or shipped_model()
    sel = select(result, retriever, model, read)
    q, best = sel.question, sel.best
    if not q.weights:
        return _abstain("the question has no words to look for")
    if not sel.hits:
        return _abstain("no passage shares a word with the question")
    if best is None:
        return _abstain("the closest passages have no sentences")
    confidence = model.probability(evidence(best, q))
    lacking = lacks(best, q, retriever.analyzer)
    if lacking or confidence < model.abstain_below:
        return _abstain(lacking or f"the closest sentence is unlikely to answer it (confidence {confidence:.2f})",
                        confidence)
    start, end = _trim(best, q)
    hit = best.hit
    text = hit.text[start - hit.start_char:end - hit.start_char]
    citations = [Citation(hit.source_id, hit.passage_id)]
    cited = {hit.source_id}
    states, about = _statement(best, q), best.coverage * STATING_SHARE
    for other in sel.hits:
        if other.source_id not in cited and sel.may_state(other, about) and any(
                map(states, sel.sentences_holding(other, about))):
            citations.append(Citation(other.source_id, other.passage_id))
            cited.add(other.source_id)
    return AnswerOutcome(Answer(text, hit.source_id, hit.passage_id, start, end, tuple(citations),
                                confidence, confidence >= model.confident_at), False, None, confidence,
                         _why(best, model))
