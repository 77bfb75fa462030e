"""The question, read for answering: the type of answer it asks for, what a
"how many" question counts, and how much each of its words weighs.

A word's weight is its idf in the index, so "Lorenzo" counts more than
"trust" in the share of the question a sentence holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ..retrieval.retriever import Retriever
from ..text.analysis import Analyzer, raw_tokens

# Question words and what they ask for.  "how <word>" questions also make
# <word> ("many", "long") a question word rather than a content word.
HOW_NUMBER = frozenset("many much long old far often big large high tall".split())
TYPE_NOUNS = {
    "money": frozenset("cost costs price money revenue revenues income salary budget profit "
                       "turnover fee fees pay paid spend spent worth payment funding save "
                       "savings".split()),
    "number": frozenset("number amount percentage proportion share sum total value size "
                        "figure".split()),
    "date": frozenset("year years month date day time".split()),
    "place": frozenset("city country region town place area county location".split()),
    "name": frozenset("company companies firm firms organisation organisations organization "
                      "organizations supplier suppliers person people trust trusts hospital "
                      "hospitals provider providers body agency department minister director "
                      "contractor contractors executive".split()),
}

#: The words :func:`answer_type` reads a question's type from.
_QUESTION_WORDS = frozenset("who whom whose when where how what which".split())
#: "What did/will it cost?": the verb asks for a sum as "how much" does
#: (the noun does not: "what did it say about the cost?").
_AUXILIARIES = frozenset("did does do will would could can might should may".split())
_COST_VERBS = frozenset(("cost", "costs"))
_BEFORE_NOUNS = frozenset("the a an its their his her our your this that of about".split())


@dataclass(frozen=True)
class Question:
    """What the selector needs to know about the question."""

    text: str
    weights: dict[str, float]  # content term → idf
    raw: frozenset[str]  # every normalised token of the question
    kind: str | None  # expected answer type, or None
    focus: str | None  # what a "how many" question counts; the answer must name it

    @property
    def total(self) -> float:
        return sum(self.weights.values())


def answer_type(tokens: list[str]) -> str | None:
    """The kind of answer a question asks for, from its question words.

    ``tokens`` are :func:`raw_tokens` of the question.  Unknown forms
    ("what did they say", "why") return None: no type cue is applied.  Money
    is a number asked about with a money word ("how much did it cost"), or
    what a thing costs ("what did the recovery programme cost").
    """
    if _QUESTION_WORDS.isdisjoint(tokens):
        return None  # the common case for a statement, found at C speed
    for i, tok in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if tok in ("who", "whom", "whose"):
            return "name"
        if tok == "when":
            return "date"
        if tok == "where":
            return "place"
        if tok == "how" and nxt == "long":
            return "duration"
        if tok == "how" and nxt in HOW_NUMBER:
            return "number" if TYPE_NOUNS["money"].isdisjoint(tokens) else "money"
        if tok in ("what", "which"):
            # "what year", "which company", "what is the cost": the first
            # type noun among the next few words decides.
            for word in tokens[i + 1:i + 5]:
                for kind, nouns in TYPE_NOUNS.items():
                    if word in nouns:
                        return kind
            if nxt in _AUXILIARIES and any(
                    w in _COST_VERBS and tokens[j - 1] not in _BEFORE_NOUNS for j, w in enumerate(tokens) if j > i + 2):
                return "money"
            return None
    return None


def _focus(tokens: list[str], analyzer: Analyzer) -> str | None:
    """The term of what "how many" counts: "how many trusts" → "trust"."""
    if "how" not in tokens:
        return None
    for i, tok in enumerate(tokens[:-2]):
        if tok == "how" and tokens[i + 1] == "many" and not analyzer.is_stopword(tokens[i + 2]):
            return analyzer.term(tokens[i + 2])
    return None


def read_question(question: str, terms: list[str], retriever: Retriever) -> Question:
    """``question`` with its index ``terms``, weighed in ``retriever``'s index."""
    analyzer = retriever.analyzer
    tokens = raw_tokens(question)
    kind = answer_type(tokens)
    # "how many": "many" asks for the type, it is not a topic word.
    asking = {analyzer.term(nxt) for t, nxt in zip(tokens, tokens[1:]) if t == "how"}
    n = retriever.n_passages
    weights = {}
    for t in terms:
        if t in asking or t in weights:
            continue
        # A word the collection has never seen weighs as much as the rarest
        # word it has: a question about it is likely not answered here.
        weights[t] = word_weight(retriever.doc_freq[t] or 1, n)
    return Question(question, weights, frozenset(tokens), kind, _focus(tokens, analyzer))


def word_weight(df: int, n: int) -> float:
    """Lucene's BM25 idf, ``log(1 + (n - df + .5) / (df + .5))``.

    Not the index's rank-bm25 idf: that one is floored at a fraction of the
    mean idf, which goes negative in a small collection, and a word's share
    of the question must never be negative.
    """
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))
