"""The shipped int8 sentence encoder: integrity, agreement with fp32, fork safety, int8 storage.

Runs on onnxruntime and tokenizers only; the fp32 reference vectors were
computed with torch by scripts/export_model.py.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import multiprocessing
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from service.embedding import (
    Encoder,
    EncoderConfig,
    ModelIntegrityError,
    default_model_dir,
    dequantize,
    quantize,
    quantized_dot,
    verify,
)
from service.embedding import encoder as encoder_module

FIXTURE = Path(__file__).parent / "fixtures" / "encoder_reference.json"
SHIPPED = ["LICENSE", "README.md", "encoder.json", "model.onnx", "tokenizer.json"]


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder.load()


@pytest.fixture(scope="module")
def reference() -> list[dict]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))["sentences"]


def test_shipped_files_are_exactly_those_in_sha256sums():
    model_dir = default_model_dir()
    verify(model_dir)
    listed = [line.split("  ", 1)[1] for line in (model_dir / "SHA256SUMS").read_text().splitlines()]
    assert sorted(listed) == SHIPPED
    assert sorted(p.name for p in model_dir.iterdir()) == sorted(SHIPPED + ["SHA256SUMS"])


@pytest.mark.parametrize("name", SHIPPED)
def test_a_tampered_file_fails_verify_naming_it(tmp_path, name):
    copy = shutil.copytree(default_model_dir(), tmp_path / "model")
    with (copy / name).open("ab") as f:
        f.write(b"\n")
    with pytest.raises(ModelIntegrityError, match=rf"{name}: sha256 [0-9a-f]{{64}} does not match"):
        verify(copy)


def test_a_missing_file_fails_verify_naming_it(tmp_path):
    copy = shutil.copytree(default_model_dir(), tmp_path / "model")
    (copy / "tokenizer.json").unlink()
    with pytest.raises(ModelIntegrityError, match="tokenizer.json: listed in SHA256SUMS but missing"):
        verify(copy)


def test_a_model_swapped_in_by_config_must_be_listed(tmp_path):
    copy = shutil.copytree(default_model_dir(), tmp_path / "model")
    shutil.copyfile(copy / "model.onnx", copy / "other.onnx")
    settings = json.loads((copy / "encoder.json").read_text())
    (copy / "encoder.json").write_text(json.dumps({**settings, "model": "other.onnx"}))
    sums = [line for line in (copy / "SHA256SUMS").read_text().splitlines() if not line.endswith("encoder.json")]
    digest = encoder_module._sha256(copy / "encoder.json")
    (copy / "SHA256SUMS").write_text("\n".join(sums + [f"{digest}  encoder.json"]) + "\n")
    with pytest.raises(ModelIntegrityError, match="other.onnx: named in encoder.json but not listed"):
        verify(copy)


def test_shipped_config_is_minilm_as_decided():
    config = EncoderConfig.from_dir(default_model_dir())
    assert (config.name, config.dim, config.max_length, config.pooling, config.normalize) == \
        ("all-MiniLM-L6-v2", 384, 256, "mean", True)
    assert (config.query_prefix, config.passage_prefix) == ("", "")
    assert config.model_path == default_model_dir() / "model.onnx"
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.dim = 1  # type: ignore[misc]


def test_int8_vectors_agree_with_fp32_reference(encoder, reference):
    assert len(reference) >= 6
    vectors = encoder.encode_passages([s["text"] for s in reference])
    expected = np.array([s["vector"] for s in reference], dtype=np.float32)
    assert np.allclose(np.linalg.norm(expected, axis=1), 1.0, atol=1e-4)
    cosines = (vectors * expected).sum(axis=1)
    assert cosines.min() >= 0.99, dict(zip((s["text"][:40] for s in reference), cosines.round(4)))


def test_vectors_are_float32_unit_length_of_dim_384(encoder):
    texts = ["Who won the election?", "", "A " * 600]
    for vectors in (encoder.encode_queries(texts), encoder.encode_passages(texts)):
        assert vectors.shape == (3, 384) and vectors.dtype == np.float32
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert encoder.dim == 384
    assert encoder.encode_queries([]).shape == (0, 384)


def test_batches_give_each_text_its_own_vector_in_input_order(encoder, reference):
    texts = [s["text"] for s in reference] + ["Flood warnings were issued for the coast.", "Why?"]
    texts = [texts[i] for i in (3, 6, 0, 8, 2, 5, 1, 7, 4)]  # lengths out of order
    singles = np.vstack([encoder.encode_passages([t]) for t in texts])
    assert np.array_equal(encoder.encode_passages(texts), singles)
    assert np.array_equal(encoder.encode_queries(texts), singles)
    for batch_size in (2, 4, 32):
        batched = encoder.encode_passages(texts, batch_size=batch_size)
        # The int8 model scales activations once per run (padding included), so a
        # text's vector in a batch is near, not equal to, its vector alone: "Why?"
        # padded beside longer texts is the farthest, at about 0.96.
        assert (batched * singles).sum(axis=1).min() > 0.95
        assert list((batched @ singles.T).argmax(axis=1)) == list(range(len(texts)))


def test_a_paraphrase_is_closer_than_an_unrelated_sentence(encoder):
    question, paraphrase, unrelated = encoder.encode_queries([
        "How many people died in the earthquake?",
        "What was the death toll of the quake?",
        "The football club signed a new striker from Brazil.",
    ])
    assert question @ paraphrase > question @ unrelated + 0.3


def test_prefixes_from_the_config_are_applied(encoder):
    prefixed = Encoder(dataclasses.replace(encoder.config, query_prefix="query: ", passage_prefix="passage: "))
    text = "Interest rates rose again."
    assert np.allclose(prefixed.encode_queries([text]), encoder.encode_passages(["query: " + text]), atol=1e-6)
    assert np.allclose(prefixed.encode_passages([text]), encoder.encode_passages(["passage: " + text]), atol=1e-6)
    assert not np.allclose(prefixed.encode_queries([text]), prefixed.encode_passages([text]), atol=1e-3)


def test_pooling():
    tokens = np.array([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]], dtype=np.float32)
    mask = np.array([[1, 1, 0]])
    assert np.allclose(encoder_module._pool(tokens, mask, "mean"), [[2.0, 3.0]])
    assert np.allclose(encoder_module._pool(tokens, mask, "cls"), [[1.0, 2.0]])
    config = EncoderConfig.from_dir(default_model_dir())
    with pytest.raises(ValueError, match="pooling 'max'"):
        dataclasses.replace(config, pooling="max")


def test_session_is_made_on_first_use_with_one_thread():
    fresh = Encoder.load()
    assert fresh._session is None
    fresh.encode_queries(["Is it lazy?"])
    options = fresh._session.get_session_options()
    assert (options.intra_op_num_threads, options.inter_op_num_threads) == (1, 1)
    assert fresh._session_pid == os.getpid()


def _encode_in_child(encoder: Encoder, text: str, results) -> None:
    inherited = encoder._session
    vector = encoder.encode_queries([text])[0]
    results.put({"pid": os.getpid(), "session_pid": encoder._session_pid,
                 "fresh_session": encoder._session is not inherited, "vector": vector.tolist()})


def test_a_session_made_before_fork_is_not_used_in_the_child(encoder):
    text = "Which team won the cup final?"
    expected = encoder.encode_queries([text])[0]  # the parent's session exists before the fork
    assert encoder._session is not None
    context = multiprocessing.get_context("fork")
    results = context.Queue()
    child = context.Process(target=_encode_in_child, args=(encoder, text, results))
    child.start()
    try:
        got = results.get(timeout=120)
    finally:
        child.join(timeout=30)
        if child.is_alive():
            child.kill()
    assert child.exitcode == 0
    assert got["pid"] != os.getpid() and got["session_pid"] == got["pid"] and got["fresh_session"]
    assert np.allclose(got["vector"], expected, atol=1e-6)
    assert encoder._session_pid == os.getpid()


def test_quantize_round_trip_is_within_half_a_step():
    rng = np.random.default_rng(13)
    vectors = rng.standard_normal((200, 384)).astype(np.float32)
    vectors[7] = 0.0
    vectors[8] *= 1e-6
    codes, scales = quantize(vectors)
    assert codes.dtype == np.int8 and scales.dtype == np.float32 and scales.shape == (200,)
    assert np.abs(codes.astype(int)).max() == 127 and codes.min() >= -127
    assert np.allclose(scales, np.abs(vectors).max(axis=1) / 127)
    assert scales[7] == 0 and not codes[7].any()
    error = np.abs(dequantize(codes, scales) - vectors)
    assert (error <= scales[:, None] / 2 * (1 + 1e-5) + 1e-12).all()
    assert (error.max(axis=1)[scales > 0] > 0).any()  # it is lossy, so the bound is being tested


def test_quantized_dot_matches_the_dense_dot_within_its_bound(encoder, reference):
    passages = encoder.encode_passages([s["text"] for s in reference])
    queries = encoder.encode_queries(["What did the central bank do?", "Where was there flooding?"])
    codes, scales = quantize(passages)
    dense = queries @ passages.T
    bound = np.abs(queries).sum(axis=1)[:, None] * scales[None, :] / 2
    for block in (2, 8192):
        approx = quantized_dot(queries, codes, scales, block=block)
        assert approx.shape == dense.shape and approx.dtype == np.float32
        assert (np.abs(approx - dense) <= bound + 1e-6).all()
        assert np.allclose(quantized_dot(queries[0], codes, scales, block=block), approx[0])
    assert list(quantized_dot(queries, codes, scales).argmax(axis=1)) == list(dense.argmax(axis=1))


def test_encoder_module_imports_nothing_else_from_service():
    tree = ast.parse(Path(encoder_module.__file__).read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0 and not (node.module or "").startswith("service"), ast.dump(node)
        elif isinstance(node, ast.Import):
            assert not any(alias.name.startswith("service") for alias in node.names)
