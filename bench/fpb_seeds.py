"""Financial PhraseBank (50agree) accuracy with the default model and finance-monitor defaults, several seeds.

Runs the real command once per seed (fresh process, timed) and reports dev accuracy / macro-F1 per seed and
their mean:

    python bench/fpb_seeds.py                      # seeds 1 2 3 -> bench/results/fpb-50agree-seeds.json
    python bench/fpb_seeds.py --seeds 1 --extra --epochs 4
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


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--runs-dir", default=str(ROOT / "bench" / "out" / "runs"))
    ap.add_argument("--output", default=str(ROOT / "bench" / "results" / "fpb-50agree-seeds.json"))
    ap.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more train options")
    args = ap.parse_args()
    train, dev = DATA / "50agree_train.csv", DATA / "50agree_dev.csv"
    if not train.exists():
        print(f"skipped: {train} not found (set TLSUITE_SHARED_DATA)")
        return 0
    rows = []
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for seed in args.seeds:
        name = f"fpb50-seed{seed}-{stamp}"
        cmd = [
            "tlsuite",
            "finance-monitor",
            "train",
            "--train",
            str(train),
            "--dev",
            str(dev),
            "--seed",
            str(seed),
            "--name",
            name,
            "--runs-dir",
            args.runs_dir,
            *args.extra,
        ]
        print("$ " + " ".join(cmd), flush=True)
        start = time.perf_counter()
        proc = subprocess.run(cmd)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            print(f"seed {seed}: failed with exit code {proc.returncode}")
            return proc.returncode
        run = Path(args.runs_dir) / "finance-monitor" / name
        metrics = json.loads((run / "metrics.json").read_text())
        record = json.loads((run / "run.json").read_text())
        rows.append(
            {
                "seed": seed,
                "accuracy": metrics["accuracy"],
                "macro_f1": metrics["macro_f1"],
                "wall_seconds": round(wall, 1),
                "best_checkpoint": record.get("best_checkpoint"),
                "epochs": record.get("epochs"),
                "real_tokens_per_second": record["timings"].get("real_tokens_per_second"),
                "run": str(run),
            }
        )
        print(
            f"seed {seed}: accuracy {metrics['accuracy']:.4f}  macro-F1 {metrics['macro_f1']:.4f}  wall {wall / 60:.1f} min",
            flush=True,
        )
    acc = statistics.mean(r["accuracy"] for r in rows)
    f1 = statistics.mean(r["macro_f1"] for r in rows)
    print(f"mean over {len(rows)} seeds: accuracy {acc:.4f}  macro-F1 {f1:.4f}  (targets: >= 0.85 and >= 0.80)")
    result = {
        "command": "python bench/fpb_seeds.py " + " ".join(sys.argv[1:]),
        "train_options": args.extra,
        "data": {"train": str(train.name), "dev": str(dev.name)},
        "seeds": rows,
        "mean_accuracy": round(acc, 4),
        "mean_macro_f1": round(f1, 4),
        "cpu_cores": os.cpu_count(),
    }
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n")
    print(f"written {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
