"""Transfer strategies on Financial PhraseBank (50agree): the compare report, LoRA over 3 seeds, and continued
pretraining, each with the real commands (fresh processes), default model and finance-monitor defaults.

Steps (each is skipped when its completed run is already there, so the script resumes across sessions):

1. ``tlsuite finance-monitor compare --strategies full,frozen,partial,gradual,lora,ia3,prefix --seed 1``
   (+ the majority and from-scratch baselines);
2. ``tlsuite finance-monitor train --strategy lora --seed 2`` and ``--seed 3`` (seed 1 is the compare run's);
   full fine-tuning seeds 1-3 are the compare run's ``full`` (seed 1) and ``bench/fpb_seeds.py``'s seeds 2 and 3;
3. ``tlsuite pretrain --corpus 50agree_train.csv`` (masked LM, whole-word masking, the train sentences without
   labels), then ``tlsuite finance-monitor train --model <that> --seed 1``: the delta against full seed 1.

    python bench/transfer_fpb.py                 # everything -> bench/results/transfer-fpb50.json
    python bench/transfer_fpb.py --steps compare
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TLSUITE_SHARED_DATA") or ROOT.parent / "shared" / "data") / "financial_phrasebank"
RUNS = ROOT / "bench" / "out" / "runs"
STRATEGIES = "full,frozen,partial,gradual,lora,ia3,prefix"


def sh(cmd: list[str]) -> float:
    print("$ " + " ".join(cmd), flush=True)
    start = time.perf_counter()
    proc = subprocess.run(cmd)
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}")
    return round(time.perf_counter() - start, 1)


def completed(run: Path) -> bool:
    try:
        return json.loads((run / "run.json").read_text())["status"] == "completed"
    except (OSError, ValueError, KeyError):
        return False


def metrics_of(run: Path) -> dict:
    m = json.loads((run / "metrics.json").read_text())
    r = json.loads((run / "run.json").read_text())
    return {
        "accuracy": m["accuracy"],
        "macro_f1": m["macro_f1"],
        "run": str(run.relative_to(ROOT)),
        "train_seconds": r["timings"]["train_seconds"],
        "trainable": r["parameters"]["trainable"],
        "total": r["parameters"]["total"],
        "learning_rate": r["config"]["learning_rate"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", default="compare,lora,dapt")
    ap.add_argument("--output", default=str(ROOT / "bench" / "results" / "transfer-fpb50.json"))
    args = ap.parse_args()
    train, dev = DATA / "50agree_train.csv", DATA / "50agree_dev.csv"
    if not train.exists():
        print(f"skipped: {train} not found (set TLSUITE_SHARED_DATA)")
        return 0
    steps = set(args.steps.split(","))
    tl = [sys.executable, "-m", "tlsuite_core"]
    data = ["--train", str(train), "--dev", str(dev), "--runs-dir", str(RUNS)]
    out: dict = json.loads(Path(args.output).read_text()) if Path(args.output).exists() else {}
    out["commands"] = out.get("commands", {})

    compare_dir = RUNS / "finance-monitor" / "fpb50-compare-seed1"

    def compare_complete() -> bool:
        try:
            rows = json.loads((compare_dir / "compare.json").read_text())["rows"]
        except (OSError, ValueError, KeyError):
            return False
        done = {r["strategy"] for r in rows if r.get("status") == "completed"}
        return done >= set(STRATEGIES.split(",")) | {"majority", "scratch"}

    if "compare" in steps and not compare_complete():  # the same command continues an interrupted comparison
        cmd = [
            *tl,
            "finance-monitor",
            "compare",
            "--strategies",
            STRATEGIES,
            "--seed",
            "1",
            "--name",
            compare_dir.name,
            *data,
        ]
        out["commands"]["compare"] = " ".join(["tlsuite", *cmd[3:]])
        sh(cmd)
    if (compare_dir / "compare.json").exists():
        report = json.loads((compare_dir / "compare.json").read_text())
        out["compare"] = {"folder": str(compare_dir.relative_to(ROOT)), "rows": report["rows"]}

    lora = {}
    for seed in (2, 3):
        run = RUNS / "finance-monitor" / f"fpb50-lora-seed{seed}"
        if "lora" in steps and not completed(run):
            shutil_rm(run)
            cmd = [
                *tl,
                "finance-monitor",
                "train",
                "--strategy",
                "lora",
                "--seed",
                str(seed),
                "--name",
                run.name,
                *data,
            ]
            out["commands"][f"lora-seed{seed}"] = " ".join(["tlsuite", *cmd[3:]])
            sh(cmd)
        if completed(run):
            lora[seed] = metrics_of(run)
    lora1 = compare_dir / "runs" / "finance-monitor" / "lora"
    full1 = compare_dir / "runs" / "finance-monitor" / "full"
    if completed(lora1):
        lora[1] = metrics_of(lora1)
    full = {}
    if completed(full1):
        full[1] = metrics_of(full1)
    seeds_file = ROOT / "bench" / "results" / "fpb-50agree-seeds.json"
    if seeds_file.exists():
        for row in json.loads(seeds_file.read_text())["seeds"]:
            if row["seed"] in (2, 3):
                full[row["seed"]] = {
                    "accuracy": row["accuracy"],
                    "macro_f1": row["macro_f1"],
                    "run": row["run"],
                    "source": "bench/fpb_seeds.py",
                }
    if lora:
        out["lora_vs_full"] = summary(lora, full)

    pre = RUNS / "pretrain" / "fpb50-dapt"
    tuned = RUNS / "finance-monitor" / "fpb50-dapt-full-seed1"
    if "dapt" in steps:
        if not completed(pre):
            shutil_rm(pre)
            cmd = [*tl, "pretrain", "--corpus", str(train), "--text-col", "sentence", "--seed", "1", "--out", str(pre)]
            out["commands"]["pretrain"] = " ".join(["tlsuite", *cmd[3:]])
            out["pretrain_seconds"] = sh(cmd)
        if not completed(tuned):
            shutil_rm(tuned)
            cmd = [*tl, "finance-monitor", "train", "--model", str(pre), "--seed", "1", "--name", tuned.name, *data]
            out["commands"]["dapt-finetune"] = " ".join(["tlsuite", *cmd[3:]])
            sh(cmd)
    if completed(pre) and completed(tuned):
        dapt = metrics_of(tuned)
        pm = json.loads((pre / "metrics.json").read_text())
        out["dapt"] = {
            "pretrain_dev_perplexity": pm["perplexity"],
            "pretrain_run": str(pre.relative_to(ROOT)),
            "finetuned": dapt,
        }
        if 1 in full:
            out["dapt"]["delta_vs_full_seed1"] = {k: round(dapt[k] - full[1][k], 4) for k in ("accuracy", "macro_f1")}
    Path(args.output).write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in out.items() if k in ("lora_vs_full", "dapt")}, indent=2))
    print(f"written to {args.output}")
    return 0


def summary(lora: dict, full: dict) -> dict:
    def mean(rows: dict, key: str) -> float | None:
        return round(statistics.mean(r[key] for r in rows.values()), 4) if rows else None

    result = {
        "lora": lora,
        "full": full,
        "lora_mean_accuracy": mean(lora, "accuracy"),
        "full_mean_accuracy": mean(full, "accuracy"),
        "lora_mean_macro_f1": mean(lora, "macro_f1"),
        "full_mean_macro_f1": mean(full, "macro_f1"),
    }
    if lora and full:
        result["accuracy_gap_points"] = round(100 * (result["full_mean_accuracy"] - result["lora_mean_accuracy"]), 2)
        share = [r["trainable"] / r["total"] for r in lora.values() if "trainable" in r]
        result["lora_trainable_share"] = round(max(share), 4) if share else None
    return result


def shutil_rm(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
