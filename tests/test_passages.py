import re

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from service.config import IndexSettings
from service.corpus.reader import Article
from service.corpus.passages import make_passages
from service.text.sentences import clipped_units, paragraphs, sentence_units, split_sentences


def test_every_passage_is_an_exact_slice(seed_articles):
    for article in seed_articles:
        for p in make_passages(article):
            assert article.text[p.start:p.end] == p.text
            assert p.passage_id == f"{article.source_id}#{p.n}"


def test_every_sentence_lies_in_some_passage(seed_articles):
    for article in seed_articles:
        passages = make_passages(article)
        for s, e, _, heading in sentence_units(article.text):
            if heading:
                continue
            assert any(p.start <= s and e <= p.end for p in passages), article.text[s:e]


@pytest.mark.parametrize("max_words", [15, 40, 120])
def test_passages_respect_limits_without_cutting_sentences(seed_articles, max_words):
    settings = IndexSettings(max_words=max_words, max_sentences=4)
    for article in seed_articles:
        sentences = {(s, e) for s, e, _, h in sentence_units(article.text) if not h}
        for p in make_passages(article, settings):
            inside = [(s, e) for s, e in sentences if p.start <= s and e <= p.end]
            assert 1 <= len(inside) <= 4
            assert len(p.text.split()) <= max_words or len(inside) == 1
            # Boundaries fall on sentence boundaries.
            assert p.end in {e for _, e in sentences}


def test_heading_tail_is_not_a_passage_of_its_own():
    text = ("The first sentence is long enough to be prose. And a second one follows it here.\n\n"
            "Related article\n\nSomething else entirely")
    passages = make_passages(Article("x", text))
    assert len(passages) == 1 and "Related" not in passages[0].text


def test_heading_is_kept_with_following_prose():
    text = "Background\n\nThe trust signed the deal in 2003. It was worth a lot."
    (p,) = make_passages(Article("x", text))
    assert p.start == 0 and p.text.startswith("Background")


def test_abbreviations_initials_and_decimals_do_not_split():
    text = "Dr. J. Smith met Mr. Jones at 3.5 p.m. on Monday. They spoke. Costs rose to £1.5m in the U.K. last year."
    spans = split_sentences(text)
    assert [text[s:e] for s, e in spans] == [
        "Dr. J. Smith met Mr. Jones at 3.5 p.m. on Monday.", "They spoke.",
        "Costs rose to £1.5m in the U.K. last year."]


def test_quotes_end_sentences():
    text = "He said “it is done.” Then he left! Did he? Yes."
    assert [text[s:e] for s, e in split_sentences(text)] == [
        "He said “it is done.”", "Then he left!", "Did he?", "Yes."]


def test_overlap_repeats_sentences_but_adds_no_duplicate_passage():
    text = " ".join(f"Sentence number {i} is here." for i in range(10))
    settings = IndexSettings(max_words=15, max_sentences=3, overlap_sentences=1)
    passages = make_passages(Article("x", text), settings)
    texts = [p.text for p in passages]
    assert len(set(texts)) == len(texts)
    assert all(re.search(r"Sentence number 9", texts[-1]) for _ in [0])
    for a, b in zip(passages, passages[1:]):
        assert b.start < a.end  # consecutive passages share a sentence


# The original definition of a paragraph, kept as the oracle for the
# faster scanner in service/text/sentences.py.
_PARA_ORACLE = re.compile(r"\S(?:.*?\S)?(?=\n[ \t]*\n|\s*\Z)", re.S)


@hsettings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(["a", "bc", ".", " ", "\t", "\n", "\n\n", "\n \n", "\r", "\u00a0",
                                 "\u2029", "\x1c", "\x85", "\u3000", "\f"]), max_size=25))
def test_paragraphs_match_the_regex_definition(pieces):
    text = "".join(pieces)
    assert list(paragraphs(text)) == [(m.start(), m.end()) for m in _PARA_ORACLE.finditer(text)]


_UNITS = ["Mr. Smith met J. Doe.", "It rained", "x", ".", "A short line", "[See note.]", "Done.]", "Ends here:",
          "Prices rose 5.5% in the U.S. on Monday!", "\u201cQuoted,\u201d he said.", "Why?", "e.g. this",
          "Many more words to make this a sentence long enough not to be read as a heading by anyone.",
          "the end", "A", "...", "Talks began. Then they ended. Then nothing"]
_PARAGRAPH = st.lists(st.sampled_from(_UNITS), min_size=1, max_size=6).map(" ".join)


@hsettings(max_examples=400, deadline=None)
@given(st.lists(_PARAGRAPH, min_size=1, max_size=6), st.sampled_from(["\n\n", "\n \n", "\n\n\n", "\n"]),
       st.integers(0, 30), st.integers(1, 4), st.integers(0, 2))
def test_clipped_units_are_the_passages_own(paragraphs_, gap, max_words, max_sentences, overlap):
    # The build takes a passage's sentences from its article's split: where
    # clipped_units answers, it must be what splitting the passage gives.
    text = " " + gap.join(paragraphs_) + "\n"
    overlap = min(overlap, max_sentences - 1)
    settings = IndexSettings(max_words=max_words, max_sentences=max_sentences, overlap_sentences=overlap)
    units = sentence_units(text)
    for p in make_passages(Article("x", text), settings, units):
        got = clipped_units(text, units, p.start, p.end)
        if got is not None:
            assert got == [(s, e, pno) for s, e, pno, h in sentence_units(p.text) if not h], (p.start, p.end)
