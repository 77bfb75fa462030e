"""Hybrid retrieval: passage vectors in the index, the blend of BM25 and
meaning, and lexical-only indexes served as they were built."""

from __future__ import annotations

import json

import numpy as np
import pytest

from service import open_corpus
from service.config import Config, RetrievalSettings
from service.embedding import dequantize, quantize
from service.embedding.shared import shared_encoder
from service.index.build import build_from_report, ensure_index
from service.index.changes import apply_changes
from service.index.store import IndexFault, load_version
from service.index.vectors import encode_passages
from service.corpus.reader import load_corpus
from service.retrieval import dense
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
    # Every passage is a candidate: the one BM25 finds, the rest by meaning;
    # the passages' cosines alone (sentence_share 0; the sentences' blend:
    # tests/test_sentence_vectors.py).
    settings = RetrievalSettings(hybrid_depth=100, hybrid_weight=0.3, dense_depth=4, sentence_share=0.0)
    r = Retriever(ensure_index(Config(corpus=corpus, index_dir=tmp_path / "idx")), settings)
    q = "Which company was fined for polluting?"
    hits = r.search(q, 4).hits
    bm25 = r.scorer.scores(r.query_terms(q))  # rank-bm25's scores of every passage
    qv = shared_encoder().encode_queries([q])[0]
    vecs = dequantize(np.asarray(r.weighted.vectors), np.asarray(r.weighted.vector_scales))
    cos = vecs @ qv
    doc_of = {s["id"]: i for i, s in enumerate(r.weighted.sources)}  # one passage an article
    assert len(hits) == 4 and hits[0].source_id == "fine"
    for h in hits:
        doc = doc_of[h.source_id]
        assert h.score == bm25[doc]  # BM25 scores stay rank-bm25's, 0 for no shared word
        assert h.semantic_score == pytest.approx(float(cos[doc]), abs=1e-5)
        # z-scores among the four candidates, 0.3 on BM25's share
        z_bm25 = (bm25[doc] - bm25.mean()) / bm25.std()
        z_cos = (h.semantic_score - np.mean([x.semantic_score for x in hits])) / np.std([x.semantic_score for x in hits])
        assert h.rank_score == pytest.approx(0.3 * z_bm25 + 0.7 * z_cos, abs=1e-9)
    assert [h.rank_score for h in hits] == sorted((h.rank_score for h in hits), reverse=True)


def test_meaning_finds_a_paraphrase_that_shares_no_word(corpus, tmp_path):
    # No word of gp.txt after stemming and stopwords; "bank" is bank.txt's.
    q = "Which GPs are short of employees in the countryside, the bank asks?"
    lexical_only = Retriever(ensure_index(Config(corpus=corpus, index_dir=tmp_path / "idx")))
    assert all(h.source_id != "gp" for h in lexical_only.search(q, 4, "lexical").hits)
    r = Retriever(lexical_only.stored, RetrievalSettings(dense_depth=2))
    assert r.search(q, 1).hits[0].source_id == "gp"
    # A question sharing no word with any passage finds nothing, meaning or not.
    assert r.search("Which GPs are short of employees?", 4).hits == []


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


@pytest.mark.parametrize("n_passages, n", [(1, 1), (7, 3), (300, 20), (1000, 50), (600, 600), (40, 100)])
def test_the_compiled_nearest_scan_equals_the_plain_one(n_passages, n):
    rng = np.random.default_rng(n_passages)
    vecs = rng.standard_normal((n_passages, 384)).astype(np.float32)
    vecs[n_passages // 2:] = vecs[:n_passages - n_passages // 2]  # repeated vectors: ties go to the lower id
    codes, scales = quantize(vecs / np.linalg.norm(vecs, axis=1, keepdims=True))
    question = rng.standard_normal(384).astype(np.float32)
    for allowed in (None, rng.random(n_passages) < 0.7, np.zeros(n_passages, dtype=bool)):
        want = dense.nearest_plain(question, codes, scales, n, allowed)
        assert np.array_equal(dense.nearest(question, codes, scales, n, allowed), want)
        assert len(want) == min(n, n_passages if allowed is None else int(allowed.sum()))
        if allowed is not None:
            assert allowed[want].all()


def test_dense_candidates_never_bring_back_a_deleted_article(corpus, tmp_path):
    # Every passage is a dense candidate; deleting "gp" must hide it from
    # them too, in a version of two segments where the deletion is a mask.
    index = tmp_path / "idx"
    apply_changes(index, Config().settings, add=load_corpus(corpus).articles[:2], progress=False)
    apply_changes(index, Config().settings, add=load_corpus(corpus).articles[2:], progress=False)
    settings = RetrievalSettings(dense_depth=10)
    before = Retriever(Retriever.open(index).stored, settings)
    assert len(before.stored.segments) == 2
    q = "Which GPs are short of employees in the countryside, the bank asks?"  # a word of bank.txt alone
    assert {h.source_id for h in before.search(q, 10).hits} == {"bank", "fine", "gp", "rail"}
    apply_changes(index, Config().settings, remove=["gp"], progress=False)
    after = Retriever(Retriever.open(index).stored, settings)
    assert len(after.stored.segments) == 2 and after._live is not None
    hits = after.search(q, 10).hits
    assert {h.source_id for h in hits} == {"bank", "fine", "rail"}
