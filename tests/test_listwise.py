"""The selector's listwise fit (scripts/listwise.py, a training script's
part): it learns which finalist to quote, keeps the held weights at their
hand-set ratio to coverage, and is deterministic."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("scipy")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
from listwise import listwise_weights  # noqa: E402

from service.answer.model import CHEAP, SEMANTIC  # noqa: E402

NAMES = CHEAP + SEMANTIC
HAND = {"coverage": 1.0, "near": 0.35, "untyped": 0.0, "extra": -0.25, "repeat": -0.5}


def finalists(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Questions whose right finalist is the nearest in meaning, not the one
    holding most of the question's words."""
    x = rng.uniform(0.0, 1.0, size=(n, len(NAMES)))
    x[:, NAMES.index("repeat")] = 0.0
    x[:, NAMES.index("extra")] = rng.integers(0, 2, size=n)
    y = np.zeros(n, dtype=bool)
    y[int(np.argmax(x[:, NAMES.index("cosine")]))] = True
    return x, y


def test_the_fit_learns_what_tells_the_right_finalist_and_holds_the_others():
    rng = np.random.default_rng(7)
    data = [finalists(rng, 3) for _ in range(300)]
    w = listwise_weights([x for x, _ in data], [y for _, y in data], NAMES, HAND)
    assert w[NAMES.index("coverage")] == pytest.approx(1.0)
    assert w[NAMES.index("cosine")] > 5 * max(abs(w[NAMES.index(n)]) for n in ("context", "bm25", "meaning"))
    for name in ("near", "untyped", "extra", "repeat"):
        assert w[NAMES.index(name)] == pytest.approx(HAND[name])
    assert w[NAMES.index("judge")] == 0.0
    held_out = [finalists(rng, 3) for _ in range(100)]
    right = sum(bool(y[int(np.argmax(x @ w))]) for x, y in held_out)
    assert right >= 90
    again = listwise_weights([x for x, _ in data], [y for _, y in data], NAMES, HAND)
    assert np.array_equal(w, again)


def test_questions_that_say_nothing_about_the_choice_are_left_out():
    rng = np.random.default_rng(8)
    data = [finalists(rng, 3) for _ in range(200)]
    fulls, labels = [x for x, _ in data], [y for _, y in data]
    w = listwise_weights(fulls, labels, NAMES, HAND)
    idle = [np.ones((3, len(NAMES))), rng.uniform(size=(1, len(NAMES))), rng.uniform(size=(3, len(NAMES)))]
    marks = [np.ones(3, dtype=bool), np.ones(1, dtype=bool), np.zeros(3, dtype=bool)]
    assert np.array_equal(w, listwise_weights(fulls + idle, labels + marks, NAMES, HAND))
