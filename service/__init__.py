"""Source-grounded question answering over a collection of news articles.

One subpackage per stage of the data's way (README, "How it works"):
text → corpus → index → retrieval → answer → qa → web | evaluation → cli.
:class:`Retriever` opens an index and searches it; :func:`open_corpus` is
the one-call way to get one for a corpus (building its index if needed).
"""

from __future__ import annotations

import os
from pathlib import Path

# One BLAS thread per process, set before numpy loads: the server scales by
# worker processes, and each worker's own BLAS pool would fight the others
# for the same cores (a product with the passage vectors ran many times
# slower with two threads than with one on this kind of machine).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import IndexSettings
    from .retrieval.retriever import Retriever

__all__ = ["Hit", "Retriever", "SearchResult", "open_corpus"]


def open_corpus(corpus: Path | str, index_dir: Path | str | None = None, settings: "IndexSettings | None" = None,
                rebuild: str = "auto") -> "Retriever":
    """A :class:`Retriever` over ``corpus``'s index, built first if missing
    or stale (:func:`service.index.sync.open_index`)."""
    from .config import Config, IndexSettings
    from .index.sync import open_index
    from .retrieval.retriever import Retriever

    config = Config(corpus=Path(corpus), index_dir=Path(index_dir) if index_dir else None,
                    settings=settings or IndexSettings())
    return Retriever(open_index(config, rebuild=rebuild))  # type: ignore[arg-type]


def __getattr__(name: str):
    # Imported on first use: a tokenizer worker process of the index build
    # imports service.index.passage_terms without the search stack (numba and all).
    if name in ("Hit", "Retriever", "SearchResult"):
        from .retrieval import retriever

        return getattr(retriever, name)
    raise AttributeError(f"module 'service' has no attribute {name!r}")
