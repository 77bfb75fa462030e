"""Merging segments from their stored arrays, not from their articles' text.

A merged segment is what a full build of the same live articles writes,
file for file: articles in source-ID order, passages after their
article's, the vocabulary sorted (:meth:`.arrays.ArrayBuilder.finish`),
each column in the smallest type its live values need.  Nothing is
analysed again: the live articles form runs (articles of one part that
stay consecutive), every array is its parts' slices written run after
run, term ids are renumbered by their strings, and the postings are put
back in document order and placed term by term as a build places them.
So a merge costs about reading and writing the segments, not the
analysis of their text (a merge at 1M passages took ten minutes that way).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from .arrays import ArrayBuilder, NpySink, live_doc_freq
from .readings import OFFSETS, smallest_int
from .segments import PASSAGE_ARRAYS, SENTENCE_ARRAYS, VECTOR_ARRAYS, Segment, new_segment_name, save_postings, write_json

Parts = Sequence[tuple[Segment, frozenset[int]]]
#: Rows copied at a time (bounds the memory a renumbered copy takes).
BLOCK = 1 << 23


@dataclass(frozen=True)
class _Run:
    """Articles ``a0`` to ``a1`` (exclusive) of part ``part``, their passages
    ``d0`` to ``d1``, and where they start in the merge (``new_a``, ``new_d``)."""

    part: int
    a0: int
    a1: int
    d0: int
    d1: int
    new_a: int
    new_d: int


@dataclass(frozen=True)
class MergedSegment:
    """The live articles of ``parts`` (each a segment and the articles
    deleted from it) as one segment, not yet written."""

    parts: Parts
    semantic: bool  # the parts have passage vectors, so the merge has them

    @property
    def n_sources(self) -> int:
        return sum(len(seg.sources) - len(d) for seg, d in self.parts)

    @property
    def n_passages(self) -> int:
        return sum(int(_live(seg, d).sum()) for seg, d in self.parts)

    def write(self, version_dir: Path) -> str:
        """Write the segment into ``version_dir`` (staging); returns its name."""
        name = new_segment_name()
        (version_dir / name).mkdir()
        write_merged(version_dir / name, self.parts, self.semantic)
        return name


def _live(seg: Segment, deleted: frozenset[int]) -> np.ndarray:
    """Per passage of ``seg``: whether its article is kept."""
    gone = np.zeros(len(seg.sources), dtype=bool)
    gone[list(deleted)] = True
    return ~gone[np.asarray(seg.passages["p_source"])]


def _runs(parts: Parts) -> tuple[list[_Run], list[dict]]:
    """The merge's runs in merged order (source-ID order), and its sources."""
    order = sorted((s["id"], j, i) for j, (seg, d) in enumerate(parts) for i, s in enumerate(seg.sources)
                   if i not in d)
    firsts = [np.searchsorted(np.asarray(seg.passages["p_source"]), np.arange(len(seg.sources) + 1)).tolist()
              for seg, _ in parts]
    runs: list[_Run] = []
    n_docs = 0
    for _, j, i in order:
        last = runs[-1] if runs else None
        if last is not None and last.part == j and last.a1 == i:
            runs[-1] = _Run(j, last.a0, i + 1, last.d0, firsts[j][i + 1], last.new_a, last.new_d)
        else:
            runs.append(_Run(j, i, i + 1, firsts[j][i], firsts[j][i + 1],
                             runs[-1].new_a + runs[-1].a1 - runs[-1].a0 if runs else 0, n_docs))
        n_docs += firsts[j][i + 1] - firsts[j][i]
    return runs, [parts[j][0].sources[i] for _, j, i in order]


def write_merged(path: Path, parts: Parts, semantic: bool) -> None:
    """Write the merge of ``parts`` into the segment directory ``path``."""
    segs = [seg for seg, _ in parts]
    runs, sources = _runs(parts)
    new_doc = [np.full(seg.arrays.n_docs, -1, dtype=np.int64) for seg in segs]  # -1: deleted
    for r in runs:
        new_doc[r.part][r.d0:r.d1] = np.arange(r.new_d, r.new_d + r.d1 - r.d0)
    n_docs = sum(r.d1 - r.d0 for r in runs)
    vocab, term_maps = _vocabulary(segs, new_doc)
    builder = ArrayBuilder(vocab)
    doc_len = np.concatenate([np.asarray(segs[r.part].arrays.doc_len[r.d0:r.d1]) for r in runs])
    builder.add_postings(*_postings_by_doc(segs, term_maps, new_doc, n_docs), doc_len)
    save_postings(path, builder.finish(path))
    p_source = [np.asarray(segs[r.part].passages["p_source"][r.d0:r.d1]) - r.a0 + r.new_a for r in runs]
    np.save(path / "p_source.npy", np.concatenate(p_source).astype(np.int32))
    for key in PASSAGE_ARRAYS[1:] + (VECTOR_ARRAYS if semantic else ()):
        columns = [s.passages[key] if key in s.passages else getattr(s, key) for s in segs]
        _write_runs(path / f"{key}.npy", columns, [(r.part, r.d0, r.d1) for r in runs])
    if semantic and all(s.sentences is not None for s in segs):
        _write_sentences(path, segs, runs)
    _write_readings(path, segs, runs, new_doc, vocab)
    _write_texts(path, segs, runs)
    write_json(path / "sources.json", sources)


def _vocabulary(segs: list[Segment], new_doc: list[np.ndarray]) -> tuple[dict[str, int], list[np.ndarray]]:
    """The merge's vocabulary (the terms with live postings, sorted) and,
    per part, its term ids' ids in it (-1: no live posting anywhere)."""
    terms: set[str] = set()
    for seg, nd in zip(segs, new_doc):
        live_df = live_doc_freq(seg.arrays, np.flatnonzero(nd < 0))
        terms.update(t for t, n in zip(seg.arrays.terms, live_df.tolist()) if n)
    vocab = {t: k for k, t in enumerate(sorted(terms))}
    return vocab, [np.fromiter((vocab.get(t, -1) for t in seg.arrays.terms), dtype=np.int32,
                               count=len(seg.arrays.terms)) for seg in segs]


def _postings_by_doc(segs: list[Segment], term_maps: list[np.ndarray], new_doc: list[np.ndarray],
                     n_docs: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The live postings of every part in the merge's document order, as
    :meth:`.arrays.ArrayBuilder.add_postings` takes them: (term, tf) per
    posting, document after document, and the postings per document."""
    from .kernels import postings_by_doc

    n_unique = np.zeros(n_docs, dtype=np.int32)
    for seg, nd in zip(segs, new_doc):
        per_doc = np.bincount(np.asarray(seg.arrays.docs), minlength=seg.arrays.n_docs)
        n_unique[nd[nd >= 0]] = per_doc[nd >= 0]
    fill = np.zeros(n_docs, dtype=np.int64)
    fill[1:] = np.cumsum(n_unique[:-1], dtype=np.int64)
    total = int(n_unique.sum(dtype=np.int64))
    out_terms = np.empty(total, dtype=np.int32)
    out_tfs = np.empty(total, dtype=np.result_type(*(s.arrays.tfs.dtype for s in segs)))
    for seg, tmap, nd in zip(segs, term_maps, new_doc):
        a = seg.arrays
        postings_by_doc(np.asarray(a.ptr), np.asarray(a.docs), np.asarray(a.tfs), tmap, nd, fill, out_terms, out_tfs)
    return out_terms, out_tfs, n_unique


def _write_runs(path: Path, arrays: list[np.ndarray], spans: list[tuple[int, int, int]],
                dtype: np.dtype | None = None, values=None) -> None:
    """Write ``arrays[j][s:e]`` for each span ``(j, s, e)``, one after the
    other, as one ``.npy`` array (rows of 2-D arrays); ``values`` maps a
    slice before it is written (renumbered ids)."""
    dtype = dtype or np.result_type(*(a.dtype for a in arrays))
    sink = NpySink(path, dtype, (sum(e - s for _, s, e in spans), *arrays[0].shape[1:]))
    for j, s, e in spans:
        for b in range(s, e, BLOCK):  # a block at a time: a run can be the whole archive
            block = np.asarray(arrays[j][b:min(b + BLOCK, e)])
            sink.append((values(j, block) if values else block).astype(dtype, copy=False))
    sink.result()


def _write_sentences(path: Path, segs: list[Segment], runs: list[_Run]) -> None:
    """The sentence vectors (:data:`.segments.SENTENCE_ARRAYS`): offsets
    rebuilt from the live passages' counts, rows copied run after run."""
    ptrs = [np.asarray(s.sentences.ptr) for s in segs]
    counts = np.concatenate([np.diff(ptrs[r.part][r.d0:r.d1 + 1]) for r in runs])
    np.save(path / f"{SENTENCE_ARRAYS[0]}.npy", np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]))
    spans = [(r.part, int(ptrs[r.part][r.d0]), int(ptrs[r.part][r.d1])) for r in runs]
    _write_runs(path / f"{SENTENCE_ARRAYS[1]}.npy", [s.sentences.codes for s in segs], spans)
    _write_runs(path / f"{SENTENCE_ARRAYS[2]}.npy", [s.sentences.scales for s in segs], spans)


def _write_readings(path: Path, segs: list[Segment], runs: list[_Run], new_doc: list[np.ndarray],
                    vocab: dict[str, int]) -> None:
    """The readings' files (:mod:`.readings`): offsets rebuilt from the
    passages' counts, columns copied, word terms renumbered; each column in
    the type a build would give its live values."""
    live_words = [_element_mask(s.readings.arrays["r_terms"], nd >= 0) for s, nd in zip(segs, new_doc)]
    extras = _extra_terms(segs, live_words, vocab)
    names = [list(s.arrays.terms) + list(s.readings.extra_terms) for s in segs]
    at = {**vocab, **{t: len(vocab) + k for k, t in enumerate(extras)}}
    word_terms = [np.fromiter((at.get(t, -1) for t in n), dtype=np.int64, count=len(n)) for n in names]
    for key, columns in OFFSETS.items():
        ptrs = [np.asarray(s.readings.arrays[key]) for s in segs]
        counts = np.concatenate([np.diff(ptrs[r.part][r.d0:r.d1 + 1]) for r in runs])
        np.save(path / f"{key}.npy", np.concatenate([[0], np.cumsum(counts, dtype=np.int64)]))
        spans = [(r.part, int(ptrs[r.part][r.d0]), int(ptrs[r.part][r.d1])) for r in runs]
        live = [_element_mask(p, nd >= 0) for p, nd in zip(ptrs, new_doc)]
        for col in columns:
            arrays = [s.readings.arrays[col] for s in segs]
            if col == "w_terms":
                _write_runs(path / f"{col}.npy", arrays, spans, smallest_int(len(at)),
                            lambda j, block: word_terms[j][block])
            else:
                most = max((int(np.max(a, where=m, initial=0)) for a, m in zip(arrays, live)), default=0)
                _write_runs(path / f"{col}.npy", arrays, spans, smallest_int(most))
    write_json(path / "extra_terms.json", extras)


def _element_mask(ptr: np.ndarray, live_docs: np.ndarray) -> np.ndarray | bool:
    """Per element of a CSR column with offsets ``ptr``: whether its passage
    is live (True alone when all are)."""
    return True if live_docs.all() else np.repeat(live_docs, np.diff(np.asarray(ptr)))


def _extra_terms(segs: list[Segment], live_words: list, vocab: dict[str, int]) -> list[str]:
    """The terms of live passages' words that no live passage's postings
    hold, sorted: the merge's extra terms (see :mod:`.readings`)."""
    found: set[str] = set()
    for seg, live in zip(segs, live_words):
        names = list(seg.arrays.terms) + list(seg.readings.extra_terms)
        outside = np.fromiter((t not in vocab for t in names), dtype=bool, count=len(names))
        if not outside.any():
            continue
        ids = np.asarray(seg.readings.arrays["w_terms"])
        used = np.unique(ids[outside[ids] & live])
        found.update(names[i] for i in used.tolist())
    return sorted(found)


def _write_texts(path: Path, segs: list[Segment], runs: list[_Run]) -> None:
    offsets = [np.zeros(1, dtype=np.int64)]
    with open(path / "texts.bin", "wb") as fh:
        for r in runs:
            off = np.asarray(segs[r.part].text_offsets)
            fh.write(np.asarray(segs[r.part].texts[off[r.a0]:off[r.a1]]).tobytes())
            offsets.append(off[r.a0 + 1:r.a1 + 1] - off[r.a0] + offsets[-1][-1])
    np.save(path / "text_offsets.npy", np.concatenate(offsets).astype(np.int64))
