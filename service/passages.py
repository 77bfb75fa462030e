"""Passages: an article → retrievable units of whole sentences.

A passage is a few consecutive sentences, packed up to ``max_words`` words
and ``max_sentences`` sentences, preferring to end where a paragraph ends.
A sentence is never cut, so a passage may exceed ``max_words`` only when one
sentence alone does.  Every passage is an exact slice of its article
(``article.text[start:end] == passage.text``), which is what lets every
answer point back at its source.

Short lines that are not sentences (headings, "Related article" tails,
bylines) are not passages of their own: they carry too few words to be
evidence yet, alone in a passage, BM25's length normalisation would make
them outrank real content.  A heading is kept with the prose that follows
it; headings with no prose after them are left out of the index.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter
from typing import Iterator

from .config import IndexSettings
from .corpus import Article

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


@dataclass(frozen=True)
class Passage:
    passage_id: str
    source_id: str
    n: int
    start: int
    end: int
    text: str


def passage_id(source_id: str, n: int) -> str:
    """The ID of passage ``n`` of a source: the one format the index, the
    API and the answers share (``#`` is barred from source IDs for it)."""
    return f"{source_id}#{n}"


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


def make_passages(article: Article, settings: IndexSettings | None = None) -> list[Passage]:
    """Pack an article's sentences into passages (``max_words=0``: the whole
    article as one passage, trimmed of surrounding whitespace)."""
    settings = settings or IndexSettings()
    text = article.text
    if settings.max_words == 0:
        start = len(text) - len(text.lstrip())
        end = len(text.rstrip())
        return [Passage(passage_id(article.source_id, 0), article.source_id, 0, start, end, text[start:end])]
    out: list[Passage] = []
    current: list[tuple[int, int, int]] = []  # (start, end, words) of sentences
    used = 0  # words in ``current``
    fresh = 0  # sentences in ``current`` not already in the previous passage
    heading_start: int | None = None

    def words(s: int, e: int) -> int:
        return len(text[s:e].split())

    def close() -> None:
        nonlocal current, heading_start, fresh, used
        if not fresh:
            return
        start = current[0][0] if heading_start is None else heading_start
        end = current[-1][1]
        n = len(out)
        out.append(Passage(passage_id(article.source_id, n), article.source_id, n, start, end, text[start:end]))
        heading_start = None
        keep = min(settings.overlap_sentences, len(current) - 1)
        current = current[len(current) - keep:] if keep else []
        used = sum(w for *_, w in current)
        fresh = 0

    def fits(extra_words: int, extra_sentences: int) -> bool:
        return (used + extra_words <= settings.max_words
                and len(current) + extra_sentences <= settings.max_sentences)

    # Units come in paragraph order, so grouping neighbours groups paragraphs.
    for _, group in groupby(sentence_units(text), key=itemgetter(2)):
        items = list(group)
        if items[0][3]:  # a heading paragraph
            close()
            current, used = [], 0  # overlap never reaches back across a heading
            if heading_start is None:
                heading_start = items[0][0]
            continue
        sents = [(s, e, words(s, e)) for s, e, _, _ in items]
        # Prefer a paragraph break: if the whole paragraph doesn't fit in
        # the current passage, end the passage here.
        if fresh and not fits(sum(w for *_, w in sents), len(sents)):
            close()
        for sent in sents:
            if fresh and not fits(sent[2], 1):
                close()
            while current and not fits(sent[2], 1):
                used -= current.pop(0)[2]  # overlap yields to the size limits
            current.append(sent)
            used += sent[2]
            fresh += 1
    close()
    return out


def passages_of(articles: list[Article], settings: IndexSettings | None = None) -> Iterator[Passage]:
    for article in articles:
        yield from make_passages(article, settings)
