"""Training memory by strategy, one invocation: LoRA (and others) against full fine-tuning, same data and steps.

Each strategy trains in its own fresh process (``tlsuite finance-monitor train --strategy S --max-steps N``), so
the figures are that run's alone. Reported per strategy, from its ``run.json``:

* ``train_rss_growth_mb``: resident memory right after each optimiser step (weights, gradients and optimiser
  state all live), highest value minus the level when training began: what training adds on top of the loaded
  model. On a GPU, ``train_cuda_peak_allocated_mb`` is the peak allocation during training instead.
* ``process_peak_rss_mb``: the process's peak resident set (loading included).

The ratio printed is strategy / full for the training figure.

    python bench/bench_memory.py                          # full vs lora, demo data or FPB when present
    python bench/bench_memory.py --strategies full,lora,ia3,houlsby --steps 40
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TLSUITE_SHARED_DATA") or ROOT.parent / "shared" / "data") / "financial_phrasebank"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--strategies", default="full,lora")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--output", default=str(ROOT / "bench" / "results" / "memory.json"))
    args = ap.parse_args()
    train = DATA / "50agree_train.csv"
    data = ["--train", str(train), "--dev-split", "0.05"] if train.exists() else []
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        for strategy in args.strategies.split(","):
            cmd = [
                sys.executable,
                "-m",
                "tlsuite_core",
                "finance-monitor",
                "train",
                "--strategy",
                strategy,
                "--max-steps",
                str(args.steps),
                "--batch-size",
                str(args.batch_size),
                "--runs-dir",
                tmp,
                "--name",
                strategy,
                "--no-merged",
                *data,
            ]
            print("$ " + " ".join(cmd[2:]), flush=True)
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            record = json.loads((Path(tmp) / "finance-monitor" / strategy / "run.json").read_text())
            memory = record["peak_memory"]
            rows[strategy] = {
                **memory,
                "trainable": record["parameters"]["trainable"],
                "total": record["parameters"]["total"],
                "device": record["device"]["device"],
            }
            print(
                f"  {strategy}: training adds {memory.get('train_rss_growth_mb')} MB resident "
                f"(peak during training {memory.get('train_peak_rss_mb')} MB, process peak {memory['process_peak_rss_mb']} MB"
                + (
                    f", CUDA peak {memory['train_cuda_peak_allocated_mb']} MB"
                    if "train_cuda_peak_allocated_mb" in memory
                    else ""
                )
                + ")",
                flush=True,
            )
    key = (
        "train_cuda_peak_allocated_mb"
        if "train_cuda_peak_allocated_mb" in rows.get("full", {})
        else "train_rss_growth_mb"
    )
    base = rows.get("full", {}).get(key)
    result = {
        "data": str(train) if data else "demo",
        "steps": args.steps,
        "batch_size": args.batch_size,
        "measure": key,
        "strategies": rows,
        "platform": platform.platform(),
    }
    if base:
        result["ratio_to_full"] = {s: round(r[key] / base, 3) for s, r in rows.items() if r.get(key) is not None}
        print(
            f"{key} relative to full fine-tuning: "
            + ", ".join(f"{s} {v:.2f}" for s, v in result["ratio_to_full"].items())
        )
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
