"""customer-service benchmarks: Banking77 intent accuracy (seeds), out-of-scope detection, Bitext retrieval and
slots, respond latency and batch intent throughput. Each part writes JSON under bench/results/ and is resumable
(a finished part is skipped; an interrupted training run is resumed).

Data from ../shared/data (skips cleanly when absent). Runs go to bench/out/customer-service/ (not committed).

    nice -n 10 python bench/bench_customer_service.py banking --seed 1     # train_minus_dev -> dev.csv, ~20 min
    nice -n 10 python bench/bench_customer_service.py oos --seed 1         # a quarter of the intents held out
    python bench/bench_customer_service.py bitext                          # retrieval R@k/MRR + slot F1
    python bench/bench_customer_service.py latency --model RUN             # respond p50/p95, warm process
    python bench/bench_customer_service.py throughput --model RUN          # vs pipeline("text-classification")
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("TLSUITE_SHARED_DATA") or ROOT.parent / "shared" / "data")
BANKING = SHARED / "banking77"
BITEXT = SHARED / "bitext_customer_support" / "Bitext_Sample_Customer_Support_Training_Dataset.csv"
RESULTS = ROOT / "bench" / "results"
OUT = ROOT / "bench" / "out" / "customer-service"


def environment() -> dict:
    import torch

    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpus": os.cpu_count(),
        "commit": subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT
        ).stdout.strip(),
    }


def tlsuite(*args: str) -> str:
    """Run the CLI (as a user would); return its stdout; its progress goes to this script's stderr."""
    cmd = [sys.executable, "-m", "tlsuite_core", *args]
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}): {' '.join(cmd)}")
    return proc.stdout.strip()


def train_run(name: str, train: Path, *extra: str) -> tuple[Path, float]:
    """Train (or resume) the run ``name`` under bench/out; return its folder and the wall time of this call."""
    runs = OUT / "runs"
    path = runs / "customer-service" / name
    start = time.perf_counter()
    record = path / "run.json"
    status = json.loads(record.read_text())["status"] if record.is_file() else None
    if status == "completed":
        return path, 0.0
    common = ["--threads", "1", *extra]
    if status is not None and (path / "checkpoints").is_dir() and any((path / "checkpoints").iterdir()):
        tlsuite("customer-service", "train", "--resume", str(path), *common)
    else:
        if path.exists():
            import shutil

            shutil.rmtree(path)
        tlsuite("customer-service", "train", "--train", str(train), "--runs-dir", str(runs), "--name", name, *common)
    return path, time.perf_counter() - start


def banking(seed: int) -> None:
    """Train on train_minus_dev.csv with the app's defaults (no dev during training: the last checkpoint is the
    model), then score dev.csv with ``evaluate``."""
    out = RESULTS / f"customer-service-banking77-seed{seed}.json"
    if out.exists():
        print(f"{out} exists; skipped")
        return
    if not BANKING.is_dir():
        print(f"{BANKING} not available; skipped")
        return
    run, wall = train_run(f"banking77-seed{seed}", BANKING / "train_minus_dev.csv", "--seed", str(seed))
    metrics_path = OUT / f"banking77-seed{seed}-dev.json"
    tlsuite(
        "customer-service",
        "evaluate",
        "--model",
        str(run),
        "--data",
        str(BANKING / "dev.csv"),
        "--output",
        str(metrics_path),
    )
    metrics = json.loads(metrics_path.read_text())
    record = json.loads((run / "run.json").read_text())
    result = {
        "seed": seed,
        "run": str(run.relative_to(ROOT)),
        "train": "banking77/train_minus_dev.csv",
        "scored_on": "banking77/dev.csv",
        "dev_accuracy": metrics["accuracy"],
        "dev_macro_f1": metrics["macro_f1"],
        "train_wall_seconds_this_call": round(wall, 1),
        "run_record": {k: record.get(k) for k in ("config", "versions", "data", "timings", "attempts") if k in record},
        "environment": environment(),
    }
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("seed", "dev_accuracy", "dev_macro_f1")}))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("part", choices=["banking"])
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    OUT.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.part == "banking":
        banking(args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
