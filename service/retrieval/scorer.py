"""The BM25 scorer over an index's segments: exact, pruned top-k and match counts."""

from __future__ import annotations

import threading
from typing import Callable, Sequence

import numpy as np

from ..index.arrays import Bm25Arrays, CollectionStats
from . import block_kernels, kernels, segment_kernels
from .plain_scorer import query_ids, tie_ranks

#: The kernels' "every passage" mask.
ALL = np.empty(0, dtype=np.uint64)


def mask_bits(allowed: np.ndarray | None, n_docs: int) -> np.ndarray:
    """The kernels' bitmap of ``allowed`` (a bool or 0/1 array, one entry a
    passage; None: every passage), 64 passages a word."""
    if allowed is None:
        return ALL
    allowed = np.asarray(allowed)
    if allowed.shape != (n_docs,):
        raise ValueError(f"a passage mask has one entry per passage ({n_docs}), not {allowed.shape}")
    packed = np.packbits(allowed.astype(bool), bitorder="little")
    words = np.zeros((n_docs + 63) // 64 * 8, dtype=np.uint8)
    words[:len(packed)] = packed
    return words.view("<u8").astype(np.uint64, copy=False)


class Bm25Scorer:
    """Scores queries against one segment's :class:`Bm25Arrays`.

    Top-k is exact and pruned (:func:`service.retrieval.block_kernels.top_k`);
    ``total`` is a separate exact union count, cheap through the frequent
    terms' bitmaps, because pruning skips exactly the long lists a count
    would otherwise have to walk.  Every top-k and count takes ``allowed``,
    a mask of the passages that may be returned and counted (a filter, or
    the passages not deleted; None: all), applied inside the kernels so
    the filtered top-k is exact.  Construction runs every kernel once on
    these arrays, so compiling (or loading the compiled code from numba's
    cache) happens at load time, never in a user's query.
    """

    def __init__(self, arrays: Bm25Arrays, vocab: dict[str, int] | None = None,
                 live: np.ndarray | None = None) -> None:
        self.arrays = arrays
        #: term → id in ``arrays`` (given when already built: a lone
        #: segment's ids are the collection's).
        self.vocab = vocab if vocab is not None else {t: i for i, t in enumerate(arrays.terms)}
        #: The passages not deleted (bool per passage; None: all), and as
        #: the kernels' bitmap: every search is limited to them.
        self._live = live
        self._live_bits = mask_bits(live, arrays.n_docs)
        # Plain ndarray views of the memory maps: numba dispatches on them
        # several microseconds faster than on np.memmap, sharing the pages.
        # ``postings`` is (ptr, docs, weights, max_weight), what the kernels take.
        a = arrays
        self.postings = tuple(np.asarray(x) for x in (a.ptr, a.docs, a.weights, a.max_weight))
        self._idf, self._df = np.asarray(a.idf), np.asarray(a.df)
        self._bitmaps = (np.asarray(a.bitmap_row), np.asarray(a.bitmaps))
        #: Per frequent term and block of passages, a bound of its weights
        #: there: from these weights, so they hold for this version's statistics.
        self._bounds = block_kernels.block_bounds(*self.postings, self._bitmaps[0], self._bitmaps[1].shape[0],
                                                  arrays.n_docs)
        self._local = threading.local()  # per-thread accumulator (see _scratch)
        if arrays.terms:
            one = np.zeros(1, dtype=np.int64)
            self._top_k_ids(one, np.ones(1), 1, ALL)
            self._accumulate(one, np.ones(1))
            self._union_count(np.zeros(2, dtype=np.int64), ALL)
            self._union_docs(one, ALL)
            kernels.scores_of(*self.postings[:3], self._df, one, np.ones(1), one)

    def _scratch(self) -> tuple[np.ndarray, np.ndarray]:
        """This thread's zeroed score and mark arrays, one slot a document;
        the kernel leaves them zeroed, so they are allocated once."""
        s = getattr(self._local, "arrays", None)
        if s is None:
            n = self.arrays.n_docs
            s = self._local.arrays = (np.zeros(n), np.zeros(n, dtype=np.uint8))
        return s

    def query_ids(self, query_terms: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """:func:`query_ids` in this segment's vocabulary."""
        return query_ids(self.vocab, query_terms)

    def _accumulate(self, ids: np.ndarray, mul: np.ndarray) -> np.ndarray:
        ptr, docs, weights, _ = self.postings
        return kernels.accumulate(ptr, docs, weights, self._df, ids, mul, self.arrays.n_docs)

    def _top_k_ids(self, ids: np.ndarray, mul: np.ndarray, k: int,
                   allow: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        acc, mark = self._scratch()
        return block_kernels.top_k(*self.postings, self._idf, self._df, *self._bitmaps, self._bounds, ids, mul, k,
                                   acc, mark, allow, -np.inf)

    def _union_count(self, ids: np.ndarray, allow: np.ndarray) -> int:
        ptr, docs = self.postings[:2]
        return int(kernels.union_count(ptr, docs, *self._bitmaps, ids, self.arrays.n_docs, allow))

    def _union_docs(self, ids: np.ndarray, allow: np.ndarray) -> np.ndarray:
        ptr, docs = self.postings[:2]
        return kernels.union_docs(ptr, docs, *self._bitmaps, ids, self.arrays.n_docs, allow)

    def matches(self, query_terms: Sequence[str], allowed: np.ndarray | None = None) -> np.ndarray:
        """The ascending ids of the passages of ``allowed`` sharing a term
        with the query: the passages ``total`` counts."""
        ids, _ = self.query_ids(query_terms)
        if not len(ids):
            return np.empty(0, np.int64)
        return self._union_docs(ids, self._allow(allowed))

    def _allow(self, allowed: np.ndarray | None) -> np.ndarray:
        """The kernels' bitmap of the live passages of ``allowed``."""
        if allowed is None:
            return self._live_bits
        allowed = np.asarray(allowed, dtype=bool)
        return mask_bits(allowed if self._live is None else allowed & self._live, self.arrays.n_docs)

    def scores(self, query_terms: Sequence[str]) -> np.ndarray:
        """Dense scores of every document: ``BM25Okapi.get_scores``."""
        ids, mul = self.query_ids(query_terms)
        if not len(ids):
            return np.zeros(self.arrays.n_docs)
        return self._accumulate(ids, mul)

    def scores_of(self, query_terms: Sequence[str], docs: np.ndarray) -> np.ndarray:
        """The scores of ``docs`` (ascending ids) alone, equal to
        :meth:`scores` at those ids: cheap for a few documents of a big index."""
        ids, mul = self.query_ids(query_terms)
        if not len(ids) or not len(docs):
            return np.zeros(len(docs))
        ptr, all_docs, weights, _ = self.postings
        return kernels.scores_of(ptr, all_docs, weights, self._df, ids, mul,
                                 np.ascontiguousarray(docs, dtype=np.int64))

    def doc_freq(self, term: str) -> int:
        """How many live passages of the collection hold ``term`` (0 if none)."""
        i = self.vocab.get(term)
        return 0 if i is None else int(self._df[i])

    def top_k(self, query_terms: Sequence[str], k: int,
              allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, int]:
        """The ``k`` best documents sharing a term with the query, among
        ``allowed`` (a mask over passages; None: all).

        Returns ``(doc ids, scores, total matched)``; ties are broken by doc
        id, ascending, so results never depend on sort stability.  Scores
        are those of :meth:`scores`, bit for bit.
        """
        ids, mul = self.query_ids(query_terms)
        if not len(ids) or k <= 0:
            return np.empty(0, np.int64), np.empty(0), 0
        allow = self._allow(allowed)
        docs, scores = self._top_k_ids(ids, mul, k, allow)
        return docs, scores, self._union_count(ids, allow)


class SegmentedScorer:
    """Scores queries against every segment of a version, as one collection.

    Passage ids run through the segments one after the other (segment
    ``i``'s passage ``d`` is ``offsets[i] + d``).  Each segment's weights
    use the collection's statistics, so its scores are the full rebuild's;
    their exact top-k are merged by score, ties by the passage's place in
    a full rebuild (source ID, then passage number: ``tie_key``), since
    segment order is not that order.
    """

    def __init__(self, parts: list[Bm25Scorer], tie_key: Callable[[int], tuple],
                 stats: CollectionStats, gids: list[np.ndarray], p_source: np.ndarray,
                 sources: Sequence[dict]) -> None:
        """``stats``: the collection's; ``gids``: per segment, its terms'
        collection ids; ``p_source``/``sources``: each passage's source
        (collection numbering) and the sources (their IDs order ties)."""
        self.parts = parts
        self.offsets = np.cumsum([0] + [p.arrays.n_docs for p in parts])
        self._tie_key = tie_key
        self._largest_first = np.argsort([-p.arrays.n_docs for p in parts], kind="stable").tolist()
        self._vocab = stats.vocab
        if len(parts) > 1:  # the tables of the one kernel over every segment
            self._idf = np.asarray(stats.idf)
            self._table = _address_table(parts)
            self._terms = _term_segments(gids, len(stats.vocab))
            self._visit = np.asarray(self._largest_first, dtype=np.int64)
            self._rank, self._by_rank = tie_ranks(np.asarray(p_source), [x["id"] for x in sources])
            self._largest = parts[self._largest_first[0]]
            self._top_k_segments(np.zeros(1, dtype=np.int64), np.ones(1), 1, ALL)  # compiled code loaded now

    def _top_k_segments(self, ids: np.ndarray, mul: np.ndarray, k: int, filt: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray, int, int]:
        acc, mark = self._largest._scratch()
        return segment_kernels.top_k_segments(
            *self._table, self.offsets, self._visit, *self._terms,
            self._idf, ids, mul, k, filt, self._rank, self._by_rank, acc, mark)

    def _split(self, allowed: np.ndarray | None) -> list[np.ndarray | None]:
        if allowed is None:
            return [None] * len(self.parts)
        return [allowed[a:b] for a, b in zip(self.offsets, self.offsets[1:])]

    def top_k(self, query_terms: Sequence[str], k: int,
              allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, int]:
        """:meth:`Bm25Scorer.top_k` over the whole collection.

        One compiled call over every segment
        (:func:`segment_kernels.top_k_segments`): largest first, sharing
        the k-th best score found so far, so a segment whose query terms'
        largest weights together fall short of it is not scored at all and
        the others are scored from it, and the many small segments of an
        archive cost little more than their match counts.  Equal to
        :meth:`top_k_plain`.
        """
        return self.top_k_visits(query_terms, k, allowed)[0]

    def top_k_visits(self, query_terms: Sequence[str], k: int, allowed: np.ndarray | None = None
                     ) -> tuple[tuple[np.ndarray, np.ndarray, int], int]:
        """:meth:`top_k`, and how many segments were scored (not skipped)."""
        if len(self.parts) == 1:
            return self.parts[0].top_k(query_terms, k, allowed), 1
        ids, mul = query_ids(self._vocab, query_terms)
        if not len(ids) or k <= 0:
            return (np.empty(0, np.int64), np.empty(0), 0), 0
        filt = mask_bits(allowed, int(self.offsets[-1]))
        docs, scores, total, scored = self._top_k_segments(ids, mul, k, filt)
        return (docs, scores, int(total)), int(scored)

    def top_k_plain(self, query_terms: Sequence[str], k: int,
                    allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, int]:
        """Every segment's own exact top-k, merged: what :meth:`top_k` must equal."""
        found = [p.top_k(query_terms, k, a) for p, a in zip(self.parts, self._split(allowed))]
        return self._merge([d + off for (d, _, _), off in zip(found, self.offsets)],
                           [s for _, s, _ in found], k, sum(t for _, _, t in found))

    def _merge(self, found_docs: list[np.ndarray], found_scores: list[np.ndarray], k: int,
               total: int) -> tuple[np.ndarray, np.ndarray, int]:
        """The k best of the segments' candidates (collection ids), by
        score, ties by ``tie_key``."""
        if not found_docs:
            return np.empty(0, np.int64), np.empty(0), total
        docs, scores = np.concatenate(found_docs), np.concatenate(found_scores)
        order = np.argsort(-scores, kind="stable")
        if len(order) > k:  # only those reaching the k-th score can be in the top k
            order = order[scores[order] >= scores[order[k - 1]]]
        key = self._tie_key
        best = sorted(order.tolist(), key=lambda i: (-scores[i], key(int(docs[i]))))[:k]
        return docs[best].astype(np.int64), scores[best], total

    def matches(self, query_terms: Sequence[str], allowed: np.ndarray | None = None) -> np.ndarray:
        """:meth:`Bm25Scorer.matches` over the whole collection."""
        return np.concatenate([p.matches(query_terms, a) + off
                               for p, a, off in zip(self.parts, self._split(allowed), self.offsets)])

    def scores_of(self, query_terms: Sequence[str], docs: np.ndarray) -> np.ndarray:
        """:meth:`Bm25Scorer.scores_of` over the whole collection (ascending ``docs``)."""
        docs = np.asarray(docs, dtype=np.int64)
        cuts = np.searchsorted(docs, self.offsets)
        return np.concatenate([np.zeros(0)] + [
            p.scores_of(query_terms, docs[a:b] - off)
            for p, off, a, b in zip(self.parts, self.offsets, cuts, cuts[1:])])

    def scores(self, query_terms: Sequence[str]) -> np.ndarray:
        """Dense scores of every passage, deleted ones too (mask them with ``live``)."""
        return np.concatenate([p.scores(query_terms) for p in self.parts])

    def doc_freq(self, term: str) -> int:
        """How many live passages of the collection hold ``term``."""
        return max(p.doc_freq(term) for p in self.parts)


def _address_table(parts: list[Bm25Scorer]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per segment, the data address and length of each array
    :mod:`segment_kernels` reads (:data:`segment_kernels.COLUMNS`), and
    the segments' sizes.  The arrays are the parts' own, which they keep alive."""
    cols = segment_kernels.COLUMNS
    addr = np.zeros((len(parts), len(cols)), dtype=np.int64)
    n = np.zeros((len(parts), len(cols)), dtype=np.int64)
    for s, p in enumerate(parts):
        a = p.arrays
        ptr, docs, weights, max_weight = p.postings
        arrays = (ptr, docs, weights, max_weight, p._idf, p._df, p._bitmaps[0], p._bitmaps[1], p._bounds,
                  p._live_bits)
        for c, (x, dtype) in enumerate(zip(arrays, segment_kernels.DTYPES)):
            if x.dtype != dtype or not x.flags.c_contiguous:
                raise ValueError(f"segment {s}: {cols[c]} is not a contiguous {np.dtype(dtype)} array")
            addr[s, c] = x.ctypes.data
            n[s, c] = x.shape[0]
        if p._bitmaps[1].shape[1:] not in ((), ((a.n_docs + 63) // 64,)):
            raise ValueError(f"segment {s}: its bitmaps do not have one bit per passage")
        if p._bounds.shape != (p._bitmaps[1].shape[0], (a.n_docs + block_kernels.BLOCK - 1) >> block_kernels.SHIFT):
            raise ValueError(f"segment {s}: its block bounds do not have one byte per block and frequent term")
    return addr, n, np.array([p.arrays.n_docs for p in parts], dtype=np.int64)


def _term_segments(gids: list[np.ndarray], n_terms: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per collection term, the segments holding it and its id in each:
    ``(first, segment, local)``, entries ``first[g]:first[g + 1]`` for term ``g``."""
    g = np.concatenate(gids)
    seg = np.repeat(np.arange(len(gids), dtype=np.int64), [len(x) for x in gids])
    local = np.concatenate([np.arange(len(x), dtype=np.int64) for x in gids])
    order = np.argsort(g, kind="stable")
    first = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(np.bincount(g, minlength=n_terms), out=first[1:])
    return first, seg[order], local[order]
