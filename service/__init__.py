"""Source-grounded question answering over a collection of news articles.

Stages, one module each: corpus → passages → analysis → (tokenize) → index → store →
search → response (→ answer, API/web).  :class:`Retriever` is the library
entry point.
"""

__all__ = ["Hit", "Retriever", "SearchResult"]


def __getattr__(name: str):
    # Imported on first use: a tokenizer worker process of the index build
    # imports service.tokenize without the search stack (numba and all).
    if name in __all__:
        from . import search

        return getattr(search, name)
    raise AttributeError(f"module 'service' has no attribute {name!r}")
