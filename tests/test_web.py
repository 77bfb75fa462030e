"""The web form and source view through Flask's test client."""

from __future__ import annotations

import html
import json
import re

import pytest
from markupsafe import escape

from service.qa.ask import search_json
from service import open_corpus
from service.web.app import SECURITY_HEADERS, create_app
from service.config import Config, IndexSettings
from service.index.build import ensure_index
from service.retrieval.retriever import Retriever

SEED_Q = "How many trusts attended the first Lorenzo user group meeting?"
LORENZO = "000_dee66f3a7b2b2239"
PAYLOADS = ["<script>alert(1)</script>", '"><img src=x onerror=alert(1)>']


def page(resp, status: int = 200) -> str:
    assert resp.status_code == status
    assert resp.mimetype == "text/html"
    for name, value in SECURITY_HEADERS.items():
        assert resp.headers[name] == value
    return resp.get_data(as_text=True)


def test_empty_form_is_labelled_and_uses_get(client):
    body = page(client.get("/"))
    assert '<form class="search" action="/" method="get" role="search">' in body
    assert '<label for="q">' in body and '<input id="q" name="q" type="search"' in body
    assert '<label for="k">' in body
    assert "<script" not in body and "style=" not in body  # nothing inline for the CSP to block
    assert '<ol class="hits">' not in body


def test_results_link_each_passage_to_its_place_in_the_source(client):
    body = page(client.get("/", query_string={"q": SEED_Q, "k": "5"}))
    links = re.findall(r'<a class="source-link" href="([^"]+)">\s*([^<]+)</a>', body)
    assert len(links) == 5
    href, text = links[0]
    assert text == LORENZO
    match = re.fullmatch(rf"/sources/{LORENZO}\?passage={LORENZO}%23(\d+)&amp;back=[^#]+#{LORENZO}#\1", href)
    assert match, href
    assert "<mark>trusts</mark>" in body and "<mark>Lorenzo</mark>" in body
    assert f'value="{escape(SEED_Q)}"' in body
    assert '<option value="5" selected>' in body


def test_a_k_typed_into_the_url_stays_selected(client):
    body = page(client.get("/?q=trusts&k=7"))
    assert '<option value="7" selected>' in body and body.count('class="hit"') == 7


def test_the_form_offers_the_ranking_and_keeps_the_chosen_one(client, make_corpus):
    assert '<option value="hybrid" selected>words and meaning</option>' in page(client.get("/"))
    body = page(client.get("/", query_string={"q": SEED_Q, "retrieval": "lexical"}))
    assert '<option value="lexical" selected>words only</option>' in body
    api = client.get("/api/search", query_string={"q": SEED_Q, "retrieval": "lexical"}).get_json()
    assert body.index(api["hits"][0]["id"]) < body.index(api["hits"][1]["id"])
    # An index without vectors offers no choice.
    folder = make_corpus({"a.txt": "Apples are red."})
    lexical = Retriever(ensure_index(Config(corpus=folder, semantic=False)))
    assert 'name="retrieval"' not in page(create_app(Config(corpus=folder), lexical).test_client().get("/?q=apples"))


def test_the_web_page_shows_what_the_api_returns(client):
    api = client.get("/api/search", query_string={"q": SEED_Q}).get_json()
    body = page(client.get("/", query_string={"q": SEED_Q}))
    positions = [body.index(h["highlights"]) for h in api["hits"]]
    assert positions == sorted(positions)
    assert f'{api["hits"][0]["score"]:.3f}' in body


def test_source_view_marks_and_anchors_the_linked_passage(client, seed_retriever):
    view = seed_retriever.source(LORENZO)
    linked = view.passages[2]
    body = page(client.get(f"/sources/{LORENZO}", query_string={"passage": linked["id"]}))
    marked = re.findall(r'<mark class="passage current" id="([^"]+)" aria-current="true">([^<]*)</mark>', body)
    assert marked == [(linked["id"], html.escape(view.text[linked["start_char"]:linked["end_char"]]))]
    for p in view.passages:
        assert f'id="{p["id"]}"' in body
    # The whole article is there, in order, once the markup is taken out.
    text = re.search(r'<div class="text">(.*?)</div>', body, re.S).group(1)
    assert html.unescape(re.sub(r"<[^>]+>", "", text)) == view.text


def test_source_view_shows_overlapping_passages_once(make_corpus):
    """With overlap_sentences, consecutive passages share sentences; the
    article must still be shown once, each passage anchored."""
    folder = make_corpus({"a.txt": "Title\n\n" + " ".join(f"Sentence number {i} is here." for i in range(12))})
    settings = IndexSettings(max_words=20, max_sentences=3, overlap_sentences=1)
    retriever = open_corpus(folder, settings=settings)
    view = retriever.source("a")
    assert any(b["start_char"] < a["end_char"] for a, b in zip(view.passages, view.passages[1:]))
    body = page(create_app(Config(corpus=folder, settings=settings), retriever).test_client()
                .get("/sources/a", query_string={"passage": "a#1"}))
    text = re.search(r'<div class="text">(.*?)</div>', body, re.S).group(1)
    assert html.unescape(re.sub(r"<[^>]+>", "", text)) == view.text
    for p in view.passages:
        assert f'id="{p["id"]}"' in body


def test_source_view_without_a_passage_marks_none(client):
    body = page(client.get(f"/sources/{LORENZO}?passage=nonsense"))
    assert "passage current" not in body


def test_unknown_source_is_an_html_404(client):
    body = page(client.get("/sources/../../etc/passwd"), 404)
    assert "There is no source with this ID" in body


def test_unknown_page_and_wrong_method_are_html_errors(client):
    assert "404 Not Found" in page(client.get("/nothing"), 404)
    resp = client.post("/", data={"q": "x"})
    assert "405 Method Not Allowed" in page(resp, 405) and "GET" in resp.headers["Allow"]


@pytest.mark.parametrize("query, fragment", [
    ({"q": ""}, "The question must not be empty"),
    ({"q": "x" * 1001}, "the limit is 1000"),
    ({"q": "trusts", "k": "500"}, "The number of passages must be an integer from 1 to 50"),
])
def test_bad_input_shows_the_form_with_the_problem(client, query, fragment):
    body = page(client.get("/", query_string=query), 400)
    assert 'role="alert"' in body and fragment in body and '<form class="search"' in body


def test_unknown_parameters_are_ignored_on_the_web(client):
    body = page(client.get("/?q=trusts&utm_source=mail&utm_source=feed"))
    assert 'class="hit"' in body


@pytest.mark.parametrize("payload", PAYLOADS)
def test_markup_in_the_question_is_shown_as_text(client, payload):
    body = page(client.get("/", query_string={"q": payload}))
    assert payload not in body
    assert str(escape(payload)) in body
    assert "<img" not in body and "<script" not in body


def test_markup_in_an_article_is_shown_as_text(make_corpus):
    folder = make_corpus({"x.txt": 'Cheese <img src=x onerror=alert(1)> & "wine".'})
    client = create_app(Config(corpus=folder), open_corpus(folder)).test_client()
    for body in (page(client.get("/?q=cheese")), page(client.get("/sources/x?passage=x%230"))):
        assert "<img" not in body and "&lt;img src=x onerror=alert(1)&gt;" in body


def test_source_links_are_only_web_addresses(tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in [
        {"_id": "good", "title": "Good", "url": "https://example.org/a", "text": "Cheese."},
        {"_id": "bad", "title": "Bad", "url": "javascript:alert(1)", "text": "Wine."},
    ]))
    client = create_app(Config(corpus=corpus), open_corpus(corpus)).test_client()
    assert 'href="https://example.org/a"' in page(client.get("/sources/good"))
    assert "javascript:" not in page(client.get("/sources/bad"))
    body = page(client.get("/?q=cheese"))
    assert '<a class="source-link"' in body and ">Good</a>" in body and '<span class="sid">good</span>' in body


def test_the_answer_comes_first_with_numbered_citations(client):
    body = page(client.get("/", query_string={"q": "How many NHS trusts were represented at the Lorenzo user group meeting?"}))
    assert body.index("Answer</h2>") < body.index('class="hits"')
    assert "Seven NHS trusts were represented" in body.split('class="answer-text">')[1].split("</blockquote>")[0]
    assert re.search(r'class="citation" href="/sources/000_dee66f3a7b2b2239\?passage=000_dee66f3a7b2b2239%230'
                     r'&amp;back=[^#"]+#000_dee66f3a7b2b2239#0">\[1\]', body)


def test_an_abstention_says_so_and_marks_the_passages_as_closest(client):
    body = page(client.get("/", query_string={"q": "Who won the rugby match in Leeds last weekend?"}))
    assert "The articles don't answer this question</h2>" in body
    assert "Closest passages to" in body and "(they do not answer it)" in body
    assert 'class="answer-text"' not in body


def test_answer_text_is_escaped(seed_retriever):
    fake = {"text": "Seven <b>trusts</b>.", "source_id": "x", "passage_id": "x#0", "start_char": 0,
            "end_char": 1, "citations": [{"source_id": "x", "passage_id": "x#0"}], "confidence": 0.9,
            "confident": True}
    app = create_app(Config(), seed_retriever, lambda *a, **kw: {**search_json(*a, **kw), "answer": fake})
    body = page(app.test_client().get("/?q=trusts"))
    assert "Seven &lt;b&gt;trusts&lt;/b&gt;." in body and "<b>trusts" not in body


def test_the_stylesheet_is_served_with_the_headers(client):
    resp = client.get("/static/style.css")
    assert resp.status_code == 200 and resp.mimetype == "text/css"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "@media (max-width: 30rem)" in resp.get_data(as_text=True)


@pytest.mark.parametrize("method, path, headers", [
    ("get", "/static/style.css", {}),
    ("get", "/static/style.css", {"If-Modified-Since": "Fri, 01 Jan 2100 00:00:00 GMT"}),  # 304
    ("get", "/static/missing.css", {}),
    ("head", "/", {}),
    ("options", "/api/search", {}),
    ("get", "/api/search?q=" + "a" * 13000, {}),
    ("get", "/?q=" + "a" * 13000, {}),
    ("post", "/api/search", {"Content-Type": "text/plain"}),
    ("post", "/sources/x", {}),
])
def test_every_kind_of_response_carries_the_security_headers(client, method, path, headers):
    resp = getattr(client, method)(path, headers=headers)
    for name, value in SECURITY_HEADERS.items():
        assert resp.headers[name] == value, (resp.status_code, name)


def test_a_security_header_a_view_sets_itself_is_kept_once(seed_retriever):
    from flask import make_response

    app = create_app(Config(), seed_retriever)
    own = "default-src 'self'"

    @app.get("/own-policy")
    def own_policy():
        resp = make_response("ok")
        resp.headers["content-security-policy"] = own  # any case: header names are not
        return resp

    resp = app.test_client().get("/own-policy")
    assert resp.headers.getlist("Content-Security-Policy") == [own]
    for name, value in SECURITY_HEADERS.items():
        if name != "Content-Security-Policy":
            assert resp.headers.getlist(name) == [value]
    assert resp.headers["X-Index-Version"] == seed_retriever.stored.path.name


def test_an_unexpected_error_is_a_500_with_the_security_headers(seed_retriever):
    def broken(*args):
        raise RuntimeError("a bug")

    resp = create_app(Config(), seed_retriever, broken).test_client().get("/api/search?q=trusts")
    assert resp.status_code == 500 and resp.get_json()["status"] == 500 and "a bug" not in resp.get_data(as_text=True)
    for name, value in SECURITY_HEADERS.items():
        assert resp.headers[name] == value


def test_a_possible_answer_is_shown_as_not_sure_with_its_confidence(seed_retriever):
    fake = {"text": "Seven trusts.", "source_id": "x", "passage_id": "x#0", "start_char": 0, "end_char": 1,
            "citations": [{"source_id": "x", "passage_id": "x#0"}], "confidence": 0.42, "confident": False}
    app = create_app(Config(), seed_retriever, lambda *a, **kw: {**search_json(*a, **kw), "answer": fake})
    body = page(app.test_client().get("/?q=trusts"))
    assert "Possible answer (not sure)</h2>" in body and "Confidence 0.42" in body
    assert 'class="answer possible"' in body and "Answer</h2>" not in body
