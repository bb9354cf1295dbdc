"""The token-classification task: subword alignment, sliding windows, offsets, and train -> evaluate -> predict."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.core.test_resume import KILLER, _weights
from tests.plugins.ner.ner_support import LABELS, write_jsonl
from tlsuite_core.plugins import PluginHost
from tlsuite_core.tagging import load_tagged as core_load_tagged
from tlsuite_core.tasks.token_classification import TokenClassification, aggregate, make_windows


def load_tagged(source, **options):
    """The core reader with the installed plugins' adapters (CoNLL files are the ner plugin's)."""
    return core_load_tagged(source, adapters=PluginHost().registry.mapping("data adapter"), **options)


def tagging_model(folder: Path, bias: dict[str, float] | None = None):
    """The tiny BERT with a token-classification head; ``bias`` makes the head predict chosen labels."""
    import torch
    from transformers import AutoModelForTokenClassification, AutoTokenizer

    model = AutoModelForTokenClassification.from_pretrained(
        folder,
        num_labels=len(LABELS),
        id2label=dict(enumerate(LABELS)),
        label2id={label: i for i, label in enumerate(LABELS)},
    )
    if bias:
        with torch.no_grad():
            model.classifier.weight.zero_()
            model.classifier.bias.zero_()
            for label, value in bias.items():
                model.classifier.bias[LABELS.index(label)] = value
    return model.eval(), AutoTokenizer.from_pretrained(folder)


# --------------------------------------------------------------------------------------------------
# alignment and windows
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("label_all", [False, True])
def test_first_subword_or_all_subwords_are_labelled(tmp_path, ner_model, label_all):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(ner_model)
    path = write_jsonl(
        tmp_path / "a.jsonl", [{"tokens": ["Berliner", "met", "Maria"], "tags": ["B-LOC", "O", "B-PER"]}]
    )
    task = TokenClassification()
    task.label_all_subtokens = label_all
    dataset, truncated = task.encode(load_tagged(path), tokenizer, LABELS, 64)
    assert truncated == 0
    row = dataset[0]
    assert tokenizer.convert_ids_to_tokens(row["input_ids"]) == ["[CLS]", "berlin", "##er", "met", "maria", "[SEP]"]
    ids = {label: i for i, label in enumerate(LABELS)}
    second = ids["I-LOC"] if label_all else -100  # a continuation piece of a B- word is inside the entity
    assert row["labels"] == [-100, ids["B-LOC"], second, ids["O"], ids["B-PER"], -100]
    assert row["word_mask"] == [0, 1, 0, 1, 1, 0]


def test_windows_own_every_word_once_and_centrally(ner_model):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(ner_model)
    words = [["Berliner", "w1", "Paris", "\u200b", "w2"][i % 5] for i in range(1000)]
    windows = make_windows(tokenizer, [words, ["Paris"]], max_length=32, stride=8)
    assert all(len(w.input_ids) <= 32 for w in windows)
    owned = [w_index for w in windows if w.doc == 0 for w_index, _ in w.owned]
    # every word that has subwords is owned exactly once; zero-width spaces have none
    assert sorted(owned) == [i for i in range(1000) if i % 5 != 3]
    first_doc = [w for w in windows if w.doc == 0]
    for k, window in enumerate(first_doc):
        for _, positions in window.owned:
            assert window.input_ids[positions[0]] not in (tokenizer.cls_token_id, tokenizer.sep_token_id)
            if 0 < k < len(first_doc) - 1:  # inner windows: owned words keep context on both sides
                assert 2 <= positions[0] <= len(window.input_ids) - 3
    assert [w.doc for w in windows][-1] == 1


def test_aggregation_strategies():
    probs = np.array([[0.6, 0.4], [0.1, 0.9], [0.45, 0.55]])
    assert aggregate(probs, [0, 1, 2], "first").tolist() == [0.6, 0.4]
    np.testing.assert_allclose(aggregate(probs, [0, 1, 2], "average"), [0.3833333, 0.6166667], rtol=1e-5)
    assert aggregate(probs, [0, 1, 2], "max").tolist() == [0.1, 0.9]


# --------------------------------------------------------------------------------------------------
# prediction: long documents and character offsets
# --------------------------------------------------------------------------------------------------


def test_a_5000_token_document_is_predicted_without_truncation(ner_model):
    model, tokenizer = tagging_model(ner_model)  # position embeddings: 64 tokens
    task = TokenClassification()
    words = [["paris", "visited", "berliner", "acme", "w7"][i % 5] for i in range(5000)]
    assert len(tokenizer(words, is_split_into_words=True)["input_ids"]) > 5000
    (tagged,) = task.tag(model, tokenizer, [words], max_length=64, stride=16, batch_size=16)
    assert len(tagged.tags) == 5000
    assert all(s < 1.0 for s in tagged.scores), "a word was left without a model prediction"
    # every word of raw text gets an entity when the head says B-LOC everywhere: the last one ends the text
    model, tokenizer = tagging_model(ner_model, {"B-LOC": 5.0})
    text = " ".join(words)
    (entities,) = task.predict(model, tokenizer, [text], max_length=64)
    assert len(entities) == 5000
    assert entities[-1].end == len(text) and entities[-1].text == "w7"


IRREGULAR = [
    "  Zürich\t\tis   in  Switzerland\u00a0— naïve café\u200bbar ",
    "東京 and 🙂 e\u0301cole (Acme-Globex) , U.S. 1996-08-22\n\nnext  line",
    "x",
]


@pytest.mark.parametrize("bias", [{"B-LOC": 5.0}, {"I-ORG": 5.0}, None], ids=["words", "one-span", "random"])
def test_offsets_round_trip(ner_model, bias):
    model, tokenizer = tagging_model(ner_model, bias)
    task = TokenClassification()
    for how in ("first", "average", "max"):
        results = task.predict(model, tokenizer, IRREGULAR, max_length=16, stride=4, aggregation=how)
        for text, entities in zip(IRREGULAR, results):
            for e in entities:
                assert text[e.start : e.end] == e.text and e.text.strip() == e.text and 0 <= e.score <= 1
    if bias == {"I-ORG": 5.0}:
        # I- everywhere reads as one entity from the first word to the last (irregular whitespace kept inside)
        results = task.predict(model, tokenizer, IRREGULAR)
        assert [e.text for e in results[0]] == [IRREGULAR[0].strip()]


# --------------------------------------------------------------------------------------------------
# train -> evaluate -> predict through the CLI
# --------------------------------------------------------------------------------------------------


def train_args(ner_model, ner_data, *extra):
    return [
        "ner",
        "train",
        "--model",
        str(ner_model),
        "--train",
        str(ner_data["train"]),
        "--dev",
        str(ner_data["dev"]),
        "--epochs",
        "2",
        "--batch-size",
        "8",
        "--lr",
        "5e-3",
        "--threads",
        "1",
        "--max-length",
        "32",
        *extra,
    ]


def test_train_evaluate_predict_end_to_end(cli, workdir, ner_model, ner_data):
    # windows of 12 subwords: most sentences are split, so training, dev metrics and evaluate all go through windows
    result = cli(
        *train_args(ner_model, ner_data, "--name", "e2e", "--label-all-subtokens", "--stride", "4"),
        "--max-length",
        "12",
    )
    assert result.exit_code == 0, result.output
    run = workdir / "runs" / "ner" / "e2e"
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "completed" and record["task"] == "token-classification"
    assert record["labels"] == LABELS
    # the app's defaults (document context, Viterbi) merged key by key with the options given
    assert record["config"]["extra"] == {
        "context": "document",
        "decode": "viterbi",
        "label_all_subtokens": True,
        "stride": 4,
    }
    for name in ("ner_report.txt", "ner_report.json", "confusion_matrix.png", "learning_curve.png"):
        assert (run / "report" / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert set(metrics["per_type"]) == {"LOC", "ORG", "PER"} and 0 <= metrics["f1"] <= 1
    assert "most frequent confusions" in (run / "report" / "ner_report.txt").read_text() or not metrics["confusions"]

    from transformers import AutoModelForTokenClassification

    assert AutoModelForTokenClassification.from_pretrained(run / "model").config.id2label[1] == "B-LOC"

    # evaluate reproduces the training-time dev metrics (same windows, first-subword reading)
    out = workdir / "eval.json"
    result = cli("ner", "evaluate", "--model", run, "--data", ner_data["dev"], "--output", out)
    assert result.exit_code == 0, result.output
    evaluated = json.loads(out.read_text())
    for key in ("f1", "precision", "recall", "macro_f1", "accuracy"):
        assert evaluated[key] == pytest.approx(metrics[key]), key
    assert evaluated["data"]["rows"] == 16

    # predict: texts -> JSONL entities with offsets
    texts = ["Angela Merkel visited  Paris on Monday .", "Acme said\tZürich"]
    result = cli("ner", "predict", "--model", run, *texts)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in rows] == texts
    for row in rows:
        for e in row["entities"]:
            assert row["text"][e["start"] : e["end"]] == e["text"] and e["label"] in {"LOC", "ORG", "PER"}

    # predict: CoNLL in -> CoNLL out, one more column
    out = workdir / "pred.conll"
    result = cli("ner", "predict", "--model", run, "--input", ner_data["dev"], "--output", out)
    assert result.exit_code == 0, result.output
    source_lines = [x for x in ner_data["dev"].read_text().splitlines() if x.strip() and not x.startswith("-DOCSTART-")]
    predicted = [x for x in out.read_text().splitlines() if x.strip()]
    assert len(predicted) == len(source_lines)
    assert all(p.startswith(s + " ") and p.split()[-1] in LABELS for s, p in zip(source_lines, predicted))

    # the Python API
    from tlsuite_core import load_app

    app = load_app(run, device="cpu", threads=1)
    (entities,) = app.predict("Maria Lopez works for Globex", aggregation="max")
    assert all(hasattr(e, "start") and e.as_dict()["text"] == e.text for e in entities)


@pytest.mark.slow
def test_killed_then_resumed_matches_uninterrupted(cli, workdir, ner_model, ner_data):
    """As tests/core/test_resume.py does for classification: SIGKILL after a checkpoint, --resume, same end."""
    if not hasattr(signal, "SIGKILL"):
        pytest.skip("needs SIGKILL")
    extra = ["--save-steps", "4", "--keep-checkpoints", "--seed", "3"]
    # document context (the default) packs the 64 sentences into 3 batches of windows per epoch: 6 steps in 2
    # epochs, a checkpoint at 4 (one batch into the second epoch), killed at step 6. The resumed run must draw the
    # second epoch's length-grouped order again as the uninterrupted run drew it (transformers' own sampler draws
    # it from the resumed process's RNG: the losses then differed in the third decimal).
    full = cli(*train_args(ner_model, ner_data, *extra, "--name", "full"))
    assert full.exit_code == 0, full.output
    args = [str(a) for a in train_args(ner_model, ner_data, *extra, "--name", "killed")]
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, *args],
        cwd=workdir,
        env={**os.environ, "KILL_AT_STEP": "6"},
        capture_output=True,
        text=True,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    run = workdir / "runs" / "ner" / "killed"
    assert json.loads((run / "run.json").read_text())["status"] == "running"
    resumed = cli("ner", "train", "--resume", run)
    assert resumed.exit_code == 0, resumed.output
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "completed" and record["resumed_from"] == "checkpoints/checkpoint-4"
    state = json.loads((run / "checkpoints" / "checkpoint-4" / "trainer_state.json").read_text())
    assert 1 < state["epoch"] < 2 and state["max_steps"] == 6  # resumed inside the second epoch
    full_run = workdir / "runs" / "ner" / "full"
    assert json.loads((run / "metrics.json").read_text()) == json.loads((full_run / "metrics.json").read_text())
    a, b = _weights(full_run / "model"), _weights(run / "model")
    import torch

    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6, msg=key)


def test_document_context_reads_sentences_together_and_scores_them_apart(tmp_path, ner_model):
    """context=document: consecutive sentences of a CoNLL document share windows (context), metrics and
    predictions come back per sentence, and documents never merge."""
    import numpy as np
    from transformers import AutoTokenizer

    from tests.plugins.ner.ner_support import make_sentences
    from tlsuite_core.config import build_config
    from tlsuite_core.tasks.token_classification import TokenClassification

    sentences = make_sentences(12, 7)
    text = "-DOCSTART- -X- O\n\n"
    for i, (words, tags) in enumerate(sentences):
        if i == 6:
            text += "-DOCSTART- -X- O\n\n"
        text += "".join(f"{w} NN {t}\n" for w, t in zip(words, tags)) + "\n"
    path = tmp_path / "docs.txt"
    path.write_text(text, encoding="utf-8")
    data = load_tagged(path)
    assert data.docs == [1] * 6 + [2] * 6
    assert data.subset([0, 7]).docs == [1, 2]

    tokenizer = AutoTokenizer.from_pretrained(ner_model)
    labels = ["O", "B-LOC", "I-LOC", "B-ORG", "I-ORG", "B-PER", "I-PER"]
    by_sentence, by_document = TokenClassification(), TokenClassification()
    by_document.configure(build_config({"extra": {"context": "document"}}))
    ds_s, _ = by_sentence.encode(data, tokenizer, labels, 64)
    ds_d, _ = by_document.encode(data, tokenizer, labels, 64)
    assert len(ds_d) < len(ds_s)  # sentences share windows
    assert set(ds_d["sentence"]) == {0, 1}  # two documents, never merged
    # perfect logits score 1.0 over the 12 sentences in both modes
    for task, ds in ((by_sentence, ds_s), (by_document, ds_d)):
        width = max(len(x) for x in ds["labels"])
        ids = np.full((len(ds), width), -100)
        for i, row in enumerate(ds["labels"]):
            ids[i, : len(row)] = row
        logits = np.eye(len(labels))[np.where(ids < 0, 0, ids)]
        y_true, y_pred = task._sentences(logits, ids, ds, labels)
        assert len(y_true) == 12 and y_true == y_pred
        assert [len(t) for t in y_true] == [len(t) for t in data.tags]

    # tagging with documents returns one result per sentence, aligned with its words
    from transformers import AutoModelForTokenClassification

    model = AutoModelForTokenClassification.from_pretrained(ner_model, num_labels=len(labels))
    tagged = by_document.tag(model, tokenizer, data.tokens, docs=data.docs, context="document", max_length=64)
    assert [len(t.tags) for t in tagged] == [len(w) for w in data.tokens]


def test_viterbi_decoding_keeps_to_the_scheme():
    from tlsuite_core.tagging import transition_masks, viterbi
    from tlsuite_core.tasks.token_classification import decode_tags

    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    start, trans, end = transition_masks(labels)
    assert not start[2] and not trans[0, 2] and trans[1, 2] and trans[2, 2] and not trans[3, 2]
    # argmax says O I-PER I-PER: not a valid IOB2 sequence; the best valid one starts the entity with B-PER
    probs = np.array([[0.9, 0.02, 0.04, 0.02, 0.02], [0.3, 0.25, 0.4, 0.03, 0.02], [0.1, 0.05, 0.8, 0.03, 0.02]])
    assert decode_tags(np.log(probs), labels, "argmax") == [0, 2, 2]
    best = decode_tags(np.log(probs), labels, "viterbi")
    assert [labels[i] for i in best] == ["O", "B-PER", "I-PER"]
    # an I-LOC after B-PER is never produced
    probs = np.array([[0.1, 0.8, 0.05, 0.03, 0.02], [0.1, 0.1, 0.3, 0.05, 0.45]])
    assert [labels[i] for i in viterbi(np.log(probs), start, trans, end)] == ["B-PER", "I-PER"]
    # BIOES: an open entity must end with E-; S- stands alone
    bioes = ["O", "B-PER", "I-PER", "E-PER", "S-PER"]
    s2, t2, e2 = transition_masks(bioes)
    assert not e2[1] and not e2[2] and e2[3] and e2[4] and not t2[1, 0] and t2[3, 0] and not t2[0, 3]
    probs = np.array([[0.1, 0.6, 0.1, 0.1, 0.1], [0.6, 0.1, 0.1, 0.1, 0.1]])  # B-PER then O: invalid in BIOES
    assert [bioes[i] for i in viterbi(np.log(probs), s2, t2, e2)] in (["S-PER", "O"], ["B-PER", "E-PER"], ["O", "O"])


@pytest.mark.slow
def test_document_context_run_resumes_to_the_same_model(tmp_path, ner_model):
    """context=document: interrupted after a checkpoint and resumed, the run ends with the same weights and
    metrics as an uninterrupted one. (Known gap: the training loss logged for the window right after the
    resume point can differ in the third decimal; the weights do not.)"""
    from safetensors.torch import load_file
    from transformers import TrainerCallback

    from tests.conftest import train
    from tests.plugins.ner.ner_support import make_sentences
    from tlsuite_core.plugins import get_host
    from tlsuite_core.training.engine import resolve_training_config

    path = tmp_path / "docs.txt"
    text = ""
    for i, (words, tags) in enumerate(make_sentences(60, 3)):
        if i % 6 == 0:
            text += "-DOCSTART- -X- O\n\n"
        text += "".join(f"{w} NN {t}\n" for w, t in zip(words, tags)) + "\n"
    path.write_text(text, encoding="utf-8")
    app = get_host().registry.get("app", "ner")

    class Stop(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):  # noqa: ANN001
            if state.global_step == 5:
                raise KeyboardInterrupt

    def config(name):
        cfg, _ = resolve_training_config(
            app,
            config_file=None,
            overrides={
                "model": str(ner_model),
                "train": str(path),
                "dev": str(path),
                "max_steps": 8,
                "save_steps": 4,
                "threads": 1,
                "runs_dir": str(tmp_path / "runs"),
                "name": name,
                "max_length": 32,
                "learning_rate": 1e-3,
            },
            resume=None,
        )
        assert cfg.extra["context"] == "document"
        return cfg

    straight = train(app, config("straight"))
    with pytest.raises(KeyboardInterrupt):
        train(app, config("resumed"), callbacks=[Stop()])
    cfg, run = resolve_training_config(
        app, config_file=None, overrides={}, resume=str(tmp_path / "runs" / "ner" / "resumed")
    )
    resumed = train(app, cfg, resume_run=run)
    a, b = (
        load_file(str(straight.path / "model" / "model.safetensors")),
        load_file(str(resumed.path / "model" / "model.safetensors")),
    )
    assert a.keys() == b.keys() and all((a[k] - b[k]).abs().max().item() <= 1e-5 for k in a)
    assert resumed.metrics["f1"] == pytest.approx(straight.metrics["f1"], abs=1e-9)
