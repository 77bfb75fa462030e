"""A k-best heap for the compiled scorers (numba): the k highest scores,
ties to the lower document id, whatever order documents arrive in."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def _worse(s1, d1, s2, d2):
    """Is (s1, d1) ranked below (s2, d2)?  Lower score, then higher id."""
    return s1 < s2 or (s1 == s2 and d1 > d2)


@njit(cache=True, nogil=True)
def _swap(hs, hd, i, j):
    hs[i], hs[j] = hs[j], hs[i]
    hd[i], hd[j] = hd[j], hd[i]


@njit(cache=True, nogil=True)
def sift_down(hs, hd, n, i):
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
def sift_up(hs, hd, i):
    while i > 0:
        parent = (i - 1) // 2
        if _worse(hs[i], hd[i], hs[parent], hd[parent]):
            _swap(hs, hd, i, parent)
            i = parent
        else:
            return


@njit(cache=True, nogil=True)
def kth_best_above(scores, n, k, floor):
    """The k-th largest of ``scores[:n]`` if it exceeds ``floor``, else
    -inf.  A k-slot min-heap, not a partition: BM25 scores repeat a lot
    (same tf, same length), which quickselect handles badly."""
    hs = np.empty(k)
    hd = np.zeros(k, dtype=np.int64)  # scores only: all ids equal
    size = 0
    for i in range(n):
        v = scores[i]
        if v <= floor:
            continue
        if size < k:
            hs[size] = v
            sift_up(hs, hd, size)
            size += 1
        elif v > hs[0]:
            hs[0] = v
            sift_down(hs, hd, k, 0)
    return hs[0] if size == k else -np.inf


@njit(cache=True, nogil=True)
def offer(hs, hd, n_heap, k, s, d):
    """Offer document ``d`` with score ``s`` to a k-best heap of size
    ``n_heap``; returns the new size.  Order-independent: ties go to the
    lower id whatever order documents come in."""
    if n_heap < k:
        hs[n_heap] = s
        hd[n_heap] = d
        sift_up(hs, hd, n_heap)
        return n_heap + 1
    if _worse(hs[0], hd[0], s, d):
        hs[0] = s
        hd[0] = d
        sift_down(hs, hd, k, 0)
    return n_heap


@njit(cache=True, nogil=True)
def ranked(hs, hd, n_heap):
    """The heap's ``(ids, scores)``, best first, ties by lower id."""
    out_s = hs[:n_heap].copy()
    out_d = hd[:n_heap].copy()
    idx = np.argsort(out_d)  # ascending id, then a stable sort by score
    out_s = out_s[idx]
    out_d = out_d[idx]
    idx = np.argsort(-out_s, kind="mergesort")
    return out_d[idx], out_s[idx]


@njit(cache=True, nogil=True)
def best_k(scores, ids, k):
    """``(ids, scores)`` of the k best, best first, ties by lower id."""
    hs = np.empty(k)
    hd = np.empty(k, dtype=np.int64)
    n_heap = 0
    for c in range(ids.shape[0]):
        n_heap = offer(hs, hd, n_heap, k, scores[c], ids[c])
    return ranked(hs, hd, n_heap)
