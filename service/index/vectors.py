"""Passage vectors: each passage's meaning as an int8 vector, for hybrid retrieval.

Encoding a passage costs tens of milliseconds, thousands of times its BM25
analysis, so a big corpus is encoded by spawned worker processes (one per
core, each with its own single-threaded encoder) in blocks whose order is
kept, with a progress bar and its ETA on a terminal.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from typing import Iterator, Sequence

import numpy as np

from ..embedding.encoder import quantize
from ..embedding.shared import encoder_fingerprint, shared_encoder

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


def _progress(total: int, enabled: bool):
    """A progress bar with an ETA on a terminal for encodes that take a while."""
    if enabled and total > 4 * BLOCK and sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(total=total, desc="passage vectors", unit="passage", file=sys.stderr)
    return None


def encode_passages(texts: Sequence[str], workers: int | None = None,
                    progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """int8 codes ``(len(texts), dim)`` and float32 scales of the passages'
    vectors, in order; the same whatever ``workers`` is."""
    dim = shared_encoder().dim
    codes = np.empty((len(texts), dim), dtype=np.int8)
    scales = np.empty(len(texts), dtype=np.float32)
    workers = default_workers(len(texts)) if workers is None else workers
    bar = _progress(len(texts), progress)
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


def semantic_manifest() -> dict:
    """What the manifest records of the encoder the vectors came from."""
    encoder = shared_encoder()
    return {"model": encoder.config.name, "dim": encoder.dim, "fingerprint": encoder_fingerprint()}
