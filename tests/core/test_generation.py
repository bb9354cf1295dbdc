"""Generation: train and generate with tiny T5, BART, Marian, bert2bert (warm start) and Llama-style models built in
the test; decoder-only loss on target tokens only; sorted batched generation equals one-by-one generation; the
max_new_tokens guard; LoRA on generation; run folders reload."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import torch

from tests.conftest import VOCAB, tiny_llama_config
from tlsuite_core.apps import AppSpec

WORDS = [f"w{i}" for i in range(20)]


def _tokenizer(folder: Path, chat: bool = False):
    from transformers import BertTokenizerFast

    tok = BertTokenizerFast(vocab={w: i for i, w in enumerate(VOCAB)}, do_lower_case=True, model_max_length=64)
    if chat:
        tok.chat_template = "{% for m in messages %}[CLS] {{ m['content'] }} [SEP]{% endfor %}"
    tok.save_pretrained(folder)
    return tok


def _build(kind: str, folder: Path) -> Path:
    """A tiny model of ``kind`` with the word-level test vocabulary, saved as safetensors."""
    from transformers import (
        BartConfig,
        BartForConditionalGeneration,
        BertConfig,
        BertModel,
        LlamaForCausalLM,
        MarianConfig,
        MarianMTModel,
        T5Config,
        T5ForConditionalGeneration,
    )

    folder.mkdir(parents=True, exist_ok=True)
    tok = _tokenizer(folder, chat=kind == "llama-chat")
    ids = dict(
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.sep_token_id,
        bos_token_id=tok.cls_token_id,
        decoder_start_token_id=tok.cls_token_id,
    )
    v = len(VOCAB)
    torch.manual_seed(0)
    if kind == "t5":
        model = T5ForConditionalGeneration(
            T5Config(vocab_size=v, d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4, **ids)
        )
    elif kind == "bart":
        model = BartForConditionalGeneration(
            BartConfig(
                vocab_size=v,
                d_model=32,
                encoder_layers=2,
                decoder_layers=2,
                encoder_attention_heads=4,
                decoder_attention_heads=4,
                encoder_ffn_dim=64,
                decoder_ffn_dim=64,
                max_position_embeddings=64,
                **ids,
            )
        )
    elif kind == "marian":
        model = MarianMTModel(
            MarianConfig(
                vocab_size=v,
                d_model=32,
                encoder_layers=2,
                decoder_layers=2,
                encoder_attention_heads=4,
                decoder_attention_heads=4,
                encoder_ffn_dim=64,
                decoder_ffn_dim=64,
                max_position_embeddings=64,
                **ids,
            )
        )
    elif kind == "bert":
        model = BertModel(
            BertConfig(
                vocab_size=v,
                hidden_size=32,
                num_hidden_layers=2,
                num_attention_heads=4,
                intermediate_size=37,
                max_position_embeddings=64,
            )
        )
    else:
        model = LlamaForCausalLM(
            tiny_llama_config(
                v,
                max_position_embeddings=128,
                **{k: ids[k] for k in ("pad_token_id", "eos_token_id", "bos_token_id")},
            )
        )
    model.save_pretrained(folder)
    return folder


def _pairs(path: Path, n: int, seed: int) -> Path:
    """Copy task: the target is the source (short word sequences)."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        words = " ".join(rng.choice(WORDS[:8]) for _ in range(rng.randint(2, 4)))
        rows.append({"source": words, "target": words})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


APP = AppSpec(
    name="gen-test",
    task="generation",
    defaults={
        "metric": "exact_match",
        "learning_rate": 3e-3,
        "batch_size": 8,
        "max_length": 32,
        "warmup": 0.0,
        "extra": {"metrics": "exact_match", "max_new_tokens": 6, "num_beams": 1, "max_target_length": 8},
    },
)


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pairs")
    return {"train": _pairs(folder / "train.jsonl", 64, 1), "dev": _pairs(folder / "dev.jsonl", 12, 2)}


def _train(tmp_path: Path, pairs: dict, name: str, **overrides):
    from tests.conftest import train
    from tlsuite_core.training.engine import resolve_training_config

    base = {
        "train": str(pairs["train"]),
        "dev": str(pairs["dev"]),
        "runs_dir": str(tmp_path / "runs"),
        "name": name,
        "threads": 1,
        "epochs": 3,
        "seed": 1,
    }
    base.update(overrides)
    config, _ = resolve_training_config(APP, config_file=None, overrides=base, resume=None)
    return train(APP, config)


@pytest.mark.parametrize("kind", ["t5", "bart", "marian", "llama", "llama-chat"])
def test_tiny_models_train_generate_and_reload(kind, tmp_path, pairs):
    from tlsuite_core.apps import load_app

    model = _build(kind, tmp_path / kind)
    result = _train(tmp_path, pairs, kind, model=str(model))
    metrics = result.metrics
    assert metrics["n"] == 12 and "exact_match" in metrics and "generation_truncated" in metrics
    assert result.record["status"] == "completed"
    saved = json.loads((result.path / "model" / "generation_config.json").read_text())
    assert saved["max_new_tokens"] == 6 and saved["num_beams"] == 1  # the generation config travels with the model
    trained = load_app(result.path, device="cpu")
    outputs = trained.predict(["w1 w2", "w3 w4 w5"])
    assert len(outputs) == 2 and all(isinstance(o.text, str) for o in outputs)


@pytest.mark.slow
def test_bert2bert_warm_start_sets_special_tokens_and_learns(tmp_path, pairs):
    from tlsuite_core.apps import load_app

    encoder = _build("bert", tmp_path / "bert")
    result = _train(tmp_path, pairs, "warm", extra={"encoder": str(encoder)}, epochs=12, learning_rate=5e-3)
    config = json.loads((result.path / "model" / "config.json").read_text())
    assert config["model_type"] == "encoder-decoder"
    assert config["decoder_start_token_id"] == VOCAB.index("[CLS]") and config["eos_token_id"] == VOCAB.index("[SEP]")
    assert config["decoder"]["add_cross_attention"] and config["decoder"]["is_decoder"]
    assert result.metrics["token_f1"] > 30  # the copy task is learnt, at least in part
    trained = load_app(result.path, device="cpu")
    assert trained.predict(["w1 w2"])[0].text


def _correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.corrcoef(torch.stack([a.flatten().double(), b.flatten().double()]))[0, 1])


@pytest.mark.slow
def test_warm_start_from_scratch_is_the_same_architecture(tmp_path, pairs):
    from transformers import BertModel, EncoderDecoderModel

    encoder = _build("bert", tmp_path / "bert")
    result = _train(tmp_path, pairs, "scratch", extra={"encoder": str(encoder)}, from_scratch=True, max_steps=2)
    assert result.record["parameters"]["total"] > 0
    warm = _train(tmp_path, pairs, "warm", extra={"encoder": str(encoder)}, max_steps=2)
    assert result.record["config"]["from_scratch"] is True and warm.record["config"]["from_scratch"] is False
    assert result.record["parameters"] == warm.record["parameters"]
    scratch_model = EncoderDecoderModel.from_pretrained(result.path / "model")
    warm_model = EncoderDecoderModel.from_pretrained(warm.path / "model")
    # the same architecture: config class, encoder and decoder configs, parameter names and shapes
    assert type(scratch_model.config) is type(warm_model.config)
    for part in ("encoder", "decoder"):
        ours, theirs = getattr(scratch_model.config, part).to_dict(), getattr(warm_model.config, part).to_dict()
        for key in (
            "model_type",
            "vocab_size",
            "hidden_size",
            "num_hidden_layers",
            "num_attention_heads",
            "intermediate_size",
            "is_decoder",
            "add_cross_attention",
        ):
            assert ours[key] == theirs[key], (part, key)
    shapes = {n: tuple(t.shape) for n, t in scratch_model.state_dict().items()}
    assert shapes == {n: tuple(t.shape) for n, t in warm_model.state_dict().items()}
    assert any("crossattention" in n for n in shapes)

    # different weights: the pretrained encoder's randomly initialised tensors (LayerNorm and biases start constant)
    # are in the warm start (two training steps move them a little) and not in the model from scratch
    pretrained = {n: t for n, t in BertModel.from_pretrained(encoder).state_dict().items() if t.float().std() > 0}
    compared = {
        f"{prefix}{n}": t
        for prefix in ("encoder.", "decoder.bert.")
        for n, t in pretrained.items()
        if f"{prefix}{n}" in shapes
    }
    assert len(compared) >= 2 * 2 * 6  # embeddings and every layer's weight matrices, encoder and decoder
    scratch_state, warm_state = scratch_model.state_dict(), warm_model.state_dict()
    for name, reference in compared.items():
        assert _correlation(warm_state[name], reference) > 0.9, name
        assert abs(_correlation(scratch_state[name], reference)) < 0.5, name


def test_decoder_only_loss_covers_target_tokens_only(tmp_path):
    from transformers import AutoTokenizer

    from tlsuite_core.config import build_config
    from tlsuite_core.pairs import load_pairs
    from tlsuite_core.tasks.generation import Generation

    folder = _build("llama-chat", tmp_path / "llama")
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"source": "w1 w2", "target": "w3 w4"}) + "\n", encoding="utf-8")
    task = Generation()
    task.configure(build_config({"extra": {"instruction": "copy: "}}))
    task.kind = "causal"
    tok = AutoTokenizer.from_pretrained(folder)
    ds, _ = task.encode(load_pairs(path), tok, [], 64)
    ids, labels = ds[0]["input_ids"], ds[0]["labels"]
    prompt = task.prompt(tok, "w1 w2")
    assert ids[: len(prompt)] == prompt  # the chat template made the prompt
    assert labels[: len(prompt)] == [-100] * len(prompt)
    assert [t for t in labels if t != -100] == tok("w3 w4", add_special_tokens=False)["input_ids"] + [tok.sep_token_id]


@pytest.mark.parametrize("kind", ["t5", "llama"])
def test_sorted_batched_generation_equals_one_by_one(kind, tmp_path):
    from transformers import AutoModelForCausalLM, AutoModelForSeq2SeqLM, AutoTokenizer

    from tlsuite_core.config import build_config
    from tlsuite_core.tasks.generation import Generation

    folder = _build(kind, tmp_path / kind)
    cls = AutoModelForCausalLM if kind == "llama" else AutoModelForSeq2SeqLM
    model = cls.from_pretrained(folder).eval()
    tok = AutoTokenizer.from_pretrained(folder)
    task = Generation()
    task.configure(build_config({"extra": {"max_new_tokens": 5, "num_beams": 1}}))
    task.kind = "causal" if kind == "llama" else "seq2seq"
    task.prepare_tokenizer(tok, model)
    task._set_generation_config(
        model, pad_token_id=tok.pad_token_id, eos_token_id=tok.sep_token_id, decoder_start_token_id=tok.cls_token_id
    )
    sources = ["w1", "w2 w3 w4 w5 w6", "w7 w8", "w1 w2 w3"]
    batched = task.generate(model, tok, sources, batch_size=4)
    single = [task.generate(model, tok, [s], batch_size=1)[0] for s in sources]
    assert [b.text for b in batched] == [s.text for s in single]
    # a random tiny model rarely emits the end token: outputs reaching max_new_tokens are flagged
    assert any(b.truncated for b in batched)


def test_lora_on_generation_saves_adapter_and_merged(tmp_path, pairs):
    model = _build("t5", tmp_path / "t5")
    result = _train(tmp_path, pairs, "lora", model=str(model), strategy="lora", max_steps=4)
    assert (result.path / "model" / "adapter_config.json").is_file()
    assert (result.path / "merged" / "config.json").is_file()
    params = result.record["parameters"]
    assert params["trainable"] < params["total"]


def test_warm_start_refuses_adapters(tmp_path, pairs):
    from tlsuite_core.errors import ConfigError

    encoder = _build("bert", tmp_path / "bert")
    with pytest.raises(ConfigError, match="cross-attention"):
        _train(tmp_path, pairs, "warm-lora", extra={"encoder": str(encoder)}, strategy="lora", max_steps=2)


def test_an_encoder_as_model_is_warm_started(tmp_path, pairs):
    encoder = _build("bert", tmp_path / "bert")
    result = _train(tmp_path, pairs, "enc", model=str(encoder), max_steps=2)
    config = json.loads((result.path / "model" / "config.json").read_text())
    assert config["model_type"] == "encoder-decoder"


@pytest.mark.parametrize("kind", ["t5", "bart", "marian", "bert2bert"])
def test_engine_loss_feeds_the_decoder_the_shifted_labels(kind, tmp_path):
    """The engine's own cross-entropy (label smoothing, class weights) pops the labels before the forward pass;
    an encoder-decoder must still get decoder inputs made from them (BART would otherwise shift the *source*,
    T5 and bert2bert would fail). With weights of one and no smoothing it equals the model's own loss."""
    from transformers import EncoderDecoderModel, TrainingArguments

    from tlsuite_core.training.trainer import Levers, TlsTrainer

    if kind == "bert2bert":
        enc = _build("bert", tmp_path / "bert")
        model = EncoderDecoderModel.from_encoder_decoder_pretrained(str(enc), str(enc))
        model.config.decoder_start_token_id, model.config.pad_token_id = VOCAB.index("[CLS]"), VOCAB.index("[PAD]")
    else:
        from transformers import AutoModelForSeq2SeqLM

        model = AutoModelForSeq2SeqLM.from_pretrained(_build(kind, tmp_path / kind))
    model.eval()
    gen = torch.Generator().manual_seed(0)
    input_ids = torch.randint(5, len(VOCAB), (3, 7), generator=gen)
    labels = torch.randint(5, len(VOCAB), (3, 5), generator=gen)
    labels[0, 3:] = -100
    inputs = {"input_ids": input_ids, "attention_mask": torch.ones_like(input_ids), "labels": labels}
    args = TrainingArguments(output_dir=str(tmp_path / "out"), report_to=[], use_cpu=True)
    trainer = TlsTrainer(model=model, args=args, levers=Levers(class_weights=torch.ones(len(VOCAB))))
    with torch.no_grad():
        ours = trainer.compute_loss(model, dict(inputs))
        reference = model(**inputs).loss
    assert torch.allclose(ours, reference, atol=1e-5)


def test_label_smoothing_trains_a_warm_started_model(tmp_path, pairs):
    encoder = _build("bert", tmp_path / "bert")
    result = _train(tmp_path, pairs, "smooth", extra={"encoder": str(encoder)}, label_smoothing=0.1, max_steps=3)
    assert result.record["status"] == "completed"


def test_eval_limit_applies_during_training_and_the_final_evaluation_scores_all(tmp_path, pairs, monkeypatch):
    from transformers import Trainer

    scored = []  # the size of every dataset an evaluation pass runs over (the loss pass included)
    original = Trainer.evaluation_loop

    def spy(self, dataloader, *args, **kwargs):
        scored.append(len(dataloader.dataset))
        return original(self, dataloader, *args, **kwargs)

    monkeypatch.setattr(Trainer, "evaluation_loop", spy)
    model = _build("t5", tmp_path / "t5")
    result = _train(tmp_path, pairs, "limited", model=str(model), extra={"eval_limit": 3}, epochs=2)
    assert scored[:-1] and set(scored[:-1]) == {3} and scored[-1] == 12
    history = json.loads((result.path / "report" / "log_history.json").read_text())
    during = [h["eval_n"] for h in history if "eval_n" in h]
    assert during and set(during) == {3}  # evaluations during training: the first 3 dev pairs
    assert result.metrics["n"] == 12  # the selected model: every dev pair
