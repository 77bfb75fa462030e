"""Property tests: whatever arrives, every endpoint answers with a documented
status, errors in the documented JSON shape, and HTML never echoes input
unescaped.  2,000 derandomized cases per endpoint (``st.characters()``
includes lone surrogates; NULs, RTL marks, combining characters and 10 kB
strings are mixed in on purpose)."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytestmark = pytest.mark.slow  # the fast tier (-m 'not slow') leaves it out

CASES = settings(max_examples=2000, derandomize=True, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                        HealthCheck.data_too_large])

API_STATUSES = {200, 400, 404, 405, 413, 414, 415}
HTML_STATUSES = {200, 400, 404, 405, 414}
SPECIAL = ["\x00", "\u202e", "\u200f", "e\u0301", "\ud800", "\udfff", "<script>", "\"'><img src=x>", "&amp;",
           "Lorenzo", "trusts", " "]

texts = st.one_of(
    st.text(st.characters(), max_size=40),
    st.lists(st.sampled_from(SPECIAL) | st.text(st.characters(), max_size=3), max_size=12).map("".join),
    st.builds(lambda c, n: c * n, st.sampled_from(["a", "é", "\u202e", "word "]), st.integers(1000, 10_000)),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)


def wire(text: str) -> str:
    """Percent-encode as a client would put it on the wire; a lone surrogate
    becomes the invalid UTF-8 bytes it would be sent as."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def check_api(resp) -> None:
    assert resp.status_code in API_STATUSES, resp.status_code
    doc = resp.get_json()
    assert isinstance(doc, dict)
    if resp.status_code >= 400:
        assert doc["ok"] is False and doc["status"] == resp.status_code
        assert isinstance(doc["error"], str) and doc["errors"]
        assert all(isinstance(e["message"], str) for e in doc["errors"])
    else:
        assert doc["ok"] is True and isinstance(doc["hits"], list)


class _Tags(HTMLParser):
    """Collects the tags and attribute names a page really has."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attrs: set[str] = set()

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs.update(name for name, _ in attrs)


#: Every element our templates use; anything else on a page was injected.
PAGE_TAGS = {"html", "head", "meta", "title", "link", "body", "header", "main", "footer", "nav", "form",
             "label", "div", "input", "button", "select", "option", "span", "section", "h1", "h2", "h3", "p",
             "ul", "ol", "li", "a", "q", "blockquote", "mark", "article", "code", "small", "strong", "em", "dl",
             "dt", "dd", "pre", "br", "abbr", "time", "fieldset", "legend", "details", "summary", "table", "thead",
             "tbody", "tr", "th", "td"}


def check_html(resp, *inputs: str) -> None:
    assert resp.status_code in HTML_STATUSES, resp.status_code
    body = resp.get_data(as_text=True)
    parser = _Tags()
    parser.feed(body)
    assert parser.tags <= PAGE_TAGS, parser.tags - PAGE_TAGS
    assert not any(a.startswith("on") for a in parser.attrs)
    for text in inputs:
        if "<" in text:
            assert text not in body


@CASES
@given(q=texts, k=st.one_of(texts, st.integers(-5, 60).map(str)), extra=st.booleans())
def test_api_search_get(client, q, k, extra):
    url = f"/api/search?q={wire(q)}&k={wire(k)}" + ("&x=1" if extra else "")
    check_api(client.get(url))


#: Values for the filters, order, page and explain: real ones among the noise.
option_values = st.one_of(texts, st.sampled_from(["000_dee66f3a7b2b2239", "2014-06-03", "2014-02-30", "date",
                                                  "relevance", "0", "1000", "1001", "-1", "true", "false"]))
OPTIONS = ["source", "date_from", "date_to", "sort", "offset", "explain"]


@CASES
@given(q=texts, options=st.lists(st.tuples(st.sampled_from(OPTIONS), option_values), max_size=6))
def test_api_search_get_with_filters(client, q, options):
    url = f"/api/search?q={wire(q)}" + "".join(f"&{name}={wire(value)}" for name, value in options)
    check_api(client.get(url))


@CASES
@given(offset=option_values, limit=option_values)
def test_api_list_of_sources(client, offset, limit):
    resp = client.get(f"/api/sources?offset={wire(offset)}&limit={wire(limit)}")
    assert resp.status_code in (200, 400, 414)
    doc = resp.get_json()
    assert doc["ok"] is (resp.status_code == 200)
    assert isinstance(doc["sources"] if doc["ok"] else doc["errors"], list)


@CASES
@given(q=texts, options=st.lists(st.tuples(st.sampled_from(OPTIONS), option_values), max_size=6), back=texts)
def test_form_page_with_filters_and_the_way_back(client, q, options, back):
    query = "".join(f"&{name}={wire(value)}" for name, value in options)
    check_html(client.get(f"/?q={wire(q)}{query}"), q, *(v for _, v in options))
    check_html(client.get(f"/sources/000_dee66f3a7b2b2239?back={wire(back)}"), back)
    check_html(client.get(f"/sources?{query[1:]}"), *(v for _, v in options))


@CASES
@given(body=st.one_of(json_values, st.dictionaries(st.sampled_from(["q", "k", *OPTIONS]) | texts, json_values,
                                                   max_size=4)),
       deep=st.integers(0, 3000))
def test_api_search_post_json(client, body, deep):
    raw = json.dumps(body)
    if deep:
        raw = "[" * deep + raw + "]" * deep
    check_api(client.post("/api/search", data=raw.encode("utf-8", "surrogatepass"),
                          content_type="application/json"))


@CASES
@given(raw=st.binary(max_size=400), ctype=st.sampled_from(
    ["application/json", "text/plain", "application/x-www-form-urlencoded", "", "application/json; charset=latin-1"]))
def test_api_search_post_bytes(client, raw, ctype):
    check_api(client.post("/api/search", data=raw, content_type=ctype or None))


@CASES
@given(source_id=texts)
def test_api_sources(client, source_id):
    if not source_id:
        return
    check_api(client.get("/api/sources/" + wire(source_id)))


@CASES
@given(q=texts, k=st.one_of(texts, st.integers(-5, 60).map(str)))
def test_form_page(client, q, k):
    check_html(client.get(f"/?q={wire(q)}&k={wire(k)}"), q, k)


@CASES
@given(source_id=texts, passage=texts)
def test_source_page(client, source_id, passage):
    if not source_id:
        return
    check_html(client.get(f"/sources/{wire(source_id)}?passage={wire(passage)}"), source_id, passage)


@pytest.mark.parametrize("path", ["../../etc/passwd", "..%2F..%2Fetc%2Fpasswd", "%2e%2e/%2e%2e/etc/passwd",
                                  "/etc/passwd", "000_dee66f3a7b2b2239/../../README.md", "..\\..\\pyproject.toml"])
def test_traversal_attempts_reach_no_file(client, path):
    for prefix in ("/api/sources/", "/sources/"):
        resp = client.get(prefix + path)
        assert resp.status_code == 404
        assert b"root:" not in resp.data and b"[project]" not in resp.data


def test_no_regex_is_built_at_request_time():
    """No user text reaches a regex as a pattern: every ``re`` call in the
    service is at module level, so every pattern is fixed at import, before
    any request or corpus exists (user text is only ever a subject)."""
    import ast
    from pathlib import Path

    service_dir = Path(__file__).resolve().parent.parent / "service"
    inside_functions = []
    for file in sorted(service_dir.glob("*.py")):
        tree = ast.parse(file.read_text(encoding="utf-8"))
        assert not any(isinstance(n, ast.ImportFrom) and n.module in ("re", "regex") for n in ast.walk(tree)), file
        for func in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))):
            for call in (n for n in ast.walk(func) if isinstance(n, ast.Call)):
                target = call.func
                if isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name) and target.value.id == "re":
                    inside_functions.append(f"{file.name}:{call.lineno} re.{target.attr}")
    assert inside_functions == []
