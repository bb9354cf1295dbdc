"""Every strategy x every task shape x interrupted-and-resumed, table-driven, with tiny models.

For each cell: an uninterrupted run, and a run interrupted (Ctrl-C / SIGTERM path) after a checkpoint and resumed
with ``--resume``. The two must end with the same saved tensors, the same logged losses and the same dev metrics;
the saved model must load back for prediction and report its trainable share. Generation tasks join the table when
the core has them.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from transformers import TrainerCallback

from tlsuite_core.errors import ConfigError
from tlsuite_core.training.strategies import STRATEGIES

#: every test here trains models (tiny ones): the quick loop is python -m pytest -m "not slow"
pytestmark = pytest.mark.slow

# (strategy, extra options): every strategy, plus the regularisers that change the training step
CASES = [(name, {}) for name in STRATEGIES] + [
    ("full", {"fgm_epsilon": 0.5, "oversample": True}),
    ("lora", {"fgm_epsilon": 0.5, "dropout": 0.2}),
]
TASKS = ["sequence", "token", "generation"]
STEPS, SAVE, STOP = 10, 5, 7  # 10 optimiser steps, checkpoint (and dev evaluation) every 5, interrupted at 7


class InterruptAt(TrainerCallback):
    def __init__(self, step: int) -> None:
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001
        if state.global_step == self.step:
            raise KeyboardInterrupt


def _app(task: str):
    from tlsuite_core.plugins import get_host

    if task == "generation":
        from tests.core.test_generation import APP

        return APP
    return get_host().registry.get("app", "finance-monitor" if task == "sequence" else "ner")


@pytest.fixture(scope="module")
def generation_setup(tmp_path_factory):
    """A tiny Llama (decoder-only: the generation shape every strategy supports) and copy-task pairs."""
    from tests.core.test_generation import _build, _pairs

    folder = tmp_path_factory.mktemp("gen")
    return _build("llama", folder / "llama"), {
        "train": _pairs(folder / "train.jsonl", 48, 1),
        "dev": _pairs(folder / "dev.jsonl", 6, 2),
    }


def _overrides(
    task: str, model: Path, data: dict[str, Path], runs: Path, name: str, strategy: str, extra: dict
) -> dict:
    return {
        "model": str(model),
        "train": str(data["train"]),
        "dev": str(data["dev"]),
        "strategy": strategy,
        "max_steps": STEPS,
        "save_steps": SAVE,
        "batch_size": 8,
        "seed": 3,
        "threads": 1,
        "runs_dir": str(runs),
        "name": name,
        "keep_checkpoints": True,
        "unfreeze_every": 3,
        "virtual_tokens": 4,
        "adapter_reduction": 4,
        "lora_r": 4,
        "learning_rate": 1e-3,
        "evals_per_epoch": 1,
        **extra,
        # the token shape reads sentences alone here; document context has its own resume test (test_ner_task)
        **({"extra": {"context": "sentence"}} if task == "token" else {}),
    }


def _tensors(folder: Path) -> dict:
    from safetensors.torch import load_file

    out = {}
    for path in sorted(folder.glob("*.safetensors")):
        out.update({f"{path.name}:{k}": v for k, v in load_file(str(path)).items()})
    assert out, f"no weights in {folder}"
    return out


def _losses(run: Path) -> list[tuple[int, float]]:
    history = json.loads((run / "report" / "log_history.json").read_text())
    return [(h["step"], h["loss"]) for h in history if "loss" in h]


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("strategy,extra", CASES, ids=[c[0] + ("+" + "+".join(c[1]) if c[1] else "") for c in CASES])
def test_strategy_trains_resumes_exactly_and_reloads(
    task, strategy, extra, tmp_path, tiny_model, tiny_data, ner_model, ner_data, generation_setup
):
    from tests.conftest import train
    from tlsuite_core.apps import load_app
    from tlsuite_core.training.engine import resolve_training_config

    app = _app(task)
    model, data = {"sequence": (tiny_model, tiny_data), "token": (ner_model, ner_data), "generation": generation_setup}[
        task
    ]
    runs = tmp_path / "runs"

    opts = dict(extra)

    def config(name: str):
        cfg, _ = resolve_training_config(
            app, config_file=None, overrides=_overrides(task, model, data, runs, name, strategy, opts), resume=None
        )
        return cfg

    if task == "generation" and opts.get("oversample"):
        with pytest.raises(ConfigError, match="oversample needs labelled classes"):
            train(app, config("rejected"))
        opts.pop("oversample")  # FGM still runs for generation
    if strategy == "prompt" and task == "token":
        with pytest.raises(ConfigError, match="prompt does not fit token classification"):
            train(app, config("straight"))
        return

    straight = train(app, config("straight"))
    with pytest.raises(KeyboardInterrupt):
        train(app, config("resumed"), callbacks=[InterruptAt(STOP)])
    resumed_dir = runs / app.name / "resumed"
    assert json.loads((resumed_dir / "run.json").read_text())["status"] == "interrupted"
    cfg, run = resolve_training_config(app, config_file=None, overrides={}, resume=str(resumed_dir))
    resumed = train(app, cfg, resume_run=run)

    # same tensors, same losses, same metrics
    a, b = _tensors(straight.path / "model"), _tensors(resumed.path / "model")
    assert a.keys() == b.keys()
    for key in a:
        assert (a[key].float() - b[key].float()).abs().max().item() <= 1e-5, key
    la, lb = _losses(straight.path), _losses(resumed.path)
    assert [step for step, _ in la] == [step for step, _ in lb] and la
    assert [loss for _, loss in la] == pytest.approx([loss for _, loss in lb], abs=1e-5)
    for key, value in straight.record["metrics"].items():
        assert resumed.record["metrics"][key] == pytest.approx(value, abs=1e-6), key

    # parameter accounting and what the folder is
    params = straight.record["parameters"]
    assert 0 < params["trainable"] <= params["total"]
    kind = STRATEGIES[strategy].kind
    if kind in ("peft", "bottleneck") or strategy in ("frozen", "partial"):  # (generation: frozen trains lm_head)
        assert params["trainable"] < params["total"]
    assert straight.record["strategy"]["loads_with"] == STRATEGIES[strategy].loads_with
    files = {p.name for p in (straight.path / "model").iterdir()}
    # safetensors and JSON only: no pickle in what a run ships (Trainer's training_args.bin included)
    shipped = [
        p
        for folder in ("model", "merged")
        for p in (straight.path / folder).glob("*")
        if p.suffix in (".bin", ".pt", ".pth", ".pkl")
    ]
    assert not shipped, shipped
    assert "training_args.json" in files
    if kind == "peft":
        assert "adapter_config.json" in files and "config.json" not in files
        adapter = json.loads((straight.path / "model" / "adapter_config.json").read_text())
        assert adapter["base_model_name_or_path"] == str(model)
        assert (straight.path / "merged").is_dir() == STRATEGIES[strategy].mergeable
    elif kind == "bottleneck":
        assert "bottleneck_adapters.safetensors" in files
    else:
        assert "config.json" in files

    # the saved run loads back and predicts
    trained = load_app(straight.path, device="cpu")
    text = {"sequence": "the company said profit rose", "token": "John Smith visited Paris", "generation": "w1 w2"}[
        task
    ]
    assert len(trained.predict([text])) == 1
