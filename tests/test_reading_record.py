"""The fast reader (service/index/reading_record.py: term ids and readings
by whitespace piece) against the plain one, passage by passage and chunk by chunk, and a build's stored
reading files against a build whose tokenizer used the plain recorder."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.config import IndexSettings
from service.corpus.reader import Article
from service.index import passage_terms
from service.index.build import prepare_segment
from service.index.passage_terms import piece_starts
from service.index.reading_record import PlainReader, ReadingRecorder
from service.index.readings import READING_ARRAYS
from service.text.analysis import Analyzer
from service.text.cues import CUES_OF_BITS, context_cue_bits, follows_place, word_cues

# Unicode (a ligature NFKC unfolds, Greek, Arabic-Indic and circled digits,
# a soft hyphen, curly quotes), numbers and money, abbreviations and
# initials, sentence ends with nothing between them, headings, paragraphs.
TRICKY = [
    "Talks in London began. BT said in March that CSC paid £1.5m in 2007-08 to Leeds and NHS Direct.",
    "Mr. J. Smith met Dr. O'Neill at St. Paul's, U.S. Embassy, at 5 p.m. on Monday. Then... ?! . .",
    "ﬁne Ωmega ٣٤ ① co\u00adoperate e-health Women’s “quoted” words; 1,000 or 12% of $3bn.",
    "A heading line\n\nIn Paris, iSoft and Accenture met; across Wales 5 trusts joined.  O'Neill wasn't there.",
    "... ! ? .\n\n\n\nNHS. BBC! The end",
    "Ten years, three weeks and 2 days: the 1990s in Leeds (UK). E.g. Jan. 2020 vs. Feb.",
]
ALPHABET = "aBcé ﬁΩ٣①1.,!?'’”\"(-£$%\u00ad\n"
WORDS = ["Talks", "in", "London", "began.", "BT", "paid", "£1m", "2007-08", "co\u00adoperate", "e-health",
         "Women’s", "O'Neill", "5", "trusts.", "\n\n", "Mr.", "J.", "Smith", "ﬁne", "U.S.", "CSC's", "the", "...",
         "March", "may", "At", "Across", "Ω.", "٣", "①", "Heading"]
passage = st.one_of(st.text(alphabet=ALPHABET, max_size=120),
                    st.lists(st.sampled_from(WORDS), max_size=40).map(" ".join), st.sampled_from(TRICKY))


def record_both(chunks: list[list[str]]) -> None:
    """Feed both readers the same passages, sharing one vocabulary (as a
    tokenizer does); compare each passage's term ids, and each chunk's
    columns and new extras."""
    analyzer, vocab = Analyzer(), {}
    term_ids = analyzer.term_ids(lambda t: vocab.setdefault(t, len(vocab)))
    plain, fast = PlainReader(analyzer, vocab, term_ids), ReadingRecorder(analyzer, vocab, term_ids)
    for chunk in chunks:
        for text in chunk:
            pieces, starts = text.split(), piece_starts(text)
            title = term_ids("A title")
            assert fast.passage(text, pieces, starts, title) == plain.passage(text, pieces, starts, title)
        (want, want_extra), (got, got_extra) = plain.take(), fast.take()
        assert got_extra == want_extra
        assert set(got) == set(want)
        for key in want:
            assert got[key].dtype == want[key].dtype and got[key].tolist() == want[key].tolist(), (key, chunk)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(passage, max_size=6), min_size=1, max_size=3))
def test_fast_recorder_equals_the_plain_one(chunks):
    record_both(chunks)


def test_fast_recorder_on_tricky_and_empty_passages():
    record_both([TRICKY, ["", "   ", "...", "\n\n"], TRICKY[::-1] + ["co\u00adoperate again."], []])


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(WORDS + ["In", "Paris", "Jan", "jan", "£3", "ten", "Ten"]).filter(str.strip),
       st.sampled_from(["", "in", "In", "the", "London", "to", "5", "across"]), st.booleans())
def test_context_cue_bits_are_word_cues_in_each_context(surface, prev, first):
    surface = surface.strip() or "x"
    prev = "" if first else prev
    bits = context_cue_bits(surface)[2 * first + follows_place(prev)]
    assert CUES_OF_BITS[bits] == word_cues(surface, prev, first)


@pytest.mark.parametrize("chunk_chars", [200, 10 ** 6])
def test_a_build_stores_the_plain_recorders_readings(tmp_path, monkeypatch, chunk_chars):
    """The same tricky corpus built twice in one process, in small chunks
    (spellings and extras carried from chunk to chunk) or one: the
    segment's reading files are byte for byte the plain recorder's."""
    articles = [Article(f"a{i:02d}", text + " " + TRICKY[(i + 1) % len(TRICKY)], f"Title {i}")
                for i, text in enumerate(TRICKY * 3)]
    monkeypatch.setattr(passage_terms, "CHUNK_CHARS", chunk_chars)
    written = {}
    for name, recorder in (("plain", PlainReader), ("fast", ReadingRecorder)):
        monkeypatch.setattr(passage_terms, "ReadingRecorder", recorder)
        pending = prepare_segment(articles, IndexSettings(max_words=30), progress=False, workers=1,
                                  semantic=False)
        (tmp_path / name).mkdir()
        pending.write(tmp_path / name)
        [seg] = (tmp_path / name).iterdir()
        written[name] = {f.name: f.read_bytes() for f in seg.iterdir()}
    files = {f"{k}.npy" for k in READING_ARRAYS} | {"extra_terms.json"}
    assert files <= set(written["fast"])
    for f in sorted(files):
        assert written["fast"][f] == written["plain"][f], f
    [seg] = (tmp_path / "fast").iterdir()
    assert np.load(seg / "w_terms.npy").size > 100 and np.load(seg / "s_start.npy").size > 50


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=ALPHABET + " \t\u00a0\u3000\x1c\u2028", max_size=80))
def test_piece_starts_are_where_the_split_pieces_start(text):
    starts = piece_starts(text).tolist()
    assert len(starts) == len(text.split())
    assert [text[s:].split(maxsplit=1)[0] for s in starts] == text.split()
    assert all(s == 0 or text[s - 1].isspace() for s in starts)


def test_no_character_past_the_whitespace_table_is_whitespace():
    import sys

    assert not [i for i in range(len(passage_terms._SPACE), sys.maxunicode + 1) if chr(i).isspace()]
