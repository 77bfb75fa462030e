"""The per-application state the views share: the config and this worker's live index."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

from flask import current_app, has_request_context, request

from ..config import Config
from ..qa.ask import Search
from ..retrieval.reload import IndexHolder
from ..retrieval.retriever import Retriever
from .validation import ParamError, SearchParams, check_search


#: The WSGI environ key of the retriever a request is answered from.
PINNED = "groundedqa.retriever"


@dataclass(frozen=True)
class AppState:
    config: Config
    holder: IndexHolder
    search: Search  # question → the search document (qa.ask.search_json)

    @property
    def retriever(self) -> Retriever:
        """The index this request is answered from: the worker's live one
        when the request began (a newer published one is swapped in between
        requests, never within one)."""
        if has_request_context() and PINNED in request.environ:
            return request.environ[PINNED]
        return self.holder.get()

    def check_search(self, retriever: Retriever, params: Mapping[str, Any], errors: list[ParamError],
                     from_text: bool, ignore_unknown: bool = False, plain: bool = False) -> SearchParams:
        """:func:`service.web.validation.check_search` with this app's limits,
        finding terms with the analyzer of ``retriever``: the index the
        request will then be answered from (read once per request, so a
        reload between the check and the search cannot split them)."""
        return check_search(params, self.config, retriever.query_terms, modes=retriever.modes,
                            ignore_unknown=ignore_unknown, errors=errors, from_text=from_text,
                            has_source=retriever.has_source, plain=plain)


def app_state() -> AppState:
    """The config and retriever of the application handling this request."""
    return current_app.extensions["groundedqa"]

