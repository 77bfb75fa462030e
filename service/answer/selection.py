"""Selection: the run of sentences of the top passages that best answers the question.

Retrieval ranks passages; a reader wants the one sentence that answers.  A
candidate is a run of up to MAX_RUN consecutive sentences of one paragraph
of the top ANSWER_DEPTH passages, and its score is read off four numbers:

* **coverage**: the share of the question's weight (:mod:`.question`)
  found in the run, and, less strongly, in the passage around it;
* **answer type**: "who" wants a name, "how many/much" a number or sum of
  money, "when" a date, "where" a place.  A run earns the bonus only for
  a word of that type (:mod:`.cues`) *not* already in the question, which
  is also what separates an answer from a sentence that merely repeats
  the question, and more of it the nearer that word is to a question word;
* **rank**: the passage's BM25 score relative to the best passage;
* **length**: a second sentence is allowed when it adds some of the
  question's weight, at a small cost, so the shortest run wins.

:func:`plain_best` is the definition: it builds and scores every
candidate, and the first best wins.  :func:`select`, on the request path,
gives exactly the same candidate while skipping most of the work: it
reads each passage's sentences from the per-passage cache, sums shares
over bit masks, works out a run's type cue only when it could still win,
and skips passages whose best conceivable score cannot beat the best so
far (tests/test_fast_paths.py compares the two on every eval question).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

from ..retrieval.retriever import Hit, Retriever, SearchResult
from ..text.words import passage_words
from .caches import PassageCaches
from .question import Question, read_question
from .reading import PassageReading, SentenceReading, Word, read_passage

#: Passages read for an answer: the default number shown.  Questions worded
#: unlike their source often find it only at rank 6-10; the rank weight
#: keeps the lower passages from winning on a tie.
ANSWER_DEPTH = 10
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


@dataclass(frozen=True)
class Sentence:
    """A sentence of a hit, read for one question: its words the question
    already holds have lost their answer-type cue (see :func:`_asked`).

    The words are built only when read: a request's winning sentence is
    often only checked for coverage before abstaining.
    """

    hit: Hit
    analysed: SentenceReading
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


def _asked(a: SentenceReading, i: int, q: Question) -> bool:
    """Is word ``i`` of ``a`` one the question already holds?  Then it
    cannot be the answer, and loses its answer-type cue."""
    return not q.weights.keys().isdisjoint(a.word_terms[i]) or a.norms[i] in q.raw


def _sentence(hit: Hit, a: SentenceReading, q: Question) -> Sentence:
    """Sentence ``a`` of ``hit`` for this question (see :func:`_asked`)."""
    return Sentence(hit, a, tuple(i for i in a.cued if _asked(a, i, q)))


def _answering_hits(result: SearchResult, q: Question) -> tuple[list[Hit], float]:
    """The hits an answer is chosen from, and the best one's score (the
    rank weight's unit)."""
    hits = result.hits[:ANSWER_DEPTH] if q.weights else []
    return hits, max((h.score for h in hits), default=0.0) or 1.0


def _score(coverage: float, context: float, rel: float, near: float, n: int, novel: bool) -> float:
    """A candidate's score (see the module docstring)."""
    return (W_SENTENCE * coverage + W_CONTEXT * context + W_RANK * rel
            + W_TYPE * near - RUN_COST * (n - 1)
            - (0.0 if novel else REPEAT_PENALTY))


def _misses_focus(q: Question, sentences: Sequence[Sentence | SentenceReading]) -> bool:
    """Does a "how many" question count something ``sentences`` do not
    name?  Then they hold no answer of its type."""
    return q.focus is not None and not any(q.focus in s.terms for s in sentences)


def _nearness(typed: list[int], asked: list[int]) -> float:
    """The type cue earned by words of the wanted type at positions
    ``typed`` among question words at ``asked``: 1 when adjacent, falling
    with distance; a half when the run holds no question word; 0 when it
    holds no typed word."""
    if not typed:
        return 0.0
    if not asked:
        return 0.5
    gap = min(abs(i - j) for i in typed for j in asked) - 1
    return 0.5 + 0.5 * NEAR_WORDS / (NEAR_WORDS + gap)


# -- the definition ---------------------------------------------------------------


def plain_share(q: Question, terms: frozenset[str]) -> float:
    """The share of the question's weight in ``terms``, summed in question order."""
    return sum(w for t, w in q.weights.items() if t in terms) / q.total


def plain_nearness(run: tuple[Sentence, ...], q: Question) -> float:
    """The type cue of a run: none if the question asks for no type, or
    if it asks how many of something the run does not name."""
    if q.kind is None or _misses_focus(q, run):
        return 0.0
    words = [w for s in run for w in s.words]
    typed = [i for i, w in enumerate(words) if q.kind in w.cue]
    asked = [i for i, w in enumerate(words) if w.terms & q.weights.keys()]
    return _nearness(typed, asked)


def plain_best(result: SearchResult, retriever: Retriever) -> Candidate | None:
    """The best candidate for ``result``'s question: every run of every top
    passage built and scored, the first best winning."""
    q = read_question(result.query, result.terms, retriever)
    hits, top = _answering_hits(result, q)
    best = None
    for hit in hits:
        passage = read_passage(hit.text, hit.start_char, passage_words(hit.text, retriever.analyzer))
        sentences = [_sentence(hit, a, q) for a in passage.sentences]
        context = plain_share(q, frozenset().union(*(s.terms for s in sentences)))
        for i in range(len(sentences)):
            for n in range(1, MAX_RUN + 1):
                run = tuple(sentences[i:i + n])
                if len(run) < n or run[-1].paragraph != run[0].paragraph:
                    break
                terms = frozenset().union(*(s.terms for s in run))
                coverage = plain_share(q, terms)
                if n > 1 and coverage <= plain_share(q, run[0].terms):
                    continue
                near = plain_nearness(run, q)
                novel = bool(terms - q.weights.keys())
                score = _score(coverage, context, hit.score / top, near, n, novel)
                if best is None or score > best.score:
                    best = Candidate(run, terms, score, coverage, near > 0.0, novel)
    return best


# -- the request path ---------------------------------------------------------------


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

    def union(self, passage: PassageReading) -> int:
        """The mask of the question's terms anywhere in the passage (the
        bits are distinct, so their sum is their union)."""
        return sum(map(self.bits.__getitem__, self.bits.keys() & passage.by_term.keys()))

    def masks(self, passage: PassageReading) -> list[int]:
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

    def __init__(self, passage: PassageReading, q: Question) -> None:
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


def _run_positions(passage: PassageReading, first: int, n: int, of: Callable[[int], list[int]]) -> list[int]:
    """Word positions ``of`` each sentence of a run, counted from the run's first word."""
    out: list[int] = []
    offset = 0
    for i in range(first, first + n):
        out += (j + offset for j in of(i))
        offset += len(passage.sentences[i].starts)
    return out


def _run_nearness(passage: PassageReading, first: int, n: int, q: Question, roles: _Roles) -> float:
    """:func:`plain_nearness` of the run of ``n`` sentences from ``first``,
    from the positions ``roles`` keeps."""
    if q.kind is None or _misses_focus(q, passage.sentences[first:first + n]):
        return 0.0
    typed = _run_positions(passage, first, n, roles.typed)
    if not typed:
        return 0.0  # (sparing the question words' positions)
    return _nearness(typed, _run_positions(passage, first, n, roles.asked))


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
    caches: PassageCaches  # of the index the hits are from

    def may_state(self, hit: Hit) -> bool:
        """Could a sentence of ``hit`` state the answer (it must hold half
        the answer's share of the question, :mod:`.outcome`)?  Not if the
        whole passage holds less: a sentence's share is at most its
        passage's, in floating point too (the same weights summed in the
        same order, some left out), so skipping such passages changes no
        citation."""
        assert self.best is not None
        passage = self.caches.reading(hit.text, hit.start_char)
        return self.shares(self.shares.union(passage)) >= self.best.coverage / 2

    def sentence_shares(self, hit: Hit) -> Iterator[tuple[SentenceReading, float]]:
        """Each sentence of ``hit`` with its share of the question's weight."""
        passage = self.caches.reading(hit.text, hit.start_char)
        return zip(passage.sentences, map(self.shares, self.shares.masks(passage)))


def _runs(sentences: tuple[SentenceReading, ...], masks: list[int],
          shares: _Shares) -> Iterator[tuple[int, int, int, bool]]:
    """The runs a candidate can be, in order: (first sentence, length, mask
    of the question's terms in the run, whether it holds a term the
    question lacks)."""
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
    """:func:`plain_best` of ``result``, the fast way (see the module
    docstring); only the winner is built as a :class:`Candidate`."""
    q = read_question(result.query, result.terms, retriever)
    hits, top = _answering_hits(result, q)
    shares = _Shares(q)
    caches = retriever.analyzer.caches[PassageCaches]
    near_bound = 0.0 if q.kind is None else 1.0  # the most _nearness can give
    best_score, best_run = 0.0, None
    for hit in hits:
        rel = hit.score / top
        if best_run is not None and _ceiling(1.0, rel, near_bound) <= best_score:
            continue  # not even a passage holding every question word could beat the best
        passage = caches.reading(hit.text, hit.start_char)
        context = shares(shares.union(passage))
        if best_run is not None and _ceiling(context, rel, near_bound) <= best_score:
            continue  # no candidate here can beat the best
        roles = _Roles(passage, q)
        for i, n, mask, novel in _runs(passage.sentences, shares.masks(passage), shares):
            coverage = shares(mask)
            if best_run is not None and _score(coverage, context, rel, near_bound, n, novel) <= best_score:
                continue  # not even the whole type cue would make it win: skip working it out
            near = _run_nearness(passage, i, n, q, roles)
            score = _score(coverage, context, rel, near, n, novel)
            if best_run is None or score > best_score:
                best_score = score
                best_run = (hit, passage.sentences[i:i + n], coverage, near > 0.0, novel)
    best = None
    if best_run is not None:
        hit, run, coverage, typed, novel = best_run
        terms = frozenset().union(*(a.terms for a in run))
        best = Candidate(tuple(_sentence(hit, a, q) for a in run), terms, best_score, coverage, typed, novel)
    return Selection(q, best, tuple(hits), shares, caches)
