"""Readings: what the answer and the highlighter read of a passage whatever
the question, worked out once when the passage is indexed and stored with
its segment, so a request slices arrays instead of reading text again.

A passage's reading is exactly :func:`service.text.words.passage_words`
and the sentences of :func:`service.text.sentences.sentence_units` (as the
answer reads them): its words' spans, each word's index terms (by the
segment's term ids) and answer-type cues, and its sentences (headings
left out) with the range of their words.  CSR, by passage, in the files
of a segment directory::

    r_words, r_terms, r_sents .npy   offsets per passage (n_docs + 1) into:
    w_start, w_len, w_nterms, w_cues .npy   per word: span (from the passage's
                                     start), how many terms, cue bits
    w_terms .npy                     per word-term: term id
    s_start, s_end, s_para, s_first, s_words, s_nterms .npy
                                     per sentence: span, paragraph, first
                                     word and word count (in the passage),
                                     distinct terms
    extra_terms.json                 terms of words that no passage text
                                     of the segment has (a word read alone
                                     can differ: a soft hyphen splits it);
                                     their ids follow terms.json's

Term ids are the segment's own (``terms.json``), so a question's terms are
found by the vocabulary the scorer has already.
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Callable

import numpy as np

#: Per-passage offsets, and what each counts.
OFFSETS = {"r_words": ("w_start", "w_len", "w_nterms", "w_cues"), "r_terms": ("w_terms",),
           "r_sents": ("s_start", "s_end", "s_para", "s_first", "s_words", "s_nterms")}
COLUMNS = tuple(chain.from_iterable(OFFSETS.values()))
READING_ARRAYS = (*OFFSETS, *COLUMNS)


@dataclass(frozen=True)
class ReadingArrays:
    """A segment's stored readings (see the module doc): ``arrays`` by name."""

    arrays: dict[str, np.ndarray]
    extra_terms: list[str]


class ReadingSpill:
    """The chunks' readings gathered in the parent in temporary files (a
    million passages' words are about a gigabyte: they must not wait in
    memory), term ids renumbered as they come, then written as a segment's
    ``.npy`` files with the smallest integer type that holds each column."""

    def __init__(self) -> None:
        self._files = {k: tempfile.TemporaryFile() for k in READING_ARRAYS}
        self._length = dict.fromkeys(READING_ARRAYS, 0)
        self._max = dict.fromkeys(READING_ARRAYS, 0)
        self._extras: dict[str, int] = {}  # extra term → global extra number
        self._remap: dict[int, np.ndarray] = {}  # tokenizer → its extras' global numbers

    def add(self, worker: int, columns: dict[str, np.ndarray], new_extra: list[str],
            global_ids: Callable[[np.ndarray], np.ndarray]) -> None:
        """One chunk's :meth:`.reading_record.ReadingRecorder.take`; ``global_ids`` maps the
        tokenizer's term ids to the segment's."""
        new = np.array([self._extras.setdefault(t, len(self._extras)) for t in new_extra], dtype=np.int32)
        remap = self._remap[worker] = np.concatenate([self._remap.get(worker, np.zeros(0, np.int32)), new])
        ids = columns["w_terms"]
        extra = ids < 0
        out = np.empty_like(ids)
        out[~extra] = global_ids(ids[~extra])
        out[extra] = -1 - remap[-1 - ids[extra]]
        for key in READING_ARRAYS:
            block = out if key == "w_terms" else columns[key]
            if key in OFFSETS:
                block = np.cumsum(block, dtype=np.int64) + self._max[key]
            if len(block):
                self._max[key] = max(self._max[key], int(block.max()))
            self._files[key].write(block.tobytes())
            self._length[key] += len(block)

    def write(self, path: Path, vocab: dict[str, int], renumbered: np.ndarray) -> None:
        """Write the segment's reading files into ``path`` (``vocab``: the
        segment's final vocabulary: an extra that a later passage's text
        brought into it takes its id there; ``renumbered``: the final id of
        each id the chunks gave, see :meth:`.arrays.ArrayBuilder.finish`).
        The extras left are numbered in sorted order, as term ids are."""
        extras = list(self._extras)
        n_terms = len(vocab)
        left = sorted(t for t in extras if t not in vocab)
        at = {**vocab, **{t: n_terms + k for k, t in enumerate(left)}}
        final = np.fromiter(map(at.__getitem__, extras), dtype=np.int64, count=len(extras))
        for key in READING_ARRAYS:
            fh = self._files[key]
            fh.seek(0)
            spilled = np.int8 if key == "w_cues" else np.int64 if key in OFFSETS else np.int32
            dtype = np.int64 if key in OFFSETS else smallest_int(self._max[key] if key != "w_terms" else
                                                              n_terms + len(left))
            with open(path / f"{key}.npy", "wb") as out:
                length = self._length[key] + (key in OFFSETS)
                np.lib.format.write_array_header_1_0(out, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                                           "fortran_order": False, "shape": (length,)})
                if key in OFFSETS:
                    out.write(np.zeros(1, np.int64).tobytes())
                while block := fh.read(1 << 24):
                    values = np.frombuffer(block, dtype=spilled)
                    if key == "w_terms":
                        known = renumbered[np.maximum(values, 0)]
                        values = np.where(values < 0, final[-1 - np.minimum(values, -1)], known) if len(final) else known
                    out.write(values.astype(dtype).tobytes())
            fh.close()
        with open(path / "extra_terms.json", "w", encoding="utf-8") as fh:
            json.dump(left, fh, ensure_ascii=False)


def smallest_int(most: int) -> type:
    return next(t for t in (np.uint8, np.uint16, np.int32) if most <= np.iinfo(t).max)


def load_readings(path: Path) -> ReadingArrays:
    """Memory-map a segment's reading files (OSError/ValueError if unreadable)."""
    arrays = {k: np.load(path / f"{k}.npy", mmap_mode="r", allow_pickle=False) for k in READING_ARRAYS}
    extra = json.loads((path / "extra_terms.json").read_text(encoding="utf-8"))
    if not isinstance(extra, list) or not all(isinstance(t, str) for t in extra):
        raise ValueError("extra_terms.json is not a list of terms")
    return ReadingArrays(arrays, extra)


def reading_problem(r: ReadingArrays, n_docs: int, n_terms: int, lengths: np.ndarray) -> str | None:
    """What is wrong with a segment's readings (the first problem), or None:
    offsets that go back or miss their columns, term ids out of range,
    sentences whose words or spans leave their passage (``lengths``: the
    passages' lengths in characters)."""
    a = r.arrays
    for key, columns in OFFSETS.items():
        ptr = np.asarray(a[key])
        if ptr.shape != (n_docs + 1,) or ptr[0] != 0 or bool((np.diff(ptr) < 0).any()):
            return f"reading offsets ({key}) go back or do not fit the passages"
        if any(a[c].shape != (int(ptr[-1]),) for c in columns):
            return f"reading columns of {key} do not fit their offsets"
    terms = a["w_terms"]
    if terms.size and (int(terms.min()) < 0 or int(terms.max()) >= n_terms + len(r.extra_terms)):
        return "a word's term id is out of range"
    if int(a["w_nterms"].sum(dtype=np.int64)) != terms.shape[0]:
        return "words' term counts do not add up to their terms"
    per = np.diff(np.asarray(a["r_sents"]))
    words = np.repeat(np.diff(np.asarray(a["r_words"])), per)
    first, count = np.asarray(a["s_first"], dtype=np.int64), np.asarray(a["s_words"], dtype=np.int64)
    start, end = np.asarray(a["s_start"], dtype=np.int64), np.asarray(a["s_end"], dtype=np.int64)
    if bool((first + count > words).any()) or bool(((start > end) | (end > np.repeat(lengths, per))).any()):
        return "a sentence lies outside its passage"
    return None
