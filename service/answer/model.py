"""The learned answer model: linear scores over named features, read from
the shipped, checksummed ``models/selector.json``.

Three linear functions, each a bias plus one weight per named feature, so
every choice can be explained by its features' contributions:

* ``prefilter`` scores every candidate sentence by the cheap features
  (:data:`CHEAP`); the best ``finalists`` of them go on;
* ``score`` adds the semantic features (:data:`SEMANTIC`: the sentence's
  cosine to the question, and the answer judge's score of the question and
  sentence read together, :mod:`.judge`) and picks the answer among the
  finalists;
* ``confidence`` reads the chosen answer's evidence (:data:`EVIDENCE`); a
  logistic calibration of it (``calibration``) is the probability that the
  answer is right, shown as ``confident`` from ``confident_at`` and
  abstained on below ``abstain_below``.

``scripts/train_selector.py`` writes the file (and its model card); the
checksum in ``SHA256SUMS`` is verified when it is loaded.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Sequence

MODEL_DIR = Path(__file__).resolve().parent / "models"
MODEL_FILE = "selector.json"
SUMS_FILE = "SHA256SUMS"

#: A candidate's cheap features, in the order of the weights.
CHEAP = ("coverage", "context", "bm25", "rank", "near", "untyped", "extra", "repeat", "meaning")
#: The finalists' extra features: the best cosine of one of its sentences to
#: the question, and the answer judge's best score of one of them.
SEMANTIC = ("cosine", "judge")
#: The chosen answer's evidence for the confidence.
EVIDENCE = ("score", "margin", "lead", "coverage", "cosine", "near", "untyped", "few", "repeat", "meaning",
            "bm25", "judge")


class SelectorIntegrityError(ValueError):
    """The selector's file does not match its checksum."""


@dataclass(frozen=True)
class Linear:
    """``bias + sum(w * x)``, summed in feature order."""

    names: tuple[str, ...]
    bias: float
    weights: tuple[float, ...]

    def __call__(self, x: Sequence[float]) -> float:
        s = self.bias
        for w, v in zip(self.weights, x):
            s += w * v
        return s

    def ceiling(self, low: Sequence[float], high: Sequence[float]) -> float:
        """The highest value over features within ``[low, high]``, summed
        as :meth:`__call__` sums: each term is at its largest and rounding
        is monotonic, so no point of the box scores above it, in floating
        point too."""
        s = self.bias
        for w, lo, h in zip(self.weights, low, high):  # __call__'s sum, of the box's best corner
            s += w * (h if w >= 0 else lo)
        return s

    def contributions(self, x: Sequence[float]) -> dict[str, float]:
        """Each feature's share of the value (for explaining it)."""
        return {n: w * v for n, w, v in zip(self.names, self.weights, x)}

    @classmethod
    def from_json(cls, raw: dict[str, Any], names: tuple[str, ...]) -> Linear:
        if tuple(raw["features"]) != names:
            raise ValueError(f"{MODEL_FILE}: features {raw['features']} are not {list(names)}")
        return cls(names, float(raw["bias"]), tuple(float(w) for w in raw["weights"]))


@dataclass(frozen=True)
class SelectorModel:
    prefilter: Linear
    score: Linear
    confidence: Linear
    calibration: tuple[float, float]  # (a, b): probability = sigmoid(a * confidence + b)
    finalists: int  # candidates whose cosine is computed
    sentence_words: int  # words of a sentence encoded for its cosine
    fallback_cosine: float  # the cosine used where the index has no encoder
    fallback_meaning: float  # the passage's cosine used where the search gave none (lexical)
    fallback_judge: float  # the judge's score used where the index has no encoder, or no weight reads it
    confident_at: float
    abstain_below: float

    def weighs(self, name: str) -> bool:
        """Does the score read semantic feature ``name`` (else it is worked
        out for the chosen answer only, for the confidence and the rules)?"""
        return self.score.weights[self.score.names.index(name)] != 0.0

    @property
    def judged(self) -> bool:
        """Is the answer judge run at all (does the score or the confidence read it)?"""
        return self.weighs("judge") or self.confidence.weights[EVIDENCE.index("judge")] != 0.0

    def probability(self, evidence: Sequence[float]) -> float:
        """The calibrated probability that the chosen answer is right."""
        a, b = self.calibration
        z = a * self.confidence(evidence) + b
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> SelectorModel:
        conf = raw["confidence"]
        return cls(Linear.from_json(raw["prefilter"], CHEAP), Linear.from_json(raw["score"], CHEAP + SEMANTIC),
                   Linear.from_json(conf, EVIDENCE), (float(conf["calibration"][0]), float(conf["calibration"][1])),
                   int(raw["finalists"]), int(raw["sentence_words"]), float(raw["fallback_cosine"]),
                   float(raw["fallback_meaning"]), float(raw["fallback_judge"]),
                   float(conf["confident_at"]), float(conf["abstain_below"]))


def verify(model_dir: Path) -> bytes:
    """The selector file's bytes, once they match ``SHA256SUMS``."""
    sums = {}
    for line in (model_dir / SUMS_FILE).read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, _, name = line.partition("  ")
            sums[name.strip()] = digest.strip().lower()
    data = (model_dir / MODEL_FILE).read_bytes()
    if sums.get(MODEL_FILE) != hashlib.sha256(data).hexdigest():
        raise SelectorIntegrityError(f"{model_dir / MODEL_FILE}: does not match {SUMS_FILE}")
    return data


@lru_cache(maxsize=1)
def shipped_model() -> SelectorModel:
    """The shipped selector, verified and read once per process."""
    return SelectorModel.from_json(json.loads(verify(MODEL_DIR)))
