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

from ..text.analysis import Analyzer, positions_by_term
from ..text.words import passage_words

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
