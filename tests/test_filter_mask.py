"""Top-k among allowed passages (a filter, or the live passages) against
brute force: a plain numpy BM25Okapi over the same arrays and rank-bm25.

The mask is applied inside every pruning path of service/retrieval/kernels.py
(document at a time from a seeded threshold, term at a time with the
candidates' trial, the full walk with either selection, and the unpruned
walk of negative weights); each corpus below is built to take one of them,
and the masks range from empty to full.
"""

import numpy as np
import pytest
from hypothesis import given, settings as hsettings, strategies as st
from rank_bm25 import BM25Okapi

from service.config import IndexSettings
from service.index.arrays import build_arrays
from service.retrieval import kernels
from service.retrieval.scorer import ALL, Bm25Scorer, mask_bits

RTOL = 1e-9


def _term_scores(idf, tf, dl, avgdl, s):
    """BM25Okapi's term score, as rank-bm25 writes it, over whole arrays."""
    return idf * tf * (s.k1 + 1) / (tf + s.k1 * (1 - s.b + s.b * dl / avgdl))


def brute_top_k(ref_scores, docs, query, allowed, k):
    q = set(query)
    matched = [d for d, doc in enumerate(docs) if allowed[d] and q & set(doc)]
    return sorted(matched, key=lambda d: (-ref_scores[d], d))[:k], len(matched)


def check_masked(docs, queries, masks, ks=(1, 3, 10), settings=IndexSettings()):
    arrays = build_arrays(docs, settings)
    scorer = Bm25Scorer(arrays)
    ref = BM25Okapi(docs, k1=settings.k1, b=settings.b, epsilon=settings.epsilon)
    dl = np.array([len(d) for d in docs], dtype=np.float64)
    for q in queries:
        rank_scores = ref.get_scores(q)
        # The plain numpy BM25Okapi over the index's idf and lengths.
        plain = np.zeros(len(docs))
        for t in q:
            if t in arrays.terms:
                tf = np.array([d.count(t) for d in docs], dtype=np.float64)
                plain += _term_scores(arrays.idf[arrays.terms.index(t)], tf, dl, arrays.avgdl, settings)
        np.testing.assert_allclose(plain, rank_scores, rtol=RTOL, atol=1e-12)
        dense = scorer.scores(q)  # the same sums in the kernels' order: ties stay ties
        for allowed in masks:
            for k in ks:
                ids, scores, total = scorer.top_k(q, k, allowed)
                want, n_matched = brute_top_k(dense, docs, q, allowed, k)
                assert list(ids) == want, (q, k, np.flatnonzero(allowed)[:20])
                assert total == n_matched
                assert np.array_equal(scores, dense[want])
                np.testing.assert_allclose(scores, plain[want], rtol=RTOL, atol=1e-12)
                # The order is brute force's too, ties within rounding aside.
                loose, _ = brute_top_k(plain, docs, q, allowed, k)
                np.testing.assert_allclose(np.sort(plain[loose]), np.sort(plain[want]), rtol=RTOL, atol=1e-12)
            assert list(scorer.matches(q, allowed)) == sorted(
                d for d, doc in enumerate(docs) if allowed[d] and set(q) & set(doc))


def masks_for(rng, n):
    return [np.ones(n, bool), np.zeros(n, bool)] + [rng.random(n) < p for p in (0.02, 0.2, 0.5, 0.9)]


def zipf_corpus(rng, n_docs, n_vocab, max_len, a=1.1):
    vocab = np.array([f"w{i}" for i in range(n_vocab)])
    p = 1 / np.arange(1, n_vocab + 1) ** a
    p /= p.sum()
    return [list(rng.choice(vocab, size=int(rng.integers(0, max_len)), p=p)) for _ in range(n_docs)], vocab


@pytest.mark.parametrize("seed", range(3))
def test_term_at_a_time_paths_on_zipf_corpora(seed):
    rng = np.random.default_rng(seed)
    docs, vocab = zipf_corpus(rng, 500, 300, 50)
    queries = [list(rng.choice(vocab[:30], size=int(rng.integers(1, 3)))) + list(rng.choice(vocab, size=2))
               for _ in range(12)] + [["w0"], ["w0", "w1", "w0"], ["w5", "unknown"]]
    check_masked(docs, queries, masks_for(rng, len(docs)), ks=(1, 5, 40, 600))


def rare_dominated(rng, n):
    docs = []
    for _ in range(n):
        doc = [f"filler{j}" for j in rng.integers(0, 400, size=int(rng.integers(5, 30)))]
        if rng.random() < 0.8:
            doc += ["often"] * int(rng.integers(1, 5))
        if rng.random() < 0.05:
            doc += ["gem"] * int(rng.integers(1, 3))
        if rng.random() < 0.01:
            doc.append("jewel")
        docs.append(doc)
    return docs


def test_document_at_a_time_path_with_masks():
    rng = np.random.default_rng(8)
    docs = rare_dominated(rng, 2500)
    scorer = Bm25Scorer(build_arrays(docs, IndexSettings()))
    masks = masks_for(rng, len(docs))
    queries = [["gem", "often"], ["jewel", "often", "filler1"], ["gem", "filler2", "often", "often"]]
    for q in queries:  # no negative weight and a seeded threshold: maxscore_top_k runs
        ids, mul = scorer.query_ids(q)
        assert (scorer._idf[ids] >= 0).all()
        order = kernels.term_order(scorer.arrays.df, ids)
        allow = mask_bits(masks[4], len(docs))
        assert kernels.seed_threshold(*scorer.postings[:3], ids, mul, order, 3, allow) > -np.inf
    check_masked(docs, queries, masks, ks=(1, 3, 10, 200))


def test_a_mask_that_leaves_too_few_seeds_falls_back_exactly():
    # The rare word's documents are all outside the mask: no threshold
    # from them, and the common words alone decide.
    docs = [["rare", "common"]] * 5 + [["common"] * (i % 3 + 1) + ["other"] for i in range(300)]
    allowed = np.ones(len(docs), bool)
    allowed[:5] = False
    scorer = Bm25Scorer(build_arrays(docs, IndexSettings()))
    ids, mul = scorer.query_ids(["rare", "common"])
    order = kernels.term_order(scorer.arrays.df, ids)
    assert kernels.seed_threshold(*scorer.postings[:3], ids, mul, order, 2, ALL) > -np.inf
    assert kernels.seed_threshold(*scorer.postings[:3], ids, mul, order, 2,
                                  mask_bits(allowed, len(docs))) == -np.inf
    check_masked(docs, [["rare", "common"], ["rare", "other"]], [allowed], ks=(1, 2, 10))


def test_most_documents_matched_sweep_and_negative_weights():
    dense_docs = [["a"] * (i % 4 + 1) + (["b"] if i % 3 else []) for i in range(400)]
    tiny = [["a", "b"], ["a", "b"], ["a"], ["b", "c"]]
    assert (build_arrays(tiny, IndexSettings()).weights < 0).any()
    rng = np.random.default_rng(2)
    check_masked(dense_docs, [["a"], ["a", "b"], ["b", "b"]], masks_for(rng, 400), ks=(1, 10, 300))
    check_masked(tiny, [["a"], ["a", "b"], ["c", "a"]],
                 [np.array(m, bool) for m in ([1, 0, 1, 1], [0, 1, 0, 1], [0, 0, 0, 0])], ks=(1, 2, 4))


def test_ten_passages_of_one_source_among_thousands_that_score_higher():
    docs = [["match", "match", "match"] for _ in range(3000)] + [["match"] + ["pad"] * 40 for _ in range(10)]
    allowed = np.zeros(len(docs), bool)
    allowed[3000:] = True
    ids, scores, total = Bm25Scorer(build_arrays(docs, IndexSettings())).top_k(["match"], 10, allowed)
    assert sorted(ids) == list(range(3000, 3010)) and total == 10


def test_a_mask_of_the_wrong_length_is_refused():
    scorer = Bm25Scorer(build_arrays([["x"], ["y"]], IndexSettings()))
    with pytest.raises(ValueError, match="one entry per passage"):
        scorer.top_k(["x"], 1, np.ones(3, bool))


words = st.sampled_from(["a", "b", "c", "d", "e", "f", "g", "h"])


@hsettings(max_examples=60, deadline=None)
@given(docs=st.lists(st.lists(words, max_size=12), min_size=1, max_size=90),
       query=st.lists(words, min_size=1, max_size=4),
       bits=st.lists(st.booleans(), min_size=90, max_size=90),
       k=st.integers(1, 20), eps=st.floats(0, 0.5))
def test_random_small_corpora(docs, query, bits, k, eps):
    docs[0] = docs[0] + ["a"]  # an index holds at least one word
    allowed = np.array(bits[:len(docs)], bool)
    check_masked(docs, [query], [allowed], ks=(k,), settings=IndexSettings(epsilon=eps))
