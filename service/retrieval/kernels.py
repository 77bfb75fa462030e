"""Compiled inner loops of the scorer (numba).

Kept apart from :mod:`service.retrieval.scorer` so that module stays about
*what* is computed and this one about *how fast*.  Every kernel
is ``cache=True``: the machine code is compiled once and reused from
``__pycache__`` by later processes (the CLI, each server worker), and
:class:`service.retrieval.scorer.Bm25Scorer` runs the query kernels once when it is built so
the first real query never pays for compilation.

Top-k retrieval is exact and pruned.  When one of the query's lists is
short next to the others (a rare word beside common ones, the usual
question), the exact scores of its documents give a threshold that k
documents reach, and the query is scored document at a time: lists whose
largest weights together cannot reach the threshold are only looked up,
for documents found in the others (MaxScore, Turtle & Flood 1995), so
the long lists of common words are skipped over rather than walked.
Otherwise query terms are taken shortest
posting list first and added term by term into a per-document accumulator.
Before walking the next (longer) list, when looking documents up is much
cheaper than walking, the current candidates' scores are completed by
galloping search in the remaining lists; a document outside the candidates
scores at most the sum of the remaining terms' largest weights (stored per
term), so if k candidates beat that bound they are the exact top k and the
long lists of common words are never walked (MaxScore's bound, Turtle &
Flood 1995, applied term-at-a-time).  Otherwise every list is walked, which
costs what an exhaustive scorer costs.  Every document's contributions are
added in one fixed term order, the same one the dense scorer uses, so the
returned scores are bit-identical to scoring everything; ties go to the
lower document id.

Every top-k path and the match count take ``allow``, the live passages as
a bitmap (uint64 words, bit ``d & 63`` of word ``d >> 6``; an empty array
means every passage): a filter, or passages deleted since the build.  A
passage outside it is never a candidate, never raises a threshold and is
not counted, so filtered top-k is as exact as unfiltered top-k: the
thresholds above are then reached by k *allowed* passages.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .heap import best_k, kth_best_above, offer, ranked

# Pruning compares floating-point bounds with scores summed in another
# order; this relative slack keeps every comparison on the safe side.
SLACK = 1e-9
# Looking a document up in a posting list (galloping) costs about this
# many postings walked in order: the cost model behind every choice below
# between looking candidates up and walking the lists.
_LOOKUP_COST = 8


@njit(cache=True, nogil=True)
def _popcount64(x):
    x = x - ((x >> np.uint64(1)) & np.uint64(0x5555555555555555))
    x = (x & np.uint64(0x3333333333333333)) + ((x >> np.uint64(2)) & np.uint64(0x3333333333333333))
    x = (x + (x >> np.uint64(4))) & np.uint64(0x0F0F0F0F0F0F0F0F)
    return (x * np.uint64(0x0101010101010101)) >> np.uint64(56)


@njit(cache=True, nogil=True, inline="always")
def allowed(allow, d):
    """Is document ``d`` in the bitmap ``allow`` (empty: every document)?"""
    return allow.shape[0] == 0 or ((allow[d >> 6] >> np.uint64(d & 63)) & np.uint64(1)) != 0


@njit(cache=True, nogil=True)
def union_bits(ptr, docs, bitmap_row, bitmaps, qterms, n_docs, allow):
    """The documents of ``allow`` holding at least one of ``qterms``, as a
    bitmap of ``allow``'s layout.

    Frequent terms have a precomputed bitmap (``bitmap_row[t] >= 0``), OR-ed
    in 64 documents per step; the others set their postings' bits.  This is
    what keeps ``total`` exact without walking the long lists that pruning
    skips.
    """
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
    if allow.shape[0]:
        for w in range(n_words):
            acc[w] &= allow[w]
    return acc


@njit(cache=True, nogil=True)
def union_count(ptr, docs, bitmap_row, bitmaps, qterms, n_docs, allow):
    """How many documents of ``allow`` hold at least one of ``qterms``."""
    if qterms.shape[0] == 1 and allow.shape[0] == 0:
        t = qterms[0]
        return ptr[t + 1] - ptr[t]
    acc = union_bits(ptr, docs, bitmap_row, bitmaps, qterms, n_docs, allow)
    total = 0
    for w in range(acc.shape[0]):
        if acc[w]:
            total += _popcount64(acc[w])
    return total


@njit(cache=True, nogil=True)
def union_docs(ptr, docs, bitmap_row, bitmaps, qterms, n_docs, allow):
    """The ascending ids of the documents :func:`union_count` counts."""
    acc = union_bits(ptr, docs, bitmap_row, bitmaps, qterms, n_docs, allow)
    total = 0
    for w in range(acc.shape[0]):
        if acc[w]:
            total += _popcount64(acc[w])
    out = np.empty(total, dtype=np.int64)
    n = 0
    for w in range(acc.shape[0]):
        x = acc[w]
        b = 0
        while x:
            if x & np.uint64(1):
                out[n] = w * 64 + b
                n += 1
            x >>= np.uint64(1)
            b += 1
    return out


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
def _add_looked_up(docs, weights, lo, hi, m, targets, out):
    """``out[c] += m * weight`` of each of the ascending documents
    ``targets`` that the posting range ``lo:hi`` holds, found by galloping."""
    for c in range(targets.shape[0]):
        lo = _gallop(docs, lo, hi, targets[c])
        if lo == hi:
            return
        if docs[lo] == targets[c]:
            out[c] += weights[lo] * m


@njit(cache=True, nogil=True)
def term_order(df, qterms):
    """Positions of the query's terms, lowest collection df first (stable).

    Every scorer adds a document's contributions in this order, so their
    sums are the same floating-point operations and ties stay ties; ``df``
    is the whole collection's (live) document frequency, not a segment's,
    so a passage scores the same in whichever segment it lives.
    """
    qdf = np.empty(qterms.shape[0], dtype=np.int64)
    for i in range(qterms.shape[0]):
        qdf[i] = df[qterms[i]]
    return np.argsort(qdf, kind="mergesort")


@njit(cache=True, nogil=True)
def scores_of(ptr, docs, weights, df, qterms, qmul, targets):
    """The scores of the ascending documents ``targets`` only, looked up
    by galloping, term by term in the order :func:`accumulate` adds them
    (so each equals its dense score bit for bit)."""
    out = np.zeros(targets.shape[0])
    for i in term_order(df, qterms):
        t = qterms[i]
        _add_looked_up(docs, weights, ptr[t], ptr[t + 1], qmul[i], targets, out)
    return out


@njit(cache=True, nogil=True)
def accumulate(ptr, docs, weights, df, qterms, qmul, n_docs):
    """Dense scores of every document, term by term (``get_scores``)."""
    out = np.zeros(n_docs)
    for i in term_order(df, qterms):
        t = qterms[i]
        m = qmul[i]
        for p in range(ptr[t], ptr[t + 1]):
            out[docs[p]] += weights[p] * m
    return out


@njit(cache=True, nogil=True)
def seed_threshold(ptr, docs, weights, qterms, qmul, order, k, allow):
    """The k-th best exact score among the allowed documents of the
    query's shortest list (looked up in every list by galloping, summed in
    ``order``), or -inf for a one-word query, when that list has fewer
    than k allowed documents, or when looking them up is not much cheaper
    than walking all the lists (the rule of the term-at-a-time trial below)."""
    nq = qterms.shape[0]
    first = qterms[order[0]]
    n0 = ptr[first + 1] - ptr[first]
    total = 0
    for i in range(nq):
        total += ptr[qterms[i] + 1] - ptr[qterms[i]]
    if nq < 2 or n0 < k or _LOOKUP_COST * n0 * (nq - 1) >= total:
        return -np.inf
    seed = np.zeros(n0)
    targets = docs[ptr[first]:ptr[first + 1]]
    for j in range(nq):
        i = order[j]
        _add_looked_up(docs, weights, ptr[qterms[i]], ptr[qterms[i] + 1], qmul[i], targets, seed)
    if allow.shape[0]:
        for c in range(n0):
            if not allowed(allow, targets[c]):
                seed[c] = -np.inf  # never counted among the k
    return kth_best_above(seed, n0, k, -np.inf)


@njit(cache=True, nogil=True)
def _non_essential(cum, n_ne, theta, slack):
    """How many of the longest lists together cannot reach ``theta``
    (``cum``: their largest weights summed, longest first), at least ``n_ne``."""
    while n_ne < cum.shape[0] and cum[n_ne] + slack <= theta:
        n_ne += 1
    return n_ne


@njit(cache=True, nogil=True)
def maxscore_top_k(ptr, docs, weights, max_weight, qterms, qmul, k, order, theta, allow):
    """Exact top-k document at a time, given a threshold ``theta`` that k
    allowed documents are known to reach (MaxScore, Turtle & Flood 1995).

    The longest lists whose largest weights sum to at most ``theta`` are
    *non-essential*: a document in none of the other lists cannot reach
    ``theta``, so only the short, essential lists are walked, in document
    order, and a document found there is looked up in the long lists only
    while its bound still reaches ``theta``.  The threshold rises as the
    heap of the k best fills, and more lists become non-essential.  A
    document's score is its contributions summed in ``order``, as
    everywhere else, so scores are bit-identical; documents come in id
    order and a skipped one is certain to score below ``theta``, so ties
    still go to the lower id.
    """
    nq = qterms.shape[0]
    by_len = order[::-1].copy()  # longest list first: these become non-essential first
    ub = np.empty(nq)
    cum = np.empty(nq)  # cum[j]: the most lists by_len[:j + 1] can add
    s = 0.0
    for j in range(nq):
        i = by_len[j]
        ub[i] = max_weight[qterms[i]] * qmul[i]
        s += ub[i]
        cum[j] = s
    slack = SLACK * (s + 1e-300)
    cur = np.empty(nq, dtype=np.int64)
    end = np.empty(nq, dtype=np.int64)
    for i in range(nq):
        cur[i] = ptr[qterms[i]]
        end[i] = ptr[qterms[i] + 1]
    contrib = np.zeros(nq)
    present = np.zeros(nq, dtype=np.bool_)
    hs = np.empty(k)
    hd = np.empty(k, dtype=np.int64)
    n_heap = 0
    n_ne = _non_essential(cum, 0, theta, slack)  # lists by_len[:n_ne] are non-essential
    past = np.int64(1) << 62
    while True:
        d = past
        for j in range(n_ne, nq):
            i = by_len[j]
            if cur[i] < end[i] and docs[cur[i]] < d:
                d = np.int64(docs[cur[i]])
        if d == past:
            break
        bound = 0.0
        for j in range(n_ne, nq):
            i = by_len[j]
            if cur[i] < end[i] and docs[cur[i]] == d:
                contrib[i] = weights[cur[i]] * qmul[i]
                present[i] = True
                bound += contrib[i]
                cur[i] += 1
        if not allowed(allow, d):
            present[:] = False
            continue
        if n_ne > 0:
            bound += cum[n_ne - 1]
            for j in range(n_ne - 1, -1, -1):
                if bound + slack <= theta:
                    break
                i = by_len[j]
                p = _gallop(docs, cur[i], end[i], d)
                cur[i] = p
                if p < end[i] and docs[p] == d:
                    contrib[i] = weights[p] * qmul[i]
                    present[i] = True
                    bound += contrib[i] - ub[i]
                else:
                    bound -= ub[i]
        if bound + slack > theta:
            score = 0.0
            for j in range(nq):
                if present[order[j]]:
                    score += contrib[order[j]]
            if n_heap < k or score > hs[0]:
                n_heap = offer(hs, hd, n_heap, k, score, d)
                if n_heap == k and hs[0] > theta:
                    theta = hs[0]
                    n_ne = _non_essential(cum, n_ne, theta, slack)
        present[:] = False
    return ranked(hs, hd, n_heap)


@njit(cache=True, nogil=True)
def pruned_top_k(ptr, docs, weights, max_weight, idf, df, qterms, qmul, k, acc, mark, allow):
    """Exact top-``k`` ``(docs, scores)`` of a query among the documents
    of ``allow``, best first.

    ``qterms`` are distinct term ids, ``qmul`` how many times each occurs
    in the query.  ``acc`` (float64) and ``mark`` (uint8), one slot per
    document, must be zero and are left zero.  A document outside
    ``allow`` is skipped as its posting is read: it is never a candidate.
    """
    nq = qterms.shape[0]
    order = term_order(df, qterms)
    rest = np.zeros(nq + 1)  # rest[j]: the most that terms order[j:] can add
    for j in range(nq - 1, -1, -1):
        i = order[j]
        rest[j] = rest[j + 1] + max(max_weight[qterms[i]] * qmul[i], 0.0)
    slack = SLACK * (rest[0] + 1e-300)
    # Scores of candidates are exact, but a document outside them is bounded
    # by ``rest`` only if no weight is negative (rank-bm25's floor allows
    # that on tiny corpora): then every list is walked.
    can_prune = True
    left = 0  # postings not yet walked
    for i in range(nq):
        t = qterms[i]
        left += ptr[t + 1] - ptr[t]
        if idf[t] < 0:
            can_prune = False
    if can_prune:
        # A short list among long ones: its documents' scores give a
        # threshold to start from, and the long lists need not be walked.
        theta = seed_threshold(ptr, docs, weights, qterms, qmul, order, k, allow)
        if theta > -np.inf:
            return maxscore_top_k(ptr, docs, weights, max_weight, qterms, qmul, k, order, theta, allow)
    cap = left
    cand = np.empty(cap, dtype=np.int32)
    nc = 0
    track = True
    for j in range(nq):
        # Trial: complete the candidates' scores by looking their documents
        # up in the remaining (longer) lists; if k of them beat everything
        # a non-candidate could score, they are the answer.  Tried only
        # when the lookups are much cheaper than walking those lists.
        if track and can_prune and j > 0 and nc >= k and _LOOKUP_COST * nc * (nq - j) < left:
            live = cand[:nc][np.argsort(cand[:nc], kind="mergesort")]
            full = np.empty(nc)
            for c in range(nc):
                full[c] = acc[live[c]]
            for j2 in range(j, nq):
                i = order[j2]
                _add_looked_up(docs, weights, ptr[qterms[i]], ptr[qterms[i] + 1], qmul[i], live, full)
            if kth_best_above(full, nc, k, rest[j] + slack) > -np.inf:
                for c in range(nc):
                    acc[cand[c]] = 0.0
                    mark[cand[c]] = 0
                return best_k(full, live, k)
        i = order[j]
        t = qterms[i]
        m = qmul[i]
        n_t = ptr[t + 1] - ptr[t]
        left -= n_t
        # Candidates are listed only while a later trial is still possible
        # (it never is after the last term); then a mark per document is
        # all the bookkeeping, and selection finds them by their marks.
        if track and not (can_prune and _LOOKUP_COST * (nc + n_t) * (nq - j - 1) < left):
            track = False
        if track:
            for p in range(ptr[t], ptr[t + 1]):
                d = docs[p]
                if not allowed(allow, d):
                    continue
                if mark[d] == 0:
                    mark[d] = 1
                    cand[nc] = d
                    nc += 1
                acc[d] += weights[p] * m
        else:
            for p in range(ptr[t], ptr[t + 1]):
                d = docs[p]
                if not allowed(allow, d):
                    continue
                mark[d] = 1
                acc[d] += weights[p] * m

    # Selection: every matched document once, its slots cleared.  Most
    # are rejected by one comparison with the heap's worst entry, written
    # inline: numba runs this several times slower through a helper.
    hs = np.empty(k)
    hd = np.empty(k, dtype=np.int64)
    n_heap = 0
    if 4 * cap > acc.shape[0]:
        # Most documents matched: one sequential sweep beats revisiting them.
        for d in range(acc.shape[0]):
            if mark[d]:
                if n_heap < k or acc[d] >= hs[0]:
                    n_heap = offer(hs, hd, n_heap, k, acc[d], d)
                acc[d] = 0.0
                mark[d] = 0
    else:
        # Found again through the lists they are in.
        for i in order:
            t = qterms[i]
            for p in range(ptr[t], ptr[t + 1]):
                d = docs[p]
                if mark[d]:
                    if n_heap < k or acc[d] >= hs[0]:
                        n_heap = offer(hs, hd, n_heap, k, acc[d], d)
                    acc[d] = 0.0
                    mark[d] = 0
    return ranked(hs, hd, n_heap)
