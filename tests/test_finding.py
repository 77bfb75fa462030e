"""Finding things in a dated archive: filters, order, pages, the list of
sources and explain, through the API, the web form and ``ask``."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from html import unescape
from pathlib import Path

import pytest

from service import open_corpus
from service.cli import main
from service.config import BUNDLED_CORPUS, Config
from service.qa.ask import Options, search_json
from service.retrieval.collection import Filters
from service.web.app import create_app
from test_api import conforms, errors_of

DAYS = ["2014-06-03", "2014-06-03", "2013-01-15", "2015-11-30T08:00:00Z", None, "2012-02-29", None, "2014-12-01"]


def article(i: int) -> str:
    words = " ".join(["budget"] * (1 + i % 3))
    body = (f"The council discussed the {words} plans in story {i}. Officials said the budget vote was close.\n\n"
            f"Story {i} also covered the harbour and the ferry timetable for the summer.\n")
    day = DAYS[i]
    if day is None:
        return body
    return f"---\ntitle: Story number {i}\ndate: {day}\nurl: https://news.test/{i}\n---\n\n{body}"


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    folder = tmp_path_factory.mktemp("archive")
    for i in range(len(DAYS)):
        (folder / f"s{i}.txt").write_text(article(i), encoding="utf-8")
    return open_corpus(folder, tmp_path_factory.mktemp("archive-index"))


@pytest.fixture(scope="module")
def app(archive):
    app = create_app(Config(), archive)
    app.testing = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()


def get(client, **params):
    return conforms(client.get("/api/search", query_string=params), "/api/search")


def test_a_source_filter_keeps_only_its_passages_and_counts_them(client, archive):
    doc = get(client, q="budget harbour", source=["s2", "s5"], k=10, retrieval="lexical")
    assert {h["source_id"] for h in doc["hits"]} == {"s2", "s5"}
    matching = sum(1 for h in archive.search("budget harbour", k=50, retrieval="lexical").hits
                   if h.source_id in ("s2", "s5"))
    assert doc["total"] == matching == len(doc["hits"])
    assert doc["filters"] == {"source": ["s2", "s5"], "date_from": None, "date_to": None}
    post = conforms(client.post("/api/search", json={"q": "budget harbour", "source": "s2", "retrieval": "lexical"}),
                    "/api/search")
    assert {h["source_id"] for h in post["hits"]} == {"s2"}


def test_dates_are_inclusive_and_leave_undated_articles_out(client):
    doc = get(client, q="budget", date_from="2014-06-03", date_to="2015-11-30", k=50)
    assert {h["source_id"] for h in doc["hits"]} == {"s0", "s1", "s3", "s7"}
    doc = get(client, q="budget", date_to="2013-01-15", k=50)
    assert {h["source_id"] for h in doc["hits"]} == {"s2", "s5"}


def test_sort_by_date_is_newest_first_relevance_breaking_ties(client, archive):
    doc = get(client, q="budget", sort="date", k=50, retrieval="lexical")
    days = [h["source"].get("date", "")[:10] for h in doc["hits"]]
    dated = [d for d in days if d]
    assert dated == sorted(dated, reverse=True) and days[-1] == "" and days.index("") == len(dated)
    same_day = [h["score"] for h in doc["hits"] if h["source"].get("date") == "2014-06-03"]
    assert same_day == sorted(same_day, reverse=True) and len(same_day) >= 2
    assert doc["total"] == archive.search("budget", k=50, retrieval="lexical").total == len(doc["hits"])


@pytest.mark.parametrize("sort", ["relevance", "date"])
def test_pages_join_into_the_whole_ranking(client, sort):
    whole = get(client, q="budget ferry", k=12, sort=sort)
    pages = [get(client, q="budget ferry", k=3, offset=o, sort=sort) for o in range(0, 12, 3)]
    assert [h["id"] for p in pages for h in p["hits"]] == [h["id"] for h in whole["hits"]]
    assert [h["rank"] for h in pages[1]["hits"]] == [4, 5, 6]
    assert all(p["answer"] == whole["answer"] for p in pages)  # the answer does not depend on the page


def test_every_bad_value_is_listed_in_one_400(client):
    found = errors_of(client.get("/api/search", query_string={
        "q": "budget", "source": ["s1", "nope"], "date_from": "2015-01-01", "date_to": "2014-01-01",
        "offset": "1001", "sort": "oldest", "explain": "maybe"}), 400)
    params = [p for p, _ in found]
    assert params == ["source", "date_to", "sort", "offset", "explain"]
    assert "no source with ID 'nope'" in found[0][1] and "is after date_to" in found[1][1]
    found = errors_of(client.get("/api/search", query_string={"q": "budget", "date_from": "03/06/2014",
                                                               "offset": "-1"}), 400)
    assert [p for p, _ in found] == ["date_from", "offset"]
    found = errors_of(client.post("/api/search", json={"q": "budget", "source": [1], "offset": "2", "explain": 1}), 400)
    assert [p for p, _ in found] == ["source", "offset", "explain"]
    found = errors_of(client.post("/api/search", json={"q": "budget", "source": None, "sort": None}), 400)
    assert found == [("source", "source is null; leave it out or give it a value"),
                     ("sort", "sort is null; leave it out or give it a value")]


def test_the_list_of_sources_is_newest_first_with_nulls(client):
    doc = conforms(client.get("/api/sources"), "/api/sources")
    ids = [s["source_id"] for s in doc["sources"]]
    assert ids == ["s3", "s7", "s0", "s1", "s2", "s5", "s4", "s6"] and doc["total"] == 8
    assert doc["sources"][-1] == {"source_id": "s6", "title": None, "date": None, "url": None, "passages": 1}
    assert doc["sources"][0]["title"] == "Story number 3"
    page = conforms(client.get("/api/sources?offset=2&limit=3"), "/api/sources")
    assert [s["source_id"] for s in page["sources"]] == ids[2:5] and (page["offset"], page["limit"]) == (2, 3)
    found = errors_of(client.get("/api/sources?offset=9&limit=0&x=1"), 400)
    assert [p for p, _ in found] == [None, "offset", "limit"]


def test_explain_sums_to_every_score_for_every_eval_question(seed_retriever):
    questions = [json.loads(line)["question"] for line in open("eval/questions.jsonl", encoding="utf-8")]
    n = 0
    for q in questions:
        doc = search_json(seed_retriever, q, 20, options=Options(explain=True))
        for hit in doc["hits"]:
            terms = hit["explain"]["terms"]
            assert abs(sum(t["contribution"] for t in terms) - hit["score"]) <= 1e-9, (q, hit["id"])
            assert all(t["tf"] == 0 or t["df"] > 0 for t in terms)
            n += 1
        if doc["answer"]:
            why = doc["answer"]["explain"]
            assert why["bias"] + sum(why["contributions"].values()) == pytest.approx(why["score"], abs=1e-9)
    assert n > 500


def test_explain_marks_the_floor_and_is_absent_unless_asked(seed_retriever):
    doc = search_json(seed_retriever, "programme contract", 5, retrieval="lexical", options=Options(explain=True))
    by_term = {t["term"]: t for t in doc["hits"][0]["explain"]["terms"]}
    # 20 passages: "programme" is in 10 (idf exactly 0, not floored),
    # "contract" in 12 (a negative idf, floored to epsilon times the mean).
    assert (by_term["programm"]["df"], by_term["programm"]["idf"], by_term["programm"]["floored"]) == (10, 0.0, False)
    assert by_term["contract"]["df"] == 12 and by_term["contract"]["floored"] is True
    assert by_term["contract"]["idf"] == pytest.approx(seed_retriever.scorer.parts[0].arrays.idf[
        seed_retriever.scorer.parts[0].vocab["contract"]])
    plain = search_json(seed_retriever, "programme contract", 5, retrieval="lexical")
    assert all("explain" not in h for h in plain["hits"]) and "explain" not in (plain["answer"] or {})


def test_a_question_whose_words_carry_no_weight_says_so(seed_retriever):
    doc = search_json(seed_retriever, "programme", 5, retrieval="lexical")
    assert doc["hits"] and all(h["score"] == 0 for h in doc["hits"])
    assert "carry no weight" in doc["notice"]
    assert search_json(seed_retriever, "Lorenzo programme", 5)["notice"] is None


def test_the_form_filters_pages_and_links_back_from_a_source(client):
    html = client.get("/", query_string={"q": "budget", "k": "2", "date_from": "2013-01-01", "source": ["s0", "s1", "s3"]})
    body = html.get_data(as_text=True)
    assert html.status_code == 200
    assert re.findall(r'class="source-link" href="[^"]+">\s*([^<]+)</a>', body)[0].startswith("Story number")
    nxt = unescape(re.search(r'<a rel="next" href="([^"]+)"', body).group(1))
    assert "offset=2" in nxt and "date_from=2013-01-01" in nxt and nxt.count("source=") == 3
    second = client.get(nxt).get_data(as_text=True)
    assert '<a rel="prev"' in second and '<ol class="hits" start="3">' in second
    link = unescape(re.search(r'class="source-link" href="([^"]+)"', second).group(1))
    source_page = client.get(link).get_data(as_text=True)
    back = unescape(re.search(r'<a class="back" href="([^"]+)"', source_page).group(1))
    assert back.startswith("/?") and "offset=2" in back and "q=budget" in back
    assert "<h1>Story number" in source_page


def test_the_form_shows_every_problem_in_plain_words(client):
    body = client.get("/", query_string={"q": "budget", "date_from": "2015-01-01", "date_to": "2014-01-01",
                                         "source": "ghost"}).get_data(as_text=True)
    assert "There is no source with ID &#39;ghost&#39;" in body and "is after date_to" in body


def test_home_page_says_what_the_collection_is_and_focuses_the_box(client):
    body = client.get("/").get_data(as_text=True)
    assert "8 articles" in body and "dated 2012-02-29 to 2015-11-30T08:00:00Z" in body
    assert 'href="/sources"' in body and " autofocus" in body
    assert " autofocus" not in client.get("/?q=budget").get_data(as_text=True)
    listing = client.get("/sources?limit=3").get_data(as_text=True)
    assert listing.count('class="source-link"') == 3 and '<a rel="next" href="/sources?offset=3&amp;limit=3"' in listing


def test_a_question_at_the_limit_says_a_longer_paste_was_cut(client):
    body = client.get("/", query_string={"q": "budget " + "x" * 993}).get_data(as_text=True)
    assert "the box cut it there" in body
    assert "the box cut it there" not in client.get("/?q=budget").get_data(as_text=True)


def test_explain_is_offered_on_demand_on_the_page(client):
    body = client.get("/?q=budget+harbour").get_data(as_text=True)
    assert "<details class=\"why\"><summary>Why this score</summary>" in body and "<script" not in body


def test_ask_takes_the_filters_and_says_question_and_passages(archive, capsys):
    index = str(archive.stored.path.parent)
    assert main(["ask", "--index", index, "--json", "--source", "s2", "--source", "s3", "--from", "2010-01-01",
                 "--sort", "date", "--offset", "1", "--explain", "-k", "1", "budget"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["offset"] == 1 and doc["sort"] == "date" and doc["hits"][0]["source_id"] == "s2"
    assert "explain" in doc["hits"][0]
    assert main(["ask", "--index", index, "--from", "June", "--source", "ghost", "budget"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(line.startswith("error: ") for line in err) and "Traceback" not in "".join(err)
    assert main(["ask", "--index", index, "--explain", "--source", "s3", "budget"]) == 0
    out = capsys.readouterr().out
    assert "Story number 3 [s3]" in out and "idf" in out


def test_titles_from_front_matter_reach_hits_and_citations(client):
    doc = get(client, q="When was the budget vote?", k=3)
    assert doc["hits"][0]["source"]["title"].startswith("Story number") or doc["hits"][0]["source_id"] in ("s4", "s6")
    if doc["answer"]:
        for c in doc["answer"]["citations"]:
            assert c["title"] == (None if c["source_id"] in ("s4", "s6") else f"Story number {c['source_id'][1:]}")


def test_filtered_search_equals_the_retriever_and_brute_force(archive):
    filters = Filters(("s0", "s7"), None, None)
    got = archive.search("budget ferry", k=10, retrieval="lexical", filters=filters)
    every = archive.search("budget ferry", k=50, retrieval="lexical")
    want = [h.passage_id for h in every.hits if h.source_id in ("s0", "s7")]
    assert [h.passage_id for h in got.hits] == want and got.total == len(want)


def test_the_bundled_seeds_have_no_invented_metadata(seed_retriever):
    assert all(set(s) == {"id"} for s in seed_retriever.weighted.sources)
    assert seed_retriever.collection.date_range() is None
    assert BUNDLED_CORPUS.exists()


@pytest.mark.slow
def test_the_readme_python_example_runs_from_any_directory_and_shows_the_answer(tmp_path):
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    code = readme.split("```python\n", 1)[1].split("```", 1)[0]
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert "Seven NHS trusts were represented" in first and "000_dee66f3a7b2b2239" in first
