"""Segments: the immutable pieces a version of the index is made of.

A segment holds some articles whole: their text and metadata, their
passages' spans, the postings of their passages' terms (term frequencies,
not weights, see :mod:`service.index.arrays`), their lengths, and their
vectors if the index has them.  Nothing in it depends on any other
segment, so it is written once and a later version reuses it as it is
(its files hard-linked into the new version's directory): a change writes
on the order of the articles it adds.  A version lists its segments and,
per segment, the articles deleted from it (removed or replaced since); the
collection statistics are summed over the live passages when it is loaded.
A segment is self-contained (its own vocabulary and counts), so a set of
them could be scored on another machine given the collection's statistics.

Files of a segment directory (``seg-…/``)::

    terms.json              its vocabulary; term ids index it
    ptr, docs, tfs, doc_len, bitmap_row, bitmaps .npy   the postings
    p_source, p_n, p_start, p_end .npy                   the passages
    sources.json, text_offsets.npy, texts.bin            the articles
    r_*, w_*, s_* .npy, extra_terms.json                 the passages' readings
                                                         (:mod:`service.index.readings`)
    vectors.npy, vector_scales.npy                       (if semantic)
    sentence_ptr, sentence_vectors, sentence_scales .npy (if semantic with
                                                         sentences: CSR by passage)

Within a segment, articles are in source-ID order and passages follow
their article's, the order a full rebuild numbers them in.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..corpus.reader import Article
from .arrays import SegmentArrays
from .checks import damage
from .readings import ReadingArrays, load_readings, reading_problem

POSTING_ARRAYS = ("ptr", "docs", "tfs", "doc_len", "bitmap_row", "bitmaps")
PASSAGE_ARRAYS = ("p_source", "p_n", "p_start", "p_end")
#: Passage vectors (int8 codes, one row per passage) and their per-row
#: scales: present when the manifest's ``semantic`` names the encoder.
VECTOR_ARRAYS = ("vectors", "vector_scales")
#: The passages' sentences' vectors, CSR by passage (offsets, codes,
#: scales): present when the manifest's ``semantic`` says ``sentences``.
SENTENCE_ARRAYS = ("sentence_ptr", "sentence_vectors", "sentence_scales")


@dataclass(frozen=True)
class SentenceVectors:
    """The sentences' int8 vectors of every passage, CSR by passage:
    passage ``d``'s are rows ``ptr[d]`` to ``ptr[d + 1]``."""

    ptr: np.ndarray  # int64 (passages + 1,)
    codes: np.ndarray  # int8 (sentences, dim)
    scales: np.ndarray  # float32 (sentences,)


def has_sentences(semantic: Any) -> bool:
    """Whether a manifest's ``semantic`` says the sentences have vectors."""
    return isinstance(semantic, dict) and bool(semantic.get("sentences"))


class SegmentFault(Exception):
    """A segment's files are unreadable or do not fit together."""


@dataclass(frozen=True)
class Segment:
    """One loaded segment and the articles its version deleted from it."""

    name: str
    arrays: SegmentArrays
    passages: dict[str, np.ndarray]  # p_source, p_n, p_start, p_end
    sources: list[dict[str, Any]]  # id, title, url, date
    text_offsets: np.ndarray  # byte offsets into texts.bin, len(sources) + 1
    texts: np.ndarray  # uint8 memory map of texts.bin
    readings: ReadingArrays  # the passages' words and sentences, as the answer reads them
    vectors: np.ndarray | None = None  # int8 (passages, dim)
    vector_scales: np.ndarray | None = None  # float32 (passages,)
    sentences: SentenceVectors | None = None
    #: Indices into ``sources`` of the articles deleted from this segment.
    deleted: frozenset[int] = field(default_factory=frozenset)

    def source_text(self, i: int) -> str:
        s, e = int(self.text_offsets[i]), int(self.text_offsets[i + 1])
        return self.texts[s:e].tobytes().decode("utf-8")

    def dead_docs(self) -> np.ndarray:
        """Ids of the passages of deleted articles (int64, ascending)."""
        if not self.deleted:
            return np.zeros(0, dtype=np.int64)
        gone = np.zeros(len(self.sources), dtype=bool)
        gone[list(self.deleted)] = True
        return np.flatnonzero(gone[np.asarray(self.passages["p_source"])]).astype(np.int64)

    def live_source_ids(self) -> list[str]:
        return [s["id"] for i, s in enumerate(self.sources) if i not in self.deleted]


def new_segment_name() -> str:
    return f"seg-{uuid.uuid4().hex[:16]}"


def write_segment(path: Path, arrays: SegmentArrays, articles: list[Article],
                  passages: dict[str, np.ndarray], vectors: tuple[np.ndarray, np.ndarray] | None,
                  sentences: SentenceVectors | None = None) -> None:
    """Write a segment into directory ``path`` (arrays a build already
    streamed there, ``docs.npy`` and ``tfs.npy``, are kept as they are)."""
    path.mkdir(parents=True, exist_ok=True)
    save_postings(path, arrays)
    for key in PASSAGE_ARRAYS:
        np.save(path / f"{key}.npy", passages[key])
    for key, values in zip(VECTOR_ARRAYS, vectors or ()):
        np.save(path / f"{key}.npy", values)
    for key, values in zip(SENTENCE_ARRAYS, (sentences.ptr, sentences.codes, sentences.scales) if sentences else ()):
        np.save(path / f"{key}.npy", values)
    offsets = [0]
    with open(path / "texts.bin", "wb") as fh:
        for a in articles:
            data = a.text.encode("utf-8")
            fh.write(data)
            offsets.append(offsets[-1] + len(data))
    np.save(path / "text_offsets.npy", np.asarray(offsets, dtype=np.int64))
    write_json(path / "sources.json", [{"id": a.source_id, **a.metadata()} for a in articles])


def save_postings(path: Path, arrays: SegmentArrays) -> None:
    """Save a segment's postings and vocabulary into ``path`` (the arrays
    a build streamed there already are kept as they are)."""
    for key in POSTING_ARRAYS:
        if not (path / f"{key}.npy").exists():
            np.save(path / f"{key}.npy", getattr(arrays, key))
    write_json(path / "terms.json", arrays.terms)


def link_segment(src: Path, dst: Path) -> None:
    """Make ``dst`` the same segment as ``src`` without copying its data:
    every file hard-linked (a version's segment files are never modified,
    so sharing them is safe, and deleting one version's links leaves the
    data to the versions still linking it)."""
    dst.mkdir()
    for f in src.iterdir():
        os.link(f, dst / f.name)


def load_segment(path: Path, name: str, deleted: frozenset[int], semantic: Any, checked: bool = False) -> Segment:
    """Load (memory-map) the segment in ``path``, checking that its arrays
    fit; ``semantic``: the manifest's description of the vectors, if any;
    ``checked``: its files are unchanged since their values were found
    sound (:func:`service.index.store.load_version` knows), so only their
    shapes are checked again, not every value (a quarter of a second at
    380,000 passages)."""
    try:
        arr = {k: np.load(path / f"{k}.npy", mmap_mode="r", allow_pickle=False) for k in POSTING_ARRAYS}
        passages = {k: np.load(path / f"{k}.npy", mmap_mode="r", allow_pickle=False) for k in PASSAGE_ARRAYS}
        offsets = np.load(path / "text_offsets.npy", allow_pickle=False)
        terms = json.loads((path / "terms.json").read_text())
        sources = json.loads((path / "sources.json").read_text())
        size = (path / "texts.bin").stat().st_size
        # A plain view of the map: a memmap's slice is a memmap, whose making
        # costs more than decoding the article (one per hit of a request).
        texts = np.asarray(np.memmap(path / "texts.bin", dtype=np.uint8, mode="r")) if size else np.zeros(0, np.uint8)
        vectors = [np.load(path / f"{k}.npy", mmap_mode="r", allow_pickle=False)
                   for k in VECTOR_ARRAYS] if semantic else [None, None]
        sentences = SentenceVectors(*(np.load(path / f"{k}.npy", mmap_mode="r", allow_pickle=False)
                                      for k in SENTENCE_ARRAYS)) if has_sentences(semantic) else None
        readings = load_readings(path)
    except (OSError, ValueError) as exc:
        raise SegmentFault(f"unreadable index file ({exc})") from None
    arrays = SegmentArrays(terms=terms, **arr)
    if not all(isinstance(i, int) and 0 <= i < len(sources) for i in deleted):
        raise SegmentFault("a deleted article is out of range (damaged index)")
    problem = damage(arrays, passages, sources, offsets, texts.shape[0], semantic, *vectors, values=not checked,
                     sentences=sentences) or (
        None if checked else reading_problem(readings, arrays.n_docs, len(terms),
                                             np.asarray(passages["p_end"]) - np.asarray(passages["p_start"])))
    if problem:
        raise SegmentFault(f"{name}: {problem} (damaged index)")
    return Segment(name, arrays, passages, sources, offsets, texts, readings, *vectors, sentences=sentences,
                   deleted=deleted)


def write_json(path: Path, obj: Any) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, ensure_ascii=False)
