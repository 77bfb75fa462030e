"""Sentences and paragraphs: where the units of an article's text begin and end.

Shared by the index (passages are packed from whole sentences) and the
answer (which quotes whole sentences), so both cut the text the same way.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from typing import Iterator

# A paragraph break: a line holding only spaces or tabs.
_BLANK_LINE_RE = re.compile(r"\n[ \t]*\n")
_NON_SPACE_RE = re.compile(r"\S")
# A candidate end of sentence: terminal punctuation, closing quotes or
# brackets, then whitespace.  Whether it is a real end is decided below.
_END_RE = re.compile(r"[.!?\u2026]+[\"'\u201d\u2019)\]]*(?=\s+)")
_NEXT_START_RE = re.compile(r"\s+[\"'\u201c\u2018(\[]*[^\W_a-z]", re.UNICODE)
_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sir st rev gen col lt sgt capt cllr hon jr sr
    co corp inc ltd plc llc dept univ assn bros no nos vol vols fig figs
    e.g i.e etc vs cf al approx est jan feb mar apr jun jul aug sep sept oct nov dec
    u.s u.k u.n a.m p.m""".split()
)
# The word before a dot: back to a space, an opening quote or bracket.
_WORD_BEFORE_RE = re.compile("[^\\s(\"'\u201c]*\\Z")
_ABBREVIATION_WINDOW = 2 + max(map(len, _ABBREVIATIONS))
_TERMINAL = (".", "!", "?", "\u2026", '"', "'", "\u201d", "\u2019", ")", ":")
HEADING_MAX_WORDS = 12



def _is_abbreviation(text: str, dot: int) -> bool:
    """Is the '.' at ``dot`` the end of an abbreviation or an initial?

    The word before the dot runs back to a space or an opening quote or
    bracket.  Only the last ``_ABBREVIATION_WINDOW`` characters are looked
    at: a longer word is no abbreviation, cut or not.
    """
    word = _WORD_BEFORE_RE.search(text, max(0, dot - _ABBREVIATION_WINDOW), dot).group().lower()
    if not word:
        return False
    if len(word) == 1 and word.isalpha():  # an initial: "J. Smith"
        return True
    return word in _ABBREVIATIONS or word.rstrip(".") in _ABBREVIATIONS


def _skip_space(text: str, pos: int) -> int:
    """The first non-space position at or after ``pos`` (or the end)."""
    m = _NON_SPACE_RE.search(text, pos)
    return m.start() if m else len(text)


def split_sentences(text: str, offset: int = 0) -> list[tuple[int, int]]:
    """Sentence spans ``(start, end)`` in ``text`` (shifted by ``offset``)."""
    spans = []
    start = _skip_space(text, 0)
    for m in _END_RE.finditer(text):
        end = m.end()
        if end <= start:
            continue
        nxt = _NEXT_START_RE.match(text, end)
        if nxt is None:
            continue
        if text[m.start()] == "." and m.end() - m.start() == 1 and _is_abbreviation(text, m.start()):
            continue
        spans.append((start + offset, end + offset))
        start = _skip_space(text, end)
    tail = text[start:].rstrip()
    if tail:
        spans.append((start + offset, start + len(tail) + offset))
    return spans


def is_heading(paragraph: str) -> bool:
    """A short line without sentence-final punctuation is not a sentence."""
    stripped = paragraph.rstrip()
    return len(stripped.split()) <= HEADING_MAX_WORDS and not stripped.endswith(_TERMINAL)


def paragraphs(text: str) -> Iterator[tuple[int, int]]:
    """Spans of blank-line separated paragraphs, trimmed.

    A paragraph ends at a non-space character followed by a blank line, or
    at the text's last non-space character.  A paragraph of a single
    character runs on to the next end (a quirk of the original one-regex
    definition, kept so indexes do not change; a test pins the two
    together).  Scanning for blank lines is linear and fast, where the
    lazy regex tried a lookahead at every character.
    """
    pos = 0
    for m in _BLANK_LINE_RE.finditer(text):
        end = m.start()
        if end == 0 or text[end - 1].isspace():
            continue
        start = _NON_SPACE_RE.search(text, pos).start()
        if start + 1 >= end:
            continue
        yield start, end
        pos = end
    first = _NON_SPACE_RE.search(text, pos)
    if first is not None:
        yield first.start(), len(text.rstrip())


def sentence_units(text: str) -> list[tuple[int, int, int, bool]]:
    """``(start, end, paragraph_no, is_heading)`` for every unit of ``text``."""
    units = []
    for pno, (ps, pe) in enumerate(paragraphs(text)):
        para = text[ps:pe]
        if is_heading(para):
            units.append((ps, pe, pno, True))
        else:
            units.extend((s, e, pno, False) for s, e in split_sentences(para, ps))
    return units


def clipped_units(text: str, units: list[tuple[int, int, int, bool]], start: int, end: int
                  ) -> list[tuple[int, int, int]] | None:
    """The sentences ``(start, end, paragraph_no)`` of ``sentence_units(text[start:end])``
    (headings left out), taken from ``units``, the whole text's, for a span
    that begins and ends at units' edges (a passage); None where they may
    differ: a paragraph the span cuts that reads as a heading on its own, or
    a cut one of a single character (see :func:`paragraphs`).

    A cut paragraph splits into the same sentences: sentence ends look
    ahead only to the next sentence's start, abbreviations back only to
    the space before their word.
    """
    i = bisect_left(units, (start,))
    j = bisect_left(units, (end,), i)
    inside = units[i:j]
    if not inside:
        return []
    first_pno, last_pno = inside[0][2], inside[-1][2]
    for cut, pno in ((i > 0 and units[i - 1][2] == first_pno, first_pno),
                     (j < len(units) and units[j][2] == last_pno, last_pno)):
        if cut:
            para = [u for u in inside if u[2] == pno]
            ps, pe = para[0][0], para[-1][1]
            if pe - ps <= 1 or is_heading(text[ps:pe]):
                return None
    return [(s - start, e - start, pno - first_pno) for s, e, pno, heading in inside if not heading]
