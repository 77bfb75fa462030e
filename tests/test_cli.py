import json
import os
import subprocess
import sys

import pytest

from service.cli import main
from service.config import default_index_dir
from service.retrieval.retriever import Retriever
from service.index.store import current_version, list_versions

SEED_Q = "How many trusts attended the first Lorenzo user group meeting?"


def test_ask_puts_the_lorenzo_user_group_article_first(capsys):
    assert main(["ask", SEED_Q]) == 0
    lines = capsys.readouterr().out.splitlines()
    first = next(line for line in lines if line.startswith(" 1. "))  # after the answer
    assert "[000_dee66f3a7b2b2239]" in first


def test_ask_json_has_the_api_shape(capsys):
    assert main(["ask", "--json", "-k", "3", "BT London write-down"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True and doc["k"] == 3 and len(doc["hits"]) == 3
    assert doc["hits"][0]["source_id"] == "001_6b3e6b50f46c418e"
    assert {"rank", "id", "source_id", "score", "text", "start_char", "end_char", "highlights"} <= set(doc["hits"][0])


def test_index_then_ask_uses_the_same_index(make_corpus, tmp_path, capsys):
    folder = make_corpus({"a.txt": "Apples are red.", "b.txt": "Bananas are yellow."})
    assert main(["index", "--corpus", str(folder)]) == 0
    assert "indexed 2 articles" in capsys.readouterr().out
    built = current_version(default_index_dir(folder))
    assert main(["ask", "--corpus", str(folder), "yellow"]) == 0
    assert "[b]" in capsys.readouterr().out
    assert current_version(default_index_dir(folder)) == built  # not rebuilt


def test_bad_corpus_fails_naming_the_file_and_keeps_the_index(make_corpus, tmp_path, capsys):
    folder = make_corpus({"a.txt": "Apples are red."})
    idx = tmp_path / "idx"
    assert main(["index", "--corpus", str(folder), "--index", str(idx)]) == 0
    (folder / "empty.txt").write_text("")
    assert main(["index", "--corpus", str(folder), "--index", str(idx)]) == 1
    err = capsys.readouterr().err
    assert "empty.txt: empty file" in err and "Traceback" not in err
    assert main(["index", "--corpus", str(folder), "--index", str(idx), "--skip-bad"]) == 0
    out = capsys.readouterr()
    assert "1 rejected of 2 seen" in out.out and "skipped" in out.err


def test_ask_with_no_match_and_bad_k(capsys):
    assert main(["ask", "zzzqqq"]) == 0
    assert "No passage" in capsys.readouterr().out
    assert main(["ask", "-k", "500", "trusts"]) == 2
    assert "error: the number of passages must be an integer from 1 to 50" in capsys.readouterr().err


def test_ask_applies_the_api_limits_to_the_question(capsys):
    assert main(["ask", "   "]) == 2
    assert "error: the question must not be empty" in capsys.readouterr().err
    assert main(["ask", "x" * 1001]) == 2
    assert "1001 characters long; the limit is 1000" in capsys.readouterr().err
    many = " ".join(f"word{i}" for i in range(65))
    assert main(["ask", many]) == 2
    assert "65 search terms; the limit is 64" in capsys.readouterr().err


def test_module_entry_point_reports_usage_errors():
    proc = subprocess.run([sys.executable, "-m", "service", "ask", "-k", "zero", "q"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "expected a whole number" in proc.stderr


BAD_CORPORA = {
    "empty file": ({"a.txt": "Apples are red.", "empty.txt": ""}, "empty.txt: empty file"),
    "non-UTF-8 bytes": ({"a.txt": "Apples are red.", "latin.txt": "caf\xe9".encode("latin-1")},
                        "latin.txt: not valid UTF-8 (byte 3)"),
    "duplicate IDs": ({"a.txt": "Apples are red.", "a.md": "Apples again."}, "a.md: duplicate source ID 'a'"),
    "empty folder": ({}, "c: no articles found"),
    "unreadable JSONL line": ({"c.jsonl": '{"_id": "a", "text": "Apples."}\n{"_id": "b", "text": oops}\n'},
                              "c.jsonl:2: not valid JSON"),
}


@pytest.mark.parametrize("case", sorted(BAD_CORPORA))
def test_bad_corpus_stops_index_naming_file_and_line_and_keeps_the_index(case, make_corpus, tmp_path, capsys):
    files, message = BAD_CORPORA[case]
    idx = tmp_path / "idx"
    good = make_corpus({"g.txt": "Grapes are green."}, "good")
    assert main(["index", "--corpus", str(good), "--index", str(idx)]) == 0
    before = (current_version(idx), list_versions(idx))
    folder = make_corpus(files)
    corpus = folder / "c.jsonl" if "c.jsonl" in files else folder
    capsys.readouterr()
    assert main(["index", "--corpus", str(corpus), "--index", str(idx), "--rebuild"]) == 1
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert (current_version(idx), list_versions(idx)) == before
    assert Retriever.open(idx).search("grapes", 1).hits[0].source_id == "g"


def test_ask_json_is_the_document_the_http_api_returns(client, capsys):
    assert main(["ask", "--json", "-k", "4", SEED_Q]) == 0
    printed = json.loads(capsys.readouterr().out)
    served = client.get("/api/search", query_string={"q": SEED_Q, "k": "4"}).get_json()
    assert list(printed) == list(served)  # the same keys in the same order
    printed.pop("took_ms"), served.pop("took_ms")
    assert printed == served


def test_ask_into_a_closed_pipe_exits_quietly(seed_retriever):
    """`ask ... | head` when head has gone: no BrokenPipeError traceback."""
    # The index is built already (seed_retriever), so the child only reads it.
    index = str(seed_retriever.stored.path.parent)
    reader, writer = os.pipe()
    os.close(reader)  # the reader is gone before anything is written
    proc = subprocess.run([sys.executable, "-m", "service", "ask", "--index", index, "-k", "50", SEED_Q],
                          stdout=writer, stderr=subprocess.PIPE, text=True, timeout=120)
    os.close(writer)
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
    assert proc.returncode == 141


def test_index_reports_the_counts_without_opening_the_version_it_built(make_corpus, tmp_path, capsys, monkeypatch):
    """The counts come from the new version's manifest: opening the version
    (a 1M-passage index: 16 s and 1.9 GB) only to print them is not done."""
    import service.cli

    def refuse(*args, **kwargs):
        raise AssertionError("the index command opened a version")

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text('{"_id": "a", "text": "Apples are red."}\n{"_id": "b", "text": "Bananas are yellow."}\n')
    folder = make_corpus({"a.txt": "Apples are red."})
    monkeypatch.setattr(service.cli, "load_best", refuse)
    assert main(["index", "--corpus", str(corpus), "--index", str(tmp_path / "i1"), "--no-semantic"]) == 0
    assert main(["index", "--corpus", str(folder), "--index", str(tmp_path / "i2"), "--no-semantic"]) == 0
    assert main(["index", "--corpus", str(folder), "--index", str(tmp_path / "i2"), "--no-semantic"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert "indexed 2 articles as 2 passages" in out[0]
    assert "indexed 1 articles as 1 passages" in out[1] and "nothing published" in out[2]


def test_changes_report_the_counts_without_opening_the_version_they_published(tmp_path, capsys, monkeypatch):
    """add, remove and compact print the new version's counts from its
    manifest, as index does: no segment of the new version is opened."""
    import service.index.store as store

    opened = []
    real = store.load_segment
    monkeypatch.setattr(store, "load_segment", lambda path, *a, **k: opened.append(path) or real(path, *a, **k))
    files = []
    for name, text in (("a", "Apples are red."), ("c", "Cherries are dark."), ("b", "Bananas are yellow.")):
        files.append(tmp_path / f"{name}.txt")
        files[-1].write_text(text)
    idx = tmp_path / "idx"
    assert main(["add", "--index", str(idx), "--no-semantic", str(files[0]), str(files[1])]) == 0
    assert main(["add", "--index", str(idx), str(files[2])]) == 0
    assert main(["remove", "--index", str(idx), "a"]) == 0
    assert main(["compact", "--index", str(idx)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].startswith("added 1, replaced 0 (0 skipped); published v-") and out[1].endswith(
        "3 articles, 3 passages in 2 segments")
    assert out[2].endswith("2 articles, 2 passages in 2 segments") and out[3].endswith(
        "2 articles, 2 passages in 1 segments, 2 segments merged")
    live = current_version(idx)
    assert opened and not [p for p in opened if live in p.parents]
