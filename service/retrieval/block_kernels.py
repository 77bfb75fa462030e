"""Block-max top-k for queries of common words (numba).

When every list of a query is long (common words only), MaxScore in
:mod:`service.retrieval.kernels` has no short list to take a threshold
from and every posting is walked.  Here the passages are cut into blocks
of ``BLOCK`` consecutive ids; each frequent term (one with a bitmap) has,
per block, an upper bound of its weights there (:func:`block_bounds`), so
a block's bound for a query is the sum of its terms' bounds.  Blocks are
scored whole, the few of highest bound first (their scores give a
threshold near the final one), then every other block whose bound still
reaches the threshold, in id order (memory order); the threshold rises as
the k best fill, and a block below it is never read.  This is block-max
pruning over fixed id ranges (as in Mallia et al., SIGIR 2024, "BMP"),
exact: a skipped block cannot hold a passage reaching the k-th score.

The bounds come from the weights themselves, computed when a version is
loaded (:mod:`service.index.weighted`) from the live collection
statistics, so they hold after any adds and removes; a deleted passage's
postings stay in its block's bound, which is still an upper bound.  A
bound is stored in one byte, as a fraction of the term's largest weight
rounded up (1/255 of it per step): a query's bound loses at most that per
term, and the bounds take as much memory as the bitmaps (a bit per
passage and frequent term).  Weights below zero (rank-bm25's floor on a
tiny collection) bound nothing here, so those queries go the plain way.

A passage's score is its contributions added in the query's term order,
the one every other scorer uses, so scores are bit-identical to
:func:`service.retrieval.kernels.accumulate`; ties go to the lower id
(the heap orders them whatever order blocks come in).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .heap import offer, ranked
from .kernels import SLACK, _gallop, _popcount64, maxscore_top_k, pruned_top_k, term_order

#: log2 of the passages per block: 8 (a byte of a bitmap word).
SHIFT = 3
BLOCK = 1 << SHIFT
#: Steps of a stored bound: ``q`` means at most ``q / LEVELS`` of the term's largest weight.
LEVELS = 255
_BLOCK_BITS = np.uint64((1 << BLOCK) - 1)
#: Blocks scored first, highest bound first, for a threshold to start
#: from: at most this many, and at most 1/16 of the blocks.
FIRST_BLOCKS = 64


@njit(cache=True, nogil=True)
def block_bounds(ptr, docs, weights, max_weight, bitmap_row, n_rows, n_docs):
    """Per frequent term (row ``bitmap_row[t]``) and block, ``q`` (uint8)
    with ``q / LEVELS * max_weight[t]`` at least every weight of the term
    in that block (0: no posting there), up to rounding far inside ``SLACK``."""
    n_blocks = (n_docs + BLOCK - 1) >> SHIFT
    out = np.zeros((n_rows, n_blocks), dtype=np.uint8)
    for t in range(bitmap_row.shape[0]):
        r = bitmap_row[t]
        m = max_weight[t]
        if r < 0 or not m > 0:
            continue
        scale = LEVELS / m
        for p in range(ptr[t], ptr[t + 1]):
            # floor + 1 (capped): above the exact fraction by at least
            # its rounding error, so the bound read back stays above.
            q = min(LEVELS, int(weights[p] * scale) + 1)
            b = docs[p] >> SHIFT
            if q > out[r, b]:
                out[r, b] = q
    return out


@njit(cache=True, nogil=True)
def blocks_pay(ptr, bitmap_row, qterms, n_docs):
    """Are the query's frequent terms' lists long enough (together a
    quarter of the passages) that bounding every block costs less than
    the ways of :func:`pruned_top_k`?"""
    dense = 0
    for t in qterms:
        if bitmap_row[t] >= 0:
            dense += ptr[t + 1] - ptr[t]
    return 4 * dense >= n_docs


@njit(cache=True, nogil=True, inline="always")
def _score_block(b, ptr, docs, weights, bitmap_row, bitmaps, qterms, qmul, order, before, cur, local,
                 allow, hs, hd, n_heap, k):
    """Score block ``b`` whole and offer its allowed passages to the heap.

    A frequent term's postings there are found through its bitmap: the
    count of its passages before the word (``before``) and the bits below
    the block give the first, the block's bits the rest.  Another term's
    are galloped to from ``cur[i]`` (blocks come in ascending order).
    """
    lo = b << SHIFT
    w = lo >> 6
    off = np.uint64(lo & 63)
    present = np.uint64(0)
    for j in range(order.shape[0]):
        i = order[j]
        t = qterms[i]
        m = qmul[i]
        r = bitmap_row[t]
        if r >= 0:
            word = bitmaps[r, w]
            bits = (word >> off) & _BLOCK_BITS
            if bits == 0:
                continue
            p = ptr[t] + before[i, w] + _popcount64(word & ((np.uint64(1) << off) - np.uint64(1)))
            present |= bits
            while bits:
                low = bits & (~bits + np.uint64(1))
                local[_popcount64(low - np.uint64(1))] += weights[p] * m
                p += 1
                bits ^= low
        else:
            end = ptr[t + 1]
            p = _gallop(docs, cur[i], end, lo)
            cur[i] = p
            while p < end and docs[p] < lo + BLOCK:
                x = docs[p] - lo
                local[x] += weights[p] * m
                present |= np.uint64(1) << np.uint64(x)
                p += 1
    if allow.shape[0]:
        present &= allow[w] >> off
    while present:
        low = present & (~present + np.uint64(1))
        x = _popcount64(low - np.uint64(1))
        if n_heap < k or local[x] >= hs[0]:
            n_heap = offer(hs, hd, n_heap, k, local[x], lo + x)
        present ^= low
    for x in range(BLOCK):
        local[x] = 0.0
    return n_heap


@njit(cache=True, nogil=True)
def block_top_k(ptr, docs, weights, max_weight, bitmap_row, bitmaps, bounds, qterms, qmul, order, k, theta,
                allow, n_docs):
    """Exact top-``k`` ``(docs, scores)`` of the allowed passages, best
    first, ties by lower id; passages scoring below ``theta`` (-inf: none)
    may be left out, as :func:`maxscore_top_k` leaves them.

    ``order`` is :func:`term_order`; every weight must be >= 0.
    """
    nq = qterms.shape[0]
    n_words = (n_docs + 63) // 64
    n_blocks = (n_docs + BLOCK - 1) >> SHIFT
    ub = np.zeros(n_blocks)
    before = np.empty((nq, n_words), dtype=np.int64)
    cur = np.empty(nq, dtype=np.int64)
    total = 0.0
    for i in range(nq):
        t = qterms[i]
        m = qmul[i]
        cur[i] = ptr[t]
        total += max_weight[t] * m
        r = bitmap_row[t]
        if r >= 0:
            c = 0
            for w in range(n_words):
                before[i, w] = c
                c += _popcount64(bitmaps[r, w])
            step = max_weight[t] * m / LEVELS
            q = bounds[r]
            for b in range(n_blocks):
                ub[b] += q[b] * step
        else:  # a list shorter than n/32: its own largest weight per block
            b_at = -1
            best = 0.0
            for p in range(ptr[t], ptr[t + 1]):
                b = docs[p] >> SHIFT
                if b != b_at:
                    if b_at >= 0:
                        ub[b_at] += best * m
                    b_at = b
                    best = weights[p]
                elif weights[p] > best:
                    best = weights[p]
            if b_at >= 0:
                ub[b_at] += best * m
    slack = SLACK * (total + 1e-300)
    hs = np.empty(k)
    hd = np.empty(k, dtype=np.int64)
    n_heap = 0
    local = np.zeros(BLOCK)
    # The blocks of highest bound first (in id order among themselves).
    n_first = max(1, min(FIRST_BLOCKS, n_blocks >> 4))
    fs = np.empty(n_first)
    fb = np.zeros(n_first, dtype=np.int64)
    nf = 0
    for b in range(n_blocks):
        if nf < n_first or ub[b] > fs[0]:
            nf = offer(fs, fb, nf, n_first, ub[b], b)
    first = np.sort(fb[:nf])
    for c in range(nf):
        b = first[c]
        if ub[b] + slack > theta:
            n_heap = _score_block(b, ptr, docs, weights, bitmap_row, bitmaps, qterms, qmul, order, before, cur,
                                  local, allow, hs, hd, n_heap, k)
            if n_heap == k and hs[0] > theta:
                theta = hs[0]
        ub[b] = -np.inf  # done
    # Then every block that can still reach the threshold, in id order.
    for i in range(nq):
        cur[i] = ptr[qterms[i]]
    for b in range(n_blocks):
        if ub[b] + slack > theta:
            n_heap = _score_block(b, ptr, docs, weights, bitmap_row, bitmaps, qterms, qmul, order, before, cur,
                                  local, allow, hs, hd, n_heap, k)
            if n_heap == k and hs[0] > theta:
                theta = hs[0]
    return ranked(hs, hd, n_heap)


@njit(cache=True, nogil=True)
def top_k(ptr, docs, weights, max_weight, idf, df, bitmap_row, bitmaps, bounds, qterms, qmul, k, acc, mark,
          allow, theta):
    """Exact top-``k`` of a segment's allowed passages, where those scoring
    below ``theta`` (-inf: none) may be left out: the block-max path when
    :func:`blocks_pay`, else MaxScore from ``theta``, else
    :func:`pruned_top_k`.  ``acc``/``mark`` as :func:`pruned_top_k` takes them
    (one slot a passage: their length is the segment's)."""
    for t in qterms:
        if idf[t] < 0:
            return pruned_top_k(ptr, docs, weights, max_weight, idf, df, qterms, qmul, k, acc, mark, allow)
    if blocks_pay(ptr, bitmap_row, qterms, acc.shape[0]):
        return block_top_k(ptr, docs, weights, max_weight, bitmap_row, bitmaps, bounds, qterms, qmul,
                           term_order(df, qterms), k, theta, allow, acc.shape[0])
    if theta == -np.inf:
        return pruned_top_k(ptr, docs, weights, max_weight, idf, df, qterms, qmul, k, acc, mark, allow)
    return maxscore_top_k(ptr, docs, weights, max_weight, qterms, qmul, k, term_order(df, qterms), theta, allow)
