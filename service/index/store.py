"""Store: saving and loading a built index as plain files.

Layout of an index directory::

    CURRENT                 name of the live version (swapped atomically)
    v-20261122T031500-ab12/ one built index, never modified once published
        manifest.json       format version, fingerprints, counts, checksums
        *.npy               the BM25 arrays and passage spans
        terms.json          the vocabulary
        sources.json        source IDs and metadata
        texts.bin           the articles' text, UTF-8, back to back

No pickle: every file is an ``.npy`` array, JSON or raw UTF-8, readable by
any tool.  A version is written into a temporary directory, fsynced,
renamed, and only then named in ``CURRENT`` with ``os.replace``, so a
reader sees the old index or the new one, never half of one; the previous
version is kept for fallback.  Arrays are memory-mapped on load, so the
server's workers share one copy through the page cache.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from ..corpus.reader import Article
from .arrays import Bm25Arrays

log = logging.getLogger(__name__)

#: 2: per-term max weights and frequent-term bitmaps for the pruned scorer.
FORMAT_VERSION = 2
POINTER = "CURRENT"
KEEP_VERSIONS = 2
_ARRAYS = ("ptr", "docs", "weights", "doc_len", "idf", "max_weight", "bitmap_row", "bitmaps")
_PASSAGE_ARRAYS = ("p_source", "p_n", "p_start", "p_end")
#: Passage vectors (int8 codes, one row per passage) and their per-row
#: scales: present when the manifest's ``semantic`` names the encoder.
_VECTOR_ARRAYS = ("vectors", "vector_scales")


class IndexFault(Exception):
    """The index on disk is missing, stale, foreign or damaged."""


@dataclass(frozen=True)
class StoredIndex:
    """Everything a loaded index version holds."""

    path: Path
    manifest: dict[str, Any]
    arrays: Bm25Arrays
    passages: dict[str, np.ndarray]  # p_source, p_n, p_start, p_end
    sources: list[dict[str, Any]]  # id, title, url, date
    text_offsets: np.ndarray  # byte offsets into texts.bin, len(sources) + 1
    texts: np.ndarray  # uint8 memory map of texts.bin
    vectors: np.ndarray | None = None  # int8 (passages, dim), or None: a lexical-only index
    vector_scales: np.ndarray | None = None  # float32 (passages,)

    def source_text(self, i: int) -> str:
        s, e = int(self.text_offsets[i]), int(self.text_offsets[i + 1])
        return bytes(self.texts[s:e]).decode("utf-8")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256(path: Path, pace: Callable[[int], None] | None = None) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
            if pace:
                pace(len(block))
    return h.hexdigest()


@contextlib.contextmanager
def build_lock(index_dir: Path) -> Iterator[None]:
    """Hold the index directory's build lock (waiting for it if need be).

    Two builds into one directory (an ``index`` run while a server
    auto-rebuilds, say) would otherwise race: the later-named version
    could be published first, so ``CURRENT`` would step back, and one
    build's clean-up would delete the other's unpublished directory.
    Staging, publishing and pruning therefore happen under this lock; the
    long tokenization before it runs in parallel.  An ``flock`` dies with
    its process, so a killed build never leaves the directory locked.
    """
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / ".build.lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def new_staging(index_dir: Path) -> Path:
    """A fresh unpublished version directory (``.tmp-v-…``) to write into.

    A build may stream its largest arrays straight into it before calling
    :func:`save_index` with it; both under :func:`build_lock`.  Until published it is invisible to
    readers, and a leftover one (a killed build) is removed by the next
    successful build.
    """
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    # Names sort in build order (to the microsecond), so "newest" is well defined.
    name = f"v-{datetime.now(timezone.utc).strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}"
    tmp = index_dir / f".tmp-{name}"
    tmp.mkdir()
    return tmp


def save_index(
    index_dir: Path,
    arrays: Bm25Arrays,
    articles: list[Article],
    passages: dict[str, np.ndarray],
    manifest: dict[str, Any],
    staging: Path,
    vectors: tuple[np.ndarray, np.ndarray] | None = None,
) -> Path:
    """Write a new version and publish it; returns the version's path.

    ``staging`` comes from :func:`new_staging`; arrays already written
    there are kept as they are; the rest is written beside them.
    ``vectors``: the passages' int8 codes and scales, if the index has them.
    """
    index_dir = Path(index_dir)
    name = staging.name.removeprefix(".tmp-")
    try:
        for key in _ARRAYS:
            if not (staging / f"{key}.npy").exists():
                np.save(staging / f"{key}.npy", getattr(arrays, key))
        for key in _PASSAGE_ARRAYS:
            np.save(staging / f"{key}.npy", passages[key])
        for key, values in zip(_VECTOR_ARRAYS, vectors or ()):
            np.save(staging / f"{key}.npy", values)
        offsets = [0]
        with open(staging / "texts.bin", "wb") as fh:
            for a in articles:
                data = a.text.encode("utf-8")
                fh.write(data)
                offsets.append(offsets[-1] + len(data))
        np.save(staging / "text_offsets.npy", np.asarray(offsets, dtype=np.int64))
        _write_json(staging / "terms.json", arrays.terms)
        _write_json(
            staging / "sources.json",
            [{"id": a.source_id, **a.metadata()} for a in articles],
        )
        files = {}
        for f in sorted(staging.iterdir()):
            with open(f, "rb+") as fh:
                os.fsync(fh.fileno())
            files[f.name] = {"bytes": f.stat().st_size, "sha256": _sha256(f)}
        full = {
            "format_version": FORMAT_VERSION,
            **manifest,
            "version": name,
            "avgdl": arrays.avgdl,
            "files": files,
        }
        _write_json(staging / "manifest.json", full, fsync=True)
        _fsync_dir(staging)
        final = index_dir / name
        os.rename(staging, final)
        _fsync_dir(index_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    publish(index_dir, name)
    _prune(index_dir, keep=name)
    return final


def publish(index_dir: Path, name: str) -> None:
    """Point ``CURRENT`` at version ``name``, atomically."""
    tmp = index_dir / f".{POINTER}.{uuid.uuid4().hex[:8]}"
    with open(tmp, "w") as fh:
        fh.write(name + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, index_dir / POINTER)
    _fsync_dir(index_dir)


def _prune(index_dir: Path, keep: str) -> None:
    """Keep the live version and the one before it; drop older ones."""
    versions = list_versions(index_dir)
    old = [v for v in versions if v.name != keep][: max(0, len(versions) - KEEP_VERSIONS)]
    for v in old:
        shutil.rmtree(v, ignore_errors=True)
    for leftover in index_dir.glob(".tmp-*"):
        shutil.rmtree(leftover, ignore_errors=True)


def list_versions(index_dir: Path) -> list[Path]:
    """Published version directories, oldest first."""
    if not Path(index_dir).is_dir():
        return []
    return sorted(p for p in Path(index_dir).iterdir() if p.is_dir() and p.name.startswith("v-"))


def current_version(index_dir: Path) -> Path | None:
    pointer = Path(index_dir) / POINTER
    try:
        name = pointer.read_text().strip()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise IndexFault(f"{pointer}: cannot be read: {exc}") from None
    if not name or "/" in name or name.startswith("."):
        raise IndexFault(f"{pointer}: does not name a version")
    return Path(index_dir) / name


def load_best(index_dir: Path, verify: bool = True) -> StoredIndex:
    """The live version, or else the newest other version that loads cleanly.

    A damaged live version (flipped byte, truncated array, missing manifest,
    wrong format, pointer to nothing) must not take the service down when
    the previous good version is still on disk; it is logged and skipped.
    When nothing loads, the error names the live version's path and reason.
    """
    index_dir = Path(index_dir)
    errors: list[str] = []
    try:
        live = current_version(index_dir)
    except IndexFault as exc:
        live = None
        errors.append(str(exc))
    candidates = ([live] if live else []) + [v for v in reversed(list_versions(index_dir)) if v != live]
    if not candidates and not errors:
        raise IndexFault(f"{index_dir}: no index here (build one with `python -m service index`)")
    for version in candidates:
        try:
            stored = load_version(version, verify=verify)
        except IndexFault as exc:
            errors.append(str(exc))
            continue
        if errors:
            log.warning("%s; serving the previous version %s instead", errors[0], version.name)
        return stored
    raise IndexFault(errors[0])


def read_manifest(version: Path) -> dict[str, Any]:
    path = version / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise IndexFault(f"{path}: missing manifest") from None
    except (OSError, ValueError) as exc:
        raise IndexFault(f"{path}: unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        got = manifest.get("format_version") if isinstance(manifest, dict) else None
        raise IndexFault(f"{path}: format version {got!r}, this program reads {FORMAT_VERSION}")
    return manifest


def verify_files(version: Path, manifest: dict[str, Any], checksums: bool = True,
                 pace: Callable[[int], None] | None = None) -> None:
    """Check that every file the manifest lists is there with its size and,
    with ``checksums``, its sha256; ``pace(n)`` is called after each ``n``
    bytes read (a background scrub sleeps in it, to bound its I/O)."""
    for name, info in (manifest.get("files") or {}).items():
        f = version / name
        if not f.is_file():
            raise IndexFault(f"{f}: missing index file")
        if f.stat().st_size != info.get("bytes"):
            raise IndexFault(f"{f}: size {f.stat().st_size}, manifest says {info.get('bytes')} (truncated?)")
        if checksums and _sha256(f, pace) != info.get("sha256"):
            raise IndexFault(f"{f}: checksum mismatch (corrupted)")


def load_version(version: Path, verify: bool = True) -> StoredIndex:
    """Load one version; with ``verify`` every file's checksum is checked."""
    version = Path(version)
    if not version.is_dir():
        raise IndexFault(f"{version}: index version directory is missing")
    manifest = read_manifest(version)
    verify_files(version, manifest, checksums=verify)
    try:
        arr = {k: np.load(version / f"{k}.npy", mmap_mode="r", allow_pickle=False) for k in _ARRAYS}
        passages = {
            k: np.load(version / f"{k}.npy", mmap_mode="r", allow_pickle=False) for k in _PASSAGE_ARRAYS
        }
        offsets = np.load(version / "text_offsets.npy", allow_pickle=False)
        terms = json.loads((version / "terms.json").read_text())
        sources = json.loads((version / "sources.json").read_text())
        size = (version / "texts.bin").stat().st_size
        texts = np.memmap(version / "texts.bin", dtype=np.uint8, mode="r") if size else np.zeros(0, np.uint8)
        vectors = [np.load(version / f"{k}.npy", mmap_mode="r", allow_pickle=False)
                   for k in _VECTOR_ARRAYS] if manifest.get("semantic") else [None, None]
    except (OSError, ValueError) as exc:
        raise IndexFault(f"{version}: unreadable index file ({exc})") from None
    arrays = Bm25Arrays(terms=terms, avgdl=float(manifest["avgdl"]), **arr)
    _check_shapes(version, arrays, passages, sources, offsets)
    _check_values(version, arrays, passages, offsets, texts.shape[0])
    _check_vectors(version, manifest, arrays.n_docs, *vectors)
    return StoredIndex(version, manifest, arrays, passages, sources, offsets, texts, *vectors)


def _check_shapes(version, arrays, passages, sources, offsets) -> None:
    n_terms, n_docs = len(arrays.terms), arrays.n_docs
    ok = (
        arrays.ptr.shape == (n_terms + 1,)
        and arrays.docs.shape == arrays.weights.shape == (int(arrays.ptr[-1]) if n_terms else 0,)
        and arrays.idf.shape == arrays.max_weight.shape == arrays.bitmap_row.shape == (n_terms,)
        and arrays.bitmaps.ndim == 2
        and arrays.bitmaps.shape[1] == (n_docs + 63) // 64
        and int(arrays.bitmap_row.max(initial=-1)) < arrays.bitmaps.shape[0]
        and all(p.shape == (n_docs,) for p in passages.values())
        and offsets.shape == (len(sources) + 1,)
    )
    if not ok:
        raise IndexFault(f"{version}: index arrays do not fit together (damaged index)")


def _check_values(version: Path, arrays: Bm25Arrays, passages: dict[str, np.ndarray],
                  offsets: np.ndarray, text_bytes: int) -> None:
    """The values the compiled kernels index by and add up: a damaged file
    whose checksum was rewritten (or a bug in a build) must be refused here,
    not crash a kernel (out-of-range ids) or put NaN in a response."""
    n_docs, n_sources = arrays.n_docs, offsets.shape[0] - 1
    ptr, p_source = np.asarray(arrays.ptr), np.asarray(passages["p_source"])
    problems = {
        "posting offsets (ptr) go back": ptr.size and (ptr[0] != 0 or bool((np.diff(ptr) < 0).any())),
        "a posting names a passage out of range": arrays.docs.size and (
            int(arrays.docs.min()) < 0 or int(arrays.docs.max()) >= n_docs),
        "a weight, idf or max weight is not finite": not all(
            bool(np.isfinite(a).all()) for a in (arrays.weights, arrays.idf, arrays.max_weight)),
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
    found = [what for what, bad in problems.items() if bad]
    if found:
        raise IndexFault(f"{version}: {found[0]} (damaged index)")


def _check_vectors(version: Path, manifest: dict[str, Any], n_docs: int,
                   vectors: np.ndarray | None, scales: np.ndarray | None) -> None:
    if vectors is None or scales is None:
        return
    dim = manifest["semantic"].get("dim") if isinstance(manifest["semantic"], dict) else None
    if not (vectors.dtype == np.int8 and vectors.shape == (n_docs, dim)
            and scales.dtype == np.float32 and scales.shape == (n_docs,)):
        raise IndexFault(f"{version}: passage vectors do not fit the index (damaged index)")
    if not np.isfinite(scales).all():
        raise IndexFault(f"{version}: a passage vector's scale is not finite (damaged index)")


def _write_json(path: Path, obj: Any, fsync: bool = False) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, ensure_ascii=False)
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())
