"""Search: a question → ranked passages, each tagged with its source.

:class:`Retriever` is the library API that the CLI, the HTTP API, the web
form and the evaluation all call, so they cannot disagree::

    r = Retriever.open(index_dir)   # or service.open_corpus("corpus")
    for hit in r.search("How many trusts attended?", k=5).hits:
        print(hit.rank, hit.source_id, hit.text)
"""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

import numpy as np

from ..config import RETRIEVAL_MODES, IndexSettings, RetrievalSettings
from ..corpus.passages import passage_id
from ..index.reading_view import PassageWords, ReadingView
from ..index.store import StoredIndex, load_best
from ..index.weighted import WeightedIndex, weigh_index
from ..text.analysis import Analyzer, Memo
from . import hybrid
from .collection import Collection, Filters
from .explain import explain_terms
from .plain_scorer import PlainScorer

if TYPE_CHECKING:
    from .scorer import SegmentedScorer

log = logging.getLogger(__name__)

@dataclass(frozen=True)
class Hit:
    rank: int
    score: float
    passage_id: str
    source_id: str
    text: str
    start_char: int
    end_char: int
    source: dict[str, str] = field(default_factory=dict)
    semantic_score: float | None = None  # cosine of question and passage (hybrid retrieval)
    rank_score: float | None = None  # what ordered the hits: the blend, or BM25's score
    #: Its passage number in the index that found it (-1: unknown, looked up by ID).
    doc: int = field(default=-1, compare=False, repr=False)


@dataclass(frozen=True)
class SearchResult:
    query: str
    k: int
    terms: list[str]  # the query's index terms, in order
    total: int  # passages sharing at least one term with the query (and allowed by the filters)
    hits: list[Hit]
    retrieval: str = "lexical"  # how the hits were ranked: "lexical" or "hybrid"
    #: The question's vector when the ranking computed one (hybrid), so the
    #: answer stage can compare sentences with it without encoding it again.
    query_vector: np.ndarray | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class SourceView:
    """A whole article with the spans of its passages."""

    source_id: str
    text: str
    metadata: dict[str, str]
    passages: list[dict[str, Any]]


def _metadata(source: dict[str, str]) -> dict[str, str]:
    """A source's title, URL and date, as stored (its ID left out)."""
    return {k: v for k, v in source.items() if k != "id"}


def _hit_fields(sources: list[dict[str, Any]], passages: dict[str, np.ndarray], source_text: Callable[[int], str],
                doc: int) -> tuple[str, str, str, int, int, dict[str, str]]:
    """What a hit on passage ``doc`` says whatever the question: its ID,
    source ID, text, span and source metadata."""
    si, start, end = int(passages["p_source"][doc]), int(passages["p_start"][doc]), int(passages["p_end"][doc])
    sid = sources[si]["id"]
    return (passage_id(sid, int(passages["p_n"][doc])), sid, source_text(si)[start:end], start, end,
            _metadata(sources[si]))


def _scorer(weighted: WeightedIndex) -> "SegmentedScorer":
    """The scorer of every segment; ties between segments go by passage ID
    (source ID, then passage number), a full rebuild's order."""
    from .scorer import Bm25Scorer, SegmentedScorer  # numba: not for a one-shot reader

    c = weighted
    one = len(c.weighted) == 1
    offsets = np.cumsum([0] + [w.n_docs for w in c.weighted])
    parts = [Bm25Scorer(w, c.stats.vocab if one else None, c.live[a:b] if deleted else None)
             for w, deleted, a, b in zip(c.weighted, c.has_deletions, offsets, offsets[1:])]
    sources, p_source, p_n = c.sources, c.passages["p_source"], c.passages["p_n"]
    return SegmentedScorer(parts, lambda doc: (sources[int(p_source[doc])]["id"], int(p_n[doc])),
                           c.stats, c.gids, p_source, sources)


class Retriever:
    """A loaded index plus the analyzer it was built with, and the encoder
    of its passage vectors if it has them (then hybrid is the default).

    ``one_shot``: for a process that asks one question or a few (``ask``):
    nothing is compiled or weighed ahead, each search weighs its own
    terms' postings in NumPy (:mod:`.plain_scorer`), with the same scores
    and order; a server's compiled scorer pays over a second at start for
    its fast queries.
    """

    def __init__(self, stored: StoredIndex, search: RetrievalSettings | None = None, one_shot: bool = False) -> None:
        self.stored = stored
        self.search_settings = search or RetrievalSettings()
        self.manifest = stored.manifest
        self.settings = IndexSettings(**stored.manifest["settings"])
        self.analyzer = Analyzer(self.settings)
        #: The segments weighted under the collection's statistics (unweighed: ``one_shot``).
        self.weighted = w = weigh_index(stored, self.settings, postings=not one_shot)
        self.scorer: SegmentedScorer | PlainScorer = _scorer(w) if not one_shot else PlainScorer(
            [seg.arrays for seg in stored.segments], w.gids, w.stats, self.settings,
            w.live if any(w.has_deletions) else None, w.passages["p_source"], [s["id"] for s in w.sources])
        #: Term → how many passages hold it, remembered: the answer weighs
        #: every question word by it, and questions share their words.
        self.doc_freq = Memo(self.scorer.doc_freq)
        self._source_text = lru_cache(maxsize=256)(
            lambda si: stored.segments[int(w.source_segment[si])].source_text(int(w.source_local[si])))
        # Plain-array views of the passage columns: a memory map's indexing
        # costs microseconds a call, several per hit.
        self._passages = w.passages
        #: The passages' words and sentences, as the index stored them.
        self.readings = ReadingView(stored.segments, w.gids, w.stats.vocab, compiled=not one_shot)
        # Passages come back for question after question: their hit fields are kept.
        self._passage_fields = lru_cache(maxsize=4096)(
            partial(_hit_fields, w.sources, self._passages, self._source_text))
        self.collection = Collection(w.sources, self._passages["p_source"], w.source_live)
        #: The passages not deleted, where some are (None: all).
        self._live = w.live if any(w.has_deletions) else None
        self._vectors = self._scales = self.encoder = None
        if w.vectors is not None:
            from ..embedding.shared import encoder_fingerprint, shared_encoder  # onnxruntime only if needed

            if stored.manifest["semantic"].get("fingerprint") == encoder_fingerprint():
                from . import dense  # numba: a lexical index (and its one-shot ask) never loads it

                self.encoder = shared_encoder()
                self._vectors, self._scales = w.vectors, w.vector_scales
                self._nearest = dense.nearest
                # The compiled scan loaded now, not in a user's first question.
                dense.nearest(np.zeros(self.encoder.dim, np.float32), self._vectors[:1], self._scales[:1], 1)
            else:
                log.warning("%s: its passage vectors come from another encoder; serving it lexically",
                            stored.path)

    @property
    def semantic(self) -> bool:
        """Whether this index has passage vectors (hybrid retrieval)."""
        return self.encoder is not None

    @property
    def modes(self) -> tuple[str, ...]:
        """The retrieval modes this index can serve."""
        return RETRIEVAL_MODES if self.semantic else ("lexical",)

    @property
    def default_retrieval(self) -> str:
        return self.search_settings.retrieval if self.semantic else "lexical"

    # -- construction -------------------------------------------------------

    @classmethod
    def open(cls, index_dir: Path | str, verify: bool = True) -> "Retriever":
        """Load the published index in ``index_dir`` (or its last good version)."""
        return cls(load_best(Path(index_dir), verify=verify))

    # -- queries ------------------------------------------------------------

    @property
    def n_passages(self) -> int:
        return self.weighted.stats.n_docs

    @property
    def n_sources(self) -> int:
        return len(self.collection.index)

    def query_terms(self, question: str) -> list[str]:
        """The index terms of ``question``, in order, repeats kept: what
        search scores and what the question-size limit counts."""
        return self.analyzer(question)

    def search(self, question: str, k: int = 10, retrieval: str | None = None,
               filters: Filters | None = None) -> SearchResult:
        """The ``k`` best passages for ``question``: by BM25 (``"lexical"``)
        or by the blend of BM25 and meaning (``"hybrid"``; the default
        where the index has vectors), among those ``filters`` allow."""
        return self.search_terms(question, self.query_terms(question), k, retrieval, filters)

    def search_terms(self, question: str, terms: list[str], k: int = 10,
                     retrieval: str | None = None, filters: Filters | None = None) -> SearchResult:
        """:meth:`search` for a question whose terms (:meth:`query_terms`)
        are known already: a request's validation analyses it once."""
        allowed = self.collection.allowed(filters)
        if self._mode(retrieval) == "lexical":
            return self._result(question, k, terms, self.scorer.top_k(terms, k, allowed))
        vec = self.encoder.encode_queries([question])[0]
        return self.rerank(question, k, terms, vec, self.scorer.top_k(terms, self.candidate_depth(k), allowed),
                           allowed)

    def by_date(self, question: str, terms: list[str], k: int, filters: Filters | None = None) -> SearchResult:
        """The first ``k`` passages sharing a term with the question (among
        those ``filters`` allow), newest article first, BM25's score then
        passage order breaking ties; undated articles come last."""
        docs = self.scorer.matches(terms, self.collection.allowed(filters))
        scores = self.scorer.scores_of(terms, docs)
        order = np.lexsort((docs, -scores, -self.collection.passage_days(docs)))[:k]
        return self._result(question, k, terms, (docs[order], scores[order], len(docs)))

    def has_source(self, source_id: str) -> bool:
        return source_id in self.collection.index

    def title(self, source_id: str) -> str | None:
        """The title of source ``source_id``, if it has one."""
        si = self.collection.index.get(source_id)
        return None if si is None else self.weighted.sources[si].get("title")

    def explain(self, terms: list[str], hit: Hit) -> list[dict[str, Any]]:
        """Hit ``hit``'s BM25 score for ``terms``, term by term
        (:func:`service.retrieval.explain.explain_terms`)."""
        doc = self._doc_of(hit)
        title = hit.source.get("title")
        words = (self.analyzer(title) if self.settings.index_titles and title else []) + self.analyzer(hit.text)
        j = int(np.searchsorted(self.scorer.offsets, doc, side="right")) - 1
        length = int(self.stored.segments[j].arrays.doc_len[doc - int(self.scorer.offsets[j])])
        return explain_terms(terms, words, length, self.weighted.stats, self.settings)

    def passage_words(self, hit: Hit) -> PassageWords:
        """The words and sentences the index stored for ``hit``'s passage."""
        return self.readings.passage(self._doc_of(hit))

    def _doc_of(self, hit: Hit) -> int:
        """The passage number of ``hit`` in this index."""
        if hit.doc >= 0:
            return hit.doc
        si = self.collection.index[hit.source_id]
        first = int(self.collection.first[si])
        n = int(hit.passage_id.rpartition("#")[2])
        return first + int(np.searchsorted(self._passages["p_n"][first:int(self.collection.first[si + 1])], n))

    def _mode(self, retrieval: str | None) -> str:
        mode = retrieval or self.default_retrieval
        if mode == "hybrid" and not self.semantic:
            raise ValueError("this index has no passage vectors, so only lexical retrieval is available")
        if mode not in RETRIEVAL_MODES:
            raise ValueError(f"retrieval must be lexical or hybrid, not {mode!r}")
        return mode

    def candidate_depth(self, k: int) -> int:
        """How many BM25 candidates a hybrid search of k hits re-ranks."""
        return max(k, self.search_settings.hybrid_depth)

    def rerank(self, question: str, k: int, terms: list[str], vec: np.ndarray,
               top: tuple[np.ndarray, np.ndarray, int], allowed: np.ndarray | None = None) -> SearchResult:
        """The hybrid hits for ``question`` from BM25's candidates ``top``
        (``scorer.top_k`` at :meth:`candidate_depth`) and the question's
        vector ``vec``: they and the nearest passages (of ``allowed``),
        re-ranked by the blend."""
        docs, scores, total = top
        if self._live is not None:
            allowed = self._live if allowed is None else allowed & self._live
        # A question sharing no word with any passage finds nothing: by meaning
        # alone a string of nonsense would still have nearest passages.
        n_near = self.search_settings.dense_depth if len(docs) else 0
        near = self._nearest(vec, self._vectors, self._scales, n_near, allowed)
        extra = np.setdiff1d(near, docs, assume_unique=True)
        if len(extra):
            docs = np.concatenate([docs, extra])
            scores = np.concatenate([scores, self.scorer.scores_of(terms, extra)])
        ranked = hybrid.rerank(docs, scores, vec, self._vectors, self._scales, self.search_settings.hybrid_weight,
                               self.weighted.sentences, self.search_settings.sentence_share,
                               self.search_settings.sentence_weight)
        hits = []
        for rank, (doc, score, cos, blended) in enumerate(zip(ranked.docs[:k].tolist(), ranked.bm25[:k].tolist(),
                                                              ranked.cosine[:k].tolist(),
                                                              ranked.blended[:k].tolist()), start=1):
            pid, sid, text, start, end, source = self._passage_fields(doc)
            hits.append(Hit(rank, score, pid, sid, text, start, end, dict(source), cos, blended, doc))
        return SearchResult(query=question, k=k, terms=terms, total=total, hits=hits, retrieval="hybrid",
                            query_vector=vec)

    def search_many(self, questions: Iterable[str], k: int = 10, threads: int | None = None,
                    retrieval: str | None = None) -> list[SearchResult]:
        """Batch search for evaluation runs: the same results as calling
        :meth:`search` on each question, in order.

        The compiled scorer releases the GIL, so the questions are scored
        on a thread pool (``threads``, default one per CPU, at most 8)
        while analysis and result building stay in this thread.
        """
        questions = list(questions)
        mode = self._mode(retrieval)
        terms = [self.query_terms(q) for q in questions]
        depth = k if mode == "lexical" else self.candidate_depth(k)
        threads = threads or min(8, os.cpu_count() or 1)
        if threads > 1 and len(questions) > 1:
            with ThreadPoolExecutor(threads) as pool:
                tops = list(pool.map(lambda t: self.scorer.top_k(t, depth), terms))
        else:
            tops = [self.scorer.top_k(t, depth) for t in terms]
        if mode == "lexical":
            return [self._result(q, k, t, top) for q, t, top in zip(questions, terms, tops)]
        vecs = self.encoder.encode_queries(questions)  # one at a time inside: as search() does
        return [self.rerank(q, k, t, v, top) for q, t, v, top in zip(questions, terms, vecs, tops)]

    def _result(self, question: str, k: int, terms: list[str], top: tuple[np.ndarray, np.ndarray, int]) -> SearchResult:
        docs, scores, total = top
        hits = []
        for rank, (doc, score) in enumerate(zip(docs.tolist(), scores.tolist()), start=1):
            pid, sid, text, start, end, source = self._passage_fields(doc)
            hits.append(Hit(rank, score, pid, sid, text, start, end, dict(source), None, score, doc))
        return SearchResult(query=question, k=k, terms=terms, total=total, hits=hits)

    def source(self, source_id: str) -> SourceView | None:
        """The article ``source_id`` with its passages' spans, or None."""
        si = self.collection.index.get(source_id)
        if si is None:
            return None
        p = self._passages
        spans = [
            {
                "id": passage_id(source_id, int(p["p_n"][d])),
                "start_char": int(p["p_start"][d]),
                "end_char": int(p["p_end"][d]),
            }
            for d in range(int(self.collection.first[si]), int(self.collection.first[si + 1]))
        ]
        return SourceView(source_id, self._source_text(si), _metadata(self.weighted.sources[si]), spans)

    def info(self) -> dict[str, Any]:
        """What /readyz reports."""
        m = self.manifest
        return {
            "version": m.get("version"),
            "format_version": m.get("format_version"),
            "corpus_fingerprint": m.get("corpus_fingerprint"),
            "settings_fingerprint": m.get("settings_fingerprint"),
            "passages": self.n_passages,
            "sources": self.n_sources,
            "retrieval": self.default_retrieval,
            "semantic": m.get("semantic"),
        }
