"""What a run folder holds: no pickle outside checkpoints/, the training arguments as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .test_train_cli import train_args

#: suffixes of files torch/pickle write (``torch.save`` is a pickle)
PICKLE_SUFFIXES = (".bin", ".pkl", ".pickle", ".pt", ".pth", ".ckpt")


def pickles_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name.endswith(PICKLE_SUFFIXES))


@pytest.mark.slow
def test_a_completed_run_folder_holds_no_pickle(cli, workdir, tiny_model, tiny_data):
    result = cli(*train_args(tiny_model, tiny_data, "--name", "clean", "--save-steps", "6"))
    assert result.exit_code == 0, result.output
    run = workdir / "runs" / "finance-monitor" / "clean"
    assert not (run / "checkpoints").exists()
    assert pickles_in(run) == []
    saved = json.loads((run / "model" / "training_args.json").read_text())
    assert saved["learning_rate"] == 1e-3 and saved["per_device_train_batch_size"] == 8 and saved["save_steps"] == 6


@pytest.mark.slow
def test_kept_checkpoints_hold_the_arguments_as_json_and_resume_state_only(cli, workdir, tiny_model, tiny_data):
    result = cli(*train_args(tiny_model, tiny_data, "--name", "kept", "--save-steps", "6", "--keep-checkpoints"))
    assert result.exit_code == 0, result.output
    run = workdir / "runs" / "finance-monitor" / "kept"
    checkpoints = sorted((run / "checkpoints").iterdir())
    assert checkpoints
    for checkpoint in checkpoints:
        assert not (checkpoint / "training_args.bin").exists()
        assert json.loads((checkpoint / "training_args.json").read_text())["seed"] == 42
        # what is left is what --resume restores: optimiser, scheduler and RNG states (torch's own files)
        assert {Path(p).name for p in pickles_in(checkpoint)} <= {"optimizer.pt", "scheduler.pt", "rng_state.pth"}
    outside = [p for p in pickles_in(run) if not p.startswith("checkpoints/")]
    assert outside == []
