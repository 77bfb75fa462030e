"""Sync: bring a folder corpus's index in line with the folder, applying
only what changed since the index last saw it.

The manifest records every file of the folder as ``[size, mtime_ns,
sha256, source_id, rejected]`` (``corpus_files``).  A file whose size and
modification time are as recorded is not read at all, so a start-up with
nothing changed costs one ``stat`` per file; a file that differs is read
and its hash decides whether it really changed.  The changes go through
:func:`service.index.changes.apply_changes` (one published version), whose
scores equal a full rebuild's.  A file a ``--skip-bad`` run rejected stays
rejected, unread, while it is unchanged.  A folder with a ``metadata.jsonl``
(whose fields apply across files) and a JSONL corpus are read whole, as
:func:`service.index.build.ensure_index` does, when they changed: what
their files looked like when the live version was last found to fit them
is kept beside the index (:data:`SEEN`), and files as they were then are
not read again.
"""

from __future__ import annotations

import json
import logging
import os
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..config import DEFAULT_MAX_FILE_BYTES, Config, IndexSettings
from ..corpus.metadata import SIDECAR
from ..corpus.reader import TEXT_SUFFIXES, CorpusError, CorpusReport, Problem, list_entries, read_text_file
from ..embedding.shared import encoder_fingerprint
from .build import Rebuild, build_from_report, check_same_corpus, corpus_key, ensure_index
from .changes import live_version, apply_changes
from .store import RACY_NS, IndexFault, StoredIndex, load_best, read_manifest

log = logging.getLogger(__name__)

#: A read-whole corpus's files (size, mtime) when the version it names was found to fit them.
SEEN = ".corpus-seen.json"


@dataclass(frozen=True)
class SyncSummary:
    """What a sync did: articles added, replaced, removed and left as they
    were, the files rejected, and the version published (None: none)."""

    added: int
    replaced: int
    removed: int
    unchanged: int
    rejected: tuple[str, ...]
    seen: int  # files in the folder
    full: bool  # rebuilt from scratch
    version: Path | None

    def __str__(self) -> str:
        return (f"added {self.added}, replaced {self.replaced}, removed {self.removed}, "
                f"unchanged {self.unchanged}" + (f", {len(self.rejected)} rejected" if self.rejected else "")
                + (" (full rebuild)" if self.full else ""))


def syncable(corpus: Path) -> bool:
    """Whether ``corpus`` is a folder the incremental path handles."""
    return corpus.is_dir() and not (corpus / SIDECAR).exists()


def scan(folder: Path) -> dict[str, tuple[int, int]]:
    """Each file's (size, mtime_ns), by path relative to ``folder``: stat only."""
    out = {}
    cut = len(os.path.join(str(folder), ""))
    for entry in list_entries(folder):
        try:
            st = entry.stat()
        except OSError:
            st = None
        out[entry.path[cut:].replace(os.sep, "/")] = (st.st_size, st.st_mtime_ns) if st else (-1, -1)
    return out


def read_live(index_dir: Path) -> tuple[Path, dict] | None:
    """The version a change would build on and its manifest (None: no
    readable one): read once, it serves the corpus check, the file records
    and the load (a big corpus's manifest takes a tenth of a second to parse)."""
    base = live_version(index_dir) if index_dir.exists() else None
    if base is None:
        return None
    try:
        return base, read_manifest(base)
    except IndexFault:
        return None


def _fits(manifest: dict, corpus: Path, settings: IndexSettings) -> bool:
    """Whether ``manifest`` is of ``corpus``'s index with ``settings`` and today's encoder."""
    semantic = manifest.get("semantic")
    return (manifest.get("corpus") == corpus_key(corpus) and manifest.get("settings_fingerprint") == settings.fingerprint()
            and not (semantic and semantic.get("fingerprint") != encoder_fingerprint()))


def _recorded_files(live: tuple[Path, dict] | None, folder: Path, settings: IndexSettings) -> dict | None:
    """The files the live version recorded for ``folder``, or None when it
    cannot be updated in place (no index, another corpus, other settings
    or encoder, built without file records)."""
    if live is None or not _fits(live[1], folder, settings):
        return None
    return live[1].get("corpus_files")


def _corpus_stat(corpus: Path) -> dict[str, list[int]] | None:
    """Each file of a read-whole corpus as ``[size, mtime_ns]`` (None: it cannot be listed)."""
    try:
        if corpus.is_dir():
            return {rel: list(st) for rel, st in scan(corpus).items()}
        st = corpus.stat()
    except OSError:
        return None
    return {corpus.name: [st.st_size, st.st_mtime_ns]}


def _seen_unchanged(target: Path, corpus: Path, live: tuple[Path, dict] | None, settings: IndexSettings,
                    files: dict) -> bool:
    """Whether the live version was found to fit ``corpus`` when its files were as they are."""
    try:
        seen = json.loads((target / SEEN).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (live is not None and isinstance(seen, dict) and seen.get("version") == live[0].name
            and seen.get("corpus") == corpus_key(corpus) and seen.get("files") == files and _fits(live[1], corpus, settings))


def _record_seen(target: Path, corpus: Path, version: str, files: dict) -> None:
    """Keep what ``corpus``'s files looked like (listed before it was read)
    beside the index.  A file written too shortly before that listing might
    be written again without its mtime moving: then nothing is kept.  A
    write that fails costs only a read next time."""
    if any(mtime >= time.time_ns() - RACY_NS for _, mtime in files.values()):
        return
    tmp = target / f".tmp-seen-{uuid.uuid4().hex[:8]}"
    try:
        tmp.write_text(json.dumps({"corpus": corpus_key(corpus), "version": version, "files": files}), encoding="utf-8")
        os.replace(tmp, target / SEEN)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        log.info("%s: what the corpus looked like is not kept: %s", target, exc)


def sync_folder(folder: Path, index_dir: Path, settings: IndexSettings, semantic: bool = True,
                skip_bad: bool = False, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES, full: bool = False,
                progress: bool = True, live: tuple[Path, dict] | None = None, sentences: bool = True) -> SyncSummary:
    """Apply to the index in ``index_dir`` what changed in ``folder`` (with
    ``full``, or when the index cannot be updated in place: rebuild it).

    A bad new or changed file raises :class:`CorpusError` (nothing is
    published) unless ``skip_bad``, which records it as rejected.
    ``live``: :func:`read_live`'s answer, if the caller has it.
    """
    folder, index_dir = Path(folder), Path(index_dir)
    old = None if full else _recorded_files(read_live(index_dir) if live is None else live, folder, settings)
    root = folder.resolve()
    records: dict[str, list] = {}
    articles, problems = [], []
    for rel, (size, mtime) in scan(folder).items():
        rec = (old or {}).get(rel)
        if rec is not None and rec[0] == size and rec[1] == mtime:
            records[rel] = rec
            continue
        file = folder / rel
        if file.suffix in TEXT_SUFFIXES:
            result, digest = read_text_file(file, root, max_file_bytes)
        else:
            result, digest = Problem(str(file), "not a .txt or .md file"), None
        if rec is not None and digest is not None and digest == rec[2]:
            records[rel] = [size, mtime, *rec[2:]]  # touched, not changed
        elif isinstance(result, Problem):
            problems.append(result)
            records[rel] = [size, mtime, digest, None, str(result)]
        else:
            articles.append(result)
            records[rel] = [size, mtime, digest, result.source_id, None]
    counts = Counter(rec[3] for rec in records.values() if rec[3] is not None)
    for rel, rec in records.items():
        if counts[rec[3]] > 1:  # ambiguous: neither copy, as a full read does
            problem = Problem(str(folder / rel), f"duplicate source ID {rec[3]!r}")
            problems.append(problem)
            records[rel] = [*rec[:3], None, str(problem)]
    articles = [a for a in articles if counts[a.source_id] == 1]
    if problems and not skip_bad:
        raise CorpusError(problems, None if len(problems) > 1 else f"corpus rejected: {problems[0]}")
    rejected = tuple(rec[4] for rec in records.values() if rec[4])
    live = {rec[3] for rec in records.values() if rec[3] is not None}
    if old is None:
        if not articles:
            raise CorpusError(problems or [Problem(str(folder), "no articles found")])
        report = CorpusReport(articles=articles, problems=problems, items_seen=len(records))
        version = build_from_report(report, index_dir, settings, progress, semantic=semantic, corpus=folder,
                                    corpus_files=records, sentences=sentences)
        return SyncSummary(len(articles), 0, 0, 0, rejected, len(records), True, version)
    gone = sorted({rec[3] for rec in old.values() if rec[3] is not None} - live)
    if not articles and not gone and records == old:  # nothing to apply: no version to load and compare
        return SyncSummary(0, 0, 0, len(live), rejected, len(records), False, None)
    summary = apply_changes(index_dir, settings, add=articles, remove=gone, missing_ok=True, semantic=semantic,
                            progress=progress, rejected=rejected, corpus_files=records, sentences=sentences)
    return SyncSummary(summary.added, summary.replaced, summary.removed,
                       len(live) - summary.added - summary.replaced, rejected, len(records), False,
                       summary.version)


def open_index(config: Config, rebuild: Rebuild = "auto", skip_bad: bool = False) -> StoredIndex:
    """The index of ``config.corpus``, as :func:`service.index.build.ensure_index`
    gives it, but a folder corpus is checked by file metadata and changes
    are applied incrementally (``rebuild="always"``: rebuilt from scratch)."""
    corpus, target = config.corpus_path, config.resolved_index_dir
    if (config.corpus is None and config.index_dir is not None) or rebuild == "never":
        return ensure_index(config, rebuild, skip_bad)
    if not syncable(corpus):
        files = _corpus_stat(corpus) if rebuild == "auto" else None  # listed before it is read
        live = read_live(target) if files is not None else None
        if files is not None and _seen_unchanged(target, corpus, live, config.settings, files):
            return load_best(target, remember=True, read=live)
        stored = ensure_index(config, rebuild, skip_bad)
        if files is not None:
            _record_seen(target, corpus, stored.path.name, files)
        return stored
    live = read_live(target)
    if rebuild != "always":
        check_same_corpus(target, corpus, live[1] if live else None)
    summary = sync_folder(corpus, target, config.settings, config.semantic, skip_bad, config.max_file_bytes,
                          full=rebuild == "always", progress=False, live=live, sentences=config.sentence_vectors)
    if summary.version is not None:
        log.info("index of %s: %s; published %s", corpus, summary, summary.version.name)
        live = None
    return load_best(target, remember=True, read=live)
