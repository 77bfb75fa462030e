"""A living archive: after any sequence of adds, replacements, removals and
compactions, every score, every top-k order and every total equals a full
rebuild's of the same articles, and rank-bm25's BM25Okapi."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
from hypothesis import HealthCheck, settings as hsettings, strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from rank_bm25 import BM25Okapi

from service.config import IndexSettings
from service.corpus.passages import passages_of
from service.corpus.reader import Article, CorpusReport
from service.index.build import build_from_report, mismatch
from service.index.changes import MAX_SEGMENTS, UnknownSources, apply_changes, compact
from service.index.store import current_version, load_version
from service.retrieval.collection import Filters
from service.retrieval.retriever import Retriever

#: Short passages, so articles have several; no stemming surprises.
SETTINGS = IndexSettings(max_words=12, max_sentences=2)
#: A few words: many repeats and ties, and words in over half the passages
#: (negative raw idf: rank-bm25's epsilon floor).
WORDS = ["lorenzo", "trust", "record", "patient", "contract", "london", "system", "meeting", "nurse", "budget"]
QUERIES = ["lorenzo", "trust record", "patient patient nurse", "london contract system meeting budget",
           "record trust lorenzo nurse", "zzzunknown", "budget"]

sentences = st.lists(st.sampled_from(WORDS), min_size=1, max_size=7).map(lambda ws: " ".join(ws).capitalize() + ".")
texts = st.lists(sentences, min_size=1, max_size=5).map(" ".join)
source_ids = st.sampled_from([f"a{i:02d}" for i in range(14)])


def passage_ids(r: Retriever, docs) -> list[str]:
    return [r._passage_fields(int(d))[0] for d in docs]


def assert_like_full_rebuild(index_dir, articles: dict[str, Article], work) -> None:
    """The index in ``index_dir`` scores as a full rebuild of ``articles``
    does (bit for bit, ties included) and as rank-bm25 does (to 1e-9)."""
    inc = Retriever.open(index_dir)
    full_dir = work / f"full-{next(_serial)}"
    build_from_report(CorpusReport(articles=list(articles.values())), full_dir, SETTINGS, progress=False,
                      semantic=False)
    full = Retriever.open(full_dir)
    assert (inc.n_passages, inc.n_sources) == (full.n_passages, full.n_sources)
    assert inc.stored.manifest["corpus_fingerprint"] == full.stored.manifest["corpus_fingerprint"]
    ordered = sorted(articles.values(), key=lambda a: a.source_id)
    tokens = [inc.analyzer(p.text) for p in passages_of(ordered, SETTINGS)]
    ref = BM25Okapi(tokens, k1=SETTINGS.k1, b=SETTINGS.b, epsilon=SETTINGS.epsilon)
    for q in QUERIES:
        terms = inc.query_terms(q)
        for k in (1, 3, 1000):
            d_inc, s_inc, t_inc = inc.scorer.top_k(terms, k)
            d_full, s_full, t_full = full.scorer.top_k(terms, k)
            assert passage_ids(inc, d_inc) == passage_ids(full, d_full), (q, k)
            assert s_inc.tolist() == s_full.tolist() and t_inc == t_full, (q, k)
        want = ref.get_scores(terms)
        np.testing.assert_allclose(full.scorer.scores(terms), want, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(s_full, want[d_full], rtol=1e-9, atol=1e-12)
        assert [inc.scorer.doc_freq(t) for t in terms] == [full.scorer.doc_freq(t) for t in terms]
    some = Filters(sources=tuple(sorted(articles)[::2]))  # a filter's mask beside the deletions
    plain = Retriever(inc.stored, one_shot=True)  # what `ask` searches with
    for q in QUERIES:
        hits = [[(h.passage_id, h.score) for h in r.search(q, 5, "lexical", some).hits] for r in (inc, full, plain)]
        assert hits[0] == hits[1] == hits[2], q
        assert_plain_equals_compiled(plain, inc, inc.query_terms(q), inc.collection.allowed(some))
    assert [e.to_json() for e in inc.collection.entries(0, 100)] == [e.to_json() for e in full.collection.entries(0, 100)]
    for sid in articles:
        assert inc.source(sid) == full.source(sid)
    assert inc.source("nope") is None


def assert_plain_equals_compiled(plain: Retriever, compiled: Retriever, terms: list[str], allowed) -> None:
    """The one-shot NumPy scorer gives the compiled one's results bit for bit."""
    p, c = plain.scorer, compiled.scorer
    for mask in (None, allowed):
        for k in (1, 3, 1000):
            got, want = p.top_k(terms, k, mask), c.top_k(terms, k, mask)
            assert got[0].tolist() == want[0].tolist() and got[1].tolist() == want[1].tolist(), (terms, k)
            assert got[2] == want[2]
        assert p.matches(terms, mask).tolist() == c.matches(terms, mask).tolist()
    assert p.scores(terms).tolist() == c.scores(terms).tolist()
    some = np.arange(0, int(c.offsets[-1]), 3)
    assert p.scores_of(terms, some).tolist() == c.scores_of(terms, some).tolist()
    assert [p.doc_freq(t) for t in terms + ["zzzunknown"]] == [c.doc_freq(t) for t in terms + ["zzzunknown"]]


_serial = itertools.count()


def test_a_change_checks_no_values_of_the_segments_it_links(tmp_path, monkeypatch):
    # A change reads the articles and links the segments; it runs no
    # kernel on them, and checking every array cost it most of a second
    # at 1M passages (twice: the manifest was read through a whole load).
    from service.index import checks

    idx = tmp_path / "idx"
    build_from_report(CorpusReport(articles=[Article("a", "Lorenzo trust record.", title=None)]), idx, SETTINGS,
                      progress=False, semantic=False)
    calls = []
    real = checks._value_problem
    monkeypatch.setattr(checks, "_value_problem", lambda *a: calls.append(a) or real(*a))
    apply_changes(idx, SETTINGS, add=[Article("b", "Patient nurse.", title=None)], semantic=False, progress=False)
    apply_changes(idx, SETTINGS, remove=["a"], progress=False)
    compact(idx)
    assert calls == []
    assert Retriever.open(idx).search("nurse", 1).hits[0].source_id == "b" and calls  # a reader checks them


def test_the_corpus_fingerprint_follows_the_articles_not_their_order_or_history(tmp_path):
    # A full build and an index made by add, replace and remove of the same
    # articles report one digest; a manifest from before the digest was a
    # sum gets it worked out again from its articles at the next change.
    a, b, c = (Article(s, f"{w} trust record.", title=t) for s, w, t in
               (("a", "Lorenzo", None), ("b", "Patient", "Ward"), ("c", "Nurse", None)))
    b2 = Article("b", "Budget meeting.", title="Ward", url="https://example.org/b")
    assert CorpusReport(articles=[a, b]).fingerprint() == CorpusReport(articles=[b, a]).fingerprint()
    assert CorpusReport(articles=[a, b]).fingerprint() != CorpusReport(articles=[a, b2]).fingerprint()

    def full(*articles):
        build_from_report(CorpusReport(articles=list(articles)), tmp_path / "full", SETTINGS, progress=False,
                          semantic=False)
        return load_version(current_version(tmp_path / "full")).manifest["corpus_fingerprint"]

    def changed(**kw):
        summary = apply_changes(idx, SETTINGS, semantic=False, progress=False, **kw)
        return load_version(summary.version).manifest["corpus_fingerprint"]

    idx = tmp_path / "idx"
    assert changed(add=[c, a]) == full(a, c)
    assert changed(add=[b]) == full(a, b, c)
    assert changed(add=[b2], remove=["c"]) == full(a, b2)
    compact(idx)
    assert load_version(current_version(idx)).manifest["corpus_fingerprint"] == full(a, b2)
    manifest_path = current_version(idx) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest_path.write_text(json.dumps({**manifest, "corpus_fingerprint": "0123456789abcdef0123456789abcdef"}))
    assert changed(add=[c]) == full(a, b2, c)


def test_an_index_with_the_ordered_digest_still_matches_its_corpus(tmp_path):
    # Indexes built before the digest was a sum hold the ordered one: they
    # are not rebuilt for it.
    report = CorpusReport(articles=[Article("b", "Patient nurse."), Article("a", "Lorenzo trust.")])
    version = build_from_report(report, tmp_path / "idx", SETTINGS, progress=False, semantic=False)
    manifest = json.loads((version / "manifest.json").read_text())
    (version / "manifest.json").write_text(json.dumps({**manifest, "corpus_fingerprint": report.ordered_fingerprint()}))
    stored = load_version(version)
    assert mismatch(stored, report, SETTINGS) is None
    other = CorpusReport(articles=[Article("b", "Patient nurse."), Article("a", "Lorenzo trusts.")])
    assert mismatch(stored, other, SETTINGS) == "the corpus has changed since it was built"


def assert_compacted_is_a_full_rebuild(index_dir, articles: dict[str, Article], work) -> None:
    """The one segment of ``index_dir`` holds, file for file and byte for
    byte, what a full build of ``articles`` writes."""
    full_dir = work / f"full-{next(_serial)}"
    build_from_report(CorpusReport(articles=list(articles.values())), full_dir, SETTINGS, progress=False,
                      semantic=False)
    (merged,), (full,) = (load_version(current_version(d)).segments for d in (index_dir, full_dir))
    m_dir, f_dir = (current_version(d) / seg.name for d, seg in ((index_dir, merged), (full_dir, full)))
    names = sorted(f.name for f in f_dir.iterdir())
    assert sorted(f.name for f in m_dir.iterdir()) == names
    for name in names:
        assert (m_dir / name).read_bytes() == (f_dir / name).read_bytes(), name


def test_compaction_writes_what_a_full_rebuild_writes(tmp_path):
    # Titles (their terms in the postings), URLs and dates, a word read
    # alone as another term than in its passage (a soft hyphen: an extra
    # term), replaced and removed articles, a term only removed articles
    # had, articles of one segment between those of another.
    def art(sid, text, **meta):
        return Article(sid, text, **meta)

    first = [art("b", "Lorenzo trust record. The nurse met the patient.", title="Ward news"),
             art("d", "Budget meeting in London. Zebra crossing.", url="https://example.org/d", date="2024-01-02"),
             art("f", "A con\u00adtract for the system. Patient records.")]
    second = [art("a", "Nurse budget. London system meeting.", title="Early"), art("c", "Trust contract."),
              art("d", "Budget meeting moved to Leeds.", date="2024-02-03"), art("e", "Record record record.")]
    idx = tmp_path / "idx"
    apply_changes(idx, SETTINGS, add=first, semantic=False, progress=False)
    apply_changes(idx, SETTINGS, add=second, semantic=False, progress=False)
    apply_changes(idx, SETTINGS, add=[art("g", "Meeting notes.")], remove=["e"], semantic=False, progress=False)
    assert len(load_version(current_version(idx)).segments) == 3
    compact(idx)
    live = {a.source_id: a for a in first + second + [art("g", "Meeting notes.")] if a.source_id != "e"}
    assert_compacted_is_a_full_rebuild(idx, live, tmp_path)


class Archive(RuleBasedStateMachine):
    """Random changes to an index, checked against a full rebuild."""

    def __init__(self) -> None:
        super().__init__()
        self.work = _work_dir()
        self.index = self.work / f"index-{next(_serial)}"
        self.articles: dict[str, Article] = {}

    @rule(batch=st.dictionaries(source_ids, texts, min_size=1, max_size=4))
    def add(self, batch):
        new = [Article(sid, text, title=None) for sid, text in batch.items()]
        summary = apply_changes(self.index, SETTINGS, add=new, semantic=False, progress=False)
        assert (summary.added, summary.replaced) == (sum(s not in self.articles for s in batch),
                                                     sum(s in self.articles for s in batch))
        self.articles.update({a.source_id: a for a in new})

    @precondition(lambda self: len(self.articles) > 1)
    @rule(data=st.data())
    def remove(self, data):
        ids = data.draw(st.lists(st.sampled_from(sorted(self.articles)), min_size=1,
                                 max_size=len(self.articles) - 1, unique=True))
        summary = apply_changes(self.index, SETTINGS, remove=ids + ["unknown-id"], missing_ok=True, progress=False)
        assert summary.removed == len(ids)
        for sid in ids:
            del self.articles[sid]

    @precondition(lambda self: self.articles)
    @rule()
    def unknown_removal_publishes_nothing(self):
        before = current_version(self.index)
        with pytest.raises(UnknownSources, match="no article 'unknown-id'"):
            apply_changes(self.index, SETTINGS, remove=[next(iter(self.articles)), "unknown-id"], progress=False)
        assert current_version(self.index) == before

    @precondition(lambda self: self.articles)
    @rule()
    def compact(self):
        compact(self.index)
        assert len(load_version(current_version(self.index)).segments) == 1
        assert_compacted_is_a_full_rebuild(self.index, self.articles, self.work)

    @precondition(lambda self: self.articles)
    @invariant()
    def scores_equal_a_full_rebuild(self):
        assert_like_full_rebuild(self.index, self.articles, self.work)
        assert len(load_version(current_version(self.index)).segments) <= MAX_SEGMENTS


_WORK = []


def _work_dir():
    return _WORK[-1]


@pytest.fixture(autouse=True)
def _archive_work(tmp_path):
    _WORK.append(tmp_path)
    yield
    _WORK.pop()


TestArchive = Archive.TestCase
TestArchive.settings = hsettings(max_examples=25, stateful_step_count=8, deadline=None, derandomize=True,
                                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def test_the_automatic_merge_folds_the_new_articles_into_the_small_segments(tmp_path, monkeypatch):
    # Past MAX_SEGMENTS, the small segments and the new articles become one
    # segment (from stored arrays: the new articles' own segment, written
    # first, is merged and left out of the version).
    from service.index import changes

    monkeypatch.setattr(changes, "MAX_SEGMENTS", 2)
    idx, held = tmp_path / "idx", {}
    for batch in (["a", "b", "c", "d"], ["e"], ["b2"], ["f"]):
        new = [Article(sid.rstrip("2"), f"{sid} trust record nurse {sid}.") for sid in batch]
        summary = apply_changes(idx, SETTINGS, add=new, semantic=False, progress=False)
        held.update({a.source_id: a for a in new})
    assert summary.merged == 2
    version = current_version(idx)
    assert len(load_version(version).segments) == 2 == len([d for d in version.iterdir() if d.is_dir()])
    assert_like_full_rebuild(idx, held, tmp_path)


def test_an_index_built_by_add_alone_serves_what_a_full_build_serves(tmp_path, seed_retriever, capsys):
    # The HTTP API's documents, the web pages and eval, unchanged on an
    # index made by two adds of the bundled articles (two segments).
    from service.cli import main
    from service.config import BUNDLED_CORPUS, Config
    from service.web.app import create_app

    files = sorted(BUNDLED_CORPUS.glob("*.txt"))
    idx = tmp_path / "idx"
    assert main(["add", "--index", str(idx), *map(str, files[:2])]) == 0
    assert main(["add", "--index", str(idx), *map(str, files[2:])]) == 0
    added = Retriever.open(idx)
    assert len(added.stored.segments) == 2 and added.stored.semantic == seed_retriever.stored.semantic
    clients = [create_app(Config(), r).test_client() for r in (added, seed_retriever)]
    sid = files[0].stem
    for url in ["/api/sources", f"/api/sources/{sid}", "/api/search?q=Lorenzo+user+group+trusts&k=5",
                "/api/search?q=BT+London+write-down&retrieval=lexical", "/", "/?q=Lorenzo+user+group", "/sources",
                f"/sources/{sid}"]:
        got, want = (c.get(url) for c in clients)
        assert got.status_code == want.status_code == 200, url
        if got.is_json:
            assert {**got.get_json(), "took_ms": 0} == {**want.get_json(), "took_ms": 0}, url
        else:
            assert got.get_data() == want.get_data(), url
    capsys.readouterr()
    assert main(["eval", "--index", str(idx), "--json"]) == 0
    on_added = json.loads(capsys.readouterr().out)
    assert main(["eval", "--index", str(seed_retriever.stored.path.parent), "--json"]) == 0
    on_full = json.loads(capsys.readouterr().out)
    assert on_added["results"] == on_full["results"] and on_added["results"]
