"""Changes: adding, replacing and removing articles, and merging segments.

Each change publishes a new version made of the current one's segments
(hard-linked, see :mod:`service.index.segments`) with the changed
articles marked deleted in them, plus at most one new segment holding the
added articles: a change writes on the order of what it adds.  Scores do
not depend on how the articles are spread over segments, so merging
segments (:func:`compact`, and the automatic policy after each change)
only buys speed.  Everything that reads or publishes the current version
runs under the build lock, so concurrent changes apply one after the other.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from ..config import IndexSettings
from ..corpus.reader import Article, article_digest, corpus_fingerprint, fingerprint_value
from .build import PendingSegment, manifest_common, prepare_segment, semantic_info, write_fault
from .merge import MergedSegment
from .segments import Segment, has_sentences, link_segment, load_segment
from .store import (IndexFault, StoredIndex, build_lock, current_version, list_versions, load_version, new_staging,
                    read_manifest, save_index)

#: More segments than this after a change: the small ones are merged.
MAX_SEGMENTS = 10


class UnknownSources(IndexFault):
    """A removal named articles the index does not hold."""


@dataclass(frozen=True)
class ChangeSummary:
    """What a change did, and the version it published (None: nothing changed)."""

    added: int
    replaced: int
    removed: int
    merged: int  # segments merged into one by the automatic policy
    version: Path | None


def live_version(index_dir: Path) -> Path | None:
    """The version a change builds on: the one ``CURRENT`` names, else the newest."""
    live = current_version(index_dir)
    if live is not None and live.is_dir():
        return live
    versions = list_versions(index_dir)
    return versions[-1] if versions else None


def apply_changes(index_dir: Path, settings: IndexSettings, add: Sequence[Article] = (),
                  remove: Sequence[str] = (), missing_ok: bool = False, semantic: bool = True,
                  progress: bool = True, rejected: Sequence[str] = (),
                  corpus_files: dict | None = None, sentences: bool = True) -> ChangeSummary:
    """Add (or replace, by source ID) ``add`` and remove ``remove``, and publish.

    An index that does not exist yet is created (with ``settings``,
    ``semantic`` and ``sentences``); an existing one keeps its own settings
    and vectors (its sentences' too, if it has them).  An
    unknown ID in ``remove`` raises :class:`UnknownSources` (nothing is
    published) unless ``missing_ok``.  ``rejected``: the bad files left out
    of ``add``, recorded in the manifest.  ``corpus_files``: what the
    folder corpus's files looked like (:mod:`service.index.sync`); a change
    without it leaves the index owing nothing to a folder.
    """
    index_dir = Path(index_dir)
    ids = [a.source_id for a in add]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise ValueError(f"article {dup!r} is given twice")
    base = live_version(index_dir)
    if base is not None:
        manifest = read_manifest(base)
        settings, semantic = IndexSettings(**manifest["settings"]), bool(manifest.get("semantic"))
        sentences = has_sentences(manifest.get("semantic"))
    # The slow part (analysis, vectors) before the lock; checked under it.
    pending = prepare_segment(list(add), settings, progress, semantic=semantic, sentences=sentences) if add else None
    with build_lock(index_dir):
        base = live_version(index_dir)
        stored = load_version(base, verify=False, values=False) if base is not None else None
        if stored is not None and stored.manifest.get("settings_fingerprint") != settings.fingerprint():
            raise IndexFault(f"{base}: the index was rebuilt with other settings meanwhile; try again")
        segments = stored.segments if stored else []
        where = {sid: (j, i) for j, seg in enumerate(segments)
                 for i, sid in ((i, s["id"]) for i, s in enumerate(seg.sources)) if i not in seg.deleted}
        unknown = [sid for sid in remove if sid not in where]
        if unknown and not missing_ok:
            raise UnknownSources(f"no article {unknown[0]!r} in the index"
                                 + (f" (and {len(unknown) - 1} more unknown)" if len(unknown) > 1 else ""))
        gone = [where[sid] for sid in dict.fromkeys(remove) if sid in where]
        replaced = [where[sid] for sid in ids if sid in where]
        same_files = corpus_files is None or (stored is not None and corpus_files == stored.manifest.get("corpus_files"))
        if not gone and pending is None and same_files:
            return ChangeSummary(0, 0, 0, 0, None)
        deleted = [set(seg.deleted) for seg in segments]
        for j, i in gone + replaced:
            deleted[j].add(i)
        kept = [(seg, frozenset(d)) for seg, d in zip(segments, deleted) if len(d) < len(seg.sources)]
        if not kept and pending is None:
            raise ValueError("removing every article would leave the index empty")
        summary = ChangeSummary(len(ids) - len(replaced), len(replaced), len(gone), 0, None)
        digest = (_digest_sum(stored) - sum(article_digest(stored_article(segments[j], i)) for j, i in set(gone + replaced))
                  + sum(map(article_digest, add)))
        merged = _publish(index_dir, stored, kept, pending, settings, semantic, list(rejected), corpus_files,
                          corpus_fingerprint([digest]), sentences=sentences)
        return replace(summary, merged=merged[0], version=merged[1])


def compact(index_dir: Path) -> ChangeSummary:
    """Merge every segment of the live version into one (live articles
    only), from their stored arrays (:mod:`.merge`)."""
    index_dir = Path(index_dir)
    with build_lock(index_dir):
        base = live_version(index_dir)
        if base is None:
            raise IndexFault(f"{index_dir}: no index here (build one with `python -m service index`)")
        stored = load_version(base, verify=False, values=False)
        settings = IndexSettings(**stored.manifest["settings"])
        kept = [(seg, seg.deleted) for seg in stored.segments]
        if len(kept) == 1 and not kept[0][1]:
            return ChangeSummary(0, 0, 0, 0, None)
        merged = MergedSegment(kept, stored.semantic)
        _, version = _publish(index_dir, stored, [], merged, settings, stored.semantic,
                              stored.manifest.get("rejected", []), stored.manifest.get("corpus_files"),
                              corpus_fingerprint([_digest_sum(stored)]), policy=False)
        return ChangeSummary(0, 0, 0, len(kept), version)


def stored_article(seg: Segment, i: int) -> Article:
    """Article ``i`` of ``seg`` as it was added (text and metadata)."""
    source = seg.sources[i]
    return Article(source["id"], seg.source_text(i), **{k: source.get(k) for k in ("title", "url", "date")})


def _digest_sum(stored: StoredIndex | None) -> int:
    """The sum of the live articles' digests behind ``stored``'s
    fingerprint (:func:`service.corpus.reader.corpus_fingerprint`): read
    from its manifest, or, for an index whose manifest holds none (made
    before the digest was a sum), worked out once from its articles."""
    if stored is None:
        return 0
    value = fingerprint_value(stored.manifest.get("corpus_fingerprint"))
    if value is not None:
        return value
    return sum(article_digest(stored_article(seg, i)) for seg in stored.segments
               for i in range(len(seg.sources)) if i not in seg.deleted)


def _publish(index_dir: Path, stored: StoredIndex | None, kept: list[tuple[Segment, frozenset[int]]],
             pending: PendingSegment | MergedSegment | None,
             settings: IndexSettings, semantic: bool, rejected: list[str], corpus_files: dict | None,
             fingerprint: str, policy: bool = True, sentences: bool = True) -> tuple[int, Path]:
    """Publish ``kept`` segments (with their deletions) and ``pending``'s
    new one; with ``policy``, first merge the small segments if there would
    be more than :data:`MAX_SEGMENTS`.  Returns (segments merged, version).
    ``semantic`` and ``sentences`` describe a new index's vectors.
    A failed write raises :class:`IndexFault` and publishes nothing."""
    n_merged, small = 0, None
    if policy and len(kept) + (pending is not None) > MAX_SEGMENTS:
        # Keep the biggest segment (usually the archive's bulk) as it is;
        # the rest, and the new articles, become one segment.
        big = max(range(len(kept)), key=lambda j: kept[j][0].arrays.n_docs)
        small = [p for j, p in enumerate(kept) if j != big]
        n_merged = len(small) + (pending is not None)
        kept = [kept[big]]
    try:
        staging = new_staging(index_dir)
    except OSError as exc:
        raise write_fault(index_dir, exc) from None
    try:
        known = {}
        old_files = stored.manifest.get("files", {}) if stored else {}
        for seg, _ in kept:
            link_segment(stored.path / seg.name, staging / seg.name)
            known.update({k: v for k, v in old_files.items() if k.startswith(seg.name + "/")})
        entries = [{"name": seg.name, "deleted": sorted(d)} for seg, d in kept]
        if small is not None:
            pending = _merged_with(small, pending, staging, stored.manifest.get("semantic"))
        if pending is not None:
            entries.append({"name": pending.write(staging), "deleted": []})
        if small is not None and len(pending.parts) > len(small):  # the new articles' own segment, merged
            shutil.rmtree(staging / pending.parts[-1][0].name)
        n_sources = sum(len(seg.sources) - len(d) for seg, d in kept) + (pending.n_sources if pending else 0)
        n_passages = sum(seg.arrays.n_docs for seg, _ in kept) - sum(
            int(np.isin(np.asarray(seg.passages["p_source"]), list(d)).sum()) for seg, d in kept if d)
        n_passages += pending.n_passages if pending else 0
        manifest = {
            "corpus": stored.manifest.get("corpus") if stored else None,
            "corpus_fingerprint": fingerprint,
            **manifest_common(settings, semantic_info(semantic, sentences) if not stored else stored.manifest.get("semantic")),
            "n_sources": n_sources,
            "n_passages": n_passages,
            "rejected": rejected,
            "corpus_files": corpus_files,
            "segments": entries,
        }
        return n_merged, save_index(index_dir, staging, manifest, known)
    except BaseException as exc:
        shutil.rmtree(staging, ignore_errors=True)
        if isinstance(exc, OSError):  # a full or read-only disk: one line, the served version as it was
            raise write_fault(index_dir, exc) from None
        raise


def _merged_with(small: list[tuple[Segment, frozenset[int]]], pending: PendingSegment | None, staging: Path,
                 semantic: dict | None) -> MergedSegment:
    """``small`` and ``pending``'s new articles as one merge: the new
    articles are written into ``staging`` as a segment of their own first,
    so the merge reads stored arrays only."""
    parts = list(small)
    if pending is not None:
        name = pending.write(staging)
        parts.append((load_segment(staging / name, name, frozenset(), semantic, checked=True), frozenset()))
    return MergedSegment(parts, bool(semantic))
