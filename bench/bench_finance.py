"""finance-monitor throughput benchmark: tlsuite against the usual baselines, same data and model, one invocation.

1. Training: real (non-pad) tokens per second of the tlsuite engine (dynamic padding, length-grouped batches,
   transformers.Trainer) against a plain PyTorch loop that pads every batch to 128 tokens (the shape of the usual
   tutorials and HF example defaults). Same model, batch size, optimiser and number of steps.
2. Prediction: texts in, labels out (tokenization included) with tlsuite's predict path against
   ``transformers.pipeline("text-classification")`` at its best batch size, same fp32 model; the median ratio over
   alternating pairs.

Data: Financial PhraseBank (50agree) from ../shared/data (skips cleanly when absent).

    python bench/bench_finance.py                       # full run, writes bench/results/finance-monitor.json
    python bench/bench_finance.py --train-steps 10 --pairs 3   # quicker
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TLSUITE_SHARED_DATA") or ROOT.parent / "shared" / "data") / "financial_phrasebank"


def read(path: Path) -> tuple[list[str], list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [r["sentence"] for r in rows], [r["label"] for r in rows]


def plain_training_loop(
    model_dir: str, texts: list[str], labels: list[str], steps: int, batch_size: int, seed: int
) -> dict:
    """The tutorial loop: pad to 128, shuffled batches, AdamW + linear schedule, fp32."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, get_linear_schedule_with_warmup

    torch.manual_seed(seed)
    names = sorted(set(labels))
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=len(names))
    enc = tok(texts, padding="max_length", truncation=True, max_length=128, return_tensors="pt")
    y = torch.tensor([names.index(label) for label in labels])
    loader = DataLoader(TensorDataset(enc["input_ids"], enc["attention_mask"], y), batch_size=batch_size, shuffle=True)
    opt = torch.optim.AdamW(model.parameters(), lr=5e-5, weight_decay=0.01)
    sched = get_linear_schedule_with_warmup(opt, int(0.1 * steps), steps)
    model.train()
    done, real, padded = 0, 0, 0
    start = time.perf_counter()
    while done < steps:
        for ids, mask, target in loader:
            out = model(input_ids=ids, attention_mask=mask, labels=target)
            out.loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            opt.zero_grad()
            real += int(mask.sum())
            padded += mask.numel()
            done += 1
            if done == steps:
                break
    seconds = time.perf_counter() - start
    return {
        "steps": steps,
        "seconds": round(seconds, 2),
        "real_tokens": real,
        "padded_tokens": padded,
        "real_tokens_per_s": round(real / seconds, 1),
    }


def engine_training(train_csv: Path, steps: int, batch_size: int, seed: int) -> dict:
    from rich.console import Console

    from tlsuite_core.config import build_config
    from tlsuite_core.plugins import get_host
    from tlsuite_core.training.engine import train

    spec = get_host().app("finance-monitor")
    with tempfile.TemporaryDirectory() as runs:
        cfg = build_config(
            {"model": "minilm"},
            dict(spec.defaults),
            {
                "train": str(train_csv),
                "max_steps": steps,
                "batch_size": batch_size,
                "seed": seed,
                "runs_dir": runs,
                "name": "bench",
            },
        )
        cfg.dev = None
        result = train(spec, cfg, registry=get_host().registry, console=Console(stderr=True, quiet=True))
    t = result.record["timings"]
    return {
        "steps": result.record["steps"],
        "seconds": t["train_seconds"],
        "real_tokens": t["real_tokens_seen"],
        "real_tokens_per_s": t["real_tokens_per_second"],
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--train-steps", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--pairs", type=int, default=5, help="alternating prediction pairs")
    ap.add_argument("--output", default=str(ROOT / "bench" / "results" / "finance-monitor.json"))
    args = ap.parse_args()
    if not (DATA / "50agree_train.csv").exists():
        print(f"skipped: {DATA} not found (set TLSUITE_SHARED_DATA)")
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    import transformers
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, pipeline
    from transformers.utils import logging as hf_logging

    from tlsuite_core.models import resolve_model
    from tlsuite_core.tasks.classification import SequenceClassification

    hf_logging.set_verbosity_error()
    model_dir = str(resolve_model("minilm").path)
    train_texts, train_labels = read(DATA / "50agree_train.csv")
    dev_texts, _ = read(DATA / "50agree_dev.csv")
    report: dict = {
        "machine": {
            "cpu_cores": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "platform": platform.platform(),
        },
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "model": "minilm (all-MiniLM-L6-v2), fp32",
        "data": "financial_phrasebank 50agree train (training) / dev (prediction)",
    }

    # -- training ------------------------------------------------------------------------------------------
    print(f"training: {args.train_steps} steps of batch {args.batch_size} each way ...", flush=True)
    plain = plain_training_loop(model_dir, train_texts, train_labels, args.train_steps, args.batch_size, seed=0)
    print(
        f"  plain loop, pad to 128 : {plain['real_tokens_per_s']:>9.1f} real tokens/s ({plain['real_tokens']}/{plain['padded_tokens']} tokens real)",
        flush=True,
    )
    ours = engine_training(DATA / "50agree_train.csv", args.train_steps, args.batch_size, seed=0)
    print(f"  tlsuite engine         : {ours['real_tokens_per_s']:>9.1f} real tokens/s", flush=True)
    train_ratio = ours["real_tokens_per_s"] / plain["real_tokens_per_s"]
    print(f"  ratio (tlsuite / plain): {train_ratio:.2f}   target >= 2.5", flush=True)
    report["training"] = {"plain_pad128": plain, "tlsuite": ours, "ratio": round(train_ratio, 3)}

    # -- prediction ----------------------------------------------------------------------------------------
    torch.manual_seed(0)
    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=3).eval()
    task = SequenceClassification()
    pipe = pipeline("text-classification", model=model, tokenizer=tok, device=-1)

    def run_ours() -> float:
        t = time.perf_counter()
        task.predict(model, tok, dev_texts, batch_size=64, max_length=128)
        return len(dev_texts) / (time.perf_counter() - t)

    def run_pipe(bs: int) -> float:
        t = time.perf_counter()
        list(pipe(dev_texts, batch_size=bs, truncation=True, max_length=128))
        return len(dev_texts) / (time.perf_counter() - t)

    run_ours()  # warm-up both
    run_pipe(8)
    sizes = {bs: run_pipe(bs) for bs in (1, 8, 16, 32, 64)}
    best = max(sizes, key=sizes.get)
    print(
        "prediction: pipeline texts/s by batch size: "
        + ", ".join(f"{bs}: {v:.1f}" for bs, v in sizes.items())
        + f" -> best {best}",
        flush=True,
    )
    pairs = []
    for i in range(args.pairs):
        a = run_ours()
        b = run_pipe(best)
        pairs.append((a, b, a / b))
        print(
            f"  pair {i + 1}: tlsuite {a:.1f} texts/s, pipeline(bs={best}) {b:.1f} texts/s, ratio {a / b:.2f}",
            flush=True,
        )
    median_ours = statistics.median(p[0] for p in pairs)
    median_pipe = statistics.median(p[1] for p in pairs)
    median_ratio = statistics.median(p[2] for p in pairs)
    print(
        f"  medians: tlsuite {median_ours:.1f} texts/s, pipeline {median_pipe:.1f} texts/s, ratio {median_ratio:.2f}   target >= 1.5",
        flush=True,
    )
    report["prediction"] = {
        "texts": len(dev_texts),
        "pipeline_by_batch_size": {str(k): round(v, 1) for k, v in sizes.items()},
        "pipeline_best_batch_size": best,
        "pairs": [{"tlsuite": round(a, 1), "pipeline": round(b, 1), "ratio": round(r, 3)} for a, b, r in pairs],
        "median_tlsuite": round(median_ours, 1),
        "median_pipeline": round(median_pipe, 1),
        "median_ratio": round(median_ratio, 3),
    }
    report["command"] = " ".join(["python", "bench/bench_finance.py", *sys.argv[1:]])
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(f"written {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
