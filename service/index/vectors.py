"""Passage vectors: each passage's meaning as an int8 vector, for hybrid retrieval.

Encoding a passage costs tens of milliseconds, thousands of times its BM25
analysis, so a big corpus is encoded by spawned worker processes (one per
core, each with its own single-threaded encoder) in blocks whose order is
kept, with a progress bar and its ETA on a terminal.

Each passage's sentences (headings left out, as the answer reads them)
are encoded alone too, unless switched off: the ranking weighs a passage's
best sentence beside the passage itself (:mod:`service.retrieval.hybrid`).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from typing import Iterator, Sequence

import numpy as np

from ..embedding.encoder import quantize
from ..embedding.shared import encoder_fingerprint, shared_encoder
from ..text.sentences import sentence_units

#: Below this many passages one process encodes them: starting workers
#: (each verifying and loading the model) costs more than it saves.
PARALLEL_MIN_PASSAGES = 512
#: Passages per block handed to a worker, and per progress-bar step.
BLOCK = 128
MAX_WORKERS = 4


def default_workers(n_passages: int) -> int:
    if n_passages < PARALLEL_MIN_PASSAGES:
        return 1
    return max(1, min(MAX_WORKERS, os.cpu_count() or 1))


def _encode_block(texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    return quantize(shared_encoder().encode_passages(list(texts)))


def _blocks(texts: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(texts), BLOCK):
        yield texts[start:start + BLOCK]


def _progress(total: int, enabled: bool, what: str):
    """A progress bar with an ETA on a terminal for encodes that take a while."""
    if enabled and total > 4 * BLOCK and sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(total=total, desc=f"{what} vectors", unit=what, file=sys.stderr)
    return None


def encode_passages(texts: Sequence[str], workers: int | None = None,
                    progress: bool = True, what: str = "passage") -> tuple[np.ndarray, np.ndarray]:
    """int8 codes ``(len(texts), dim)`` and float32 scales of the passages'
    vectors, in order; the same whatever ``workers`` is."""
    dim = shared_encoder().dim
    codes = np.empty((len(texts), dim), dtype=np.int8)
    scales = np.empty(len(texts), dtype=np.float32)
    workers = default_workers(len(texts)) if workers is None else workers
    bar = _progress(len(texts), progress, what)
    pool = multiprocessing.get_context("spawn").Pool(workers) if workers > 1 else None
    try:
        results = pool.imap(_encode_block, _blocks(texts)) if pool else map(_encode_block, _blocks(texts))
        row = 0
        for block_codes, block_scales in results:
            codes[row:row + len(block_codes)] = block_codes
            scales[row:row + len(block_codes)] = block_scales
            row += len(block_codes)
            if bar is not None:
                bar.update(len(block_codes))
    finally:
        if pool is not None:
            pool.terminate()
        if bar is not None:
            bar.close()
    return codes, scales


def passage_sentences(text: str) -> list[tuple[int, int]]:
    """The spans of passage ``text``'s sentences, headings left out."""
    return [(s, e) for s, e, _, heading in sentence_units(text) if not heading]


def encode_sentences(passages: Sequence[str], workers: int | None = None,
                     progress: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The vectors of every passage's sentences, CSR by passage: offsets
    ``(len(passages) + 1,)`` int64, then int8 codes and float32 scales as
    :func:`encode_passages` gives them."""
    texts, counts = [], []
    for text in passages:
        spans = passage_sentences(text)
        texts.extend(text[s:e] for s, e in spans)
        counts.append(len(spans))
    ptr = np.zeros(len(passages) + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    codes, scales = encode_passages(texts, workers, progress, what="sentence")
    return ptr, codes, scales


def semantic_manifest(sentences: bool = True) -> dict:
    """What the manifest records of the encoder the vectors came from, and
    whether the passages' sentences have vectors too."""
    encoder = shared_encoder()
    return {"model": encoder.config.name, "dim": encoder.dim, "fingerprint": encoder_fingerprint(),
            "sentences": sentences}
