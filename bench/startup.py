"""Start-up benchmark: opening a folder corpus's index with nothing changed.

    python bench/startup.py --passages 380000

Writes a synthetic corpus of ``--passages`` passages (bench/synthetic.py)
as one ``.txt`` file per article, indexes it lexically, then times, with
nothing changed and interleaved in one process (best of 3 each), what
``ask``/``serve`` do before the first question: the incremental check
(:func:`service.index.sync.open_index`: one ``stat`` per file) and the
whole-corpus read it replaces (:func:`service.index.build.ensure_index`:
read and fingerprint every file); and the wall time of a whole
``python -m service ask`` (imports included).  Writes
bench/out/startup.json and the "Start-up" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import synthetic  # noqa: E402
from retrieval import OUT, run_in_work  # noqa: E402


def run(n_passages: int, work: Path) -> dict:
    from service.config import Config
    from service.index.build import ensure_index
    from service.index.sync import open_index

    folder, idx = work / "corpus", work / "idx"
    folder.mkdir()
    jsonl = synthetic.write_corpus(work / "corpus.jsonl", n_passages)
    n_files = 0
    for line in jsonl.read_text().splitlines():
        rec = json.loads(line)
        (folder / f"{rec['_id']}.txt").write_text(rec["text"], encoding="utf-8")
        n_files += 1
    config = replace(Config(), corpus=folder, index_dir=idx, semantic=False)
    t0 = time.perf_counter()
    open_index(config)
    out = {"passages": n_passages, "files": n_files, "index_s": round(time.perf_counter() - t0, 2)}
    times = {"incremental": [], "full_read": []}
    for _ in range(3):
        for name, fn in (("incremental", open_index), ("full_read", ensure_index)):
            t0 = time.perf_counter()
            fn(config)
            times[name].append(time.perf_counter() - t0)
    out.update({f"{k}_s": round(min(v), 3) for k, v in times.items()})
    out["ratio"] = round(out["full_read_s"] / out["incremental_s"], 1)
    env = {**os.environ, "GROUNDEDQA_SEMANTIC": "false"}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "service", "ask", "--corpus", str(folder), "--index", str(idx),
                    "--retrieval", "lexical", "zzz"], check=True, capture_output=True, env=env)
    out["ask_s"] = round(time.perf_counter() - t0, 2)
    return out


def section(data: dict) -> list[str]:
    from report import _machine

    r = data["results"][0]
    return ["## Start-up", "", *_machine(data["info"]), "",
            f"`bench/startup.py --passages {r['passages']}`: a folder of {r['files']:,} synthetic `.txt` "
            f"articles ({r['passages']:,} passages), indexed lexically in {r['index_s']} s; then, with nothing "
            "changed, what `ask`/`serve` do before the first question (best of 3, interleaved).", "",
            "| start-up with nothing changed | seconds |", "|---|---|",
            f"| `open_index`: stat every file, then load the index (files hashed before and unchanged since "
            f"are not hashed again) | {r['incremental_s']} |",
            f"| `ensure_index` (before): read and fingerprint every file, then load the index | {r['full_read_s']} |",
            f"| a whole `python -m service ask` (imports, check, load, one question) | {r['ask_s']} |", "",
            f"Target: a whole `ask` ≤ 1.5 s: {r['ask_s']} s, {'met' if r['ask_s'] <= 1.5 else 'NOT met'}.", "",
            f"Nothing changed: the incremental start-up is {r['ratio']}× faster than the whole read it replaces.", ""]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--passages", type=int, default=380_000)
    run_in_work("startup", run, ap.parse_args().passages)


if __name__ == "__main__":
    main()
