"""Train the answer selector and its confidence; write service/answer/models/.

    .venv/bin/pip install -e '.[train]'
    .venv/bin/python scripts/train_selector.py --squad /work/shared/datasets/squad-dev-a

Trained on squad-dev-a only (its files' sha256 are checked first): every
question is searched as the service searches, every candidate sentence of
its top passages (``service.answer.selection.plain_candidates``) is a row,
labelled right when it comes from the question's paragraph and holds one
of SQuAD's answer spans (a two-sentence run only when no one sentence of it
does, so the shorter quote is what is learned).  Three logistic
regressions (scikit-learn, this script only; the service reads the
weights with plain Python):

1. the prefilter, on the cheap features of every candidate;
2. the score, on the cheap features and the semantic ones (the cosine,
   and the answer judge's score: ``scripts/train_judge.py``) of the
   prefilter's best ``--finalists`` per question (``--selector listwise``:
   a conditional logit over each question's finalists instead,
   ``listwise.py``);
3. the confidence, on the chosen answer's evidence, for every question as
   it is and again with its own paragraph taken out of the index's answers
   (a near miss on the article's own topic: whatever is chosen then is wrong).

Only the squad-dev-a articles the shipped answer judge was not trained on
(its ``training.json``: the half this script's seed holds out) are used,
so its scores here are what it does on text it has not seen.  They are
split in two by article (seeded) to report held-out figures, then each
model is refit on all of them.  The confidence is then refit on those
rows and the question set's answers (eval/questions.jsonl, weighted to a
quarter: ``CALIBRATION_WEIGHT``), calibrated on the question set (Platt:
a logistic of the confidence score), its thresholds read off 5-fold
cross-validated probabilities.  The model card records all of it.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pickle
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from listwise import listwise_weights  # noqa: E402

from service import open_corpus  # noqa: E402
from service.answer import model as selector_model  # noqa: E402
from service.answer.candidates import ANSWER_DEPTH, MAX_MARGIN, overlaps  # noqa: E402
from service.answer.confidence import evidence, evidence_of  # noqa: E402
from service.answer.judge import JUDGE_WORDS  # noqa: E402
from service.answer.model import CHEAP, EVIDENCE, SEMANTIC, SelectorModel  # noqa: E402
from service.answer.outcome import FEW_WORDS_COSINE, lacks  # noqa: E402
from service.answer.question import read_question  # noqa: E402
from service.answer.selection import plain_candidates, select  # noqa: E402
from service.answer.semantic import sentence_text  # noqa: E402
from service.config import BUNDLED_CORPUS  # noqa: E402
from service.embedding.cross_encoder import default_judge_dir  # noqa: E402
from service.embedding.shared import shared_judge  # noqa: E402
from service.evaluation.datasets import load_questions  # noqa: E402
from service.evaluation.metrics import fold  # noqa: E402

SEED = 20250601
SQUAD_SHA256 = {
    "corpus.jsonl": "395694cebb1f0dee927cf4d89a5e0c63911ed5bec0c11faf1c192b770c9601df",
    "queries.jsonl": "23423f9063fc2cd9b0e833598a5a0745888377123cd69337a58022aa7441cca8",
    "qrels/test.tsv": "9ba0e0ca13828531edfe70aff460de7ebf70b7b429078e60bb86c53738d649b0",
    "answers.jsonl": "95bd6e974dc33901e3694e3da9cbd433ac942312c3dc9b1ed228b722251ae20a",
}
MAX_FINALISTS = 5  # cosines computed per question while training: --finalists is at most this
SENTENCE_WORDS = 32
CALIBRATION_SET = ROOT / "eval" / "questions.jsonl"
#: ``--selector hand``: the hand-set weights the selector had before it was
#: learned (coverage 1, context 0.3, BM25 rank 0.15, type cue 0.35, a second
#: sentence -0.25, a repeat -0.5), kept while the learned ones lose on a kind
#: of question (MODEL_CARD.md).
HAND = dict(zip(CHEAP, (1.0, 0.3, 0.15, 0.0, 0.35, 0.0, -0.25, -0.5, 0.0)))
#: What reading the candidates needs of a model before one is trained: the
#: passage cosine's fallback only (the searches here are hybrid: never read).
READER = SelectorModel.from_json({
    "prefilter": {"features": list(CHEAP), "bias": 0.0, "weights": [0.0] * len(CHEAP)},
    "score": {"features": list(CHEAP + SEMANTIC), "bias": 0.0, "weights": [0.0] * (len(CHEAP) + len(SEMANTIC))},
    "confidence": {"features": list(EVIDENCE), "bias": 0.0, "weights": [0.0] * len(EVIDENCE),
                   "calibration": [1.0, 0.0], "confident_at": 1.0, "abstain_below": 0.0},
    "finalists": 1, "sentence_words": 0, "fallback_cosine": 0.0, "fallback_meaning": 0.0, "fallback_judge": 0.0})


def check_inputs(folder: Path) -> dict[str, str]:
    for name, want in SQUAD_SHA256.items():
        got = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        if got != want:
            sys.exit(f"{folder / name}: sha256 {got}, not the {want} this model was trained on")
    return dict(SQUAD_SHA256)


def read_squad(folder: Path) -> list[tuple[str, str, str, list[str]]]:
    """(question id, question, its paragraph's id, answer spans), in file order."""
    texts = {r["_id"]: r["text"] for r in map(json.loads, (folder / "queries.jsonl").open(encoding="utf-8"))}
    spans = {r["_id"]: r["answers"] for r in map(json.loads, (folder / "answers.jsonl").open(encoding="utf-8"))}
    gold = {}
    for line in (folder / "qrels" / "test.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        qid, doc, _ = line.split("\t")
        gold[qid] = doc
    return [(qid, texts[qid], gold[qid], spans[qid]) for qid in texts if qid in gold]


def _run_text(run) -> str:
    hit = run[0].hit
    return hit.text[run[0].start - hit.start_char:run[-1].end - hit.start_char]


def rows_of(result, retriever, gold: str, spans: list[str]) -> dict:
    """One question's candidates: cheap features, labels, what their cosines need."""
    wanted = [fold(a) for a in spans]

    def holds(run) -> bool:
        return run[0].hit.source_id == gold and any(w in fold(_run_text(run)) for w in wanted)

    q = read_question(result.query, result.terms, retriever)
    pool = plain_candidates(result, retriever, READER)
    label = [holds(run) and (len(run) == 1 or not any(holds((s,)) for s in run)) for _, _, run, _ in pool]
    texts = [[sentence_text(run[0].hit, s.analysed, SENTENCE_WORDS) for s in run] for _, _, run, _ in pool]
    judged = [[sentence_text(run[0].hit, s.analysed, JUDGE_WORDS) for s in run] for _, _, run, _ in pool]
    return {"x": np.array([x for _, x, _, _ in pool], dtype=np.float64).reshape(-1, len(CHEAP)),
            "y": np.array(label, dtype=bool), "texts": texts, "judged": judged, "query": result.query,
            "qvec": result.query_vector,
            "matched": [len(terms & q.weights.keys()) for *_, terms in pool], "words": len(q.weights),
            "places": [place for place, *_ in pool]}


def collect(retriever, squad, log_every: int = 500) -> tuple[list[dict], list[dict]]:
    """Every question's rows as searched, and with its own paragraph left out."""
    asked, missed = [], []
    t0 = time.perf_counter()
    for n, (qid, text, gold, spans) in enumerate(squad, 1):
        result = retriever.search(text, 2 * ANSWER_DEPTH)
        own = replace(result, hits=result.hits[:ANSWER_DEPTH])
        others = replace(result, hits=[h for h in result.hits if h.source_id != gold][:ANSWER_DEPTH])
        for out, r in ((asked, own), (missed, others)):
            row = rows_of(r, retriever, gold, spans)
            row["article"] = gold.split("_")[0]
            out.append(row)
        if n % log_every == 0:
            print(f"  {n}/{len(squad)} questions, {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return asked, missed


def fit(x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """A standardized logistic regression (rows weighted by ``weight``), as
    (bias, weights) over the raw features."""
    scaler = StandardScaler().fit(x)
    scale = np.where(scaler.scale_ > 0, scaler.scale_, 1.0)
    lr = LogisticRegression(C=1.0, max_iter=2000, random_state=SEED).fit((x - scaler.mean_) / scale, y,
                                                                           sample_weight=weight)
    w = lr.coef_[0] / scale
    return float(lr.intercept_[0] - np.dot(w, scaler.mean_)), w


def linear(bias: float, w: np.ndarray, names: tuple[str, ...]) -> dict:
    return {"features": list(names), "bias": round(bias, 6), "weights": [round(float(v), 6) for v in w]}


def prefilter_order(row: dict, model: dict) -> list[int]:
    """Candidates best first by the prefilter, the first of equals first."""
    lin = selector_model.Linear.from_json(model, CHEAP)
    scores = [lin(x) for x in row["x"].tolist()]
    return sorted(range(len(scores)), key=lambda j: (-scores[j], j))


class Cosines:
    """Sentence cosines, each sentence encoded once for the whole run."""

    def __init__(self, encoder) -> None:
        self.encoder, self.memo = encoder, {}

    def of(self, qvec: np.ndarray, texts: list[str]) -> float:
        for t in texts:
            if t not in self.memo:
                self.memo[t] = self.encoder.encode_passages([t])[0]
        return max(float(np.dot(qvec, self.memo[t])) for t in texts)


class Judgements:
    """The answer judge's scores (the shipped int8 model, as the service runs it), each pair scored once."""

    def __init__(self) -> None:
        self.judge, self.memo = shared_judge(), {}

    def of(self, query: str, texts: list[str]) -> float:
        for t in texts:
            if (query, t) not in self.memo:
                self.memo[query, t] = float(self.judge.score(query, [t])[0])
        return max(self.memo[query, t] for t in texts)


def judge_digest() -> str:
    """The shipped judge's model checksum, short (its scores are kept per model)."""
    return hashlib.sha256((default_judge_dir() / "model.onnx").read_bytes()).hexdigest()[:12]


def finalists(rows: list[dict], pre: dict, cosines: Cosines, judgements: Judgements) -> None:
    """Each row's MAX_FINALISTS best by the prefilter, with their full features."""
    for row in rows:
        order = prefilter_order(row, pre)[:MAX_FINALISTS]
        row["final"] = order
        row["full"] = np.array([list(row["x"][j]) + [cosines.of(row["qvec"], row["texts"][j]),
                                                     judgements.of(row["query"], row["judged"][j])] for j in order],
                               dtype=np.float64).reshape(-1, len(CHEAP) + len(SEMANTIC))


def choose(row: dict, score: dict, n: int) -> tuple[int, float, float, float] | None:
    """The chosen finalist among the first ``n`` (its index in ``final``),
    score, margin and lead (as :func:`service.answer.candidates.choose`)."""
    lin = selector_model.Linear.from_json(score, CHEAP + SEMANTIC)
    scored = [(lin(row["full"][i].tolist()), -i) for i in range(min(n, len(row["final"])))]
    if not scored:
        return None
    best, i = max(scored)
    runner = max((s for s, j in scored if j != i), default=best - MAX_MARGIN)
    place = row["places"][row["final"][-i]]
    apart = max((s for s, j in scored if not overlaps(row["places"][row["final"][-j]], place)),
                default=best - MAX_MARGIN)
    return -i, best, min(best - runner, MAX_MARGIN), min(best - apart, MAX_MARGIN)


def accuracy(rows: list[dict], score: dict, n: int) -> float:
    hits = 0
    for row in rows:
        c = choose(row, score, n)
        hits += c is not None and bool(row["y"][row["final"][c[0]]])
    return hits / len(rows)


def evidence_rows(rows: list[dict], score: dict, n: int, right: bool) -> tuple[list, list]:
    xs, ys = [], []
    for row in rows:
        c = choose(row, score, n)
        if c is None:
            continue
        i, s, margin, lead = c
        j = row["final"][i]
        xs.append(evidence_of(tuple(row["full"][i].tolist()), s, margin, lead, row["matched"][j], row["words"]))
        ys.append(right and bool(row["y"][j]))
    return xs, ys


def few_words_by_judge(asked: list[dict], missed: list[dict], score: dict, n: int) -> list[dict]:
    """The chosen answers the one-shared-word rule refuses (one of the
    question's words, cosine under ``outcome.FEW_WORDS_COSINE``), as asked
    and as near misses (always wrong): how many there are, and how often
    right, from each judge score up (the rule's evidence, measured)."""
    xs, ys = evidence_rows(asked, score, n, True)
    xm, ym = evidence_rows(missed, score, n, False)
    ev = EVIDENCE.index
    few = [(x[ev("judge")], y) for x, y in zip(xs + xm, ys + ym)
           if x[ev("few")] == 1.0 and x[ev("cosine")] < FEW_WORDS_COSINE]
    if not few:
        return []
    judge = np.array([j for j, _ in few])
    right = np.array([y for _, y in few])
    return [{"judge_at_least": round(float(t), 3), "answers": int((judge >= t).sum()),
             "right": round(float(right[judge >= t].mean()), 3)}
            for t in np.quantile(judge, [0.0, 0.5, 0.75, 0.9, 0.95])]


#: The question set's share of the confidence's training weight (its
#: squad-dev-a rows have the rest): enough to teach it how readers ask
#: (squad-dev-a's questions were written looking at the paragraph: a
#: sentence holding all their words is right less often than one holding
#: nearly all), not so much that its hundred questions decide alone.
CALIBRATION_WEIGHT = 0.25


def fit_confidence(xs: np.ndarray, ys: np.ndarray, xq: np.ndarray, yq: np.ndarray) -> tuple[float, np.ndarray]:
    """The confidence's weights fitted on squad-dev-a's rows and the
    question set's, these weighted to CALIBRATION_WEIGHT of the whole."""
    w = np.concatenate([np.ones(len(ys)), np.full(len(yq), CALIBRATION_WEIGHT * len(ys) / max(len(yq), 1))])
    return fit(np.vstack([xs, xq]), np.concatenate([ys, yq]), w)


def platt(z: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    lr = LogisticRegression(C=100.0).fit(z.reshape(-1, 1), y)
    return float(lr.coef_[0][0]), float(lr.intercept_[0])


def calibration_rows(raw: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """The question set's chosen answers as served: evidence, right or not,
    whether the abstention rules let it through, and the question's kind."""
    retriever = open_corpus(BUNDLED_CORPUS)
    model = SelectorModel.from_json(raw)
    xs, ys, passed, kinds = [], [], [], []
    for q in load_questions(CALIBRATION_SET):
        result = retriever.search(q.question, ANSWER_DEPTH)
        sel = select(result, retriever, model)
        if sel.best is None:
            continue  # abstained whatever the confidence
        xs.append(evidence(sel.best, sel.question))
        run = sel.best.sentences
        ys.append(q.answerable and run[0].hit.source_id in q.sources and fold(q.answer) in fold(_run_text(run)))
        passed.append(lacks(sel.best, sel.question, retriever.analyzer) is None)
        kinds.append(q.kind)
    return np.array(xs), np.array(ys), np.array(passed), kinds


def calibrate(raw: dict, xs: np.ndarray, ys: np.ndarray, cv_seed: int, precision: float) -> dict:
    """The confidence fitted on squad-dev-a's evidence rows ``xs``, ``ys``
    and the question set's (:func:`fit_confidence`), Platt-scaled on the
    question set, and its ``confident_at`` threshold read off 5-fold
    cross-validated probabilities of the question set's answers that the
    abstention rules let through (each fold's weights and scaling fitted
    without it)."""
    xq, yq, passed, kinds = calibration_rows(raw)
    cv = np.zeros(len(yq))
    for train, test in StratifiedKFold(5, shuffle=True, random_state=cv_seed).split(xq, yq):
        b, w = fit_confidence(xs, ys, xq[train], yq[train])
        a, c = platt(xq[train] @ w + b, yq[train])
        cv[test] = 1.0 / (1.0 + np.exp(-(a * (xq[test] @ w + b) + c)))
    b, w = fit_confidence(xs, ys, xq, yq)
    a, c = platt(xq @ w + b, yq)
    table = []
    for t in THRESHOLDS:
        shown = passed & (cv >= t)
        table.append({"at": t, "share": round(float(shown.sum() / passed.sum()), 3),
                      "precision": round(float(yq[shown].mean()), 3) if shown.any() else None})
    return {"confidence": linear(b, w, EVIDENCE), "a": a, "b": c, "cv": cv.tolist(), "y": yq.tolist(),
            "passed": passed.tolist(), "kinds": kinds, "table": table,
            "auc": float(roc_auc_score(yq[passed], cv[passed])), "confident_at": confident_threshold(table, precision)}


THRESHOLDS = [i / 20 for i in range(1, 20)]


def confident_threshold(table: list[dict], precision: float) -> float:
    """The lowest threshold from which every higher one shows answers that
    are right at least ``precision`` of the time (cross-validated): the
    most answers shown as the answer at that precision."""
    chosen = 1.0
    for row in reversed(table):
        if row["precision"] is not None and row["precision"] < precision:
            break
        chosen = row["at"]
    return chosen


#: ``--selector sentence``: the features that tell one sentence of a passage
#: from another, whose weights are fitted.  The passage-level ones (context,
#: bm25, rank, meaning) keep their hand-set weights, which the fit would
#: otherwise spend on which passage holds squad-dev-a's single answer; so do
#: the type cue's (near, untyped), which the abstention rules read: fitted,
#: they fall to about 0 on squad-dev-a, and the selector then picks untyped
#: sentences that the rules abstain on (check set lexical 16/18 → 14/18).
SENTENCE_LEVEL = ("coverage", "extra", "repeat", "cosine")


def sentence_level(rows: list[dict]) -> dict:
    """The score: the hand-set weights with the sentence-level ones fitted
    on the finalists' full features, scaled so that coverage keeps its
    hand-set weight (the passage-level weights stay in the same units)."""
    names = CHEAP + SEMANTIC
    cols = [names.index(n) for n in SENTENCE_LEVEL]
    _, w = fit(np.vstack([r["full"][:, cols] for r in rows]), np.concatenate([r["y"][r["final"]] for r in rows]))
    weights = np.array([HAND.get(n, 0.0) for n in names])
    weights[cols] = w * HAND["coverage"] / w[SENTENCE_LEVEL.index("coverage")]
    return linear(0.0, weights, names)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--squad", type=Path, required=True, help="the squad-dev-a folder")
    p.add_argument("--selector", choices=("learned", "sentence", "listwise", "hand"), default="learned",
                   help="fit the selector's weights; fit only its sentence-level ones (SENTENCE_LEVEL) among the "
                   "hand prefilter's finalists, keeping the hand-set passage-level ones; fit the score listwise "
                   "over the hand prefilter's --finalists (listwise.py); or keep all the hand-set "
                   "ones (the confidence is fitted either way)")
    p.add_argument("--cosine-weight", type=float, default=0.0,
                   help="--selector hand: the cosine's weight in the score (the others are hand-set)")
    p.add_argument("--judge-weight", type=float, default=0.0,
                   help="--selector hand: the answer judge's weight in the score")
    p.add_argument("--finalists", type=int, default=3, help="candidates whose semantic features the service computes")
    p.add_argument("--confident-precision", type=float, default=0.9,
                   help="confident_at: the lowest calibrated probability from which the question set's answers are "
                   "right this often, cross-validated")
    p.add_argument("--abstain-below", type=float, required=True, help="calibrated probability abstained below")
    p.add_argument("--limit", type=int, default=0, help="a seeded sample of N questions only (a quick trial)")
    p.add_argument("--rows", type=Path, help="keep the collected candidates in this file and reuse them "
                   "(trials of --selector/--finalists; delete it when the features change), and the finalists' "
                   "cosines and judge scores beside it")
    p.add_argument("--out", type=Path, default=selector_model.MODEL_DIR)
    args = p.parse_args()
    t_start = time.perf_counter()
    sums = check_inputs(args.squad)
    squad = read_squad(args.squad)
    # Only the articles the answer judge was not trained on: its scores on
    # the others would make it look surer than it is.
    unseen = set(json.loads((default_judge_dir() / "training.json").read_text())["held_out_articles"])
    squad = [q for q in squad if q[2].split("_")[0] in unseen]
    if args.limit:
        squad = sorted(random.Random(SEED).sample(squad, args.limit))
    retriever = open_corpus(args.squad / "corpus.jsonl")
    if args.rows and args.rows.exists():
        asked, missed = pickle.loads(args.rows.read_bytes())
    else:
        print(f"{len(squad)} questions; collecting candidates", file=sys.stderr)
        asked, missed = collect(retriever, squad)
        if args.rows:
            args.rows.write_bytes(pickle.dumps((asked, missed)))
    articles = sorted({r["article"] for r in asked}, key=int)
    random.Random(SEED).shuffle(articles)
    held = set(articles[: len(articles) // 2])
    report: dict = {"questions": len(squad), "held_out_articles": sorted(held, key=int)}
    cosines, judgements = Cosines(retriever.encoder), Judgements()
    memo = args.rows and args.rows.with_name(f"{args.rows.stem}.semantic-{judge_digest()}.pkl")
    if memo and memo.exists():
        cosines.memo, judgements.memo = pickle.loads(memo.read_bytes())
    models = {}
    for split in ("half", "all"):
        train = [r for r in asked if split == "all" or r["article"] not in held]
        if args.selector in ("hand", "sentence", "listwise"):
            pre = linear(0.0, np.array([HAND[n] for n in CHEAP]), CHEAP)
        else:
            pre = linear(*fit(np.vstack([r["x"] for r in train]), np.concatenate([r["y"] for r in train])), CHEAP)
        finalists(asked, pre, cosines, judgements)
        finalists(missed, pre, cosines, judgements)
        train = [r for r in asked if split == "all" or r["article"] not in held]
        if args.selector == "hand":
            score = linear(0.0, np.array([HAND[n] for n in CHEAP] + [args.cosine_weight, args.judge_weight]),
                           CHEAP + SEMANTIC)
        elif args.selector == "sentence":
            score = sentence_level(train)
        elif args.selector == "listwise":
            score = linear(0.0, listwise_weights([r["full"][:args.finalists] for r in train],
                                                 [r["y"][r["final"][:args.finalists]] for r in train],
                                                 CHEAP + SEMANTIC, HAND), CHEAP + SEMANTIC)
        else:
            score = linear(*fit(np.vstack([r["full"] for r in train]),
                                np.concatenate([r["y"][r["final"]] for r in train])), CHEAP + SEMANTIC)
        xs, ys = evidence_rows(train, score, args.finalists, True)
        xm, ym = evidence_rows([r for r in missed if split == "all" or r["article"] not in held],
                               score, args.finalists, False)
        conf = linear(*fit(np.array(xs + xm), np.array(ys + ym)), EVIDENCE)
        models[split] = (pre, score, conf, np.array(xs + xm), np.array(ys + ym))
        if split == "half":
            test = [r for r in asked if r["article"] in held]
            report["held_out_questions"] = len(test)
            report["held_out_accuracy_by_finalists"] = {n: round(accuracy(test, score, n), 4)
                                                        for n in range(1, MAX_FINALISTS + 1)}
            report["held_out_candidate_in_top_10"] = round(float(np.mean([r["y"].any() for r in test])), 4)
            xs, ys = evidence_rows(test, score, args.finalists, True)
            xm, ym = evidence_rows([r for r in missed if r["article"] in held], score, args.finalists, False)
            report["held_out_few_words_by_judge"] = few_words_by_judge(
                test, [r for r in missed if r["article"] in held], score, args.finalists)
            lin = selector_model.Linear.from_json(conf, EVIDENCE)
            report["held_out_confidence_auc"] = round(float(roc_auc_score(ys + ym, [lin(x) for x in xs + xm])), 4)
    if memo:
        memo.write_bytes(pickle.dumps((cosines.memo, judgements.memo)))
    pre, score, conf, xs, ys = models["all"]
    raw = {"about": "The answer selector and its confidence; written by scripts/train_selector.py (MODEL_CARD.md).",
           "prefilter": pre, "score": score, "finalists": args.finalists, "sentence_words": SENTENCE_WORDS,
           "fallback_cosine": round(float(np.mean([r["full"][0][-2] for r in asked if len(r["final"])])), 4),
           "fallback_judge": round(float(np.mean([r["full"][0][-1] for r in asked if len(r["final"])])), 4),
           "fallback_meaning": round(float(np.mean([r["x"][0][CHEAP.index("meaning")] for r in asked
                                                     if len(r["x"])])), 4),
           "confidence": {**conf, "calibration": [1.0, 0.0], "confident_at": 1.0, "abstain_below": 0.0}}
    cal = calibrate(raw, xs, ys, SEED, args.confident_precision)
    raw["confidence"] = {**cal["confidence"], "calibration": [round(cal["a"], 6), round(cal["b"], 6)],
                         "confident_at": cal["confident_at"], "abstain_below": args.abstain_below}
    report["calibration"] = {k: cal[k] for k in ("a", "b", "auc", "table")}
    report["calibration_cv"] = {"p": [round(v, 4) for v in cal["cv"]], "right": cal["y"], "passed": cal["passed"],
                                "kinds": cal["kinds"]}
    raw["training"] = {"seed": SEED, "selector": args.selector, "cosine_weight": args.cosine_weight,
                       "judge_weight": args.judge_weight,
                       "confident_precision": args.confident_precision,
                       "data": {f"squad-dev-a/{k}": v for k, v in sums.items()},
                       "calibration_set": "eval/questions.jsonl", "seconds": round(time.perf_counter() - t_start),
                       **report}
    args.out.mkdir(parents=True, exist_ok=True)
    data = (json.dumps(raw, indent=1) + "\n").encode()
    (args.out / selector_model.MODEL_FILE).write_bytes(data)
    (args.out / selector_model.SUMS_FILE).write_text(
        f"{hashlib.sha256(data).hexdigest()}  {selector_model.MODEL_FILE}\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in report.items() if k != "calibration_cv"}, indent=1))
    print(f"wrote {args.out / selector_model.MODEL_FILE} in {time.perf_counter() - t_start:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
