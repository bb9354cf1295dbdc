"""ner prediction throughput: tlsuite against transformers' token-classification pipeline, same model, one invocation.

Texts in, entities out (tokenization, windows and aggregation included): tlsuite's ``TokenClassification.predict``
(one fast-tokenizer call, windows sorted by length, padded per batch) against
``transformers.pipeline("token-classification", aggregation_strategy="first")`` at its best batch size, same fp32
model. Throughput in words per second (whitespace words of the input); the median ratio over alternating pairs.

Data: the CoNLL-2003 dev sentences from ../shared/data, joined with spaces (skips cleanly when absent).
Model: ``--model`` (a completed ner run, or any model folder/alias: weights do not change throughput; an alias gets
a fresh CoNLL head).

    python bench/bench_ner.py                          # full run, writes bench/results/ner.json
    python bench/bench_ner.py --limit 300 --pairs 3    # quicker
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TLSUITE_SHARED_DATA") or ROOT.parent / "shared" / "data") / "conll2003"
LABELS = ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG", "I-ORG", "B-PER", "I-PER"]


def load(model_ref: str):
    from tlsuite_core.models import load_model, load_tokenizer, resolve_model
    from tlsuite_core.plugins import get_host

    registry = get_host().registry  # the installed plugins' aliases, readers and tasks
    resolved = resolve_model(model_ref, aliases=registry.mapping("model"))
    task = registry.task("token-classification")
    labels = LABELS
    if resolved.run_dir is None:
        model = load_model(
            resolved,
            task.model_class(),
            num_labels=len(labels),
            id2label=dict(enumerate(labels)),
            label2id={label: i for i, label in enumerate(labels)},
            ignore_mismatched_sizes=True,
        )
    else:
        model = load_model(resolved, task.model_class())
    return task, model.eval(), load_tokenizer(resolved)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--limit", type=int, default=None, help="use the first N dev sentences")
    ap.add_argument("--pairs", type=int, default=5, help="alternating prediction pairs")
    ap.add_argument("--batch-size", type=int, default=64, help="tlsuite batch size")
    ap.add_argument("--pipeline-batch-sizes", default="1,8,32", help="pipeline batch sizes tried; the best is used")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--output", default=str(ROOT / "bench" / "results" / "ner.json"))
    args = ap.parse_args()
    dev = DATA / "valid.txt"
    if not dev.is_file():
        print(f"skipped: {dev} not found", file=sys.stderr)
        return 0

    import torch
    from transformers import pipeline

    from tlsuite_core.plugins import get_host
    from tlsuite_core.tagging import load_tagged

    if args.threads:
        torch.set_num_threads(args.threads)
    data = load_tagged(dev, adapters=get_host().registry.mapping("data adapter"))  # CoNLL is the ner plugin's
    texts = [" ".join(words) for words in data.tokens][: args.limit]
    words = sum(len(t.split()) for t in texts)
    task, model, tok = load(args.model)
    pipe = pipeline("token-classification", model=model, tokenizer=tok, aggregation_strategy="first", device=-1)

    def ours() -> float:
        start = time.perf_counter()
        task.predict(model, tok, texts, batch_size=args.batch_size, max_length=256)
        return words / (time.perf_counter() - start)

    def theirs(batch_size: int) -> float:
        start = time.perf_counter()
        pipe(texts, batch_size=batch_size)
        return words / (time.perf_counter() - start)

    print(f"{len(texts)} texts, {words} words; model {args.model}; torch threads {torch.get_num_threads()}", flush=True)
    ours()  # warm-up
    sizes = [int(s) for s in args.pipeline_batch_sizes.split(",") if s.strip()]
    tried = {b: theirs(b) for b in sizes}
    best = max(tried, key=tried.get)
    print(
        "  pipeline batch sizes: " + ", ".join(f"{b}: {w:.0f} words/s" for b, w in tried.items()) + f" -> {best}",
        flush=True,
    )
    ratios, a_all, b_all = [], [], []
    for i in range(args.pairs):
        a, b = ours(), theirs(best)
        a_all.append(a)
        b_all.append(b)
        ratios.append(a / b)
        print(
            f"  pair {i + 1}: tlsuite {a:.0f} words/s, pipeline(bs={best}) {b:.0f} words/s, ratio {a / b:.2f}",
            flush=True,
        )
    result = {
        "texts": len(texts),
        "words": words,
        "model": args.model,
        "tlsuite_words_per_s_median": statistics.median(a_all),
        "pipeline_words_per_s_median": statistics.median(b_all),
        "pipeline_batch_size": best,
        "ratio_median": statistics.median(ratios),
        "ratios": ratios,
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }
    print(f"prediction ratio (median of {args.pairs}): {result['ratio_median']:.2f}")
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
