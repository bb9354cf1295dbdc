"""Continued pretraining, the compare report, hyperparameter search and continual updates, through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import make_rows, write_csv

#: every test here trains models (tiny ones): the quick loop is python -m pytest -m "not slow"
pytestmark = pytest.mark.slow


def _corpus(path: Path, n: int = 60) -> Path:
    path.write_text("\n".join(text for text, _ in make_rows(n, 5)) + "\n\n", encoding="utf-8")
    return path


def test_pretrain_writes_a_model_every_app_takes(cli, workdir, tiny_model, tiny_data):
    corpus = _corpus(workdir / "corpus.txt")
    out = workdir / "models" / "dapt"
    result = cli(
        "pretrain",
        "--corpus",
        corpus,
        "--model",
        tiny_model,
        "--out",
        out,
        "--max-steps",
        "6",
        "--save-steps",
        "3",
        "--batch-size",
        "8",
        "--threads",
        "1",
    )
    assert result.exit_code == 0, result.output
    record = json.loads((out / "run.json").read_text())
    assert record["status"] == "completed" and record["task"] == "language-modeling"
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["perplexity"] > 1 and metrics["n"] == 3  # 5 % of 60 lines held out
    assert record["data"]["train"]["blank_lines"] == 1

    from transformers import AutoModelForMaskedLM

    AutoModelForMaskedLM.from_pretrained(out / "model")  # a plain transformers folder
    # the pretrained encoder starts a classification run
    train = cli(
        "finance-monitor",
        "train",
        "--model",
        out,
        "--train",
        tiny_data["train"],
        "--dev",
        tiny_data["dev"],
        "--max-steps",
        "3",
        "--threads",
        "1",
        "--name",
        "from-dapt",
    )
    assert train.exit_code == 0, train.output
    run = json.loads((workdir / "runs" / "finance-monitor" / "from-dapt" / "run.json").read_text())
    assert run["model"]["kind"] == "run"


# words of several pieces: the tiny word-level tokenizer splits at punctuation ("profit-loss" -> profit [UNK] loss);
# the wordpiece variant also has "##" continuation pieces ("profitrose" -> profit ##rose)
WWM_TEXTS = {
    "tiny": "profit-loss rose w1.w2.w3 the company said fell w4-w5 shares gain",
    "wordpiece": "profitrose the company lossfell w1.w2 said profits shares gain-fell",
}


def _wwm_tokenizer(kind: str, tiny_model: Path):
    from transformers import AutoTokenizer, BertTokenizerFast

    from tests.conftest import VOCAB

    if kind == "tiny":
        return AutoTokenizer.from_pretrained(tiny_model)
    vocab = VOCAB + ["##rose", "##fell", "##s"]
    return BertTokenizerFast(vocab={w: i for i, w in enumerate(vocab)}, do_lower_case=True, model_max_length=128)


def _word_of_each_token(text: str, offsets: list) -> list[int]:
    """The whitespace-delimited word each token comes from (-1 for special tokens), from the text itself."""
    import re

    spans = [m.span() for m in re.finditer(r"\S+", text)]
    return [
        -1 if start == end else next(k for k, (a, b) in enumerate(spans) if a <= start < b) for start, end in offsets
    ]


def _partly_masked_words(kind: str, tiny_model: Path, whole_word_mask: bool, seeds: int = 24) -> tuple[int, int, int]:
    """Mask the same batch with ``seeds`` seeds; count words masked whole, words masked in part, and whole masks of
    multi-piece words. Also checks what every masked position holds."""
    import torch

    from tlsuite_core.tasks.language_modeling import LanguageModeling

    tokenizer = _wwm_tokenizer(kind, tiny_model)
    text = WWM_TEXTS[kind]
    enc = tokenizer([text] * 8, return_offsets_mapping=True, return_special_tokens_mask=True)
    words = _word_of_each_token(text, enc["offset_mapping"][0])
    pieces = {w: [i for i, x in enumerate(words) if x == w] for w in set(words) - {-1}}
    multi = {w for w, at in pieces.items() if len(at) > 1}
    task = LanguageModeling()
    task.objective = "mlm"
    task.whole_word_mask = whole_word_mask
    whole = partial = whole_multi = 0
    for seed in range(seeds):
        collator = task.collator(tokenizer)
        collator.mlm_probability = 0.3
        collator.generator = torch.Generator().manual_seed(seed)
        batch = collator.torch_call([{k: list(enc[k][i]) for k in enc} for i in range(8)])
        labels, inputs = batch["labels"], batch["input_ids"]
        original = torch.tensor(enc["input_ids"])
        assert (labels != -100).any()
        # special tokens are never masked
        assert (labels[:, 0] == -100).all() and (labels[:, -1] == -100).all()
        # a masked position's label is the original token
        assert torch.equal(labels[labels != -100], original[labels != -100])
        if whole_word_mask:  # whole-word masking replaces every chosen piece by [MASK]
            assert (inputs[labels != -100] == tokenizer.mask_token_id).all()
        for row in labels:
            for w, at in pieces.items():
                masked = [bool(row[i] != -100) for i in at]
                if all(masked):
                    whole += 1
                    whole_multi += w in multi
                elif any(masked):
                    partial += 1
    return whole, partial, whole_multi


@pytest.mark.parametrize("kind", ["tiny", "wordpiece"])
def test_pretrain_whole_word_masking_masks_every_subword_of_a_word(kind, tiny_model):
    tokenizer = _wwm_tokenizer(kind, tiny_model)
    text = WWM_TEXTS[kind]
    enc = tokenizer(text, return_offsets_mapping=True)
    words = _word_of_each_token(text, enc["offset_mapping"])
    sizes = [words.count(w) for w in range(len(text.split()))]
    # the input has words the tokenizer splits into several pieces (and one-piece words)
    assert sum(n > 1 for n in sizes) >= 3 and max(sizes) >= 3 and 1 in sizes, tokenizer.convert_ids_to_tokens(
        enc["input_ids"]
    )
    if kind == "wordpiece":
        assert "##rose" in tokenizer.convert_ids_to_tokens(enc["input_ids"])

    whole, partial, whole_multi = _partly_masked_words(kind, tiny_model, whole_word_mask=True)
    # whenever one piece of a word is masked, every piece of it is
    assert partial == 0 and whole > 0
    # and multi-piece words do get masked (whole), so the check above had something to see
    assert whole_multi > 0
    # the check tells token-level masking apart: without whole-word masking, words are masked in part
    _, partial_tokens, _ = _partly_masked_words(kind, tiny_model, whole_word_mask=False)
    assert partial_tokens > 0


def test_pretrain_bad_corpus_is_one_line_error(cli, workdir, tiny_model):
    bad = workdir / "bad.txt"
    bad.write_bytes(b"fine line\nbroken \xff byte\n")
    result = cli("pretrain", "--corpus", bad, "--model", tiny_model, "--out", workdir / "o", "--max-steps", "2")
    assert result.exit_code == 2
    assert "bad.txt:2" in result.output and "UTF-8" in result.output
    assert not (workdir / "o" / "model").exists()


def test_compare_report_has_strategies_baselines_and_gain(cli, workdir, tiny_model, tiny_data):
    result = cli(
        "finance-monitor",
        "compare",
        "--model",
        tiny_model,
        "--train",
        tiny_data["train"],
        "--dev",
        tiny_data["dev"],
        "--test",
        tiny_data["dev"],
        "--strategies",
        "full,lora",
        "--epochs",
        "2",
        "--lr",
        "3e-3",
        "--threads",
        "1",
        "--name",
        "cmp",
    )
    assert result.exit_code == 0, result.output
    folder = workdir / "runs" / "finance-monitor" / "cmp"
    report = json.loads((folder / "compare.json").read_text())
    names = [row["strategy"] for row in report["rows"]]
    assert names == ["majority", "full", "lora", "scratch"]
    rows = {row["strategy"]: row for row in report["rows"]}
    assert rows["majority"]["dev"]["accuracy"] == pytest.approx(1 / 3, abs=0.05)
    for name in ("full", "lora", "scratch"):
        row = rows[name]
        assert row["status"] == "completed", row
        assert row["peak_rss_mb"] > 0 and row["wall_seconds"] > 0 and row["trainable"] > 0
        assert "accuracy" in row["test"]
    assert rows["lora"]["trainable"] < rows["full"]["trainable"]
    assert "gain_over_scratch" in rows["full"] and "negative_transfer" in rows["lora"]
    for name in ("compare.md", "compare.csv", "compare.png"):
        assert (folder / name).is_file()
    # the report says which weights each dev figure scores (finance-monitor ships a fixed schedule: the mean of the
    # second half's checkpoints, nothing selected on dev)
    assert rows["full"]["model"] == "mean of 2 checkpoints (swa)"
    assert "mean of 2 checkpoints (swa)" in (folder / "compare.md").read_text()
    assert "optimistic" not in (folder / "compare.md").read_text()
    assert "scratch (baseline)" in (folder / "compare.md").read_text()


def test_search_runs_trials_and_writes_the_best_config(cli, workdir, tiny_model, tiny_data):
    pytest.importorskip("optuna")
    result = cli(
        "finance-monitor",
        "train",
        "--search",
        "3",
        "--model",
        tiny_model,
        "--train",
        tiny_data["train"],
        "--dev",
        tiny_data["dev"],
        "--max-steps",
        "4",
        "--threads",
        "1",
        "--strategy",
        "lora",
        "--name",
        "srch",
    )
    assert result.exit_code == 0, result.output
    folder = workdir / "runs" / "finance-monitor" / "srch"
    summary = json.loads((folder / "search.json").read_text())
    assert len(summary["trials"]) == 3
    assert summary["best"] is not None
    assert {"learning_rate", "lora_r"} <= set(summary["trials"][0])
    assert "max_steps" not in summary["trials"][0]  # given on the command line: fixed, not searched
    best = (folder / "best.yaml").read_text()
    assert "strategy: lora" in best
    # the best config re-runs as is
    again = cli("finance-monitor", "train", "--config", folder / "best.yaml", "--name", "best-again")
    assert again.exit_code == 0, again.output


def test_continual_update_replays_old_data_and_reports_forgetting(cli, workdir, tiny_model, tiny_data):
    first = cli(
        "finance-monitor",
        "train",
        "--model",
        tiny_model,
        "--train",
        tiny_data["train"],
        "--dev",
        tiny_data["dev"],
        "--epochs",
        "2",
        "--lr",
        "3e-3",
        "--threads",
        "1",
        "--name",
        "v1",
    )
    assert first.exit_code == 0, first.output
    new_train = write_csv(workdir / "new.csv", make_rows(30, 11))
    new_dev = write_csv(workdir / "new_dev.csv", make_rows(15, 12))
    second = cli(
        "finance-monitor",
        "train",
        "--init-from",
        workdir / "runs" / "finance-monitor" / "v1",
        "--replay",
        "0.5",
        "--train",
        new_train,
        "--dev",
        new_dev,
        "--epochs",
        "1",
        "--threads",
        "1",
        "--name",
        "v2",
    )
    assert second.exit_code == 0, second.output
    assert "replay: 15 rows" in second.output
    metrics = json.loads((workdir / "runs" / "finance-monitor" / "v2" / "metrics.json").read_text())
    forgetting = metrics["forgetting"]
    assert forgetting["metric"] == "accuracy"
    assert forgetting["forgetting"] == pytest.approx(forgetting["before"]["accuracy"] - forgetting["after"]["accuracy"])
    record = json.loads((workdir / "runs" / "finance-monitor" / "v2" / "run.json").read_text())
    assert record["data"]["train"]["rows"] == 45
    # replay without a run to replay from is a configuration error
    bad = cli("finance-monitor", "train", "--replay", "0.2", "--train", new_train)
    assert bad.exit_code == 2 and "replay needs init_from" in bad.output


def test_from_scratch_and_dev_split(cli, workdir, tiny_model, tiny_data):
    result = cli(
        "finance-monitor",
        "train",
        "--model",
        tiny_model,
        "--train",
        tiny_data["train"],
        "--dev-split",
        "0.25",
        "--from-scratch",
        "--max-steps",
        "3",
        "--threads",
        "1",
        "--name",
        "scratch",
    )
    assert result.exit_code == 0, result.output
    record = json.loads((workdir / "runs" / "finance-monitor" / "scratch" / "run.json").read_text())
    assert record["config"]["from_scratch"] is True
    assert record["data"]["train"]["rows"] == 72 and record["data"]["dev"]["rows"] == 24


def test_compare_continues_an_interrupted_comparison(cli, workdir, tiny_model, tiny_data):
    args = [
        "finance-monitor",
        "compare",
        "--model",
        tiny_model,
        "--train",
        tiny_data["train"],
        "--dev",
        tiny_data["dev"],
        "--strategies",
        "frozen",
        "--max-steps",
        "2",
        "--threads",
        "1",
        "--name",
        "again",
    ]
    assert cli(*args).exit_code == 0
    folder = workdir / "runs" / "finance-monitor" / "again"
    report = json.loads((folder / "compare.json").read_text())
    frozen_run = (folder / "runs" / "finance-monitor" / "frozen" / "run.json").stat().st_mtime
    # as if the comparison had been stopped during the scratch baseline
    report["rows"] = [r for r in report["rows"] if r["strategy"] != "scratch"]
    (folder / "compare.json").write_text(json.dumps(report))
    result = cli(*args)
    assert result.exit_code == 0, result.output
    assert "continuing" in result.output and "frozen" in result.output
    rows = json.loads((folder / "compare.json").read_text())["rows"]
    assert [r["strategy"] for r in rows] == ["majority", "frozen", "scratch"]
    assert (folder / "runs" / "finance-monitor" / "frozen" / "run.json").stat().st_mtime == frozen_run  # not retrained
