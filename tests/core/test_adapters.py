"""Bottleneck adapters (Houlsby / Pfeiffer placements): insertion, freezing, training, save/load round trip."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from torch import nn
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    BertForTokenClassification,
    DistilBertConfig,
    DistilBertForSequenceClassification,
    GPT2Config,
    GPT2ForSequenceClassification,
    LlamaForSequenceClassification,
)

from tests.conftest import tiny_llama_config
from tlsuite_core.training.adapters import (
    ADAPTER_CONFIG,
    ADAPTER_FILE,
    AdapterLinear,
    BottleneckConfig,
    adapter_state_dict,
    add_bottleneck_adapters,
    load_adapters,
    mark_adapter_trainable,
    merge_not_supported_reason,
    save_adapters,
)

BERT = {"vocab_size": 99, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 37}


def bert(cls=BertForSequenceClassification, seed: int = 0, **kw) -> nn.Module:
    torch.manual_seed(seed)
    return cls(BertConfig(**BERT, **kw)).eval()


def distilbert(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    config = DistilBertConfig(vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=37)
    return DistilBertForSequenceClassification(config).eval()


def llama(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    config = tiny_llama_config(99, pad_token_id=0)
    return LlamaForSequenceClassification(config).eval()


MODELS = {
    "bert-seq": lambda: bert(),
    "bert-tok": lambda: bert(BertForTokenClassification, num_labels=5),
    "distilbert": distilbert,
    "llama": llama,
}
EXPECTED = {  # (attention-output projection, feed-forward output projection) of layer i
    "bert-seq": ("bert.encoder.layer.{i}.attention.output.dense", "bert.encoder.layer.{i}.output.dense"),
    "bert-tok": ("bert.encoder.layer.{i}.attention.output.dense", "bert.encoder.layer.{i}.output.dense"),
    "distilbert": ("distilbert.transformer.layer.{i}.attention.out_lin", "distilbert.transformer.layer.{i}.ffn.lin2"),
    "llama": ("model.layers.{i}.self_attn.o_proj", "model.layers.{i}.mlp.down_proj"),
}


def batch(seed: int = 1, n: int = 4, length: int = 9) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        "input_ids": torch.randint(1, 99, (n, length), generator=g),
        "attention_mask": torch.ones(n, length, dtype=torch.long),
    }


def logits(model: nn.Module, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    model.eval()
    with torch.no_grad():
        return model(**inputs).logits


def train_steps(model: nn.Module, steps: int = 3, seed: int = 2) -> None:
    g = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2, weight_decay=0.0)
    model.train()
    for _ in range(steps):
        inputs = batch(seed=int(torch.randint(0, 10_000, (1,), generator=g)))
        out = model(**inputs)
        target = torch.randint(0, out.logits.shape[-1], out.logits.shape[:-1], generator=g)
        loss = nn.functional.cross_entropy(out.logits.reshape(-1, out.logits.shape[-1]), target.reshape(-1))
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    model.eval()


def kind_of(name: str) -> str:
    if "bottleneck_adapter" in name:
        return "adapter"
    in_layer = ".layer." in name or ".layers." in name
    if in_layer and ("LayerNorm" in name or "layer_norm" in name or "layernorm" in name):
        return "norm"
    if name.startswith(("classifier", "pre_classifier", "score")) or name.split(".", 1)[-1].startswith("pooler"):
        return "head"
    return "base"


# -- config --------------------------------------------------------------------------------------------------------


def test_config_round_trip_and_validation() -> None:
    config = BottleneckConfig("houlsby", reduction=8, activation="gelu")
    assert BottleneckConfig.from_dict({**config.to_dict(), "base_model": "x", "format": 1}) == config
    assert BottleneckConfig("pfeiffer").to_dict() == {"kind": "pfeiffer", "reduction": 16, "activation": "relu"}
    bad_configs = ({"kind": "lora"}, {"kind": "houlsby", "reduction": 0}, {"kind": "houlsby", "activation": "nope"})
    for bad in bad_configs:
        with pytest.raises(ValueError):
            BottleneckConfig(**bad)
    assert "merged" in merge_not_supported_reason() and "non-linear" in merge_not_supported_reason()


# -- 1. identity at init -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["houlsby", "pfeiffer"])
@pytest.mark.parametrize("arch", list(MODELS))
def test_identity_at_init(arch: str, kind: str) -> None:
    model = MODELS[arch]()
    inputs = batch()
    before = logits(model, inputs)
    add_bottleneck_adapters(model, BottleneckConfig(kind))
    assert torch.equal(logits(model, inputs), before)


# -- 2. insertion points -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", list(MODELS))
def test_houlsby_two_per_layer_pfeiffer_one(arch: str) -> None:
    attention, ffn = EXPECTED[arch]
    model = MODELS[arch]()
    names = add_bottleneck_adapters(model, BottleneckConfig("houlsby"))
    assert names == [p.format(i=i) for i in range(2) for p in (attention, ffn)]
    assert all(isinstance(model.get_submodule(n), AdapterLinear) for n in names)
    assert sum(isinstance(m, AdapterLinear) for m in model.modules()) == 4

    model = MODELS[arch]()
    names = add_bottleneck_adapters(model, BottleneckConfig("pfeiffer"))
    assert names == [ffn.format(i=i) for i in range(2)]
    assert sum(isinstance(m, AdapterLinear) for m in model.modules()) == 2


def test_adapter_shapes_and_names() -> None:
    model = bert()
    names = add_bottleneck_adapters(model, BottleneckConfig("houlsby", reduction=4, activation="gelu"))
    wrapper = model.get_submodule(names[0])
    assert isinstance(wrapper.base, nn.Linear) and wrapper.weight is wrapper.base.weight
    assert wrapper.bottleneck_adapter.down.weight.shape == (8, 32)  # 32 // 4
    assert wrapper.bottleneck_adapter.up.weight.shape == (32, 8)
    assert not wrapper.bottleneck_adapter.up.weight.any() and not wrapper.bottleneck_adapter.up.bias.any()
    params = dict(model.named_parameters())
    assert f"{names[0]}.base.weight" in params
    assert f"{names[0]}.bottleneck_adapter.down.weight" in params
    # a reduction larger than the hidden size still gives a bottleneck of one unit
    model = bert()
    wrapper = model.get_submodule(add_bottleneck_adapters(model, BottleneckConfig("pfeiffer", reduction=1000))[0])
    assert wrapper.bottleneck_adapter.down.out_features == 1


def test_adding_twice_is_refused() -> None:
    model = bert()
    add_bottleneck_adapters(model, BottleneckConfig("pfeiffer"))
    with pytest.raises(ValueError, match="already has bottleneck adapters"):
        add_bottleneck_adapters(model, BottleneckConfig("houlsby"))


# -- 3. what is trainable ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["houlsby", "pfeiffer"])
@pytest.mark.parametrize("arch", list(MODELS))
def test_only_adapters_norms_and_head_train(arch: str, kind: str) -> None:
    model = MODELS[arch]()
    names = add_bottleneck_adapters(model, BottleneckConfig(kind))
    mark_adapter_trainable(model)
    params = dict(model.named_parameters())
    trainable = {n for n, p in params.items() if p.requires_grad}
    assert {kind_of(n) for n in trainable} == {"adapter", "norm", "head"}
    assert {n for n in params if kind_of(n) != "base"} == trainable  # all of them, including every layer norm
    for name in names:
        assert not params[f"{name}.base.weight"].requires_grad
    assert not any(p.requires_grad for n, p in params.items() if "embed" in n)
    assert sum(p.numel() for n, p in params.items() if n in trainable) < sum(p.numel() for p in params.values())
    assert set(adapter_state_dict(model)) == trainable


def test_trainable_share_at_minilm_size() -> None:
    # all-MiniLM-L6-v2's sizes: 6 layers, hidden 384, 12 heads, intermediate 1536, 30522-word vocabulary
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536
    )
    shares = {}
    for kind in ("houlsby", "pfeiffer"):
        model = BertForSequenceClassification(config)
        add_bottleneck_adapters(model, BottleneckConfig(kind))
        mark_adapter_trainable(model)
        total = sum(p.numel() for p in model.parameters())
        shares[kind] = sum(p.numel() for p in model.parameters() if p.requires_grad) / total
    assert 0 < shares["pfeiffer"] < shares["houlsby"] < 0.05, shares


def test_mark_without_adapters_is_refused() -> None:
    with pytest.raises(ValueError, match="add_bottleneck_adapters"):
        mark_adapter_trainable(bert())


# -- 4. training moves adapters and head only ----------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["bert-seq", "bert-tok", "llama"])
def test_training_changes_adapters_and_head_only(arch: str) -> None:
    model = MODELS[arch]()
    # 8 bottleneck units: with hidden 32 // 16 = 2 ReLU units, both can be dead on every token of a tiny model
    add_bottleneck_adapters(model, BottleneckConfig("houlsby", reduction=4))
    mark_adapter_trainable(model)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    train_steps(model)
    for name, param in model.named_parameters():
        changed = not torch.equal(param, before[name])
        if param.requires_grad:
            if kind_of(name) in ("adapter", "head"):
                assert changed, f"{name} did not move"
        else:
            assert not changed, f"frozen {name} moved"
            assert param.grad is None


# -- autocast and dtype --------------------------------------------------------------------------------------------


def test_autocast_and_dtype_follow_the_base_linear() -> None:
    model = bert()
    names = add_bottleneck_adapters(model, BottleneckConfig("houlsby"))
    mark_adapter_trainable(model)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(**batch())
    assert out.logits.isfinite().all()
    out.logits.float().sum().backward()
    assert model.get_submodule(names[0]).bottleneck_adapter.up.weight.grad is not None

    model = bert().to(torch.bfloat16)
    names = add_bottleneck_adapters(model, BottleneckConfig("pfeiffer"))
    adapter = model.get_submodule(names[0]).bottleneck_adapter
    assert adapter.down.weight.dtype == adapter.up.weight.dtype == torch.bfloat16
    assert logits(model, batch()).dtype == torch.bfloat16


# -- 5. save / load round trip -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "cls,kind", [(BertForSequenceClassification, "houlsby"), (BertForTokenClassification, "pfeiffer")]
)
def test_save_load_round_trip(tmp_path: Path, cls, kind: str) -> None:
    base = bert(cls)
    base.save_pretrained(tmp_path / "base")
    config = BottleneckConfig(kind, reduction=4, activation="gelu")
    names = add_bottleneck_adapters(base, config)
    mark_adapter_trainable(base)
    train_steps(base)
    inputs = batch(seed=7)
    expected = logits(base, inputs)
    save_adapters(base, tmp_path / "adapters", config, base_model="tiny-bert")

    meta = json.loads((tmp_path / "adapters" / ADAPTER_CONFIG).read_text())
    assert meta == {**config.to_dict(), "base_model": "tiny-bert", "format": 1, "modules": names}
    saved = load_file(str(tmp_path / "adapters" / ADAPTER_FILE))
    assert set(saved) == set(adapter_state_dict(base))
    assert {kind_of(k) for k in saved} == {"adapter", "norm", "head"}
    assert not any(".base." in k or "embeddings" in k for k in saved)

    fresh = cls.from_pretrained(tmp_path / "base").eval()
    assert not torch.equal(logits(fresh, inputs), expected)  # training did change the model
    assert load_adapters(fresh, tmp_path / "adapters") == config
    assert torch.equal(logits(fresh, inputs), expected)


# -- 6. mismatched files -------------------------------------------------------------------------------------------


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    model = bert()
    config = BottleneckConfig("houlsby")
    add_bottleneck_adapters(model, config)
    save_adapters(model, tmp_path / "adapters", config, base_model="tiny-bert")
    return tmp_path / "adapters"


def rewrite(folder: Path, change) -> None:
    tensors = load_file(str(folder / ADAPTER_FILE))
    change(tensors)
    save_file(tensors, str(folder / ADAPTER_FILE))


def test_load_rejects_unknown_keys(saved: Path) -> None:
    unknown = "bert.encoder.layer.9.output.dense.bottleneck_adapter.up.bias"
    rewrite(saved, lambda t: t.update({unknown: torch.zeros(32)}))
    with pytest.raises(ValueError, match=ADAPTER_FILE.replace(".", r"\.") + ".*keys not in the model"):
        load_adapters(bert(), saved)


def test_load_rejects_missing_adapter_keys(saved: Path) -> None:
    rewrite(saved, lambda t: t.pop("bert.encoder.layer.0.output.dense.bottleneck_adapter.down.weight"))
    with pytest.raises(ValueError, match=ADAPTER_FILE.replace(".", r"\.") + ".*adapter keys missing"):
        load_adapters(bert(), saved)


def test_load_rejects_other_shapes(saved: Path) -> None:
    with pytest.raises(ValueError, match=ADAPTER_FILE.replace(".", r"\.") + ".*shape mismatches.*classifier"):
        load_adapters(bert(num_labels=3), saved)


def test_load_rejects_another_architecture(saved: Path) -> None:
    with pytest.raises(ValueError, match="DistilBertForSequenceClassification"):
        load_adapters(distilbert(), saved)


# -- 7. no insertion point -----------------------------------------------------------------------------------------


def test_no_insertion_point_names_the_model_class() -> None:
    torch.manual_seed(0)
    gpt2 = GPT2ForSequenceClassification(GPT2Config(vocab_size=99, n_embd=32, n_layer=2, n_head=4, pad_token_id=0))
    with pytest.raises(ValueError, match="GPT2ForSequenceClassification"):  # Conv1D projections, not nn.Linear
        add_bottleneck_adapters(gpt2, BottleneckConfig("pfeiffer"))
    with pytest.raises(ValueError, match="Sequential"):
        add_bottleneck_adapters(nn.Sequential(nn.Linear(4, 4), nn.ReLU()), BottleneckConfig("houlsby"))
