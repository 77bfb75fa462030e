"""One test per request limit, each asserting the exact status and the exact
error document (issue: hardening), at the limit's default value."""

from __future__ import annotations

import json


def error_doc(status: int, name: str, param: str | None, message: str) -> dict:
    return {"ok": False, "status": status, "error": name, "errors": [{"param": param, "message": message}]}


def test_question_length_limit(client):
    expected = error_doc(400, "Bad Request", "q", "q is 1001 characters long; the limit is 1000")
    resp = client.get("/api/search", query_string={"q": "x" * 1001})
    assert resp.status_code == 400 and resp.get_json() == expected
    resp = client.post("/api/search", json={"q": "x" * 1001})
    assert resp.status_code == 400 and resp.get_json() == expected
    assert client.get("/api/search", query_string={"q": "x" * 1000}).status_code == 200


def test_query_terms_limit(client):
    expected = error_doc(400, "Bad Request", "q", "q has 65 search terms; the limit is 64")
    resp = client.get("/api/search", query_string={"q": " ".join(f"word{i}" for i in range(65))})
    assert resp.status_code == 400 and resp.get_json() == expected
    assert client.get("/api/search", query_string={"q": " ".join(f"word{i}" for i in range(64))}).status_code == 200


def test_k_limit(client):
    expected = error_doc(400, "Bad Request", "k", "k must be an integer from 1 to 50")
    for k in ("0", "51"):
        resp = client.get("/api/search", query_string={"q": "trusts", "k": k})
        assert resp.status_code == 400 and resp.get_json() == expected
    for k in (0, 51):
        resp = client.post("/api/search", json={"q": "trusts", "k": k})
        assert resp.status_code == 400 and resp.get_json() == expected
    assert client.get("/api/search", query_string={"q": "trusts", "k": "50"}).status_code == 200


def test_body_size_limit(client, app):
    expected = error_doc(413, "Request Entity Too Large", None,
                         "the request body is over the limit of 16384 bytes")
    body = json.dumps({"q": "x" * 16384}).encode()
    resp = client.post("/api/search", data=body, content_type="application/json")
    assert resp.status_code == 413 and resp.get_json() == expected


def test_url_length_limit(client):
    path = "/api/search?q="
    expected = error_doc(414, "Request URI Too Long", None,
                         "the URL is 12289 bytes long; the limit is 12288 bytes (use POST for long questions)")
    resp = client.get(path + "a" * (12289 - len(path)))
    assert resp.status_code == 414 and resp.get_json() == expected
