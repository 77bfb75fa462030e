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
:func:`service.index.build.ensure_index` does.
"""

from __future__ import annotations

import logging
import os
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..config import DEFAULT_MAX_FILE_BYTES, Config, IndexSettings
from ..corpus.metadata import SIDECAR
from ..corpus.reader import TEXT_SUFFIXES, CorpusError, CorpusReport, Problem, list_entries, read_text_file
from ..embedding.shared import encoder_fingerprint
from .build import Rebuild, build_from_report, check_same_corpus, corpus_key, ensure_index
from .changes import live_version, apply_changes
from .store import IndexFault, StoredIndex, load_best, read_manifest

log = logging.getLogger(__name__)


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


def _recorded_files(live: tuple[Path, dict] | None, folder: Path, settings: IndexSettings) -> dict | None:
    """The files the live version recorded for ``folder``, or None when it
    cannot be updated in place (no index, another corpus, other settings
    or encoder, built without file records)."""
    if live is None:
        return None
    manifest = live[1]
    semantic = manifest.get("semantic")
    if (manifest.get("corpus") != corpus_key(folder) or manifest.get("settings_fingerprint") != settings.fingerprint()
            or (semantic and semantic.get("fingerprint") != encoder_fingerprint())):
        return None
    return manifest.get("corpus_files")


def sync_folder(folder: Path, index_dir: Path, settings: IndexSettings, semantic: bool = True,
                skip_bad: bool = False, max_file_bytes: int = DEFAULT_MAX_FILE_BYTES, full: bool = False,
                progress: bool = True, live: tuple[Path, dict] | None = None) -> SyncSummary:
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
    same = 0  # files as recorded
    for rel, (size, mtime) in scan(folder).items():
        rec = (old or {}).get(rel)
        if rec is not None and rec[0] == size and rec[1] == mtime:
            records[rel] = rec
            same += 1
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
    if old is not None and same == len(records) == len(old):  # nothing changed: the records are the old ones
        return SyncSummary(0, 0, 0, sum(rec[3] is not None for rec in old.values()),
                           tuple(rec[4] for rec in old.values() if rec[4]), len(old), False, None)
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
                                    corpus_files=records)
        return SyncSummary(len(articles), 0, 0, 0, rejected, len(records), True, version)
    gone = sorted({rec[3] for rec in old.values() if rec[3] is not None} - live)
    if not articles and not gone and records == old:  # nothing to apply: no version to load and compare
        return SyncSummary(0, 0, 0, len(live), rejected, len(records), False, None)
    summary = apply_changes(index_dir, settings, add=articles, remove=gone, missing_ok=True, semantic=semantic,
                            progress=progress, rejected=rejected, corpus_files=records)
    return SyncSummary(summary.added, summary.replaced, summary.removed,
                       len(live) - summary.added - summary.replaced, rejected, len(records), False,
                       summary.version)


def open_index(config: Config, rebuild: Rebuild = "auto", skip_bad: bool = False) -> StoredIndex:
    """The index of ``config.corpus``, as :func:`service.index.build.ensure_index`
    gives it, but a folder corpus is checked by file metadata and changes
    are applied incrementally (``rebuild="always"``: rebuilt from scratch)."""
    corpus, target = config.corpus_path, config.resolved_index_dir
    if (config.corpus is None and config.index_dir is not None) or rebuild == "never" or not syncable(corpus):
        return ensure_index(config, rebuild, skip_bad)
    live = read_live(target)
    if rebuild != "always":
        check_same_corpus(target, corpus, live[1] if live else None)
    summary = sync_folder(corpus, target, config.settings, config.semantic, skip_bad, config.max_file_bytes,
                          full=rebuild == "always", progress=False, live=live)
    if summary.version is not None:
        log.info("index of %s: %s; published %s", corpus, summary, summary.version.name)
        live = None
    return load_best(target, remember=True, read=live)
