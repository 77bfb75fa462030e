"""Words as written: spans in the original text with their index terms.

The highlighter marks these words and the answer reads capitals and digits
off them, so both see the very same words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .analysis import Analyzer, Memo

# Word-like runs in the *original* text (before normalisation), so spans
# are positions in the passage as shown.
WORD_RE = re.compile(r"[£$€¥]?[^\W_]+(?:['\u2019.,\-][^\W_]+)*%?")


#: A word as written → one string object for that spelling, so the
#: passage caches keep each distinct word once however many passages hold it.
_SPELLING = Memo(str)


def word_spans(text: str) -> list[tuple[int, int]]:
    """Spans of the words of ``text`` as written (case and marks kept)."""
    return list(map(re.Match.span, WORD_RE.finditer(text)))


@dataclass(frozen=True)
class Words:
    """The words of a passage as written, with their index terms: read once
    for both the highlighter and the answer selector, which reads capitals
    and digits off them, so it sees the very words the highlighter marks."""

    starts: tuple[int, ...]  # word i is text[starts[i]:ends[i]]
    ends: tuple[int, ...]
    surfaces: tuple[str, ...]
    terms: tuple[tuple[str, ...], ...]


def passage_words(text: str, analyzer: Analyzer) -> Words:
    """The words of ``text`` with their terms, read column by column with
    map(): a passage new to a server is read on the request path."""
    matches = list(WORD_RE.finditer(text))
    surfaces = tuple(map(_SPELLING.__getitem__, map(re.Match.group, matches)))
    return Words(tuple(map(re.Match.start, matches)), tuple(map(re.Match.end, matches)), surfaces,
                 tuple(map(analyzer.word_terms, surfaces)))
