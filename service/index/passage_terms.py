"""Tokenize: articles → passages and counted term ids, in parallel for big corpora.

Cutting passages and analysing their text is most of an index build (about
two thirds of it on a million passages) and it is independent from article
to article, so large corpora are cut into chunks of articles that worker
processes handle side by side.  A worker returns compact numpy arrays (the
passage spans, and each passage's term ids, in the worker's own numbering)
plus the terms it met for the first time; the parent maps those to global
ids and counts them.  No Python object per passage or per token crosses a
process boundary, and a worker imports only the analysis modules (no numba),
so it stays small.

The global vocabulary order is the serial one, first occurrence in corpus
order, whatever the scheduling: chunks are merged in corpus order, and a
worker numbers its new terms in order of first occurrence within the chunk
that introduced them.  A term new to the whole corpus is necessarily new to
the worker that meets it, so merging a chunk's new terms in their local
order numbers the globally new ones exactly as a serial build would; a test
holds parallel and serial builds to identical arrays.

Workers are started with ``spawn``: fresh interpreters that share no memory
with the parent, so the build's memory is simply the sum of the processes'
resident sizes, and the parent's large corpus is never duplicated by a
fork's copy-on-write.
"""

from __future__ import annotations

import multiprocessing
import os
import time
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np

from ..config import IndexSettings
from ..corpus.passages import Passage, make_passages
from ..corpus.reader import Article
from ..text.analysis import Analyzer
from ..text.sentences import clipped_units, sentence_units
from .reading_record import ReadingRecorder

#: Characters of article text per chunk handed to a worker (~20k passages).
CHUNK_CHARS = 12_000_000
#: Below this much text, processes cost more than they save.
PARALLEL_MIN_CHARS = 50_000_000


@dataclass(frozen=True)
class ChunkResult:
    """One chunk of articles, cut and counted by one tokenizer."""

    worker: int  # which tokenizer: its term ids are numbered per tokenizer
    new_terms: list[str]  # the tokenizer's new terms, in its id order
    passages_per_article: np.ndarray  # int32
    p_n: np.ndarray  # int32, per passage
    p_start: np.ndarray  # int64
    p_end: np.ndarray  # int64
    ids: np.ndarray  # int32 local term ids of the passages, back to back
    lens: np.ndarray  # int32 ids per passage
    readings: dict[str, np.ndarray]  # the passages' readings, local term ids (:mod:`.readings`)
    new_extra: list[str]  # the tokenizer's new extra terms of words, in their id order
    seconds: float  # time spent cutting and analysing


class ChunkTokenizer:
    """One process's tokenizer state: the analyzer and its memos, and the
    local vocabulary, kept across chunks (Zipfian words repeat, so the
    memos pay off over the whole corpus, not one chunk)."""

    def __init__(self, settings: IndexSettings, reader: type | None = None) -> None:
        self.settings = settings
        self.vocab: dict[str, int] = {}
        self._sent = 0  # local terms already reported to the parent
        analyzer = Analyzer(settings)
        self._term_ids = analyzer.term_ids(self._term_id)
        # ``reader``: what reads a passage (the plain one, for tests and benchmarks).
        self._reader = (reader or ReadingRecorder)(analyzer, self.vocab, self._term_ids)

    def _term_id(self, term: str) -> int:
        return self.vocab.setdefault(term, len(self.vocab))

    def __call__(self, articles: Sequence[tuple[str, str | None, str]]) -> ChunkResult:
        """Cut and count ``(source_id, title, text)`` articles."""
        started = time.perf_counter()
        settings, term_ids, read = self.settings, self._term_ids, self._reader.passage
        counts, p_n, p_start, p_end = [], [], [], []
        packed, lens = bytearray(), []
        for source_id, title, text in articles:
            units = sentence_units(text)
            passages = make_passages(Article(source_id, text, title), settings, units)
            counts.append(len(passages))
            if not passages:
                continue
            # Only an article with passages contributes its title's terms,
            # so no term enters the vocabulary without a posting.
            title_ids = term_ids(title) if settings.index_titles and title else b""
            for p, pieces, starts in _passage_pieces(text, passages):
                p_n.append(p.n)
                p_start.append(p.start)
                p_end.append(p.end)
                ids = read(p.text, pieces, starts, title_ids, clipped_units(text, units, p.start, p.end))
                packed += ids
                lens.append(len(ids) // 4)
        vocab_order = list(self.vocab)  # dicts keep insertion order: id order
        new_terms, self._sent = vocab_order[self._sent:], len(vocab_order)
        readings, new_extra = self._reader.take()
        return ChunkResult(
            worker=os.getpid(),
            new_terms=new_terms,
            passages_per_article=np.array(counts, dtype=np.int32),
            p_n=np.array(p_n, dtype=np.int32),
            p_start=np.array(p_start, dtype=np.int64),
            p_end=np.array(p_end, dtype=np.int64),
            ids=np.frombuffer(packed, dtype=np.int32),
            lens=np.array(lens, dtype=np.int32),
            readings=readings,
            new_extra=new_extra,
            seconds=time.perf_counter() - started,
        )


#: Whether each character up to the last whitespace one (U+3000) is whitespace.
_SPACE = np.array([chr(i).isspace() for i in range(0x3002)])


def piece_starts(text: str) -> np.ndarray:
    """Where each piece of ``text.split()`` starts (int64)."""
    code = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    space = _SPACE[np.minimum(code, len(_SPACE) - 1)]
    return np.flatnonzero(~space & np.concatenate([[True], space[:-1]]))


def _passage_pieces(text: str, passages: list[Passage]) -> Iterator[tuple[Passage, list[str], np.ndarray]]:
    """Each passage with its whitespace pieces and their offsets in it,
    cut from the article's: a passage starts and ends at a piece's edge
    (it is whole sentences), checked, else cut on its own."""
    pieces, starts = text.split(), piece_starts(text)
    bounds = np.array([(p.start, p.end) for p in passages], dtype=np.int64)
    first, last = np.searchsorted(starts, bounds[:, 0]), np.searchsorted(starts, bounds[:, 1])
    ends = starts + np.fromiter(map(len, pieces), dtype=np.int64, count=len(pieces))
    # No piece may straddle a passage's start or end.
    before = np.concatenate([[0], ends])
    edges = (before[first] <= bounds[:, 0]) & (before[last] <= bounds[:, 1])
    for p, i, j, edge in zip(passages, first.tolist(), last.tolist(), edges.tolist()):
        if edge:
            yield p, pieces[i:j], starts[i:j] - p.start
        else:
            yield p, p.text.split(), piece_starts(p.text)


_tokenizer: ChunkTokenizer | None = None


def _init_worker(settings: IndexSettings) -> None:
    global _tokenizer
    _tokenizer = ChunkTokenizer(settings)


def _run_chunk(articles: list[tuple[str, str | None, str]]) -> ChunkResult:
    assert _tokenizer is not None, "worker not initialised"
    return _tokenizer(articles)


def _chunks(articles: Sequence[Article], chunk_chars: int) -> Iterator[list[tuple[str, str | None, str]]]:
    """Consecutive runs of articles of about ``chunk_chars`` characters,
    as plain tuples (what a worker needs, cheap to pickle)."""
    chunk: list[tuple[str, str | None, str]] = []
    size = 0
    for a in articles:
        chunk.append((a.source_id, a.title, a.text))
        size += len(a.text)
        if size >= chunk_chars:
            yield chunk
            chunk, size = [], 0
    if chunk:
        yield chunk


def default_workers(articles: Sequence[Article]) -> int:
    """Two or more processes only for corpora big enough to repay them."""
    if sum(len(a.text) for a in articles) < PARALLEL_MIN_CHARS:
        return 1
    return max(1, min(len(os.sched_getaffinity(0)), 4))


def tokenize_chunks(
    articles: Sequence[Article],
    settings: IndexSettings,
    workers: int = 1,
) -> Iterator[ChunkResult]:
    """Chunk results in corpus order, from ``workers`` processes (1: this one)."""
    chunks = _chunks(articles, CHUNK_CHARS)
    if workers <= 1:
        tokenizer = ChunkTokenizer(settings)
        yield from map(tokenizer, chunks)
        return
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(workers, initializer=_init_worker, initargs=(settings,)) as pool:
        yield from pool.imap(_run_chunk, chunks)


class TermMerger:
    """Maps tokenizers' local term ids to global ones (see the module doc)."""

    def __init__(self, term_id: Callable[[str], int]) -> None:
        self._term_id = term_id
        self._remap: dict[int, np.ndarray] = {}

    def global_ids(self, chunk: ChunkResult) -> np.ndarray:
        """``chunk.ids`` in global ids; registers the chunk's new terms."""
        old = self._remap.get(chunk.worker, np.zeros(0, dtype=np.int32))
        new = np.fromiter(map(self._term_id, chunk.new_terms), dtype=np.int32, count=len(chunk.new_terms))
        remap = self._remap[chunk.worker] = np.concatenate([old, new])
        return remap[chunk.ids]

    def ids_of(self, worker: int, ids: np.ndarray) -> np.ndarray:
        """Local term ids of tokenizer ``worker`` (whose chunk was mapped
        already) in global ids."""
        return self._remap[worker][ids]
