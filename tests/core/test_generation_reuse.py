"""The final evaluation of a generation run reuses the evaluation of a checkpoint already scored on every dev pair
instead of generating the dev set again (issue 14, item 6); with --eval-limit below the dev size it generates once
for all pairs; sources longer than --max-length are flagged and counted (item 1)."""

from __future__ import annotations

import json

import pytest

from tests.core.test_generation import _build, _pairs
from tlsuite_core.tasks.generation import Generation


def counting(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every generate() call's number of sources, from now on."""
    calls: list[int] = []
    original = Generation.generate

    def generate(self, model, tokenizer, sources, **kwargs):
        calls.append(len(sources))
        return original(self, model, tokenizer, sources, **kwargs)

    monkeypatch.setattr(Generation, "generate", generate)
    return calls


@pytest.fixture
def counted(monkeypatch):
    return counting(monkeypatch)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A 4-step translate run evaluated at steps 2 and 4, and the generate() calls its training made."""
    from typer.testing import CliRunner

    from tlsuite_core.cli import build_app

    def cli(*args):
        return CliRunner().invoke(build_app(), [str(a) for a in args])

    with pytest.MonkeyPatch.context() as monkeypatch:
        calls = counting(monkeypatch)
        run = train(cli, tmp_path_factory.mktemp("reuse"))
    return run, calls


def train(cli, workdir, *extra: str):
    t5 = _build("t5", workdir / "t5")
    pairs = _pairs(workdir / "train.jsonl", 16, 1)
    dev = _pairs(workdir / "dev.jsonl", 6, 2)
    args = ["translate", "train", "--model", t5, "--train", pairs, "--dev", dev, "--max-length", "32"]
    args += ["--max-steps", "4", "--eval-steps", "2", "--save-steps", "2", "--batch-size", "8", "--threads", "1"]
    result = cli(*args, "--runs-dir", workdir / "runs", "--name", "r", *extra)
    assert result.exit_code == 0, result.output
    return workdir / "runs" / "translate" / "r"


def test_the_final_evaluation_reuses_the_selected_checkpoints(trained):
    run, counted = trained
    # two evaluations during training (steps 2 and 4), each generating the 6 dev pairs once; the final evaluation
    # of the selected checkpoint generates nothing more
    assert counted == [6, 6], counted
    metrics = json.loads((run / "metrics.json").read_text())
    record = json.loads((run / "run.json").read_text())
    best = [e for e in record.get("log_history") or [] if "eval_loss" in e] or None
    assert metrics["n"] == 6 and "chrf" in metrics
    assert best is None or any(abs(e.get("eval_chrf", -1) - metrics["chrf"]) < 1e-9 for e in best)


@pytest.mark.slow
def test_an_eval_limit_below_the_dev_size_generates_once_for_all_pairs(cli, workdir, counted):
    train(cli, workdir, "--eval-limit", "3")
    assert counted == [3, 3, 6], counted


def test_long_sources_are_flagged_and_counted(cli, workdir, trained):
    run, _ = trained
    long = " ".join(["alpha"] * 60)
    out = workdir / "out.jsonl"
    result = cli("translate", "run", "--model", run, "--threads", "1", long, "--output", out)
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["source_truncated"] is True
    assert "1 of 1 sources were longer than --max-length (32 tokens)" in " ".join(result.stderr.split())


def test_run_keeps_the_input_columns(cli, workdir, trained):
    run, _ = trained
    source = workdir / "in.jsonl"
    source.write_text(json.dumps({"id": "a1", "source": "w1 w2", "output": "old"}) + "\n", encoding="utf-8")
    out = workdir / "out.jsonl"
    result = cli("translate", "run", "--model", run, "--input", source, "--output", out, "--threads", "1")
    assert result.exit_code == 0, result.output
    row = json.loads(out.read_text())
    assert list(row)[:4] == ["id", "source", "input_output", "output"] and row["id"] == "a1"
    assert row["truncated"] in (True, False) and row["source_truncated"] is False
