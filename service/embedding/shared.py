"""The process's models: each loaded (and its files verified) once, on first use.

The index build and every query of a worker use the shipped encoder, and
the answers its answer judge; loading either verifies about 20 MB of files
and opens a session, which must not happen per build or per request.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from .cross_encoder import CrossEncoder, default_judge_dir
from .encoder import CONFIG_NAME, SUMS_NAME, Encoder, EncoderConfig, default_model_dir


@lru_cache(maxsize=1)
def shared_encoder() -> Encoder:
    """The shipped encoder, verified and loaded once per process."""
    return Encoder.load(default_model_dir())


@lru_cache(maxsize=1)
def shared_judge() -> CrossEncoder:
    """The shipped answer judge, verified and loaded once per process."""
    return CrossEncoder.load(default_judge_dir())


@lru_cache(maxsize=1)
def encoder_fingerprint() -> str:
    """A digest of what makes the vectors: the model, tokenizer and
    ``encoder.json`` checksums (not the licence or the model card).
    Vectors made by another encoder are not comparable."""
    config = EncoderConfig.from_dir(default_model_dir())
    wanted = {config.model_path.name, config.tokenizer_path.name, CONFIG_NAME}
    lines = [line for line in (default_model_dir() / SUMS_NAME).read_text(encoding="utf-8").splitlines()
             if line.partition("  ")[2].strip() in wanted]
    return hashlib.sha256("\n".join(sorted(lines)).encode()).hexdigest()[:16]
