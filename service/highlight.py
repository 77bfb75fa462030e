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

from .analysis import Analyzer, positions_by_term

# Word-like runs in the *original* text (before normalisation), so spans
# are positions in the passage as shown.
_WORD_RE = re.compile(r"[£$€¥]?[^\W_]+(?:['\u2019.,\-][^\W_]+)*%?")


def word_spans(text: str) -> list[tuple[int, int]]:
    """Spans of the words of ``text`` as written (case and marks kept).

    The answer selector reads capitals and digits off these, so it sees the
    same words the highlighter marks.
    """
    return [m.span() for m in _WORD_RE.finditer(text)]


@dataclass(frozen=True)
class _Prepared:
    """A passage made ready to highlight for any question.

    ``html.escape`` replaces single characters, so escaping a passage piece
    by piece gives its escaped whole; each word's span in that escaped text
    is kept, and a question then costs a lookup per term and a few slices.
    """

    escaped: str
    spans: tuple[tuple[int, int], ...]  # word i: its span in ``escaped``
    by_term: dict[str, tuple[int, ...]]  # index term → the words that carry it


@lru_cache(maxsize=4096)
def _prepared(text: str, analyzer: Analyzer) -> _Prepared:
    """Cached by passage: the same passages are highlighted for question
    after question, and their words, terms and escaping never change."""
    pieces: list[str] = []
    spans = []
    word_terms = []
    pos = size = 0
    for s, e in word_spans(text):
        gap, word = html.escape(text[pos:s]), html.escape(text[s:e])
        pieces += (gap, word)
        size += len(gap)
        spans.append((size, size + len(word)))
        size += len(word)
        word_terms.append(analyzer.word_terms(text[s:e]))
        pos = e
    pieces.append(html.escape(text[pos:]))
    return _Prepared("".join(pieces), tuple(spans), positions_by_term(word_terms))


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
