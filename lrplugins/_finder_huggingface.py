"""``lrplugins.huggingface.find_lr``: the LR range test through a ``transformers.Trainer``.

The sweep is ``trainer.train()`` itself, cut to the sweep's length, so the model, the collator,
``compute_loss`` (and any override of it), the optimizer the trainer builds (weight-decay
groups included), gradient accumulation, clipping, mixed precision and DDP all behave as in the
real run. The trainer's callbacks (logging, saving, evaluation, integrations) are set aside for
the sweep and every piece of state the run touched is put back afterwards.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sized
from typing import Any, Literal

try:
    import torch
    from transformers import Trainer, TrainerCallback
    from transformers.utils import logging as hf_logging
except ImportError as _exc:  # pragma: no cover - exercised in a subprocess without transformers
    raise ImportError(
        "lrplugins.huggingface needs transformers, which is not installed: "
        "pip install 'lrplugins[huggingface]'"
    ) from _exc

from ._finder import DEFAULT_RULE, LRFinder
from ._finder_torch import (
    MAX_SKIPS,
    ModelSnapshot,
    OptimizerSnapshot,
    RNGSnapshot,
    ScalerSnapshot,
    base_lrs,
    progress_bar,
    set_lrs,
)

__all__ = ["find_lr"]

logger = hf_logging.get_logger("lrplugins.huggingface")

# TrainingArguments the sweep overrides (and puts back): its length, and the things train()
# would do besides training.
_ARG_OVERRIDES = {
    "eval_on_start": False,
    "load_best_model_at_end": False,
    "push_to_hub": False,
}


def find_lr(
    trainer: Trainer,
    *,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    steps: int = 100,
    mode: Literal["exp", "linear"] = "exp",
    smooth: float = 0.98,
    diverge: float | None = 0.5,
    rule: str = DEFAULT_RULE,
    progress: bool | None = None,
) -> LRFinder:
    """Run an LR range test with ``trainer``; the next ``trainer.train()`` is unaffected.

    ::

        finder = find_lr(trainer)
        trainer.args.learning_rate = finder.suggestion   # the peak LR of the trainer's schedule
        trainer.train()

    The sweep runs ``trainer.train()`` for up to ``steps`` optimizer updates (each of
    ``gradient_accumulation_steps`` batches; the recorded loss of an update is the loss the
    Trainer would log for it, averaged over the DDP ranks, so every rank gets the same record).
    Every parameter group sweeps together, keeping its ratio to the first group's configured LR
    (``learning_rate``, or a supplied optimizer's ``initial_lr``/``lr``); the suggestion is the
    value for ``args.learning_rate`` (or that first group). Mixed precision (``bf16``,
    ``fp16``) is the Trainer's own, as in training; an update that the GradScaler skips (inf or
    NaN gradients) made no step, so it is not recorded and its LR is tried again (at most 64
    times in a sweep). During the sweep the trainer's callbacks, the LR scheduler, evaluation
    and saving are set aside. Afterwards the model's parameters, buffers, gradients and
    train/eval flags, the attributes ``accelerator.prepare`` sets on the model (its
    autocast-wrapped ``forward`` and the mark that makes the next ``prepare`` skip it), a
    supplied optimizer's and scheduler's state, the GradScaler's state, the trainer's own
    attributes (its state, optimizer and scheduler slots, wrapped model), its callbacks and
    arguments, the accelerator's bookkeeping, and the random number generators (Python, numpy,
    torch CPU/CUDA) are restored. An empty ``train_dataset`` is refused.

    Args:
        trainer: the Trainer, as it would be passed to ``train()`` (not resuming).
        min_lr, max_lr, steps, mode, smooth, diverge, rule: see :class:`lrplugins.LRFinder`;
            ``steps`` counts optimizer updates.
        progress: a tqdm bar on the main process; by default unless ``args.disable_tqdm``.

    Returns:
        The :class:`lrplugins.LRFinder` record.

    >>> import tempfile, torch
    >>> from transformers import BertConfig, BertForSequenceClassification, Trainer
    >>> from transformers import TrainingArguments
    >>> from lrplugins.huggingface import find_lr
    >>> _ = torch.manual_seed(0)
    >>> model = BertForSequenceClassification(BertConfig(
    ...     vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
    ...     intermediate_size=20, num_labels=2))
    >>> ids = torch.randint(0, 50, (32, 6))
    >>> data = [{"input_ids": i, "labels": int(i[0] > 25)} for i in ids]
    >>> args = TrainingArguments(tempfile.mkdtemp(), per_device_train_batch_size=8,
    ...                          report_to=[], disable_tqdm=True, use_cpu=True)
    >>> trainer = Trainer(model=model, args=args, train_dataset=data)
    >>> finder = find_lr(trainer, steps=30)
    >>> len(finder.lrs) > 10, 1e-7 < finder.suggestion < 10.0
    (True, True)
    >>> trainer.optimizer is None, trainer.state.global_step  # the trainer is untouched
    (True, 0)
    """
    finder = LRFinder(min_lr, max_lr, steps, mode=mode, smooth=smooth, diverge=diverge, rule=rule)
    if not isinstance(trainer, Trainer):
        raise TypeError(f"find_lr(): trainer must be a transformers Trainer, got {trainer!r}")
    if trainer.model is None:
        raise ValueError("find_lr(): the trainer has no model")
    dataset = trainer.train_dataset
    if isinstance(dataset, Sized) and len(dataset) == 0:
        raise ValueError(
            "find_lr(): the trainer's train_dataset is empty (0 examples); the range test "
            "trains on it: give the Trainer a train_dataset with examples"
        )
    args = trainer.args
    show = (not args.disable_tqdm) if progress is None else bool(progress)
    show = show and trainer.is_world_process_zero()
    sweep = _Sweep(trainer, finder)
    saved = _TrainerSnapshot(trainer)
    try:
        args.max_steps = steps + MAX_SKIPS  # the sweep stops itself; updates skipped by a
        # GradScaler are not recorded, and at most MAX_SKIPS of them are made up for
        for name, value in _ARG_OVERRIDES.items():
            if hasattr(args, name):
                setattr(args, name, value)
        trainer.callback_handler.callbacks = [sweep]
        original_step = trainer.training_step

        def training_step(*a: Any, **k: Any) -> torch.Tensor:
            loss = original_step(*a, **k)
            sweep.micro.append(loss.detach())
            return loss

        trainer.training_step = training_step  # type: ignore[method-assign]
        with progress_bar(show, steps, "LR range test") as bar:
            sweep.bar = bar
            trainer.train()
    finally:
        saved.restore()
    if not finder.lrs:
        raise RuntimeError("find_lr(): the range test took no optimizer step (no training data?)")
    if trainer.is_world_process_zero():
        logger.info(finder.summary())
    return finder


class _Sweep(TrainerCallback):
    def __init__(self, trainer: Trainer, finder: LRFinder) -> None:
        self.trainer = trainer
        self.finder = finder
        self.micro: list[torch.Tensor] = []
        self.bar: Any = None

    def _groups(self) -> list[Any]:
        return [self.trainer.optimizer]

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.finder.begin(base_lrs(self._groups()))
        self.micro = []

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        set_lrs(self._groups(), self.finder.group_lrs(len(self.finder.lrs)))

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if self.finder.done:
            control.should_training_stop = True
            return
        total = torch.stack([t.float() for t in self.micro]).sum() if self.micro else None
        self.micro = []
        if total is None:
            return
        loss = float(self.trainer.accelerator.reduce(total.reshape(1), reduction="mean").item())
        if self.trainer.accelerator.optimizer_step_was_skipped and math.isfinite(loss):
            return  # the GradScaler skipped the update (inf gradients): the same LR again
        go_on = self.finder.record(loss)
        if self.bar is not None:
            self.bar.update()
        if not go_on:
            control.should_training_stop = True


class _TrainerSnapshot:
    """Everything ``trainer.train()`` changes, to put back after the sweep."""

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.attrs = dict(vars(trainer))
        self.args = trainer.args
        self.arg_values = {
            name: getattr(trainer.args, name)
            for name in ("max_steps", *_ARG_OVERRIDES)
            if hasattr(trainer.args, name)
        }
        self.control = dict(vars(trainer.control))
        handler = trainer.callback_handler
        self.handler = dict(vars(handler))
        self.callbacks = list(handler.callbacks)
        model: Any = trainer.model
        self.model = ModelSnapshot(model)
        # what accelerate's prepare sets on the model itself: the autocast-wrapped forward, the
        # original one, and the mark that makes a later prepare return the model untouched
        # (no autocast wrapper, no DDP wrapper for the real run)
        self.model_dict = dict(vars(model))
        raw = getattr(trainer.optimizer, "optimizer", trainer.optimizer)
        self.optimizer = OptimizerSnapshot(raw) if raw is not None else None
        scaler = getattr(trainer.accelerator, "scaler", None)
        self.scaler = ScalerSnapshot(scaler) if isinstance(scaler, torch.amp.GradScaler) else None
        sched = trainer.lr_scheduler
        self.scheduler = (
            (sched, copy.deepcopy(sched.state_dict()))
            if sched is not None and hasattr(sched, "state_dict")
            else None
        )
        acc = trainer.accelerator
        self.accelerator = {
            k: (list(v) if isinstance(v, list) else v) for k, v in vars(acc).items()
        }
        gs = getattr(acc, "gradient_state", None)
        self.gradient_state = (
            None
            if gs is None
            else (gs, {k: (list(v) if isinstance(v, list) else v) for k, v in vars(gs).items()})
        )
        self.rng = RNGSnapshot()

    def restore(self) -> None:
        t = self.trainer
        self.model.restore()
        _restore_dict(self.model.model, self.model_dict)
        if self.optimizer is not None:
            self.optimizer.restore()
        if self.scheduler is not None:
            self.scheduler[0].load_state_dict(self.scheduler[1])
        if self.scaler is not None:
            self.scaler.restore()
        vars(t).clear()
        vars(t).update(self.attrs)
        for name, value in self.arg_values.items():
            setattr(self.args, name, value)
        vars(t.control).clear()
        vars(t.control).update(self.control)
        vars(t.callback_handler).clear()
        vars(t.callback_handler).update(self.handler)
        t.callback_handler.callbacks = self.callbacks
        _restore_dict(t.accelerator, self.accelerator)
        if self.gradient_state is not None:
            _restore_dict(*self.gradient_state)
        self.rng.restore()


def _restore_dict(obj: Any, saved: dict[str, Any]) -> None:
    current = vars(obj)
    for k in list(current):
        if k not in saved:
            del current[k]
    for k, v in saved.items():
        if isinstance(v, list) and isinstance(current.get(k), list):
            current[k][:] = v  # the same list object: others may hold it
        else:
            current[k] = v
