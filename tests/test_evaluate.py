import json
import math
import socket
import sys
import threading
from collections import Counter
from pathlib import Path
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, make_server

import ir_measures
import pytest

from service.cli import DEFAULT_QUESTIONS, main
from service.config import IndexSettings
from service.corpus.reader import Article
from service.evaluation.datasets import EvalError, Question, check_sources, load_beir, load_questions
from service.evaluation.metrics import best_per_source, fold, score_questions
from service.corpus.passages import make_passages
from service.qa.ask import search_json

QUESTIONS = load_questions(DEFAULT_QUESTIONS)


# -- the question set itself -------------------------------------------------------


def test_question_set_has_the_required_mix(seed_articles):
    kinds = Counter(q.kind for q in QUESTIONS)
    assert len(QUESTIONS) >= 80
    assert kinds["paraphrase"] * 3 >= len(QUESTIONS)
    assert kinds["unanswerable"] >= 10 and kinds["multi"] >= 6
    assert all(len(q.sources) >= 2 for q in QUESTIONS if q.kind == "multi")
    per_article = Counter(s for q in QUESTIONS for s in q.sources)
    assert {a.source_id for a in seed_articles} == set(per_article)
    assert min(per_article.values()) >= 12


def test_every_answer_occurs_verbatim_in_one_of_its_sources(seed_articles):
    texts = {a.source_id: a.text for a in seed_articles}
    check_sources(QUESTIONS, texts)
    for q in QUESTIONS:
        if q.answerable:
            assert any(q.answer in texts[s] for s in q.sources), q.id
        else:
            assert q.answer is None, q.id


# -- metrics, checked against values worked out by hand ------------------------------


def _hit(source, n, text="", score=1.0):
    return {"id": f"{source}#{n}", "source_id": source, "score": score, "text": text}


def test_source_metrics_match_hand_computed_values():
    qs = [Question("a", "?", ("s1",), "x", "lexical"),
          Question("b", "?", ("s2", "s3"), "x", "multi"),
          Question("c", "?", ("s4",), "x", "paraphrase")]
    responses = [
        {"hits": [_hit("s1", 0), _hit("s1", 1), _hit("s2", 0)]},  # right source first
        # s3's two passages count once: sources ranked s9, s3, s8, s7, s2.
        {"hits": [_hit("s9", 0), _hit("s3", 0), _hit("s3", 1), _hit("s8", 0), _hit("s7", 0), _hit("s2", 4)]},
        {"hits": [_hit(f"t{i}", 0) for i in range(12)]},  # relevant source never retrieved
    ]
    ev = score_questions(qs, responses)
    a, b, c = (r.metrics for r in ev.results)
    assert (a["Success@1"], a["RR@10"], a["nDCG@10"], a["R@10"]) == (1.0, 1.0, 1.0, 1.0)
    assert (b["Success@1"], b["Success@3"], b["Success@5"]) == (0.0, 1.0, 1.0)
    assert b["RR@10"] == pytest.approx(1 / 2)
    # Relevant at ranks 2 and 5: DCG = 1/log2(3) + 1/log2(6); ideal = 1 + 1/log2(3).
    assert b["nDCG@10"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(6)) / (1 + 1 / math.log2(3)))
    assert b["R@10"] == 1.0
    assert all(c[m] == 0.0 for m in ("Success@5", "RR@10", "nDCG@10", "R@10"))
    assert ev.results[1].ranking == ["s9", "s3", "s8", "s7", "s2"]
    assert ev.summary["Success@1"]["all"] == pytest.approx(1 / 3)
    assert ev.summary["Success@3"]["multi"] == 1.0 and ev.summary["Success@3"]["paraphrase"] == 0.0


def test_answer_in_top_passages_folds_quotes_and_case():
    q = Question("a", "?", ("s1",), "Birmingham Women’s NHS", "lexical")
    top1 = {"hits": [_hit("s1", 0, "at birmingham women's  nhs trust")]}
    top3 = {"hits": [_hit("s1", 0, "nothing"), _hit("s2", 0, "nor here"), _hit("s1", 2, "BIRMINGHAM WOMEN'S NHS")]}
    none = {"hits": [_hit("s1", 0, "Birmingham Women")]}
    got = [r.metrics for r in score_questions([q, q, q], [top1, top3, none]).results]
    assert [(m["AnswerInTop1"], m["AnswerInTop5"]) for m in got] == [(1.0, 1.0), (0.0, 1.0), (0.0, 0.0)]
    assert fold("“Quoted” – text") == fold('"quoted" - text')


def test_abstention_metrics_are_na_without_the_key_and_counted_with_it():
    answerable = Question("a", "?", ("s1",), "ten trusts", "lexical")
    off = Question("u", "?", (), None, "unanswerable")
    plain = [{"hits": [_hit("s1", 0, "ten trusts")], "answer": None}, {"hits": []}]
    ev = score_questions([answerable, off], plain)
    assert all(ev.summary[m]["all"] is None for m in ("Abstention", "FalseAbstention", "AnswerAccuracy"))
    good = {"hits": [_hit("s1", 0, "ten trusts")], "abstained": False,
            "answer": {"text": "the next ten trusts", "source_id": "s1", "passage_id": "s1#0"}}
    wrong_source = dict(good, answer=dict(good["answer"], source_id="s2"))
    abstained = {"hits": [], "abstained": True, "answer": None}
    ev = score_questions([answerable, answerable, answerable, off, off],
                         [good, wrong_source, abstained, abstained, dict(good)])
    s = ev.summary
    assert s["Abstention"]["unanswerable"] == 0.5
    assert s["FalseAbstention"]["answerable"] == pytest.approx(1 / 3)
    assert s["AnswerAccuracy"]["all"] == pytest.approx(2 / 5)  # the good answer and one abstention
    assert [r.question.id for r in ev.misses] == ["a", "a", "a", "u"]  # Success@1 holds; answer checks fail


def test_best_per_source_keeps_each_sources_first_passage():
    assert best_per_source([("b", 3.0), ("a", 2.0), ("b", 1.5), ("c", 1.0)]) == ["b", "a", "c"]


# -- bad input ----------------------------------------------------------------------


@pytest.mark.parametrize("line,needle", [
    ("{not json", "q.jsonl:2: not valid JSON"),
    ('["a"]', "q.jsonl:2: not a JSON object"),
    ('{"id": "x", "question": "?", "sources": ["s"], "answer": "a", "kind": "odd"}', 'q.jsonl:2: "kind"'),
    ('{"id": "x", "question": "?", "sources": [], "answer": "a", "kind": "unanswerable"}', "q.jsonl:2: an unanswerable"),
    ('{"id": "x", "question": "?", "sources": ["s"], "answer": "a", "kind": "multi"}', "q.jsonl:2: a \"multi\""),
    ('{"id": "q1", "question": "?", "sources": ["s"], "answer": "a", "kind": "lexical"}', "duplicate question id"),
])
def test_bad_question_lines_are_named(tmp_path, line, needle):
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "q1", "question": "?", "sources": ["s"], "answer": "a", "kind": "lexical"}\n' + line + "\n")
    with pytest.raises(EvalError, match=needle.replace("[", r"\[")):
        load_questions(path)


def test_cli_errors_exit_non_zero_with_a_message(tmp_path, capsys):
    assert main(["eval", "--questions", str(tmp_path / "missing.jsonl")]) == 1
    assert "missing.jsonl: no such file" in capsys.readouterr().err
    unknown = tmp_path / "u.jsonl"
    unknown.write_text('{"id": "1", "question": "?", "sources": ["nope"], "answer": "a", "kind": "lexical"}\n')
    assert main(["eval", "--questions", str(unknown)]) == 1
    assert "not in the corpus: nope" in capsys.readouterr().err
    assert main(["eval", "--url", f"http://127.0.0.1:{_free_port()}"]) == 1
    err = capsys.readouterr().err
    assert "cannot reach" in err and "Traceback" not in err
    assert main(["eval", "--url", "file:///etc/passwd"]) == 1
    assert "http(s) URL" in capsys.readouterr().err
    assert main(["eval", "--beir", str(tmp_path)]) == 1
    assert "no corpus.jsonl" in capsys.readouterr().err
    assert main(["eval", "--report", str(tmp_path / "no" / "such" / "r.md")]) == 1
    err = capsys.readouterr().err
    assert "cannot write" in err and "r.png" in err and "Traceback" not in err


# -- the command, in-process and over HTTP -----------------------------------------------


def test_eval_prints_the_table_and_every_miss(capsys):
    assert main(["eval"]) == 0
    out = capsys.readouterr().out
    assert "Success@1" in out and "paraphrase" in out and "answerable (88)" in out
    assert main(["eval", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    missed = [q for q in doc["results"] if q["missed"]]
    assert missed and all(f"[{q['id']} " in out for q in missed)
    assert all(f"[{q['id']} " not in out for q in doc["results"] if not q["missed"])


def test_trec_files_reproduce_the_figures(tmp_path, capsys):
    run = tmp_path / "run.trec"
    report = tmp_path / "report.md"
    assert main(["eval", "--json", "--trec-run", str(run), "--report", str(report)]) == 0
    doc = json.loads(capsys.readouterr().out)
    qrels = list(ir_measures.read_trec_qrels(str(tmp_path / "run.qrels")))
    measured = ir_measures.calc_aggregate([ir_measures.parse_measure(m) for m in ("Success@1", "nDCG@10")],
                                          qrels, list(ir_measures.read_trec_run(str(run))))
    for measure, value in measured.items():
        assert value == pytest.approx(doc["summary"][str(measure)]["answerable"])
    text = report.read_text()
    assert "| Success@1 |" in text and "![metrics by group](report.png)" in text
    assert "questions.jsonl, in-process, k=10." in text.splitlines()[2]
    assert (tmp_path / "report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture
def server(seed_retriever):
    """A real HTTP server on a free local port answering /api/search as the API does."""

    def app(environ, start_response):
        params = parse_qs(environ.get("QUERY_STRING", ""))
        k = int(params.get("k", ["10"])[0])
        if environ["PATH_INFO"] != "/api/search" or k > 50:
            start_response("400 Bad Request", [("Content-Type", "application/json")])
            return [json.dumps({"ok": False, "error": "k must be at most 50"}).encode()]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [json.dumps(search_json(seed_retriever, params["q"][0], k)).encode()]

    httpd = make_server("127.0.0.1", 0, app, handler_class=_Quiet)  # 0: any free port
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join()


def test_url_mode_measures_what_the_server_returns(server, capsys):
    assert main(["eval", "--json", "--url", server]) == 0
    over_http = json.loads(capsys.readouterr().out)
    assert main(["eval", "--json"]) == 0
    in_process = json.loads(capsys.readouterr().out)
    assert over_http["mode"] == server and over_http["summary"] == in_process["summary"]
    assert main(["eval", "--url", server, "-k", "60"]) == 1
    assert "HTTP 400" in (err := capsys.readouterr().err) and "k must be at most 50" in err


# -- BEIR ------------------------------------------------------------------------------


@pytest.fixture
def beir_dir(tmp_path):
    folder = tmp_path / "tiny"
    (folder / "qrels").mkdir(parents=True)
    docs = [
        {"_id": "d1", "title": "Volcanoes", "text": "Lava flows from volcanoes. Basalt forms when lava cools."},
        {"_id": "d2", "title": "Rivers", "text": "Rivers carry sediment to the sea. Deltas form at river mouths."},
        {"_id": "d3", "title": "Glaciers", "text": "Glaciers carve valleys. Moraines mark where ice once stood."},
    ]
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    queries = [{"_id": "q1", "text": "what forms when lava cools"},
               {"_id": "q2", "text": "where do deltas form"},
               {"_id": "q3", "text": "glaciers carve what"},
               {"_id": "q4", "text": "not judged, must be skipped"}]
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (folder / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t1\nq3\td3\t1\n")
    return folder


@pytest.mark.parametrize("whole", [False, True])
def test_beir_runs_only_judged_queries(beir_dir, tmp_path, capsys, whole):
    run = tmp_path / "beir.trec"
    args = ["eval", "--beir", str(beir_dir), "--json", "--trec-run", str(run)] + (["--whole-docs"] if whole else [])
    assert main(args) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["counts"] == {"all": 3} and set(doc["per_query"]) == {"q1", "q2", "q3"}
    # q1 and q3 find their document first; q2's judged document (d3) is not
    # about deltas (hybrid ranks it below, a candidate by meaning alone).
    assert doc["summary"]["Success@1"]["all"] == pytest.approx(2 / 3)
    assert doc["per_query"]["q2"]["Success@1"] == 0.0 and doc["per_query"]["q2"]["nDCG@10"] < 1.0
    assert set(doc["summary"]) == {"nDCG@10", "R@100", "RR@10", "Success@1"}
    assert run.read_text().splitlines()[0].startswith("q1 Q0 d1 1 ")


def test_beir_errors_name_the_file_and_line(beir_dir):
    (beir_dir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\n")
    with pytest.raises(EvalError, match=r"test.tsv:2: expected"):
        load_beir(beir_dir)


def test_whole_document_passages_are_fingerprinted():
    article = Article("x", "\n  First sentence here. Second one.\n\nAnother paragraph.  \n")
    (p,) = make_passages(article, IndexSettings(max_words=0))
    assert p.text == "First sentence here. Second one.\n\nAnother paragraph." == article.text[p.start:p.end]
    assert IndexSettings(max_words=0).fingerprint() != IndexSettings().fingerprint()
    with pytest.raises(ValueError):
        IndexSettings(max_words=-1)


# -- the CI gate ---------------------------------------------------------------------------


def test_question_set_metrics_stay_within_the_recorded_thresholds(seed_retriever):
    """Fails when a change makes retrieval or answers on the question set
    worse than eval/thresholds.json records; tighten them as quality improves."""
    from service.evaluation.runs import api_search, evaluate_questions

    thresholds = json.loads((Path(DEFAULT_QUESTIONS).parent / "thresholds.json").read_text())
    ev = evaluate_questions(QUESTIONS, api_search(seed_retriever, 10))
    below = {f"{m}[{g}]": (round(ev.summary[m][g], 3), floor)
             for m, groups in thresholds["minimum"].items() for g, floor in groups.items()
             if ev.summary[m][g] < floor}
    above = {f"{m}[{g}]": (round(ev.summary[m][g], 3), ceiling)
             for m, groups in thresholds["maximum"].items() for g, ceiling in groups.items()
             if ev.summary[m][g] > ceiling}
    assert not below, f"below threshold (measured, minimum): {below}"
    assert not above, f"above threshold (measured, maximum): {above}"



def test_report_without_matplotlib_says_what_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import now fails
    assert main(["eval", "--report", str(tmp_path / "r.md")]) == 1
    assert "--report needs matplotlib: pip install 'groundedqa[eval]'" in capsys.readouterr().err
    assert not (tmp_path / "r.md").exists()


def test_run_eval_returns_what_the_command_prints_and_writes(beir_dir):
    from service.config import Config
    from service.evaluation.suite import EvalRequest, run_eval

    outcome = run_eval(EvalRequest(questions=DEFAULT_QUESTIONS, beir=beir_dir, k=5), Config())
    assert outcome.doc["summary"] == outcome.summary and outcome.doc["k"] == 5 == outcome.k
    assert set(outcome.rankings) == set(outcome.qrels) == {"q1", "q2", "q3"}
    assert outcome.misses == ["q2: 'where do deltas form' expected d3; first: d2"]
    assert outcome.text().startswith("BEIR tiny: in-process, k=5, retrieval hybrid\n")
    # A hybrid run is shown beside the same run ranked lexically.
    assert outcome.retrieval == "hybrid" and outcome.baseline.retrieval == "lexical"
    assert outcome.doc["lexical"] == outcome.baseline.doc and outcome.doc["lexical"]["retrieval"] == "lexical"
    assert "\nSide by side (lexical → hybrid):\n" in outcome.text()
    assert outcome.text().endswith("\n1 of 3 queries have no relevant document first (--json or --report lists them).")


def test_coverage_and_confident_precision_read_answer_confident():
    answerable = Question("a", "?", ("s1",), "ten trusts", "lexical")
    off = Question("u", "?", (), None, "unanswerable")
    sure = {"hits": [_hit("s1", 0, "ten trusts")], "abstained": False,
            "answer": {"text": "the next ten trusts", "source_id": "s1", "passage_id": "s1#0", "confident": True}}
    wrong = dict(sure, answer=dict(sure["answer"], text="eleven"))
    unsure = dict(sure, answer=dict(sure["answer"], confident=False))
    abstained = {"hits": [], "abstained": True, "answer": None}
    ev = score_questions([answerable, answerable, answerable, answerable, off, off],
                         [sure, wrong, unsure, abstained, dict(sure), abstained])
    s = ev.summary
    assert s["Coverage"]["answerable"] == 0.5  # two of four answered confidently, right or not
    assert s["ConfidentPrecision"]["answerable"] == 0.5
    assert s["ConfidentPrecision"]["all"] == pytest.approx(1 / 3)  # a confident answer to "u" is wrong
    assert s["Coverage"]["unanswerable"] is None
    old = dict(sure, answer={k: v for k, v in sure["answer"].items() if k != "confident"})
    assert score_questions([answerable], [old]).summary["Coverage"]["all"] is None  # n/a: not reported
