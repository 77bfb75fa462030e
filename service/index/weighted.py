"""Weighted: a loaded version's segments seen as the one collection they hold.

The collection statistics (live passages, each term's live df, total
length, hence avgdl and the idfs) are summed over the segments, and every
segment's postings are weighted under them (:func:`service.index.arrays.weigh`),
once per loaded version and kept in memory: the scores are those of a full
rebuild of the same articles.  Passages are numbered through the segments
one after the other; the passage tables, the sources and the vectors are
joined in that numbering (a single segment's are its memory maps as they are).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import IndexSettings
from .arrays import Bm25Arrays, CollectionStats, collection_stats, weigh
from .segments import SentenceVectors
from .store import StoredIndex


@dataclass(frozen=True)
class WeightedIndex:
    """The live articles of a version, with weighted postings per segment."""

    stats: CollectionStats
    weighted: list[Bm25Arrays]  # per segment; empty when not weighed
    passages: dict[str, np.ndarray]  # p_source (into ``sources``), p_n, p_start, p_end
    sources: list[dict[str, Any]]  # every segment's, deleted ones too (``live`` says which)
    source_segment: np.ndarray  # int32 per source: its segment
    source_local: np.ndarray  # int32 per source: its index there
    live: np.ndarray  # bool per passage
    has_deletions: list[bool]  # per segment
    source_live: np.ndarray  # bool per source
    vectors: np.ndarray | None
    vector_scales: np.ndarray | None
    sentences: SentenceVectors | None  # every segment's, in the passages' numbering
    gids: list[np.ndarray]  # per segment: its term ids' global ids (``stats.vocab``'s)


def weigh_index(stored: StoredIndex, settings: IndexSettings, postings: bool = True) -> WeightedIndex:
    """The collection of ``stored``'s live articles (see the module doc);
    without ``postings``, its postings are left unweighed (a reader of one
    question weighs only that question's, see
    :mod:`service.retrieval.plain_scorer`)."""
    segs = stored.segments
    dead = [seg.dead_docs() for seg in segs]
    stats, gids = collection_stats([(seg.arrays, d) for seg, d in zip(segs, dead)], settings)
    weighted = [weigh(seg.arrays, gid, stats, settings) for seg, gid in zip(segs, gids)] if postings else []
    live = np.ones(sum(seg.arrays.n_docs for seg in segs), dtype=bool)
    live[np.concatenate([d + off for d, off in zip(dead, _offsets([s.arrays.n_docs for s in segs]))])] = False
    source_offsets = _offsets([len(seg.sources) for seg in segs])
    passages = {k: _join([np.asarray(seg.passages[k]) for seg in segs]) for k in ("p_n", "p_start", "p_end")}
    passages["p_source"] = _join([np.asarray(seg.passages["p_source"]) + off
                                  for seg, off in zip(segs, source_offsets)])
    sources = [s for seg in segs for s in seg.sources]
    source_live = np.array([i not in seg.deleted for seg in segs for i in range(len(seg.sources))], dtype=bool)
    vectors = scales = sentences = None
    if stored.semantic:
        vectors = _join([seg.vectors for seg in segs])
        scales = _join([seg.vector_scales for seg in segs])
        if all(seg.sentences is not None for seg in segs):
            sentences = _join_sentences([seg.sentences for seg in segs])
    return WeightedIndex(
        stats=stats, weighted=weighted, passages=passages, sources=sources,
        source_segment=np.repeat(np.arange(len(segs), dtype=np.int32), [len(seg.sources) for seg in segs]),
        source_local=_join([np.arange(len(seg.sources), dtype=np.int32) for seg in segs]),
        live=live, has_deletions=[len(d) > 0 for d in dead], source_live=source_live, vectors=vectors, vector_scales=scales,
        sentences=sentences, gids=gids)


def _join_sentences(parts: list[SentenceVectors]) -> SentenceVectors:
    """The segments' sentence vectors as one CSR: each segment's offsets
    moved past the rows of those before it."""
    if len(parts) == 1:
        return SentenceVectors(*(np.asarray(a) for a in (parts[0].ptr, parts[0].codes, parts[0].scales)))
    rows = _offsets([len(p.codes) for p in parts])
    ptr = np.concatenate([np.asarray(p.ptr[:-1]) + r for p, r in zip(parts, rows)]
                         + [[int(rows[-1]) + len(parts[-1].codes)]]).astype(np.int64)
    return SentenceVectors(ptr, _join([p.codes for p in parts]), _join([p.scales for p in parts]))


def local_ids(gid: np.ndarray, n_global: int) -> np.ndarray:
    """Per collection term id, its id in the segment whose terms' global
    ids are ``gid`` (-1: not in that segment)."""
    local = np.full(n_global, -1, dtype=np.int64)
    local[gid] = np.arange(len(gid), dtype=np.int64)
    return local


def _offsets(sizes: list[int]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)


def _join(parts: list[np.ndarray]) -> np.ndarray:
    """One array of ``parts``: a lone part as it is (a memory map stays one)."""
    return np.asarray(parts[0]) if len(parts) == 1 else np.concatenate(parts)
