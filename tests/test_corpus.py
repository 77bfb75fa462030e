import gzip
import json

import pytest

from service.corpus.reader import CorpusError, load_corpus, read_corpus


def test_seed_folder_ids_are_file_stems(seed_articles):
    assert [a.source_id for a in seed_articles] == [
        "000_dee66f3a7b2b2239", "001_6b3e6b50f46c418e", "002_6c0e1cf7e69df7d2",
        "003_824b02177a5d1715", "004_e014d3155a7052c7"]
    assert all(a.title is None and a.url is None and a.date is None for a in seed_articles)


def test_jsonl_and_gzip_with_metadata(tmp_path):
    rows = [{"_id": "a", "title": "T", "text": "Alpha text.", "url": "http://x/a"},
            {"id": 7, "text": "Beta text.", "metadata": {"date": "2009-04-01"}}]
    data = "\n".join(json.dumps(r) for r in rows) + "\n"
    plain = tmp_path / "c.jsonl"
    plain.write_text(data)
    gz = tmp_path / "c.jsonl.gz"
    gz.write_bytes(gzip.compress(data.encode()))
    for path in (plain, gz):
        arts = load_corpus(path).articles
        assert [(a.source_id, a.title, a.url, a.date) for a in arts] == [
            ("a", "T", "http://x/a", None), ("7", None, None, "2009-04-01")]


def test_bom_and_crlf_are_normalised(make_corpus):
    folder = make_corpus({"a.txt": "\ufeffLine one.\r\n\r\nLine two.\r\n".encode("utf-8")})
    (a,) = load_corpus(folder).articles
    assert a.text == "Line one.\n\nLine two.\n"


@pytest.mark.parametrize("files,needle", [
    ({"empty.txt": ""}, "empty.txt: empty file"),
    ({"latin.txt": "caf\xe9 menu".encode("latin-1")}, "latin.txt: not valid UTF-8"),
    ({"bin.txt": b"\x00\x01\x02"}, "bin.txt: binary file"),
    ({"notes.csv": "a,b"}, "notes.csv: not a .txt or .md file"),
])
def test_bad_files_are_named_with_their_reason(make_corpus, files, needle):
    folder = make_corpus({"good.txt": "A fine article.", **files})
    with pytest.raises(CorpusError) as err:
        load_corpus(folder)
    assert needle in str(err.value)
    report = load_corpus(folder, skip_bad=True)
    assert [a.source_id for a in report.articles] == ["good"]
    assert report.items_seen == len(report.articles) + len(report.problems)


def test_duplicate_ids_reject_every_copy(make_corpus):
    folder = make_corpus({"a.txt": "One.", "a.md": "Two."})
    report = read_corpus(folder)
    assert report.articles == []
    assert sorted(p.path.rsplit("/", 1)[1] for p in report.problems) == ["a.md", "a.txt"]
    assert all("duplicate source ID 'a'" in p.reason for p in report.problems)


def test_empty_folder_is_an_error(make_corpus):
    with pytest.raises(CorpusError, match="no articles found"):
        load_corpus(make_corpus({}))


def test_bad_jsonl_lines_are_named_by_line(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"_id": "a", "text": "ok"}\n{not json\n[1]\n{"_id": "b"}\n{"text": "x"}\n')
    with pytest.raises(CorpusError) as err:
        load_corpus(path)
    msg = str(err.value)
    for line, why in [(2, "not valid JSON"), (3, "record is not a JSON object"), (4, 'record has no non-empty "text"'),
                      (5, 'record has no "_id" or "id"')]:
        assert f"c.jsonl:{line}: {why}" in msg


def test_symlink_outside_folder_is_rejected(make_corpus, tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("Secret text.")
    folder = make_corpus({"ok.txt": "Fine."})
    (folder / "link.txt").symlink_to(outside)
    report = read_corpus(folder)
    assert any("link.txt: symbolic link pointing outside" in str(p) for p in report.problems)


def test_missing_path_is_an_error(tmp_path):
    with pytest.raises(CorpusError, match="no such file or folder"):
        load_corpus(tmp_path / "nope")


def test_a_damaged_gzip_names_the_line_where_reading_stopped(tmp_path):
    rows = "".join(json.dumps({"_id": str(i), "text": f"Article number {i} " * 50}) + "\n" for i in range(200))
    data = gzip.compress(rows.encode())
    path = tmp_path / "c.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])  # cut off mid-stream
    report = read_corpus(path)
    [problem] = [p for p in report.problems if "cannot be read" in p.reason]
    assert problem.line is not None and 1 < problem.line <= 200 and problem.line == len(report.articles) + 1
    assert str(problem).startswith(f"{path}:{problem.line}: cannot be read")
