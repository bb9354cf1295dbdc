"""Start-up time of the CLI: whole-process wall times of the commands a user waits on first, against a baseline.

Each command runs as a fresh process (``python -c 'from tlsuite_core.cli import main; main()' ...``: what the ``tlsuite``
script runs), the
current checkout and a baseline revision alternating, ``--repeats`` times each; the median wall time of each is
reported with the ratio baseline / current. The baseline runs the same virtualenv with the baseline revision's
code first on ``PYTHONPATH`` (a git worktree, its plugin packages linked under their import names), so only our
code differs.

Commands: ``tlsuite --help``, ``tlsuite finance-monitor train --help``, a bad path
(``tlsuite finance-monitor train --train missing.csv``, exit code 2), and a one-sentence ``predict`` on a small
trained run (made once with ``--max-steps 2`` before timing; the weights do not change the time).

Targets (issue 12, 2 cores): ``--help`` and errors under 1.5 s, one-sentence predict under 4 s.

    python bench/bench_startup.py                          # current against 71bbcfa, writes bench/results/startup.json
    python bench/bench_startup.py --baseline HEAD~3 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLUGIN_PACKAGES = {  # import name -> folder in the checkout (pyproject's package-dir)
    "tlsuite_finance_monitor": "plugins/finance_monitor",
    "tlsuite_ner": "plugins/ner",
    "tlsuite_summarize": "plugins/summarize",
    "tlsuite_translate": "plugins/translate",
}
TLSUITE = [sys.executable, "-c", "from tlsuite_core.cli import main; main()"]
TARGETS = {"help": 1.5, "train_help": 1.5, "bad_path": 1.5, "predict_one": 4.0}


def baseline_path(rev: str, work: Path) -> Path:
    """A folder that puts revision ``rev``'s packages first on ``PYTHONPATH``."""
    tree = work / "tree"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), rev], check=True, capture_output=True
    )
    path = work / "path"
    path.mkdir()
    (path / "tlsuite_core").symlink_to(tree / "tlsuite_core")
    for name, folder in PLUGIN_PACKAGES.items():
        if (tree / folder).is_dir():
            (path / name).symlink_to(tree / folder)
    return path


def commands(run: Path) -> dict[str, tuple[list[str], int]]:
    """name -> (arguments after ``tlsuite``, expected exit code)."""
    return {
        "help": (["--help"], 0),
        "train_help": (["finance-monitor", "train", "--help"], 0),
        "bad_path": (["finance-monitor", "train", "--train", "missing.csv"], 2),
        "predict_one": (
            ["finance-monitor", "predict", "Operating profit rose 20 % year on year", "--model", str(run)],
            0,
        ),
    }


def timed(args: list[str], expect: int, env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run([*TLSUITE, *args], env=env, cwd=cwd, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != expect:
        raise SystemExit(f"tlsuite {' '.join(args)}: exit {proc.returncode}, expected {expect}\n{proc.stderr[-2000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "--baseline", default="71bbcfa", help="git revision to compare against (default: before issue 12)"
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "startup.json"))
    args = parser.parse_args()

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "NO_COLOR": "1"}
    env.pop("PYTHONPATH", None)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        try:
            base_env = {**env, "PYTHONPATH": str(baseline_path(args.baseline, work))}
            run = work / "runs" / "finance-monitor" / "startup"
            subprocess.run(
                [
                    *TLSUITE,
                    "finance-monitor",
                    "train",
                    "--max-steps",
                    "2",
                    "--runs-dir",
                    str(work / "runs"),
                    "--name",
                    "startup",
                ],
                env=env,
                cwd=work,
                check=True,
                capture_output=True,
            )
            times: dict[str, dict[str, list[float]]] = {}
            for name, (cmd, expect) in commands(run).items():
                times[name] = {"baseline": [], "current": []}
                timed(cmd, expect, env, work)  # warm the file cache once
                for _ in range(args.repeats):
                    times[name]["baseline"].append(timed(cmd, expect, base_env, work))
                    times[name]["current"].append(timed(cmd, expect, env, work))
                b, c = statistics.median(times[name]["baseline"]), statistics.median(times[name]["current"])
                print(
                    f"{name:12s} baseline {b:6.2f} s   current {c:6.2f} s   ratio {b / c:5.2f}   target < {TARGETS[name]} s: {'met' if c < TARGETS[name] else 'MISSED'}"
                )
        finally:
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(work / "tree")], capture_output=True
            )
    result = {
        "what": "whole-process wall time (median) of `tlsuite ARGS` (python -c 'from tlsuite_core.cli import main; main()' ARGS), baseline and current alternating",
        "baseline_rev": args.baseline,
        "current_rev": subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
        ).stdout.strip(),
        "repeats": args.repeats,
        "machine": {"cpu_cores": os.cpu_count(), "python": platform.python_version()},
        "targets_s": TARGETS,
        "commands": {n: " ".join(c) for n, (c, _) in commands(Path("RUN")).items()},
        "median_s": {n: {k: round(statistics.median(v), 3) for k, v in t.items()} for n, t in times.items()},
        "ratio_baseline_over_current": {
            n: round(statistics.median(t["baseline"]) / statistics.median(t["current"]), 2) for n, t in times.items()
        },
        "samples_s": {n: {k: [round(x, 3) for x in v] for k, v in t.items()} for n, t in times.items()},
    }
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written {args.out}")


if __name__ == "__main__":
    main()
