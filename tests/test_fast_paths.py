"""The request path's precomputed shortcuts give exactly what the plain
algorithms give.

Highlighting and answer selection read each passage from the arrays the
index stored for it, so that a request only does the question-dependent
part.  Each test here computes the plain way (the answer's choice by its
definition, ``service.answer.selection.plain_best``; the highlighter's,
``plain_highlight``; small reference implementations of the rest, kept in
this file) for every question of eval/ and compares.  (That the stored
arrays are what reading the text gives: tests/test_readings.py.)
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.answer import ANSWER_DEPTH, answer, highlight
from service.answer.highlight import _marked, _marked_fast, plain_highlight
from service.answer.reading import passage_reader, read_passage
from service.text.cues import PLACE_PREPOSITIONS, read_cues
from service.answer.selection import plain_best, plain_share, select
from service.text import analysis
from service.text.analysis import Analyzer
from service.text.words import passage_words, word_spans
from service.text.sentences import sentence_units
from service.qa.ask import search_json

EVAL = Path(__file__).resolve().parent.parent / "eval"


def eval_questions() -> list[str]:
    return [json.loads(line)["question"] for name in ("questions.jsonl", "check_questions.jsonl")
            for line in (EVAL / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def test_highlights_match_the_plain_algorithm_on_every_eval_question(seed_retriever):
    questions = eval_questions()
    assert len(questions) > 100
    for question in questions:
        result = seed_retriever.search(question, 20)
        # As a request reads them: the passages the answer read first, once.
        read = passage_reader(seed_retriever, result.terms)
        answer(result, seed_retriever, read=read)
        for hit in result.hits:
            plain = plain_highlight(hit.text, result.terms, seed_retriever.analyzer)
            assert highlight(hit, result.terms, seed_retriever) == plain, (question, hit.passage_id)
            assert highlight(hit, result.terms, seed_retriever, read) == plain, (question, hit.passage_id)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab &<>\"'é", max_size=30), st.lists(st.integers(0, 30), max_size=8))
def test_marking_escaped_once_equals_escaping_the_pieces(text, cuts):
    """The highlighter's one escape of a passage with nothing to escape,
    and its pieces escaped apart otherwise, against the definition's."""
    points = sorted({min(c, len(text)) for c in cuts})
    spans = list(zip(points[::2], points[1::2]))
    assert _marked_fast(text, spans) == _marked(text, spans)


def test_plain_highlight_escapes_everything_and_marks_whole_words():
    text = "Tom & Jerry's <b>cheese</b> \"cheeses\" cheesecake"
    assert plain_highlight(text, Analyzer()("cheese"), Analyzer()) == (
        "Tom &amp; Jerry&#x27;s &lt;b&gt;<mark>cheese</mark>&lt;/b&gt; &quot;<mark>cheeses</mark>&quot; cheesecake")
    assert plain_highlight(text, [], Analyzer()) == html.escape(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="aZ 1٣£$,.-'’%_é\n", max_size=40))
def test_raw_tokens_match_the_regex_groups(text):
    """raw_tokens tells numbers from words by a match's first character;
    the pattern's own groups say the same."""
    grouped = [analysis._clean(m.group(), m.lastgroup == "num")
               for m in analysis._TOKEN_RE.finditer(analysis.normalize(text))]
    assert analysis.raw_tokens(text) == grouped


# -- answer selection -----------------------------------------------------------


@pytest.mark.parametrize("retrieval", ["hybrid", "lexical"])  # lexical: no passage cosines, the fallback
def test_answer_selection_matches_scoring_every_candidate_on_every_eval_question(seed_retriever, retrieval):
    kinds = set()
    for question in eval_questions():
        result = seed_retriever.search(question, ANSWER_DEPTH, retrieval=retrieval)
        selection = select(result, seed_retriever)
        assert selection.best == plain_best(result, seed_retriever), question
        kinds.add(selection.question.kind)
        q = selection.question
        for hit in selection.hits:
            plain = [s.terms for s in read_passage(hit.text, hit.start_char,
                                                   passage_words(hit.text, seed_retriever.analyzer)).sentences]
            shares = sorted({plain_share(q, terms) for terms in plain})
            for share in [0.0, *shares, 2.0]:  # at each sentence's own share too: the bound is inclusive
                assert list(selection.sentences_holding(hit, share)) == [
                    terms for terms in plain if plain_share(q, terms) >= share], (question, share)
                assert selection.may_state(hit, share) == any(plain_share(q, terms) >= share for terms in plain)
    assert {None, "name", "number", "date"} <= kinds  # typed questions were covered


# -- JSON responses -------------------------------------------------------------


def test_json_responses_say_what_flasks_own_encoder_says(app, seed_retriever):
    """orjson renders every response; the JSON must read back exactly as
    Flask's standard-library encoder's, types Flask knows included."""
    from dataclasses import dataclass
    from datetime import date, datetime, timezone
    from decimal import Decimal
    from uuid import UUID

    from flask.json.provider import DefaultJSONProvider

    @dataclass(frozen=True)
    class Point:
        x: int
        label: str

    plain = DefaultJSONProvider(app)
    plain.sort_keys, plain.ensure_ascii = False, False
    docs = [search_json(seed_retriever, q, 10) for q in eval_questions()[:20]]
    docs.append({"when": datetime(2020, 1, 2, 3, 4, 5, tzinfo=timezone.utc), "day": date(2020, 1, 2),
                 "n": Decimal("1.5"), "id": UUID(int=7), "p": Point(1, "CSC’s"), 3: [1e-7, 1e300, -0.0]})
    with app.app_context():
        for doc in docs:
            ours, theirs = app.json.response(doc), plain.response(doc)
            assert ours.mimetype == theirs.mimetype == "application/json"
            assert json.loads(ours.data) == json.loads(theirs.data)
            assert list(json.loads(ours.data)) == list(json.loads(theirs.data))  # key order
        assert "CSC’s".encode() in app.json.response(docs[-1]).data  # UTF-8, not \u escapes


def test_a_replaced_retriever_is_freed_at_once_despite_its_caches(seed_retriever):
    """The per-retriever caches hold no reference back to the retriever, so
    a worker that swaps in a new index drops the old one's memory maps as
    soon as the last request using it ends, not at some later GC pass."""
    import gc
    import weakref

    from service.retrieval.retriever import Retriever

    retriever = Retriever(seed_retriever.stored)
    search_json(retriever, "How many trusts attended the meeting?", 10)
    gone = weakref.ref(retriever)
    gc.disable()
    try:
        del retriever
        assert gone() is None
    finally:
        gc.enable()


@pytest.mark.parametrize("retrieval", ["lexical", "hybrid"])
def test_a_request_leaves_nothing_for_the_cycle_collector(seed_retriever, retrieval):
    """What a request reads (passages, their sentences, the answer's
    candidates) is freed by reference counting when it ends: garbage in
    reference cycles waits for the cyclic collector, whose passes a worker
    pays for in later requests."""
    import gc

    search_json(seed_retriever, eval_questions()[0], 10, retrieval=retrieval)  # whatever is loaded once
    gc.collect()
    gc.disable()
    try:
        for question in eval_questions()[:40]:
            search_json(seed_retriever, question, 10, retrieval=retrieval)
            assert gc.collect() == 0, question
    finally:
        gc.enable()


def reading(text: str, analyzer: Analyzer | None = None):
    """The plain reading of ``text`` as a passage starting at 0."""
    analyzer = analyzer or Analyzer()
    return read_passage(text, 0, passage_words(text, analyzer))


def plain_cues(sentence: str) -> tuple[tuple[str, ...], ...]:
    """Each word's cues with its context read word by word, as written."""
    surfaces = [sentence[s:e] for s, e in word_spans(sentence)]
    out = []
    for j, surface in enumerate(surfaces):
        prev = surfaces[j - 1] if j else ""
        capital = surface[0].isupper()
        after_place = capital and (prev[:1].isupper() or analysis.normalize(prev) in PLACE_PREPOSITIONS)
        out.append(read_cues((surface, capital and j == 0, after_place)))
    return tuple(out)


def test_sentence_cues_read_each_words_context_as_written(seed_articles):
    analyzer = Analyzer()
    texts = [a.text for a in seed_articles] + [
        "Talks in London began. BT said in March that CSC paid £1m in 2007-08 to Leeds and NHS Direct.",
        "In Paris, iSoft and Accenture met; across Wales 5 trusts joined.  O'Neill wasn't there."]
    n = 0
    for text in texts:
        for sentence in reading(text, analyzer).sentences:
            words = text[sentence.start:sentence.end]
            assert sentence.cues == plain_cues(words), words
            n += len(sentence.cues)
    assert n > 1000


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["in", "In", "London", "BT", "the", "March", "may", "5", "£3m", "Mr", "to",
                                 "2007", "weeks", "ten", "x"]), min_size=1, max_size=12))
def test_sentence_cues_on_any_word_sequence(words):
    sentence = " ".join(words) + "."
    [analysed] = reading(sentence).sentences
    assert analysed.cues == plain_cues(sentence)


def plain_sentence_words(text: str) -> list[list[tuple[int, int]]]:
    """Each sentence's word spans, each sentence read on its own."""
    return [[(s + a, s + b) for a, b in word_spans(text[s:e])]
            for s, e, _, heading in sentence_units(text) if not heading]


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="aB1 .!?'\"’”)(\n£,-", max_size=120))
def test_sentence_words_are_the_words_of_each_sentence_read_alone(text):
    sentences = reading(text).sentences
    assert [list(zip(a.starts, a.ends)) for a in sentences] == plain_sentence_words(text)


def test_sentence_words_on_the_seeds(seed_articles):
    analyzer = Analyzer()
    for article in seed_articles:
        sentences = reading(article.text, analyzer).sentences
        assert [list(zip(a.starts, a.ends)) for a in sentences] == plain_sentence_words(article.text)
        assert all(a.surfaces == tuple(article.text[s:e] for s, e in zip(a.starts, a.ends)) for a in sentences)


# -- the selector's bound -----------------------------------------------------------

finite = st.floats(-4, 4, allow_nan=False, allow_subnormal=False)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(finite, finite, finite), min_size=1, max_size=10), finite)
def test_a_linear_ceiling_is_its_value_at_the_best_corner_of_the_box(features, bias):
    """``Linear.ceiling`` sums in place what ``__call__`` sums at the box's
    corner that each weight's sign picks: the same float, and no corner
    scores above it."""
    from itertools import product

    from service.answer.model import Linear

    weights = tuple(w for w, _, _ in features)
    low = tuple(min(a, b) for _, a, b in features)
    high = tuple(max(a, b) for _, a, b in features)
    f = Linear(tuple(f"x{j}" for j in range(len(weights))), bias, weights)
    assert f.ceiling(low, high) == f(tuple(h if w >= 0 else lo for w, lo, h in zip(weights, low, high)))
    if len(weights) <= 6:
        assert all(f(corner) <= f.ceiling(low, high) for corner in product(*zip(low, high)))
