"""The JSON API through Flask's test client, every response checked against
the OpenAPI document (``service/openapi.json``)."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_spec_validator import validate as validate_spec

from service import open_corpus
from service.web.api import openapi_document
from service.web.app import SECURITY_HEADERS, create_app
from service.config import BUNDLED_CORPUS, Config
from service.qa.ask import search_json
from service.retrieval.retriever import Retriever

SEED_Q = "How many trusts attended the first Lorenzo user group meeting?"
LORENZO = "000_dee66f3a7b2b2239"
SPEC = openapi_document()
OPENAPI = OpenAPI.from_dict(SPEC)
ERROR_SCHEMA = SPEC["components"]["schemas"]["Error"]


def undocumented(instance, schema) -> list[str]:
    """Keys in a response that the OpenAPI document does not describe."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return undocumented(instance, SPEC["components"]["schemas"][name])
    found = []
    if isinstance(instance, dict) and "properties" in schema and "additionalProperties" not in schema:
        found += sorted(set(instance) - set(schema["properties"]))
        for key, value in instance.items():
            if key in schema["properties"]:
                found += undocumented(value, schema["properties"][key])
    if isinstance(instance, list) and "items" in schema:
        for item in instance:
            found += undocumented(item, schema["items"])
    return found


def conforms(resp, path_pattern: str | None = None):
    """Assert ``resp`` is what the OpenAPI document promises; return its JSON."""
    assert resp.mimetype == "application/json"
    doc = resp.get_json()
    for name, value in SECURITY_HEADERS.items():
        assert resp.headers[name] == value
    if resp.status_code >= 400:
        assert doc["ok"] is False and doc["status"] == resp.status_code and doc["errors"]
        import jsonschema

        jsonschema.validate(doc, ERROR_SCHEMA)
    req = resp.request
    operation = SPEC["paths"].get(path_pattern or req.path, {}).get(req.method.lower())
    if operation and str(resp.status_code) in operation["responses"]:
        OPENAPI.validate_response(
            MockRequest("http://localhost", req.method.lower(), req.path, path_pattern=path_pattern,
                        args=dict(req.args)),
            MockResponse(resp.data, status_code=resp.status_code, content_type=resp.mimetype),
        )
        schema = operation["responses"][str(resp.status_code)]
        if "$ref" in schema:
            schema = SPEC["components"]["responses"][schema["$ref"].rsplit("/", 1)[1]]
        assert undocumented(doc, schema["content"]["application/json"]["schema"]) == []
    else:
        assert resp.status_code in (404, 405), f"{req.method} {req.path} {resp.status_code} is undocumented"
    return doc


def test_the_openapi_document_is_valid_and_served(client):
    validate_spec(SPEC)
    assert conforms(client.get("/api/openapi.json")) == SPEC


# -- search -----------------------------------------------------------------


def test_search_finds_the_lorenzo_article_with_the_documented_shape(client):
    doc = conforms(client.get("/api/search", query_string={"q": SEED_Q}))
    assert doc["ok"] is True and doc["query"] == SEED_Q and doc["k"] == 10
    assert doc["total"] >= len(doc["hits"]) == 10
    assert doc["abstained"] is False and doc["reason"] is None
    assert doc["answer"]["source_id"] == LORENZO and "Seven NHS trusts" in doc["answer"]["text"]
    assert doc["hits"][0]["source_id"] == LORENZO
    assert [h["rank"] for h in doc["hits"]] == list(range(1, 11))
    assert doc["retrieval"] == "hybrid"  # the seed index has passage vectors
    ranks = [h["rank_score"] for h in doc["hits"]]
    assert ranks == sorted(ranks, reverse=True)
    assert all(-1.0 <= h["semantic_score"] <= 1.0 for h in doc["hits"])
    assert "<mark>trusts</mark>" in " ".join(h["highlights"] for h in doc["hits"])


def test_lexical_retrieval_orders_by_bm25_alone(client, seed_retriever):
    doc = conforms(client.get("/api/search", query_string={"q": SEED_Q, "retrieval": "lexical"}))
    assert doc["retrieval"] == "lexical"
    scores = [h["score"] for h in doc["hits"]]
    assert scores == sorted(scores, reverse=True)
    assert all(h["semantic_score"] is None and h["rank_score"] == h["score"] for h in doc["hits"])
    plain = seed_retriever.search(SEED_Q, 10, "lexical")
    assert [h["id"] for h in doc["hits"]] == [h.passage_id for h in plain.hits]


def test_hits_quote_their_source_exactly(client):
    doc = conforms(client.get("/api/search", query_string={"q": "BT London write-down", "k": 5}))
    for hit in doc["hits"]:
        source = conforms(client.get(f"/api/sources/{hit['source_id']}"), "/api/sources/{source_id}")
        assert source["text"][hit["start_char"]:hit["end_char"]] == hit["text"]
        assert hit["id"] in {p["id"] for p in source["passages"]}


def test_get_and_post_give_the_same_document(client, seed_retriever):
    got = conforms(client.get("/api/search", query_string={"q": " Lorenzo trusts ", "k": "3"}))
    posted = conforms(client.post("/api/search", json={"q": " Lorenzo trusts ", "k": 3}))
    direct = search_json(seed_retriever, "Lorenzo trusts", 3)
    for d in (got, posted, direct):
        d.pop("took_ms")
    assert got == posted == direct
    assert got["query"] == "Lorenzo trusts"


def test_post_accepts_json_with_a_charset_and_vendor_types(client):
    for ctype in ("application/json; charset=utf-8", "application/vnd.api+json"):
        resp = client.post("/api/search", data=json.dumps({"q": "trusts"}), content_type=ctype)
        assert conforms(resp)["hits"]


def test_no_match_is_an_empty_success(client):
    doc = conforms(client.get("/api/search?q=zzzqqq"))
    assert doc["hits"] == [] and doc["total"] == 0


def test_highlights_escape_the_source_before_marking(make_corpus):
    folder = make_corpus({"x.txt": 'Tom & Jerry wrote <script>alert("cheese")</script> about cheese.'})
    client = create_app(Config(corpus=folder), open_corpus(folder)).test_client()
    hit = conforms(client.get("/api/search?q=cheese"))["hits"][0]
    assert hit["highlights"] == ("Tom &amp; Jerry wrote &lt;script&gt;alert(&quot;<mark>cheese</mark>&quot;)"
                                 "&lt;/script&gt; about <mark>cheese</mark>.")
    assert '<script>alert("cheese")</script>' in hit["text"]


# -- search errors ----------------------------------------------------------


def errors_of(resp, status: int) -> list[tuple[str | None, str]]:
    assert resp.status_code == status, resp.get_data(as_text=True)
    doc = conforms(resp)
    return [(e["param"], e["message"]) for e in doc["errors"]]


@pytest.mark.parametrize("query, param, fragment", [
    ({}, "q", "q (the question) is required"),
    ({"q": ""}, "q", "must not be empty"),
    ({"q": "   "}, "q", "must not be empty"),
    ({"q": "x" * 1001}, "q", "1001 characters long; the limit is 1000"),
    ({"q": "trusts " * 65}, "q", "65 search terms; the limit is 64"),
    ({"q": "a", "k": "ten"}, "k", "k must be an integer from 1 to 50"),
    ({"q": "a", "k": "0"}, "k", "k must be an integer from 1 to 50"),
    ({"q": "a", "k": "51"}, "k", "k must be an integer from 1 to 50"),
    ({"q": "a", "k": "2.5"}, "k", "k must be an integer from 1 to 50"),
    ({"q": "a", "size": "3", "from": "1"}, None, "unknown parameter(s) 'from', 'size'"),
    ({"q": ["a", "b"]}, "q", "'q' is given 2 times"),
])
def test_get_search_errors_name_the_problem(client, query, param, fragment):
    [(got_param, message)] = errors_of(client.get("/api/search", query_string=query), 400)
    assert got_param == param and fragment in message


def test_limits_are_inclusive(client):
    assert conforms(client.get("/api/search", query_string={"q": "x" * 1000, "k": "50"}))["k"] == 50
    # Stopwords are not search terms: 65 words, of which 64 count.
    assert conforms(client.get("/api/search", query_string={"q": "the " + "trusts " * 64}))["ok"]


def test_all_problems_come_back_together(client):
    found = errors_of(client.get("/api/search?q=&k=0&page=2"), 400)
    assert [p for p, _ in found] == [None, "q", "k"]


@pytest.mark.parametrize("body, param, fragment", [
    ({"k": 3}, "q", "required"),
    ({"q": None}, "q", "must be a string"),  # null is a value given, not an absent key
    ({"q": 42}, "q", "must be a string"),
    ({"q": ["a"]}, "q", "must be a string"),
    ({"q": " \t "}, "q", "must not be empty"),  # trimmed first, as the schema says
    ({"q": "a", "k": "3"}, "k", "integer"),
    ({"q": "a", "k": None}, "k", "integer"),
    ({"q": "a", "k": 3.5}, "k", "integer"),
    ({"q": "a", "k": True}, "k", "integer"),
    ({"q": "a", "k": 99}, "k", "integer"),
    ({"q": "a", "k": 99.0}, "k", "integer"),
    ({"q": "a", "retrieval": None}, "retrieval", "lexical or hybrid"),
    ({"q": "a", "query": "b"}, None, "unknown parameter(s) 'query'"),
])
def test_post_search_errors_name_the_problem(client, body, param, fragment):
    [(got_param, message)] = errors_of(client.post("/api/search", json=body), 400)
    assert got_param == param and fragment in message


def test_a_whole_float_k_is_an_integer_as_json_schema_says(client):
    doc = conforms(client.post("/api/search", json={"q": "Lorenzo trusts", "k": 2.0}))
    assert doc["k"] == 2 and len(doc["hits"]) == 2


@pytest.mark.parametrize("body, names", [
    (b'{"q": "trusts", "q": "Lorenzo"}', ["q"]),
    (b'{"q": "trusts", "k": 1, "k": 2, "k": 3}', ["k"]),
    (b'{"q": "trusts", "k": 1, "retrieval": "lexical", "k": 2, "retrieval": "hybrid"}', ["k", "retrieval"]),
])
def test_a_json_key_given_twice_is_refused_like_a_repeated_query_parameter(client, body, names):
    found = errors_of(client.post("/api/search", data=body, content_type="application/json"), 400)
    assert [p for p, _ in found] == names and all("times; give it once" in m for _, m in found)


def test_a_repeated_key_gets_the_same_message_in_json_and_in_a_query_string(client):
    in_json = errors_of(client.post("/api/search", data=b'{"q": "a", "q": "b"}', content_type="application/json"), 400)
    assert in_json == errors_of(client.get("/api/search?q=a&q=b"), 400) == [("q", "'q' is given 2 times; give it once")]


@pytest.mark.parametrize("raw, fragment", [
    (b'{"q": "a",}', "not valid JSON"),
    (b"\xff\xfe\xfa", "not valid JSON"),
    (b"", "not valid JSON"),
    (b'["q"]', "must be an object"),
    (b"[" * 5000 + b"]" * 5000, "nested too deeply"),
    (b'{"q":' * 2000 + b"1" + b"}" * 2000, "nested too deeply"),
])
def test_malformed_and_deeply_nested_json_is_400(client, raw, fragment):
    [(_, message)] = errors_of(client.post("/api/search", data=raw, content_type="application/json"), 400)
    assert fragment in message


def test_post_parameters_belong_in_the_body(client):
    [(_, message)] = errors_of(client.post("/api/search?k=3", json={"q": "a"}), 400)
    assert "not in the query string (got 'k')" in message


@pytest.mark.parametrize("kwargs", [
    {"data": {"q": "trusts"}},  # a form post
    {"data": '{"q": "trusts"}', "content_type": "text/plain"},
    {"data": '{"q": "trusts"}'},  # no content type at all
])
def test_wrong_content_type_is_415(client, kwargs):
    [(_, message)] = errors_of(client.post("/api/search", **kwargs), 415)
    assert "application/json" in message


def test_one_body_size_rule_with_or_without_a_length(client, app):
    """A body of the limit's size passes, one byte more is a 413, whether
    it declares its length or comes chunked (announcing none)."""
    limit = app.extensions["groundedqa"].config.max_body_bytes

    def post(body: bytes, chunked: bool):
        framing = ({"input_stream": io.BytesIO(body), "headers": {"Transfer-Encoding": "chunked"},
                    "environ_overrides": {"wsgi.input_terminated": True}} if chunked else {"data": body})
        return client.post("/api/search", content_type="application/json", **framing)

    head = json.dumps({"q": "trusts"}).encode()
    fits = head + b" " * (limit - len(head))
    for chunked in (False, True):
        assert conforms(post(fits, chunked))["ok"]
        [(_, message)] = errors_of(post(fits + b" ", chunked), 413)
        assert str(limit) in message


def test_a_1000_character_question_fits_the_body_limit_even_fully_escaped(client):
    body = json.dumps({"q": "\U0001F600" * 1000})  # every character a \\ud83d\\ude00 pair
    assert conforms(client.post("/api/search", data=body, content_type="application/json"))["ok"]


def test_lone_surrogates_are_refused_not_crashed_on(client):
    raw = b'{"q": "trusts \\ud800", "\\udfff": 1}'
    found = errors_of(client.post("/api/search", data=raw, content_type="application/json"), 400)
    assert found == [(None, "unknown parameter(s) '\\udfff'; the parameters are q, k, retrieval, "
                            "source, date_from, date_to, sort, offset, explain"),
                     ("q", "q is not valid Unicode text (it contains a lone surrogate)")]
    # In a URL, bytes that are not UTF-8 never become surrogates.
    assert client.get("/api/search?q=%ED%A0%80trusts").status_code == 200
    assert conforms(client.get("/api/sources/%ED%A0%80"), "/api/sources/{source_id}")["status"] == 404


@pytest.mark.parametrize("method, path, allowed", [
    ("delete", "/api/search", "GET, HEAD, OPTIONS, POST"),
    ("put", "/api/search", "GET, HEAD, OPTIONS, POST"),
    ("post", f"/api/sources/{LORENZO}", "GET, HEAD, OPTIONS"),
    ("post", "/api/openapi.json", "GET, HEAD, OPTIONS"),
    ("post", "/healthz", "GET, HEAD, OPTIONS"),
    ("delete", "/readyz", "GET, HEAD, OPTIONS"),
])
def test_wrong_method_is_405_in_json_with_allow(client, method, path, allowed):
    resp = getattr(client, method)(path)
    [(_, message)] = errors_of(resp, 405)
    assert sorted(resp.headers["Allow"].split(", ")) == allowed.split(", ") and message.endswith(f"use {allowed}")


def test_unknown_api_path_is_404_json(client):
    errors_of(client.get("/api/nothing-here"), 404)
    errors_of(client.get("/api"), 404)


# -- sources ----------------------------------------------------------------


def test_source_returns_the_article_and_passage_spans(client, seed_articles):
    doc = conforms(client.get(f"/api/sources/{LORENZO}"), "/api/sources/{source_id}")
    article = next(a for a in seed_articles if a.source_id == LORENZO)
    assert doc["source_id"] == LORENZO and doc["text"] == article.text
    spans = [(p["start_char"], p["end_char"]) for p in doc["passages"]]
    assert spans == sorted(spans) and all(0 <= s < e <= len(article.text) for s, e in spans)
    assert doc["passages"][0]["id"] == f"{LORENZO}#0"


@pytest.mark.parametrize("source_id", ["nope", "..%2F..%2Fetc%2Fpasswd", "../../etc/passwd", "corpus/000_dee66f3a7b2b2239.txt",
                                       f"{LORENZO}.txt", "%00"])
def test_unknown_or_path_like_source_is_404(client, source_id):
    [(_, message)] = errors_of(client.get(f"/api/sources/{source_id}"), 404)
    assert message.startswith("no source with ID")


def test_source_metadata_is_returned(make_corpus, tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text(json.dumps({"_id": "a/b 1", "title": "T", "url": "https://example.org/x",
                                  "text": "Some text about cheese."}) + "\n")
    client = create_app(Config(corpus=corpus), open_corpus(corpus)).test_client()
    doc = conforms(client.get("/api/sources/a/b%201"), "/api/sources/{source_id}")
    assert doc["source_id"] == "a/b 1" and doc["metadata"] == {"title": "T", "url": "https://example.org/x"}
    hit = conforms(client.get("/api/search?q=cheese"))["hits"][0]
    assert hit["source"] == {"title": "T", "url": "https://example.org/x"}


# -- health -----------------------------------------------------------------


def test_healthz_and_readyz(client, seed_retriever):
    assert conforms(client.get("/healthz")) == {"ok": True, "status": "alive"}
    ready = conforms(client.get("/readyz"))
    assert ready["index"]["passages"] == seed_retriever.n_passages
    assert ready["index"]["sources"] == 5
    assert ready["index"]["version"] == seed_retriever.stored.path.name


def test_readyz_keeps_its_schema_after_an_add(tmp_path):
    """/readyz conforms after an ``add``, and its corpus digest is a full build's of the same articles."""
    from service.cli import main

    article = tmp_path / "new_article.txt"
    article.write_text("A yellow submarine surfaced in the harbour.", encoding="utf-8")
    idx = tmp_path / "idx"
    assert main(["index", "--corpus", str(BUNDLED_CORPUS), "--index", str(idx), "--no-semantic"]) == 0
    assert main(["add", "--index", str(idx), str(article)]) == 0
    client = create_app(Config(), Retriever.open(idx)).test_client()
    ready = conforms(client.get("/readyz"))
    assert ready["index"]["sources"] == 6
    both = tmp_path / "both"
    both.mkdir()
    for f in [*BUNDLED_CORPUS.iterdir(), article]:
        (both / f.name).write_bytes(f.read_bytes())
    full = tmp_path / "full"
    assert main(["index", "--corpus", str(both), "--index", str(full), "--no-semantic", "--full"]) == 0
    assert ready["index"]["corpus_fingerprint"] == Retriever.open(full).stored.manifest["corpus_fingerprint"]


# -- nothing gives a 500 ----------------------------------------------------

_texts = st.text() | st.sampled_from(["\ud800", "a\udfffb", "\x00", "<script>", "trusts " * 70])
_values = st.one_of(_texts, st.integers(), st.floats(), st.booleans(), st.none(),
                    st.lists(st.text(), max_size=3), st.dictionaries(st.text(), st.text(), max_size=2))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.dictionaries(st.sampled_from(["q", "k", "x", "\ud800"]) | _texts, _values, max_size=4),
                      _values))
def test_no_json_body_gives_a_500(client, body):
    resp = client.post("/api/search", data=json.dumps(body), content_type="application/json")
    assert resp.status_code in (200, 400)
    conforms(resp)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=st.dictionaries(st.sampled_from(["q", "k"]) | st.text(min_size=1), st.text(), max_size=3))
def test_no_query_string_gives_a_500(client, query):
    for path in ("/api/search", "/"):
        resp = client.get(path, query_string=query)
        assert resp.status_code in (200, 400)
    conforms(client.get("/api/search", query_string=query))


def test_url_over_the_length_limit_is_414(client, app):
    limit = app.extensions["groundedqa"].config.max_url_bytes
    path = "/api/search?q="
    [(_, message)] = errors_of(client.get(path + "a" * (limit - len(path) + 1)), 414)
    assert message == f"the URL is {limit + 1} bytes long; the limit is {limit} bytes (use POST for long questions)"
    assert client.get(path + "a" * (limit - len(path) - 10)).status_code == 400  # 1000-char cap, not URL cap
    assert client.get("/?q=" + "a" * limit).status_code == 414


def test_debug_is_off_outside_tests(app):
    assert app.debug is False and app.testing is False


def test_flask_debug_in_the_environment_does_not_turn_debug_on(monkeypatch, seed_retriever):
    monkeypatch.setenv("FLASK_DEBUG", "1")
    app = create_app(Config(), seed_retriever)
    assert app.debug is False
    assert app.test_client().get("/healthz").data == b'{"ok":true,"status":"alive"}\n'  # compact, not debug's indent
