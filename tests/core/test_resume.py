"""Exact resume: a run killed (SIGKILL) after a checkpoint and resumed ends where an uninterrupted run ends."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.core.test_train_cli import train_args

pytestmark = [pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL"), pytest.mark.slow]

KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from transformers import TrainerCallback
    from tlsuite_core.commands import classification
    from tlsuite_core.training import engine

    class KillAfter(TrainerCallback):
        def on_step_end(self, args, state, control, **kw):
            if state.global_step == int(os.environ["KILL_AT_STEP"]):
                os.kill(os.getpid(), signal.SIGKILL)

    original = engine.train
    def train_with_killer(*a, **kw):
        kw["callbacks"] = [KillAfter()]
        return original(*a, **kw)
    engine.train = train_with_killer

    from tlsuite_core.cli import main
    main(sys.argv[1:])
    """
)


def _weights(folder: Path) -> dict:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


@pytest.mark.parametrize(
    "group_by_length, kill_at, resumed_from", [(True, 10, 8), (True, 18, 16), (False, 10, 8)], ids=str
)
def test_killed_then_resumed_matches_uninterrupted(
    cli, workdir, tiny_model, tiny_data, group_by_length, kill_at, resumed_from
):
    extra = ["--save-steps", "4", "--keep-checkpoints", "--seed", "7"]
    if not group_by_length:
        extra.append("--no-group-by-length")
    # 96 rows / batch 8 = 12 steps per epoch, 2 epochs = 24 steps; checkpoints at 4, 8, ...; killed at step 10 (the
    # first epoch) or 18 (the second: its length-grouped order was drawn after the first epoch's training, and the
    # resumed run must draw the same one)
    full = cli(*train_args(tiny_model, tiny_data, *extra, "--name", "full"))
    assert full.exit_code == 0, full.output

    env = {**os.environ, "KILL_AT_STEP": str(kill_at)}
    args = train_args(tiny_model, tiny_data, *extra, "--name", "killed")
    proc = subprocess.run([sys.executable, "-c", KILLER, *args], cwd=workdir, env=env, capture_output=True, text=True)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    run = workdir / "runs" / "finance-monitor" / "killed"
    assert json.loads((run / "run.json").read_text())["status"] == "running"  # never marked complete
    assert not (run / "model").exists() and not (run / "metrics.json").exists()

    # a killed run is not usable as a model
    refused = cli("finance-monitor", "predict", "--model", str(run), "profit rose")
    assert refused.exit_code == 2 and "not complete" in refused.output

    resumed = cli("finance-monitor", "train", "--resume", str(run))
    assert resumed.exit_code == 0, resumed.output
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "completed" and record["resumed_from"] == f"checkpoints/checkpoint-{resumed_from}"

    full_run = workdir / "runs" / "finance-monitor" / "full"
    assert json.loads((run / "metrics.json").read_text()) == json.loads((full_run / "metrics.json").read_text())
    a, b = _weights(full_run / "model"), _weights(run / "model")
    assert a.keys() == b.keys()
    import torch

    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6, msg=key)
    full_log = json.loads((full_run / "report" / "log_history.json").read_text())
    resumed_log = json.loads((run / "report" / "log_history.json").read_text())
    assert [h.get("loss") for h in full_log if "loss" in h] == pytest.approx(
        [h.get("loss") for h in resumed_log if "loss" in h], rel=1e-5
    )


def test_sigterm_marks_the_run_interrupted_and_it_resumes(cli, workdir, tiny_model, tiny_data):
    script = KILLER.replace("signal.SIGKILL", "signal.SIGTERM")
    args = train_args(tiny_model, tiny_data, "--save-steps", "4", "--name", "stopped")
    proc = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=workdir,
        env={**os.environ, "KILL_AT_STEP": "6"},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 130, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    run = workdir / "runs" / "finance-monitor" / "stopped"
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "interrupted" and record["last_checkpoint"] == "checkpoints/checkpoint-4"
    assert not (run / "model").exists()
    resumed = cli("finance-monitor", "train", "--resume", str(run))
    assert resumed.exit_code == 0, resumed.output
    assert json.loads((run / "run.json").read_text())["status"] == "completed"


def test_the_length_grouped_order_is_transformers_and_a_checkpoint_replays_it():
    import torch
    from transformers.trainer_pt_utils import LengthGroupedSampler

    from tlsuite_core.training.trainer import ResumableLengthGroupedSampler

    lengths = [int(n) for n in torch.randint(3, 40, (90,), generator=torch.Generator().manual_seed(0))]
    torch.manual_seed(11)
    torch.rand(5)  # training consumed some randomness before the epoch starts
    state = torch.get_rng_state()
    theirs = list(LengthGroupedSampler(8, lengths=lengths))
    torch.set_rng_state(state)
    ours = ResumableLengthGroupedSampler(8, lengths)
    ours.set_epoch(1)
    assert list(ours) == theirs  # a fresh run's order is unchanged
    assert ours.drawn[0] == 1 and torch.equal(ours.drawn[1], state)
    torch.manual_seed(99)  # a resumed process reaches the epoch with another RNG state
    again = ResumableLengthGroupedSampler(8, lengths, resume=ours.drawn)
    again.set_epoch(1)
    assert list(again) == theirs
    other = ResumableLengthGroupedSampler(8, lengths, resume=ours.drawn)
    other.set_epoch(2)  # a checkpoint of another epoch: drawn as transformers draws it
    state = torch.get_rng_state()
    assert list(other) == list(LengthGroupedSampler(8, lengths=lengths, generator=torch.Generator().set_state(state)))
