"""Recording readings (see :mod:`.readings`) in a tokenizer process: the
passages of a chunk read into the columns of their readings.

:class:`ReadingRecorder` keeps, per passage, only its words' spelling rows
and starts and its sentences' spans, and works the columns out for the
whole chunk at once with NumPy from per-spelling tables (length, term ids,
cue bits in each context): per-word Python was most of a million-passage
build.  :class:`PlainReadingRecorder` reads each passage word by word and
sentence by sentence, as the answer does; a test holds the two to equal
columns.
"""

from __future__ import annotations

import re
from array import array
from bisect import bisect_left
from itertools import chain
from struct import Struct

import numpy as np

from ..text.analysis import MEMO_SIZE, Analyzer, Memo, PackedTermIds
from ..text.cues import context_cue_bits, follows_place, sentence_cue_bits
from ..text.sentences import sentence_units
from ..text.words import WORD_RE
from .readings import COLUMNS, OFFSETS

_PACK_ID = Struct("=i").pack
Columns = dict[str, np.ndarray]
Sentences = list[tuple[int, int, int]]


class _Recorder:
    """What both recorders share: term ids and extras.

    Term ids are the tokenizer's local ones (``vocab``, which its passages'
    terms filled); a word term not in it is an *extra*, recorded as
    ``-1 - k`` for the k-th extra this tokenizer met (the parent renumbers
    both kinds, see :class:`.readings.ReadingSpill`).  A word's ids are
    remembered by its spelling: Zipfian words repeat (a spelling with an
    extra is not remembered past its passage: its term may join ``vocab``
    later, and a sentence must not count one term under two ids).
    """

    def __init__(self, analyzer: Analyzer, vocab: dict[str, int]) -> None:
        self._analyzer = analyzer
        self._vocab = vocab
        self.extra: dict[str, int] = {}
        self._sent = 0
        self._with_extra: list[str] = []

    def _term_id(self, term: str) -> int:
        found = self._vocab.get(term)
        return found if found is not None else -1 - self.extra.setdefault(term, len(self.extra))

    def _ids_of(self, surface: str) -> list[int]:
        ids = [self._term_id(t) for t in self._analyzer.word_terms(surface)]
        if any(i < 0 for i in ids):
            self._with_extra.append(surface)
        return ids

    def _forget_extras(self, memo: dict) -> None:
        for surface in self._with_extra:
            memo.pop(surface, None)
        self._with_extra.clear()

    def _new_extras(self) -> list[str]:
        """The extras met since the last call, in their id order."""
        order = list(self.extra)
        new, self._sent = order[self._sent:], len(order)
        return new


class PlainReadingRecorder(_Recorder):
    """Each passage read word by word and sentence by sentence."""

    def __init__(self, analyzer: Analyzer, vocab: dict[str, int]) -> None:
        super().__init__(analyzer, vocab)
        self._ids = Memo(lambda surface: b"".join(map(_PACK_ID, self._ids_of(surface))))
        self._cols = {k: array("b" if k == "w_cues" else "i") for k in COLUMNS}
        self._counts = {k: array("i") for k in OFFSETS}

    def add(self, text: str) -> None:
        """Read one passage's text (after its terms were counted)."""
        matches = list(WORD_RE.finditer(text))
        starts = list(map(re.Match.start, matches))
        surfaces = tuple(map(re.Match.group, matches))
        packed = list(map(self._ids.__getitem__, surfaces))
        self._forget_extras(self._ids)
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

    def take(self) -> tuple[Columns, list[str]]:
        """The chunk's columns and per-passage counts (then forgotten), and
        the extras new since the last chunk, in their id order."""
        out = {k: np.frombuffer(v, dtype=np.int8 if k == "w_cues" else np.int32).copy()
               for k, v in chain(self._cols.items(), self._counts.items())}
        for v in chain(self._cols.values(), self._counts.values()):
            del v[:]
        return out, self._new_extras()


class PlainReader:
    """A passage's packed term ids (:class:`PackedTermIds` on its text) and
    its readings (:class:`PlainReadingRecorder`): what :class:`ReadingRecorder`
    must equal, chunk for chunk."""

    def __init__(self, analyzer: Analyzer, vocab: dict[str, int], term_ids: PackedTermIds) -> None:
        self._term_ids = term_ids
        self._recorder = PlainReadingRecorder(analyzer, vocab)

    def passage(self, text: str, pieces: list[str], starts: np.ndarray, title_ids: bytes,
                sentences: Sentences | None = None) -> bytes:
        """The passage's ids (after ``title_ids``), its readings recorded;
        ``pieces``: ``text.split()``, starting at ``starts``, and
        ``sentences``: its sentences if known (both unused here)."""
        ids = title_ids + self._term_ids(text)
        self._recorder.add(text)
        return ids

    def take(self) -> tuple[Columns, list[str]]:
        return self._recorder.take()


class ReadingRecorder(_Recorder):
    """:class:`PlainReader`'s term ids and columns from one memo lookup per
    whitespace piece of a passage, the columns worked out a chunk at a time.

    A piece (a word as written with its punctuation, or a few words joined
    without spaces) is numbered the first time it is seen: its packed term
    ids and joined compounds (:meth:`PackedTermIds.raw_piece`), and once
    its passage's terms are all counted, its words' offsets in it and
    their spelling rows.  A passage costs the lookup of each of its pieces
    and a bytes join; per-word Python (regex matches, a lookup per word)
    was most of a million-passage build.  The spelling tables hold each
    row's length, term ids and cue bits in each context
    (:func:`service.text.cues.context_cue_bits`), so a word's cues are its
    row's at ``2 * first of its sentence + follows_place(the word before)``.
    Tables are kept until they reach ``MEMO_SIZE`` rows (checked between
    chunks).  A piece whose words have an extra is forgotten after its
    passage, as its spellings are.
    """

    def __init__(self, analyzer: Analyzer, vocab: dict[str, int], term_ids: PackedTermIds) -> None:
        super().__init__(analyzer, vocab)
        self._term_ids = term_ids
        self._rows = Memo(self._new_row)
        self._pieces = Memo(self._new_piece)
        self._reset_tables()
        # Per passage of the chunk: its pieces' numbers and starts, its
        # sentences' (start, end, paragraph), and how many of each.
        self._chunk = {k: array("i") for k in ("piece", "sent", "n_pieces", "n_sents")}
        self._starts: list[np.ndarray] = []

    def _reset_tables(self) -> None:
        self._rows.clear()
        self._pieces.clear()
        self._tables = {k: array("b" if k in ("cues", "place") else "i")
                        for k in ("len", "nterms", "terms", "cues", "place")}
        self._piece_ids: list[bytes] = []  # per piece: its packed term ids
        self._compounds: dict[int, tuple[str, ...]] = {}  # piece → its joined compounds, if any
        self._pending: list[tuple[int, str]] = []  # pieces numbered, words not read yet
        # Per piece: its first word and word count; per word: offset in its piece, row.
        self._words = {k: array("i") for k in ("first", "count", "offset", "row")}

    def _new_row(self, surface: str) -> int:
        t = self._tables
        ids = self._ids_of(surface)
        t["len"].append(len(surface))
        t["nterms"].append(len(ids))
        t["terms"].extend(ids)
        t["cues"].extend(context_cue_bits(surface))
        t["place"].append(follows_place(surface))
        return len(t["len"]) - 1

    def _new_piece(self, piece: str) -> int:
        number = len(self._piece_ids)
        ids, compounds = self._term_ids.raw_piece(piece)
        self._piece_ids.append(ids)
        if compounds:
            self._compounds[number] = compounds
        self._pending.append((number, piece))
        return number

    def _read_pending(self) -> None:
        """The words of the pieces numbered in this passage (in number
        order), now that its terms are in the vocabulary."""
        w, rows = self._words, self._rows
        for _, piece in self._pending:
            extras = len(self._with_extra)
            matches = list(WORD_RE.finditer(piece))
            w["first"].append(len(w["offset"]))
            w["count"].append(len(matches))
            w["offset"].extend(map(re.Match.start, matches))
            w["row"].extend(map(rows.__getitem__, map(re.Match.group, matches)))
            if len(self._with_extra) > extras:
                self._pieces.pop(piece, None)
        self._pending.clear()
        self._forget_extras(rows)

    def passage(self, text: str, pieces: list[str], starts: np.ndarray, title_ids: bytes,
                sentences: Sentences | None = None) -> bytes:
        """:meth:`PlainReader.passage`; ``sentences``: ``(start, end,
        paragraph_no)`` of the passage's sentences (headings left out), as
        :func:`service.text.sentences.clipped_units` gives them; None: read
        off ``text``."""
        numbers = list(map(self._pieces.__getitem__, pieces))
        ids = title_ids + b"".join(map(self._piece_ids.__getitem__, numbers))
        if self._compounds and not self._compounds.keys().isdisjoint(numbers):
            compounds = self._compounds
            ids += self._term_ids.compound_ids(chain.from_iterable(compounds.get(n, ()) for n in numbers))
        if self._pending:
            self._read_pending()
        c = self._chunk
        c["piece"].extend(numbers)
        self._starts.append(starts)
        n = len(c["sent"])
        if sentences is None:
            sentences = [(s, e, pno) for s, e, pno, heading in sentence_units(text) if not heading]
        c["sent"].extend(chain.from_iterable(sentences))
        c["n_pieces"].append(len(numbers))
        c["n_sents"].append((len(c["sent"]) - n) // 3)
        return ids

    def take(self) -> tuple[Columns, list[str]]:
        """:meth:`PlainReadingRecorder.take`."""
        c = {k: np.frombuffer(v, dtype=np.int32).astype(np.int64) for k, v in self._chunk.items()}
        w = {k: np.frombuffer(v, dtype=np.int32).astype(np.int64) for k, v in self._words.items()}
        pieces = c.pop("piece")
        count = w["count"][pieces]
        at = _ranges(w["first"][pieces], count)
        starts = np.concatenate(self._starts) if self._starts else np.zeros(0, np.int64)
        c["row"], c["start"] = w["row"][at], np.repeat(starts, count) + w["offset"][at]
        c["n_words"] = np.diff(_exclusive(count)[_exclusive(c.pop("n_pieces"))])
        t = {k: np.frombuffer(v, dtype=np.int8 if k in ("cues", "place") else np.int32)
             for k, v in self._tables.items()}
        out = _chunk_columns(c, t)
        for v in self._chunk.values():
            del v[:]
        self._starts.clear()
        if len(self._tables["len"]) >= MEMO_SIZE or len(self._piece_ids) >= MEMO_SIZE:
            self._reset_tables()
        return out, self._new_extras()


def _ranges(starts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """``concatenate([arange(s, s + n) for s, n in zip(starts, counts)])``."""
    ends = np.cumsum(counts)
    return np.repeat(starts - (ends - counts), counts) + np.arange(ends[-1] if len(ends) else 0)


def _exclusive(counts: np.ndarray) -> np.ndarray:
    """Offsets of runs of ``counts`` items: ``[0, c0, c0 + c1, ...]``."""
    return np.concatenate([np.zeros(1, np.int64), np.cumsum(counts, dtype=np.int64)])


def _chunk_columns(c: dict[str, np.ndarray], t: dict[str, np.ndarray]) -> Columns:
    """The columns of a chunk's passages from its words' rows (``c``, see
    :class:`ReadingRecorder`) and the spelling tables ``t``."""
    rows, n_docs = c["row"], len(c["n_words"])
    nterms = t["nterms"][rows].astype(np.int64)
    w_terms = t["terms"][_ranges(_exclusive(t["nterms"])[rows], nterms)]
    word_base, term_base = _exclusive(c["n_words"]), _exclusive(nterms)
    # A sentence's words are those whose start lies in its span (the
    # plain recorder's bisect), found for all passages at once by keying
    # each start with its passage.
    sents = c["sent"].reshape(-1, 3)
    sent_doc = np.repeat(np.arange(n_docs, dtype=np.int64), c["n_sents"])
    keys = np.repeat(np.arange(n_docs, dtype=np.int64), c["n_words"]) << 32 | c["start"]
    first = np.searchsorted(keys, sent_doc << 32 | sents[:, 0])
    count = np.searchsorted(keys, sent_doc << 32 | sents[:, 1]) - first
    # Words outside sentences (headings) have no cues.
    opens = np.zeros(len(rows), dtype=bool)
    opens[first[count > 0]] = True
    context = np.zeros(len(rows), dtype=np.int64)
    context[1:] = t["place"][rows[:-1]]
    context[opens] = 2
    inside = _ranges(first, count)
    cues = np.zeros(len(rows), dtype=np.int8)
    cues[inside] = t["cues"][rows[inside] * 4 + context[inside]]
    # Distinct terms per sentence: its (sentence, term) pairs, counted once.
    n_terms = term_base[first + count] - term_base[first]
    values = w_terms[_ranges(term_base[first], n_terms)].astype(np.int64)
    shift = -int(values.min()) if len(values) else 0
    span = int(values.max()) + shift + 1 if len(values) else 1
    pairs = np.sort(np.repeat(np.arange(len(first), dtype=np.int64), n_terms) * span + values + shift)
    pairs = pairs[np.concatenate([pairs[:1] >= 0, pairs[1:] != pairs[:-1]])]
    columns = {
        "w_start": c["start"], "w_len": t["len"][rows], "w_nterms": nterms, "w_cues": cues, "w_terms": w_terms,
        "s_start": sents[:, 0], "s_end": sents[:, 1], "s_para": sents[:, 2],
        "s_first": first - word_base[sent_doc], "s_words": count,
        "s_nterms": np.bincount(pairs // span, minlength=len(first)),
        "r_words": c["n_words"], "r_terms": np.diff(term_base[word_base]), "r_sents": c["n_sents"],
    }
    return {k: v.astype(np.int8 if k == "w_cues" else np.int32) for k, v in columns.items()}
