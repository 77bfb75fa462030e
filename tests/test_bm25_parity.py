"""Our scores must equal rank_bm25.BM25Okapi.get_scores for the same tokens."""

import json
import os
from pathlib import Path

import numpy as np
import pytest
from rank_bm25 import BM25Okapi

from service import open_corpus
from service.text.analysis import Analyzer
from service.config import IndexSettings
from service.corpus.reader import load_corpus
from service.index.arrays import build_arrays
from service.retrieval.scorer import Bm25Scorer
from service.corpus.passages import passages_of
from service.retrieval.retriever import Retriever

RTOL = 1e-9


def assert_parity(docs, queries, settings=IndexSettings()):
    ours = Bm25Scorer(build_arrays(docs, settings))
    ref = BM25Okapi(docs, k1=settings.k1, b=settings.b, epsilon=settings.epsilon)
    for q in queries:
        np.testing.assert_allclose(ours.scores(q), ref.get_scores(q), rtol=RTOL, atol=1e-12)


def test_parity_on_seed_passages(seed_articles):
    analyzer = Analyzer()
    docs = [analyzer(p.text) for p in passages_of(seed_articles)]
    queries = [analyzer(q) for q in [
        "How many trusts attended the first Lorenzo user group meeting?",
        "BT London write-down £336m", "NHS trusts NHS trusts", "nothing-matches-zzz"]]
    assert_parity(docs, queries)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_parity_on_random_corpus(seed):
    rng = np.random.default_rng(seed)
    vocab = [f"w{i}" for i in range(300)]
    docs = [list(rng.choice(vocab, size=rng.integers(0, 40), p=_zipf(300))) for _ in range(400)]
    docs[3] = []  # an empty document
    queries = [list(rng.choice(vocab, size=rng.integers(1, 6))) for _ in range(30)]
    settings = IndexSettings(k1=float(rng.uniform(0.5, 2)), b=float(rng.uniform(0, 1)),
                             epsilon=float(rng.uniform(0, 0.5)))
    assert_parity(docs, queries, settings)


def test_parity_when_terms_occur_in_over_half_the_documents():
    # "common" is in 90% of documents: its raw idf is negative, and rank-bm25
    # floors it to epsilon * mean idf.  bm25s-style idf would differ here.
    rng = np.random.default_rng(7)
    docs = []
    for i in range(50):
        doc = [f"rare{i % 17}", f"mid{i % 3}"]
        if i % 10:
            doc += ["common"] * int(rng.integers(1, 4))
        docs.append(doc)
    arrays = build_arrays(docs, IndexSettings())
    ref = BM25Okapi(docs)
    assert ref.idf["common"] == pytest.approx(0.25 * ref.average_idf)
    assert ref.idf["common"] != pytest.approx(np.log(50 - 45 + 0.5) - np.log(45 + 0.5))
    assert_parity(docs, [["common"], ["common", "rare3"], ["mid1", "common", "mid1"]])
    assert arrays.idf[arrays.terms.index("common")] == pytest.approx(ref.idf["common"], rel=RTOL)


def test_top_k_ties_break_by_passage_order():
    docs = [["a", "b"], ["a", "b"], ["c"], ["a", "b"]]
    scorer = Bm25Scorer(build_arrays(docs, IndexSettings()))
    ids, scores, total = scorer.top_k(["a"], 2)
    assert list(ids) == [0, 1] and total == 3 and scores[0] == scores[1]


def test_top_k_matches_full_sort_on_random_corpus():
    rng = np.random.default_rng(3)
    vocab = [f"w{i}" for i in range(50)]
    docs = [list(rng.choice(vocab, size=rng.integers(1, 20))) for _ in range(500)]
    scorer = Bm25Scorer(build_arrays(docs, IndexSettings()))
    for _ in range(20):
        q = list(rng.choice(vocab, size=3))
        full = scorer.scores(q)
        matched = [d for d in range(len(docs)) if set(q) & set(docs[d])]
        expected = sorted(matched, key=lambda d: (-full[d], d))[:10]
        ids, scores, total = scorer.top_k(q, 10)
        assert list(ids) == expected and total == len(matched)


def _zipf(n):
    w = 1 / np.arange(1, n + 1)
    return w / w.sum()


def test_tied_hits_come_in_passage_id_order_whatever_the_corpus_order(tmp_path):
    """A JSONL corpus lists its records in any order; equal scores still
    rank by source ID, then passage number."""
    ids = ["zeta", "alpha", "mid", "beta"]
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"id": i, "text": "Lorenzo is a patient record system."}) + "\n"
                              for i in ids), encoding="utf-8")
    hits = open_corpus(corpus, tmp_path / "index").search("Lorenzo record", 4).hits
    assert len({h.score for h in hits}) == 1
    assert [h.source_id for h in hits] == sorted(ids)


#: BEIR SciFact, where this project's shared datasets live beside the
#: checkout (GROUNDEDQA_SCIFACT names another place); it is not bundled.
SCIFACT = Path(os.environ.get("GROUNDEDQA_SCIFACT",
                              Path(__file__).resolve().parents[2] / "shared" / "datasets" / "scifact"))


@pytest.mark.slow
@pytest.mark.skipif(not (SCIFACT / "corpus.jsonl").is_file(), reason=f"SciFact not found at {SCIFACT}")
def test_parity_on_scifact():
    """Every passage of SciFact's 5,183 abstracts, scored for 60 of its
    questions: dense scores equal get_scores, and the pruned top 10 is the
    top 10 of those scores (ties by passage)."""
    analyzer = Analyzer()
    docs = [analyzer(p.text) for p in passages_of(load_corpus(SCIFACT / "corpus.jsonl").articles)]
    lines = (SCIFACT / "queries.jsonl").read_text(encoding="utf-8").splitlines()[:60]
    queries = [analyzer(json.loads(line)["text"]) for line in lines]
    assert len(docs) > 5000 and len(queries) == 60
    ours = Bm25Scorer(build_arrays(docs, IndexSettings()))
    ref = BM25Okapi(docs, k1=IndexSettings().k1, b=IndexSettings().b, epsilon=IndexSettings().epsilon)
    for q in queries:
        expected = ref.get_scores(q)
        np.testing.assert_allclose(ours.scores(q), expected, rtol=RTOL, atol=1e-12)
        ids, scores, _ = ours.top_k(q, 10)
        full = ours.scores(q)
        assert list(ids) == sorted(np.flatnonzero(full > 0), key=lambda d: (-full[d], d))[:10]
        np.testing.assert_allclose(scores, expected[ids], rtol=RTOL)
