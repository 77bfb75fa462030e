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
from bisect import bisect_left
from dataclasses import dataclass
from functools import cached_property, lru_cache
from itertools import chain, compress, repeat
from typing import Any, Callable, Iterator, NamedTuple

from ..retrieval.retriever import Hit, Retriever, SearchResult
from ..text.analysis import Analyzer, Memo, normalize, positions_by_term, raw_tokens
from ..text.sentences import sentence_units
from ..text.words import passage_words, word_spans

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
#: A word as written → :func:`normalize` of it: each word of a passage is
#: normalised up to three times while its sentence is read, and words repeat.
_NORMAL = Memo(normalize)

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

    text: str
    weights: dict[str, float]  # content term → idf
    raw: frozenset[str]  # every normalised token of the question
    kind: str | None  # expected answer type, or None
    focus: str | None  # what a "how many" question counts; the answer must name it

    @property
    def total(self) -> float:
        return sum(self.weights.values())


class Word(NamedTuple):
    """One word of a sentence chosen as an answer."""

    start: int  # in the source
    end: int
    terms: tuple[str, ...]
    cue: tuple[str, ...]  # answer types this word can fill, if not in the question


@dataclass(frozen=True)
class Sentence:
    """A sentence of a hit, read for one question: its words the question
    already holds have lost their answer-type cue (see :func:`_asked`).

    The words are built only when read: a request's winning sentence is
    often only checked for coverage before abstaining, and a word object
    per word of it cost more than choosing it.
    """

    hit: Hit
    analysed: _Analysed
    asked: tuple[int, ...]  # its cued words that are in the question

    @property
    def start(self) -> int:  # in the source
        return self.analysed.start

    @property
    def end(self) -> int:
        return self.analysed.end

    @property
    def paragraph(self) -> int:
        return self.analysed.paragraph

    @property
    def terms(self) -> frozenset[str]:
        return self.analysed.terms

    @property
    def words(self) -> tuple[Word, ...]:
        words = self.analysed.words
        if not self.asked:
            return words
        changed = list(words)
        for i in self.asked:
            changed[i] = words[i]._replace(cue=())
        return tuple(changed)


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


def _question(question: str, terms: list[str], retriever: Retriever) -> Question:
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


def _cues(surface: str, prev: str, first: bool) -> tuple[str, ...]:
    """Answer types a word can fill, read off how it is written (and, for
    a capitalised word, whether it opens the sentence and whether the word
    before it is capitalised or a place preposition such as "in")."""
    capital = surface[0].isupper()
    after_place = capital and (prev[:1].isupper() or _NORMAL[prev] in PLACE_PREPOSITIONS)
    return _CUES[surface, capital and first, after_place]


def _read_cues(key: tuple[str, bool, bool]) -> tuple[str, ...]:
    """The cues of a word, given as (spelling, opens the sentence, follows
    a capitalised word or a place preposition): they depend on nothing
    else, so they are remembered (``_CUES``) rather than read again each
    time a passage is analysed."""
    surface, first, after_place = key
    low = _NORMAL[surface]
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
        if after_place:
            cues.add("place")
    return tuple(sorted(cues))


_CUES = Memo(_read_cues)


@dataclass(frozen=True)
class _Analysed:
    """A sentence of a passage, analysed once whatever the question."""

    start: int  # in the source
    end: int
    paragraph: int
    # Word j is surfaces[j] at starts[j]:ends[j] in the source, with index
    # terms word_terms[j].  Columns of plain tuples of ints and strings
    # rather than a Word object per word: CPython's garbage collector stops
    # tracking such tuples, and a server's passage cache holds hundreds of
    # thousands of words; as objects they made every full collection walk
    # them all (pauses of 0.2-0.5 s per request at 100,000 passages).
    starts: tuple[int, ...]
    ends: tuple[int, ...]
    word_terms: tuple[tuple[str, ...], ...]
    surfaces: tuple[str, ...]  # as written, one shared string per spelling
    terms: frozenset[str]

    # Worked out when first read (a question asking for a type of answer,
    # or the chosen sentence): most sentences a request reads never are.
    @cached_property
    def cues(self) -> tuple[tuple[str, ...], ...]:
        """Each word's answer-type cues, as if no word were in the question."""
        words = self.surfaces
        return tuple(map(_cues, words, chain(("",), words), chain((True,), repeat(False))))

    @cached_property
    def cued(self) -> tuple[int, ...]:
        """The indices of the words with an answer-type cue."""
        return tuple(compress(range(len(self.cues)), self.cues))

    @cached_property
    def norms(self) -> tuple[str, ...]:
        """Each word normalised, to compare with the question's."""
        return tuple(map(_NORMAL.__getitem__, self.surfaces))

    @property
    def words(self) -> tuple[Word, ...]:
        return tuple(map(Word, self.starts, self.ends, self.word_terms, self.cues))


@dataclass(frozen=True)
class _Passage:
    """A passage's sentences, with which of them hold each index term."""

    sentences: tuple[_Analysed, ...]
    by_term: dict[str, tuple[int, ...]]


@lru_cache(maxsize=4096)
def _passage(text: str, base: int, analyzer: Analyzer) -> _Passage:
    """Every sentence of a passage starting at ``base`` in its source.

    Cached by passage: the same top passages come back for many questions,
    and analysing their words is most of an answer's cost.
    """
    # The passage's words, cut at its sentences.  A sentence ends where
    # whitespace follows and starts after whitespace (service.passages),
    # so no word crosses from one into the next: the words inside a
    # sentence's span are exactly the words of the sentence read alone.
    words = passage_words(text, analyzer)
    out = []
    for s, e, pno, heading in sentence_units(text):
        if heading:
            continue
        i, j = bisect_left(words.starts, s), bisect_left(words.starts, e)
        terms = words.terms[i:j]
        out.append(_Analysed(
            base + s, base + e, pno, tuple(map(base.__add__, words.starts[i:j])),
            tuple(map(base.__add__, words.ends[i:j])), terms, words.surfaces[i:j], frozenset().union(*terms)))
    return _Passage(tuple(out), positions_by_term(a.terms for a in out))


def _asked(a: _Analysed, i: int, q: Question) -> bool:
    """Is word ``i`` of ``a`` one the question already holds?  Then it
    cannot be the answer, and loses its answer-type cue."""
    return not q.weights.keys().isdisjoint(a.word_terms[i]) or a.norms[i] in q.raw


def _sentence(hit: Hit, a: _Analysed, q: Question) -> Sentence:
    """Sentence ``a`` of ``hit`` for this question (see :func:`_asked`)."""
    return Sentence(hit, a, tuple(i for i in a.cued if _asked(a, i, q)))


class _Shares:
    """Shares of the question's weight held by sets of its content terms.

    A set is a bit mask (bit j: the question's j-th content term), so a run
    of sentences holds the union of its sentences' masks; each share is
    summed in the question's order once and remembered, since the same few
    sets recur across a request's sentences.
    """

    def __init__(self, q: Question) -> None:
        self.bits = {t: 1 << j for j, t in enumerate(q.weights)}
        self._weight = {1 << j: w for j, w in enumerate(q.weights.values())}
        self._total = q.total
        self._memo: dict[int, float] = {}

    def union(self, passage: _Passage) -> int:
        """The mask of the question's terms anywhere in the passage (the
        bits are distinct, so their sum is their union)."""
        return sum(map(self.bits.__getitem__, self.bits.keys() & passage.by_term.keys()))

    def masks(self, passage: _Passage) -> list[int]:
        """Each sentence's mask of the question's terms."""
        masks = [0] * len(passage.sentences)
        for t, bit in self.bits.items():
            for i in passage.by_term.get(t, ()):
                masks[i] |= bit
        return masks

    def __call__(self, mask: int) -> float:
        share = self._memo.get(mask)
        if share is None:
            found, rest = 0, mask
            while rest:  # lowest bit first: the question's order
                bit = rest & -rest
                found += self._weight[bit]
                rest ^= bit
            share = self._memo[mask] = found / self._total
        return share


class _Roles:
    """Per sentence of one passage, for one question: positions of its
    words of the wanted answer type (not in the question) and of its words
    the question asks about, each worked out only when first needed."""

    def __init__(self, passage: _Passage, q: Question) -> None:
        self._sentences = passage.sentences
        self._q = q
        self._typed: dict[int, list[int]] = {}
        self._asked: dict[int, list[int]] = {}

    def typed(self, i: int) -> list[int]:
        if i not in self._typed:
            a, q = self._sentences[i], self._q
            self._typed[i] = [j for j in a.cued if q.kind in a.cues[j] and not _asked(a, j, q)]
        return self._typed[i]

    def asked(self, i: int) -> list[int]:
        if i not in self._asked:
            keys = self._q.weights.keys()
            self._asked[i] = [j for j, w in enumerate(self._sentences[i].word_terms) if not keys.isdisjoint(w)]
        return self._asked[i]


def _run_positions(passage: _Passage, first: int, n: int, of: Callable[[int], list[int]]) -> list[int]:
    """Word positions ``of`` each sentence of a run, counted from the run's first word."""
    out: list[int] = []
    offset = 0
    for i in range(first, first + n):
        out += (j + offset for j in of(i))
        offset += len(passage.sentences[i].starts)
    return out


def _nearness(passage: _Passage, first: int, n: int, q: Question, roles: _Roles) -> float:
    """How close the nearest word of the wanted type in the run of ``n``
    sentences from ``first`` is to a question word: 1 when adjacent,
    falling with distance; 0 when there is none."""
    if q.kind is None:
        return 0.0
    if q.focus is not None and not any(q.focus in s.terms for s in passage.sentences[first:first + n]):
        return 0.0
    typed = _run_positions(passage, first, n, roles.typed)
    if not typed:
        return 0.0
    asked = _run_positions(passage, first, n, roles.asked)
    if not asked:
        return 0.5
    gap = min(abs(i - j) for i in typed for j in asked) - 1
    return 0.5 + 0.5 * NEAR_WORDS / (NEAR_WORDS + gap)


def _trim(c: Candidate, q: Question) -> tuple[int, int]:
    """The span of a candidate, cut to its best MAX_ANSWER_WORDS-word window."""
    start, end = c.sentences[0].start, c.sentences[-1].end
    if sum(len(s.analysed.starts) for s in c.sentences) <= MAX_ANSWER_WORDS:
        return start, end
    words = [w for s in c.sentences for w in s.words]

    def value(w: Word) -> float:
        hit = sum(q.weights.get(t, 0.0) for t in w.terms)
        return hit + (1.0 if q.kind in w.cue else 0.0)

    best, best_i = -1.0, 0
    for i in range(len(words) - MAX_ANSWER_WORDS + 1):
        v = sum(value(w) for w in words[i:i + MAX_ANSWER_WORDS])
        if v > best:
            best, best_i = v, i
    return words[best_i].start, words[best_i + MAX_ANSWER_WORDS - 1].end


def _statement(best: Candidate, q: Question) -> Callable[[frozenset[str], float], bool]:
    """A test of whether a sentence (of another source), given its terms and
    its share of the question's weight, states the answer ``best`` gives.

    It must be about the question (half the answer's coverage at least) and
    contain what the answer says that the question does not: its words of
    the wanted type ("CSC", "£1m"), or, for untyped questions, at least half
    of its new words.
    """
    typed = {t for r in best.sentences for j in r.analysed.cued
             if j not in r.asked and q.kind in r.analysed.cues[j] for t in r.analysed.word_terms[j]}
    new = best.terms - q.weights.keys()

    def states(terms: frozenset[str], share: float) -> bool:
        if share < best.coverage / 2:
            return False
        if typed:
            return typed <= terms
        return len(new & terms) * 2 >= len(new)

    return states


def _abstain(reason: str) -> AnswerOutcome:
    return AnswerOutcome(None, True, reason)


def _missing(q: Question, found: frozenset[str], analyzer: Analyzer) -> str:
    """The question's heaviest words (as the asker wrote them) that are not in ``found``."""
    words: dict[str, str] = {}
    for s, e in word_spans(q.text):
        for t in analyzer.word_terms(q.text[s:e]):
            words.setdefault(t, q.text[s:e])
    gone = [words.get(t, t) for t in sorted(q.weights, key=lambda t: -q.weights[t]) if t not in found]
    return ", ".join(f"“{w}”" for w in gone[:3])


def _score(coverage: float, context: float, rel: float, near: float, n: int, novel: bool) -> float:
    """A candidate's score (see the module docstring)."""
    return (W_SENTENCE * coverage + W_CONTEXT * context + W_RANK * rel
            + W_TYPE * near - RUN_COST * (n - 1)
            - (0.0 if novel else REPEAT_PENALTY))


def _ceiling(context: float, rel: float, near_bound: float) -> float:
    """The highest score a candidate of a passage could reach: all of the
    passage's coverage (``context``: a run's is at most that, summed in the
    same order), the whole type cue (``near_bound``), one sentence,
    something new.

    It is :func:`_score` of those bounds, and every operation in it rounds
    monotonically, so it is never below a real candidate's score even in
    floating point: skipping a passage whose ceiling does not beat the best
    so far leaves the choice exactly as it was.
    """
    return _score(context, context, rel, near_bound, 1, True)


@dataclass(frozen=True)
class Selection:
    """The best candidate among the top passages, with what it was chosen
    from: the passages and the question's shares of their terms."""

    question: Question
    best: Candidate | None
    hits: tuple[Hit, ...]
    shares: _Shares

    def may_state(self, hit: Hit, analyzer: Analyzer) -> bool:
        """Could a sentence of ``hit`` state the answer (:func:`_statement`)?
        Not if the whole passage holds under half the answer's share of the
        question: a sentence's share is at most its passage's, in floating
        point too (the same weights summed in the same order, some left
        out), so skipping such passages changes no citation."""
        assert self.best is not None
        passage = _passage(hit.text, hit.start_char, analyzer)
        return self.shares(self.shares.union(passage)) >= self.best.coverage / 2

    def sentence_shares(self, hit: Hit, analyzer: Analyzer) -> Iterator[tuple[_Analysed, float]]:
        """Each sentence of ``hit`` with its share of the question's weight."""
        passage = _passage(hit.text, hit.start_char, analyzer)
        return zip(passage.sentences, map(self.shares, self.shares.masks(passage)))


def _runs(sentences: tuple[_Analysed, ...], masks: list[int],
          shares: _Shares) -> Iterator[tuple[int, int, int, bool]]:
    """The runs a candidate can be, in order: (first sentence, length, mask
    of the question's terms in the run, whether it holds a term the
    question lacks).  A run never crosses a paragraph, and a longer run
    must add some of the question's weight to its first sentence's."""
    for i in range(len(sentences)):
        mask, novel = 0, False
        for n in range(1, MAX_RUN + 1):
            last = i + n - 1
            if last >= len(sentences) or sentences[last].paragraph != sentences[i].paragraph:
                break
            mask |= masks[last]
            novel = novel or len(sentences[last].terms) > masks[last].bit_count()
            if n == 1 or shares(mask) > shares(masks[i]):
                yield i, n, mask, novel


def select(result: SearchResult, retriever: Retriever) -> Selection:
    """Score every sentence (and run of sentences) of the top ANSWER_DEPTH passages.

    A candidate is a run of up to MAX_RUN sentences of one paragraph; its
    score is computed from four numbers (see the module docstring) and the
    first best one wins.  Only the winner is built as a :class:`Candidate`.
    """
    q = _question(result.query, result.terms, retriever)
    hits = result.hits[:ANSWER_DEPTH] if q.weights else []
    top = max((h.score for h in hits), default=0.0) or 1.0
    shares = _Shares(q)
    near_bound = 0.0 if q.kind is None else 1.0  # the most _nearness can give
    best_score, best_run = 0.0, None
    for hit in hits:
        rel = hit.score / top
        if best_run is not None and _ceiling(1.0, rel, near_bound) <= best_score:
            continue  # not even a passage holding every question word could beat the best
        passage = _passage(hit.text, hit.start_char, retriever.analyzer)
        context = shares(shares.union(passage))
        if best_run is not None and _ceiling(context, rel, near_bound) <= best_score:
            continue  # no candidate here can beat the best
        roles = _Roles(passage, q)
        for i, n, mask, novel in _runs(passage.sentences, shares.masks(passage), shares):
            coverage = shares(mask)
            if best_run is not None and _score(coverage, context, rel, near_bound, n, novel) <= best_score:
                continue  # not even the whole type cue would make it win: skip working it out
            near = _nearness(passage, i, n, q, roles)
            score = _score(coverage, context, rel, near, n, novel)
            if best_run is None or score > best_score:
                best_score = score
                best_run = (hit, passage.sentences[i:i + n], coverage, near > 0.0, novel)
    best = None
    if best_run is not None:
        hit, run, coverage, typed, novel = best_run
        terms = frozenset().union(*(a.terms for a in run))
        best = Candidate(tuple(_sentence(hit, a, q) for a in run), terms, best_score, coverage, typed, novel)
    return Selection(q, best, tuple(hits), shares)


def answer(result: SearchResult, retriever: Retriever) -> AnswerOutcome:
    """The answer to ``result.query`` from ``result``'s top passages, or why there is none."""
    sel = select(result, retriever)
    q, best = sel.question, sel.best
    if not q.weights:
        return _abstain("the question has no words to look for")
    if not sel.hits:
        return _abstain("no passage shares a word with the question")
    if best is None:
        return _abstain("the closest passages have no sentences")
    matched = best.terms & q.weights.keys()
    if len(matched) < min(MIN_MATCHED_WORDS, len(q.weights)):
        return _abstain("no sentence of the closest passages has more than one of the question's words")
    if best.coverage < MIN_COVERAGE:
        return _abstain(f"the closest passages barely mention {_missing(q, best.terms, retriever.analyzer)}")
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
    states = _statement(best, q)
    for other in sel.hits:
        if other.source_id not in cited and sel.may_state(other, retriever.analyzer) and any(
                states(s.terms, share) for s, share in sel.sentence_shares(other, retriever.analyzer)):
            citations.append(Citation(other.source_id, other.passage_id))
            cited.add(other.source_id)
    return AnswerOutcome(
        Answer(text, hit.source_id, hit.passage_id, start, end, tuple(citations)), False, None)
