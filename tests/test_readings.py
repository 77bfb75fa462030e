"""The readings an index stores for each passage (service/index/readings.py)
are what reading the passage's text gives (service/answer/reading.py's
``read_passage``, service/answer/highlight.py's ``plain_highlight``),
for passages of a full build, of ``add`` and of a compaction; and a
segment whose readings do not fit is refused when loaded."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.answer.highlight import highlight, plain_highlight
from service.answer.reading import StoredPassage, read_passage
from service.config import IndexSettings
from service.corpus.reader import Article
from service.index.changes import apply_changes, compact
from service.index.segments import SegmentFault, load_segment
from service.index.store import current_version
from service.retrieval.retriever import Hit, Retriever
from service.text.words import passage_words

# Letters, digits, marks a word can hold or be cut at (a soft hyphen, curly
# quotes, a ligature NFKC unfolds), sentence ends and paragraph breaks.
ALPHABET = "aBcé ﬁΩ٣①1.,!?'’”\"(-£$%\u00ad\n"
SENTENCE_FIELDS = ("start", "end", "paragraph", "starts", "ends", "word_terms", "surfaces", "terms", "cues",
                   "cued", "norms", "n_terms", "words")

texts = st.text(alphabet=ALPHABET, min_size=1, max_size=200)
words = st.lists(st.sampled_from(["Talks", "in", "London", "began.", "BT", "paid", "£1m", "in", "2007-08",
                                  "co\u00adoperate", "e-health", "Women’s", "O'Neill", "5", "trusts.", "\n\n",
                                  "Mr.", "J.", "Smith", "ﬁne", "U.S.", "CSC's", "the"]), min_size=1, max_size=60)
articles = st.lists(st.one_of(texts, words.map(" ".join)), min_size=1, max_size=6)


def hits(retriever: Retriever) -> list[Hit]:
    """A hit on every live passage of ``retriever``'s index."""
    out = []
    for doc in np.flatnonzero(retriever.weighted.live).tolist():
        pid, sid, text, start, end, source = retriever._passage_fields(doc)
        out.append(Hit(0, 0.0, pid, sid, text, start, end, dict(source), doc=doc))
    return out


def assert_stored_equals_read(retriever: Retriever) -> int:
    """Every passage's stored reading against reading its text; returns the passages compared."""
    analyzer = retriever.analyzer
    n = 0
    for hit in hits(retriever):
        plain = read_passage(hit.text, hit.start_char, passage_words(hit.text, analyzer))
        stored = StoredPassage(retriever.passage_words(hit), hit.text, hit.start_char)
        assert stored.sentences == plain.sentences, hit.text
        for a, b in zip(stored.sentences, plain.sentences):
            for name in SENTENCE_FIELDS:
                assert getattr(a, name) == getattr(b, name), (name, hit.text)
        vocab = sorted(set(analyzer(hit.text)) | {t for s in plain.sentences for t in s.terms})
        questions = [vocab, vocab[::2], vocab[1::3] + ["nosuchterm"], []]
        # Read once for a request asking all of vocab, then asked for fewer
        # terms, or others: the same words, masks and marks.
        shared = StoredPassage(retriever.passage_words(hit), hit.text, hit.start_char, vocab)
        for terms in questions:
            bits = {t: 1 << j for j, t in enumerate(terms)}
            assert stored.term_masks(bits) == plain.term_masks(bits), (terms, hit.text)
            assert shared.term_masks(bits) == plain.term_masks(bits), (terms, hit.text)
            assert shared.words_with(terms) == retriever.passage_words(hit).words_with(terms), (terms, hit.text)
            assert highlight(hit, terms, retriever) == plain_highlight(hit.text, terms, analyzer), (terms, hit.text)
            assert highlight(hit, terms, retriever, lambda _: shared) == plain_highlight(hit.text, terms, analyzer)
        n += 1
    return n


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(first=articles, added=articles)
def test_stored_readings_equal_reading_the_text(tmp_path_factory, first, added):
    """A full build's passages, then ``add``'s (a second segment, replacing
    one article), then one compacted segment."""
    index = tmp_path_factory.mktemp("idx")
    settings = IndexSettings(max_words=40)
    made = [Article(f"a{i:02d}", text, f"Title {i}") for i, text in enumerate(first)]
    try:
        apply_changes(index, settings, add=made, semantic=False, progress=False)
    except ValueError:  # no indexable word at all
        return
    assert_stored_equals_read(Retriever.open(index))
    more = [Article(f"b{i:02d}", text) for i, text in enumerate(added)] + [Article("a00", added[0] + " Replaced.")]
    apply_changes(index, settings, add=more, semantic=False, progress=False)
    after_add = Retriever.open(index)
    n = assert_stored_equals_read(after_add)
    compact(index)
    compacted = Retriever.open(index)
    assert len(compacted.stored.segments) == 1
    assert assert_stored_equals_read(compacted) == n


def test_stored_readings_of_the_seeds(seed_retriever):
    assert assert_stored_equals_read(seed_retriever) == seed_retriever.n_passages


def test_a_word_term_no_passage_text_has_is_stored_as_an_extra_term(tmp_path):
    """A soft hyphen joins "co\u00adoperate" in the text's terms but cuts the
    word as written: its halves' terms are the segment's extra terms."""
    apply_changes(tmp_path, IndexSettings(), add=[Article("a", "They co\u00adoperate with London.")],
                  semantic=False, progress=False)
    retriever = Retriever.open(tmp_path)
    [seg] = retriever.stored.segments
    assert "co" in seg.readings.extra_terms and "co" not in seg.arrays.terms
    assert assert_stored_equals_read(retriever) == 1
    [hit] = retriever.search("co", 5).hits or hits(retriever)
    assert highlight(hit, ["co"], retriever) == "They <mark>co</mark>\u00adoperate with London."


@pytest.mark.parametrize("name, value, problem", [
    ("w_terms", 10 ** 6, "term id is out of range"),
    ("r_words", -1, "reading offsets (r_words) go back"),
    ("s_first", 10 ** 4, "a sentence lies outside its passage"),
])
def test_a_segment_whose_readings_do_not_fit_is_refused(tmp_path, name, value, problem):
    apply_changes(tmp_path, IndexSettings(), add=[Article("a", "One sentence here. Another one there.")],
                  semantic=False, progress=False)
    version = current_version(tmp_path)
    [seg] = [p for p in version.iterdir() if p.name.startswith("seg-")]
    arr = np.load(seg / f"{name}.npy").astype(np.int64)
    arr[1] = value
    np.save(seg / f"{name}.npy", arr)  # a bad value (checksums are not read here)
    with pytest.raises(SegmentFault, match=problem.replace("(", r"\(").replace(")", r"\)")):
        load_segment(seg, seg.name, frozenset(), None)


def test_a_question_repeating_a_term_marks_its_words_once(seed_retriever):
    """A question's terms repeat ("trusts trusts ..."): each word is still
    found once (the compiled loop wrote past its output when a term was
    wanted 64 times)."""
    result = seed_retriever.search("trusts " * 64, 10)
    assert len(result.terms) == 64
    for hit in result.hits:
        words = seed_retriever.passage_words(hit)
        found, terms = words.words_with(result.terms)
        assert len(found) == len(set(found)) and set(terms) <= {"trust"}
        assert highlight(hit, result.terms, seed_retriever) == plain_highlight(hit.text, result.terms,
                                                                                 seed_retriever.analyzer)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.integers(0, 9), max_size=4), max_size=30), st.lists(st.integers(0, 12), max_size=6))
def test_the_plain_term_finder_equals_the_compiled_one(word_terms, wanted):
    """A one-shot reader finds a question's words in NumPy: the words and
    the wanted term they carry (the first, when it is wanted twice) are
    the compiled loop's."""
    from service.index.reading_kernels import term_hits
    from service.index.reading_view import term_hits_plain

    ids = np.array([t for w in word_terms for t in w], dtype=np.int64)
    nterms = np.array([len(w) for w in word_terms], dtype=np.int64)
    want = np.array(wanted, dtype=np.int64)
    got, expected = term_hits_plain(ids, nterms, want), term_hits(ids, nterms, want)
    assert got[0].tolist() == expected[0].tolist() and got[1].tolist() == expected[1].tolist()


def test_a_one_shot_retriever_reads_passages_as_the_compiled_one_does(seed_retriever):
    one_shot = Retriever(seed_retriever.stored, one_shot=True)
    for question in ("How many trusts attended the Lorenzo meeting?", "BT write-down £336m London"):
        result = seed_retriever.search(question, 10)
        assert [(h.passage_id, h.score) for h in one_shot.search(question, 10).hits] == [
            (h.passage_id, h.score) for h in result.hits]
        for hit in result.hits:
            assert one_shot.passage_words(hit).words_with(result.terms) == \
                seed_retriever.passage_words(hit).words_with(result.terms)
            assert one_shot.explain(result.terms, hit) == seed_retriever.explain(result.terms, hit)
