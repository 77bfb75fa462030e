"""Source-grounded question answering over a collection of news articles.

Stages, one module each: corpus → passages → analysis → index → store →
search → response (→ answer, API/web).  :class:`Retriever` is the library
entry point.
"""

from .search import Hit, Retriever, SearchResult

__all__ = ["Hit", "Retriever", "SearchResult"]
