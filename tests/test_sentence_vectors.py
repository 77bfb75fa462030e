"""The passages' sentences' vectors: stored with every segment, carried by
changes and compaction, and read by the hybrid ranking beside the passage's."""

from __future__ import annotations

import numpy as np
import pytest

from service.config import Config, IndexSettings, RetrievalSettings
from service.corpus.reader import Article, CorpusReport
from service.embedding import dequantize, quantize
from service.embedding.shared import shared_encoder
from service.index.build import build_from_report, ensure_index
from service.index.changes import apply_changes, compact
from service.index.segments import SentenceVectors
from service.index.store import current_version, load_version
from service.index.vectors import passage_sentences
from service.retrieval import hybrid
from service.retrieval.retriever import Retriever

ARTICLES = [
    Article("flood", "Heavy rain fell all week. The river burst its banks on Tuesday night. "
                     "Two hundred homes were evacuated by the fire service."),
    Article("school", "Budget talks\n\nThe council approved a new primary school. It opens next September "
                      "with places for 400 pupils."),
    Article("bus", "Bus fares rise in January. The operator blamed fuel costs."),
    Article("zoo", "A baby giraffe was born at the city zoo. Keepers said mother and calf are well."),
]


def build(path, articles, sentences=True, settings=IndexSettings()):
    build_from_report(CorpusReport(articles=list(articles)), path, settings, progress=False, sentences=sentences)
    return load_version(current_version(path))


def test_every_sentence_of_every_passage_has_its_own_vector(tmp_path):
    stored = build(tmp_path / "idx", ARTICLES)
    assert stored.manifest["semantic"]["sentences"] is True
    files = {f.split("/")[-1] for f in stored.manifest["files"]}
    assert {"sentence_ptr.npy", "sentence_vectors.npy", "sentence_scales.npy"} <= files  # checksummed
    seg = stored.segments[0]
    s = seg.sentences
    texts = [seg.source_text(int(si))[int(a):int(b)] for si, a, b in
             zip(seg.passages["p_source"], seg.passages["p_start"], seg.passages["p_end"])]
    want = [t[a:b] for t in texts for a, b in passage_sentences(t)]
    assert np.diff(s.ptr).tolist() == [len(passage_sentences(t)) for t in texts]
    assert "Budget talks" not in want  # a heading is no sentence
    encoded = shared_encoder().encode_passages(want)
    got = dequantize(np.asarray(s.codes), np.asarray(s.scales))
    assert np.min(np.sum(got * encoded, axis=1)) > 0.99  # each its own sentence's, to int8 precision


def test_the_switch_off_stores_passage_vectors_only_and_ranks_by_them(tmp_path, make_corpus):
    stored = build(tmp_path / "idx", ARTICLES, sentences=False)
    assert stored.manifest["semantic"]["sentences"] is False and stored.segments[0].sentences is None
    assert not any("sentence_" in f for f in stored.manifest["files"])
    r = Retriever(stored)
    assert r.semantic and r.weighted.sentences is None
    q = "How many houses were emptied when the river flooded?"
    plain = Retriever(stored, RetrievalSettings(sentence_share=0.0))
    assert [h.rank_score for h in r.search(q, 4).hits] == [h.rank_score for h in plain.search(q, 4).hits]
    # Config's switch reaches a new index.
    folder = make_corpus({f"{a.source_id}.txt": a.text for a in ARTICLES})
    off = ensure_index(Config(corpus=folder, index_dir=tmp_path / "cfg", sentence_vectors=False))
    assert off.manifest["semantic"]["sentences"] is False


def random_sentences(rng, n_docs, dim=16):
    counts = rng.integers(0, 5, n_docs)  # some passages without sentences
    ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    codes, scales = quantize(rng.normal(size=(int(ptr[-1]), dim)).astype(np.float32))
    return SentenceVectors(ptr, codes, scales)


@pytest.mark.parametrize("seed", range(5))
def test_the_gathered_best_sentence_equals_the_plain_one(seed):
    rng = np.random.default_rng(seed)
    sentences = random_sentences(rng, 60)
    q = rng.normal(size=16).astype(np.float32)
    docs = rng.permutation(60)[: rng.integers(1, 60)]
    cosine = rng.normal(size=len(docs))
    fast = hybrid.best_sentence(q, docs, sentences, cosine)
    plain = hybrid.best_sentence_plain(q, docs, sentences, cosine)
    np.testing.assert_allclose(fast, plain, rtol=0, atol=1e-6)
    empty = np.diff(sentences.ptr)[docs] == 0
    assert (fast[empty] == cosine[empty]).all()  # a passage without sentences keeps its own cosine


def test_the_ranking_is_the_documented_blend_with_the_best_sentence(tmp_path):
    stored = build(tmp_path / "idx", ARTICLES)
    settings = RetrievalSettings(dense_depth=10, sentence_weight=0.4, sentence_share=0.5)
    r = Retriever(stored, settings)
    q = "How many houses were emptied when the river flooded?"
    hits = r.search(q, 10).hits
    assert len(hits) == r.n_passages  # every passage a candidate
    qv = shared_encoder().encode_queries([q])[0]
    s = r.weighted.sentences
    docs = np.array([h.doc for h in hits])
    cos = np.array([h.semantic_score for h in hits])
    best = hybrid.best_sentence_plain(qv, docs, s, cos)
    bm25 = np.array([h.score for h in hits])

    def z(x):
        return (x - x.mean()) / x.std() if x.std() > 0 else 0 * x

    want = 0.4 * z(bm25) + 0.6 * (0.5 * z(cos) + 0.5 * z(best))
    np.testing.assert_allclose([h.rank_score for h in hits], want, atol=1e-6)
    assert hits[0].source_id == "flood"


def test_changes_and_compaction_carry_the_sentence_vectors_as_a_full_build_writes_them(tmp_path):
    idx = tmp_path / "idx"
    settings = IndexSettings()
    apply_changes(idx, settings, add=ARTICLES[:2], progress=False)
    apply_changes(idx, settings, add=ARTICLES[2:] + [Article("flood", "The flood is over. Families went home.")],
                  progress=False)
    apply_changes(idx, settings, remove=["bus"], progress=False)
    live = [Article("flood", "The flood is over. Families went home."), ARTICLES[1], ARTICLES[3]]
    full = build(tmp_path / "full", live)
    # Before compaction: the segments' sentences joined in the passages' numbering.
    stored = load_version(current_version(idx))
    assert len(stored.segments) == 2
    joined = Retriever(stored).weighted
    want = Retriever(full).weighted
    for r in (joined, want):
        assert r.sentences.ptr[-1] == len(r.sentences.codes)
    live_rows = {}
    for w in (joined, want):
        ptr = np.asarray(w.sentences.ptr)
        rows = {}
        for d in np.flatnonzero(w.live):
            key = (w.sources[int(w.passages["p_source"][d])]["id"], int(w.passages["p_n"][d]))
            rows[key] = np.asarray(w.sentences.codes[ptr[d]:ptr[d + 1]]).tobytes()
        live_rows[id(w)] = rows
    assert live_rows[id(joined)] == live_rows[id(want)]
    compact(idx)
    (merged,) = load_version(current_version(idx)).segments
    m_dir, f_dir = current_version(idx) / merged.name, full.path / full.segments[0].name
    for name in ("sentence_ptr.npy", "sentence_vectors.npy", "sentence_scales.npy", "vectors.npy"):
        assert (m_dir / name).read_bytes() == (f_dir / name).read_bytes(), name
