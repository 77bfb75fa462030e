"""Selection: the run of sentences of the top passages that best answers the question.

Retrieval ranks passages; a reader wants the one sentence that answers.  A
candidate is a run of up to MAX_RUN consecutive sentences of one paragraph
of the top ANSWER_DEPTH passages.  It is scored by the learned linear model
(:mod:`.model`, trained on squad-dev-a by ``scripts/train_selector.py``)
over features a reader can check:

* **coverage**: the share of the question's weight (:mod:`.question`)
  found in the run, and (**context**) in the passage around it;
* **answer type** (**near**, **untyped**): "who" wants a name, "how
  many/much" a number or sum of money, "when" a date, "where" a place.  A
  run has it only for a word of that type (:mod:`.cues`) *not* already in
  the question, and more the nearer that word is to a question word;
* **rank**: the passage's BM25 score (**bm25**) and the score that ranked
  it (**rank**: the hybrid blend), each relative to the best passage's;
* **length** (**extra**) and **repeat** (a run that says nothing the
  question does not);
* **cosine**: how near in meaning its nearest sentence is to the question
  (:mod:`.semantic`), and **judge**: the answer judge's score of its
  sentences read with the question (:mod:`.judge`), worked out only for the
  ``finalists`` candidates that the cheap features above rank best (the
  model's ``prefilter``), and only for the winner where the score does not
  weigh them (:func:`~.candidates.choose`).

:func:`plain_best` is the definition: it builds every candidate, ranks
them all by the prefilter (the first of equals first), scores the
finalists in full, and the first best wins.  :func:`select`, on the
request path, gives exactly the same candidate while skipping most of the
work: it reads each passage's sentences from the index's stored
readings (:class:`~.reading.StoredPassage`), sums
shares over bit masks, works out a run's type cue only when it could
still be a finalist, skips passages whose best conceivable prefilter
score cannot make the finalists, and keeps sentence vectors
(tests/test_fast_paths.py compares the two on every eval question).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from ..retrieval.retriever import Hit, Retriever, SearchResult
from ..text.words import passage_words
from .candidates import (MAX_RUN, Candidate, Sentence, answering_hits, asked_word, cheap_features,
                         choose, feature_bounds, meaning_of, misses_focus, nearness, ranked_by, semantic_feature,
                         sentence_for)
from .model import SelectorModel, shipped_model
from .question import Question, read_question
from .reading import (PassageReading, SentenceReading, StoredPassage, passage_reader, read_passage,
                      union_mask)
from .semantic import question_vector

# -- the definition ---------------------------------------------------------------


def plain_share(q: Question, terms: frozenset[str]) -> float:
    """The share of the question's weight in ``terms``, summed in question order."""
    return sum(w for t, w in q.weights.items() if t in terms) / q.total


def plain_nearness(run: tuple[Sentence, ...], q: Question) -> float:
    """The type cue of a run: none if the question asks for no type, or
    if it asks how many of something the run does not name."""
    if q.kind is None or misses_focus(q, run):
        return 0.0
    words = [w for s in run for w in s.words]
    typed = [i for i, w in enumerate(words) if q.kind in w.cue]
    asked = [i for i, w in enumerate(words) if w.terms & q.weights.keys()]
    return nearness(typed, asked)


#: A candidate as :func:`plain_candidates` lists it: its order key (hit,
#: first sentence, length), cheap features, sentences and terms.
PlainCandidate = tuple[tuple[int, int, int], tuple[float, ...], tuple[Sentence, ...], frozenset[str]]


def plain_candidates(result: SearchResult, retriever: Retriever, model: SelectorModel) -> list[PlainCandidate]:
    """Every run of every top passage, in order, with its cheap features."""
    q = read_question(result.query, result.terms, retriever)
    hits, top, top_rank = answering_hits(result, q)
    pool = []
    for h, hit in enumerate(hits):
        passage = read_passage(hit.text, hit.start_char, passage_words(hit.text, retriever.analyzer))
        sentences = [sentence_for(hit, a, q) for a in passage.sentences]
        context = plain_share(q, frozenset().union(*(s.terms for s in sentences)))
        meaning = meaning_of(hit, model)
        for i in range(len(sentences)):
            for n in range(1, MAX_RUN + 1):
                run = tuple(sentences[i:i + n])
                if len(run) < n or run[-1].paragraph != run[0].paragraph:
                    break
                terms = frozenset().union(*(s.terms for s in run))
                coverage = plain_share(q, terms)
                if n > 1 and coverage <= plain_share(q, run[0].terms):
                    continue
                x = cheap_features(coverage, context, hit.score / top, ranked_by(hit) / top_rank,
                                   plain_nearness(run, q), q, n, bool(terms - q.weights.keys()), meaning)
                pool.append(((h, i, n), x, run, terms))
    return pool


def plain_semantic(name: str, result: SearchResult, qvec: np.ndarray | None, run: tuple[Sentence, ...],
                   retriever: Retriever, model: SelectorModel) -> float:
    """A run's semantic feature ``name``, encoded afresh."""
    return semantic_feature(name, result, qvec, [s.analysed for s in run], run[0].hit, retriever, model, False)


def plain_best(result: SearchResult, retriever: Retriever, model: SelectorModel | None = None) -> Candidate | None:
    """The best candidate for ``result``'s question: every candidate ranked
    by the prefilter, the first ``finalists`` scored in full, the first
    best winning."""
    model = model or shipped_model()
    qvec = question_vector(result, retriever)
    pool = plain_candidates(result, retriever, model)
    ranked = sorted(pool, key=lambda c: (-model.prefilter(c[1]), c[0]))[:model.finalists]
    chosen = choose([(x, lambda name, run=run: plain_semantic(name, result, qvec, run, retriever, model))
                     for _, x, run, _ in ranked], [place for place, *_ in ranked], model)
    if chosen is None:
        return None
    j, full, score, margin, lead = chosen
    _, _, run, terms = ranked[j]
    return Candidate(run, terms, full, score, margin, lead)


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

    def masks(self, passage: PassageReading | StoredPassage) -> list[int]:
        """Each sentence's mask of the question's terms."""
        return passage.term_masks(self.bits)

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

    def __init__(self, passage: StoredPassage, q: Question) -> None:
        self._sentences = passage.sentences
        self._q = q
        self._typed: dict[int, list[int]] = {}
        self._asked: dict[int, list[int]] = {}

    def typed(self, i: int) -> list[int]:
        if i not in self._typed:
            a, q = self._sentences[i], self._q
            self._typed[i] = [j for j in a.cued if q.kind in a.cues[j] and not asked_word(a, j, q)]
        return self._typed[i]

    def asked(self, i: int) -> list[int]:
        if i not in self._asked:
            keys = self._q.weights.keys()
            self._asked[i] = [j for j, w in enumerate(self._sentences[i].word_terms) if not keys.isdisjoint(w)]
        return self._asked[i]


def _run_positions(passage: StoredPassage, first: int, n: int, of: Callable[[int], list[int]]) -> list[int]:
    """Word positions ``of`` each sentence of a run, counted from the run's first word."""
    out: list[int] = []
    offset = 0
    for i in range(first, first + n):
        out += (j + offset for j in of(i))
        offset += len(passage.sentences[i].starts)
    return out


def _run_nearness(passage: StoredPassage, first: int, n: int, q: Question, roles: _Roles) -> float:
    """:func:`plain_nearness` of the run of ``n`` sentences from ``first``,
    from the positions ``roles`` keeps."""
    if q.kind is None or misses_focus(q, passage.sentences[first:first + n]):
        return 0.0
    typed = _run_positions(passage, first, n, roles.typed)
    if not typed:
        return 0.0  # (sparing the question words' positions)
    return nearness(typed, _run_positions(passage, first, n, roles.asked))


@dataclass(frozen=True)
class Selection:
    """The best candidate among the top passages, with what it was chosen
    from: the passages and the question's shares of their terms."""

    question: Question
    best: Candidate | None
    hits: tuple[Hit, ...]
    shares: _Shares
    read: Callable[[Hit], StoredPassage]  # a hit's passage, as :func:`select` read it

    def may_state(self, hit: Hit, share: float) -> bool:
        """Could a sentence of ``hit`` hold ``share`` of the question's
        weight (one stating the answer must, :mod:`.outcome`)?  Not if the
        whole passage holds less: a sentence's share is at most its
        passage's, in floating point too (the same weights summed in the
        same order, some left out), so skipping such passages changes no
        citation."""
        return self.shares(union_mask(self.shares.masks(self.read(hit)))) >= share

    def sentences_holding(self, hit: Hit, share: float) -> Iterator[frozenset[str]]:
        """The terms of each sentence of ``hit`` that holds at least
        ``share`` of the question's weight, in order (the others' terms are
        never read)."""
        passage = self.read(hit)
        for i, mask in enumerate(self.shares.masks(passage)):
            if self.shares(mask) >= share:
                yield passage.sentence_terms_of(i)


def _runs(paragraphs: list[int], n_terms: list[int], masks: list[int],
          shares: _Shares) -> Iterator[tuple[int, int, int, bool]]:
    """The runs a candidate can be, in order, from its passage's sentences'
    paragraphs, term counts and masks: (first sentence, length, mask of the
    question's terms in the run, whether it holds a term the question lacks)."""
    for i in range(len(masks)):
        mask, novel = 0, False
        for n in range(1, MAX_RUN + 1):
            last = i + n - 1
            if last >= len(masks) or paragraphs[last] != paragraphs[i]:
                break
            mask |= masks[last]
            novel = novel or n_terms[last] > masks[last].bit_count()
            if n == 1 or shares(mask) > shares(masks[i]):
                yield i, n, mask, novel


def select(result: SearchResult, retriever: Retriever, model: SelectorModel | None = None,
           read: Callable[[Hit], StoredPassage] | None = None) -> Selection:
    """:func:`plain_best` of ``result``, the fast way (see the module
    docstring); only the winner is built as a :class:`Candidate`.
    ``read``: the request's :func:`~.reading.passage_reader`, if it has one."""
    model = model or shipped_model()
    q = read_question(result.query, result.terms, retriever)
    hits, top, top_rank = answering_hits(result, q)
    shares = _Shares(q)
    read = read or passage_reader(retriever, result.terms)
    prefilter, size = model.prefilter, model.finalists
    finalists: list[tuple[float, tuple, tuple[float, ...], Hit, tuple[SentenceReading, ...]]] = []
    for h, hit in enumerate(hits):
        bm25, rank, meaning = hit.score / top, ranked_by(hit) / top_rank, meaning_of(hit, model)
        if len(finalists) == size and prefilter.ceiling(
                *feature_bounds(q, (0.0, 1.0), 1.0, bm25, rank, (1, MAX_RUN), (False, True), meaning)
        ) <= finalists[-1][0]:
            continue  # not even a passage holding every question word could make the finalists
        passage = read(hit)
        masks = shares.masks(passage)
        context = shares(union_mask(masks))
        if len(finalists) == size and prefilter.ceiling(
                *feature_bounds(q, (0.0, context), context, bm25, rank, (1, MAX_RUN), (False, True), meaning)
        ) <= finalists[-1][0]:
            continue  # no candidate here can
        roles = _Roles(passage, q)
        ceilings: dict[tuple[float, int, bool], float] = {}  # runs of a passage share a few
        for i, n, mask, novel in _runs(passage.paragraphs, passage.sentence_terms, masks, shares):
            coverage = shares(mask)
            if len(finalists) == size:
                ceiling = ceilings.get((coverage, n, novel))
                if ceiling is None:
                    ceiling = ceilings[coverage, n, novel] = prefilter.ceiling(*feature_bounds(
                        q, (coverage, coverage), context, bm25, rank, (n, n), (novel, novel), meaning))
                if ceiling <= finalists[-1][0]:
                    continue  # not even the best type cue would make it a finalist: skip working it out
            x = cheap_features(coverage, context, bm25, rank, _run_nearness(passage, i, n, q, roles), q, n, novel,
                               meaning)
            score = prefilter(x)
            if len(finalists) < size or score > finalists[-1][0]:
                finalists.append((score, (h, i, n), x, hit, passage.sentences[i:i + n]))
                finalists.sort(key=lambda f: (-f[0], f[1]))
                del finalists[size:]
    qvec = question_vector(result, retriever) if finalists else None
    chosen = choose([(x, lambda name, run=run, hit=hit: semantic_feature(name, result, qvec, run, hit, retriever,
                                                                          model, True))
                     for _, _, x, hit, run in finalists], [place for _, place, *_ in finalists], model)
    best = None
    if chosen is not None:
        j, full, score, margin, lead = chosen
        _, _, _, hit, run = finalists[j]
        terms = frozenset().union(*(a.terms for a in run))
        best = Candidate(tuple(sentence_for(hit, a, q) for a in run), terms, full, score, margin, lead)
    return Selection(q, best, tuple(hits), shares, read)
