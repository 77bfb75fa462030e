"""Highlighting: mark the question's words in a passage, safely.

Every character of the source goes through :func:`html.escape`, and the
only markup added is ``<mark>`` around whole words whose index term is one
of the question's.  No user text ever reaches a regular expression:
matching is done by comparing analyzed terms.  Escaping is character by
character, so the gaps and the marked words are escaped apart.

:func:`plain_highlight` is the definition, reading the words from the
text; :func:`highlight`, on the request path, finds them in the words the
index stored for the passage (:mod:`service.index.readings`), and gives the
same (a test compares them).
"""

from __future__ import annotations

import html
import re
from typing import Callable, Collection, Iterable

from ..retrieval.retriever import Hit, Retriever
from ..text.analysis import Analyzer
from ..text.words import word_spans
from .reading import StoredPassage, passage_reader


def _marked(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """``text`` escaped, with the words at ``spans`` (in order) in ``<mark>``."""
    out, pos = [], 0
    for s, e in spans:
        out += (html.escape(text[pos:s]), "<mark>", html.escape(text[s:e]), "</mark>")
        pos = e
    out.append(html.escape(text[pos:]))
    return "".join(out)


#: What :func:`html.escape` changes (``quote=True``).
_ESCAPED = re.compile("[&<>\"']")


def _marked_fast(text: str, spans: Iterable[tuple[int, int]]) -> str:
    """:func:`_marked`, escaping the text once: most passages have nothing
    to escape, and then the marks go in at the same places (escaping is
    character by character, so the whole is the pieces' concatenation)."""
    if _ESCAPED.search(text):  # something to escape: the pieces apart
        return _marked(text, spans)
    out, pos = [], 0
    for s, e in spans:
        out += (text[pos:s], "<mark>", text[s:e], "</mark>")
        pos = e
    out.append(text[pos:])
    return "".join(out)


def plain_highlight(text: str, terms: Collection[str], analyzer: Analyzer) -> str:
    """``text`` as escaped HTML with the words carrying any of ``terms`` in
    ``<mark>``, each word read from the text; with no terms, the escaped text."""
    wanted = set(terms)
    return _marked(text, ((s, e) for s, e in word_spans(text)
                          if not wanted.isdisjoint(analyzer.word_terms(text[s:e]))))


def highlight(hit: Hit, terms: Collection[str], retriever: Retriever,
              read: Callable[[Hit], StoredPassage] | None = None) -> str:
    """:func:`plain_highlight` of ``hit``'s text, from its stored words
    (``read``: the request's passage reader, whose passages the answer may
    have read already)."""
    if not terms:
        return html.escape(hit.text)
    passage = (read or passage_reader(retriever, list(terms)))(hit)
    found, _ = passage.words_with(terms)
    if not found:
        return html.escape(hit.text)
    found = list(dict.fromkeys(found))  # a word of two wanted terms, once
    columns = passage.columns
    starts, lens = columns["w_start"][found].tolist(), columns["w_len"][found].tolist()
    return _marked_fast(hit.text, zip(starts, map(int.__add__, starts, lens)))
