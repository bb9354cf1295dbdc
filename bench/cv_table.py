"""Cross-validated comparison of training configurations on the training split only (resumable).

FPB 50agree (``50agree_train.csv``), 5 folds x 3 seeds, the same folds for every configuration; each configuration
is one cross-validation folder under ``bench/out/cv/<name>`` (:class:`tlsuite_core.training.cv.CrossValidation`),
each fold/seed an ordinary run that trains without a dev set and is scored on its held-out fold (last checkpoint,
averaged checkpoints, every checkpoint, seed ensembles). Units run interleaved (seed, fold, configuration), so at
any point the configurations have the same fold/seed units done and compare pairwise. The dev set is not read
until ``--score-dev``: once the table is complete, the selected configuration scores it once.

    python bench/cv_table.py                                   # plain,defaults -> bench/results/cv-fpb50.json
    python bench/cv_table.py --configs plain,defaults,lr1e-4   # more configurations (see CONFIGS)
    python bench/cv_table.py --summary-only                    # rewrite the summary from what is scored
    python bench/cv_table.py --summary-only --score-dev        # then the dev split, once -> cv-fpb50-dev.json
    python bench/cv_table.py --configs defaults-nollrd --seeds 1  # a lever row, paired with the pinned defaults
    python bench/cv_table.py --configs plain,defaults,shipped  # the recipe the app ships after rule 5 (keeps models)
    python bench/cv_table.py --configs shipped-distill --seeds 1  # ... distilled from each fold's seed ensemble

'defaults' and 'defaults-*' are pinned (BASELINE): the app's defaults when the lever rows started, so they keep
meaning what their folders hold once the lever decisions change the app's app.yaml; 'shipped' is what it ships now.

Run it in the background, nice'd, one thread (``--threads 1``, the default); kill it at any time and run the same
command again to go on. Two processes with the same configuration share its units (each unit is locked while one
runs it), so a second core can join a row that is under way.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("TLSUITE_SHARED_DATA") or ROOT.parent / "shared" / "data")

#: plain: what a user would write with Trainer's defaults (3 epochs, lr 2e-5, batch 16, no warm-up, no weight
#: decay, last checkpoint); defaults: the app's defaults pinned as they were when the lever rows started (BASELINE);
#: defaults-*: one lever changed from those; shipped: what the app ships now (its app.yaml)
PLAIN = {
    "learning_rate": 2e-5,
    "epochs": 3.0,
    "batch_size": 16,
    "warmup": 0.0,
    "weight_decay": 0.0,
    "layer_lr_decay": 1.0,
    "head_lr_scale": 1.0,
    "label_smoothing": 0.0,
    "reinit_layers": 0,
    "rdrop_alpha": 0.0,
    "min_steps": 0,
}
#: each app's training defaults when its lever rows started. Every lever is measured against the same defaults, and
#: the app's defaults change only once all of a dataset's rows are scored (rule 5 of docs/results/cv.md), so the
#: 'defaults' and 'defaults-*' configurations are pinned here and keep meaning what their folders hold after the
#: app.yaml changes; the recipe that ships after the change is 'shipped'.
BASELINE = {
    "fpb50": {  # finance-monitor before rule 5
        "learning_rate": 1e-4,
        "epochs": 5.0,
        "batch_size": 32,
        "warmup": 0.1,
        "weight_decay": 0.01,
        "layer_lr_decay": 0.85,
        "head_lr_scale": 5.0,
        "label_smoothing": 0.1,
        "reinit_layers": 0,
        "rdrop_alpha": 0.0,
        "min_steps": 0,
    },
    "banking77": {  # customer-service
        "learning_rate": 1e-4,
        "epochs": 5.0,
        "batch_size": 16,
        "warmup": 0.1,
        "weight_decay": 0.01,
        "layer_lr_decay": 0.9,
        "head_lr_scale": 10.0,
        "label_smoothing": 0.1,
        "max_length": 64,
        "reinit_layers": 0,
        "rdrop_alpha": 0.0,
        "min_steps": 0,
    },
    "conll": {  # ner
        "learning_rate": 2e-4,
        "epochs": 5.0,
        "batch_size": 8,
        "warmup": 0.1,
        "weight_decay": 0.01,
        "layer_lr_decay": 0.85,
        "head_lr_scale": 5.0,
        "label_smoothing": 0.0,
        "max_length": 256,
        "reinit_layers": 0,
        "rdrop_alpha": 0.0,
        "min_steps": 0,
        "extra": {"context": "document", "decode": "viterbi"},
    },
}
CONFIGS: dict[str, dict] = {
    "plain": PLAIN,
    "defaults": {},
    "lr1e-4": {**PLAIN, "learning_rate": 1e-4},
    "lr5e-5-e5": {**PLAIN, "learning_rate": 5e-5, "epochs": 5.0},
    "lr1e-4-e5-b32": {**PLAIN, "learning_rate": 1e-4, "epochs": 5.0, "batch_size": 32, "warmup": 0.1},
    # one lever on top of the pinned defaults
    "defaults-rdrop": {"rdrop_alpha": 1.0},
    "defaults-reinit1": {"reinit_layers": 1},
    "defaults-nollrd": {"layer_lr_decay": 1.0, "head_lr_scale": 1.0},
    "defaults-nosmooth": {"label_smoothing": 0.0},
    "defaults-warmup0": {"warmup": 0.0},
    "defaults-e3": {"epochs": 3.0},
    "defaults-lr5e-5": {"learning_rate": 5e-5},
    # the defaults distilled from the seed ensemble of the same fold: the teachers are the kept models of the
    # --teachers configuration's units (TEACHERS is replaced by its folder; by default the configuration the
    # student is built on: 'defaults' for defaults-distill, 'shipped' for shipped-distill)
    "defaults-distill": {"distill_from": ["TEACHERS"]},
    # the app's defaults as they ship now: after rule 5 (the lever decisions applied together) the recipe measured
    # against plain and paired with the pinned defaults; its units keep their models (the teachers of shipped-distill)
    "shipped": {},
    "shipped-distill": {"distill_from": ["TEACHERS"]},
}
#: configurations built on the app's app.yaml as it is now rather than on the pinned BASELINE
SHIPPED = ("shipped", "shipped-distill")
#: the recipe each 'shipped' folder measured (rule 5 applied), pinned once its units started, so that the folder keeps
#: its meaning whatever app.yaml says later (rule 8 may select the old defaults; finance-monitor's --min-steps 291,
#: added after the units started, changes none of them: every FPB fold trains 291 steps, the final fit 366)
SHIPPED_PINNED = {
    "fpb50": {
        "learning_rate": 5e-5,
        "epochs": 3.0,
        "batch_size": 32,
        "warmup": 0.0,
        "weight_decay": 0.01,
        "layer_lr_decay": 1.0,
        "head_lr_scale": 1.0,
        "label_smoothing": 0.0,
        "reinit_layers": 1,
        "rdrop_alpha": 1.0,
        "min_steps": 0,
    },
    # customer-service with its lever decisions (rules 5 and 7): its pinned defaults without warm-up and smoothing
    "banking77": {**BASELINE["banking77"], "warmup": 0.0, "label_smoothing": 0.0},
}
#: configurations whose units always keep their models (they teach the '-distill' configuration built on them)
TEACHES = ("shipped",)
#: the decision rules written before the lever units ran (docs/results/cv.md, "Decisions" 3 and 4), per lever
#: configuration: which side of (configuration - its base) the lever is on, and what each outcome means. "removes":
#: the configuration drops something the base has, which stays only if the base wins by more than one paired
#: standard error; "adds": the configuration adds something, which enters only if it wins by more than one; a tie
#: goes to the simpler (or cheaper) recipe. The base is the name before the first '-' (defaults, shipped).
LEVERS = {
    "defaults-nollrd": ("removes", "keep layer-wise rates", "drop layer-wise rates"),
    "defaults-nosmooth": ("removes", "keep label smoothing", "drop label smoothing"),
    "defaults-warmup0": ("removes", "keep warm-up", "drop warm-up"),
    "defaults-e3": ("removes", "keep 5 epochs", "3 epochs"),
    "defaults-rdrop": ("adds", "add R-Drop", "no R-Drop"),
    "defaults-reinit1": ("adds", "re-initialise the top layer", "no re-initialisation"),
    "defaults-distill": ("adds", "distil from the seed ensemble", "no distillation"),
    "defaults-lr5e-5": ("adds", "peak rate 5e-5", "keep peak rate 1e-4"),
    "shipped-distill": ("adds", "distil from the seed ensemble", "no distillation"),
}
#: the checkpoint variants paired with another configuration's last checkpoint on the same units
PAIRED_VARIANTS = ("last", "avg-last-2", "swa")
#: how the table marks a configuration whose unit folders are not on this machine (bench/out is not committed)
CARRIED = "units scored on an earlier machine (bench/out is not committed): entry and pairs as committed"
#: a lever decision is final once this many paired units are scored (seed 1's five folds)
LEVER_UNITS = 5


def lever_decision(name: str, paired: dict | None) -> str:
    """The pre-registered rule applied to a lever's paired accuracy difference (configuration - its base)."""
    if name not in LEVERS or not paired or paired.get("mean") is None or paired.get("se") is None:
        return "-"
    kind, if_wins, otherwise = LEVERS[name]
    mean, se, n = paired["mean"], paired["se"], paired["n"]
    verdict = if_wins if (-mean if kind == "removes" else mean) > se else otherwise
    return verdict if n >= LEVER_UNITS else f"so far: {verdict} ({n} of {LEVER_UNITS} units)"


#: what "plain" also means per dataset: the task options a plain Hugging Face fine-tune has (ner: each sentence
#: alone, each word's most probable tag; the app ships document context and Viterbi decoding)
PLAIN_EXTRA = {"conll": {"context": "sentence", "decode": "argmax"}}
#: name -> (app, training split); folds are cut from it, the dev split is never read here
DATASETS = {
    "fpb50": ("finance-monitor", DATA / "financial_phrasebank" / "50agree_train.csv"),
    "banking77": ("customer-service", DATA / "banking77" / "train_minus_dev.csv"),
    "conll": ("ner", DATA / "conll2003" / "train.txt"),
}
#: the dev split each dataset's selected configuration is scored on once (--score-dev), after the table
DEV = {
    "fpb50": DATA / "financial_phrasebank" / "50agree_dev.csv",
    "banking77": DATA / "banking77" / "dev.csv",
    "conll": DATA / "conll2003" / "valid.txt",
}
#: the two metrics each table shows (the first is the curve's)
METRICS = {"fpb50": ("accuracy", "macro_f1"), "banking77": ("accuracy", "macro_f1"), "conll": ("f1", "macro_f1")}


def overrides_for(name: str, dataset: str) -> dict:
    """The options configuration ``name`` sets on top of the app's defaults for ``dataset``."""
    if name in SHIPPED:
        return {**SHIPPED_PINNED.get(dataset, {}), **CONFIGS[name]}
    if name == "defaults" or name.startswith("defaults-"):
        return {**BASELINE[dataset], **CONFIGS[name]}
    overrides = dict(CONFIGS[name])
    if name == "plain" and dataset in PLAIN_EXTRA:
        overrides["extra"] = PLAIN_EXTRA[dataset]
    return overrides


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dataset", default="fpb50", choices=sorted(DATASETS))
    ap.add_argument("--configs", default="plain,defaults")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "cv"))
    ap.add_argument("--output", default=None, help="summary JSON (default bench/results/cv-<dataset>.json)")
    ap.add_argument("--summary-only", action="store_true")
    ap.add_argument(
        "--teachers",
        default=None,
        help="the configuration whose kept unit models teach a '-distill' configuration (default: the one it is built "
        "on: defaults for defaults-distill, shipped for shipped-distill)",
    )
    ap.add_argument(
        "--score-dev",
        action="store_true",
        help="after the table: select the configuration with the best mean held-out metric (last checkpoint, the "
        "rule of train --cv), train it once on the whole training split (last checkpoint) and score the dev split "
        "once -> bench/results/cv-<dataset>-dev.json",
    )
    ap.add_argument(
        "--keep-models",
        action="store_true",
        help="keep each unit's final model (the teachers of a '-distill' configuration; about 90 MB per unit)",
    )
    args = ap.parse_args()
    app_name, train = DATASETS[args.dataset]
    if not train.exists():
        print(f"skipped: {train} not found (set TLSUITE_SHARED_DATA)")
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from tlsuite_core.plugins import get_host
    from tlsuite_core.training.cv import CrossValidation, UnitBusy, paired_difference
    from tlsuite_core.training.engine import resolve_training_config

    host = get_host()
    spec = host.app(app_name)
    names = [n.strip() for n in args.configs.split(",") if n.strip()]
    output = Path(args.output or ROOT / "bench" / "results" / f"cv-{args.dataset}.json")
    previous = json.loads(output.read_text()) if output.is_file() else {}
    cvs, carried = {}, {}
    for name in names:
        if args.summary_only and not (Path(args.out) / f"{args.dataset}-{name}").is_dir():
            # unit folders live under bench/out (not committed): on a machine without them, a configuration the
            # committed table already holds keeps its entry, marked as carried, instead of dropping out of it
            if name in previous.get("configs", {}):
                carried[name] = previous
                print(f"{name}: no folder {args.dataset}-{name} here; its entry is carried from {output.name}")
            else:
                print(f"{name}: nothing scored yet (no folder {args.dataset}-{name}), left out of the summary")
            continue
        overrides = {
            **overrides_for(name, args.dataset),
            "train": str(train),
            "threads": args.threads,
            "evals_per_epoch": 2,
        }
        if overrides.get("distill_from") == ["TEACHERS"]:
            teachers = args.teachers or name.split("-")[0]
            overrides["distill_from"] = [str(Path(args.out) / f"{args.dataset}-{teachers}")]
        config, _ = resolve_training_config(spec, config_file=None, overrides=overrides, resume=None)
        if name == "shipped":
            refuse_unchanged(spec, config, args.dataset, train)
        cvs[name] = CrossValidation(
            spec,
            config,
            host.registry,
            Path(args.out) / f"{args.dataset}-{name}",
            k=args.folds,
            seeds=args.seeds,
            keep_models=args.keep_models or name in TEACHES,
        )
    if not args.summary_only:
        units = next(iter(cvs.values())).units()
        for i, (fold, seed) in enumerate(units):
            for name, cv in cvs.items():
                start = time.perf_counter()
                try:  # a second process on the same configuration takes the units the first is not running
                    scores = cv.run_unit(fold, seed, wait=False)
                except UnitBusy:
                    print(f"[{i + 1}/{len(units)}] {name} fold {fold + 1} seed {seed}: another process runs it")
                    continue
                last = scores["variants"]["last"]
                shown = "  ".join(f"{key} {last[key]:.4f}" for key in METRICS[args.dataset])
                print(
                    f"[{i + 1}/{len(units)}] {name} fold {fold + 1} seed {seed}: last checkpoint {shown} "
                    f"({time.perf_counter() - start:.0f} s)",
                    flush=True,
                )
            write(output, args, cvs, paired_difference)
    write(output, args, cvs, paired_difference, carried)
    print(f"written {output}")
    if args.score_dev:
        score_dev(args, spec, cvs, host.registry, output, carried)
    return 0


def refuse_unchanged(spec: object, config: object, dataset: str, train: Path) -> None:
    """'shipped' measures the recipe after the lever decisions are applied to the app's defaults (rule 5); while the
    app still ships the pinned defaults it would only repeat the 'defaults' units, so it is refused."""
    from tlsuite_core.training.cv import _deciding
    from tlsuite_core.training.engine import resolve_training_config

    pinned, _ = resolve_training_config(
        spec,
        config_file=None,
        overrides={**overrides_for("defaults", dataset), "train": str(train), "evals_per_epoch": 2},
        resume=None,
    )
    ignore = ("name", "runs_dir", "threads", "device", "seed", "dev")
    now, before = ({k: v for k, v in _deciding(c.to_dict()).items() if k not in ignore} for c in (config, pinned))
    if now == before:
        raise SystemExit(
            f"'shipped' is still the pinned defaults of {dataset} (BASELINE): apply the lever decisions to the app's "
            "app.yaml first (docs/results/cv.md, rule 5)"
        )


def score_dev(
    args: argparse.Namespace, spec: object, cvs: dict, registry: object, output: Path, carried: dict | None = None
) -> None:
    """The dev split scored once by the selected configuration (``tlsuite_core.training.cv.score_dev_once``: trained
    on the whole training split on its fixed schedule; ``bench/out/cv/<dataset>-<name>/final``), and its last
    checkpoint and averages on dev from the same run. Done once: a later call prints what was written. Configurations
    carried from the committed table take part in the selection with their committed means; one of them selected
    has its dev figure in the committed dev file already."""
    from tlsuite_core.training.cv import score_dev_once, select_configuration

    metric = METRICS[args.dataset][0]
    carried = carried or {}
    units = args.folds * len(args.seeds)
    summaries = {name: cv.write_summary() for name, cv in cvs.items()}
    incomplete = [name for name, s in summaries.items() if len(s["runs"]) < len(cvs[name].units())]
    incomplete += [name for name, t in carried.items() if len(t["configs"][name]["runs"]) < units]
    if incomplete:
        raise SystemExit(f"--score-dev waits for the whole table: {', '.join(incomplete)} not complete")
    candidates = {**summaries, **{name: t["configs"][name] for name, t in carried.items()}}
    chosen = select_configuration(candidates, metric, lower=False)
    if chosen in carried:
        scored = output.with_name(output.stem + "-dev.json")
        if not scored.is_file() or json.loads(scored.read_text()).get("selected") != chosen:
            raise SystemExit(f"{chosen} is selected but its units are not on this machine: run it again to score dev")
        print(f"{chosen} is selected (carried from {output.name}); it scored the dev split once already: {scored}")
        return
    # each configuration scores the dev split at most once: the first selected one in cv-<dataset>-dev.json, one
    # selected later (the recipe that ships after rule 5) in cv-<dataset>-dev-<name>.json
    path = output.with_name(output.stem + "-dev.json")
    if path.is_file() and json.loads(path.read_text()).get("selected") != chosen:
        path = output.with_name(f"{output.stem}-dev-{chosen}.json")
    if path.is_file():
        print(f"the dev split was scored once already by {chosen}: {path}")
        return
    cv = cvs[chosen]
    final = cv.folder / "final"
    if (final / "metrics.json").is_file() and not (final / "checkpoints").is_dir():
        raise SystemExit(f"{final}: the dev split was scored once already (its checkpoints are gone); see {path.name}")
    config = cv.config.updated(
        dev=str(DEV[args.dataset]), seed=args.seeds[0], keep_checkpoints=True, save_total_limit=10_000
    )
    config.extra = dict(cv.config.extra)
    dev = score_dev_once(spec, config, registry, cv.folder, cv.console)
    # the same run's checkpoint averages on dev: the fixed-schedule variants the CV table chose between before the dev
    # split was read (docs/results/cv.md, "Decisions"); no per-checkpoint curve is computed on dev
    final = Path(dev["run"])
    scored = cv.score(final, cv.task.load_data(str(DEV[args.dataset]), cv.config), curve=False)
    variants = {name: {k: v for k, v in m.items() if k != "checkpoints"} for name, m in scored["variants"].items()}
    shutil.rmtree(final / "checkpoints", ignore_errors=True)
    result = {
        "command": "python bench/cv_table.py " + " ".join(sys.argv[1:]),
        "dataset": args.dataset,
        "selected": chosen,
        "selection_rule": f"best mean held-out {metric} of the last checkpoint over {args.folds} folds x "
        f"{len(args.seeds)} seeds, among {', '.join(candidates)}",
        "cv_means": {name: s["variants"]["last"][metric]["mean"] for name, s in candidates.items()},
        "dev_split": str(DEV[args.dataset]),
        "dev": dev,
        "dev_variants": variants,
    }
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"dev scored once by {chosen}: " + ", ".join(f"{k} {dev[k]:.4f}" for k in METRICS[args.dataset] if k in dev))
    for name, m in variants.items():
        print(f"  {name}: " + ", ".join(f"{k} {m[k]:.4f}" for k in (*METRICS[args.dataset], "ece") if k in m))
    print(f"written {path}")


def write(output: Path, args: argparse.Namespace, cvs: dict, paired_difference, carried: dict | None = None) -> None:
    """The table: each configuration scored here (its unit folders) or carried from the committed table (``carried``:
    name -> that table), with its per-unit figures, so that pairs can be formed again on any machine."""
    carried = carried or {}
    metrics = METRICS[args.dataset]
    summaries = {name: cv.write_summary() for name, cv in cvs.items()}
    configs, per_run = {}, {}
    for name in [n.strip() for n in args.configs.split(",") if n.strip()]:
        if name in summaries:
            configs[name] = {"overrides": overrides_for(name, args.dataset), **_brief(summaries[name], metrics)}
        elif name in carried:
            configs[name] = {**carried[name]["configs"][name], "carried": CARRIED}
        else:
            continue
        per_run[name] = configs[name].get("per_run") or {}
    result = {
        "command": "python bench/cv_table.py " + " ".join(sys.argv[1:]),
        "dataset": args.dataset,
        "folds": args.folds,
        "seeds": args.seeds,
        "threads": args.threads,
        "cpu_cores": os.cpu_count(),
        "configs": configs,
        "paired_vs_plain": {},
    }

    def pairs(name: str, base_name: str, section: str, compute):  # computed from per-unit figures, else as committed
        if per_run.get(name) and per_run.get(base_name):
            return compute(per_run[name], per_run[base_name])
        if name in carried and base_name in carried:
            return carried[name].get(section, {}).get(name)
        return None

    for name in configs:
        if name == "plain" or "plain" not in configs:
            continue
        paired = pairs(
            name,
            "plain",
            "paired_vs_plain",
            lambda runs, base: {
                variant: {
                    key: paired_difference(runs[variant][key], base["last"][key])
                    for key in metrics
                    if key in runs.get(variant, {})
                }
                for variant in runs
                if variant in PAIRED_VARIANTS
            },
        )
        if paired:
            result["paired_vs_plain"][name] = paired
    # the levers: one change to a base configuration (the pinned defaults, or the recipe that ships), paired with the
    # base's last checkpoint on the same units; 'shipped' itself is paired with the pinned defaults it replaces
    for base_name in ("defaults", "shipped"):
        section = result[f"paired_vs_{base_name}"] = {}
        if base_name not in configs:
            continue
        for name in configs:
            if not (name.startswith(f"{base_name}-") or (base_name, name) == ("defaults", "shipped")):
                continue
            paired = pairs(
                name,
                base_name,
                f"paired_vs_{base_name}",
                lambda runs, base: {
                    key: paired_difference(runs["last"][key], base["last"][key])
                    for key in metrics
                    if key in runs.get("last", {})
                },
            )
            if paired:
                section[name] = paired
    # rule 2: checkpoint averaging against the same configuration's last checkpoint on the same units
    result["averaging_vs_last"] = {
        name: {
            variant: {
                key: paired_difference(runs[variant][key], runs["last"][key])
                for key in metrics
                if key in runs[variant] and key in runs.get("last", {})
            }
            for variant in PAIRED_VARIANTS[1:]
            if variant in runs
        }
        for name, runs in per_run.items()
        if runs.get("last")
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(result, indent=2) + "\n")
    output.with_suffix(".md").write_text(markdown(result), encoding="utf-8")


def _cell(stat: dict | None, scale: float = 100.0) -> str:
    if not stat or stat.get("mean") is None:
        return "-"
    se = stat.get("se")
    return f"{scale * stat['mean']:.2f} ± {scale * se:.2f}" if se is not None else f"{scale * stat['mean']:.2f}"


def markdown(result: dict) -> str:
    """The table for docs/results: per configuration and variant, the dataset's two metrics and ECE in points (mean
    ± standard error over fold x seed runs, n runs), and the paired differences against plain (last checkpoint)."""
    a, b = METRICS[result["dataset"]]
    lines = [
        f"| configuration | model scored | {a} | {b} | ECE | n | paired Δ {a} vs plain | paired Δ {b} |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, c in result["configs"].items():
        for variant in ("last", "avg-last-2", "swa", "ensemble-last", "best-peeking"):
            v = c["variants"].get(variant)
            if not v:
                continue
            paired = result["paired_vs_plain"].get(name, {}).get(variant, {})
            label = variant + (" (selects on the held-out fold: optimistic)" if variant == "best-peeking" else "")
            label += " (carried)" if c.get("carried") and variant == "last" else ""
            n = v.get(a, {}).get("n", 0)
            lines.append(
                f"| {name} | {label} | {_cell(v.get(a))} | {_cell(v.get(b))} | "
                f"{_cell(v.get('ece'))} | {n} | {_cell(paired.get(a))} | {_cell(paired.get(b))} |"
            )
    if any(c.get("carried") for c in result["configs"].values()):
        lines += ["", f"(carried): {CARRIED}."]
    lines.append("")
    for base_name in ("defaults", "shipped"):
        levers = result.get(f"paired_vs_{base_name}") or {}
        if not levers:
            continue
        lines += [
            f"| lever (one change to {base_name}; last checkpoint) | n | paired Δ {a} vs {base_name} | paired Δ {b} "
            "| decision (rule written before the units ran) |",
            "|---|---|---|---|---|",
        ]
        for name, paired in levers.items():
            n = (paired.get(a) or {}).get("n", 0)
            decision = (
                lever_decision(name, paired.get(a))
                if name in LEVERS
                else "the lever decisions applied together (rule 8 selects between it and the defaults)"
            )
            lines.append(f"| {name} | {n} | {_cell(paired.get(a))} | {_cell(paired.get(b))} | {decision} |")
        lines.append("")
    averaging = {name: v for name, v in (result.get("averaging_vs_last") or {}).items() if v}
    if averaging:
        lines += [
            f"| checkpoint averaging (rule 2) | variant | n | paired Δ {a} vs its last checkpoint | paired Δ {b} |",
            "|---|---|---|---|---|",
        ]
        for name, variants in averaging.items():
            for variant, paired in variants.items():
                n = (paired.get(a) or {}).get("n", 0)
                lines.append(f"| {name} | {variant} | {n} | {_cell(paired.get(a))} | {_cell(paired.get(b))} |")
        lines.append("")
    for name, c in result["configs"].items():
        if not c["curve"]:  # no unit scored yet
            continue
        curve = ", ".join(f"{row[a]:.4f}" for row in c["curve"])
        minutes = (c["train_seconds"].get("mean") or 0) / 60
        lines.append(f"- {name}: mean held-out {a} at each half-epoch checkpoint: {curve}; {minutes:.1f} min per fold")
    return "\n".join(lines) + "\n"


def _brief(summary: dict, metrics: tuple[str, ...]) -> dict:
    """What the committed table keeps of a configuration's summary: the means, the curve, the time, the resolved
    configuration, and each unit's figures for the variants that are paired (so pairs survive the unit folders)."""
    keep = (*metrics, "ece")
    return {
        "runs": summary["runs"],
        "variants": summary["variants"],
        "curve": summary["curve"],
        "train_seconds": summary["train_seconds"],
        "config": summary["config"],
        "per_run": {
            variant: {key: values for key, values in figures.items() if key in keep}
            for variant, figures in summary["per_run"].items()
            if variant in PAIRED_VARIANTS
        },
    }


if __name__ == "__main__":
    sys.exit(main())
