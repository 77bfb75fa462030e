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

from ..config import IndexSettings
from ..text.sentences import sentence_units
from .reader import Article

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


def make_passages(article: Article, settings: IndexSettings | None = None,
                  units: list[tuple[int, int, int, bool]] | None = None) -> list[Passage]:
    """Pack an article's sentences into passages (``max_words=0``: the whole
    article as one passage, trimmed of surrounding whitespace); ``units``:
    ``sentence_units(article.text)``, if the caller has them."""
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
    for _, group in groupby(sentence_units(text) if units is None else units, key=itemgetter(2)):
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
