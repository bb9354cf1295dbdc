"""customer-service benchmarks: Banking77 intent accuracy (seeds), out-of-scope detection, Bitext retrieval and
slots, respond latency and batch intent throughput. Each part writes JSON under bench/results/ and is resumable
(a finished part is skipped; an interrupted training run is resumed).

Data from ../shared/data (skips cleanly when absent). Runs go to bench/out/customer-service/ (not committed).

    nice -n 10 python bench/bench_customer_service.py banking --seed 1     # train_minus_dev -> dev.csv, ~20 min
    nice -n 10 python bench/bench_customer_service.py oos --seed 1         # a quarter of the intents held out
    python bench/bench_customer_service.py bitext                          # retrieval R@k/MRR + slot F1
    nice -n 5 python bench/bench_customer_service.py replies --steps 70    # reply chrF: template vs generated
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
#: CPU seconds (user + system) of each training call, by run name: wall time on a shared machine says little
CPU_SECONDS: dict[str, float] = {}


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
    import resource

    start, cpu = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
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
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    CPU_SECONDS[name] = round(used.ru_utime + used.ru_stime - cpu.ru_utime - cpu.ru_stime, 1)
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
        "train_cpu_seconds_this_call": CPU_SECONDS.get(f"banking77-seed{seed}"),
        "run_record": {k: record.get(k) for k in ("config", "versions", "data", "timings", "attempts") if k in record},
        "environment": environment(),
    }
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("seed", "dev_accuracy", "dev_macro_f1")}))


def oos(seed: int, epochs: float) -> None:
    """A seeded quarter of Banking77's intents held out of training (their dev.csv rows are out of scope): every
    out-of-scope score through ``evaluate-oos``."""
    out = RESULTS / f"customer-service-oos-seed{seed}.json"
    if out.exists() or not BANKING.is_dir():
        print(f"{out} exists or no data; skipped")
        return
    tmp = OUT / f"oos-seed{seed}.json"
    start = time.perf_counter()
    tlsuite(
        "customer-service",
        "evaluate-oos",
        "--train",
        str(BANKING / "train_minus_dev.csv"),
        "--dev",
        str(BANKING / "dev.csv"),
        "--output",
        str(tmp),
        "--seed",
        str(seed),
        "--threads",
        "1",
        "--work",
        str(OUT / f"oos-seed{seed}"),
        f"--train-option=--epochs={epochs:g}",
    )
    result = json.loads(tmp.read_text())
    result.update(
        {"epochs": epochs, "wall_seconds": round(time.perf_counter() - start, 1), "environment": environment()}
    )
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["methods"]))


def read_split(folder: Path, split: str) -> tuple[list[str], list[str]]:
    import csv

    with (folder / f"{split}.csv").open(encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [r["text"] for r in rows], [r["label"] for r in rows]


def bitext(max_length: int = 64) -> None:
    """Answer retrieval on Bitext: the index holds the training answers; an answer is relevant when it belongs to
    the question's intent (every Bitext answer is unique to its question). BM25 (bm25s) vs the untuned encoder vs
    the bi-encoder fine-tuned on the training pairs (sentence-transformers, MNRL), R@1/5/10 and MRR on dev and test."""
    from tlsuite_customer_service.retriever import bm25_rank, ranking_figures, train_retriever

    from tlsuite_core.retrieval import EmbeddingIndex, Encoder

    out = RESULTS / "customer-service-bitext.json"
    if out.exists() or not BITEXT.is_file():
        print(f"{out} exists or no data; skipped")
        return
    folder = OUT / "bitext"
    tlsuite("customer-service", "prepare-bitext", str(BITEXT), "--out", str(folder))
    answers = [json.loads(line) for line in (folder / "answers.jsonl").read_text().splitlines()]
    ids, texts = [a["id"] for a in answers], [a["answer"] for a in answers]
    intent_of = {a["id"]: a["intent"] for a in answers}
    splits = {split: read_split(folder, split) for split in ("dev", "test")}
    result: dict = {"index": "training answers", "answers": len(ids), "max_length": max_length, "retrieval": {}}
    result["relevance"] = "an answer is relevant when its intent is the question's intent"
    ranked: dict = {split: {} for split in splits}
    start = time.perf_counter()
    for split, (questions, _) in splits.items():
        ranked[split]["bm25"] = bm25_rank(texts, ids, questions, 10)
    result["bm25_seconds"] = round(time.perf_counter() - start, 1)

    def dense(name: str, ref: str) -> None:
        t0 = time.perf_counter()
        encoder = Encoder(ref, device="cpu")
        encoder.model.max_seq_length = max_length
        index = EmbeddingIndex.build(ids, encoder.encode(texts), backend="numpy", model=ref)
        for split, (questions, _) in splits.items():
            ranked[split][name] = index.search(encoder.encode(questions), 10)[0]
        result[f"{name}_encode_seconds"] = round(time.perf_counter() - t0, 1)

    dense("untuned", "minilm")
    tuned = OUT / "bitext-retriever"
    if not (tuned / "modules.json").is_file():
        train_q, train_a = [a["question"] for a in answers], texts
        t0 = time.perf_counter()
        train_retriever("minilm", train_q, train_a, tuned, epochs=1.0, batch_size=32, max_length=max_length, seed=1)
        result["finetune_seconds"] = round(time.perf_counter() - t0, 1)
    dense("fine-tuned", str(tuned))
    for split, (_, intents) in splits.items():
        relevant = [{i for i in ids if intent_of[i] == intent} for intent in intents]
        result["retrieval"][split] = {name: ranking_figures(r, relevant) for name, r in ranked[split].items()}
    result["environment"] = environment()
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result["retrieval"]))


def slots(epochs: float) -> None:
    """Slot tagging on Bitext (the core token-classification task through ``customer-service slots``): train on
    the train split's utterances, dev for model selection, entity F1 (seqeval) on test."""
    out = RESULTS / "customer-service-slots.json"
    if out.exists() or not BITEXT.is_file():
        print(f"{out} exists or no data; skipped")
        return
    folder = OUT / "bitext"
    summary = json.loads(tlsuite("customer-service", "prepare-bitext", str(BITEXT), "--out", str(folder)))
    runs = OUT / "runs"
    run = runs / "customer-service-slots" / "bitext"
    start = time.perf_counter()
    if not (run / "run.json").is_file() or json.loads((run / "run.json").read_text())["status"] != "completed":
        import shutil

        shutil.rmtree(run, ignore_errors=True)
        tlsuite(
            "customer-service",
            "slots",
            "train",
            "--train",
            str(folder / "slots-train.jsonl"),
            "--dev",
            str(folder / "slots-dev.jsonl"),
            "--runs-dir",
            str(runs),
            "--name",
            "bitext",
            "--epochs",
            f"{epochs:g}",
            "--threads",
            "1",
            "--seed",
            "1",
        )
    metrics_path = OUT / "slots-test.json"
    tlsuite(
        "customer-service",
        "slots",
        "evaluate",
        "--model",
        str(run),
        "--data",
        str(folder / "slots-test.jsonl"),
        "--output",
        str(metrics_path),
    )
    metrics = json.loads(metrics_path.read_text())
    result = {
        "epochs": epochs,
        "spans": summary["slot_spans"],
        "test": metrics,
        "wall_seconds": round(time.perf_counter() - start, 1),
        "environment": environment(),
    }
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: v for k, v in metrics.items() if not isinstance(v, (dict, list))}))


def replies(seed: int, epochs: float, steps: int, limit: int, threads: int) -> None:
    """Reply chrF on Bitext's test split: a complete run (intents on the train split with dev for the out-of-scope
    threshold, the training answers, the fine-tuned bi-encoder of ``bitext``, the slots run of ``slots``), its
    generator (smollm2-135m + LoRA, ``steps`` steps), then ``evaluate`` on test.csv: outcomes, escalation rate,
    chrF of the template replies and, for the first ``limit`` answered messages, of the generated replies."""
    out = RESULTS / "customer-service-replies.json"
    folder, retriever, slots_run = (
        OUT / "bitext",
        OUT / "bitext-retriever",
        OUT / "runs" / "customer-service-slots" / "bitext",
    )
    if out.exists() or not BITEXT.is_file() or not (retriever / "modules.json").is_file() or not slots_run.is_dir():
        print(f"{out} exists, or no data / no retriever or slots run (run the bitext and slots parts first); skipped")
        return
    tlsuite("customer-service", "prepare-bitext", str(BITEXT), "--out", str(folder))
    name = f"bitext-seed{seed}"
    run, wall = train_run(
        name, folder / "train.csv", "--dev", str(folder / "dev.csv"), "--seed", str(seed), "--epochs", f"{epochs:g}"
    )
    if not (run / "answers").is_dir():
        tlsuite("customer-service", "answers", "--model", str(run), "--answers", str(folder / "answers.jsonl"))
        import shutil

        shutil.copytree(retriever, run / "retriever")
        tlsuite("customer-service", "use-slots", "--model", str(run), "--slots", str(slots_run))
        calibration = ["--dev", str(folder / "dev.csv"), "--threads", "1"]
        tlsuite("customer-service", "calibrate", "--model", str(run), *calibration)
    if not (run / "generator" / "run.json").is_file():
        budget = ["--max-steps", str(steps), "--threads", str(threads)]
        tlsuite("customer-service", "train-generator", "--model", str(run), *budget)
    metrics_path = OUT / f"{name}-test-replies.json"
    start = time.perf_counter()
    scored = ["--data", str(folder / "test.csv"), "--output", str(metrics_path), "--generated-limit", str(limit)]
    tlsuite("customer-service", "evaluate", "--model", str(run), *scored, "--threads", str(threads))
    metrics = json.loads(metrics_path.read_text())
    generator = json.loads((run / "generator.json").read_text())
    record = json.loads((run / "generator" / "run.json").read_text())
    result = {
        "run": str(run.relative_to(ROOT)),
        "scored_on": "Bitext test split (sha256 rule: 9), one message per session",
        "test_accuracy": metrics["accuracy"],
        "test_macro_f1": metrics["macro_f1"],
        "replies": metrics["replies"],
        "generator": generator,
        "generator_run": {k: record.get(k) for k in ("config", "metrics", "timings", "versions") if k in record},
        "intent_train_wall_seconds_this_call": round(wall, 1),
        "evaluate_wall_seconds": round(time.perf_counter() - start, 1),
        "environment": environment(),
    }
    out.write_text(json.dumps(result, indent=2) + "\n")
    shown = metrics["replies"]
    print(json.dumps({"template": shown["template"]["chrf"], "generated": (shown.get("generated") or {}).get("chrf")}))


def dev_texts(limit: int | None = None) -> list[str]:
    import csv

    with (BANKING / "dev.csv").open(encoding="utf-8", newline="") as fh:
        texts = [row["text"] for row in csv.DictReader(fh)]
    return texts[:limit] if limit else texts


def latency(model: str, calls: int = 200, threads: int = 2) -> None:
    """``respond`` in a warm process (model loaded once), one message per call on ``threads`` threads: intent,
    out-of-scope score, answer retrieval among the intent's answers, slots, state read and written in SQLite."""
    import statistics
    import tempfile

    import torch
    from tlsuite_customer_service.answers import Answer, build_answer_set
    from tlsuite_customer_service.bot import Bot
    from tlsuite_customer_service.store import Store

    torch.set_num_threads(threads)
    run = Path(model)
    labels = json.loads((run / "run.json").read_text())["labels"]
    answers = [
        Answer(f"{lab}-{k}", lab, f"About {lab.replace('_', ' ')} ({k}): see {{{{Website Name}}}}.")
        for lab in labels
        for k in (1, 2)
    ]
    build_answer_set(answers).save(run / "answers")
    texts = dev_texts()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{tmp}/bench.db")
        bot = Bot(run, store, threads=threads)
        for i in range(5):
            bot.respond("warm", texts[i])
        times = []
        for i in range(calls):
            start = time.perf_counter()
            bot.respond(f"s{i % 20}", texts[i % len(texts)])
            times.append((time.perf_counter() - start) * 1000)
        store.close()
    times.sort()
    result = {
        "calls": calls,
        "threads": threads,
        "p50_ms": round(statistics.median(times), 1),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1),
        "mean_ms": round(statistics.mean(times), 1),
        "model": model,
        "answers": len(answers),
        "environment": environment(),
    }
    (RESULTS / "customer-service-latency.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


def throughput(model: str, pairs: int = 3, threads: int = 2) -> None:
    """Batch intent scoring of Banking77's dev texts: the app's ``IntentModel.classify`` (logits, calibrated
    confidence and the kNN out-of-scope score; one tokenizer call, length-sorted batches padded to their own
    longest text) against ``transformers.pipeline("text-classification")`` on the same weights at its best batch
    size; texts per second, median ratio of alternating pairs."""
    import statistics

    import torch
    from tlsuite_customer_service.intents import IntentModel
    from transformers import pipeline

    torch.set_num_threads(threads)
    texts = dev_texts()
    model_ = IntentModel.load(model, threads=threads)
    pipe = pipeline("text-classification", model=str(Path(model) / "model"), device="cpu")

    def ours() -> float:
        start = time.perf_counter()
        model_.classify(texts, batch_size=64)
        return len(texts) / (time.perf_counter() - start)

    def theirs(batch: int) -> float:
        start = time.perf_counter()
        pipe(texts, batch_size=batch, truncation=True, max_length=64)
        return len(texts) / (time.perf_counter() - start)

    ours()
    best_batch = max((1, 8, 32), key=lambda b: theirs(b))
    rows = []
    for _ in range(pairs):
        a, b = ours(), theirs(best_batch)
        rows.append({"tlsuite_texts_per_s": round(a, 1), "pipeline_texts_per_s": round(b, 1), "ratio": round(a / b, 2)})
    result = {
        "texts": len(texts),
        "threads": threads,
        "pipeline_batch_size": best_batch,
        "pairs": rows,
        "median_ratio": statistics.median(r["ratio"] for r in rows),
        "model": model,
        "environment": environment(),
    }
    (RESULTS / "customer-service-throughput.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("part", choices=["banking", "oos", "bitext", "slots", "replies", "latency", "throughput"])
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--epochs", type=float, default=2.0, help="oos: epochs of the held-out run; slots: epochs")
    ap.add_argument("--model", default=None, help="latency / throughput: a customer-service run")
    ap.add_argument("--steps", type=int, default=70, help="replies: generator training steps (batch 4)")
    ap.add_argument("--limit", type=int, default=200, help="replies: generated replies scored at most")
    ap.add_argument("--threads", type=int, default=2, help="replies: torch threads of the generator")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    OUT.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    if args.part == "banking":
        banking(args.seed)
    elif args.part == "oos":
        oos(args.seed, args.epochs)
    elif args.part == "bitext":
        bitext()
    elif args.part == "slots":
        slots(args.epochs)
    elif args.part == "replies":
        replies(args.seed, 3.0, args.steps, args.limit, args.threads)  # Bitext intents: 3 epochs (dev acc. 0.99)
    elif args.part == "latency":
        latency(args.model)
    elif args.part == "throughput":
        throughput(args.model)
    return 0


if __name__ == "__main__":
    sys.exit(main())
