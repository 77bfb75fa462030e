"""Compiled top-k over every segment of a version in one call (numba).

An archive that changes daily has many small segments beside a large
one.  Scored one segment at a time from Python, each costs the same fixed
overhead (term lookup, masks, a kernel call per step), which soon
outweighs the scoring itself; here the whole loop over segments is one
compiled call, visiting the segments largest first and sharing the k-th
best score found so far, as
:meth:`service.retrieval.scorer.SegmentedScorer.top_k_plain`'s merge would
end up with: a segment whose query terms' largest weights together cannot
reach it is only counted, the others are scored from it
(:func:`service.retrieval.block_kernels.top_k`).  Each segment is
scored by the same kernels as a lone segment, so scores are bit-identical.

numba has no cheap container of arrays of different lengths (a typed
list compiles its methods in every new process, most of a second), so
a segment's arrays are passed as the addresses and lengths of their data
(:data:`COLUMNS`), read through ``numba.carray``; the Python object that
builds the table keeps the arrays alive for as long as it can be used.

Ties between segments go to the lower *rank*: a passage's place in a full
rebuild (source ID, then passage number), given per passage, since the
segments' order is not that order.  Within a segment, ids follow ranks.
"""

from __future__ import annotations

import numpy as np
from numba import carray, njit, types
from numba.core import cgutils
from numba.extending import intrinsic

from . import block_kernels
from .heap import offer, ranked
from .kernels import SLACK, union_count

#: A segment's arrays in the address table, one column each, in this order;
#: a column's length is the array's, but the bitmaps' and the block
#: bounds' is their number of rows (each ``ceil(n_docs / 64)`` words, and
#: ``ceil(n_docs / block_kernels.BLOCK)`` bytes); ``live`` is empty when
#: nothing was deleted.  Their dtypes are :data:`DTYPES`.
COLUMNS = ("ptr", "docs", "weights", "max_weight", "idf", "df", "bitmap_row", "bitmaps", "bounds", "live")
DTYPES = (np.int64, np.int32, np.float64, np.float64, np.float64, np.int64, np.int32, np.uint64, np.uint8,
          np.uint64)
PTR, DOCS, WEIGHTS, MAX_WEIGHT, IDF, DF, BITMAP_ROW, BITMAPS, BOUNDS, LIVE = range(len(COLUMNS))


@intrinsic
def _void_ptr(typingctx, address):
    """An int64 address as a ``void *``, for ``numba.carray``."""
    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], cgutils.voidptr_t)
    return types.voidptr(address), codegen


@njit(cache=True, nogil=True, inline="always")
def _column(addr, n, s, col, dtype):
    """Segment ``s``'s array ``col`` (of ``dtype``) from the address table."""
    return carray(_void_ptr(addr[s, col]), (n[s, col],), dtype)


@njit(cache=True, nogil=True)
def segment_allow(filt, off, n_docs, live):
    """Segment-local bitmap of the passages a search may return: bits
    ``off`` to ``off + n_docs`` of the collection's filter ``filt``
    (empty: no filter), and ``live`` (empty: none deleted)."""
    if filt.shape[0] == 0:
        return live
    n_words = (n_docs + 63) // 64
    out = np.empty(n_words, dtype=np.uint64)
    base, sh = off >> 6, np.uint64(off & 63)
    for w in range(n_words):
        x = filt[base + w] >> sh
        if sh and base + w + 1 < filt.shape[0]:
            x |= filt[base + w + 1] << (np.uint64(64) - sh)
        out[w] = x
    if live.shape[0]:
        for w in range(n_words):
            out[w] &= live[w]
    return out


@njit(cache=True, nogil=True)
def _local_terms(term_first, term_seg, term_local, qterms, n_seg):
    """``loc[s, i]``: segment ``s``'s id of query term ``qterms[i]`` (-1: absent)."""
    loc = np.full((n_seg, qterms.shape[0]), -1, dtype=np.int64)
    for i in range(qterms.shape[0]):
        g = qterms[i]
        for e in range(term_first[g], term_first[g + 1]):
            loc[term_seg[e], i] = term_local[e]
    return loc


@njit(cache=True, nogil=True)
def top_k_segments(addr, n, n_docs, offsets, visit, term_first, term_seg, term_local, idf,
                   qterms, qmul, k, filt, rank, by_rank, acc, mark):
    """Exact top-``k`` over all segments: ``(docs, scores, total, scored)``.

    ``addr``/``n``: per segment (row) and :data:`COLUMNS` (column), the
    address and length of each array; ``n_docs``/``offsets``: the
    segments' sizes and first collection ids; ``visit``: segments,
    largest first.  ``term_first``/``term_seg``/``term_local``: per
    collection term ``g``, the segments holding it and its id there
    (entries ``term_first[g]:term_first[g + 1]``).  ``qterms``/``qmul``:
    the query's distinct collection term ids and multiplicities; ``idf``
    the collection's.  ``filt``: the collection's filter bitmap (empty:
    none).  ``rank``/``by_rank``: each passage's tie rank and its inverse.
    ``acc``/``mark``: zeroed scratch of the largest segment's size, left
    zeroed.  ``docs`` are collection ids, best first, ties by rank;
    ``total`` counts the allowed passages sharing a term with the query;
    ``scored``: how many segments were scored, not only counted.
    """
    nq = qterms.shape[0]
    loc = _local_terms(term_first, term_seg, term_local, qterms, visit.shape[0])
    hs = np.empty(k)
    hr = np.empty(k, dtype=np.int64)
    n_heap = 0
    theta = -np.inf
    total = 0
    scored = 0
    for s in visit:
        m = 0
        for i in range(nq):
            if loc[s, i] >= 0:
                m += 1
        if m == 0:
            continue
        ids = np.empty(m, dtype=np.int64)
        mul = np.empty(m)
        negative = False
        j = 0
        for i in range(nq):
            if loc[s, i] >= 0:
                ids[j] = loc[s, i]
                mul[j] = qmul[i]
                negative |= idf[qterms[i]] < 0
                j += 1
        nd = n_docs[s]
        ptr, docs = _column(addr, n, s, PTR, np.int64), _column(addr, n, s, DOCS, np.int32)
        weights, max_weight = _column(addr, n, s, WEIGHTS, np.float64), _column(addr, n, s, MAX_WEIGHT, np.float64)
        bitmaps = carray(_void_ptr(addr[s, BITMAPS]), (n[s, BITMAPS], (nd + 63) // 64), np.uint64)
        n_blocks = (nd + block_kernels.BLOCK - 1) >> block_kernels.SHIFT
        bounds = carray(_void_ptr(addr[s, BOUNDS]), (n[s, BOUNDS], n_blocks), np.uint8)
        bitmap_row = _column(addr, n, s, BITMAP_ROW, np.int32)
        allow = segment_allow(filt, offsets[s], nd, _column(addr, n, s, LIVE, np.uint64))
        total += union_count(ptr, docs, bitmap_row, bitmaps, ids, nd, allow)
        if theta > -np.inf and not negative:  # the bound needs weights >= 0
            bound = 0.0
            for j in range(m):
                bound += max_weight[ids[j]] * mul[j]
            if bound * (1 + SLACK) < theta:
                continue
        best = block_kernels.top_k(ptr, docs, weights, max_weight, _column(addr, n, s, IDF, np.float64),
                                   _column(addr, n, s, DF, np.int64), bitmap_row, bitmaps, bounds, ids, mul, k,
                                   acc[:nd], mark[:nd], allow, theta)
        scored += 1
        found_docs, found_scores = best
        for c in range(found_docs.shape[0]):
            n_heap = offer(hs, hr, n_heap, k, found_scores[c], rank[offsets[s] + found_docs[c]])
        if n_heap == k:  # k passages reach the heap's worst: nothing below it can enter
            theta = hs[0]
    ranks, scores = ranked(hs, hr, n_heap)
    out = np.empty(n_heap, dtype=np.int64)
    for c in range(n_heap):
        out[c] = by_rank[ranks[c]]
    return out, scores, total, scored
