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
from functools import lru_cache
from typing import Collection

from .analysis import Analyzer

# Word-like runs in the *original* text (before normalisation), so spans
# are positions in the passage as shown.
_WORD_RE = re.compile(r"[£$€¥]?[^\W_]+(?:['\u2019.,\-][^\W_]+)*%?")


def word_spans(text: str) -> list[tuple[int, int]]:
    """Spans of the words of ``text`` as written (case and marks kept).

    The answer selector reads capitals and digits off these, so it sees the
    same words the highlighter marks.
    """
    return [m.span() for m in _WORD_RE.finditer(text)]


@lru_cache(maxsize=4096)
def _indexed_words(text: str, analyzer: Analyzer) -> tuple[tuple[int, int, frozenset[str]], ...]:
    """Every word span of a passage with its index terms, cached by passage:
    the same passages are highlighted for question after question."""
    return tuple((s, e, analyzer.word_terms(text[s:e])) for s, e in word_spans(text))


def matched_spans(text: str, terms: Collection[str], analyzer: Analyzer) -> list[tuple[int, int]]:
    """Spans of words in ``text`` whose index term is in ``terms``."""
    wanted = set(terms)
    if not wanted:
        return []
    return [(s, e) for s, e, word_terms in _indexed_words(text, analyzer) if not wanted.isdisjoint(word_terms)]


def highlight(text: str, terms: Collection[str], analyzer: Analyzer) -> str:
    """``text`` as escaped HTML with the matching words in ``<mark>``."""
    out = []
    pos = 0
    for start, end in matched_spans(text, terms, analyzer):
        out.append(html.escape(text[pos:start]))
        out.append("<mark>" + html.escape(text[start:end]) + "</mark>")
        pos = end
    out.append(html.escape(text[pos:]))
    return "".join(out)
