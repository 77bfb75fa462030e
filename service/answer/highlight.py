"""Highlighting: mark the question's words in a passage, safely.

The text is escaped first and marked second: every character of the source
goes through :func:`html.escape` (:mod:`.escaping`), and the only markup
added is ``<mark>`` around whole words whose index term is one of the
question's.  No user text ever reaches a regular expression: the patterns
are fixed, and matching is done by comparing analyzed terms.
"""

from __future__ import annotations

from itertools import chain
from typing import Collection

from ..text.analysis import Analyzer
from .caches import PassageCaches
from .escaping import EscapedPassage


def _matched_words(escaped: EscapedPassage, terms: Collection[str]) -> list[int]:
    """Indices, in text order, of the words carrying any of ``terms``."""
    by_term = escaped.by_term
    return sorted(set(chain.from_iterable(map(by_term.__getitem__, by_term.keys() & terms))))


def highlight(text: str, terms: Collection[str], analyzer: Analyzer) -> str:
    """``text`` as escaped HTML with the words carrying any of ``terms`` in
    ``<mark>``; with no terms, the escaped text alone."""
    escaped = analyzer.caches[PassageCaches].escaped(text)
    html = escaped.text
    out = []
    pos = 0
    for i in _matched_words(escaped, terms):
        start, end = escaped.spans[i]
        out += (html[pos:start], "<mark>", html[start:end], "</mark>")
        pos = end
    out.append(html[pos:])
    return "".join(out)
