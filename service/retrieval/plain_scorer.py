"""The plain scorer: BM25 over an index's segments in NumPy alone, nothing
compiled and nothing weighed ahead of the question.

It is what a process that asks one question uses (``python -m service
ask``): loading numba and the compiled kernels' cached code and weighing
every posting of the collection (:func:`service.index.arrays.weigh`) cost
well over a second at start, while one question walks a few thousand
postings.  Each query weighs its own terms' postings with rank-bm25's
expression, operation for operation as :func:`service.index.arrays.weigh`
and its kernel do, and adds them into one accumulator per passage term by
term, lowest collection df first (the kernels' order), so its scores are
:class:`service.retrieval.scorer.SegmentedScorer`'s bit for bit and its
top-k is the same, ties by passage ID.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..config import IndexSettings
from ..index.arrays import CollectionStats, SegmentArrays
from ..index.weighted import local_ids


def query_ids(vocab: dict[str, int], query_terms: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Distinct known term ids in query order, and how often each occurs.

    rank-bm25 adds a term's weight once per occurrence in the query, so
    a repeated term counts with its multiplicity; unknown terms add 0.
    """
    counts: dict[int, int] = {}
    for t in query_terms:
        i = vocab.get(t)
        if i is not None:
            counts[i] = counts.get(i, 0) + 1
    ids = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
    mul = np.fromiter(counts.values(), dtype=np.float64, count=len(counts))
    return ids, mul


class PlainScorer:
    """:class:`service.retrieval.scorer.SegmentedScorer`'s searches, in NumPy."""

    def __init__(self, segments: Sequence[SegmentArrays], gids: Sequence[np.ndarray], stats: CollectionStats,
                 settings: IndexSettings, live: np.ndarray | None, p_source: np.ndarray,
                 source_ids: Sequence[str]) -> None:
        """``gids``: per segment, its terms' collection ids; ``live``: the
        passages not deleted (None: all); ``p_source``/``source_ids``: each
        passage's source and the sources' IDs (they order ties)."""
        self._segments = segments
        self._stats = stats
        self._k1, self._b = settings.k1, settings.b
        self._live = live
        #: Segment ``i``'s passage ``d`` is passage ``offsets[i] + d``.
        self.offsets = np.cumsum([0] + [s.n_docs for s in segments])
        # The first segment's ids are the collection's (collection_stats
        # numbers its terms first); within one segment, passage order is a
        # full rebuild's, across several it is not.
        self._local = [None] + [local_ids(g, len(stats.vocab)) for g in gids[1:]]
        self._rank = tie_ranks(np.asarray(p_source), source_ids)[0] if len(segments) > 1 else None

    def _accumulate(self, query_terms: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Every passage's score (deleted ones too) and whether it holds a query term."""
        n = int(self.offsets[-1])
        acc, hit = np.zeros(n), np.zeros(n, dtype=bool)
        ids, mul = query_ids(self._stats.vocab, query_terms)
        order = np.argsort(self._stats.df[ids], kind="stable")
        k1, b, avgdl = self._k1, self._b, self._stats.avgdl
        for seg, local, off in zip(self._segments, self._local, self.offsets.tolist()):
            ptr, doc_len = seg.ptr, seg.doc_len
            for i in order.tolist():
                g = int(ids[i])
                t = (g if g < len(seg.terms) else -1) if local is None else int(local[g])
                if t < 0:
                    continue
                lo, hi = int(ptr[t]), int(ptr[t + 1])
                docs = np.asarray(seg.docs[lo:hi], dtype=np.int64)
                tf = np.asarray(seg.tfs[lo:hi], dtype=np.float64)
                norm = k1 * (1 - b + b * np.asarray(doc_len)[docs] / avgdl)
                weights = self._stats.idf[g] * (tf * (k1 + 1) / (tf + norm))
                acc[docs + off] += weights * mul[i]
                hit[docs + off] = True
        return acc, hit

    def _matched(self, hit: np.ndarray, allowed: np.ndarray | None) -> np.ndarray:
        if self._live is not None:
            hit &= self._live
        if allowed is not None:
            hit &= np.asarray(allowed, dtype=bool)
        return np.flatnonzero(hit)

    def top_k(self, query_terms: Sequence[str], k: int,
              allowed: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, int]:
        """The ``k`` best live passages of ``allowed`` sharing a term with
        the query: ``(passage ids, scores, total matched)``, ties by passage ID."""
        if k <= 0:
            return np.empty(0, np.int64), np.empty(0), 0
        acc, hit = self._accumulate(query_terms)
        docs = self._matched(hit, allowed)
        total, scores = len(docs), acc[docs]
        if total > k:  # only those reaching the k-th score can be in the top k
            keep = scores >= np.partition(scores, total - k)[total - k]
            docs, scores = docs[keep], scores[keep]
        best = np.lexsort((docs if self._rank is None else self._rank[docs], -scores))[:k]
        return docs[best].astype(np.int64), scores[best], total

    def matches(self, query_terms: Sequence[str], allowed: np.ndarray | None = None) -> np.ndarray:
        """The ascending ids of the live passages of ``allowed`` sharing a term with the query."""
        return self._matched(self._accumulate(query_terms)[1], allowed).astype(np.int64)

    def scores_of(self, query_terms: Sequence[str], docs: np.ndarray) -> np.ndarray:
        """The scores of passages ``docs``."""
        return self._accumulate(query_terms)[0][np.asarray(docs, dtype=np.int64)]

    def scores(self, query_terms: Sequence[str]) -> np.ndarray:
        """Dense scores of every passage, deleted ones too."""
        return self._accumulate(query_terms)[0]

    def doc_freq(self, term: str) -> int:
        """How many live passages of the collection hold ``term``."""
        g = self._stats.vocab.get(term)
        return 0 if g is None else int(self._stats.df[g])


def tie_ranks(p_source: np.ndarray, source_ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """Each passage's place in a full rebuild's order (source ID, then
    passage number), and the passage at each place.  A source's passages
    are contiguous and in passage order, so its first place is enough."""
    n_src = len(source_ids)
    order = sorted(range(n_src), key=source_ids.__getitem__)
    count = np.bincount(p_source, minlength=n_src)
    first_doc = np.concatenate([[0], np.cumsum(count)[:-1]])
    first_rank = np.empty(n_src, dtype=np.int64)
    first_rank[order] = np.concatenate([[0], np.cumsum(count[order])[:-1]])
    docs = np.arange(len(p_source), dtype=np.int64)
    rank = first_rank[p_source] + docs - first_doc[p_source]
    by_rank = np.empty_like(rank)
    by_rank[rank] = docs
    return rank, by_rank
