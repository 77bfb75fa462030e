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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from .config import IndexSettings

CHUNK_DOCS = 50_000


@dataclass(frozen=True)
class Bm25Arrays:
    """The index proper.  All fields are plain arrays, saved as ``.npy``."""

    terms: list[str]
    ptr: np.ndarray  # int64, len(terms) + 1
    docs: np.ndarray  # int32 postings, sorted by doc within a term
    weights: np.ndarray  # float64 BM25 weight per posting
    doc_len: np.ndarray  # int32 tokens per document
    idf: np.ndarray  # float64 per term, epsilon floor applied
    avgdl: float

    @property
    def n_docs(self) -> int:
        return int(self.doc_len.shape[0])


def build_arrays(token_lists: Iterable[Sequence[str]], settings: IndexSettings) -> Bm25Arrays:
    """Count and weight in one streaming pass over the documents.

    Documents are turned into (term id, doc id) pairs chunk by chunk and
    counted with a sort, so no per-document dictionary is kept alive.
    """
    vocab: dict[str, int] = {}
    doc_len: list[int] = []
    chunk_terms: list[np.ndarray] = []
    chunk_docs: list[np.ndarray] = []
    chunk_tfs: list[np.ndarray] = []
    buf_ids: list[int] = []
    buf_docs: list[int] = []

    def flush() -> None:
        if not buf_ids:
            return
        t = np.asarray(buf_ids, dtype=np.int64)
        d = np.asarray(buf_docs, dtype=np.int64)
        key = t << 32 | d
        uniq, tf = np.unique(key, return_counts=True)
        chunk_terms.append((uniq >> 32).astype(np.int32))
        chunk_docs.append((uniq & 0xFFFFFFFF).astype(np.int32))
        chunk_tfs.append(tf.astype(np.int32))
        buf_ids.clear()
        buf_docs.clear()

    setdefault = vocab.setdefault
    for doc, tokens in enumerate(token_lists):
        ids = [setdefault(tok, len(vocab)) for tok in tokens]
        buf_ids.extend(ids)
        buf_docs.extend([doc] * len(ids))
        doc_len.append(len(ids))
        if (doc + 1) % CHUNK_DOCS == 0:
            flush()
    flush()

    n_docs = len(doc_len)
    total = sum(doc_len)
    if n_docs == 0 or total == 0:
        raise ValueError("nothing to index: the documents contain no indexable words")

    terms = np.concatenate(chunk_terms)
    docs = np.concatenate(chunk_docs)
    tfs = np.concatenate(chunk_tfs)
    # Chunks are in doc order, so a stable sort by term keeps docs ascending.
    order = np.argsort(terms, kind="stable")
    terms, docs, tfs = terms[order], docs[order], tfs[order]
    del order
    n_terms = len(vocab)
    df = np.bincount(terms, minlength=n_terms)
    ptr = np.zeros(n_terms + 1, dtype=np.int64)
    np.cumsum(df, out=ptr[1:])

    dl = np.asarray(doc_len, dtype=np.int64)
    avgdl = total / n_docs
    idf = okapi_idf(df, n_docs, settings.epsilon)
    k1, b = settings.k1, settings.b
    tf = tfs.astype(np.float64)
    # Same expression, same order as rank_bm25.BM25Okapi.get_scores.
    weights = idf[terms] * (tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl[docs] / avgdl)))
    term_list = [""] * n_terms
    for term, i in vocab.items():
        term_list[i] = term
    return Bm25Arrays(
        terms=term_list,
        ptr=ptr,
        docs=docs.astype(np.int32),
        weights=weights,
        doc_len=dl.astype(np.int32),
        idf=idf,
        avgdl=avgdl,
    )


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


class Bm25Scorer:
    """Scores queries against :class:`Bm25Arrays`."""

    def __init__(self, arrays: Bm25Arrays) -> None:
        self.arrays = arrays
        self.vocab = {t: i for i, t in enumerate(arrays.terms)}

    def term_ids(self, query_terms: Sequence[str]) -> list[int]:
        """Vocabulary ids of the query's terms, repeats kept, unknowns dropped."""
        vocab = self.vocab
        return [vocab[t] for t in query_terms if t in vocab]

    def scores(self, query_terms: Sequence[str]) -> np.ndarray:
        """Dense scores of every document: ``BM25Okapi.get_scores``."""
        a = self.arrays
        out = np.zeros(a.n_docs, dtype=np.float64)
        for t in self.term_ids(query_terms):
            s, e = a.ptr[t], a.ptr[t + 1]
            out[a.docs[s:e]] += a.weights[s:e]
        return out

    def top_k(self, query_terms: Sequence[str], k: int) -> tuple[np.ndarray, np.ndarray, int]:
        """The ``k`` best documents sharing a term with the query.

        Returns ``(doc ids, scores, total matched)``; ties are broken by doc
        id, ascending, so results never depend on sort stability.
        """
        a = self.arrays
        ids = self.term_ids(query_terms)
        if not ids or k <= 0:
            return np.empty(0, np.int64), np.empty(0), 0
        scores = self.scores(query_terms)
        matched = np.unique(np.concatenate([a.docs[a.ptr[t]:a.ptr[t + 1]] for t in ids]))
        cand = scores[matched]
        if len(cand) > k:
            part = np.argpartition(-cand, k - 1)[:k]
            kth = cand[part].min()
            # Everything strictly better than the k-th, then the ties in id order.
            better = np.flatnonzero(cand > kth)
            ties = np.flatnonzero(cand == kth)[: k - len(better)]
            keep = np.concatenate([better, ties])
        else:
            keep = np.arange(len(cand))
        order = np.lexsort((matched[keep], -cand[keep]))
        sel = keep[order]
        return matched[sel].astype(np.int64), cand[sel], int(len(matched))
