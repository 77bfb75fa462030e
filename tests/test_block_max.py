"""The block-max top-k (service.retrieval.block_kernels) must equal the
plain algorithm, dense scores of every passage sorted, bit for bit, on
any collection and query: queries of common words only (the case it is
for), with passages deleted or filtered out, from a given threshold; and
its per-block bounds must bound every weight."""

from __future__ import annotations

import random

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from rank_bm25 import BM25Okapi

from service.config import IndexSettings
from service.index.arrays import build_arrays
from service.retrieval import block_kernels, kernels
from service.retrieval.scorer import Bm25Scorer, mask_bits

SETTINGS = IndexSettings()
WORDS = [f"w{i}" for i in range(40)]


def _collection(rng: random.Random, n_docs: int) -> list[list[str]]:
    """Zipf-like passages: the first words occur in nearly every passage."""
    weights = [1 / (i + 1) for i in range(len(WORDS))]
    return [rng.choices(WORDS, weights, k=rng.randint(1, 30)) for _ in range(n_docs)]


def _plain(scores: np.ndarray, matched: np.ndarray, allowed: np.ndarray, k: int, theta: float):
    """The k best allowed matched passages scoring at least theta, ties to the lower id."""
    ids = np.flatnonzero(matched & allowed & (scores >= theta))
    best = sorted(ids.tolist(), key=lambda d: (-scores[d], d))[:k]
    return best, [scores[d] for d in best]


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_docs=st.integers(1, 400), k=st.sampled_from([1, 3, 10, 50]),
       common=st.booleans(), dead=st.floats(0, 0.9), use_theta=st.booleans())
def test_block_top_k_equals_scoring_every_passage(seed, n_docs, k, common, dead, use_theta):
    rng = random.Random(seed)
    a = build_arrays(_collection(rng, n_docs), SETTINGS)
    vocab = {t: i for i, t in enumerate(a.terms)}
    pool = [t for t in WORDS[:6] if t in vocab] if common else list(vocab)
    query = rng.choices(pool or list(vocab), k=rng.randint(1, 6))
    ids, mul = Bm25Scorer(a).query_ids(query)
    assume((a.idf[ids] >= 0).all())  # its precondition; the dispatch checks it (see the last test)
    allowed = np.array([rng.random() >= dead for _ in range(a.n_docs)])
    scores = kernels.accumulate(a.ptr, a.docs, a.weights, a.df, ids, mul, a.n_docs)
    matched = np.zeros(a.n_docs, dtype=bool)
    for t in ids:
        matched[a.docs[a.ptr[t]:a.ptr[t + 1]]] = True
    theta = -np.inf
    if use_theta and matched.any():
        theta = float(rng.choice(scores[matched]))
    bounds = block_kernels.block_bounds(a.ptr, a.docs, a.weights, a.max_weight, a.bitmap_row,
                                        a.bitmaps.shape[0], a.n_docs)
    docs, got = block_kernels.block_top_k(a.ptr, a.docs, a.weights, a.max_weight, a.bitmap_row, a.bitmaps, bounds,
                                          ids, mul, kernels.term_order(a.df, ids), k, theta,
                                          mask_bits(allowed, a.n_docs), a.n_docs)
    want_docs, want = _plain(scores, matched, allowed, k, theta)
    # Passages below the threshold may come too (as from MaxScore): they
    # are allowed matches with their exact scores, and the rest is exact.
    assert (matched[docs] & allowed[docs]).all() and got.tolist() == scores[docs].tolist()
    reached = got >= theta
    assert docs[reached].tolist() == want_docs and got[reached].tolist() == want  # bit for bit, ties to lower id


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_docs=st.integers(1, 600))
def test_every_weight_is_within_its_blocks_bound(seed, n_docs):
    a = build_arrays(_collection(random.Random(seed), n_docs), SETTINGS)
    bounds = block_kernels.block_bounds(a.ptr, a.docs, a.weights, a.max_weight, a.bitmap_row,
                                        a.bitmaps.shape[0], a.n_docs)
    assert bounds.shape == (a.bitmaps.shape[0], -(-a.n_docs // block_kernels.BLOCK))
    for t in np.flatnonzero(a.bitmap_row >= 0):
        span = slice(a.ptr[t], a.ptr[t + 1])
        q = bounds[a.bitmap_row[t], a.docs[span] >> block_kernels.SHIFT].astype(np.float64)
        # Within rounding (a term's largest weight is 255 steps of a
        # rounded 1/255 of it), far inside the slack every bound comparison has.
        assert (q * (a.max_weight[t] / block_kernels.LEVELS) * (1 + 1e-12) >= a.weights[span]).all()


def test_common_word_queries_take_the_block_path_and_score_as_rank_bm25():
    # Every query here is made of the collection's commonest words only,
    # so the scorer's dispatch takes the block-max path for each (checked),
    # with and without a filter; the result is rank-bm25's top k.
    rng = random.Random(7)
    tokens = _collection(rng, 3000)
    a = build_arrays(tokens, SETTINGS)
    scorer = Bm25Scorer(a)
    okapi = BM25Okapi(tokens, k1=SETTINGS.k1, b=SETTINGS.b, epsilon=SETTINGS.epsilon)
    for _ in range(30):
        query = rng.choices(WORDS[:5], k=rng.randint(2, 5))
        ids, _ = scorer.query_ids(query)
        assert block_kernels.blocks_pay(a.ptr, a.bitmap_row, ids, a.n_docs)
        allowed = None if rng.random() < 0.5 else np.array([rng.random() < 0.5 for _ in range(a.n_docs)])
        want = np.asarray(okapi.get_scores(query))
        if allowed is not None:
            want = np.where(allowed, want, -np.inf)
        docs, got, _ = scorer.top_k(query, 10, allowed)
        assert np.allclose(got, want[docs], rtol=1e-9, atol=0)
        assert np.allclose(got, np.sort(want)[::-1][:10], rtol=1e-9, atol=0)


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_docs=st.integers(1, 300), k=st.sampled_from([1, 5, 20]))
def test_the_dispatch_equals_scoring_every_passage_even_with_negative_weights(seed, n_docs, k):
    # Tiny collections floor idfs below zero; then the dispatch goes the
    # plain way (no bound holds), and stays exact.
    rng = random.Random(seed)
    a = build_arrays(_collection(rng, n_docs), SETTINGS)
    scorer = Bm25Scorer(a)
    query = rng.choices(a.terms, k=rng.randint(1, 6))
    allowed = np.array([rng.random() < 0.7 for _ in range(a.n_docs)])
    ids, mul = scorer.query_ids(query)
    scores = kernels.accumulate(a.ptr, a.docs, a.weights, a.df, ids, mul, a.n_docs)
    matched = np.zeros(a.n_docs, dtype=bool)
    for t in ids:
        matched[a.docs[a.ptr[t]:a.ptr[t + 1]]] = True
    docs, got, _ = scorer.top_k(query, k, allowed)
    want_docs, want = _plain(scores, matched, allowed, k, -np.inf)
    assert docs.tolist() == want_docs and got.tolist() == want
