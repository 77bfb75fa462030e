"""A passage read whatever the question: its sentences, each with its
words' spans in the source, index terms and answer-type cues, and which
sentences hold each of a question's terms.

:func:`read_passage` reads it from the text (the definition);
:class:`StoredPassage` takes it from the arrays the index stored for the
passage when it was indexed (:mod:`service.index.readings`), working out
each part only when first asked for, so a request does only the
question-dependent part and keeps nothing between requests.  A test holds
the two equal.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from functools import cached_property, reduce
from itertools import accumulate, compress
from operator import or_
from typing import Callable, Collection, NamedTuple, Sequence

import numpy as np

from ..index.reading_view import PassageWords, wanted_ids
from ..retrieval.retriever import Hit, Retriever
from ..text.analysis import positions_by_term
from ..text.cues import CUES_OF_BITS, NORMALIZED, sentence_cues
from ..text.sentences import sentence_units
from ..text.words import Words


class Word(NamedTuple):
    """One word of a sentence, as the answer's scoring and trimming see it."""

    start: int  # in the source
    end: int
    terms: tuple[str, ...]
    cue: tuple[str, ...]  # answer types this word can fill


class _Sentence:
    """What a sentence's reading derives from its words' columns (``cues``,
    ``surfaces``, ``starts``, ``ends``, ``word_terms``)."""

    cues: tuple[tuple[str, ...], ...]
    surfaces: tuple[str, ...]
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    word_terms: tuple[tuple[str, ...], ...]

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

    @property
    def n_words(self) -> int:
        return len(self.starts)

    def _key(self) -> tuple:
        return (self.start, self.end, self.paragraph, self.starts, self.ends, self.word_terms, self.surfaces,
                self.terms)

    # Equal readings whichever way they were read: the fast path's choice
    # is compared with the definition's (tests/test_fast_paths.py).
    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Sentence) and self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())


@dataclass(frozen=True, eq=False)
class SentenceReading(_Sentence):
    """A sentence of a passage, read from its text."""

    start: int  # in the source
    end: int
    paragraph: int
    # Word j is surfaces[j] at starts[j]:ends[j] in the source, with index
    # terms word_terms[j]: columns, a Word built only when asked for.
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    word_terms: tuple[tuple[str, ...], ...]
    surfaces: tuple[str, ...]  # as written, one shared string per spelling
    terms: frozenset[str]

    # Worked out when first read (a question asking for a type of answer,
    # or the chosen sentence): most sentences a request reads never are.
    @cached_property
    def cues(self) -> tuple[tuple[str, ...], ...]:  # type: ignore[override]
        """Each word's answer-type cues, as if no word were in the question."""
        return sentence_cues(self.surfaces)

    @property
    def n_terms(self) -> int:
        return len(self.terms)


@dataclass(frozen=True)
class PassageReading:
    """A passage's sentences, with which of them hold each index term."""

    sentences: tuple[SentenceReading, ...]
    by_term: dict[str, tuple[int, ...]]

    def term_masks(self, bits: dict[str, int]) -> list[int]:
        """Each sentence's mask of the terms in ``bits`` (term → its bit)."""
        masks = [0] * len(self.sentences)
        for t, bit in bits.items():
            for i in self.by_term.get(t, ()):
                masks[i] |= bit
        return masks


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


class _WordColumns:
    """A stored passage's word columns (``words``, for ``text`` starting at
    ``base`` in its source), each made when a sentence first reads it.

    The passage and its sentences both hold this, and it holds neither: a
    sentence holding its passage (which holds its sentences) would make
    each request's readings a reference cycle that only the cyclic
    garbage collector frees, rather than freeing them when the request ends.
    """

    def __init__(self, words: PassageWords, text: str, base: int) -> None:
        self._words, self._text, self._base = words, text, base

    @cached_property
    def _term_starts(self) -> list[int]:
        """Where each word's term ids start in ``term_ids`` (they follow
        each other, ``w_nterms`` a word), and where they end."""
        return list(accumulate(self._words.columns["w_nterms"].tolist(), initial=0))

    def terms_of(self, first: int, last: int) -> frozenset[str]:
        """The terms of words ``first`` to ``last`` (exclusive)."""
        starts = self._term_starts
        ids = self._words.term_ids[starts[first]:starts[last]].tolist()
        return frozenset(map(self._words.term_name, ids))

    @cached_property
    def _spans(self) -> tuple[list[int], list[int]]:
        c = self._words.columns
        starts = c["w_start"].tolist()
        return starts, list(map(int.__add__, starts, c["w_len"].tolist()))

    @cached_property
    def starts(self) -> tuple[int, ...]:  # in the source
        return tuple(map(self._base.__add__, self._spans[0]))

    @cached_property
    def ends(self) -> tuple[int, ...]:
        return tuple(map(self._base.__add__, self._spans[1]))

    @cached_property
    def word_terms(self) -> tuple[tuple[str, ...], ...]:
        name = self._words.term_name
        return tuple(tuple(map(name, ids)) for ids in self._words.word_terms())

    @cached_property
    def surfaces(self) -> tuple[str, ...]:
        return tuple(map(self._text.__getitem__, map(slice, *self._spans)))

    @cached_property
    def cues(self) -> tuple[tuple[str, ...], ...]:
        return tuple(map(CUES_OF_BITS.__getitem__, self._words.columns["w_cues"].tolist()))


class StoredSentence(_Sentence):
    """A sentence of a :class:`StoredPassage`: what
    :class:`SentenceReading` holds, its words' columns sliced from the
    passage's (``words``) when first read."""

    def __init__(self, words: _WordColumns, start: int, end: int, paragraph: int, first: int, n_words: int,
                 n_terms: int) -> None:
        self._words, self.first, self.last = words, first, first + n_words
        self.start, self.end, self.paragraph, self.n_terms = start, end, paragraph, n_terms

    def _column(self, name: str) -> tuple:
        return getattr(self._words, name)[self.first:self.last]

    starts = cached_property(lambda self: self._column("starts"))  # type: ignore[assignment]
    ends = cached_property(lambda self: self._column("ends"))  # type: ignore[assignment]
    word_terms = cached_property(lambda self: self._column("word_terms"))  # type: ignore[assignment]
    surfaces = cached_property(lambda self: self._column("surfaces"))  # type: ignore[assignment]
    cues = cached_property(lambda self: self._column("cues"))  # type: ignore[assignment]

    @cached_property
    def terms(self) -> frozenset[str]:
        return self._words.terms_of(self.first, self.last)

    @property
    def n_words(self) -> int:  # without making its spans
        return self.last - self.first


class StoredPassage:
    """A passage's reading from the index's arrays (``words``), for the
    passage ``text`` starting at ``base`` in its source, read for a
    request whose question has the index terms ``terms``."""

    def __init__(self, words: PassageWords, text: str, base: int, terms: Sequence[str] = (),
                 lookup: Callable[[Callable[[str], int]], tuple[np.ndarray, list[str]]] | None = None) -> None:
        """``lookup``: a segment's ``term_id`` → ``terms``' ids there
        (:func:`~service.index.reading_view.wanted_ids`), kept by the request."""
        self._words, self._base = words, base
        self._columns = _WordColumns(words, text, base)
        self._terms, self._term_set, self._lookup = terms, frozenset(terms), lookup
        self._masks: tuple[dict[str, int], list[int]] | None = None  # the last term_masks asked for

    @cached_property
    def sentences(self) -> tuple[StoredSentence, ...]:
        """Its sentences (made when first read: most passages a request
        reads are only bounded by their masks, and never are)."""
        base, rows, columns = self._base, self._sentence_rows, self._columns
        return tuple(StoredSentence(columns, base + s, base + e, p, f, n, t)
                     for s, e, p, f, n, t in zip(rows["s_start"], rows["s_end"], rows["paragraphs"],
                                                 rows["firsts"], rows["s_words"], rows["n_terms"]))

    @cached_property
    def _sentence_rows(self) -> dict[str, list[int]]:
        """Its sentences' columns as lists: what the selection's masks and
        runs read, without making the sentences."""
        c = self._words.columns
        rows = {k: c[k].tolist() for k in ("s_start", "s_end", "s_words")}
        rows["paragraphs"], rows["firsts"], rows["n_terms"] = (
            c["s_para"].tolist(), c["s_first"].tolist(), c["s_nterms"].tolist())
        return rows

    @property
    def paragraphs(self) -> list[int]:
        """Each sentence's paragraph number."""
        return self._sentence_rows["paragraphs"]

    @property
    def sentence_terms(self) -> list[int]:
        """How many distinct terms each sentence holds."""
        return self._sentence_rows["n_terms"]

    def sentence_terms_of(self, i: int) -> frozenset[str]:
        """The terms of sentence ``i`` (``sentences[i].terms``, without making the sentences)."""
        rows = self._sentence_rows
        first = rows["firsts"][i]
        return self._columns.terms_of(first, first + rows["s_words"][i])

    @property
    def columns(self) -> dict[str, np.ndarray]:
        """The stored columns of its words and sentences (:class:`PassageWords`)."""
        return self._words.columns

    @cached_property
    def _found(self) -> tuple[list[int], list[str]]:
        """The words carrying the request's terms, found once for the answer
        and the highlight (:meth:`PassageWords.words_with`), the terms'
        ids looked up once per segment by the request's ``lookup``."""
        if self._lookup is None:
            return self._words.words_with(list(self._terms))
        return self._words.words_with_ids(*self._lookup(self._words.term_id))

    def words_with(self, terms: Collection[str]) -> tuple[list[int], list[str]]:
        """:meth:`PassageWords.words_with`: for terms among the request's,
        the request's words filtered (the same pairs in the same order, since
        each word term is listed once, whichever terms are asked)."""
        wanted = frozenset(terms)
        if not wanted <= self._term_set:
            return self._words.words_with(list(terms))
        words, found = self._found
        if wanted == self._term_set:
            return words, found
        kept = [k for k, t in enumerate(found) if t in wanted]
        return [words[k] for k in kept], [found[k] for k in kept]

    def term_masks(self, bits: dict[str, int]) -> list[int]:
        """:meth:`PassageReading.term_masks`, from the words' term ids (a
        request asks for the same question's masks several times)."""
        if self._masks is not None and self._masks[0] is bits:
            return self._masks[1]
        rows = self._sentence_rows
        firsts, sizes = rows["firsts"], rows["s_words"]
        masks = [0] * len(firsts)
        self._masks = bits, masks
        words, terms = self.words_with(bits.keys())
        for w, t in zip(words, terms):
            i = bisect_right(firsts, w) - 1
            if i >= 0 and w < firsts[i] + sizes[i]:  # not a heading's word
                masks[i] |= bits[t]
        return masks


def passage_reader(retriever: Retriever, terms: Sequence[str]) -> Callable[[Hit], StoredPassage]:
    """A hit → its passage's stored reading for a request whose question
    has the index terms ``terms``, each passage read once per request (the
    answer's and the highlights' alike) and nothing kept after it."""
    read: dict[str, StoredPassage] = {}
    ids: dict[Callable[[str], int], tuple[np.ndarray, list[str]]] = {}
    wanted = list(terms)

    def lookup(term_id: Callable[[str], int]) -> tuple[np.ndarray, list[str]]:
        found = ids.get(term_id)
        if found is None:
            found = ids[term_id] = wanted_ids(term_id, wanted)
        return found

    def passage(hit: Hit) -> StoredPassage:
        found = read.get(hit.passage_id)
        if found is None:
            found = read[hit.passage_id] = StoredPassage(retriever.passage_words(hit), hit.text, hit.start_char,
                                                         terms, lookup)
        return found

    return passage


def union_mask(masks: list[int]) -> int:
    """The union of sentences' masks: the passage's."""
    return reduce(or_, masks, 0)
