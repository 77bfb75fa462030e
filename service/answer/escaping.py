"""A passage escaped for HTML once, whatever the question, with where each
of its words lies in the escaped text and which words carry each term:
marking a question's words then costs a lookup per term and a few slices
(:mod:`.highlight`).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from ..text.analysis import positions_by_term
from ..text.words import Words

#: The characters :func:`html.escape` replaces (with ``quote=True``).
_ESCAPED_RE = re.compile("[&<>\"']")


@dataclass(frozen=True)
class EscapedPassage:
    """A passage as escaped HTML, ready to highlight for any question."""

    text: str  # html.escape of the passage
    spans: tuple[tuple[int, int], ...]  # word i: its span in ``text``
    by_term: dict[str, tuple[int, ...]]  # index term → the words that carry it


def escape_passage(text: str, words: Words) -> EscapedPassage:
    """``text``, whose words (:func:`~service.text.words.passage_words`)
    are ``words``, escaped whole, once."""
    spans = list(zip(words.starts, words.ends))
    escaped = html.escape(text)
    if len(escaped) != len(text):
        spans = _escaped_spans(text, spans)
    return EscapedPassage(escaped, tuple(spans), positions_by_term(words.terms))


def _escaped_spans(text: str, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Where ``spans`` of ``text`` lie in ``html.escape(text)``: each
    character it replaces lengthens the text by its entity's length less
    one."""
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
