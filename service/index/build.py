"""Build: corpus → passages → tokens → BM25 arrays → a published index.

The one place where the stages are chained for indexing, and where the
rebuild policy lives (:func:`ensure_index`), so the CLI, the server's
start-up and the tests build and reuse an index the same way.  A failed
build raises before anything is published: the last good index keeps serving.
An index records the corpus it was built from (its path and fingerprint),
so an index folder is never silently rebuilt from another corpus.
"""

from __future__ import annotations

import logging
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np

from ..config import DEFAULT_MAX_FILE_BYTES, Config, IndexSettings
from ..corpus.reader import Article, CorpusReport, fingerprint_value, load_corpus
from .arrays import ArrayBuilder
from ..embedding.shared import encoder_fingerprint
from .passage_terms import TermMerger, default_workers, tokenize_chunks
from .readings import ReadingSpill
from .segments import SentenceVectors, new_segment_name, write_segment
from .store import (IndexFault, StoredIndex, build_lock, current_version, list_versions, load_best, load_version,
                    new_staging, publish, read_manifest, save_index)

log = logging.getLogger(__name__)

Rebuild = Literal["auto", "never", "always"]


class StaleIndex(IndexFault):
    """The index was built from another corpus or with other settings."""


class OtherCorpus(StaleIndex):
    """The index folder holds the index of another corpus (by path)."""


def corpus_key(corpus: Path | str) -> str:
    """How a manifest names the corpus an index was built from."""
    return str(Path(corpus).resolve())


def recorded_corpus(index_dir: Path) -> str | None:
    """The corpus the index in ``index_dir`` was built from (the live
    version's, or else the newest readable one's); None for no index."""
    live = None
    try:
        live = current_version(index_dir)
    except IndexFault:
        pass
    for version in ([live] if live else []) + list(reversed(list_versions(index_dir))):
        try:
            return read_manifest(version).get("corpus")
        except IndexFault:
            continue
    return None


def check_same_corpus(index_dir: Path, corpus: Path, live: dict | None = None) -> None:
    """Refuse (:class:`OtherCorpus`) to put ``corpus``'s index where another
    corpus's is; ``live``: the live version's manifest, if the caller has read it."""
    recorded = live.get("corpus") if live is not None else recorded_corpus(index_dir)
    if recorded is not None and recorded != corpus_key(corpus):
        raise OtherCorpus(f"{index_dir} holds the index of {recorded}, not of {corpus_key(corpus)}; "
                          "pass --rebuild to replace it")


def write_fault(index_dir: Path, exc: OSError) -> IndexFault:
    """A failed write (a full or read-only disk) as one line naming the index folder.

    NumPy reports a write the disk cut short with no errno ("650 requested
    and 496 written"), which alone does not tell an operator the disk is full.
    """
    if exc.errno is None and "written" in str(exc):
        return IndexFault(f"{index_dir}: cannot write the index: the disk is full (a write was cut short: {exc})")
    return IndexFault(f"{index_dir}: cannot write the index: {exc.strerror or exc}")


def _progress(total: int, enabled: bool):
    """A progress bar on a terminal for long builds; None otherwise."""
    if enabled and total > 2000 and sys.stderr.isatty():
        from tqdm import tqdm

        return tqdm(total=total, desc="indexing", unit="article", file=sys.stderr)
    return None


@dataclass(frozen=True)
class PendingSegment:
    """Articles cut, analysed (and encoded) into a segment not yet written:
    the slow part of a change, done before the build lock is taken."""

    articles: list[Article]  # in source-ID order
    builder: ArrayBuilder
    passages: dict[str, np.ndarray]
    readings: ReadingSpill
    vectors: tuple[np.ndarray, np.ndarray] | None
    stats: dict
    sentences: SentenceVectors | None = None

    @property
    def n_sources(self) -> int:
        return len(self.articles)

    @property
    def n_passages(self) -> int:
        return int(len(self.passages["p_n"]))

    def write(self, version_dir: Path) -> str:
        """Write the segment into ``version_dir`` (staging); returns its name."""
        name = new_segment_name()
        path = version_dir / name
        path.mkdir()
        # The big arrays go straight to the unpublished version's files.
        write_segment(path, self.builder.finish(path), self.articles, self.passages, self.vectors, self.sentences)
        self.readings.write(path, self.builder.vocab, self.builder.renumbered)
        return name


def prepare_segment(articles: list[Article], settings: IndexSettings, progress: bool = True,
                    workers: int | None = None, semantic: bool = True, sentences: bool = True) -> PendingSegment:
    """Cut, analyse and (with ``semantic``) encode ``articles`` for a segment
    (with ``sentences`` too, each passage's sentences).

    ``workers``: tokenizer processes (None: as many as pay off, see
    :func:`service.index.passage_terms.default_workers`); the segment is the
    same either way.
    """
    started = time.perf_counter()
    # Passages are numbered in source-ID order (then passage number), the
    # order ties are broken in: by passage ID, whatever order a JSONL file
    # listed its records in.
    articles = sorted(articles, key=lambda a: a.source_id)
    workers = default_workers(articles) if workers is None else workers
    builder, readings = ArrayBuilder(), ReadingSpill()
    passages, worker_s = _tokenize(articles, settings, workers, builder, readings, progress)
    # analysis_s: wall-clock seconds until every passage was cut and
    # analysed (by ``workers`` processes, busy ``worker_s`` in all).
    stats = {"analysis_s": round(time.perf_counter() - started, 3), "workers": workers, "worker_s": worker_s}
    vectors = sentence_vectors = None
    if semantic:
        from .vectors import encode_passages, encode_sentences  # onnxruntime only when needed

        texts = [articles[s].text[b:e] for s, b, e in zip(passages["p_source"].tolist(),
                                                        passages["p_start"].tolist(), passages["p_end"].tolist())]
        vectors = encode_passages(texts, progress=progress)
        stats["vectors_s"] = round(time.perf_counter() - started - stats["analysis_s"], 3)
        if sentences:
            sentence_vectors = SentenceVectors(*encode_sentences(texts, progress=progress))
            stats["sentence_vectors_s"] = round(time.perf_counter() - started - stats["analysis_s"]
                                                - stats["vectors_s"], 3)
            stats["sentences"] = int(sentence_vectors.ptr[-1])
    return PendingSegment(articles, builder, passages, readings, vectors, stats, sentence_vectors)


def semantic_info(semantic: bool, sentences: bool = True) -> dict | None:
    """What the manifest says of the passage vectors' encoder, and whether
    the sentences have vectors too (None: lexical only)."""
    if not semantic:
        return None
    from .vectors import semantic_manifest  # onnxruntime only when needed

    return semantic_manifest(sentences)


def build_from_report(
    report: CorpusReport,
    index_dir: Path,
    settings: IndexSettings,
    progress: bool = True,
    workers: int | None = None,
    semantic: bool = True,
    corpus: Path | None = None,
    corpus_files: dict | None = None,
    sentences: bool = True,
) -> Path:
    """Index the accepted articles of ``report`` into one segment and
    publish the result (a full rebuild).

    ``corpus``: where the articles were read from, recorded in the manifest
    (``corpus_files``: what its files looked like, see :mod:`service.index.sync`).
    A write that fails (a full or read-only disk) raises :class:`IndexFault`.
    """
    started = time.perf_counter()
    pending = prepare_segment(report.articles, settings, progress, workers, semantic, sentences)
    manifest = {"corpus": corpus_key(corpus) if corpus else None,
                "corpus_fingerprint": report.fingerprint(),
                **manifest_common(settings, semantic_info(semantic, sentences)),
                "n_sources": len(report.articles),
                "n_passages": int(len(pending.passages["p_n"])),
                "rejected": [str(p) for p in report.problems],
                "corpus_files": corpus_files}
    try:
        with build_lock(index_dir):
            staging = new_staging(index_dir)
            try:
                name = pending.write(staging)
                stats = {**pending.stats, "until_save_s": round(time.perf_counter() - started, 3)}
                manifest.update({"segments": [{"name": name, "deleted": []}], "build_stats": stats})
                return save_index(index_dir, staging, manifest)
            except BaseException:
                shutil.rmtree(staging, ignore_errors=True)
                raise
    except OSError as exc:
        raise write_fault(index_dir, exc) from None


def _tokenize(
    articles: list[Article], settings: IndexSettings, workers: int, builder: ArrayBuilder,
    readings: ReadingSpill, progress: bool
) -> tuple[dict[str, np.ndarray], float]:
    """Cut and analyse every article into ``builder`` (and the passages'
    readings into ``readings``); returns the passage span arrays and the
    seconds the tokenizers were busy."""
    merger = TermMerger(builder.term_id)
    counts, p_n, p_start, p_end = [], [], [], []
    bar = _progress(len(articles), progress)
    worker_s = 0.0
    for chunk in tokenize_chunks(articles, settings, workers):
        builder.add_documents(merger.global_ids(chunk), chunk.lens)
        readings.add(chunk.worker, chunk.readings, chunk.new_extra, lambda ids: merger.ids_of(chunk.worker, ids))
        counts.append(chunk.passages_per_article)
        p_n.append(chunk.p_n)
        p_start.append(chunk.p_start)
        p_end.append(chunk.p_end)
        worker_s += chunk.seconds
        if bar is not None:
            bar.update(len(chunk.passages_per_article))
    if bar is not None:
        bar.close()
    passages = {
        "p_source": np.repeat(np.arange(len(articles), dtype=np.int32), np.concatenate(counts)),
        "p_n": np.concatenate(p_n),
        "p_start": np.concatenate(p_start),
        "p_end": np.concatenate(p_end),
    }
    return passages, round(worker_s, 3)


def manifest_common(settings: IndexSettings, semantic: dict | None) -> dict:
    """What every version's manifest says of its settings and vectors."""
    return {
        "settings": asdict(settings),
        "settings_fingerprint": settings.fingerprint(),
        "semantic": semantic,  # the encoder of the passage vectors; None: lexical only
    }


def build_index(
    corpus: Path,
    index_dir: Path,
    settings: IndexSettings,
    skip_bad: bool = False,
    progress: bool = True,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
    semantic: bool = True,
    replace_other: bool = False,
    sentences: bool = True,
) -> tuple[Path, CorpusReport]:
    """Read ``corpus`` (raising :class:`CorpusError` on bad input unless
    ``skip_bad``), build and publish; returns the version path and report.
    An index of another corpus in ``index_dir`` is refused
    (:class:`OtherCorpus`) unless ``replace_other``."""
    if not replace_other:
        check_same_corpus(index_dir, corpus)
    report = load_corpus(corpus, skip_bad=skip_bad, max_file_bytes=max_file_bytes)
    return build_from_report(report, index_dir, settings, progress, semantic=semantic, corpus=corpus,
                             sentences=sentences), report


def mismatch(stored: StoredIndex, report: CorpusReport, settings: IndexSettings) -> str | None:
    """Why ``stored`` does not belong to ``report`` + ``settings``, or None."""
    recorded = stored.manifest.get("corpus_fingerprint")
    if recorded != (report.fingerprint() if fingerprint_value(recorded) is not None else report.ordered_fingerprint()):
        return "the corpus has changed since it was built"
    if stored.manifest.get("settings_fingerprint") != settings.fingerprint():
        return "it was built with other settings"
    semantic = stored.manifest.get("semantic")
    if semantic and semantic.get("fingerprint") != encoder_fingerprint():
        return "its passage vectors come from another encoder"
    return None


def ensure_index(config: Config, rebuild: Rebuild = "auto", skip_bad: bool = False) -> StoredIndex:
    """The index of ``config.corpus``, built if missing, damaged or stale.

    With no corpus given but an index folder (``--index DIR`` alone), the
    index there is served as it is: never rebuilt, least of all from the
    bundled articles (``rebuild="always"`` rebuilds it from its recorded
    corpus).  With a corpus, a folder holding another corpus's index is
    refused (:class:`OtherCorpus`) unless ``rebuild="always"``.

    A new index has passage vectors if ``config.semantic``; an existing one
    is used as it was built (a lexical-only index is not rebuilt to add
    them).  The corpus is read and fingerprinted every time, so an index built
    from other files or other settings is never served by mistake:
    ``rebuild="auto"`` rebuilds it, ``"never"`` refuses with
    :class:`StaleIndex`, ``"always"`` rebuilds regardless.  Before
    rebuilding, a sound version on disk that matches (say one whose publish
    failed on a full disk) is published and used instead.
    """
    target = config.resolved_index_dir
    corpus = config.corpus_path
    if config.corpus is None and config.index_dir is not None:
        recorded = recorded_corpus(target)
        if rebuild != "always" or recorded is None:
            return load_best(target)
        corpus = Path(recorded)
    if rebuild != "always":
        check_same_corpus(target, corpus)
    report = load_corpus(corpus, skip_bad=skip_bad, max_file_bytes=config.max_file_bytes)
    why = "rebuild requested"
    if rebuild != "always":
        try:
            stored = load_best(target)
        except IndexFault as exc:
            if rebuild == "never":
                raise
            why = str(exc)
        else:
            why = mismatch(stored, report, config.settings)
            if why is None:
                return stored
            if rebuild == "never":
                raise StaleIndex(f"{target}: index is stale ({why}); rebuild it with `python -m service index`")
        matching = _matching_version(target, report, config.settings)
        if matching is not None:
            return matching
    log.info("building the index of %s in %s (%s)", corpus, target, why)
    return load_version(build_from_report(report, target, config.settings, semantic=config.semantic,
                                          corpus=corpus, sentences=config.sentence_vectors))


def _matching_version(index_dir: Path, report: CorpusReport, settings: IndexSettings) -> StoredIndex | None:
    """The newest sound version that fits ``report`` and ``settings``,
    published if it is not live (best effort: on a full disk it is served
    all the same); None when there is none."""
    for version in reversed(list_versions(index_dir)):
        try:
            stored = load_version(version)
        except IndexFault:
            continue
        if mismatch(stored, report, settings) is None:
            log.info("serving %s, a complete version of this corpus already on disk", version)
            try:
                with build_lock(index_dir):
                    if (current_version(index_dir) or Path()).name != version.name:
                        publish(index_dir, version.name)
            except (OSError, IndexFault) as exc:
                log.warning("%s: could not publish %s (%s); serving it unpublished", index_dir, version.name, exc)
            return stored
    return None
