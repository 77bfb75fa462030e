"""Highlighting: mark the question's words in a passage, safely.

The text is escaped first and marked second: every character of the source
goes through :func:`html.escape`, and the only markup added is ``<mark>``
around whole words whose index term is one of the question's.  No user text
ever reaches a regular expression: the pattern below is fixed, and matching
is done by comparing analyzed terms.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import lru_cache
from itertools import chain
from typing import Collection

from .analysis import Analyzer, Memo, positions_by_term

# Word-like runs in the *original* text (before normalisation), so spans
# are positions in the passage as shown.
_WORD_RE = re.compile(r"[£$€¥]?[^\W_]+(?:['\u2019.,\-][^\W_]+)*%?")


#: A word as written → one string object for that spelling, so the
#: passage caches keep each distinct word once however many passages hold it.
_SPELLING = Memo(str)


def word_spans(text: str) -> list[tuple[int, int]]:
    """Spans of the words of ``text`` as written (case and marks kept)."""
    return list(map(re.Match.span, _WORD_RE.finditer(text)))


@dataclass(frozen=True)
class Words:
    """The words of a passage as written, with their index terms: read once
    for both the highlighter and the answer selector, which reads capitals
    and digits off them, so it sees the very words the highlighter marks."""

    starts: tuple[int, ...]  # word i is text[starts[i]:ends[i]]
    ends: tuple[int, ...]
    surfaces: tuple[str, ...]
    terms: tuple[tuple[str, ...], ...]


@lru_cache(maxsize=4096)
def passage_words(text: str, analyzer: Analyzer) -> Words:
    """Cached by passage: a passage not seen before is read on the request
    path, once for its highlights and once for the answer, so its words are
    read for both at once, column by column with map()."""
    matches = list(_WORD_RE.finditer(text))
    surfaces = tuple(map(_SPELLING.__getitem__, map(re.Match.group, matches)))
    return Words(tuple(map(re.Match.start, matches)), tuple(map(re.Match.end, matches)), surfaces,
                 tuple(map(analyzer.word_terms, surfaces)))


@dataclass(frozen=True)
class _Prepared:
    """A passage made ready to highlight for any question.

    ``html.escape`` replaces single characters, so each word's span in the
    escaped passage follows from the characters replaced before it
    (:func:`_escaped_spans`); the spans are kept, and a question then costs
    a lookup per term and a few slices.
    """

    escaped: str
    spans: tuple[tuple[int, int], ...]  # word i: its span in ``escaped``
    by_term: dict[str, tuple[int, ...]]  # index term → the words that carry it


@lru_cache(maxsize=4096)
def _prepared(text: str, analyzer: Analyzer) -> _Prepared:
    """Cached by passage: the same passages are highlighted for question
    after question, and their words, terms and escaping never change."""
    words = passage_words(text, analyzer)
    spans = list(zip(words.starts, words.ends))
    escaped = html.escape(text)
    if len(escaped) != len(text):
        spans = _escaped_spans(text, spans)
    return _Prepared(escaped, tuple(spans), positions_by_term(words.terms))


#: The characters :func:`html.escape` replaces (with ``quote=True``).
_ESCAPED_RE = re.compile("[&<>\"']")


def _escaped_spans(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Where ``spans`` of ``text`` lie in ``html.escape(text)``: each
    character it replaces lengthens the text by its entity's length less
    one (a passage is escaped whole, once, rather than word by word)."""
    growth = [(m.start(), len(html.escape(m.group())) - 1) for m in _ESCAPED_RE.finditer(text)]
    out = []
    extra = k = 0
    for s, e in spans:
        while k < len(growth) and growth[k][0] < s:
            extra += growth[k][1]
            k += 1
        start = s + extra
        while k < len(growth) and growth[k][0] < e:
            extra += growth[k][1]
            k += 1
        out.append((start, e + extra))
    return out


def _matched_words(prepared: _Prepared, terms: Collection[str]) -> list[int]:
    """Indices, in text order, of the words carrying any of ``terms``."""
    by_term = prepared.by_term
    return sorted(set(chain.from_iterable(map(by_term.__getitem__, by_term.keys() & terms))))


def highlight(text: str, terms: Collection[str], analyzer: Analyzer) -> str:
    """``text`` as escaped HTML with the matching words in ``<mark>``."""
    prepared = _prepared(text, analyzer)
    escaped = prepared.escaped
    out = []
    pos = 0
    for i in _matched_words(prepared, terms):
        start, end = prepared.spans[i]
        out += (escaped[pos:start], "<mark>", escaped[start:end], "</mark>")
        pos = end
    out.append(escaped[pos:])
    return "".join(out)
