"""``TlsTrainer``: ``transformers.Trainer`` with tlsuite's additions, one concern per override.

==========================  =================================================================================
override                    concern
==========================  =================================================================================
``compute_loss``            the loss: class-weighted and/or label-smoothed cross-entropy computed here (Trainer's
                            label smoother cannot read prompt-learning PEFT models), else the model's own; one
                            micro-batch mean either way, so gradient accumulation divides it (``loss_is_scaled_for_ga``);
                            R-Drop (``rdrop_alpha``) adds a second dropout pass and the two passes' symmetric KL;
                            distillation (``distill_alpha``) mixes in the KL to the teachers' probabilities
``_set_signature_columns..  the teachers' column reaches ``compute_loss`` (the model's forward does not take it)
``training_step``           FGM adversarial training on the word-embedding output (``fgm_epsilon``)
``create_optimizer``        layer-wise learning rates (``layer_lr_decay``, ``head_lr_scale``; :mod:`.optim`)
``_get_eval_sampler``       evaluation order: sequential for tasks whose metrics read the dataset's own columns
``_get_train_sampler``,     length-grouped training order that ``--resume`` replays inside an epoch: the RNG state of
``_save_rng_state``,        the epoch's draw is kept in every checkpoint (``sampler_state.safetensors``) and a run
``train``                   resumed inside that epoch draws from it (:class:`ResumableLengthGroupedSampler`)
``_save``                   the training arguments as JSON (``training_args.json``), never the pickle Trainer writes
==========================  =================================================================================

Importing this module imports ``transformers.Trainer`` (and with it peft): the engine imports it only when it
builds a trainer, so ``--help`` and bad-input errors stay fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from transformers import Trainer
from transformers.trainer_pt_utils import LengthGroupedSampler, get_length_grouped_indices

from .distillation import TEACHER_COLUMN
from .saving import write_training_args


@dataclass(frozen=True)
class Levers:
    """What ``TlsTrainer``'s overrides do beyond ``Trainer`` (each off by default).

    Args:
        class_weights: a float tensor, one weight per label, for the cross-entropy (``--class-weights balanced``).
        layer_lr_decay / head_lr_scale: layer-wise learning rates (1.0 / 1.0: Trainer's own optimiser).
        sequential_eval: evaluate in dataset order (transformers length-groups evaluation batches too).
        fgm_epsilon: FGM perturbation norm (0: off).
        shift_labels: the loss predicts the next token (decoder-only language models).
        rdrop_alpha: R-Drop weight (0: off): the batch goes through the model twice (two dropout masks); the loss is
            the mean of the two cross-entropies plus ``rdrop_alpha`` x the mean of KL(p1||p2) and KL(p2||p1).
        distill_alpha / distill_temperature: knowledge distillation (alpha 0: off) from the training set's
            ``teacher_probs`` column (:mod:`.distillation`): (1 - alpha) x the loss above + alpha x T^2 x
            KL(teachers || softmax(logits / T)).
    """

    class_weights: Any = None
    layer_lr_decay: float = 1.0
    head_lr_scale: float = 1.0
    sequential_eval: bool = False
    fgm_epsilon: float = 0.0
    shift_labels: bool = False
    rdrop_alpha: float = 0.0
    distill_alpha: float = 0.0
    distill_temperature: float = 1.0


#: the length-grouped sampler's draw in a checkpoint (:class:`ResumableLengthGroupedSampler`)
SAMPLER_STATE = "sampler_state.safetensors"


class ResumableLengthGroupedSampler(LengthGroupedSampler):
    """transformers' length-grouped training order, drawn as it draws it (from the global torch RNG at the start of
    each epoch), that a run resumed inside an epoch draws again identically.

    transformers' own sampler takes its epoch's permutation from the global RNG when the epoch starts; a resumed
    process reaches that point with another RNG state (the checkpoint's is restored only at the first step), so the
    rest of the resumed epoch saw other batches than the uninterrupted run. This sampler remembers the RNG state of
    its last draw (``drawn``: epoch, state), which checkpoints keep; given that of a checkpoint (``resume``), the
    epoch it belongs to is drawn from it. A fresh run's order is exactly transformers'.
    """

    def __init__(self, batch_size: int, lengths: list[int], resume: tuple[int, torch.Tensor] | None = None) -> None:
        super().__init__(batch_size, lengths=lengths)
        self.epoch = 0
        self.drawn: tuple[int, torch.Tensor] | None = None
        self.resume = resume

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Any:
        generator = None
        if self.resume is not None and self.resume[0] == self.epoch:
            generator = torch.Generator()
            generator.set_state(self.resume[1])
            self.drawn = self.resume
        else:
            self.drawn = (self.epoch, torch.get_rng_state())
        self.resume = None
        return iter(get_length_grouped_indices(self.lengths, self.batch_size, generator=generator))


def read_sampler_state(checkpoint: str | Path | None) -> tuple[int, torch.Tensor] | None:
    """The (epoch, RNG state) of the sampler's draw a checkpoint kept, or ``None`` (none kept, or no checkpoint)."""
    path = Path(checkpoint) / SAMPLER_STATE if checkpoint else None
    if path is None or not path.is_file():
        return None
    from safetensors.torch import load_file

    state = load_file(str(path))
    return int(state["epoch"][0]), state["rng_state"]


class TlsTrainer(Trainer):
    """``Trainer`` plus weighted / smoothed loss, FGM, layer-wise rates, ordered evaluation and pickle-free saving,
    as its :class:`Levers` say."""

    # compute_loss returns a micro-batch mean (it ignores num_items_in_batch, as BERT-style heads do even though
    # their forward takes **kwargs): Trainer must divide it by the accumulation steps, or --grad-accum N makes the
    # loss and the gradients N times too large
    loss_is_scaled_for_ga = False

    def __init__(self, *args: Any, levers: Levers | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.levers = levers or Levers()
        self.length_sampler: ResumableLengthGroupedSampler | None = None
        self._sampler_resume: tuple[int, torch.Tensor] | None = None

    def train(self, resume_from_checkpoint: str | bool | None = None, *args: Any, **kwargs: Any) -> Any:
        if isinstance(resume_from_checkpoint, (str, Path)):
            self._sampler_resume = read_sampler_state(resume_from_checkpoint)
        return super().train(resume_from_checkpoint, *args, **kwargs)

    # -- the loss -------------------------------------------------------------------------------------------------
    def compute_loss(
        self, model: Any, inputs: Any, return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        """Cross-entropy with class weights and/or label smoothing computed here; otherwise the model's own loss.
        Both are the mean over the micro-batch (``num_items_in_batch`` is not used: see ``loss_is_scaled_for_ga``).
        With the teachers' probabilities in the batch (training only), mixed with the distillation term."""
        teacher = None
        if TEACHER_COLUMN in inputs:
            inputs = dict(inputs)
            teacher = inputs.pop(TEACHER_COLUMN)
        if teacher is None or not self.levers.distill_alpha or not model.training:
            return self._label_loss(model, inputs, return_outputs)
        loss, outputs = self._label_loss(model, inputs, True)
        t, alpha = self.levers.distill_temperature, self.levers.distill_alpha
        log_student = torch.log_softmax(outputs.logits.float() / t, dim=-1)
        target = teacher.to(log_student.device, torch.float32)
        kl = torch.nn.functional.kl_div(log_student, target, reduction="batchmean") * t * t
        loss = (1 - alpha) * loss + alpha * kl
        return (loss, outputs) if return_outputs else loss

    def _set_signature_columns_if_needed(self) -> None:
        super()._set_signature_columns_if_needed()
        if TEACHER_COLUMN not in self._signature_columns:
            self._signature_columns.append(TEACHER_COLUMN)

    def _label_loss(self, model: Any, inputs: Any, return_outputs: bool) -> Any:
        """The loss against the labels (see :meth:`compute_loss`)."""
        smoothing = self.args.label_smoothing_factor
        if self.levers.rdrop_alpha and model.training and "labels" in inputs:
            return self._rdrop_loss(model, inputs, return_outputs)
        if (self.levers.class_weights is None and not smoothing) or "labels" not in inputs:
            return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=None)
        inputs = dict(inputs)
        labels = inputs.pop("labels")
        if "decoder_input_ids" not in inputs and "decoder_inputs_embeds" not in inputs:
            prepare = decoder_inputs_from_labels(model)
            if prepare is not None:  # encoder-decoder: the model shifts labels itself only when it gets them
                inputs["decoder_input_ids"] = prepare(labels=labels)
        outputs = model(**inputs)
        logits = outputs.logits
        if self.levers.shift_labels:  # causal LM: position t predicts token t + 1
            logits, labels = logits[:, :-1, :], labels[:, 1:]
        loss = self._cross_entropy(logits, labels)
        return (loss, outputs) if return_outputs else loss

    def _cross_entropy(self, logits: Any, labels: Any) -> Any:
        weight = self.levers.class_weights.to(logits.device) if self.levers.class_weights is not None else None
        return torch.nn.functional.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]),
            labels.reshape(-1).to(logits.device),
            weight=weight,
            label_smoothing=self.args.label_smoothing_factor,
            ignore_index=-100,
        )

    def _rdrop_loss(self, model: Any, inputs: Any, return_outputs: bool) -> Any:
        """R-Drop (Liang et al. 2021): two passes with different dropout masks; both cross-entropies (with the
        class weights and smoothing) plus ``rdrop_alpha`` x the symmetric KL between the passes' distributions,
        over the positions that carry a label."""
        inputs = dict(inputs)
        labels = inputs.pop("labels")
        first, second = model(**inputs), model(**inputs)
        a, b = first.logits.float(), second.logits.float()
        if self.levers.shift_labels:
            a, b, labels = a[:, :-1, :], b[:, :-1, :], labels[:, 1:]
        mask = (labels.reshape(-1) != -100).to(a.device)
        log_a = torch.log_softmax(a.reshape(-1, a.shape[-1])[mask], dim=-1)
        log_b = torch.log_softmax(b.reshape(-1, b.shape[-1])[mask], dim=-1)
        kl = torch.nn.functional.kl_div(log_a, log_b, log_target=True, reduction="batchmean")
        kl = (kl + torch.nn.functional.kl_div(log_b, log_a, log_target=True, reduction="batchmean")) / 2
        loss = (self._cross_entropy(a, labels) + self._cross_entropy(b, labels)) / 2 + self.levers.rdrop_alpha * kl
        return (loss, first) if return_outputs else loss

    # -- FGM ------------------------------------------------------------------------------------------------------
    def training_step(self, model: Any, inputs: Any, num_items_in_batch: Any = None) -> Any:
        """With ``fgm_epsilon``: FGM adversarial training (Miyato et al. 2017; Goodfellow et al. 2015). After the
        clean forward/backward, the word-embedding output of each example is moved by ``epsilon`` along its
        normalised loss gradient and a second forward/backward adds the adversarial loss's gradients. Works for
        every strategy (frozen embeddings included): the perturbation acts on the embedding output."""
        if not self.levers.fgm_epsilon:
            return super().training_step(model, inputs, num_items_in_batch)
        embeddings = self.model.get_input_embeddings()
        captured: dict[str, Any] = {}

        def capture(module: Any, args: Any, output: Any) -> Any:
            if not output.requires_grad:
                output.requires_grad_(True)
            output.retain_grad()
            captured["output"] = output
            return output

        handle = embeddings.register_forward_hook(capture)
        try:
            loss = super().training_step(model, dict(inputs), num_items_in_batch)
        finally:
            handle.remove()
        grad = captured["output"].grad if "output" in captured else None
        if grad is None:
            return loss
        norm = grad.flatten(1).norm(dim=1).clamp(min=1e-12).view(-1, *([1] * (grad.dim() - 1)))
        delta = (self.levers.fgm_epsilon * grad / norm).detach()
        handle = embeddings.register_forward_hook(lambda module, args, output: output + delta.to(output.dtype))
        try:
            super().training_step(model, dict(inputs), num_items_in_batch)
        finally:
            handle.remove()
        return loss

    # -- layer-wise optimiser -------------------------------------------------------------------------------------
    def create_optimizer(self, model: Any = None) -> Any:
        """Parameter groups with layer-wise rates when ``layer_lr_decay`` or ``head_lr_scale`` is set."""
        if self.optimizer is not None or (self.levers.layer_lr_decay == 1.0 and self.levers.head_lr_scale == 1.0):
            return super().create_optimizer(model)
        from .optim import layerwise_groups

        opt_model = self.model if model is None else model
        groups = layerwise_groups(
            opt_model,
            base_lr=self.args.learning_rate,
            decay=self.levers.layer_lr_decay,
            head_scale=self.levers.head_lr_scale,
            weight_decay=self.args.weight_decay,
            decay_parameter_names=self.get_decay_parameter_names(opt_model),
        )
        optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, opt_model)
        self.optimizer = optimizer_cls(groups, **optimizer_kwargs)
        return self.optimizer

    # -- training order -------------------------------------------------------------------------------------------
    def _get_train_sampler(self, train_dataset: Any = None) -> Any:
        sampler = super()._get_train_sampler(train_dataset)
        if type(sampler) is LengthGroupedSampler and sampler.generator is None:
            sampler = ResumableLengthGroupedSampler(sampler.batch_size, sampler.lengths, self._sampler_resume)
            self.length_sampler = sampler
        return sampler

    def _save_rng_state(self, output_dir: str) -> None:
        super()._save_rng_state(output_dir)
        drawn = self.length_sampler.drawn if self.length_sampler is not None else None
        if drawn is not None and self.args.should_save:
            from safetensors.torch import save_file

            state = {"epoch": torch.tensor([drawn[0]]), "rng_state": drawn[1]}
            save_file(state, str(Path(output_dir) / SAMPLER_STATE))

    # -- evaluation order -----------------------------------------------------------------------------------------
    def _get_eval_sampler(self, eval_dataset: Any) -> Any:
        # transformers length-groups evaluation batches too (shuffled); a task whose metrics read bookkeeping
        # columns of the evaluated dataset needs predictions in dataset order
        if self.levers.sequential_eval and eval_dataset is not None and self.args.world_size <= 1:
            return torch.utils.data.SequentialSampler(eval_dataset)
        return super()._get_eval_sampler(eval_dataset)

    # -- pickle-free saving ---------------------------------------------------------------------------------------
    def _save(self, output_dir: str | None = None, state_dict: Any = None) -> None:
        """Trainer's save (model, tokenizer), with the training arguments as JSON instead of a pickle.

        ``Trainer._save`` ends by pickling the arguments (``torch.save`` to ``training_args.bin``), for the model
        folder and every checkpoint. Nothing reads that file back (``--resume`` restores the trainer state, the
        optimiser, scheduler and RNG states), and a model folder tlsuite ships holds no pickle: the file is replaced
        here by ``training_args.json`` (``TrainingArguments.to_json_string``) before anyone sees it."""
        super()._save(output_dir, state_dict=state_dict)
        if self.args.should_save:
            write_training_args(Path(output_dir if output_dir is not None else self.args.output_dir), self.args)


def decoder_inputs_from_labels(model: Any) -> Any:
    """The encoder-decoder's ``prepare_decoder_input_ids_from_labels`` (through a PEFT wrapper), or None."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if not getattr(getattr(base, "config", None), "is_encoder_decoder", False):
        return None
    return getattr(base, "prepare_decoder_input_ids_from_labels", None)
