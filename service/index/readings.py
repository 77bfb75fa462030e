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
import re
import tempfile
from array import array
from bisect import bisect_left
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from struct import Struct
from typing import Callable

import numpy as np

from ..text.analysis import Analyzer, Memo
from ..text.cues import sentence_cue_bits
from ..text.sentences import sentence_units
from ..text.words import WORD_RE

#: Per-passage offsets, and what each counts.
OFFSETS = {"r_words": ("w_start", "w_len", "w_nterms", "w_cues"), "r_terms": ("w_terms",),
           "r_sents": ("s_start", "s_end", "s_para", "s_first", "s_words", "s_nterms")}
COLUMNS = tuple(chain.from_iterable(OFFSETS.values()))
READING_ARRAYS = (*OFFSETS, *COLUMNS)
_PACK_ID = Struct("=i").pack


@dataclass(frozen=True)
class ReadingArrays:
    """A segment's stored readings (see the module doc): ``arrays`` by name."""

    arrays: dict[str, np.ndarray]
    extra_terms: list[str]


class ReadingRecorder:
    """Reads passages in a tokenizer process, for one chunk at a time.

    Term ids are the tokenizer's local ones (``vocab``, which its passages'
    terms filled); a word term not in it is an *extra*, recorded as
    ``-1 - k`` for the k-th extra this tokenizer met (the parent renumbers
    both kinds, see :class:`ReadingSpill`).  A word's ids are remembered
    by its spelling: Zipfian words repeat (a spelling with an extra is not
    remembered past its passage: its term may join ``vocab`` later, and a
    sentence must not count one term under two ids).
    """

    def __init__(self, analyzer: Analyzer, vocab: dict[str, int]) -> None:
        self._analyzer = analyzer
        self._vocab = vocab
        self.extra: dict[str, int] = {}
        self._sent = 0
        self._ids = Memo(self._word_ids)
        self._with_extra: list[str] = []
        self._cols = {k: array("b" if k == "w_cues" else "i") for k in COLUMNS}
        self._counts = {k: array("i") for k in OFFSETS}

    def _term_id(self, term: str) -> int:
        found = self._vocab.get(term)
        return found if found is not None else -1 - self.extra.setdefault(term, len(self.extra))

    def _word_ids(self, surface: str) -> bytes:
        ids = [self._term_id(t) for t in self._analyzer.word_terms(surface)]
        if any(i < 0 for i in ids):
            self._with_extra.append(surface)
        return b"".join(map(_PACK_ID, ids))

    def add(self, text: str) -> None:
        """Read one passage's text (after its terms were counted)."""
        matches = list(WORD_RE.finditer(text))
        starts = list(map(re.Match.start, matches))
        surfaces = tuple(map(re.Match.group, matches))
        packed = list(map(self._ids.__getitem__, surfaces))
        for surface in self._with_extra:
            self._ids.pop(surface, None)
        self._with_extra.clear()
        cues = [0] * len(surfaces)
        c = self._cols
        n_sents = 0
        for s, e, pno, heading in sentence_units(text):
            if heading:
                continue
            i, j = bisect_left(starts, s), bisect_left(starts, e)
            cues[i:j] = sentence_cue_bits(surfaces[i:j])
            ids = b"".join(packed[i:j])
            for key, value in (("s_start", s), ("s_end", e), ("s_para", pno), ("s_first", i), ("s_words", j - i),
                               ("s_nterms", len(set(memoryview(ids).cast("i"))))):
                c[key].append(value)
            n_sents += 1
        c["w_start"].extend(starts)
        c["w_len"].extend(map(len, surfaces))
        c["w_nterms"].extend(len(p) >> 2 for p in packed)
        c["w_cues"].extend(cues)
        all_ids = b"".join(packed)
        c["w_terms"].frombytes(all_ids)
        self._counts["r_words"].append(len(surfaces))
        self._counts["r_terms"].append(len(all_ids) >> 2)
        self._counts["r_sents"].append(n_sents)

    def take(self) -> tuple[dict[str, np.ndarray], list[str]]:
        """The chunk's columns and per-passage counts (then forgotten), and
        the extras new since the last chunk, in their id order."""
        out = {k: np.frombuffer(v, dtype=np.int8 if k == "w_cues" else np.int32).copy()
               for k, v in chain(self._cols.items(), self._counts.items())}
        for v in chain(self._cols.values(), self._counts.values()):
            del v[:]
        order = list(self.extra)
        new, self._sent = order[self._sent:], len(order)
        return out, new


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
        """One chunk's :meth:`ReadingRecorder.take`; ``global_ids`` maps the
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

    def write(self, path: Path, vocab: dict[str, int]) -> None:
        """Write the segment's reading files into ``path`` (``vocab``: the
        segment's final vocabulary: an extra that a later passage's text
        brought into it takes its id there)."""
        extras = list(self._extras)
        n_terms = len(vocab)
        final, left = np.empty(len(extras), dtype=np.int64), []
        for k, term in enumerate(extras):
            found = vocab.get(term)
            if found is None:
                found = n_terms + len(left)
                left.append(term)
            final[k] = found
        for key in READING_ARRAYS:
            fh = self._files[key]
            fh.seek(0)
            spilled = np.int8 if key == "w_cues" else np.int64 if key in OFFSETS else np.int32
            dtype = np.int64 if key in OFFSETS else _smallest(self._max[key] if key != "w_terms" else
                                                              n_terms + len(left))
            with open(path / f"{key}.npy", "wb") as out:
                length = self._length[key] + (key in OFFSETS)
                np.lib.format.write_array_header_1_0(out, {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
                                                           "fortran_order": False, "shape": (length,)})
                if key in OFFSETS:
                    out.write(np.zeros(1, np.int64).tobytes())
                while block := fh.read(1 << 24):
                    values = np.frombuffer(block, dtype=spilled)
                    if key == "w_terms" and len(final):
                        values = np.where(values < 0, final[-1 - np.minimum(values, -1)], values)
                    out.write(values.astype(dtype).tobytes())
            fh.close()
        with open(path / "extra_terms.json", "w", encoding="utf-8") as fh:
            json.dump(left, fh, ensure_ascii=False)


def _smallest(most: int) -> type:
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
