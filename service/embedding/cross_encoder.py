"""A cross-encoder: one score for a question and a text read together.

The answer judge (``models/answer-judge``, made by ``scripts/train_judge.py``)
reads "[CLS] question [SEP] sentence [SEP]" and scores how likely the
sentence answers the question: the words of both attend to each other,
which two separately made vectors cannot do.  It runs as the sentence
encoder does (:class:`~.encoder.Encoder`: verified files, int8 ONNX, one
thread, a session per process so that forked workers make their own); only
the input differs: a pair, cut to ``max_length`` word pieces, the longer
part first (the sentence, as in training, unless the question is longer), and the model's output is the score (``dim`` 1, no pooling here).
Each pair is its own run: the int8 model's activation scale is per run, so
a batch would make a pair's score depend on its batch-mates.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .encoder import Encoder, EncoderConfig, verify


def default_judge_dir() -> Path:
    """The answer judge shipped with the package."""
    return Path(__file__).resolve().parent / "models" / "answer-judge"


class CrossEncoder(Encoder):
    """Scores (question, text) pairs with a verified cross-encoder model."""

    def __init__(self, config: EncoderConfig) -> None:
        if config.dim != 1:
            raise ValueError(f"a cross-encoder gives one score per pair, not {config.dim}")
        super().__init__(config)
        # The longer part is cut first: the sentence, but a question longer
        # than the whole input too (cutting only the sentence would fail on it).
        self._tokenizer.enable_truncation(max_length=config.max_length, strategy="longest_first")

    @classmethod
    def load(cls, model_dir: Path | str | None = None) -> CrossEncoder:
        """Verify ``model_dir`` (the shipped judge by default) and open it."""
        model_dir = Path(model_dir) if model_dir is not None else default_judge_dir()
        verify(model_dir)
        return cls(EncoderConfig.from_dir(model_dir))

    def score(self, question: str, texts: Sequence[str]) -> np.ndarray:
        """The model's score of ``question`` with each of ``texts``, float64."""
        out = np.empty(len(texts), dtype=np.float64)
        if not texts:
            return out
        session = self._session_for_this_process()
        wanted = {i.name for i in session.get_inputs()}
        for r, text in enumerate(texts):
            enc = self._tokenizer.encode(question, text)
            ids = np.array([enc.ids], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": np.ones_like(ids),
                    "token_type_ids": np.array([enc.type_ids], dtype=np.int64)}
            out[r] = session.run(None, {k: v for k, v in feed.items() if k in wanted})[0][0, 0]
        return out
