"""Build: corpus → passages → tokens → BM25 arrays → a published index.

The one place where the stages are chained for indexing, so the CLI, the
server's start-up and the tests build an index the same way.  A failed build
raises before anything is published: the last good index keeps serving.
"""

from __future__ import annotations

import sys
import time
from array import array
from itertools import chain
from dataclasses import asdict
from pathlib import Path
from typing import Iterator

import numpy as np

from .analysis import Analyzer, Memo
from .config import DEFAULT_MAX_FILE_BYTES, IndexSettings
from .corpus import Article, CorpusReport, load_corpus
from .index import ArrayBuilder
from .passages import make_passages
from .store import save_index


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
    started = time.perf_counter()
    analyzer = Analyzer(settings)
    articles = report.articles
    # Flat typed arrays, not lists of Python ints: 4-8 bytes a passage.
    p_source, p_n, p_start, p_end = array("i"), array("i"), array("q"), array("q")
    analysis_s = 0.0

    builder = ArrayBuilder()

    def term_id(tok: str) -> int:
        term = analyzer.term_of_surface(tok)
        return builder.term_id(term) if term else -1

    # Surface string → term id (-1: stopword), one lookup per token: the
    # analyzer's terms exactly, without a string list per passage.
    ids = Memo(term_id).__getitem__
    surface = analyzer.surface_tokens
    for si, article in enumerate(_progress(articles, progress)):
        t0 = time.perf_counter()
        title = article.title if settings.index_titles and article.title else ""
        title_ids = list(map(ids, surface(title)))
        analysis_s += time.perf_counter() - t0
        for p in make_passages(article, settings):
            p_source.append(si)
            p_n.append(p.n)
            p_start.append(p.start)
            p_end.append(p.end)
            t0 = time.perf_counter()
            builder.add_ids(chain(title_ids, map(ids, surface(p.text))))
            analysis_s += time.perf_counter() - t0

    arrays = builder.finish(settings)
    passages = {
        "p_source": np.array(p_source, dtype=np.int32),
        "p_n": np.array(p_n, dtype=np.int32),
        "p_start": np.array(p_start, dtype=np.int64),
        "p_end": np.array(p_end, dtype=np.int64),
    }
    manifest = {
        "corpus_fingerprint": report.fingerprint(),
        "settings": asdict(settings),
        "settings_fingerprint": settings.fingerprint(),
        "n_sources": len(articles),
        "n_passages": arrays.n_docs,
        "n_terms": len(arrays.terms),
        "rejected": [str(p) for p in report.problems],
        # Seconds spent turning text into terms, and in the whole build up
        # to saving: what the benchmark reports as tokenization and build.
        "build_stats": {"analysis_s": round(analysis_s, 3),
                        "until_save_s": round(time.perf_counter() - started, 3)},
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
