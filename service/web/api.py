"""The JSON API: ``/api/search``, ``/api/sources``, ``/api/sources/<id>``, ``/api/openapi.json``,
and the health checks ``/healthz`` and ``/readyz``.

Every 4xx/5xx under ``/api`` has one shape, documented in
``service/web/openapi.json``::

    {"ok": false, "status": 400, "error": "Bad Request",
     "errors": [{"param": "k", "message": "k must be an integer from 1 to 50"}]}

The search document itself comes from :func:`service.qa.ask.search_json`,
the same function ``python -m service ask --json`` prints.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request
from gunicorn.http.errors import ParseException

from .errors import error_response
from .state import app_state
from .validation import (
    InvalidParams,
    ParamError,
    check_list,
    flatten_query,
    parse_json_object,
)

bp = Blueprint("api", __name__, url_prefix="/api")
health = Blueprint("health", __name__)


@bp.errorhandler(InvalidParams)
def _invalid(exc: InvalidParams):
    return error_response(400, "Bad Request", exc.errors)


def _body(limit: int) -> bytes:
    """The request body, at most ``limit`` bytes however it is framed.
    Werkzeug answers 413 for a declared length over ``MAX_CONTENT_LENGTH``
    (``limit + 1``) but silently stops reading a chunked body there, so
    one rule is applied here to what was read: over ``limit``, a 413.
    Gunicorn raises its parse errors (a chunk size of ``zz``, ``-1``, or
    smaller than its data) from this read: they are the client's, a 400."""
    try:
        data = request.get_data(cache=False)
    except ParseException as exc:
        raise InvalidParams([ParamError(None, f"the request body's chunked encoding is invalid: {exc}")]) from None
    if len(data) > limit:
        abort(413)
    return data


@bp.route("/search", methods=["GET", "POST"])
def search():
    """``GET ?q=&k=`` or ``POST {"q", "k"}``: the same search document."""
    state = app_state()
    if request.method == "POST":
        if not request.is_json:
            abort(415, description="send the search as a JSON body with Content-Type: application/json")
        if request.args:
            names = ", ".join(repr(n[:40]) for n in sorted(request.args))
            raise InvalidParams([ParamError(None, f"a POST takes its parameters in its JSON body, "
                                                  f"not in the query string (got {names})")])
        params, earlier = parse_json_object(_body(state.config.max_body_bytes)), []
    else:
        params, earlier = flatten_query(request.args.to_dict(flat=False))
    retriever = state.retriever
    checked = state.check_search(retriever, params, earlier, from_text=request.method != "POST")
    return jsonify(state.search(retriever, checked.q, checked.k, checked.terms, checked.retrieval,
                                options=checked.options))


@bp.get("/sources")
def sources():
    """``?offset=&limit=``: a page of the collection's sources, newest first."""
    retriever = app_state().retriever
    offset, limit, errors = check_list(request.args.to_dict(flat=False), app_state().config, retriever.n_sources)
    if errors:
        raise InvalidParams(errors)
    return jsonify({"ok": True, "total": retriever.n_sources, "offset": offset, "limit": limit,
                    "sources": [e.to_json() for e in retriever.collection.entries(offset, limit)]})


@bp.get("/sources/<path:source_id>")
def source(source_id: str):
    """One article, found by ID in the index (never by building a path)."""
    view = app_state().retriever.source(source_id)
    if view is None:
        abort(404, description=f"no source with ID {source_id[:80]!r}")
    return jsonify({
        "ok": True,
        "source_id": view.source_id,
        "metadata": view.metadata,
        "text": view.text,
        "passages": view.passages,
    })


@lru_cache(maxsize=1)
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3 description of this API (``service/web/openapi.json``)."""
    return json.loads(resources.files("service.web").joinpath("openapi.json").read_text(encoding="utf-8"))


@bp.get("/openapi.json")
def openapi():
    return jsonify(openapi_document())


@health.get("/healthz")
def healthz():
    """Alive: the process answers."""
    return jsonify({"ok": True, "status": "alive"})


@health.get("/readyz")
def readyz():
    """Ready: the index is loaded (the app is only created once it is) and
    no scrub has found it damaged since (503, with the reason)."""
    state = app_state()
    retriever = state.retriever
    if state.holder.problem:
        return error_response(503, "Service Unavailable", [ParamError(None, state.holder.problem)])
    return jsonify({"ok": True, "status": "ready", "index": retriever.info()})
