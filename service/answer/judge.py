"""The judge feature: the answer judge's score of the question and a
candidate's sentences, each read together with the question.

The sentence cosine compares two vectors made apart; the judge (a small
cross-encoder fine-tuned on squad-dev-a to pick the sentence holding the
answer, :mod:`service.embedding.cross_encoder`) reads both at once, so it
sees which words of the sentence answer which of the question.  It costs a
few ms per sentence on one thread, so it scores only the finalists the
cheap features keep, and is loaded only when the model's weights read it.
An index without an encoder (built ``--no-semantic``) is answered without
it: the model's fallback stands in, as for the cosine.
"""

from __future__ import annotations

from typing import Sequence

from ..embedding.cross_encoder import CrossEncoder
from ..embedding.shared import shared_judge
from ..retrieval.retriever import Hit, Retriever
from .model import SelectorModel, shipped_model
from .reading import SentenceReading
from .semantic import sentence_text

#: Words of a sentence given to the judge, as in its training pairs (the
#: tokenizer then cuts the longer part, the sentence, to the model's length).
JUDGE_WORDS = 64


def judge_for(retriever: Retriever, model: SelectorModel | None = None) -> CrossEncoder | None:
    """The judge ``model`` (the shipped selector by default) runs on
    ``retriever``'s answers, verified and loaded; None if it runs none.
    A server loads it before forking its workers, and each worker opens
    its session before its first request, as it does the encoder's."""
    model = model if model is not None else shipped_model()
    return shared_judge() if model.judged and retriever.encoder is not None else None


def run_judgement(question: str, run: Sequence[SentenceReading], hit: Hit, retriever: Retriever,
                  model: SelectorModel) -> float:
    """The judge's best score of a sentence of ``run`` for ``question``."""
    judge = judge_for(retriever, model)
    if judge is None:
        return model.fallback_judge
    return float(judge.score(question, [sentence_text(hit, s, JUDGE_WORDS) for s in run]).max())
