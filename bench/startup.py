"""Start-up benchmark: a whole ``ask`` on a folder corpus with nothing changed.

    python bench/startup.py --passages 380000
    python bench/startup.py --corpus /tmp/arch/s380/corpus --index /tmp/arch/s380/idx --before /tmp/before

Without ``--corpus``, writes a synthetic corpus of ``--passages`` passages
(bench/synthetic.py) as one ``.txt`` file per article and indexes it
lexically; with it, uses that folder and its index ``--index`` (copied
as hard links, so the copy's record of files read does not touch it).
Then, with nothing changed, times in one process: the incremental check
and load (:func:`service.index.sync.open_index`, best of 3), and a whole
``python -m service ask`` with a question of the corpus's words (imports,
check, load, the answer), to its first line of output and to its exit,
best and median of ``--rounds``.  ``--before DIR``: a source tree (a
``service`` package, e.g. ``git archive`` of an older commit) whose
``ask`` is timed too, interleaved round by round on its own copy of the
index: the before → after in one run.  Each side asks once untimed
first (it reads the index whole and records it).  Writes
bench/out/startup.json and the "Start-up" section of bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import synthetic  # noqa: E402
from retrieval import OUT, run_in_work  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _write_folder(work: Path, n_passages: int) -> Path:
    folder = work / "corpus"
    folder.mkdir()
    for line in synthetic.write_corpus(work / "corpus.jsonl", n_passages).read_text().splitlines():
        rec = json.loads(line)
        (folder / f"{rec['_id']}.txt").write_text(rec["text"], encoding="utf-8")
    return folder


def _ask(source: Path, folder: Path, idx: Path, question: str) -> tuple[float, float]:
    """Seconds to the first line a whole ``ask`` prints and to its exit,
    with the ``service`` package of ``source``."""
    env = {**os.environ, "GROUNDEDQA_SEMANTIC": "false", "PYTHONPATH": str(source)}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "service", "ask", "--corpus", str(folder), "--index", str(idx),
                             "--retrieval", "lexical", question], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, cwd=source)
    first = proc.stdout.readline()
    t1 = time.perf_counter()
    out, err = proc.communicate()
    t2 = time.perf_counter()
    if proc.returncode != 0 or not first:
        raise RuntimeError(f"ask with {source} failed ({proc.returncode}): {err.decode()[-500:]}")
    return t1 - t0, t2 - t0


def run(n_passages: int, corpus: Path | None, index: Path | None, before: Path | None, rounds: int,
        work: Path) -> dict:
    from service.config import Config
    from service.index.sync import open_index

    out: dict = {}
    if corpus is None:
        folder, idx = _write_folder(work, n_passages), work / "idx"
        config = replace(Config(), corpus=folder, index_dir=idx, semantic=False)
        t0 = time.perf_counter()
        open_index(config)
        out["index_s"] = round(time.perf_counter() - t0, 2)
    else:
        folder, idx = corpus, work / "idx"
        shutil.copytree(index, idx, copy_function=os.link, ignore=shutil.ignore_patterns(".verified.json"))
    sides = {"after": (ROOT, idx)}
    if before is not None:
        shutil.copytree(idx, work / "idx-before", copy_function=os.link, ignore=shutil.ignore_patterns(".verified.json"))
        sides["before"] = (before, work / "idx-before")
    n_files = sum(1 for _ in folder.iterdir())
    question = " ".join(synthetic.queries(1)[0])
    for source, side_idx in sides.values():
        _ask(source, folder, side_idx, question)  # untimed: reads the index whole once and records it
    times = {side: [] for side in sides}
    for _ in range(rounds):
        for side, (source, side_idx) in sides.items():
            times[side].append(_ask(source, folder, side_idx, question))
    config = replace(Config(), corpus=folder, index_dir=idx, semantic=False)
    opens = []
    for _ in range(3):
        t0 = time.perf_counter()
        open_index(config)
        opens.append(time.perf_counter() - t0)
    stored = open_index(config)
    out.update({"corpus": str(corpus) if corpus else None, "files": n_files,
                "passages": int(stored.manifest["n_passages"]), "question": question, "rounds": rounds,
                "open_index_s": round(min(opens), 3), "before_source": str(before) if before else None})
    for side, runs in times.items():
        first, whole = [r[0] for r in runs], [r[1] for r in runs]
        out[side] = {"first_line_best_s": round(min(first), 3), "first_line_median_s": round(statistics.median(first), 3),
                     "whole_best_s": round(min(whole), 3), "whole_median_s": round(statistics.median(whole), 3)}
    return out


def section(data: dict) -> list[str]:
    from report import _machine

    r = data["results"][0]
    made = (f"a folder of {r['files']:,} synthetic `.txt` articles ({r['passages']:,} passages), indexed "
            f"lexically in {r['index_s']} s" if r.get("index_s") is not None else
            f"the folder `{r['corpus']}` ({r['files']:,} files, {r['passages']:,} passages) and a hard-linked copy of its index")
    cmd = f"--corpus {r['corpus']} --index …" if r.get("corpus") else f"--passages {r['passages']}"
    out = ["## Start-up", "", *_machine(data["info"]), "",
           f"`bench/startup.py {cmd}{' --before ' + r['before_source'] if r.get('before_source') else ''}`: {made}; then, with "
           f"nothing changed, a whole `python -m service ask --retrieval lexical` with the question "
           f"\"{r['question']}\" (imports, the check of every file, the load, the answer), {r['rounds']} rounds"
           + (", the code before and after interleaved round by round, each on its own copy of the index"
              if r.get("before_source") else "") + ".", "",
           "| start-up with nothing changed | first line, best s | first line, median s | exit, best s | exit, median s |",
           "|---|---|---|---|---|"]
    for side, label in (("before", f"before (`{r.get('before_source')}`)"), ("after", "this code")):
        if side in r:
            s = r[side]
            out.append(f"| {label} | {s['first_line_best_s']} | {s['first_line_median_s']} | {s['whole_best_s']} | "
                       f"{s['whole_median_s']} |")
    after = r["after"]["first_line_median_s"]
    out += ["", f"In-process `open_index` (stat every file, then load the index), best of 3: {r['open_index_s']} s.", "",
            f"Target: the first line of a whole `ask` ≤ 1.5 s: median {after} s, {'met' if after <= 1.5 else 'NOT met'} "
            f"(best {r['after']['first_line_best_s']} s).", ""]
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--passages", type=int, default=380_000)
    ap.add_argument("--corpus", type=Path, help="an existing folder corpus (with --index: its index)")
    ap.add_argument("--index", type=Path)
    ap.add_argument("--before", type=Path, help="a source tree whose ask is timed beside this one's")
    ap.add_argument("--rounds", type=int, default=7)
    args = ap.parse_args()
    if (args.corpus is None) != (args.index is None):
        ap.error("--corpus and --index go together")
    run_in_work("startup", run, args.passages, args.corpus, args.index, args.before, args.rounds)


if __name__ == "__main__":
    main()
