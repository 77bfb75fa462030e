"""The request path's precomputed shortcuts give exactly what the plain
algorithms give.

Highlighting and answer selection prepare each passage once (cached) so
that a request only does the question-dependent part.  Each test here
computes the plain way (small reference implementations, kept in this
file only) for every question of eval/ and compares.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from service.analysis import Analyzer
from service.highlight import highlight, word_spans

EVAL = Path(__file__).resolve().parent.parent / "eval"


def eval_questions() -> list[str]:
    return [json.loads(line)["question"] for name in ("questions.jsonl", "check_questions.jsonl")
            for line in (EVAL / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def plain_highlight(text: str, terms: list[str], analyzer: Analyzer) -> str:
    """Escape the gaps and the matched words one by one, as read."""
    wanted, out, pos = set(terms), [], 0
    for s, e in word_spans(text):
        if not wanted.isdisjoint(analyzer.word_terms(text[s:e])):
            out += [html.escape(text[pos:s]), "<mark>", html.escape(text[s:e]), "</mark>"]
            pos = e
    out.append(html.escape(text[pos:]))
    return "".join(out)


def test_highlights_match_the_plain_algorithm_on_every_eval_question(seed_retriever):
    questions = eval_questions()
    assert len(questions) > 100
    for question in questions:
        result = seed_retriever.search(question, 20)
        for hit in result.hits:
            assert highlight(hit.text, result.terms, seed_retriever.analyzer) == \
                plain_highlight(hit.text, result.terms, seed_retriever.analyzer), (question, hit.passage_id)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet="ab <>&\"'’-£1.,\n", max_size=60), st.text(alphabet="ab £1", max_size=12))
def test_highlights_match_the_plain_algorithm_on_any_text(text, question):
    analyzer = Analyzer()
    terms = analyzer(question)
    assert highlight(text, terms, analyzer) == plain_highlight(text, terms, analyzer)
