"""Store: saving and loading a built index as plain files.

Layout of an index directory::

    CURRENT                 name of the live version (swapped atomically)
    v-00000042-ab12cd34/    one version (sequence number 42), never modified once published
        manifest.json       format version, fingerprints, counts, its segments
                            and the articles deleted from each, checksums
        seg-…/              a segment (see :mod:`service.index.segments`):
                            postings, passages, texts, vectors; a segment a
                            later version keeps is hard-linked into it

No pickle: every file is an ``.npy`` array, JSON or raw UTF-8, readable by
any tool.  A version is written into a temporary directory, fsynced,
renamed, and only then named in ``CURRENT`` with ``os.replace``, so a
reader sees the old index or the new one, never half of one; the last
sound version published before it is kept for fallback.  Versions are
ordered by a sequence number taken under the build lock, never by the
clock, so a clock step cannot make a later build look older.  Arrays are
memory-mapped on load, so the server's workers share one copy through the
page cache.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import shutil
import stat
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from .segments import Segment, SegmentFault, load_segment

log = logging.getLogger(__name__)

#: 2: per-term max weights and frequent-term bitmaps for the pruned scorer.
#: 3: versions named by sequence number; the manifest records the corpus's path.
#: 4: segments of term frequencies, weighted when loaded; deletions.
#: 5: segments store their passages' readings (words, terms, cues, sentences).
FORMAT_VERSION = 5
POINTER = "CURRENT"
#: The files pruning read whole and found sound (see :func:`prune`).
VERIFIED = ".verified.json"
#: Timestamps are coarse (a kernel tick, or a second on some file systems):
#: a file written within this long before it was read might have been
#: written again without its mtime moving, so its record is not trusted.
RACY_NS = 2_000_000_000


class IndexFault(Exception):
    """The index on disk is missing, stale, foreign or damaged."""


@dataclass(frozen=True)
class StoredIndex:
    """Everything a loaded index version holds: its segments, in order."""

    path: Path
    manifest: dict[str, Any]
    segments: list[Segment]

    @property
    def semantic(self) -> bool:
        """Whether the passages have vectors (a lexical-only index has none)."""
        return bool(self.manifest.get("semantic"))

    def live_source_ids(self) -> list[str]:
        """The IDs of the articles this version holds."""
        return [sid for seg in self.segments for sid in seg.live_source_ids()]


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
    """A fresh unpublished version directory (``.tmp-v-…``) to write into,
    named with the next sequence number: call it under :func:`build_lock`.

    A build may stream its largest arrays straight into it before calling
    :func:`save_index` with it.  Until published it is invisible to
    readers, and a leftover one (a killed build) is removed by the next
    successful build.
    """
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    taken = [sequence(p.name.removeprefix(".tmp-")) for p in index_dir.iterdir()]
    taken.append(sequence(_pointer_name(index_dir) or ""))
    tmp = index_dir / f".tmp-v-{max(taken, default=0) + 1:08d}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    return tmp


def sequence(name: str) -> int:
    """The sequence number in a version's name (``v-00000042-…`` → 42); 0
    for a name that holds none, which sorts before every build's."""
    parts = name.split("-")
    return int(parts[1]) if len(parts) == 3 and parts[0] == "v" and parts[1].isdigit() else 0


def save_index(index_dir: Path, staging: Path, manifest: dict[str, Any],
               known_files: dict[str, Any] | None = None) -> Path:
    """Publish the version written into ``staging``; returns its path.

    ``staging`` comes from :func:`new_staging` and holds the version's
    segment directories (``manifest["segments"]`` names them).  Files in
    ``known_files`` (path → size and checksum, from the version they are
    hard-linked from) are taken as they are: a change writes and hashes
    only what it adds.  A version whose pointer could not be written (a
    full disk) stays on disk unpublished:
    :func:`service.index.build.ensure_index` can use it.
    """
    index_dir = Path(index_dir)
    name = staging.name.removeprefix(".tmp-")
    final = index_dir / name
    known = known_files or {}
    written: dict[str, list] = {}  # the records of the files hashed here (see prune)
    try:
        files = {}
        for f in sorted(p for p in staging.rglob("*") if p.is_file()):
            rel = f.relative_to(staging).as_posix()
            if rel in known:
                files[rel] = known[rel]
                continue
            with open(f, "rb+") as fh:
                os.fsync(fh.fileno())
            st, digest = f.stat(), _sha256(f)
            files[rel] = {"bytes": st.st_size, "sha256": digest}
            # Written and flushed by this build before it was hashed, in a folder no one else
            # writes: no later write can hide in its mtime's tick (counted as read after it).
            written[_file_key(st)] = [st.st_size, st.st_mtime_ns, digest,
                                      max(time.time_ns(), st.st_mtime_ns + RACY_NS + 1)]
        for d in [p for p in staging.iterdir() if p.is_dir()]:
            _fsync_dir(d)
        full = {"format_version": FORMAT_VERSION, **manifest, "version": name, "files": files}
        _write_json(staging / "manifest.json", full, fsync=True)
        _fsync_dir(staging)
        os.rename(staging, final)
        _fsync_dir(index_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    previous = _pointer_name(index_dir)
    publish(index_dir, name)
    prune(index_dir, keep=name, previous=previous, written=written)
    return final


def publish(index_dir: Path, name: str) -> None:
    """Point ``CURRENT`` at version ``name``, atomically (a pointer file
    that could not be written whole is removed, never left behind)."""
    tmp = index_dir / f".{POINTER}.{uuid.uuid4().hex[:8]}"
    try:
        with open(tmp, "w") as fh:
            fh.write(name + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, index_dir / POINTER)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(index_dir)


def prune(index_dir: Path, keep: str, previous: str | None, written: dict[str, list] | None = None) -> None:
    """Keep version ``keep`` (just published) and the last sound one
    published before it; drop the rest and what failed builds left.

    ``previous`` is what ``CURRENT`` named before ``keep``: it, or else the
    newest sound version older than it, is the fallback.  Newer versions
    than ``previous`` other than ``keep`` were never published (a build
    killed, or whose pointer could not be written), and a corrupt publish
    is no fallback, so neither is kept in place of the last one served.
    Soundness is the files' checksums, checked for the kept fallback only;
    a file read whole once and unchanged since (same inode, size and mtime:
    :data:`VERIFIED` records them) is not read again, so a big segment
    that every version of a growing archive links is read once, not at
    every build.  Silent damage that keeps the mtime is the scrub's to find.
    ``written``: records of the files the publish just hashed, kept with
    the rest, so the next change does not read a fresh build's files
    whole again to vouch for its fallback (1.9 GB at 1M passages).
    """
    index_dir = Path(index_dir)
    versions = [v for v in list_versions(index_dir) if v.name != keep]
    limit = sequence(previous) if previous else sequence(keep)
    trusted = _read_verified(index_dir) | (written or {})
    fallback = None
    for v in reversed(versions):
        if v.name == previous or sequence(v.name) < limit:
            try:
                verify_files(v, read_manifest(v), trusted=trusted)
            except IndexFault:
                continue
            fallback = v
            break
    for v in versions:
        if v != fallback:
            shutil.rmtree(v, ignore_errors=True)
    for leftover in [*index_dir.glob(".tmp-*"), *index_dir.glob(f".{POINTER}.*")]:
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)
    _write_verified(index_dir, trusted, [index_dir / keep] + ([fallback] if fallback else []))


def _file_key(st: os.stat_result) -> str:
    return f"{st.st_dev}:{st.st_ino}"


def _read_verified(index_dir: Path) -> dict[str, list]:
    """The record of files read whole and found sound: inode → [size, mtime_ns, sha256, read at (ns)]."""
    try:
        record = json.loads((index_dir / VERIFIED).read_text())
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _write_verified(index_dir: Path, trusted: dict[str, list], kept: list[Path]) -> None:
    """Save the record for the files the kept versions hold.  Losing it
    costs only a re-read, so a write that fails (a full disk) is let go."""
    tmp = index_dir / f".tmp-verified-{uuid.uuid4().hex[:8]}"
    try:
        held = {_file_key(f.stat()) for v in kept for f in v.rglob("*") if f.is_file()}
        _write_json(tmp, {k: r for k, r in trusted.items() if k in held})
        os.replace(tmp, index_dir / VERIFIED)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        log.info("%s: verification record not saved: %s", index_dir, exc)


def list_versions(index_dir: Path) -> list[Path]:
    """Published version directories, oldest first (by sequence number)."""
    if not Path(index_dir).is_dir():
        return []
    return sorted((p for p in Path(index_dir).iterdir() if p.is_dir() and p.name.startswith("v-")),
                  key=lambda p: (sequence(p.name), p.name))


def _pointer_name(index_dir: Path) -> str | None:
    """What ``CURRENT`` says, unchecked; None when it is missing or unreadable."""
    try:
        return (Path(index_dir) / POINTER).read_text().strip() or None
    except OSError:
        return None


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


def load_best(index_dir: Path, verify: bool = True, remember: bool = False,
              read: tuple[Path, dict[str, Any]] | None = None) -> StoredIndex:
    """The live version, or else the newest other version that loads cleanly.

    A damaged live version (flipped byte, truncated array, missing manifest,
    wrong format, pointer to nothing) must not take the service down when
    the previous good version is still on disk; it is logged and skipped.
    When nothing loads, the error names the live version's path and reason.
    With ``remember``, checksums go through :data:`VERIFIED` as
    :func:`prune`'s do: a file read whole and found sound before, and
    unchanged since, is not read again, and the files read are recorded,
    so a start-up with nothing changed does not hash the whole index.
    ``read``: a version and its manifest that the caller has just read
    (used if it is still the live one: a big manifest is read once).
    """
    index_dir = Path(index_dir)
    trusted = _read_verified(index_dir) if remember and verify else None
    known = dict(trusted or {})
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
            manifest = read[1] if read is not None and read[0] == version else None
            stored = load_version(version, verify=verify, trusted=trusted, manifest=manifest)
        except IndexFault as exc:
            errors.append(str(exc))
            continue
        if trusted is not None and trusted != known:
            _write_verified(index_dir, trusted, list_versions(index_dir))
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
                 pace: Callable[[int], None] | None = None, trusted: dict[str, list] | None = None) -> None:
    """Check that every file the manifest lists is there with its size and,
    with ``checksums``, its sha256; ``pace(n)`` is called after each ``n``
    bytes read (a background scrub sleeps in it, to bound its I/O).  With
    ``trusted`` (the record :func:`prune` keeps), a file recorded there as
    read and sound, unchanged since and not written just before that read,
    is not read again; the files read are recorded in it."""
    for name, info in (manifest.get("files") or {}).items():
        f = version / name
        try:
            st = f.stat()
        except OSError:
            st = None
        if st is None or not stat.S_ISREG(st.st_mode):
            raise IndexFault(f"{f}: missing index file")
        if st.st_size != info.get("bytes"):
            raise IndexFault(f"{f}: size {st.st_size}, manifest says {info.get('bytes')} (truncated?)")
        if not checksums:
            continue
        seen, record = [st.st_size, st.st_mtime_ns, info.get("sha256")], (trusted or {}).get(_file_key(st))
        if isinstance(record, list) and len(record) in (4, 5) and record[:3] == seen and st.st_mtime_ns < record[3] - RACY_NS:
            continue
        read_at = time.time_ns()
        if _sha256(f, pace) != info.get("sha256"):
            raise IndexFault(f"{f}: checksum mismatch (corrupted)")
        if trusted is not None:
            trusted[_file_key(st)] = [*seen, read_at]


def load_version(version: Path, verify: bool = True, trusted: dict[str, list] | None = None,
                 manifest: dict[str, Any] | None = None, values: bool = True) -> StoredIndex:
    """Load one version; with ``verify`` every file's checksum is checked
    (but those ``trusted`` vouches for, see :func:`verify_files`);
    ``manifest``: its manifest, if the caller has just read it; without
    ``values``, the segments' values are not checked (a change reads the
    articles and links the segments, and runs no kernel on them)."""
    version = Path(version)
    if not version.is_dir():
        raise IndexFault(f"{version}: index version directory is missing")
    manifest = read_manifest(version) if manifest is None else manifest
    verify_files(version, manifest, checksums=verify, trusted=trusted)
    semantic = manifest.get("semantic")
    entries = manifest.get("segments")
    if not isinstance(entries, list) or not entries:
        raise IndexFault(f"{version / 'manifest.json'}: lists no segments (damaged index)")
    segments = []
    for entry in entries:
        try:
            name, deleted = str(entry["name"]), frozenset(entry.get("deleted", ()))
            if "/" in name or name.startswith("."):
                raise SegmentFault("a segment name is not a plain name")
            records = _segment_records(version, name, manifest, trusted) if trusted is not None else None
            checked = bool(records) and all(len(r) == 5 for r in records.values())
            segments.append(load_segment(version / name, name, deleted, semantic, checked=checked or not values))
            for key, r in (records or {}).items():
                trusted[key] = [*r[:4], True]  # its values found sound too
        except (SegmentFault, KeyError, TypeError) as exc:
            raise IndexFault(f"{version}: {exc}") from None
    return StoredIndex(version, manifest, segments)


def _segment_records(version: Path, name: str, manifest: dict[str, Any], trusted: dict[str, list]
                     ) -> dict[str, list] | None:
    """The records :func:`verify_files` keeps of segment ``name``'s files,
    by file (None: a file has none that fits it as it is now).  A record
    of five says the segment's values were checked too: a segment every
    version of an archive links is then checked once, not at every start."""
    records = {}
    for rel, info in (manifest.get("files") or {}).items():
        if rel.startswith(name + "/"):
            try:
                st = (version / rel).stat()
            except OSError:
                return None
            key, record = _file_key(st), trusted.get(_file_key(st))
            if not (isinstance(record, list) and record[:3] == [st.st_size, st.st_mtime_ns, info.get("sha256")]):
                return None
            records[key] = record
    return records


def _write_json(path: Path, obj: Any, fsync: bool = False) -> None:
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, ensure_ascii=False)
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())
