"""Build: corpus → passages → tokens → BM25 arrays → a published index.

The one place where the stages are chained for indexing, so the CLI, the
server's start-up and the tests build an index the same way.  A failed build
raises before anything is published: the last good index keeps serving.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from pathlib import Path
from typing import Iterator

import numpy as np

from .analysis import Analyzer
from .config import DEFAULT_MAX_FILE_BYTES, IndexSettings
from .corpus import Article, CorpusReport, load_corpus
from .index import build_arrays
from .passages import make_passages
from .store import FORMAT_VERSION, save_index


def _progress(items: list[Article], enabled: bool) -> Iterator[Article]:
    """A progress bar on a terminal for long builds; silent otherwise."""
    if enabled and len(items) > 2000 and sys.stderr.isatty():
        from tqdm import tqdm

        return iter(tqdm(items, desc="indexing", unit="article", file=sys.stderr))
    return iter(items)


def build_from_report(
    report: CorpusReport,
    index_dir: Path,
    settings: IndexSettings,
    progress: bool = True,
) -> Path:
    """Index the accepted articles of ``report`` and publish the result."""
    analyzer = Analyzer(settings)
    articles = report.articles
    p_source: list[int] = []
    p_n: list[int] = []
    p_start: list[int] = []
    p_end: list[int] = []

    def token_lists() -> Iterator[list[str]]:
        for si, article in enumerate(_progress(articles, progress)):
            title_terms = analyzer(article.title) if settings.index_titles and article.title else []
            for p in make_passages(article, settings):
                p_source.append(si)
                p_n.append(p.n)
                p_start.append(p.start)
                p_end.append(p.end)
                yield title_terms + analyzer(p.text)

    arrays = build_arrays(token_lists(), settings)
    passages = {
        "p_source": np.asarray(p_source, dtype=np.int32),
        "p_n": np.asarray(p_n, dtype=np.int32),
        "p_start": np.asarray(p_start, dtype=np.int64),
        "p_end": np.asarray(p_end, dtype=np.int64),
    }
    manifest = {
        "format_version": FORMAT_VERSION,
        "corpus_fingerprint": report.fingerprint(),
        "settings": asdict(settings),
        "settings_fingerprint": settings.fingerprint(),
        "n_sources": len(articles),
        "n_passages": arrays.n_docs,
        "n_terms": len(arrays.terms),
        "rejected": [str(p) for p in report.problems],
    }
    return save_index(index_dir, arrays, articles, passages, manifest)


def build_index(
    corpus: Path,
    index_dir: Path,
    settings: IndexSettings,
    skip_bad: bool = False,
    progress: bool = True,
    max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
) -> tuple[Path, CorpusReport]:
    """Read ``corpus`` (raising :class:`CorpusError` on bad input unless
    ``skip_bad``), build and publish; returns the version path and report."""
    report = load_corpus(corpus, skip_bad=skip_bad, max_file_bytes=max_file_bytes)
    return build_from_report(report, index_dir, settings, progress), report
