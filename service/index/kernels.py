"""Compiled inner loops of the index build and load (numba): term
frequencies, posting placement, the frequent terms' bitmaps, the
weights of a segment's postings under a collection's statistics, and a
merge's live postings in document order."""

from __future__ import annotations

import numpy as np
from numba import njit


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
def scatter_postings(terms, tfs, n_unique, doc0, t_lo, t_hi, fill, docs_out, tfs_out):
    """Place one chunk's postings of terms ``t_lo`` to ``t_hi`` (exclusive)
    into that block of the term-major arrays.

    Chunks arrive in document order, so each term's postings stay sorted by
    document.  ``fill[t - t_lo]`` is where term ``t``'s next posting goes.
    """
    p = 0
    for j in range(n_unique.shape[0]):
        d = doc0 + j
        for _ in range(n_unique[j]):
            t = terms[p]
            p += 1
            if t < t_lo or t >= t_hi:
                continue
            q = fill[t - t_lo]
            fill[t - t_lo] = q + 1
            docs_out[q] = d
            tfs_out[q] = tfs[p - 1]


@njit(cache=True, nogil=True)
def posting_weights(ptr, docs, tfs, idf, norm, k1):
    """Every posting's BM25 weight and each term's largest one.

    The weight is rank-bm25's expression, operation for operation:
    ``idf * (tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl)))`` with
    the denominator's length part precomputed per document (``norm``).
    """
    n_terms = ptr.shape[0] - 1
    weights = np.empty(docs.shape[0], dtype=np.float64)
    max_weight = np.empty(n_terms)
    for t in range(n_terms):
        best = -np.inf
        w_idf = idf[t]
        for p in range(ptr[t], ptr[t + 1]):
            tf = np.float64(tfs[p])
            w = w_idf * (tf * (k1 + 1) / (tf + norm[docs[p]]))
            weights[p] = w
            if w > best:
                best = w
        max_weight[t] = best
    return weights, max_weight


@njit(cache=True, nogil=True)
def dead_postings(ptr, docs, dead):
    """Per term, how many of its postings are in documents marked ``dead``."""
    n_terms = ptr.shape[0] - 1
    out = np.zeros(n_terms, dtype=np.int64)
    for t in range(n_terms):
        for p in range(ptr[t], ptr[t + 1]):
            out[t] += dead[docs[p]]
    return out


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


@njit(cache=True, nogil=True)
def postings_by_doc(ptr, docs, tfs, term_map, new_doc, fill, out_terms, out_tfs):
    """A segment's live postings in a merge's document order: posting ``p``
    of term ``t`` in live document ``d`` goes to ``fill[new_doc[d]]`` as
    ``(term_map[t], tf)``; ``new_doc`` is -1 for a deleted document."""
    for t in range(ptr.shape[0] - 1):
        g = term_map[t]
        for p in range(ptr[t], ptr[t + 1]):
            d = new_doc[docs[p]]
            if d >= 0:
                q = fill[d]
                fill[d] = q + 1
                out_terms[q] = g
                out_tfs[q] = tfs[p]
