"""The answer judge: its shipped files, its scores against the fp32 model,
fork safety, and how the selector uses it (only on the finalists; not at
all where the model's weights do not read it or the index has no encoder).

Runs on onnxruntime and tokenizers only (the int8 model's agreement with
its fp32 form was measured when it was made: training.json).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from service.embedding import ModelIntegrityError, verify
from service.embedding.cross_encoder import CrossEncoder, default_judge_dir

SHIPPED = ["LICENSE", "README.md", "encoder.json", "model.onnx", "tokenizer.json", "training.json"]


@pytest.fixture(scope="module")
def judge() -> CrossEncoder:
    return CrossEncoder.load()


def test_shipped_files_are_exactly_those_in_sha256sums():
    verify(default_judge_dir())
    listed = [line.split("  ", 1)[1] for line in (default_judge_dir() / "SHA256SUMS").read_text().splitlines()]
    assert sorted(listed) == SHIPPED
    assert sorted(p.name for p in default_judge_dir().iterdir()) == sorted(SHIPPED + ["SHA256SUMS"])


def test_a_tampered_judge_is_refused(tmp_path):
    copy = shutil.copytree(default_judge_dir(), tmp_path / "judge")
    with (copy / "model.onnx").open("ab") as f:
        f.write(b"\0")
    with pytest.raises(ModelIntegrityError, match="model.onnx: sha256"):
        CrossEncoder.load(copy)


def test_a_pair_is_scored_alone_and_a_short_question_is_never_cut(judge):
    q = "How many hospital trusts attended the first Lorenzo user group meeting?"
    texts = ["Seven NHS trusts were represented at a new Lorenzo user group meeting.",
             "Heavy rain caused flooding. " * 40]
    both = judge.score(q, texts)
    assert both.dtype == np.float64 and both.shape == (2,)
    assert both[0] == judge.score(q, texts[:1])[0] and both[1] == judge.score(q, texts[1:])[0]
    enc = judge._tokenizer.encode(q, texts[1])
    assert len(enc.ids) == judge.config.max_length and enc.type_ids.count(0) == len(judge._tokenizer.encode(q).ids)
    options = judge._session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)
    assert judge._session_pid == os.getpid()


def test_a_question_longer_than_the_input_is_cut_not_refused(judge):
    q = "the " + "trusts " * 64  # the web API's longest question: was a 500
    score = judge.score(q, ["Seven NHS trusts were represented at a new Lorenzo user group meeting."])
    assert np.isfinite(score).all()


def test_the_sentence_that_answers_scores_above_one_on_the_same_topic(judge):
    q = "How many hospital trusts attended the first Lorenzo user group meeting?"
    right, other = judge.score(q, ["Seven NHS trusts were represented at a new Lorenzo user group meeting.",
                                   "The Lorenzo software is made by the American company CSC."])
    assert right > other


def test_only_the_weighed_semantic_features_are_worked_out_for_every_finalist():
    from service.answer.candidates import choose
    from service.answer.model import shipped_model

    model = shipped_model()
    calls: list[tuple[int, str]] = []

    def semantic(j):
        def feature(name):
            calls.append((j, name))
            return 0.5
        return feature

    x = (0.5,) * 9
    j, full, *_ = choose([(x, semantic(0)), ((0.9,) + x[1:], semantic(1))], [(0, 0, 1), (0, 1, 1)], model)
    weighed = [n for n in ("cosine", "judge") if model.weighs(n)]
    assert j == 1 and full[9:] == (0.5, 0.5)
    assert sorted(calls) == sorted([(i, n) for i in (0, 1) for n in weighed]
                                   + [(1, n) for n in ("cosine", "judge") if n not in weighed])


def test_the_judge_is_not_run_without_an_encoder_or_a_weight_reading_it(seed_retriever):
    from service.answer import judge as judge_module
    from service.answer.model import EVIDENCE, Linear, shipped_model
    from service.answer.selection import select

    model = shipped_model()
    question = "How many trusts were represented at the Lorenzo user group meeting?"
    result = seed_retriever.search(question, 10)
    best = select(result, seed_retriever, model).best
    if model.judged:
        assert best.judge != model.fallback_judge
    unread = replace(model, score=replace(model.score, weights=model.score.weights[:-1] + (0.0,)),
                     confidence=Linear(EVIDENCE, model.confidence.bias, model.confidence.weights[:-1] + (0.0,)))
    assert not unread.judged
    assert select(result, seed_retriever, unread).best.judge == model.fallback_judge
    no_encoder = SimpleNamespace(encoder=None)  # an index built --no-semantic
    run = [s.analysed for s in best.sentences]
    assert judge_module.run_judgement(question, run, best.hit, no_encoder, model) == model.fallback_judge


def test_the_lead_is_over_the_best_finalist_sharing_none_of_the_answers_sentences():
    from service.answer.candidates import MAX_MARGIN, choose
    from service.answer.model import shipped_model

    model = shipped_model()
    x = (0.5,) * 9

    def feature(name):
        return 0.5

    def with_coverage(c):
        return ((c,) + x[1:], feature)

    best, extended, elsewhere = with_coverage(0.9), with_coverage(0.85), with_coverage(0.6)
    # The runner-up is the answer with its next sentence: the margin is over
    # it, the lead over the finalist of another passage.
    _, _, score, margin, lead = choose([best, extended, elsewhere], [(0, 2, 1), (0, 2, 2), (1, 0, 1)], model)
    scores = [model.score(f[0] + (0.5, 0.5)) for f in (best, extended, elsewhere)]
    assert margin == pytest.approx(scores[0] - scores[1])
    assert lead == pytest.approx(scores[0] - scores[2]) and lead > margin
    # The same runner-up elsewhere in the passage is a rival.
    _, _, _, margin, lead = choose([best, extended, elsewhere], [(0, 2, 1), (0, 4, 2), (1, 0, 1)], model)
    assert lead == margin
    # No finalist apart: the lead is the most there is.
    assert choose([best, extended], [(0, 2, 1), (0, 1, 2)], model)[4] == MAX_MARGIN
