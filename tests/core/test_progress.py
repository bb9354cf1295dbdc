"""Plain progress lines (log files, pipes): every 5 % of the steps, and at least once a minute when steps are slow."""

from __future__ import annotations

import io
from types import SimpleNamespace

from rich.console import Console


def test_plain_progress_prints_by_share_and_by_time(monkeypatch):
    import time

    from tlsuite_core.training.callbacks import RichProgress

    clock = {"now": 1000.0}
    monkeypatch.setattr(time, "perf_counter", lambda: clock["now"])
    out = io.StringIO()
    progress = RichProgress(Console(file=out, force_terminal=False, width=200), "accuracy")
    state = SimpleNamespace(global_step=0, max_steps=1000)
    progress.on_train_begin(None, state, None)
    for step in range(1, 121):  # 10 s a step: 5 % is 50 steps (500 s), a minute is 6 steps
        clock["now"] += 10.0
        state.global_step = step
        progress.on_step_end(None, state, None)
    lines = [line for line in out.getvalue().splitlines() if line.startswith("step ")]
    assert out.getvalue().startswith("train: 1000 steps (from step 0)")
    steps = [int(line.split()[1].split("/")[0]) for line in lines]
    # a line a minute (6 steps), and the 5 % marks (50, 100), which restart the minute
    assert steps == [*range(6, 49, 6), 50, *range(56, 99, 6), 100, *range(106, 119, 6)]
    assert lines[0].startswith("step 6/1000") and "elapsed 1.0 min" in lines[0]

    fast = io.StringIO()
    progress = RichProgress(Console(file=fast, force_terminal=False, width=200), "accuracy")
    state = SimpleNamespace(global_step=0, max_steps=100)
    progress.on_train_begin(None, state, None)
    for step in range(1, 101):  # fast steps: one line per 5 %
        clock["now"] += 0.01
        state.global_step = step
        progress.on_step_end(None, state, None)
    assert len([line for line in fast.getvalue().splitlines() if line.startswith("step ")]) == 20
