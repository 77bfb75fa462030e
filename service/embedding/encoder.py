"""Sentence encoder over a verified int8 ONNX model, and int8 storage of vectors.

Runtime needs only ``onnxruntime``, ``tokenizers`` and ``numpy``: the model is
exported ahead of time by ``scripts/export_model.py``, so torch never enters
the service. This module imports nothing else from ``service``, since the
index and retrieval layers sit on top of it.

Fork safety: ``serve`` loads the index in the gunicorn master and forks
workers. An ONNX Runtime session is not safe to use in a process forked
after it was created, so the session is made lazily and keyed on
``os.getpid()``: a worker that inherits its parent's session makes its own.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import onnxruntime as ort

__all__ = [
    "Encoder",
    "EncoderConfig",
    "ModelIntegrityError",
    "default_model_dir",
    "dequantize",
    "quantized_dot",
    "quantize",
    "verify",
]

CONFIG_NAME = "encoder.json"
SUMS_NAME = "SHA256SUMS"
POOLINGS = ("mean", "cls")


class ModelIntegrityError(ValueError):
    """A model directory's files do not match its SHA256SUMS."""


def default_model_dir() -> Path:
    """The model directory shipped with the package (all-MiniLM-L6-v2, int8)."""
    return Path(__file__).resolve().parent / "models" / "all-MiniLM-L6-v2"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify(model_dir: Path | str) -> None:
    """Check every file listed in ``model_dir/SHA256SUMS`` against its hash.

    Also requires ``encoder.json`` and the model and tokenizer files it names
    to be listed, so a file swapped in by configuration cannot skip the check.
    Raises :class:`ModelIntegrityError` naming the first offending file.
    """
    model_dir = Path(model_dir)
    sums_path = model_dir / SUMS_NAME
    if not sums_path.is_file():
        raise ModelIntegrityError(f"{sums_path}: missing; cannot verify the model directory")
    listed: dict[str, str] = {}
    for line in sums_path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, _, name = line.partition("  ")
            listed[name.strip()] = digest.strip().lower()
    for name, expected in listed.items():
        path = model_dir / name
        if not path.is_file():
            raise ModelIntegrityError(f"{path}: listed in {SUMS_NAME} but missing")
        actual = _sha256(path)
        if actual != expected:
            raise ModelIntegrityError(f"{path}: sha256 {actual} does not match {expected} in {SUMS_NAME}")
    if CONFIG_NAME not in listed:
        raise ModelIntegrityError(f"{model_dir / CONFIG_NAME}: not listed in {SUMS_NAME}")
    config = EncoderConfig.from_dir(model_dir)
    root = model_dir.resolve()
    for path in (config.model_path, config.tokenizer_path):
        if not path.is_relative_to(root) or path.relative_to(root).as_posix() not in listed:
            raise ModelIntegrityError(f"{path}: named in {CONFIG_NAME} but not listed in {SUMS_NAME}")


@dataclass(frozen=True)
class EncoderConfig:
    """Everything that differs between sentence encoders, from ``encoder.json``.

    A different model is dropped in by shipping its directory with its own
    ``encoder.json`` (e.g. an E5 model with ``"query: "``/``"passage: "``
    prefixes, or a BGE model with ``"cls"`` pooling); no code changes.
    """

    name: str
    model_path: Path
    tokenizer_path: Path
    dim: int
    max_length: int
    pooling: str = "mean"
    normalize: bool = True
    query_prefix: str = ""
    passage_prefix: str = ""

    def __post_init__(self) -> None:
        if self.pooling not in POOLINGS:
            raise ValueError(f"pooling {self.pooling!r} is not one of {POOLINGS}")
        if self.dim < 1 or self.max_length < 2:
            raise ValueError(f"dim ({self.dim}) and max_length ({self.max_length}) must be positive")

    @classmethod
    def from_dir(cls, model_dir: Path | str) -> EncoderConfig:
        """Read ``model_dir/encoder.json``; file names in it are relative to ``model_dir``."""
        model_dir = Path(model_dir).resolve()
        raw = json.loads((model_dir / CONFIG_NAME).read_text(encoding="utf-8"))
        return cls(
            name=raw["name"],
            model_path=model_dir / raw["model"],
            tokenizer_path=model_dir / raw["tokenizer"],
            dim=int(raw["dim"]),
            max_length=int(raw["max_length"]),
            pooling=raw.get("pooling", "mean"),
            normalize=bool(raw.get("normalize", True)),
            query_prefix=raw.get("query_prefix", ""),
            passage_prefix=raw.get("passage_prefix", ""),
        )


# Encoders alive in this process, so their locks can be replaced in a forked
# child: a lock held by another thread at fork time would never be released there.
_ENCODERS: weakref.WeakSet[Encoder] = weakref.WeakSet()


def _reset_locks_after_fork() -> None:
    for encoder in _ENCODERS:
        encoder._lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_locks_after_fork)


class Encoder:
    """Encodes questions and passages to L2-normalised float32 vectors.

    One intra-op and one inter-op thread per session: the server scales by
    processes (gunicorn workers), and more threads per worker would only
    contend for the same cores. Tokenising is one text at a time for the same
    reason (``encode_batch`` would start a thread pool of its own).
    """

    def __init__(self, config: EncoderConfig) -> None:
        # Imported here: a lexical index is read (and its vectors' encoder
        # named) without onnxruntime and tokenizers, 0.1 s of a one-shot ask.
        from tokenizers import Tokenizer

        self.config = config
        self._tokenizer = Tokenizer.from_file(str(config.tokenizer_path))
        # The shipped tokenizer.json is upstream's, which pads and truncates to
        # 128; the encoder's own max_length wins, and batches are padded here.
        self._tokenizer.no_padding()
        self._tokenizer.enable_truncation(max_length=config.max_length)
        self._session: ort.InferenceSession | None = None
        self._session_pid: int | None = None
        self._lock = threading.Lock()
        _ENCODERS.add(self)

    @classmethod
    def load(cls, model_dir: Path | str | None = None) -> Encoder:
        """Verify ``model_dir`` (the shipped model by default) and open an encoder on it."""
        model_dir = Path(model_dir) if model_dir is not None else default_model_dir()
        verify(model_dir)
        return cls(EncoderConfig.from_dir(model_dir))

    @property
    def dim(self) -> int:
        """Length of each vector (from the config, checked against the model on first use)."""
        return self.config.dim

    def encode_queries(self, texts: Sequence[str], batch_size: int = 1) -> np.ndarray:
        """Vectors of search questions, ``(len(texts), dim)`` float32 (see :meth:`encode_passages`)."""
        return self._encode([self.config.query_prefix + t for t in texts], batch_size)

    def encode_passages(self, texts: Sequence[str], batch_size: int = 1) -> np.ndarray:
        """Vectors of passages to index, ``(len(texts), dim)`` float32.

        One text per run by default: the int8 model quantizes activations
        with one scale per run, padding included, so in a batch a text's
        vector depends on its batch-mates (cosine 0.96 to 0.995 to its vector
        alone); and on one thread batching is no faster (about 18 ms per
        100-word passage alone, 19 in eights, 26 in 32s). Larger batches are
        sorted by length, so there is little padding.
        """
        return self._encode([self.config.passage_prefix + t for t in texts], batch_size)

    def _session_for_this_process(self) -> ort.InferenceSession:
        pid = os.getpid()
        if self._session_pid == pid:
            return self._session
        with self._lock:
            if self._session_pid != pid:
                self._session = self._new_session()
                self._session_pid = pid
            return self._session

    def _new_session(self) -> ort.InferenceSession:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        session = ort.InferenceSession(str(self.config.model_path), options, providers=["CPUExecutionProvider"])
        out_dim = session.get_outputs()[0].shape[-1]
        if out_dim != self.config.dim:
            raise ValueError(f"{self.config.model_path}: model gives {out_dim}-d vectors, "
                             f"{CONFIG_NAME} says dim {self.config.dim}")
        return session

    def _encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {batch_size}")
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        session = self._session_for_this_process()
        wanted = {i.name for i in session.get_inputs()}
        encodings = [self._tokenizer.encode(t) for t in texts]
        # Longest first, so each batch holds texts of similar length and little padding.
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids), reverse=True)
        for start in range(0, len(order), batch_size):
            rows = order[start:start + batch_size]
            batch = [encodings[i] for i in rows]
            width = max(len(enc.ids) for enc in batch)
            ids = np.zeros((len(batch), width), dtype=np.int64)
            types = np.zeros_like(ids)
            mask = np.zeros_like(ids)
            for r, enc in enumerate(batch):
                n = len(enc.ids)
                ids[r, :n] = enc.ids
                types[r, :n] = enc.type_ids
                mask[r, :n] = 1
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
            tokens = session.run(None, {k: v for k, v in feed.items() if k in wanted})[0]
            out[rows] = _pool(tokens, mask, self.config.pooling)
        if self.config.normalize:
            out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out


def _pool(tokens: np.ndarray, mask: np.ndarray, pooling: str) -> np.ndarray:
    """One vector per text from its token vectors ``(batch, seq, dim)``.

    "mean" averages the unpadded tokens, as sentence-transformers does;
    "cls" takes the first token.
    """
    if pooling == "cls":
        return tokens[:, 0, :]
    weights = mask.astype(np.float32)[:, :, None]
    return (tokens * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)


def quantize(vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-vector int8 codes and float32 scales (``max|x| / 127``).

    A quarter of float32's memory for stored passage vectors; each component
    is off by at most half its vector's scale. A zero vector gets scale 0.
    """
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise ValueError(f"expected a (n, dim) array, got shape {vectors.shape}")
    scales = np.abs(vectors).max(axis=1) / 127.0
    divisor = np.where(scales > 0, scales, 1.0)[:, None]
    codes = np.clip(np.rint(vectors / divisor), -127, 127).astype(np.int8)
    return codes, scales.astype(np.float32)


def dequantize(codes: np.ndarray, scales: np.ndarray) -> np.ndarray:
    """float32 vectors back from :func:`quantize`'s codes and scales."""
    return codes.astype(np.float32) * np.asarray(scales, dtype=np.float32)[:, None]


def quantized_dot(queries: np.ndarray, codes: np.ndarray, scales: np.ndarray,
                  block: int = 8192) -> np.ndarray:
    """Dot products of float32 query vectors with stored int8 vectors.

    ``queries`` is ``(dim,)`` or ``(m, dim)``; the result is ``(n,)`` or
    ``(m, n)``. numpy has no int8 matrix product, so codes are widened to
    float32 ``block`` rows at a time (bounded scratch memory, not a float32
    copy of the whole store), and the scales are applied once at the end.
    """
    queries = np.asarray(queries, dtype=np.float32)
    out = np.empty(queries.shape[:-1] + (len(codes),), dtype=np.float32)
    for start in range(0, len(codes), block):
        out[..., start:start + block] = queries @ codes[start:start + block].astype(np.float32).T
    out *= np.asarray(scales, dtype=np.float32)
    return out
