"""Hybrid retrieval: passage vectors in the index, the blend of BM25 and
meaning, and lexical-only indexes served as they were built."""

from __future__ import annotations

import json

import numpy as np
import pytest

from service import open_corpus
from service.config import Config, RetrievalSettings
from service.embedding import dequantize
from service.embedding.shared import shared_encoder
from service.index.build import build_from_report, ensure_index
from service.index.store import IndexFault, load_version
from service.index.vectors import encode_passages
from service.corpus.reader import load_corpus
from service.retrieval.retriever import Retriever
from service.web.app import create_app

ARTICLES = {
    "gp.txt": "Family doctors in rural areas say they cannot recruit enough staff for their surgeries.",
    "fine.txt": "The regulator fined the water company four million pounds for polluting the river.",
    "rail.txt": "Train services between the two cities were cancelled after a landslide blocked the line.",
    "bank.txt": "The central bank raised interest rates for the third time this year to curb inflation.",
}


@pytest.fixture
def corpus(make_corpus):
    return make_corpus(ARTICLES, "news")


def test_the_index_stores_one_vector_per_passage_from_the_shipped_encoder(corpus, tmp_path):
    r = open_corpus(corpus, tmp_path / "idx")
    assert r.semantic and r.default_retrieval == "hybrid"
    stored = r.weighted
    assert stored.vectors.dtype == np.int8 and stored.vectors.shape == (r.n_passages, shared_encoder().dim)
    manifest = r.stored.manifest
    assert manifest["semantic"]["model"] == "all-MiniLM-L6-v2"
    assert {"vectors.npy", "vector_scales.npy"} <= {f.split("/")[-1] for f in manifest["files"]}  # checksummed
    # One passage an article, numbered in source-ID order: bank, fine, gp, rail.
    assert [s["id"] for s in stored.sources] == ["bank", "fine", "gp", "rail"]
    want = shared_encoder().encode_passages([ARTICLES["rail.txt"]])[0]
    got = dequantize(np.asarray(stored.vectors[3:4]), np.asarray(stored.vector_scales[3:4]))[0]
    assert float(got @ want) > 0.99  # the stored vector is the passage's own, to int8 precision


def test_hybrid_order_is_the_documented_blend(corpus, tmp_path):
    # Every passage is a candidate: the one BM25 finds, the rest by meaning.
    settings = RetrievalSettings(hybrid_depth=100, hybrid_weight=0.3, dense_depth=4)
    r = Retriever(ensure_index(Config(corpus=corpus, index_dir=tmp_path / "idx")), settings)
    q = "Which company was fined for polluting?"
    hits = r.search(q, 4).hits
    bm25 = r.scorer.scores(r.query_terms(q))  # rank-bm25's scores of every passage
    qv = shared_encoder().encode_queries([q])[0]
    vecs = dequantize(np.asarray(r.weighted.vectors), np.asarray(r.weighted.vector_scales))
    doc_of = {s["id"]: i for i, s in enumerate(r.weighted.sources)}  # one passage an article
    assert len(hits) == 4 and hits[0].source_id == "fine"
    for h in hits:
        doc = doc_of[h.source_id]
        assert h.score == bm25[doc]  # BM25 scores stay rank-bm25's, 0 for no shared word
        assert h.semantic_score == pytest.approx(float(qv @ vecs[doc]), abs=1e-5)
        assert h.rank_score == pytest.approx(0.3 * h.score / bm25.max() + 0.7 * h.semantic_score, abs=1e-9)
    assert [h.rank_score for h in hits] == sorted((h.rank_score for h in hits), reverse=True)


def test_meaning_finds_a_paraphrase_that_shares_no_word(corpus, tmp_path):
    q = "Which GPs are short of employees?"  # no word of gp.txt after stemming and stopwords
    lexical_only = Retriever(ensure_index(Config(corpus=corpus, index_dir=tmp_path / "idx")))
    assert all(h.source_id != "gp" for h in lexical_only.search(q, 4, "lexical").hits)
    r = Retriever(lexical_only.stored, RetrievalSettings(dense_depth=2))
    assert r.search(q, 1).hits[0].source_id == "gp"


def test_a_lexical_index_is_served_as_built_and_says_so(corpus, tmp_path):
    config = Config(corpus=corpus, index_dir=tmp_path / "idx", semantic=False)
    stored = ensure_index(config)
    assert stored.manifest["semantic"] is None and stored.segments[0].vectors is None
    # Asked for later with vectors on, it is not rebuilt to add them.
    again = ensure_index(Config(corpus=corpus, index_dir=tmp_path / "idx"))
    assert again.path == stored.path
    r = Retriever(again)
    assert not r.semantic and r.search("water").retrieval == "lexical"
    with pytest.raises(ValueError, match="no passage vectors"):
        r.search("water", retrieval="hybrid")
    client = create_app(Config(corpus=corpus), r).test_client()
    ready = client.get("/readyz").get_json()
    assert ready["index"]["retrieval"] == "lexical" and ready["index"]["semantic"] is None
    resp = client.get("/api/search", query_string={"q": "water", "retrieval": "hybrid"})
    assert resp.status_code == 400
    assert resp.get_json()["errors"] == [{"param": "retrieval", "message": (
        "retrieval=hybrid is not available: this index has no passage vectors (it was built with --no-semantic)")}]
    bad = client.get("/api/search", query_string={"q": "water", "retrieval": "dense"})
    assert bad.status_code == 400 and bad.get_json()["errors"][0]["param"] == "retrieval"


def test_readyz_names_the_encoder_of_a_hybrid_index(client):
    index = client.get("/readyz").get_json()["index"]
    assert index["retrieval"] == "hybrid" and index["semantic"]["model"] == "all-MiniLM-L6-v2"
    assert index["semantic"]["dim"] == 384


def test_vectors_that_do_not_fit_the_index_are_refused(corpus, tmp_path):
    version = ensure_index(Config(corpus=corpus, index_dir=tmp_path / "idx")).path
    manifest = json.loads((version / "manifest.json").read_text())
    manifest["semantic"]["dim"] = 128
    (version / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(IndexFault, match="passage vectors do not fit"):
        load_version(version, verify=False)


def test_parallel_encoding_gives_the_same_vectors_as_one_process():
    texts = [f"Article {i} says the council {'approved' if i % 2 else 'rejected'} plan {i}." for i in range(300)]
    one = encode_passages(texts, workers=1, progress=False)
    two = encode_passages(texts, workers=2, progress=False)
    assert np.array_equal(one[0], two[0]) and np.array_equal(one[1], two[1])


def test_scores_of_chosen_passages_equal_their_dense_scores(seed_retriever):
    scorer = seed_retriever.scorer
    terms = seed_retriever.query_terms("Lorenzo trusts NHS contract write-down")
    dense = scorer.scores(terms)
    docs = np.arange(0, seed_retriever.n_passages, 3)
    assert np.array_equal(scorer.scores_of(terms, docs), dense[docs])


def test_index_without_semantic_flag_builds_lexically(corpus, tmp_path):
    report = load_corpus(corpus)
    version = build_from_report(report, tmp_path / "lex", Config().settings, semantic=False, progress=False)
    assert load_version(version).segments[0].vectors is None
