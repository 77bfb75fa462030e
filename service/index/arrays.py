"""Index: token lists → BM25Okapi weights in term-major sparse arrays.

``rank_bm25.BM25Okapi`` defines the score.  Its score of a document for a
query is a sum, over the query's tokens (repeats included), of

    idf(t) * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl))

with ``idf(t) = log(N - df + 0.5) - log(df + 0.5)``, and negative idfs
floored to ``epsilon * mean(idf over the vocabulary)``.  That weight depends
only on the (term, document) pair, so it is computed once at build time and
stored per posting (CSR by term: ``ptr[t]:ptr[t+1]`` slices ``docs`` and
``weights``).  A query then touches only the postings of its own terms.  The
arithmetic is the same expression in the same float64 order as rank-bm25,
so scores agree bit for bit; a parity test holds us to it.

For fast exact top-k, each term also carries its largest weight (the bound
the pruned top-k relies on, see :mod:`service.kernels`) and, when it occurs in at
least 1/32 of the documents, a bitmap of them: pruning skips most of the
postings of frequent terms, and the bitmaps let ``total`` (documents
matching any query term) stay exact at 64 documents per step instead of
walking those postings anyway.  A bitmap is never larger than the postings
it summarises (n/8 bytes vs 4·df with df ≥ n/32).
"""

from __future__ import annotations

import threading
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from ..config import IndexSettings
from . import kernels

#: Tokens counted per chunk of the streaming build (bounds its memory).
CHUNK_TOKENS = 4_000_000
#: Postings placed per block when the arrays are written to disk (12 bytes each).
BLOCK_POSTINGS = 16_000_000
#: A term gets a bitmap when it occurs in at least 1/BITMAP_RATIO documents.
BITMAP_RATIO = 32


@dataclass(frozen=True)
class Bm25Arrays:
    """The index proper.  All fields are plain arrays, saved as ``.npy``."""

    terms: list[str]
    ptr: np.ndarray  # int64, len(terms) + 1
    docs: np.ndarray  # int32 postings, sorted by doc within a term
    weights: np.ndarray  # float64 BM25 weight per posting
    doc_len: np.ndarray  # int32 tokens per document
    idf: np.ndarray  # float64 per term, epsilon floor applied
    max_weight: np.ndarray  # float64 per term: its largest posting weight
    bitmap_row: np.ndarray  # int32 per term: row in ``bitmaps`` or -1
    bitmaps: np.ndarray  # uint64 (n frequent terms, ceil(n_docs / 64))
    avgdl: float

    @property
    def n_docs(self) -> int:
        return int(self.doc_len.shape[0])


class ArrayBuilder:
    """Streaming construction of :class:`Bm25Arrays`, document by document.

    Term ids go into a flat buffer; every ``CHUNK_TOKENS`` tokens a compiled
    kernel turns the chunk into per-document ``(term, tf)`` pairs with one
    counter array (no per-document dictionary).  :meth:`finish` scatters the
    postings, weighted, into term-major arrays by a counting sort, freeing
    the chunks as they are placed, so memory stays near the size of the
    finished index.
    """

    def __init__(self) -> None:
        #: term → id, in order of first occurrence.
        self.vocab: dict[str, int] = {}
        self._doc_len: list[np.ndarray] = []
        self._buf = array("i")
        self._buf_lens = array("i")
        self._chunks: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._df = np.zeros(0, dtype=np.int64)
        self._scratch = np.zeros(0, dtype=np.int32)

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
        terms, tfs, n_unique, doc_len = kernels.count_chunk(ids, lens, self._scratch)
        if len(self._df) < len(self.vocab):
            self._df = np.concatenate([self._df, np.zeros(2 * len(self.vocab) - len(self._df), np.int64)])
        self._doc_len.append(doc_len)
        self._df += np.bincount(terms, minlength=len(self._df))
        # Term frequencies fit a byte in nearly every corpus: 3 bytes less
        # per posting while the whole corpus waits in memory to be placed.
        tf_max = int(tfs.max()) if len(tfs) else 0
        tf_type = next(t for t in (np.uint8, np.uint16, np.int32) if tf_max <= np.iinfo(t).max)
        self._chunks.append((terms, tfs.astype(tf_type), n_unique))

    def finish(self, settings: IndexSettings, out_dir: Path | None = None) -> Bm25Arrays:
        """The arrays of every document added.

        With ``out_dir``, ``docs.npy`` and ``weights.npy`` (nearly the
        whole index: 12 bytes a posting) are written there one block of
        terms at a time and returned memory-mapped, so the build never
        holds them whole next to the counted postings; without, they are
        built in memory in one block.
        """
        self._flush()
        dl = np.concatenate(self._doc_len) if self._doc_len else np.zeros(0, np.int64)
        n_docs = len(dl)
        total = int(dl.sum())
        if n_docs == 0 or total == 0:
            raise ValueError("nothing to index: the documents contain no indexable words")
        n_terms = len(self.vocab)
        df = self._df[:n_terms]
        ptr = np.zeros(n_terms + 1, dtype=np.int64)
        np.cumsum(df, out=ptr[1:])
        avgdl = total / n_docs
        idf = okapi_idf(df, n_docs, settings.epsilon)
        k1, b = settings.k1, settings.b
        # rank-bm25's length part of the denominator, the same numpy expression.
        norm = k1 * (1 - b + b * dl / avgdl)
        dense = np.flatnonzero(df * BITMAP_RATIO >= n_docs)
        bitmap_row = np.full(n_terms, -1, dtype=np.int32)
        bitmap_row[dense] = np.arange(len(dense), dtype=np.int32)
        bitmaps = np.zeros((len(dense), (n_docs + 63) // 64), dtype=np.uint64)
        max_weight = np.zeros(n_terms)
        docs_out = _sink(out_dir, "docs", np.int32, int(ptr[-1]))
        weights_out = _sink(out_dir, "weights", np.float64, int(ptr[-1]))
        for t0, t1 in _term_blocks(ptr, BLOCK_POSTINGS if out_dir else int(ptr[-1])):
            docs, weights = self._place(t0, t1, ptr, idf, norm, float(k1))
            starts = ptr[t0:t1] - ptr[t0]
            # Every term occurs somewhere, so no reduceat segment is empty.
            max_weight[t0:t1] = np.maximum.reduceat(weights, starts)
            rows = bitmap_row[t0:t1]
            own = np.flatnonzero(rows >= 0)
            bitmaps[rows[own]] = kernels.term_bitmaps(ptr[t0:t1 + 1] - ptr[t0], docs, own.astype(np.int64), n_docs)
            docs_out.append(docs)
            weights_out.append(weights)
            del docs, weights
        self._chunks.clear()
        term_list = [""] * n_terms
        for term, i in self.vocab.items():
            term_list[i] = term
        return Bm25Arrays(
            terms=term_list,
            ptr=ptr,
            docs=docs_out.result(),
            weights=weights_out.result(),
            doc_len=dl.astype(np.int32),
            idf=idf,
            max_weight=max_weight,
            bitmap_row=bitmap_row,
            bitmaps=bitmaps,
            avgdl=avgdl,
        )

    def _place(self, t0: int, t1: int, ptr: np.ndarray, idf: np.ndarray, norm: np.ndarray,
               k1: float) -> tuple[np.ndarray, np.ndarray]:
        """The postings and weights of terms ``t0`` to ``t1`` (exclusive),
        gathered from every chunk by a counting sort."""
        n = int(ptr[t1] - ptr[t0])
        docs = np.empty(n, dtype=np.int32)
        weights = np.empty(n, dtype=np.float64)
        fill = ptr[t0:t1] - ptr[t0]
        doc0 = 0
        for terms, tfs, n_unique in self._chunks:
            kernels.scatter_weights(terms, tfs, n_unique, doc0, t0, t1, fill, idf, norm, k1, docs, weights)
            doc0 += len(n_unique)
        return docs, weights


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


class _NpySink:
    """Blocks of one array, appended to an ``.npy`` file as they come.

    Plain writes, not a writable memory map: pages written through a map
    would count in the process's resident memory until unmapped.
    """

    def __init__(self, path: Path, dtype: type, length: int) -> None:
        self._path = path
        self._fh = open(path, "wb")
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False,
                  "shape": (length,)}
        np.lib.format.write_array_header_1_0(self._fh, header)

    def append(self, block: np.ndarray) -> None:
        self._fh.write(block.data)

    def result(self) -> np.ndarray:
        self._fh.close()
        return np.load(self._path, mmap_mode="r", allow_pickle=False)


def _sink(out_dir: Path | None, name: str, dtype: type, length: int) -> _MemorySink | _NpySink:
    return _MemorySink() if out_dir is None else _NpySink(Path(out_dir) / f"{name}.npy", dtype, length)


def build_arrays(token_lists: Iterable[Sequence[str]], settings: IndexSettings) -> Bm25Arrays:
    """The arrays of documents given as lists of terms."""
    builder = ArrayBuilder()
    for terms in token_lists:
        builder.add_terms(terms)
    return builder.finish(settings)


def okapi_idf(df: np.ndarray, n_docs: int, epsilon: float) -> np.ndarray:
    """rank-bm25's idf: ``log(N-df+.5) - log(df+.5)``, negatives floored.

    The floor is ``epsilon`` times the mean of the *unfloored* idfs, exactly
    as rank-bm25 computes it (a plain Python sum in vocabulary order; the
    order only moves the last bits, well inside the parity tolerance).
    """
    dff = df.astype(np.float64)
    idf = np.log(n_docs - dff + 0.5) - np.log(dff + 0.5)
    eps = epsilon * (float(idf.sum()) / len(idf))
    return np.where(idf < 0, eps, idf)


