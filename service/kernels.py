"""Compiled inner loops of the scorer and the index build (numba).

Kept apart from :mod:`service.index` so that module stays about *what* is
computed (rank-bm25's weights) and this one about *how fast*.  Every kernel
is ``cache=True``: the machine code is compiled once and reused from
``__pycache__`` by later processes (the CLI, each server worker), and
:func:`warm_up` runs them once on a toy index so the first real query never
pays for compilation.

Top-k retrieval is MaxScore (Turtle & Flood, 1995) over document-ordered
postings: query terms are sorted by their largest weight; once the k-th
best score θ is at least the summed upper bounds of the weakest terms,
those terms become *non-essential*: a document containing only them cannot
enter the top k, so only the other terms' postings generate candidates, and
the non-essential lists are merely probed (galloping search) for those
candidates, stopping as soon as the bound falls to θ.  Scores are summed in
one fixed order (the query's term order), exactly as the dense scorer does,
so the kept documents and their scores are bit-identical to scoring
everything; ties go to the lower document id because documents are visited
in ascending order and a newcomer must be strictly better than θ.
"""

from __future__ import annotations

import numpy as np
from numba import njit

# Pruning compares floating-point bounds with scores summed in another
# order; this relative slack keeps every comparison on the safe side.
_SLACK = 1e-9


@njit(cache=True, nogil=True)
def _popcount64(x):
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@njit(cache=True, nogil=True)
def union_count(ptr, docs, bitmap_row, bitmaps, qterms, n_docs):
    """How many documents contain at least one of ``qterms``.

    Frequent terms have a precomputed bitmap (``bitmap_row[t] >= 0``), OR-ed
    in 64 documents per step; the others set their postings' bits.  This is
    what keeps ``total`` exact without walking the long lists that MaxScore
    skips.
    """
    if qterms.shape[0] == 1:
        t = qterms[0]
        return ptr[t + 1] - ptr[t]
    n_words = (n_docs + 63) // 64
    acc = np.zeros(n_words, dtype=np.uint64)
    for t in qterms:
        row = bitmap_row[t]
        if row >= 0:
            bm = bitmaps[row]
            for w in range(n_words):
                acc[w] |= bm[w]
        else:
            for p in range(ptr[t], ptr[t + 1]):
                d = docs[p]
                acc[d >> 6] |= np.uint64(1) << np.uint64(d & 63)
    total = 0
    for w in range(n_words):
        if acc[w]:
            total += _popcount64(acc[w])
    return total


@njit(cache=True, nogil=True)
def _worse(s1, d1, s2, d2):
    """Is (s1, d1) ranked below (s2, d2)?  Lower score, then higher id."""
    return s1 < s2 or (s1 == s2 and d1 > d2)


@njit(cache=True, nogil=True)
def _swap(hs, hd, i, j):
    hs[i], hs[j] = hs[j], hs[i]
    hd[i], hd[j] = hd[j], hd[i]


@njit(cache=True, nogil=True)
def _sift_down(hs, hd, n, i):
    while True:
        l = 2 * i + 1
        if l >= n:
            return
        m = l
        r = l + 1
        if r < n and _worse(hs[r], hd[r], hs[l], hd[l]):
            m = r
        if _worse(hs[m], hd[m], hs[i], hd[i]):
            _swap(hs, hd, i, m)
            i = m
        else:
            return


@njit(cache=True, nogil=True)
def _sift_up(hs, hd, i):
    while i > 0:
        parent = (i - 1) // 2
        if _worse(hs[i], hd[i], hs[parent], hd[parent]):
            _swap(hs, hd, i, parent)
            i = parent
        else:
            return


@njit(cache=True, nogil=True)
def _gallop(docs, lo, hi, target):
    """First position in ``docs[lo:hi]`` (ascending) with a doc >= target."""
    if lo >= hi or docs[lo] >= target:
        return lo
    step = 1
    prev = lo
    cur = lo + 1
    while cur < hi and docs[cur] < target:
        prev = cur
        step *= 2
        cur = lo + step
    if cur > hi:
        cur = hi
    lo = prev + 1
    hi = cur
    while lo < hi:
        mid = (lo + hi) // 2
        if docs[mid] < target:
            lo = mid + 1
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True)
def maxscore_top_k(ptr, docs, weights, max_weight, qterms, qmul, k):
    """Exact top-``k`` ``(docs, scores)`` of a query, best first.

    ``qterms`` are distinct term ids in the query's order, ``qmul`` how many
    times each occurs (rank-bm25 adds a repeated term's weight each time).
    """
    nq = qterms.shape[0]
    # Upper bound of each term's contribution; a weight can be negative only
    # through rank-bm25's floor on tiny corpora, and then 0 bounds it.
    ub = np.empty(nq)
    for i in range(nq):
        ub[i] = max(max_weight[qterms[i]] * qmul[i], 0.0)
    order = np.argsort(ub)  # weakest first
    cum = np.empty(nq)  # cum[j]: bound of a doc in sorted terms 0..j only
    acc = 0.0
    for j in range(nq):
        acc += ub[order[j]]
        cum[j] = acc
    slack = _SLACK * (acc + 1e-300)

    pos = np.empty(nq, dtype=np.int64)
    end = np.empty(nq, dtype=np.int64)
    for j in range(nq):
        t = qterms[order[j]]
        pos[j] = ptr[t]
        end[j] = ptr[t + 1]

    hs = np.empty(k)
    hd = np.empty(k, dtype=np.int64)
    n_heap = 0
    theta = -np.inf
    first_ess = 0  # sorted terms first_ess.. are essential
    contrib = np.zeros(nq)  # by query order, for the fixed-order sum
    big = np.int64(1) << np.int64(62)

    while first_ess < nq:
        d = big
        for j in range(first_ess, nq):
            if pos[j] < end[j] and docs[pos[j]] < d:
                d = docs[pos[j]]
        if d == big:
            break
        for i in range(nq):
            contrib[i] = 0.0
        bound = 0.0
        for j in range(first_ess, nq):
            if pos[j] < end[j] and docs[pos[j]] == d:
                c = weights[pos[j]] * qmul[order[j]]
                contrib[order[j]] = c
                bound += c
                pos[j] += 1
        full = n_heap == k
        if first_ess > 0:
            bound += cum[first_ess - 1]
            j = first_ess - 1
            while j >= 0:
                if full and bound + slack <= theta:
                    break
                p = _gallop(docs, pos[j], end[j], d)
                pos[j] = p
                if p < end[j] and docs[p] == d:
                    c = weights[p] * qmul[order[j]]
                    contrib[order[j]] = c
                    bound += c - ub[order[j]]
                else:
                    bound -= ub[order[j]]
                j -= 1
            if j >= 0:
                continue
        if full and bound + slack <= theta:
            continue
        score = 0.0
        for i in range(nq):
            score += contrib[i]
        if not full:
            hs[n_heap] = score
            hd[n_heap] = d
            _sift_up(hs, hd, n_heap)
            n_heap += 1
        elif score > theta:
            hs[0] = score
            hd[0] = d
            _sift_down(hs, hd, k, 0)
        else:
            continue
        if n_heap == k:
            theta = hs[0]
            while first_ess < nq and cum[first_ess] + slack <= theta:
                first_ess += 1

    out_s = hs[:n_heap].copy()
    out_d = hd[:n_heap].copy()
    idx = np.argsort(out_d)  # ascending id, then a stable sort by score
    out_s = out_s[idx]
    out_d = out_d[idx]
    idx = np.argsort(-out_s, kind="mergesort")
    return out_d[idx], out_s[idx]


@njit(cache=True, nogil=True)
def accumulate(ptr, docs, weights, qterms, qmul, n_docs):
    """Dense scores: term by term in query order, like rank-bm25."""
    out = np.zeros(n_docs)
    for i in range(qterms.shape[0]):
        t = qterms[i]
        m = qmul[i]
        for p in range(ptr[t], ptr[t + 1]):
            out[docs[p]] += weights[p] * m
    return out


@njit(cache=True, nogil=True)
def count_chunk(ids, lens, scratch):
    """Term frequencies of a chunk of documents, without a dict per document.

    ``ids`` holds the documents' term ids back to back (``lens`` ids each;
    a negative id is a stopword, skipped); ``scratch`` is a zeroed counter
    per vocabulary term, left zeroed.  Returns each document's ``(term,
    tf)`` postings back to back, how many distinct terms each document has
    and its length in terms.
    """
    n_docs = lens.shape[0]
    terms = np.empty(ids.shape[0], dtype=np.int32)
    tfs = np.empty(ids.shape[0], dtype=np.int32)
    n_unique = np.zeros(n_docs, dtype=np.int32)
    doc_len = np.zeros(n_docs, dtype=np.int64)
    start = 0
    out = 0
    for d in range(n_docs):
        first = out
        for i in range(start, start + lens[d]):
            t = ids[i]
            if t < 0:
                continue
            doc_len[d] += 1
            if scratch[t] == 0:
                terms[out] = t
                out += 1
            scratch[t] += 1
        for p in range(first, out):
            t = terms[p]
            tfs[p] = scratch[t]
            scratch[t] = 0
        n_unique[d] = out - first
        start += lens[d]
    return terms[:out].copy(), tfs[:out].copy(), n_unique, doc_len


@njit(cache=True, nogil=True)
def scatter_weights(terms, tfs, n_unique, doc0, fill, idf, norm, k1, docs_out, weights_out):
    """Place one chunk's postings into the term-major arrays, with weights.

    Chunks arrive in document order, so each term's postings stay sorted by
    document.  The weight is rank-bm25's expression, operation for
    operation: ``idf * (tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl)))``
    with the denominator's length part precomputed per document (``norm``).
    """
    p = 0
    for j in range(n_unique.shape[0]):
        d = doc0 + j
        nd = norm[d]
        for _ in range(n_unique[j]):
            t = terms[p]
            tf = np.float64(tfs[p])
            q = fill[t]
            fill[t] = q + 1
            docs_out[q] = d
            weights_out[q] = idf[t] * (tf * (k1 + 1) / (tf + nd))
            p += 1


@njit(cache=True, nogil=True)
def term_bitmaps(ptr, docs, dense_terms, n_docs):
    """One bitmap of 64-document words per frequent term."""
    n_words = (n_docs + 63) // 64
    out = np.zeros((dense_terms.shape[0], n_words), dtype=np.uint64)
    for r in range(dense_terms.shape[0]):
        t = dense_terms[r]
        for p in range(ptr[t], ptr[t + 1]):
            d = docs[p]
            out[r, d >> 6] |= np.uint64(1) << np.uint64(d & 63)
    return out


def warm_up() -> None:
    """Compile (or load from cache) every kernel on a toy index."""
    ptr = np.array([0, 2, 3], dtype=np.int64)
    docs = np.array([0, 1, 1], dtype=np.int32)
    weights = np.array([1.0, 2.0, 0.5])
    maxw = np.array([2.0, 0.5])
    qterms = np.array([0, 1], dtype=np.int64)
    qmul = np.array([1.0, 1.0])
    maxscore_top_k(ptr, docs, weights, maxw, qterms, qmul, 1)
    accumulate(ptr, docs, weights, qterms, qmul, 2)
    union_count(ptr, docs, np.array([0, -1], dtype=np.int32), np.zeros((1, 1), np.uint64), qterms, 2)
