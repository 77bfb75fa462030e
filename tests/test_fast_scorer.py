"""The pruned top-k scorer against rank-bm25 and against a full sort.

``Bm25Scorer.top_k`` skips postings (candidates completed by lookups in
the long lists, see service/kernels.py) and counts matches through
bitmaps; these corpora are built so that both the pruned and the
exhaustive paths are taken: frequent terms (bitmaps, long lists), rare
high-weight terms, repeated and unknown query terms, empty documents,
exact score ties.
"""

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from service.text.analysis import Analyzer
from service.config import IndexSettings
from service.retrieval import kernels
from service.index.arrays import BITMAP_RATIO, build_arrays
from service.retrieval.scorer import ALL, Bm25Scorer
from service.corpus.passages import passages_of

RTOL = 1e-9


def expected_top_k(ref_scores, docs, query, k):
    """Reference: rank-bm25's dense scores, matched docs only, full sort."""
    q = set(query)
    matched = [d for d, doc in enumerate(docs) if q & set(doc)]
    order = sorted(matched, key=lambda d: (-ref_scores[d], d))
    return order[:k], len(matched)


def check(docs, queries, ks=(1, 3, 10), settings=IndexSettings()):
    scorer = Bm25Scorer(build_arrays(docs, settings))
    ref = BM25Okapi(docs, k1=settings.k1, b=settings.b, epsilon=settings.epsilon)
    for q in queries:
        ref_scores = ref.get_scores(q)
        ours = scorer.scores(q)
        np.testing.assert_allclose(ours, ref_scores, rtol=RTOL, atol=1e-12)
        for k in ks:
            ids, scores, total = scorer.top_k(q, k)
            # Exact order against our own dense scores (bit-identical sums,
            # so ties are ties), and the same scores as rank-bm25.
            want, n_matched = expected_top_k(ours, docs, q, k)
            assert list(ids) == want, (q, k)
            assert total == n_matched
            np.testing.assert_allclose(scores, ref_scores[want], rtol=RTOL, atol=1e-12)
            assert np.array_equal(scores, ours[want])


def zipf_corpus(rng, n_docs, n_vocab, max_len, a=1.1):
    vocab = np.array([f"w{i}" for i in range(n_vocab)])
    p = 1 / np.arange(1, n_vocab + 1) ** a
    p /= p.sum()
    return [list(rng.choice(vocab, size=int(rng.integers(0, max_len)), p=p)) for _ in range(n_docs)], vocab


def test_seed_passages_top_k(seed_articles):
    analyzer = Analyzer()
    docs = [analyzer(p.text) for p in passages_of(seed_articles)]
    queries = [analyzer(q) for q in [
        "How many trusts attended the first Lorenzo user group meeting?",
        "BT London write-down £336m", "NHS trusts NHS trusts", "nothing-matches-zzz",
        "the contract of the programme"]]
    check(docs, queries, ks=(1, 5, 50))


@pytest.mark.parametrize("seed", range(4))
def test_random_zipf_corpora(seed):
    rng = np.random.default_rng(seed)
    docs, vocab = zipf_corpus(rng, 600, 400, 60)
    docs[5] = []
    docs[17] = []
    queries = []
    for _ in range(25):
        q = list(rng.choice(vocab[:40], size=int(rng.integers(1, 3))))  # frequent terms
        q += list(rng.choice(vocab, size=int(rng.integers(0, 4))))  # any terms
        if rng.random() < 0.3:
            q += q[:1]  # a repeated term
        if rng.random() < 0.3:
            q.append("unknown-term")
        queries.append(q)
    settings = IndexSettings(k1=float(rng.uniform(0.5, 2)), b=float(rng.uniform(0, 1)),
                             epsilon=float(rng.uniform(0, 0.5)))
    check(docs, queries, settings=settings)


def test_terms_in_over_half_the_documents_and_dense_bitmaps():
    rng = np.random.default_rng(11)
    docs = []
    for i in range(700):
        doc = ["common"] * int(rng.integers(1, 4)) if i % 10 else []
        if i % 3 == 0:
            doc.append("third")
        if i % 97 == 0:
            doc += ["rare"] * int(rng.integers(1, 3))
        doc += [f"uniq{i}"] * int(rng.integers(0, 2))
        docs.append(doc)
    arrays = build_arrays(docs, IndexSettings())
    common = arrays.terms.index("common")
    assert arrays.bitmap_row[common] >= 0  # frequent: counted through a bitmap
    assert arrays.bitmap_row[arrays.terms.index("rare")] == -1
    assert (arrays.bitmap_row >= 0).sum() == (np.diff(arrays.ptr) * BITMAP_RATIO >= len(docs)).sum()
    check(docs, [["common"], ["common", "rare"], ["rare", "third", "common", "uniq5"],
                 ["third", "uniq3", "uniq9", "uniq700"], ["common", "common", "third"]])


def test_pruning_keeps_exact_results_when_rare_terms_dominate():
    # One frequent low-weight term, a few rare high-weight ones: the
    # rare-term documents' completed scores beat anything the frequent
    # term alone can give, so its list is only looked up, never walked.
    rng = np.random.default_rng(5)
    docs = []
    for i in range(3000):
        doc = ["filler"] * int(rng.integers(5, 30))
        if rng.random() < 0.8:
            doc += ["often"] * int(rng.integers(1, 5))
        if rng.random() < 0.02:
            doc += ["gem"] * int(rng.integers(1, 3))
        if rng.random() < 0.005:
            doc.append("jewel")
        docs.append(doc)
    check(docs, [["often", "gem"], ["gem", "often", "jewel"], ["often", "jewel"], ["filler", "gem"]],
          ks=(1, 2, 10, 100))


def test_exact_ties_break_by_document_id():
    # Identical documents score identically; the lower id must win every
    # cut-off, including where the k-th place falls inside a tie.
    base = [["alpha", "beta"], ["alpha"], ["beta", "beta"], ["gamma"]]
    docs = [list(base[i % 4]) for i in range(200)]
    check(docs, [["alpha"], ["beta", "alpha"], ["gamma", "alpha"], ["alpha", "alpha", "beta"]],
          ks=(1, 7, 50, 51, 150, 500))


def test_ties_found_out_of_id_order_still_go_to_the_lower_id():
    # "y" and "z" have equal df, so their documents score exactly alike;
    # the lists are revisited y first, so the lower-id z documents reach
    # the heap after the higher-id y documents and must still win the cut.
    docs = [["y"] if i % 2 == 0 else ["z"] for i in range(40)] + [["filler"]] * 400
    check(docs, [["y", "z"], ["z", "y"]], ks=(1, 5, 9, 25))


def test_negative_weights_on_a_tiny_corpus():
    # Every term in most documents: rank-bm25's floor makes idf negative,
    # so matched documents score below unmatched ones; still returned in
    # score order and counted.
    docs = [["a", "b"], ["a", "b"], ["a"], ["b", "c"]]
    arrays = build_arrays(docs, IndexSettings())
    assert (arrays.weights < 0).any()
    check(docs, [["a"], ["a", "b"], ["c", "a"], ["b", "b"]], ks=(1, 2, 4))


def test_empty_and_unknown_queries_match_nothing():
    scorer = Bm25Scorer(build_arrays([["x"], ["y"]], IndexSettings()))
    for q in ([], ["zzz"], ["zzz", "qqq"]):
        ids, scores, total = scorer.top_k(q, 5)
        assert len(ids) == len(scores) == total == 0
    assert scorer.top_k(["x"], 0)[2] == 0


def test_streamed_build_equals_building_from_the_analyzers_terms(seed_retriever, seed_articles):
    # build.py maps surface strings straight to term ids; the result must be
    # the index of exactly the analyzer's terms (title terms first).
    analyzer = Analyzer()
    docs = [(analyzer(a.title) if a.title else []) + analyzer(p.text)
            for a in seed_articles for p in passages_of([a])]
    want = build_arrays(docs, IndexSettings())
    got = seed_retriever.scorer.parts[0].arrays
    assert got.terms == want.terms and got.avgdl == want.avgdl
    for name in ("ptr", "docs", "weights", "doc_len", "idf", "max_weight", "bitmap_row", "bitmaps"):
        assert np.array_equal(getattr(got, name), getattr(want, name)), name


def test_search_many_equals_search_one_by_one(seed_retriever):
    questions = ["How many trusts attended the first Lorenzo user group meeting?", "BT London write-down",
                 "zzz-no-such-word", "", "NHS trusts NHS trusts", "the contract"] * 3
    for threads in (1, 3):
        batch = seed_retriever.search_many(questions, k=4, threads=threads)
        assert batch == [seed_retriever.search(q, 4) for q in questions]


def test_document_at_a_time_path_is_exact_with_ties_and_repeats():
    # A rare word beside common ones: the rare word's documents give a
    # starting threshold and the common lists are only looked up (see
    # kernels.maxscore_top_k).  Documents repeat in blocks of identical
    # copies, so the k-th place often falls inside a tie.
    rng = np.random.default_rng(21)
    block = []
    for _ in range(400):
        doc = ["common"] * int(rng.integers(1, 4))
        if rng.random() < 0.3:
            doc += ["mid"] * int(rng.integers(1, 3))
        if rng.random() < 0.03:
            doc.append("rare")
        if rng.random() < 0.02:
            doc.append("gem")
        block.append(doc)
    docs = [list(d) for d in block for _ in range(3)] + [["filler"]] * 50
    scorer = Bm25Scorer(build_arrays(docs, IndexSettings()))
    queries = [["rare", "common"], ["rare", "mid", "common", "common"], ["rare", "gem", "common"],
               ["common", "rare", "unknown-term"], ["gem", "common", "mid"]]
    for q in queries:
        ids, mul = scorer.query_ids(q)
        order = kernels.term_order(scorer.arrays.df, ids)
        assert kernels.seed_threshold(*scorer.postings[:3], ids, mul, order, 10, ALL) > -np.inf, q
    check(docs, queries, ks=(1, 2, 10, 11, 30, 100))
