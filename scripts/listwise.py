"""The selector's score fitted listwise (``train_selector.py --selector listwise``).

The score only has to rank one question's finalists: which of them is
quoted.  So it is fitted as a conditional logit: per question, a softmax
over its finalists' scores, the right ones the target (the pointwise
logistic regression of ``--selector learned`` spends its weights on
telling questions apart, which the choice never needs).  Some weights keep
their hand-set ratio to coverage's (:data:`HELD`): the type cue's (``near``,
``untyped``: fitted, they fall to about a quarter, and "how many new wards
did the trust open?" is then answered by the sentence with the question's
words rather than the one with the number, which the abstention rules also
read), a second sentence's (squad-dev-a's labels call a two-sentence run
wrong whenever one of its sentences alone holds the answer, so fitted it
falls until no run is ever quoted, also where the question's words are in
one sentence and the answer in the next) and a repeat's (never a finalist
there).  The judge's weight stays 0: fitted, it did not beat the cosine on
held-out articles (MODEL_CARD.md).  L-BFGS from zero with a small L2 penalty: deterministic.
The weights are then scaled so that coverage keeps its hand-set weight: the
choice is the same at any scale, and the score and its margin over the
runner-up (the confidence's evidence, capped at ``MAX_MARGIN``) stay in the
units they had.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize

#: Weights fitted; the others of the score are 0 or held (:data:`HELD`).
FITTED = ("coverage", "context", "bm25", "rank", "meaning", "cosine")
#: Weights held at their hand-set ratio to coverage's.
HELD = ("near", "untyped", "extra", "repeat")
L2 = 1e-4


def fit_listwise(lists: list[tuple[np.ndarray, np.ndarray]], l2: float = L2) -> np.ndarray:
    """Weights maximising the mean log-probability of the right finalists
    (rows of each ``x``, marked by ``y``) under a softmax of ``x @ w``."""
    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = 0.0, np.zeros_like(w)
        for x, y in lists:
            s = x @ w
            e = np.exp(s - s.max())
            right = e * y
            total += np.log(e.sum()) - np.log(right.sum())
            grad += x.T @ (e / e.sum() - right / right.sum())
        n = len(lists)
        return total / n + l2 * float(w @ w), grad / n + 2 * l2 * w

    width = lists[0][0].shape[1]
    return minimize(loss, np.zeros(width), jac=True, method="L-BFGS-B").x


def listwise_weights(fulls: list[np.ndarray], labels: list[np.ndarray], names: tuple[str, ...],
                     hand: dict[str, float]) -> np.ndarray:
    """The score's weights over ``names`` from each question's finalists'
    full features and labels (questions with no right finalist, or only
    right ones, say nothing about the choice and are left out)."""
    fitted = [names.index(n) for n in FITTED]
    cov = names.index("coverage")
    ratio = {names.index(n): hand[n] / hand["coverage"] for n in HELD}
    lists = []
    for full, y in zip(fulls, labels):
        if len(y) < 2 or not y.any() or y.all():
            continue
        x = full[:, fitted].copy()
        x[:, FITTED.index("coverage")] += sum(r * full[:, j] for j, r in ratio.items())
        lists.append((x, y.astype(np.float64)))
    w = fit_listwise(lists)
    weights = np.zeros(len(names))
    weights[fitted] = w * hand["coverage"] / w[FITTED.index("coverage")]
    for j, r in ratio.items():
        weights[j] = r * weights[cov]
    return weights
