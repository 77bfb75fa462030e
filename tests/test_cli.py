import json
import subprocess
import sys

from service.cli import main
from service.config import default_index_dir
from service.store import current_version

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
    assert "k must be an integer from 1 to 50" in capsys.readouterr().err


def test_ask_applies_the_api_limits_to_the_question(capsys):
    assert main(["ask", "   "]) == 2
    assert "q must not be empty" in capsys.readouterr().err
    assert main(["ask", "x" * 1001]) == 2
    assert "1001 characters long; the limit is 1000" in capsys.readouterr().err
    many = " ".join(f"word{i}" for i in range(65))
    assert main(["ask", many]) == 2
    assert "65 search terms; the limit is 64" in capsys.readouterr().err


def test_module_entry_point_reports_usage_errors():
    proc = subprocess.run([sys.executable, "-m", "service", "ask", "-k", "zero", "q"],
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "expected a whole number" in proc.stderr
