"""Checks: what a loaded segment's arrays must satisfy before any kernel
reads them.

Checksums catch damage to the bytes; these catch values that are wrong
whatever their checksum says (a damaged file whose checksum was
rewritten, or a bug in a build): out-of-range ids would crash a compiled
kernel, a zero term frequency or a non-finite vector scale would put NaN
or nonsense in a response (weights are computed from these when loaded).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .arrays import SegmentArrays


def damage(arrays: SegmentArrays, passages: dict[str, np.ndarray], sources: list, offsets: np.ndarray,
           text_bytes: int, semantic: Any = None, vectors: np.ndarray | None = None,
           scales: np.ndarray | None = None, values: bool = True, sentences: Any = None) -> str | None:
    """What is wrong with a segment's arrays (the first problem found), or
    None; without ``values``, the arrays' values are taken as checked before.
    ``sentences``: the segment's :class:`.segments.SentenceVectors`, if any."""
    return (_shape_problem(arrays, passages, sources, offsets)
            or (values and _value_problem(arrays, passages, offsets, text_bytes))
            or _vector_problem(semantic, arrays.n_docs, vectors, scales)
            or _sentence_problem(semantic, arrays.n_docs, sentences, values))


def _shape_problem(arrays: SegmentArrays, passages: dict[str, np.ndarray], sources: list,
                   offsets: np.ndarray) -> str | None:
    n_terms, n_docs = len(arrays.terms), arrays.n_docs
    ok = (
        arrays.ptr.shape == (n_terms + 1,)
        and arrays.docs.shape == arrays.tfs.shape == (int(arrays.ptr[-1]) if n_terms else 0,)
        and arrays.bitmap_row.shape == (n_terms,)
        and arrays.bitmaps.ndim == 2
        and arrays.bitmaps.shape[1] == (n_docs + 63) // 64
        and int(arrays.bitmap_row.max(initial=-1)) < arrays.bitmaps.shape[0]
        and all(p.shape == (n_docs,) for p in passages.values())
        and offsets.shape == (len(sources) + 1,)
    )
    return None if ok else "index arrays do not fit together"


def _value_problem(arrays: SegmentArrays, passages: dict[str, np.ndarray], offsets: np.ndarray,
                   text_bytes: int) -> str | None:
    """The values the compiled kernels index by and add up."""
    n_docs, n_sources = arrays.n_docs, offsets.shape[0] - 1
    ptr, p_source = np.asarray(arrays.ptr), np.asarray(passages["p_source"])
    problems = {
        "posting offsets (ptr) go back": ptr.size and (ptr[0] != 0 or bool((np.diff(ptr) < 0).any())),
        "a posting names a passage out of range": arrays.docs.size and (
            int(arrays.docs.min()) < 0 or int(arrays.docs.max()) >= n_docs),
        "a term frequency is not positive": arrays.tfs.size and int(arrays.tfs.min()) < 1,
        "a passage length is negative": bool((np.asarray(arrays.doc_len) < 0).any()),
        "a bitmap row is out of range": bool((np.asarray(arrays.bitmap_row) < -1).any()),
        "text offsets go back or pass the end": offsets.size and (
            offsets[0] != 0 or offsets[-1] != text_bytes or bool((np.diff(offsets) < 0).any())),
        "a passage names a source out of range": p_source.size and (
            int(p_source.min()) < 0 or int(p_source.max()) >= n_sources),
    }
    if not any(problems.values()) and p_source.size:
        start, end = np.asarray(passages["p_start"]), np.asarray(passages["p_end"])
        lengths = np.diff(offsets)[p_source]
        problems["a passage's span is outside its source"] = bool(
            ((start < 0) | (end < start) | (end > lengths)).any())
    return next((what for what, bad in problems.items() if bad), None)


def _vector_problem(semantic: Any, n_docs: int, vectors: np.ndarray | None,
                    scales: np.ndarray | None) -> str | None:
    if vectors is None or scales is None:
        return None
    dim = semantic.get("dim") if isinstance(semantic, dict) else None
    if not (vectors.dtype == np.int8 and vectors.shape == (n_docs, dim)
            and scales.dtype == np.float32 and scales.shape == (n_docs,)):
        return "passage vectors do not fit the index"
    if not np.isfinite(scales).all():
        return "a passage vector's scale is not finite"
    return None


def _sentence_problem(semantic: Any, n_docs: int, sentences: Any, values: bool) -> str | None:
    """The sentence vectors' offsets index their rows, so they must run
    from 0 to the rows' count without going back."""
    if sentences is None:
        return None
    ptr, codes, scales = sentences.ptr, sentences.codes, sentences.scales
    dim = semantic.get("dim") if isinstance(semantic, dict) else None
    if not (ptr.dtype == np.int64 and ptr.shape == (n_docs + 1,) and codes.dtype == np.int8
            and codes.ndim == 2 and codes.shape[1] == dim and scales.dtype == np.float32
            and scales.shape == (codes.shape[0],) and int(ptr[0]) == 0 and int(ptr[-1]) == codes.shape[0]):
        return "sentence vectors do not fit the index"
    if values and bool((np.diff(np.asarray(ptr)) < 0).any()):
        return "sentence vector offsets go back"
    if values and not np.isfinite(scales).all():
        return "a sentence vector's scale is not finite"
    return None
