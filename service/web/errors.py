"""Errors: JSON in one shape under ``/api`` (and the health checks), an HTML page elsewhere.

Every 4xx/5xx under ``/api`` has one shape, documented in
``service/web/openapi.json``::

    {"ok": false, "status": 400, "error": "Bad Request",
     "errors": [{"param": "k", "message": "k must be an integer from 1 to 50"}]}
"""

from __future__ import annotations

import logging

from flask import Response, jsonify, make_response, render_template, request
from werkzeug.exceptions import (HTTPException, InternalServerError, MethodNotAllowed, RequestEntityTooLarge,
                                 ServiceUnavailable)

from ..retrieval.reload import IndexUnavailable

from .state import app_state
from .validation import ParamError

log = logging.getLogger(__name__)

#: Paths whose errors are JSON (for programs) rather than HTML (for people).
_JSON_PATHS = ("/api/", "/healthz", "/readyz")


def error_response(status: int, name: str, errors: list[ParamError]) -> tuple[Response, int]:
    return jsonify({
        "ok": False,
        "status": status,
        "error": name,
        "errors": [{"param": e.param, "message": e.message} for e in errors],
    }), status


def json_error(exc: HTTPException) -> tuple[Response, int]:
    """Any HTTP error (404, 405, 413, 415, ...) in the API's JSON shape."""
    status = exc.code or 500
    return error_response(status, exc.name, [ParamError(None, exc.description or exc.name)])



def html_error(exc: HTTPException):
    """Any HTTP error as the site's error page, for people."""
    return render_template("error.html", error=exc), exc.code or 500


def wants_json() -> bool:
    return request.path == "/api" or request.path.startswith(_JSON_PATHS)


def handle_http_error(exc: HTTPException) -> Response:
    """JSON for programs, HTML for people; either way keeping the headers the
    error carries (``Allow`` on a 405)."""
    if isinstance(exc, RequestEntityTooLarge):
        exc.description = f"the request body is over the limit of {app_state().config.max_body_bytes} bytes"
    elif isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        exc.description = f"{request.method} is not allowed here; use {', '.join(sorted(exc.valid_methods))}"
    response = make_response(json_error(exc) if wants_json() else html_error(exc))
    for name, value in exc.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response


def handle_unavailable(exc: IndexUnavailable) -> Response:
    """No sound index (a scrub found the live one damaged, and no other is
    sound): a 503 that says so, never an answer from damaged arrays."""
    return handle_http_error(ServiceUnavailable(f"no sound index to search: {exc}"))


def handle_unexpected_error(exc: Exception):
    """A bug, not bad input: logged with its traceback, answered with a
    plain 500 that shows none of it."""
    log.exception("unhandled error on %s %s", request.method, request.path)
    return handle_http_error(InternalServerError())
