"""Generation throughput, one invocation: tlsuite's batched, length-sorted generation against unsorted,
unbatched ``model.generate`` calls, same model, same generation settings, same sources.

Throughput is generated target tokens per second (tokens the model produced, end and padding tokens excluded).
The median ratio over alternating pairs is reported.

Model: ``--model`` (a completed generation run, e.g. a translate run); without it, an encoder-decoder
warm-started from the packaged MiniLM (``--encoder minilm``), untrained: throughput does not depend on what the
weights say, only on how many tokens come out, which is counted.
Data: Multi30k validation English sentences from ../shared/data (else the translate demo sources).

    python bench/bench_generation.py                       # -> bench/results/generation.json
    python bench/bench_generation.py --limit 64 --pairs 1
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TLSUITE_SHARED_DATA") or ROOT.parent / "shared" / "data") / "multi30k_en_de" / "val.en"


def load(model_ref: str | None, beams: int, max_new: int):
    from tlsuite_core.config import build_config
    from tlsuite_core.models import load_tokenizer, resolve_model
    from tlsuite_core.tasks.generation import Generation

    task = Generation()
    if model_ref:
        from tlsuite_core.apps import load_app

        app = load_app(model_ref, device="cpu")
        task, model, tok = app.task, app.model, app.tokenizer
        task.options.num_beams, task.options.max_new_tokens = beams, max_new
        task._set_generation_config(model)
        return task, model, tok
    task.configure(build_config({"extra": {"encoder": "minilm", "num_beams": beams, "max_new_tokens": max_new}}))
    resolved = resolve_model("minilm")
    model = task.load_model(resolved, [])
    tok = load_tokenizer(resolved)
    task.prepare_tokenizer(tok, model)
    return task, model.eval(), tok


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--limit", type=int, default=256)
    ap.add_argument("--pairs", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--beams", type=int, default=1)
    ap.add_argument("--max-new-tokens", type=int, default=32)
    ap.add_argument("--output", default=str(ROOT / "bench" / "results" / "generation.json"))
    ap.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seeds the warm start's new cross-attention weights: the output lengths, hence the ratio, depend on them",
    )
    args = ap.parse_args()
    import torch

    if DATA.is_file():
        sources = [line.strip() for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()][: args.limit]
        data = str(DATA)
    else:
        demo = ROOT / "plugins" / "translate" / "demo" / "dev.en"
        sources = [line.strip() for line in demo.read_text(encoding="utf-8").splitlines() if line.strip()][: args.limit]
        data = str(demo)

    torch.manual_seed(args.seed)
    task, model, tok = load(args.model, args.beams, args.max_new_tokens)
    pad = tok.pad_token_id
    eos = model.generation_config.eos_token_id
    skip = {pad, *(eos if isinstance(eos, list) else [eos])}
    kwargs = task.generation_kwargs()

    def ours() -> tuple[float, int]:
        start = time.perf_counter()
        outputs = task.generate(model, tok, sources, batch_size=args.batch_size)
        seconds = time.perf_counter() - start
        tokens = sum(o.tokens for o in outputs)
        return tokens / seconds, tokens

    def plain() -> tuple[float, int]:
        start = time.perf_counter()
        tokens = 0
        with torch.inference_mode():
            for source in sources:  # unsorted, one at a time: the loop most scripts write
                enc = tok(source, return_tensors="pt", truncation=True, max_length=128)
                out = model.generate(**enc, **kwargs)
                new = (
                    out[0, enc["input_ids"].shape[1] :] if task.kind == "causal" else out[0, 1:]
                )  # after the start token
                ids = new.tolist()
                end = next((k for k, t in enumerate(ids) if t in skip and t != pad), len(ids))
                tokens += sum(1 for t in ids[:end] if t != pad)
        return tokens / (time.perf_counter() - start), tokens

    print(
        f"{len(sources)} sources; model {args.model or 'minilm2minilm (untrained warm start)'}; beams {args.beams}; "
        f"max_new_tokens {args.max_new_tokens}; torch threads {torch.get_num_threads()}",
        flush=True,
    )
    ours()  # warm-up
    ratios, a_all, b_all = [], [], []
    for i in range(args.pairs):
        (a, ta), (b, tb) = ours(), plain()
        a_all.append(a)
        b_all.append(b)
        ratios.append(a / b)
        print(
            f"  pair {i + 1}: tlsuite {a:.0f} tokens/s ({ta} tokens), plain generate {b:.0f} tokens/s ({tb} tokens), ratio {a / b:.2f}",
            flush=True,
        )
    result = {
        "seed": args.seed,
        "sources": len(sources),
        "data": data,
        "model": args.model or "minilm2minilm-untrained",
        "beams": args.beams,
        "max_new_tokens": args.max_new_tokens,
        "batch_size": args.batch_size,
        "tlsuite_tokens_per_s_median": statistics.median(a_all),
        "plain_tokens_per_s_median": statistics.median(b_all),
        "ratio_median": statistics.median(ratios),
        "ratios": ratios,
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
    }
    print(f"generation ratio (median of {args.pairs}): {result['ratio_median']:.2f}")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
