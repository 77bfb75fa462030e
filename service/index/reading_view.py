"""Reading view: a loaded version's stored readings (:mod:`.readings`) by
passage number, with a question's terms found by their segment's ids.

A passage's reading is a handful of slices of its segment's memory maps
(plain ndarray views, whose slicing is cheap): nothing is read from the
text again and nothing is kept between requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from .segments import Segment
from .weighted import local_ids

#: ``(term ids, terms per word, wanted ids)`` → the words holding wanted terms and which.
TermHits = Callable[[np.ndarray, np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]

_WORD_COLUMNS = ("w_start", "w_len", "w_nterms", "w_cues")
_SENTENCE_COLUMNS = ("s_start", "s_end", "s_para", "s_first", "s_words", "s_nterms")


@dataclass(frozen=True)
class PassageWords:
    """One passage's stored reading (positions are from its start)."""

    columns: dict[str, np.ndarray]  # the word and sentence columns, sliced to this passage
    term_ids: np.ndarray  # its words' term ids, word after word
    term_name: Callable[[int], str]  # a term id → the term
    term_id: Callable[[str], int]  # a term → its id in this segment, -1 if none
    term_hits: TermHits  # :func:`.reading_kernels.term_hits` or :func:`term_hits_plain`

    def word_terms(self) -> list[tuple[int, ...]]:
        """Each word's term ids."""
        ids, out, pos = self.term_ids.tolist(), [], 0
        for n in self.columns["w_nterms"].tolist():
            out.append(tuple(ids[pos:pos + n]))
            pos += n
        return out

    def words_with(self, terms: Sequence[str]) -> tuple[list[int], list[str]]:
        """The words carrying any of ``terms``: for each of their terms that
        is one, in text order, the word's index and the term."""
        return self.words_with_ids(*wanted_ids(self.term_id, terms))

    def words_with_ids(self, ids: np.ndarray, names: list[str]) -> tuple[list[int], list[str]]:
        """:meth:`words_with` for terms already looked up (:func:`wanted_ids`
        with this passage's ``term_id``): a request's passages of one
        segment share the lookup."""
        if not names:
            return [], []
        words, which = self.term_hits(self.term_ids, self.columns["w_nterms"], ids)
        return words.tolist(), list(map(names.__getitem__, which.tolist()))


def wanted_ids(term_id: Callable[[str], int], terms: Sequence[str]) -> tuple[np.ndarray, list[str]]:
    """The ids (by ``term_id``) of those of ``terms`` that have one, and those terms."""
    found = [(i, t) for i, t in zip(map(term_id, terms), terms) if i >= 0]
    return np.array([i for i, _ in found], dtype=np.int64), [t for _, t in found]


def term_hits_plain(term_ids: np.ndarray, nterms: np.ndarray, wanted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`.reading_kernels.term_hits` in NumPy: what a one-shot reader
    uses, as loading the compiled kernel costs more than its few passages."""
    same = np.asarray(term_ids)[:, None] == np.asarray(wanted)[None, :]
    found = same.any(axis=1)
    words = np.repeat(np.arange(len(nterms), dtype=np.int64), np.asarray(nterms, dtype=np.int64))
    which = same.argmax(axis=1) if len(wanted) else np.zeros(len(found), dtype=np.int64)
    return words[found], which[found].astype(np.int64)


class _Part:
    """One segment's readings and how its term ids are found."""

    def __init__(self, seg: Segment, gid: np.ndarray, vocab: dict[str, int], first: bool) -> None:
        r = seg.readings
        self.columns = {k: np.asarray(v) for k, v in r.arrays.items()}
        n_terms = len(seg.arrays.terms)
        self.names = seg.arrays.terms + r.extra_terms
        self._extra = {t: n_terms + k for k, t in enumerate(r.extra_terms)}
        self._vocab, self._n_terms = vocab, n_terms
        # The first segment's ids are the global ones (collection_stats
        # numbers its vocabulary first); the others' are found by inverting.
        self._local = None if first else local_ids(gid, len(vocab))

    def term_id(self, term: str) -> int:
        g = self._vocab.get(term)
        if g is not None:
            local = (g if g < self._n_terms else -1) if self._local is None else int(self._local[g])
            if local >= 0:
                return local
        return self._extra.get(term, -1)


class ReadingView:
    """The stored readings of every segment of a loaded version, by the
    version's passage numbers."""

    def __init__(self, segments: Sequence[Segment], gids: Sequence[np.ndarray], vocab: dict[str, int],
                 compiled: bool = True) -> None:
        """``compiled``: find a question's words with the compiled kernel
        (numba, loaded now), else with :func:`term_hits_plain`."""
        if compiled:
            from .reading_kernels import term_hits
        self._term_hits: TermHits = term_hits if compiled else term_hits_plain
        self._parts = [_Part(seg, gid, vocab, j == 0) for j, (seg, gid) in enumerate(zip(segments, gids))]
        self._offsets = np.cumsum([0] + [seg.arrays.n_docs for seg in segments])

    def passage(self, doc: int) -> PassageWords:
        """The reading of passage ``doc``."""
        if len(self._parts) == 1:  # a compacted index: no segment to find
            part, local = self._parts[0], doc
        else:
            j = int(np.searchsorted(self._offsets, doc, side="right")) - 1
            part, local = self._parts[j], doc - int(self._offsets[j])
        c = part.columns
        w0, w1 = int(c["r_words"][local]), int(c["r_words"][local + 1])
        s0, s1 = int(c["r_sents"][local]), int(c["r_sents"][local + 1])
        t0, t1 = int(c["r_terms"][local]), int(c["r_terms"][local + 1])
        columns = {k: c[k][w0:w1] for k in _WORD_COLUMNS} | {k: c[k][s0:s1] for k in _SENTENCE_COLUMNS}
        return PassageWords(columns, c["w_terms"][t0:t1], part.names.__getitem__, part.term_id, self._term_hits)
