"""Article metadata: front matter, metadata.jsonl, JSONL fields and dates."""

import json

import pytest

from service.corpus.metadata import date_problem, split_front_matter
from service.corpus.passages import passages_of
from service.corpus.reader import CorpusError, load_corpus, read_corpus

BODY = "Seven NHS trusts met.\n\nThe second paragraph says more about the meeting.\n"


def write(folder, name, text):
    (folder / name).write_text(text, encoding="utf-8")


def test_front_matter_is_cut_off_and_spans_are_slices_of_the_shown_text(tmp_path):
    write(tmp_path, "a.txt", "---\ntitle: Lorenzo users meet\ndate: 2014-06-03\nurl: 'https://x.test/a'\n---\n\n"
          + BODY)
    [article] = load_corpus(tmp_path).articles
    assert (article.title, article.date, article.url) == ("Lorenzo users meet", "2014-06-03", "https://x.test/a")
    assert article.text == BODY
    for p in passages_of([article]):
        assert article.text[p.start:p.end] == p.text
        assert "title:" not in p.text and "---" not in p.text


def test_a_file_without_front_matter_is_unchanged(tmp_path):
    write(tmp_path, "a.md", "# A heading title\n\n" + BODY)
    write(tmp_path, "b.txt", BODY + "---\nnot front matter\n---\n")
    a, b = load_corpus(tmp_path).articles
    assert a.title == "A heading title" and a.date is None and a.text.startswith("# A heading")
    assert b.text == BODY + "---\nnot front matter\n---\n" and b.title is None


@pytest.mark.parametrize("block, line, reason", [
    ("---\ntitle: x\n", 1, "never closed"),
    ("---\ntitle: x\ndate: 03/06/2014\n---\n", 3, "not an ISO 8601 date"),
    ("---\ntitle: x\ndate: 2014-02-30\n---\n", 3, "not an ISO 8601 date"),
    ("---\ntitel: x\n---\n", 2, "is not 'title:', 'date:' or 'url:'"),
    ("---\ntitle: x\ntitle: y\n---\n", 3, "gives 'title' twice"),
])
def test_bad_front_matter_names_the_file_line_and_reason(tmp_path, block, line, reason):
    write(tmp_path, "good.txt", BODY)
    write(tmp_path, "bad.txt", block + BODY)
    with pytest.raises(CorpusError) as err:
        load_corpus(tmp_path)
    [problem] = err.value.problems
    assert problem.path.endswith("bad.txt") and problem.line == line and reason in problem.reason


@pytest.mark.parametrize("value", ["2014-06-03", "2014-06-03T09:30:00", "2014-06-03T09:30:00Z",
                                   "2014-06-03T09:30:00+01:00", "2014-06-03 09:30"])
def test_iso_dates_and_date_times_are_accepted(value):
    assert date_problem(value) is None


@pytest.mark.parametrize("value", ["June 3, 2014", "2014", "2014-6-3", "20140603", "2014-13-01", "2014-06-03T25:00",
                                   "yesterday"])
def test_other_dates_are_refused(value):
    assert "not an ISO 8601 date" in date_problem(value)


def test_sidecar_metadata_sets_fields_and_reports_every_bad_line(tmp_path):
    write(tmp_path, "a.txt", BODY)
    write(tmp_path, "b.md", "# Heading\n\n" + BODY)
    lines = [{"id": "a", "title": "Title A", "date": "2014-06-03T09:00:00Z", "url": "https://x.test/a"},
             {"id": "b", "title": "Title B"}]
    (tmp_path / "metadata.jsonl").write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    a, b = load_corpus(tmp_path).articles
    assert (a.title, a.date, a.url) == ("Title A", "2014-06-03T09:00:00Z", "https://x.test/a")
    assert b.title == "Title B" and b.text.startswith("# Heading")
    bad = ['{"id": "a", "date": "3 June"}', "not json", '{"id": "ghost", "title": "x"}', '{"id": "b", "tags": []}']
    (tmp_path / "metadata.jsonl").write_text("\n".join(bad) + "\n")
    report = read_corpus(tmp_path)
    got = sorted((p.line, p.reason.split(" ")[0]) for p in report.problems)
    assert got == [(1, "date"), (2, "not"), (3, "no"), (4, "unknown")]
    assert all(p.path.endswith("metadata.jsonl") for p in report.problems)


def test_jsonl_dates_are_checked_with_their_line(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(json.dumps({"id": "1", "text": BODY, "title": "T", "date": "2014-06-03"}) + "\n"
                    + json.dumps({"id": "2", "text": BODY, "date": "last Tuesday"}) + "\n")
    report = read_corpus(path)
    assert [a.date for a in report.articles] == ["2014-06-03"]
    [problem] = report.problems
    assert problem.line == 2 and "not an ISO 8601 date" in problem.reason


def test_split_front_matter_drops_only_the_block_and_its_blank_margin():
    fields, body, problems = split_front_matter("---\ndate: 2020-01-02\n\n---\n\n\nText.\n")
    assert fields == {"date": "2020-01-02"} and body == "Text.\n" and problems == []
