"""Checkpoint averaging (tlsuite_core.training.averaging): which checkpoints, and their mean."""

from pathlib import Path

import pytest

from tlsuite_core.errors import ConfigError
from tlsuite_core.training.averaging import average_weights, checkpoints_of, load_averaged, pick_checkpoints


def write_checkpoint(folder: Path, step: int, value: float) -> Path:
    import torch
    from safetensors.torch import save_file

    path = folder / f"checkpoint-{step}"
    path.mkdir(parents=True)
    save_file(
        {"layer.weight": torch.full((2, 2), value), "layer.bias": torch.full((2,), -value), "ids": torch.arange(2)},
        str(path / "model.safetensors"),
    )
    return path


def test_checkpoints_are_found_in_step_order_and_picked_by_mode(tmp_path):
    for step in (30, 10, 20, 40):
        (tmp_path / f"checkpoint-{step}").mkdir()
    (tmp_path / "checkpoint-x").mkdir()
    found = checkpoints_of(tmp_path)
    assert [p.name for p in found] == ["checkpoint-10", "checkpoint-20", "checkpoint-30", "checkpoint-40"]
    assert [p.name for p in pick_checkpoints(found, "none")] == ["checkpoint-40"]
    assert [p.name for p in pick_checkpoints(found, "last-k", k=2)] == ["checkpoint-30", "checkpoint-40"]
    assert [p.name for p in pick_checkpoints(found, "swa")] == ["checkpoint-20", "checkpoint-30", "checkpoint-40"]
    assert [p.name for p in pick_checkpoints(found, "swa", start=0.9)] == ["checkpoint-40"]
    assert checkpoints_of(tmp_path / "missing") == []
    with pytest.raises(ConfigError, match="no checkpoints"):
        pick_checkpoints([], "none")
    with pytest.raises(ConfigError, match="unknown mode"):
        pick_checkpoints(found, "ema")


def test_weights_are_averaged_and_loaded_into_a_model(tmp_path):
    import torch

    paths = [write_checkpoint(tmp_path, step, value) for step, value in ((1, 1.0), (2, 2.0), (3, 6.0))]
    mean = average_weights(paths)
    assert torch.equal(mean["layer.weight"], torch.full((2, 2), 3.0))
    assert torch.equal(mean["layer.bias"], torch.full((2,), -3.0))
    assert torch.equal(mean["ids"], torch.arange(2))  # integer buffers are not averaged

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(2, 2)
            self.register_buffer("ids", torch.zeros(2, dtype=torch.long))

    model = load_averaged(Tiny(), paths[1:])
    assert torch.equal(model.layer.weight.data, torch.full((2, 2), 4.0))


def test_checkpoints_with_other_weights_are_refused(tmp_path):
    import torch
    from safetensors.torch import save_file

    first = write_checkpoint(tmp_path, 1, 1.0)
    other = tmp_path / "checkpoint-2"
    other.mkdir()
    save_file({"other.weight": torch.zeros(1)}, str(other / "model.safetensors"))
    with pytest.raises(ConfigError, match="do not match"):
        average_weights([first, other])
    (tmp_path / "checkpoint-3").mkdir()
    with pytest.raises(ConfigError, match="no model.safetensors"):
        average_weights([tmp_path / "checkpoint-3"])
