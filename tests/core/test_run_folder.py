"""What a run folder holds: no pickle outside checkpoints/, the training arguments as JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.core.test_train_cli import train_args

#: suffixes of files torch/pickle write (``torch.save`` is a pickle)
PICKLE_SUFFIXES = (".bin", ".pkl", ".pickle", ".pt", ".pth", ".ckpt")


def pickles_in(folder: Path) -> list[str]:
    return sorted(
        str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file() and p.name.endswith(PICKLE_SUFFIXES)
    )


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


# --------------------------------------------------------------------------------------------------
# Ctrl-C: what it says, what a run can do next, and the times of every attempt
# --------------------------------------------------------------------------------------------------


def _interrupting(monkeypatch, step: int) -> None:
    """Make the next CLI training raise KeyboardInterrupt (Ctrl-C) after optimiser step ``step``."""
    from transformers import TrainerCallback

    from tlsuite_core.training import engine

    class CtrlC(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001
            if state.global_step == step:
                raise KeyboardInterrupt

    original = engine.train

    def train_once(*a, **kw):
        monkeypatch.setattr(engine, "train", original)
        return original(*a, **{**kw, "callbacks": [CtrlC()]})

    monkeypatch.setattr(engine, "train", train_once)


@pytest.mark.slow
def test_ctrl_c_prints_the_resume_command_and_run_json_times_every_attempt(
    cli, workdir, tiny_model, tiny_data, monkeypatch
):
    args = train_args(tiny_model, tiny_data, "--name", "ctrlc", "--save-steps", "4")
    _interrupting(monkeypatch, 6)
    stopped = cli(*args)
    assert stopped.exit_code == 130, stopped.output
    run = Path("runs") / "finance-monitor" / "ctrlc"
    assert f"continue from checkpoint-4 with: tlsuite finance-monitor train --resume {run}" in stopped.output
    record = json.loads((workdir / run / "run.json").read_text())
    assert record["status"] == "interrupted"
    [first] = record["attempts"]
    assert (first["status"], first["first_step"], first["last_step"]) == ("interrupted", 0, 6) and first[
        "train_seconds"
    ] > 0

    resumed = cli("finance-monitor", "train", "--resume", str(run))
    assert resumed.exit_code == 0, resumed.output
    record = json.loads((workdir / run / "run.json").read_text())
    first, second = record["attempts"]
    assert first["status"] == "interrupted"
    assert (second["status"], second["resumed_from"], second["first_step"], second["last_step"]) == (
        "completed",
        "checkpoints/checkpoint-4",
        4,
        24,
    )
    timings = record["timings"]
    assert timings["attempts"] == 2
    # the whole run's times cover both attempts; the last attempt's alone are recorded too
    assert timings["train_seconds"] == pytest.approx(first["train_seconds"] + second["train_seconds"], abs=0.01)
    assert timings["total_seconds"] == pytest.approx(first["total_seconds"] + second["total_seconds"], abs=0.05)
    assert 0 < timings["last_attempt_train_seconds"] < timings["train_seconds"]
    assert timings["last_attempt_train_seconds"] == pytest.approx(second["train_seconds"], abs=0.01)


@pytest.mark.slow
def test_a_run_stopped_before_its_first_checkpoint_starts_again_under_its_name(
    cli, workdir, tiny_model, tiny_data, monkeypatch
):
    args = train_args(tiny_model, tiny_data, "--name", "early")  # checkpoints once per epoch: 12 steps
    _interrupting(monkeypatch, 3)
    stopped = cli(*args)
    assert stopped.exit_code == 130, stopped.output
    assert "nothing to resume" in stopped.output and "--name early" in stopped.output
    run = workdir / "runs" / "finance-monitor" / "early"
    assert json.loads((run / "run.json").read_text())["status"] == "interrupted"
    refused = cli("finance-monitor", "train", "--resume", str(run))
    assert refused.exit_code == 2 and "no checkpoint written yet" in refused.output

    again = cli(*args)
    assert again.exit_code == 0, again.output
    assert "starting" in again.output and "over" in again.output
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "completed"
    assert record["started_over"]["status"] == "interrupted"
    assert [a["status"] for a in record["attempts"]] == ["completed"]
    # a completed run keeps its name
    taken = cli(*args)
    assert taken.exit_code == 2 and "a completed run has this name" in taken.output


def _stopped_run(runs: Path, name: str, status: str, *, checkpoint: bool = False, **fields) -> Path:
    run = runs / "finance-monitor" / name
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"status": status, **fields}))
    (run / "config.yaml").write_text("epochs: 1\n")
    if checkpoint:
        (run / "checkpoints" / "checkpoint-4").mkdir(parents=True)
        (run / "checkpoints" / "checkpoint-4" / "trainer_state.json").write_text("{}")
    else:
        (run / "checkpoints" / "checkpoint-4").mkdir(parents=True)  # begun, never finished: not a checkpoint
    return run


@pytest.mark.parametrize("status", ["interrupted", "failed", "running"])
def test_a_name_is_free_again_when_its_run_never_wrote_a_checkpoint(tmp_path, status):
    from tlsuite_core.training.runs import RunFolder

    _stopped_run(tmp_path, "x", status, created_at="then", error="boom")
    run = RunFolder.create(tmp_path, "finance-monitor", "x")
    assert run.replaced == {
        "status": status,
        "created_at": "then",
        "finished_at": None,
        "updated_at": None,
        "error": "boom",
    }
    assert list(run.path.iterdir()) == []


@pytest.mark.parametrize("status", ["interrupted", "failed", "running"])
def test_a_run_with_a_checkpoint_keeps_its_name_and_is_pointed_to_resume(tmp_path, status):
    from tlsuite_core.errors import ConfigError
    from tlsuite_core.training.runs import RunFolder

    run = _stopped_run(tmp_path, "x", status, checkpoint=True)
    with pytest.raises(ConfigError, match=f"has a checkpoint \\(checkpoint-4\\); continue it with --resume {run}"):
        RunFolder.create(tmp_path, "finance-monitor", "x")
    assert (run / "run.json").is_file()


def test_a_run_still_running_keeps_its_name(tmp_path):
    import os
    import socket
    import subprocess
    import sys

    from tlsuite_core.errors import ConfigError
    from tlsuite_core.training.runs import RunFolder

    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        run = _stopped_run(tmp_path, "live", "running", pid=other.pid, host=socket.gethostname())
        with pytest.raises(ConfigError, match=f"still running \\(process {other.pid}\\)"):
            RunFolder.create(tmp_path, "finance-monitor", "live")
        assert (run / "run.json").is_file()
    finally:
        other.kill()
        other.wait()
    # the same record once its process is gone: a killed run, free to start over
    assert RunFolder.create(tmp_path, "finance-monitor", "live").replaced["status"] == "running"
    assert os.getpid() != other.pid


def test_pretrain_out_folder_starts_over_like_a_name(tmp_path):
    from tlsuite_core.errors import ConfigError
    from tlsuite_core.training.runs import RunFolder

    run = _stopped_run(tmp_path, "out", "interrupted")
    assert RunFolder.at(run).replaced["status"] == "interrupted"
    (run / "run.json").write_text(json.dumps({"status": "completed"}))
    with pytest.raises(ConfigError, match="a completed run has this name \\(pick another folder\\)"):
        RunFolder.at(run)
