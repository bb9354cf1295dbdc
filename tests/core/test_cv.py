"""Cross-validation (tlsuite_core.training.cv): folds, statistics, and a resumable fold/seed loop."""

import json
from collections import Counter

import pytest

from tlsuite_core.errors import ConfigError
from tlsuite_core.training.cv import (
    CrossValidation,
    document_folds,
    make_folds,
    mean_se,
    paired_difference,
    stratified_folds,
)


def test_stratified_folds_partition_the_data_evenly_per_class():
    strata = ["a"] * 50 + ["b"] * 30 + ["c"] * 7
    folds = stratified_folds(strata, len(strata), 5, seed=3)
    assert sorted(i for f in folds for i in f) == list(range(87))
    assert max(map(len, folds)) - min(map(len, folds)) <= 1
    for label in Counter(strata):
        per_fold = [sum(strata[i] == label for i in f) for f in folds]
        assert max(per_fold) - min(per_fold) <= 1, (label, per_fold)
    assert stratified_folds(strata, 87, 5, seed=3) == folds  # deterministic
    assert stratified_folds(strata, 87, 5, seed=4) != folds
    unlabelled = stratified_folds(None, 10, 3)
    assert sorted(map(len, unlabelled)) == [3, 3, 4]


def test_fold_counts_that_cannot_work_are_config_errors():
    with pytest.raises(ConfigError, match="at least 2 folds"):
        stratified_folds(None, 10, 1)
    with pytest.raises(ConfigError, match="only 3 training examples"):
        stratified_folds(None, 3, 5)


def test_tagged_data_with_documents_is_folded_by_whole_documents():
    # 12 documents of 1 to 6 sentences: a held-out sentence must be read with its own document, so no document
    # is split across folds
    docs = [d for d in range(12) for _ in range(1 + d % 6)]
    folds = document_folds(docs, 3, seed=13)
    assert sorted(i for f in folds for i in f) == list(range(len(docs)))
    for fold in folds:
        held = {docs[i] for i in fold}
        assert all(docs[i] not in held for other in folds if other is not fold for i in other)
    assert max(map(len, folds)) - min(map(len, folds)) <= 6  # balanced up to one document
    assert document_folds(docs, 3, seed=13) == folds and document_folds(docs, 3, seed=14) != folds
    with pytest.raises(ConfigError, match="only 2 documents"):
        document_folds([0, 0, 1], 3)

    class Tagged(list):  # what make_folds reads: len() and docs
        def __init__(self, docs):
            super().__init__(docs)
            self.docs = docs

    assert make_folds(Tagged(docs), 3, 13) == folds
    assert make_folds(Tagged([0] * 10), 5, 13) == stratified_folds(None, 10, 5, 13)  # one document: nothing to keep


def test_mean_and_standard_error():
    stat = mean_se([0.8, 0.9, 1.0])
    assert stat["mean"] == pytest.approx(0.9)
    assert stat["se"] == pytest.approx(0.1 / 3**0.5)
    assert mean_se([0.5]) == {"mean": 0.5, "se": None, "n": 1}
    assert mean_se([]) == {"mean": None, "se": None, "n": 0}
    diff = paired_difference({"a": 0.9, "b": 0.8, "c": 0.1}, {"a": 0.7, "b": 0.7})
    assert diff["mean"] == pytest.approx(0.15) and diff["n"] == 2


@pytest.mark.slow
def test_cross_validation_scores_every_fold_and_seed_and_resumes(tmp_path, tiny_model, tiny_data):
    from tests.core.test_levers import base_config
    from tlsuite_core.plugins import get_host

    registry = get_host().registry
    spec, config = base_config(tiny_model, tiny_data, tmp_path, max_steps=4)

    def cv():
        return CrossValidation(spec, config, registry, tmp_path / "cv", k=2, seeds=[1, 2])

    summary = cv().run()
    assert summary["runs"] == ["fold1-seed1", "fold1-seed2", "fold2-seed1", "fold2-seed2"]
    assert summary["fold_sizes"] == [48, 48]
    for variant in ("last", "avg-last-2", "swa", "best-peeking"):
        assert summary["variants"][variant]["accuracy"]["n"] == 4
    assert summary["variants"]["ensemble-last"]["accuracy"]["n"] == 2  # one ensemble of 2 seeds per fold
    run = tmp_path / "cv" / "runs" / "fold1-seed1"
    scores = json.loads((run / "scores.json").read_text())
    assert [row["checkpoint"] for row in scores["curve"]] == ["checkpoint-2", "checkpoint-4"]
    assert scores["variants"]["last"]["checkpoints"] == ["checkpoint-4"]
    assert scores["heldout"] == 48
    record = json.loads((run / "run.json").read_text())
    assert record["config"]["dev"] is None  # nothing is selected on the held-out fold
    assert "fold 1 of 2: training" in record["data"]["train"]["source"]
    assert not (run / "checkpoints").exists() and not (run / "model").exists()
    assert "| last |" in (tmp_path / "cv" / "cv.md").read_text()

    # the same call again scores nothing anew; a removed score is recomputed by retraining that unit only
    before = {p: p.stat().st_mtime_ns for p in (tmp_path / "cv" / "runs").glob("*/scores.json")}
    (run / "scores.json").unlink()
    cv().run()
    after = {p: p.stat().st_mtime_ns for p in (tmp_path / "cv" / "runs").glob("*/scores.json")}
    assert [p.parent.name for p in after if after[p] != before.get(p)] == ["fold1-seed1"]

    # another configuration in the same folder is refused
    _, other = base_config(tiny_model, tiny_data, tmp_path, max_steps=6)
    with pytest.raises(ConfigError, match="another config"):
        CrossValidation(spec, other, registry, tmp_path / "cv", k=2, seeds=[1, 2])
    # ... but not one that differs only in which checkpoint a run keeps: each unit keeps its last checkpoint as its
    # model and scores every average itself
    _, same = base_config(tiny_model, tiny_data, tmp_path, max_steps=4, average_checkpoints="last-k", average_k=3)
    again = CrossValidation(spec, same, registry, tmp_path / "cv", k=2, seeds=[1, 2])
    assert again._unit_config(0, 1).average_checkpoints == "none"
    assert again._unit_config(0, 1).select_checkpoint == "last"
    # ... nor one that differs only in the scores its predictions carry (units have no dev set to fit a temperature)
    same.extra = {**same.extra, "scores": "auto"}
    CrossValidation(spec, same, registry, tmp_path / "cv", k=2, seeds=[1, 2])
    same.extra = {**same.extra, "long_texts": "truncate"}  # ... but a task option that changes scoring is another
    with pytest.raises(ConfigError, match="another config"):
        CrossValidation(spec, same, registry, tmp_path / "cv", k=2, seeds=[1, 2])


def test_a_unit_another_process_runs_is_left_to_it_or_waited_for(tmp_path, tiny_model, tiny_data):
    import threading
    import time

    from filelock import FileLock

    from tests.core.test_levers import base_config
    from tlsuite_core.plugins import get_host
    from tlsuite_core.training.cv import UnitBusy

    spec, config = base_config(tiny_model, tiny_data, tmp_path, max_steps=4)
    cv = CrossValidation(spec, config, get_host().registry, tmp_path / "cv", k=2, seeds=[1])
    path = cv.unit_path(0, 1)
    path.parent.mkdir(parents=True)
    holding = threading.Event()

    def other_process():
        with FileLock(str(path.parent / f".{path.name}.lock")):
            holding.set()
            time.sleep(0.5)
            path.mkdir()
            (path / "scores.json").write_text('{"scored": "by the other process"}')

    worker = threading.Thread(target=other_process)
    worker.start()
    holding.wait()
    with pytest.raises(UnitBusy, match="another process"):
        cv.run_unit(0, 1, wait=False)
    assert cv.run_unit(0, 1) == {"scored": "by the other process"}  # waited for, read, nothing trained here
    worker.join()
    assert not (path / "run.json").exists()


@pytest.mark.slow
def test_cross_validation_of_entity_tagging_scores_entity_f1(tmp_path, ner_model, ner_data):
    from tlsuite_core.plugins import get_host
    from tlsuite_core.training.engine import resolve_training_config

    host = get_host()
    spec = host.app("ner")
    overrides = {
        "model": str(ner_model),
        "train": str(ner_data["train"]),
        "max_steps": 4,
        "save_steps": 2,
        "max_length": 64,
    }
    config, _ = resolve_training_config(spec, config_file=None, overrides={**overrides, "threads": 1}, resume=None)
    summary = CrossValidation(spec, config, host.registry, tmp_path / "cv", k=2, seeds=[1]).run()
    assert summary["fold_sizes"] == [32, 32]  # tagged data: shuffled folds, no label strata
    assert summary["variants"]["last"]["f1"]["n"] == 2
    assert "ensemble-last" not in summary["variants"]  # no probabilities for tagging


@pytest.mark.slow
def test_an_interrupted_fold_resumes_from_its_last_checkpoint(tmp_path, tiny_model, tiny_data):
    from tests.core.test_levers import base_config
    from tlsuite_core.plugins import get_host

    spec, config = base_config(tiny_model, tiny_data, tmp_path, max_steps=4)
    cv = CrossValidation(
        spec, config, get_host().registry, tmp_path / "cv", k=2, seeds=[1], keep_checkpoints=True, keep_models=True
    )
    first = cv.run_unit(0, 1)
    run = cv.unit_path(0, 1)
    record = json.loads((run / "run.json").read_text())
    record["status"] = "interrupted"  # as a killed fold leaves it: checkpoints, no model, no scores
    (run / "run.json").write_text(json.dumps(record))
    (run / "scores.json").unlink()
    import shutil

    shutil.rmtree(run / "model")
    again = cv.run_unit(0, 1)
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "completed" and record["resumed_from"] == "checkpoints/checkpoint-4"
    assert again["variants"]["last"]["accuracy"] == first["variants"]["last"]["accuracy"]
