"""Passage caches: what is read of a passage whatever the question, kept
for the index it belongs to.

The same top passages come back question after question, and reading them
(their words and terms, their sentences, their escaped text) is most of
the work of answering and highlighting, so each is read once and kept, in
bounded LRUs.  An
index's caches hang on its analyzer, as ``analyzer.caches[PassageCaches]``:
each loaded index makes its own analyzer, so a worker that reloads its
index drops them with the old one, and no cache outlives the analyzer it
read with.
"""

from __future__ import annotations

from functools import lru_cache, partial

from ..text.analysis import Analyzer
from ..text.words import passage_words
from .escaping import escape_passage
from .reading import read_passage

#: Passages each cache keeps, the most recently used.
PASSAGES_KEPT = 4096


class PassageCaches:
    """The passages read with one analyzer (get them with
    ``analyzer.caches[PassageCaches]``)."""

    def __init__(self, analyzer: Analyzer, size: int = PASSAGES_KEPT) -> None:
        words = lru_cache(maxsize=size)(partial(passage_words, analyzer=analyzer))
        #: text → its words with their terms (read once for both caches below)
        self.words = words
        #: (text, its start in its source) → its sentences, for the answer
        self.reading = lru_cache(maxsize=size)(lambda text, base: read_passage(text, base, words(text)))
        #: text → its escaped text and words' spans, for the highlighter
        self.escaped = lru_cache(maxsize=size)(lambda text: escape_passage(text, words(text)))

    def clear(self) -> None:
        """Forget every passage (the analyzer still knows its words' terms)."""
        for cache in (self.words, self.reading, self.escaped):
            cache.cache_clear()
