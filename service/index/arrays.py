"""Index: token lists → term-major postings of term frequencies (a
segment), and the BM25Okapi weights of those postings under the statistics
of a whole collection.

``rank_bm25.BM25Okapi`` defines the score.  Its score of a document for a
query is a sum, over the query's tokens (repeats included), of

    idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))

with ``idf(t) = log(N - df + 0.5) - log(df + 0.5)``, and negative idfs
floored to ``epsilon * mean(idf over the vocabulary)``.  N, df, avgdl and
that mean belong to the whole collection, so a segment stores only what is
its own (postings of ``(doc, tf)``, CSR by term, and passage lengths) and
the weights are computed when a version is loaded, from statistics summed
over every segment's *live* passages (:func:`collection_stats`,
:func:`weigh`): an article added, replaced or removed changes no stored
file, and the scores equal a full rebuild's bit for bit (same expression,
same float64 order; the mean idf is summed exactly, so its order does not
matter).  A parity test holds us to rank-bm25.

For fast exact top-k, each term also carries its largest live weight (the
bound the pruned top-k relies on, see :mod:`service.retrieval.kernels`)
and, when it occurs in at least 1/32 of a segment's documents, a bitmap of
them: pruning skips most of the postings of frequent terms, and the
bitmaps let ``total`` (documents matching any query term) stay exact at 64
documents per step.  A bitmap is never larger than the postings it
summarises (n/8 bytes vs 4·df with df ≥ n/32).  A deleted passage keeps
its postings (weighted like the rest, so the largest weights stay upper
bounds) and is kept out of every result by the scorer's passage mask.
"""

from __future__ import annotations

import math
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..config import IndexSettings

#: Tokens counted per chunk of the streaming build (bounds its memory).
CHUNK_TOKENS = 4_000_000
#: Postings placed per block when the arrays are written to disk (5-8 bytes each).
BLOCK_POSTINGS = 16_000_000
#: A term gets a bitmap when it occurs in at least 1/BITMAP_RATIO documents.
BITMAP_RATIO = 32


@dataclass(frozen=True)
class SegmentArrays:
    """One segment's postings: everything here depends on its own passages
    only, so it is written once and never changes.  Saved as ``.npy``."""

    terms: list[str]  # the segment's own vocabulary; ids index it
    ptr: np.ndarray  # int64, len(terms) + 1
    docs: np.ndarray  # int32 postings, sorted by doc within a term
    tfs: np.ndarray  # uint8/uint16/int32 term frequency per posting
    doc_len: np.ndarray  # int32 tokens per document
    bitmap_row: np.ndarray  # int32 per term: row in ``bitmaps`` or -1
    bitmaps: np.ndarray  # uint64 (n frequent terms, ceil(n_docs / 64))

    @property
    def n_docs(self) -> int:
        return int(self.doc_len.shape[0])


@dataclass(frozen=True)
class CollectionStats:
    """BM25Okapi's collection-wide numbers over the live passages of every
    segment of a version: what a full rebuild of the same articles has."""

    vocab: dict[str, int]  # term → global id (terms with live postings and not)
    df: np.ndarray  # int64 live passages per global term
    idf: np.ndarray  # float64 per global term, epsilon floor applied
    n_docs: int
    total_len: int

    @property
    def avgdl(self) -> float:
        return self.total_len / self.n_docs


@dataclass(frozen=True)
class Bm25Arrays:
    """A segment weighted for one collection: what the scorer walks."""

    terms: list[str]
    ptr: np.ndarray  # int64, len(terms) + 1
    docs: np.ndarray  # int32 postings, sorted by doc within a term
    weights: np.ndarray  # float64 BM25 weight per posting
    doc_len: np.ndarray  # int32 tokens per document
    idf: np.ndarray  # float64 per term, the collection's
    max_weight: np.ndarray  # float64 per term: its largest posting weight
    bitmap_row: np.ndarray  # int32 per term: row in ``bitmaps`` or -1
    bitmaps: np.ndarray  # uint64 (n frequent terms, ceil(n_docs / 64))
    avgdl: float
    df: np.ndarray  # int64 per term: the collection's live df (orders a query's terms)

    @property
    def n_docs(self) -> int:
        return int(self.doc_len.shape[0])


def _kernels():
    """The compiled loops (:mod:`.kernels`), imported on first use: loading
    numba costs half a second that a one-shot reader without deletions never needs."""
    from . import kernels

    return kernels


class ArrayBuilder:
    """Streaming construction of :class:`SegmentArrays`, document by document.

    Term ids go into a flat buffer; every ``CHUNK_TOKENS`` tokens a compiled
    kernel turns the chunk into per-document ``(term, tf)`` pairs with one
    counter array (no per-document dictionary).  :meth:`finish` scatters the
    postings into term-major arrays by a counting sort, freeing the chunks
    as they are placed, so memory stays near the size of the finished index.
    """

    def __init__(self, vocab: dict[str, int] | None = None) -> None:
        #: term → id, in order of first occurrence until :meth:`finish`
        #: numbers the terms in sorted order (``vocab``: a merge's, sorted).
        self.vocab: dict[str, int] = dict(vocab or {})
        #: After :meth:`finish`: each first-occurrence id's final id.
        self.renumbered = np.zeros(0, dtype=np.int64)
        self._doc_len: list[np.ndarray] = []
        self._buf = array("i")
        self._buf_lens = array("i")
        self._chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._df = np.zeros(0, dtype=np.int64)
        self._scratch = np.zeros(0, dtype=np.int32)
        self._tf_max = 0

    def term_id(self, term: str) -> int:
        """The id of ``term``, added to the vocabulary if new."""
        return self.vocab.setdefault(term, len(self.vocab))

    def add_terms(self, terms: Sequence[str]) -> None:
        """Add one document given as its terms."""
        setdefault, vocab = self.vocab.setdefault, self.vocab
        self.add_ids([setdefault(t, len(vocab)) for t in terms])

    def add_ids(self, ids: Iterable[int]) -> None:
        """Add one document given as term ids from :meth:`term_id`."""
        before = len(self._buf)
        self._buf.extend(ids)
        self._buf_lens.append(len(self._buf) - before)
        if len(self._buf) >= CHUNK_TOKENS:
            self._flush()

    def _flush(self) -> None:
        if not self._buf_lens:
            return
        ids = np.frombuffer(self._buf, dtype=np.int32)
        lens = np.frombuffer(self._buf_lens, dtype=np.int32)
        self.add_documents(ids, lens)
        del ids, lens
        del self._buf[:], self._buf_lens[:]

    def add_documents(self, ids: np.ndarray, lens: np.ndarray) -> None:
        """Add documents given as their term ids back to back, ``lens`` ids
        each (what parallel tokenizers deliver), counted in one kernel call."""
        if len(self._scratch) < len(self.vocab):
            self._scratch = np.zeros(max(len(self.vocab), 2 * len(self._scratch)), dtype=np.int32)
        terms, tfs, n_unique, doc_len = _kernels().count_chunk(ids, lens, self._scratch)
        self.add_postings(terms, tfs, n_unique, doc_len)

    def add_postings(self, terms: np.ndarray, tfs: np.ndarray, n_unique: np.ndarray, doc_len: np.ndarray) -> None:
        """Add documents given as their postings: (term id, tf) pairs
        document after document, ``n_unique`` pairs each, and their lengths
        (what :func:`count_chunk` gives, or a merge of segments)."""
        if len(self._df) < len(self.vocab):
            self._df = np.concatenate([self._df, np.zeros(2 * len(self.vocab) - len(self._df), np.int64)])
        self._doc_len.append(doc_len)
        self._df += np.bincount(terms, minlength=len(self._df))
        # Term frequencies fit a byte in nearly every corpus: 3 bytes less
        # per posting while the whole corpus waits in memory to be placed.
        tf_max = int(tfs.max()) if len(tfs) else 0
        self._tf_max = max(self._tf_max, tf_max)
        self._chunks.append((terms, tfs.astype(_tf_type(tf_max)), n_unique))

    def finish(self, out_dir: Path | None = None) -> SegmentArrays:
        """The arrays of every document added.

        With ``out_dir``, ``docs.npy`` and ``tfs.npy`` (nearly the whole
        segment) are written there one block of terms at a time and
        returned memory-mapped, so the build never holds them whole next to
        the counted postings; without, they are built in memory in one block.
        """
        self._flush()
        dl = np.concatenate(self._doc_len) if self._doc_len else np.zeros(0, np.int64)
        n_docs = len(dl)
        if n_docs == 0 or int(dl.sum()) == 0:
            raise ValueError("nothing to index: the documents contain no indexable words")
        n_terms = len(self.vocab)
        term_list = self._sort_terms()
        df = self._df[:n_terms]
        ptr = np.zeros(n_terms + 1, dtype=np.int64)
        np.cumsum(df, out=ptr[1:])
        dense = np.flatnonzero(df * BITMAP_RATIO >= n_docs)
        bitmap_row = np.full(n_terms, -1, dtype=np.int32)
        bitmap_row[dense] = np.arange(len(dense), dtype=np.int32)
        bitmaps = np.zeros((len(dense), (n_docs + 63) // 64), dtype=np.uint64)
        tf_type = _tf_type(self._tf_max)
        docs_out = _sink(out_dir, "docs", np.int32, int(ptr[-1]))
        tfs_out = _sink(out_dir, "tfs", tf_type, int(ptr[-1]))
        for t0, t1 in _term_blocks(ptr, BLOCK_POSTINGS if out_dir else int(ptr[-1])):
            docs, tfs = self._place(t0, t1, ptr, tf_type)
            rows = bitmap_row[t0:t1]
            own = np.flatnonzero(rows >= 0)
            bitmaps[rows[own]] = _kernels().term_bitmaps(ptr[t0:t1 + 1] - ptr[t0], docs, own.astype(np.int64), n_docs)
            docs_out.append(docs)
            tfs_out.append(tfs)
            del docs, tfs
        self._chunks.clear()
        return SegmentArrays(terms=term_list, ptr=ptr, docs=docs_out.result(), tfs=tfs_out.result(),
                             doc_len=dl.astype(np.int32), bitmap_row=bitmap_row, bitmaps=bitmaps)

    def _sort_terms(self) -> list[str]:
        """Number the terms in sorted order, not in order of first
        occurrence: a segment's term ids then depend only on its terms, so
        a merge of segments numbers them as a full build of the same
        articles does (:mod:`.merge`).  Renumbers the counted postings."""
        term_list = sorted(self.vocab)
        old = np.fromiter(map(self.vocab.__getitem__, term_list), dtype=np.int64, count=len(term_list))
        if not (old == np.arange(len(old))).all():
            rank = np.empty(len(old), dtype=np.int32)
            rank[old] = np.arange(len(old), dtype=np.int32)
            self._chunks = [(rank[terms], tfs, n_unique) for terms, tfs, n_unique in self._chunks]
            self._df = self._df[old]
        self.renumbered = np.empty(len(old), dtype=np.int64)
        self.renumbered[old] = np.arange(len(old))
        self.vocab = dict(zip(term_list, range(len(term_list))))
        return term_list

    def _place(self, t0: int, t1: int, ptr: np.ndarray, tf_type: type) -> tuple[np.ndarray, np.ndarray]:
        """The postings of terms ``t0`` to ``t1`` (exclusive), gathered
        from every chunk by a counting sort."""
        n = int(ptr[t1] - ptr[t0])
        docs = np.empty(n, dtype=np.int32)
        tfs = np.empty(n, dtype=tf_type)
        fill = ptr[t0:t1] - ptr[t0]
        doc0 = 0
        for terms, chunk_tfs, n_unique in self._chunks:
            _kernels().scatter_postings(terms, chunk_tfs, n_unique, doc0, t0, t1, fill, docs, tfs)
            doc0 += len(n_unique)
        return docs, tfs


def _tf_type(tf_max: int) -> type:
    return next(t for t in (np.uint8, np.uint16, np.int32) if tf_max <= np.iinfo(t).max)
def _term_blocks(ptr: np.ndarray, max_postings: int) -> list[tuple[int, int]]:
    """Consecutive term ranges of at most ``max_postings`` postings each
    (a term with more gets a range of its own)."""
    blocks = []
    t0, n_terms = 0, len(ptr) - 1
    while t0 < n_terms:
        t1 = int(np.searchsorted(ptr, ptr[t0] + max_postings, side="right")) - 1
        t1 = min(max(t1, t0 + 1), n_terms)
        blocks.append((t0, t1))
        t0 = t1
    return blocks


class _MemorySink:
    """Blocks of one array, joined in memory."""

    def __init__(self) -> None:
        self._blocks: list[np.ndarray] = []

    def append(self, block: np.ndarray) -> None:
        self._blocks.append(block)

    def result(self) -> np.ndarray:
        return self._blocks[0] if len(self._blocks) == 1 else np.concatenate(self._blocks)


class NpySink:
    """Blocks of one array, appended to an ``.npy`` file as they come.

    Plain writes, not a writable memory map: pages written through a map
    would count in the process's resident memory until unmapped.
    """

    def __init__(self, path: Path, dtype: type, shape: int | tuple[int, ...]) -> None:
        self._path = path
        self._fh = open(path, "wb")
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
                  "shape": shape if isinstance(shape, tuple) else (shape,)}
        np.lib.format.write_array_header_1_0(self._fh, header)

    def append(self, block: np.ndarray) -> None:
        self._fh.write(block.data)

    def result(self) -> np.ndarray:
        self._fh.close()
        return np.load(self._path, mmap_mode="r", allow_pickle=False)


def _sink(out_dir: Path | None, name: str, dtype: type, length: int) -> _MemorySink | NpySink:
    return _MemorySink() if out_dir is None else NpySink(Path(out_dir) / f"{name}.npy", dtype, length)


def live_doc_freq(seg: SegmentArrays, dead: np.ndarray) -> np.ndarray:
    """Per term of ``seg``, its postings in live documents."""
    df = np.diff(np.asarray(seg.ptr))
    if not len(dead):
        return df
    mark = np.zeros(seg.n_docs, dtype=np.uint8)
    mark[np.asarray(dead, dtype=np.int64)] = 1
    return df - _kernels().dead_postings(np.asarray(seg.ptr), np.asarray(seg.docs), mark)


def collection_stats(parts: Sequence[tuple[SegmentArrays, np.ndarray]], settings: IndexSettings
                     ) -> tuple[CollectionStats, list[np.ndarray]]:
    """The statistics of ``parts`` (each a segment and its dead documents'
    ids), and per segment its terms' global ids.  Each part's
    contribution (its vocabulary, live df, live count and length) is all a
    segment stored on another machine would have to send."""
    vocab: dict[str, int] = {}
    gids, live_dfs = [], []  # per segment
    n_docs = total_len = 0
    for seg, dead in parts:
        if not vocab:
            vocab = dict(zip(seg.terms, range(len(seg.terms))))
            gid = np.arange(len(seg.terms), dtype=np.int64)
        else:
            setdefault = vocab.setdefault
            gid = np.fromiter((setdefault(t, len(vocab)) for t in seg.terms), dtype=np.int64, count=len(seg.terms))
        gids.append(gid)
        live_dfs.append(live_doc_freq(seg, dead))
        dl = np.asarray(seg.doc_len, dtype=np.int64)
        n_docs += seg.n_docs - len(dead)
        total_len += int(dl.sum()) - int(dl[np.asarray(dead, dtype=np.int64)].sum())
    df = np.zeros(len(vocab), dtype=np.int64)
    for gid, ldf in zip(gids, live_dfs):
        df[gid] += ldf  # a segment's global ids are distinct
    if n_docs == 0 or total_len == 0:
        raise ValueError("nothing to index: the documents contain no indexable words")
    idf = okapi_idf(df, n_docs, settings.epsilon)
    return CollectionStats(vocab, df, idf, n_docs, total_len), gids


def weigh(seg: SegmentArrays, gid: np.ndarray, stats: CollectionStats, settings: IndexSettings) -> Bm25Arrays:
    """``seg``'s postings weighted under ``stats``: rank-bm25's expression,
    operation for operation (see :func:`kernels.posting_weights`)."""
    k1, b = settings.k1, settings.b
    avgdl = stats.avgdl
    # rank-bm25's length part of the denominator, the same numpy expression.
    norm = k1 * (1 - b + b * np.asarray(seg.doc_len) / avgdl)
    idf = stats.idf[gid]
    weights, max_weight = _kernels().posting_weights(np.asarray(seg.ptr), np.asarray(seg.docs), np.asarray(seg.tfs),
                                                  idf, norm, float(k1))
    return Bm25Arrays(terms=seg.terms, ptr=seg.ptr, docs=seg.docs, weights=weights, doc_len=seg.doc_len,
                      idf=idf, max_weight=max_weight, bitmap_row=seg.bitmap_row, bitmaps=seg.bitmaps,
                      avgdl=avgdl, df=stats.df[gid])


def build_arrays(token_lists: Iterable[Sequence[str]], settings: IndexSettings) -> Bm25Arrays:
    """The weighted arrays of one collection of documents given as lists of terms."""
    builder = ArrayBuilder()
    for terms in token_lists:
        builder.add_terms(terms)
    seg = builder.finish()
    none = np.zeros(0, dtype=np.int64)
    stats, gids = collection_stats([(seg, none)], settings)
    return weigh(seg, gids[0], stats, settings)


def okapi_idf(df: np.ndarray, n_docs: int, epsilon: float) -> np.ndarray:
    """rank-bm25's idf: ``log(N-df+.5) - log(df+.5)``, negatives floored.

    The floor is ``epsilon`` times the mean of the *unfloored* idfs over
    the terms that occur (``df > 0``), as rank-bm25 computes it; the sum is
    exact (``math.fsum``), so any order of the vocabulary gives the same
    floor, bit for bit: an incremental index and a full rebuild agree.
    """
    dff = df.astype(np.float64)
    idf = np.log(n_docs - dff + 0.5) - np.log(dff + 0.5)
    occurs = idf[df > 0]
    eps = epsilon * (math.fsum(occurs.tolist()) / len(occurs))
    return np.where(idf < 0, eps, idf)
