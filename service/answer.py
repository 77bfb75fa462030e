"""Answer: the sentence of the top passages that answers the question, or an abstention.

Retrieval ranks passages; a reader wants the one sentence that answers.  The
choice is extractive and explainable, so every answer is a verbatim quote of
a source with its character span, and the reason for a choice can be read
off four numbers:

* **coverage**: the share of the question's content words (weighted by the
  index's idf, so "Lorenzo" counts more than "trust") found in the sentence,
  and, less strongly, in the passage around it;
* **answer type**: "who" wants a name, "how many/much" a number or sum of
  money, "when" a date, "where" a place.  A sentence earns the bonus only if
  the name/number/date is *not* already in the question, which is also what
  separates an answer from a sentence that merely repeats the question;
* **rank**: the passage's BM25 score relative to the best passage;
* **length**: a run of two sentences is allowed when the question's words
  are split across them, at a small cost, so the shortest run wins.

The same numbers decide abstention: if the best candidate still misses
much of the question's weight (a key word is not in the articles, or never
near the others), or the question wants a number/date/name and none is
there, the articles do not answer it and we say so instead of quoting the
nearest sentence as if it did.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Iterable

from .analysis import Analyzer, normalize, raw_tokens
from .highlight import word_spans
from .passages import sentence_units
from .search import Hit, Retriever, SearchResult

#: Passages read for an answer: the default number shown.  Questions worded
#: unlike their source often find it only at rank 6-10; the rank weight
#: keeps the lower passages from winning on a tie.
ANSWER_DEPTH = 10
#: The longest quote returned; a longer sentence is cut to its best window.
MAX_ANSWER_WORDS = 120
#: Longest run of consecutive sentences considered as one answer.
MAX_RUN = 2

# Weights of the score (see the module docstring).  Coverage dominates;
# the type cue is worth about a third of the question's words.
W_SENTENCE = 1.0
W_CONTEXT = 0.3
W_RANK = 0.15
W_TYPE = 0.35
#: Within W_TYPE: a typed word next to a question word earns all of it, one
#: NEAR_WORDS words away half of it ("396 are now amber" beats "125 ... amber").
NEAR_WORDS = 6
RUN_COST = 0.25
REPEAT_PENALTY = 0.5

# Abstention.  A sentence sharing a single word with a question of several
# is almost never its answer, however rare the word; below
# MIN_COVERAGE of the question's weight the sentence is about something
# else; and a question asking for a number/date/name is only answered by a
# sentence holding one, unless the sentence has nearly all its words
# (MIN_UNTYPED_COVERAGE: "when does the liability occur?" is answered by a
# "when ..." clause).
MIN_MATCHED_WORDS = 2
MIN_COVERAGE = 0.15
MIN_UNTYPED_COVERAGE = 0.9

MONTHS = frozenset(
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
WEEKDAYS = frozenset("monday tuesday wednesday thursday friday saturday sunday".split())
RELATIVE_DATES = frozenset("yesterday today tomorrow".split())
NUMBER_WORDS = frozenset(
    """one two three four five six seven eight nine ten eleven twelve thirteen fourteen
    fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty seventy
    eighty ninety hundred thousand million billion trillion dozen dozens hundreds
    thousands millions billions half quarter double twice""".split()
)
CURRENCY_WORDS = frozenset("pounds pound dollars dollar euros euro pence cents".split())
DURATION_UNITS = frozenset("year years month months week weeks day days hour hours minute minutes".split())
PLACE_PREPOSITIONS = frozenset("in at across from near to throughout within".split())
_YEAR_RE = re.compile(r"(?:1[89]|20)\d\d(?:-\d\d)?")

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


@dataclass(frozen=True)
class Citation:
    source_id: str
    passage_id: str


@dataclass(frozen=True)
class Answer:
    """A verbatim quote: ``source_text[start_char:end_char] == text``."""

    text: str
    source_id: str
    passage_id: str
    start_char: int
    end_char: int
    citations: tuple[Citation, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "source_id": self.source_id,
            "passage_id": self.passage_id,
            "start_char": self.start_char,
            "end_char": self.end_char,
            "citations": [{"source_id": c.source_id, "passage_id": c.passage_id} for c in self.citations],
        }


@dataclass(frozen=True)
class AnswerOutcome:
    answer: Answer | None
    abstained: bool
    reason: str | None


@dataclass(frozen=True)
class Question:
    """What the selector needs to know about the question."""

    weights: dict[str, float]  # content term → idf
    words: dict[str, str]  # content term → the question's word for it
    raw: frozenset[str]  # every normalised token of the question
    kind: str | None  # expected answer type, or None
    focus: str | None  # what a "how many" question counts; the answer must name it

    @property
    def total(self) -> float:
        return sum(self.weights.values())


@dataclass(frozen=True)
class Word:
    start: int  # in the source
    end: int
    terms: frozenset[str]
    cue: frozenset[str]  # answer types this word can fill, if not in the question


@dataclass(frozen=True)
class Sentence:
    hit: Hit
    start: int  # in the source
    end: int
    paragraph: int
    words: tuple[Word, ...]
    terms: frozenset[str]


@dataclass(frozen=True)
class Candidate:
    sentences: tuple[Sentence, ...]
    terms: frozenset[str]  # of all its sentences
    score: float
    coverage: float  # of the question's weight, in the sentence(s)
    typed: bool  # holds a word of the expected answer type
    novel: bool  # says something the question does not

    @property
    def hit(self) -> Hit:
        return self.sentences[0].hit


def answer_type(tokens: list[str]) -> str | None:
    """The kind of answer a question asks for, from its question words.

    ``tokens`` are :func:`raw_tokens` of the question.  Unknown forms
    ("what did", "why") return None: no type cue is applied.  Money is a
    number asked about with a money word ("how much did it cost").
    """
    money = any(t in TYPE_NOUNS["money"] for t in tokens)
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
            return "money" if money else "number"
        if tok in ("what", "which"):
            # "what year", "which company", "what is the cost": the first
            # type noun among the next few words decides.
            for word in tokens[i + 1:i + 5]:
                for kind, nouns in TYPE_NOUNS.items():
                    if word in nouns:
                        return kind
            return None
    return None


def _focus(tokens: list[str], analyzer: Analyzer) -> str | None:
    """The term of what "how many" counts: "how many trusts" → "trust"."""
    for i, tok in enumerate(tokens[:-2]):
        if tok == "how" and tokens[i + 1] == "many" and not analyzer.is_stopword(tokens[i + 2]):
            return analyzer.term(tokens[i + 2])
    return None


def _question(question: str, terms: list[str], retriever: Retriever) -> Question:
    analyzer = retriever.analyzer
    tokens = raw_tokens(question)
    kind = answer_type(tokens)
    # "how many": "many" asks for the type, it is not a topic word.
    asking = {analyzer.term(tokens[i + 1]) for i, t in enumerate(tokens[:-1]) if t == "how"}
    vocab, ptr = retriever.scorer.vocab, retriever.stored.arrays.ptr
    n = retriever.n_passages
    weights = {}
    for t in terms:
        if t in asking:
            continue
        # A word the collection has never seen weighs as much as the rarest
        # word it has: a question about it is likely not answered here.
        df = int(ptr[vocab[t] + 1] - ptr[vocab[t]]) if t in vocab else 1
        weights[t] = word_weight(df, n)
    words: dict[str, str] = {}
    for s, e in word_spans(question):
        for t in analyzer(question[s:e]):
            words.setdefault(t, question[s:e])
    return Question(weights, words, frozenset(tokens), kind, _focus(tokens, analyzer))


def word_weight(df: int, n: int) -> float:
    """Lucene's BM25 idf, ``log(1 + (n - df + .5) / (df + .5))``.

    Not the index's rank-bm25 idf: that one is floored at a fraction of the
    mean idf, which goes negative in a small collection, and a word's share
    of the question must never be negative.
    """
    return math.log(1.0 + (n - df + 0.5) / (df + 0.5))


def _cues(surface: str, prev: str, first: bool) -> set[str]:
    """Answer types a word can fill, read off how it is written."""
    low = normalize(surface)
    cues = set()
    if surface[0].isdigit() or surface[0] in "£$€¥" or low in NUMBER_WORDS:
        cues.update(("number", "duration"))
    if surface[0] in "£$€¥" or low in CURRENCY_WORDS:
        cues.add("money")
    if low in DURATION_UNITS:
        cues.add("duration")
    if _YEAR_RE.fullmatch(low) or low in WEEKDAYS or low in RELATIVE_DATES or (
            low in MONTHS and surface[0].isupper()):
        cues.add("date")
    capital = surface[0].isupper() and "date" not in cues
    acronym = len(surface) > 1 and surface.isupper()
    if capital and (not first or acronym):
        cues.add("name")
        if normalize(prev) in PLACE_PREPOSITIONS or prev[:1].isupper():
            cues.add("place")
    return cues


@dataclass(frozen=True)
class _Analysed:
    """A sentence of a passage, analysed once whatever the question."""

    start: int  # in the source
    end: int
    paragraph: int
    words: tuple[Word, ...]  # cues as if no word were in the question
    norms: tuple[str, ...]  # each word normalised, to compare with the question's
    terms: frozenset[str]
    cued: tuple[int, ...]  # indices of the words with an answer-type cue


@lru_cache(maxsize=4096)
def _analysed(text: str, base: int, analyzer: Analyzer) -> tuple[_Analysed, ...]:
    """Every sentence of a passage starting at ``base`` in its source.

    Cached by passage: the same top passages come back for many questions,
    and analysing their words is most of an answer's cost.
    """
    out = []
    for s, e, pno, heading in sentence_units(text):
        if heading:
            continue
        sentence = text[s:e]
        spans = word_spans(sentence)
        words, norms = [], []
        for i, (ws, we) in enumerate(spans):
            surface = sentence[ws:we]
            prev = sentence[spans[i - 1][0]:spans[i - 1][1]] if i else ""
            words.append(Word(base + s + ws, base + s + we, analyzer.word_terms(surface),
                              frozenset(_cues(surface, prev, i == 0))))
            norms.append(normalize(surface))
        terms = frozenset().union(*(w.terms for w in words)) if words else frozenset()
        out.append(_Analysed(base + s, base + e, pno, tuple(words), tuple(norms), terms,
                             tuple(i for i, w in enumerate(words) if w.cue)))
    return tuple(out)


def _sentences(hit: Hit, q: Question, analyzer: Analyzer) -> list[Sentence]:
    """The passage's sentences for this question: a word the question
    already holds cannot be its answer, so it loses its answer-type cue."""
    out = []
    asked = q.weights.keys()
    for a in _analysed(hit.text, hit.start_char, analyzer):
        words = a.words
        asked_here = [i for i in a.cued if not asked.isdisjoint(words[i].terms) or a.norms[i] in q.raw]
        if asked_here:
            changed = list(words)
            for i in asked_here:
                changed[i] = Word(words[i].start, words[i].end, words[i].terms, frozenset())
            words = tuple(changed)
        out.append(Sentence(hit, a.start, a.end, a.paragraph, words, a.terms))
    return out


def _share(q: Question, terms: Iterable[str]) -> float:
    found = set(terms) & q.weights.keys()
    return sum(q.weights[t] for t in found) / q.total


def _candidates(sentences: list[Sentence], passage_terms: frozenset[str], q: Question,
                rel: float) -> Iterable[Candidate]:
    context = _share(q, passage_terms)
    for i in range(len(sentences)):
        for n in range(1, MAX_RUN + 1):
            run = tuple(sentences[i:i + n])
            if len(run) < n or run[-1].paragraph != run[0].paragraph:
                break  # a run never crosses a paragraph
            terms = frozenset().union(*(s.terms for s in run))
            coverage = _share(q, terms)
            if n > 1 and coverage <= _share(q, run[0].terms):
                continue  # the second sentence adds none of the question's words
            near = _nearness(run, q)
            typed = near > 0.0
            novel = bool(terms - q.weights.keys())
            score = (W_SENTENCE * coverage + W_CONTEXT * context + W_RANK * rel
                     + W_TYPE * near - RUN_COST * (n - 1)
                     - (0.0 if novel else REPEAT_PENALTY))
            yield Candidate(run, terms, score, coverage, typed, novel)


def _nearness(run: tuple[Sentence, ...], q: Question) -> float:
    """How close the run's nearest word of the wanted type is to a question
    word: 1 when adjacent, falling with distance; 0 when there is none."""
    if q.kind is None:
        return 0.0
    if q.focus is not None and not any(q.focus in s.terms for s in run):
        return 0.0
    words = [w for s in run for w in s.words]
    typed = [i for i, w in enumerate(words) if q.kind in w.cue]
    if not typed:
        return 0.0
    asked = [i for i, w in enumerate(words) if w.terms & q.weights.keys()]
    if not asked:
        return 0.5
    gap = min(abs(i - j) for i in typed for j in asked) - 1
    return 0.5 + 0.5 * NEAR_WORDS / (NEAR_WORDS + gap)


def _trim(c: Candidate, q: Question) -> tuple[int, int]:
    """The span of a candidate, cut to its best MAX_ANSWER_WORDS-word window."""
    words = [w for s in c.sentences for w in s.words]
    start, end = c.sentences[0].start, c.sentences[-1].end
    if len(words) <= MAX_ANSWER_WORDS:
        return start, end

    def value(w: Word) -> float:
        hit = sum(q.weights.get(t, 0.0) for t in w.terms)
        return hit + (1.0 if q.kind in w.cue else 0.0)

    best, best_i = -1.0, 0
    for i in range(len(words) - MAX_ANSWER_WORDS + 1):
        v = sum(value(w) for w in words[i:i + MAX_ANSWER_WORDS])
        if v > best:
            best, best_i = v, i
    return words[best_i].start, words[best_i + MAX_ANSWER_WORDS - 1].end


def _states_it(s: Sentence, best: Candidate, q: Question) -> bool:
    """Does sentence ``s`` (of another source) state the answer ``best`` gives?

    It must be about the question (half the answer's coverage at least) and
    contain what the answer says that the question does not: its words of
    the wanted type ("CSC", "£1m"), or, for untyped questions, at least half
    of its new words.
    """
    if _share(q, s.terms) < best.coverage / 2:
        return False
    typed = {t for r in best.sentences for w in r.words if q.kind in w.cue for t in w.terms}
    if typed:
        return typed <= s.terms
    new = best.terms - q.weights.keys()
    return len(new & s.terms) * 2 >= len(new)


def _abstain(reason: str) -> AnswerOutcome:
    return AnswerOutcome(None, True, reason)


def _missing(q: Question, found: frozenset[str]) -> str:
    gone = [q.words.get(t, t) for t in sorted(q.weights, key=lambda t: -q.weights[t]) if t not in found]
    return ", ".join(f"“{w}”" for w in gone[:3])


@dataclass(frozen=True)
class Selection:
    """The best candidate among the top passages, with what it was chosen from."""

    question: Question
    best: Candidate | None
    sentences: tuple[tuple[Hit, tuple[Sentence, ...]], ...]


def select(result: SearchResult, retriever: Retriever) -> Selection:
    """Score every sentence (and run of sentences) of the top ANSWER_DEPTH passages."""
    q = _question(result.query, result.terms, retriever)
    hits = result.hits[:ANSWER_DEPTH] if q.weights else []
    top = max((h.score for h in hits), default=0.0) or 1.0
    analyzer = retriever.analyzer
    best: Candidate | None = None
    per_hit = []
    for hit in hits:
        sentences = _sentences(hit, q, analyzer)
        per_hit.append((hit, tuple(sentences)))
        passage_terms = frozenset().union(*(s.terms for s in sentences))
        for c in _candidates(sentences, passage_terms, q, hit.score / top):
            if best is None or c.score > best.score:
                best = c
    return Selection(q, best, tuple(per_hit))


def answer(result: SearchResult, retriever: Retriever) -> AnswerOutcome:
    """The answer to ``result.query`` from ``result``'s top passages, or why there is none."""
    sel = select(result, retriever)
    q, best = sel.question, sel.best
    if not q.weights:
        return _abstain("the question has no words to look for")
    if not sel.sentences:
        return _abstain("no passage shares a word with the question")
    if best is None:
        return _abstain("the closest passages have no sentences")
    matched = best.terms & q.weights.keys()
    if len(matched) < min(MIN_MATCHED_WORDS, len(q.weights)):
        return _abstain("no sentence of the closest passages has more than one of the question's words")
    if best.coverage < MIN_COVERAGE:
        return _abstain(f"the closest passages barely mention {_missing(q, best.terms)}")
    if not best.novel:
        return _abstain("the closest sentence only repeats the question")
    if q.kind is not None and not best.typed and best.coverage < MIN_UNTYPED_COVERAGE:
        what = {"name": "name", "date": "date", "place": "place", "money": "sum of money",
                "number": "number", "duration": "length of time"}[q.kind]
        return _abstain(f"no {what} is given near the question's words")
    start, end = _trim(best, q)
    hit = best.hit
    text = hit.text[start - hit.start_char:end - hit.start_char]
    citations = [Citation(hit.source_id, hit.passage_id)]
    cited = {hit.source_id}
    for other, sentences in sel.sentences:
        if other.source_id not in cited and any(_states_it(s, best, q) for s in sentences):
            citations.append(Citation(other.source_id, other.passage_id))
            cited.add(other.source_id)
    return AnswerOutcome(
        Answer(text, hit.source_id, hit.passage_id, start, end, tuple(citations)), False, None)
