"""A passage read once, whatever the question: its sentences, each with its
words' spans in the source, index terms and (when first asked for)
answer-type cues, and which sentences hold each term.

The same top passages come back for question after question, so a
reading is kept (:mod:`.caches`) and only the question-dependent part is
done per request.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from functools import cached_property
from itertools import compress
from typing import NamedTuple

from ..text.analysis import positions_by_term
from ..text.sentences import sentence_units
from ..text.words import Words
from .cues import NORMALIZED, sentence_cues


class Word(NamedTuple):
    """One word of a sentence, as the answer's scoring and trimming see it."""

    start: int  # in the source
    end: int
    terms: tuple[str, ...]
    cue: tuple[str, ...]  # answer types this word can fill


@dataclass(frozen=True)
class SentenceReading:
    """A sentence of a passage, read once whatever the question."""

    start: int  # in the source
    end: int
    paragraph: int
    # Word j is surfaces[j] at starts[j]:ends[j] in the source, with index
    # terms word_terms[j].  Columns of plain tuples of ints and strings
    # rather than a Word object per word: CPython's garbage collector stops
    # tracking such tuples, and the passage cache holds hundreds of
    # thousands of words, which every full collection would otherwise walk.
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    word_terms: tuple[tuple[str, ...], ...]
    surfaces: tuple[str, ...]  # as written, one shared string per spelling
    terms: frozenset[str]

    # Worked out when first read (a question asking for a type of answer,
    # or the chosen sentence): most sentences a request reads never are.
    @cached_property
    def cues(self) -> tuple[tuple[str, ...], ...]:
        """Each word's answer-type cues, as if no word were in the question."""
        return sentence_cues(self.surfaces)

    @cached_property
    def cued(self) -> tuple[int, ...]:
        """The indices of the words with an answer-type cue."""
        return tuple(compress(range(len(self.cues)), self.cues))

    @cached_property
    def norms(self) -> tuple[str, ...]:
        """Each word normalised, to compare with the question's."""
        return tuple(map(NORMALIZED.__getitem__, self.surfaces))

    @property
    def words(self) -> tuple[Word, ...]:
        return tuple(map(Word, self.starts, self.ends, self.word_terms, self.cues))


@dataclass(frozen=True)
class PassageReading:
    """A passage's sentences, with which of them hold each index term."""

    sentences: tuple[SentenceReading, ...]
    by_term: dict[str, tuple[int, ...]]


def read_passage(text: str, base: int, words: Words) -> PassageReading:
    """Every sentence of a passage starting at ``base`` in its source, whose
    words (:func:`~service.text.words.passage_words`) are ``words``.

    A sentence ends where whitespace follows and starts after whitespace,
    so no word crosses from one into the next: the words inside a
    sentence's span are exactly the words of the sentence read alone.
    """
    out = []
    for s, e, pno, heading in sentence_units(text):
        if heading:
            continue
        i, j = bisect_left(words.starts, s), bisect_left(words.starts, e)
        terms = words.terms[i:j]
        out.append(SentenceReading(
            base + s, base + e, pno, tuple(map(base.__add__, words.starts[i:j])),
            tuple(map(base.__add__, words.ends[i:j])), terms, words.surfaces[i:j], frozenset().union(*terms)))
    return PassageReading(tuple(out), positions_by_term(a.terms for a in out))
