import re
import sys

import numpy as np
from hypothesis import given, settings as hsettings, strategies as st

from service.text.analysis import Analyzer, joined_compounds, normalize, raw_tokens
from service.config import IndexSettings


def test_curly_quotes_and_nfkc_fold_to_ascii():
    assert normalize("Women’s “EPR” ﬁle") == "women's \"epr\" file"


def test_possessive_and_curly_apostrophe_give_same_terms():
    a = Analyzer()
    assert a("Birmingham Women’s trust") == a("Birmingham Women's trust") == a("birmingham women trust")


def test_money_and_numbers_are_kept_whole():
    assert raw_tokens("a £1m bonus, £336m write-down and £1.5 million") == [
        "a", "£1m", "bonus", "£336m", "write", "down", "and", "£1.5", "million"]
    assert raw_tokens("by 2020-21 there were 125 red and 1,200 amber") == [
        "by", "2020-21", "there", "were", "125", "red", "and", "1200", "amber"]
    assert raw_tokens("90-120 days, 12% of 3.5bn") == ["90-120", "days", "12%", "of", "3.5bn"]


def test_numbers_survive_analysis_unstemmed():
    a = Analyzer()
    assert a("£1m in 2020-21") == ["£1m", "2020-21"]


def test_stopwords_and_stemming():
    a = Analyzer()
    assert a("How many trusts were attending the meetings?") == ["mani", "trust", "attend", "meet"]
    plain = Analyzer(IndexSettings(stopwords="none", stemming=False))
    assert plain("How many trusts") == ["how", "many", "trusts"]


def test_lucene_list_keeps_question_words():
    a = Analyzer(IndexSettings(stopwords="lucene"))
    assert "how" in a("how is the deal") and "the" not in a("how is the deal")


def test_hyphenated_words_split_and_underscores_dropped():
    assert raw_tokens("stand-alone e_health") == ["stand", "alone", "e", "health"]


def test_empty_and_symbol_only_text():
    a = Analyzer()
    assert a("") == [] and a("?!… —") == [] and a("the of and") == []


def test_non_latin_scripts_are_tokens():
    assert raw_tokens("Zürich МОСКВА 東京") == ["zürich", "москва", "東京"]


def test_hyphenated_compounds_also_match_their_joined_spelling():
    a = Analyzer()
    assert set(a("EHealth Insider")) <= set(a("E-Health Insider"))
    assert "il6" in a("IL-6 levels") and a("IL6") == ["il6"]
    assert "202021" not in a("in 2020-21") and "2410" not in a("won 24–10")
    assert a("E-Health") == ["e", "health"] + a("ehealth")
    assert Analyzer(IndexSettings(join_compounds=False))("E-Health") == ["e", "health"]


_PIECES = ["£1,200", "$3.5bn", "2020-21", "1,00", "women’s", "O'Neill", "it's", "the", "how", "Running",
           "meetings", "e_health", "stand-alone", "²", "٣٤", "ﬁle", "Zürich", "东京", " ", "\n", ",", ".",
           "'", "’", "—", "%", "€", "12%", "4th", "x'", "'s", "s's"]


@hsettings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_PIECES), st.text(max_size=6)), max_size=30))
def test_fast_path_equals_the_token_definition(pieces):
    # Analyzer.__call__ memoises per surface string; it must give exactly
    # the stemmed raw_tokens minus stopwords, for every settings variant.
    text = "".join(pieces)
    for settings in (IndexSettings(), IndexSettings(stopwords="lucene", stemming=False)):
        a = Analyzer(settings)
        norm = normalize(text)
        joined = joined_compounds(norm) if settings.join_compounds else []
        want = [a.term(t) for t in raw_tokens(text) + joined if not a.is_stopword(t)]
        assert a(text) == want
        assert a(text) == want  # again, now from the memo


def _packed_terms(text: str, settings: IndexSettings) -> list[str]:
    vocab: dict[str, int] = {}
    ids = Analyzer(settings).term_ids(lambda t: vocab.setdefault(t, len(vocab)))
    first = np.frombuffer(ids(text), dtype=np.int32).tolist()
    again = np.frombuffer(ids(text), dtype=np.int32).tolist()  # now from the memo
    assert first == again
    terms = list(vocab)
    return [terms[i] for i in first]


@hsettings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_PIECES + ["´", "\u00a0", "\x1c", "IL-6", "12ab-34"]),
                          st.text(max_size=6)), max_size=30))
def test_packed_term_ids_are_the_analyzers_terms_in_order(pieces):
    # The build cuts normalised text at whitespace and memoises the pieces;
    # it must index exactly the analyzer's terms, in the analyzer's order.
    text = "".join(pieces)
    for settings in (IndexSettings(), IndexSettings(stopwords="lucene", stemming=False, join_compounds=False)):
        assert _packed_terms(text, settings) == Analyzer(settings)(text)


@hsettings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.sampled_from(_PIECES + ["´", "\u00a0", "\x1c", "IL-6", "12ab-34", "\u0301", "¨"]),
                          st.text(max_size=6)), max_size=30))
def test_packed_term_ids_by_raw_piece_are_the_texts(pieces):
    # The build reads a passage piece by piece as written (before
    # normalisation): its pieces' ids, then their compounds', must be the
    # packed ids of the whole text.
    text = "".join(pieces)
    for settings in (IndexSettings(), IndexSettings(stopwords="lucene", stemming=False, join_compounds=False)):
        vocab: dict[str, int] = {}
        ids = Analyzer(settings).term_ids(lambda t: vocab.setdefault(t, len(vocab)))
        parts = [ids.raw_piece(p) for p in text.split()]
        got = b"".join(i for i, _ in parts) + ids.compound_ids(c for _, cs in parts for c in cs)
        assert got == ids(text)


def test_normalising_never_joins_a_character_to_whitespace():
    # What lets the build normalise a text piece by piece: normalising
    # whitespace next to any character that composes or decomposes is
    # normalising each apart.
    import unicodedata

    spaces = [c for c in map(chr, range(0x3001)) if c.isspace()]
    marks = [c for c in map(chr, range(sys.maxunicode + 1))
             if unicodedata.combining(c) or unicodedata.decomposition(c)]
    assert not [(w, c) for w in spaces for c in marks
                if normalize(w + c) != normalize(w) + normalize(c) or normalize(c + w) != normalize(c) + normalize(w)]
    assert all(normalize(w).isspace() for w in spaces)


def test_no_token_character_is_whitespace():
    # What lets PackedTermIds cut text at str.split()'s whitespace: every
    # character the token patterns can match is a word character or one of
    # these symbols, and none of them is whitespace.
    token_char = re.compile(r"[\w£$€¥.,%'-]")
    assert not [c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace() and token_char.match(c)]


def test_word_terms_are_the_analyzers_terms_memoised():
    a = Analyzer()
    expected = {"Trusts": ("trust",), "£336m": ("£336m",), "the": (), "Women’s": ("women",),
                "meetings": ("meet",), "e-health": ("e", "health", "ehealth")}
    for word, terms in expected.items():
        assert a.word_terms(word) == terms
        assert a.word_terms(word) is a.word_terms(word)
