"""Start-up: help and input errors come before any heavy import (torch, transformers, peft).

Wall times live in bench/bench_startup.py; this checks the behaviour that makes them fast, deterministically.
"""

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "transformers", "peft", "datasets", "sklearn", "matplotlib")

PROBE = """
import json, sys
from tlsuite_core.cli import main
try:
    main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print(json.dumps({{"code": code, "heavy": heavy}}), file=sys.__stderr__)
"""


def run_probe(*args: str, cwd) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=HEAVY), *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    return json.loads(proc.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "args, code",
    [
        (["--help"], 0),
        (["finance-monitor", "train", "--help"], 0),
        (["ner", "predict", "--help"], 0),
        (["serve", "--help"], 0),
        (["export", "--help"], 0),
        (["finance-monitor", "train", "--train", "missing.csv"], 2),
        (["ner", "train", "--train", "missing.conll"], 2),
        (["finance-monitor", "train", "--config", "missing.yaml"], 2),
    ],
)
def test_help_and_bad_paths_answer_before_torch_is_imported(tmp_path, args, code):
    result = run_probe(*args, cwd=tmp_path)
    assert result == {"code": code, "heavy": []}


def test_a_bad_training_row_is_reported_before_torch_is_imported(tmp_path):
    (tmp_path / "bad.csv").write_text("text,label\nprofit rose,positive\nno label here,\n", encoding="utf-8")
    result = run_probe("finance-monitor", "train", "--train", "bad.csv", cwd=tmp_path)
    assert result == {"code": 2, "heavy": []}
