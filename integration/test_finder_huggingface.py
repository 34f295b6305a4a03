"""``lrplugins.huggingface.find_lr`` against a real ``transformers.Trainer``.

A tiny BERT-style classifier built from a config (nothing from the hub) on synthetic data, with
dropout, trained by the Trainer (which shuffles): ``find_lr(trainer)`` then ``trainer.train()``
must give the same weights, bit for bit, the same LR at every update and the same logged losses
as ``trainer.train()`` on an identical trainer.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest

from conftest import require

torch = require("torch")
transformers = require("transformers")
require("accelerate")

from transformers import (
    BertConfig,
    BertForSequenceClassification,
    Trainer,
    TrainerCallback,
    TrainingArguments,
)

import lrplugins as lrp
from lrplugins.huggingface import LRSchedulerCallback, find_lr
from lrplugins.torch import LRScheduler

pytestmark = pytest.mark.slow


def bert() -> Any:
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=50,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=20,
        num_labels=2,
        hidden_dropout_prob=0.1,
    )
    return BertForSequenceClassification(cfg)


def data(n: int = 32) -> list[dict[str, Any]]:
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(0, 50, (n, 6), generator=g)
    labels = (ids[:, 0] > 25).long()
    return [{"input_ids": ids[i], "labels": labels[i]} for i in range(n)]


class Recorder(TrainerCallback):
    """Every group's LR at each update (just before the optimizer steps)."""

    def __init__(self) -> None:
        self.lrs: list[list[float]] = []

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
        self.lrs.append([float(g["lr"]) for g in kw["optimizer"].param_groups])


def make(
    tmp_path: Path, optimizers: str | None = None, callback: bool = False, **kw: Any
) -> tuple[Trainer, Recorder]:
    model = bert()
    args = TrainingArguments(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        num_train_epochs=2,
        learning_rate=1e-3,
        warmup_steps=2,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        disable_tqdm=True,
        use_cpu=True,
        seed=3,
        **kw,
    )
    rec = Recorder()
    callbacks: list[Any] = [rec]
    if callback:
        callbacks.append(LRSchedulerCallback(lrp.cosine(warmup_steps=3)))
    opts: Any = (None, None)
    if optimizers == "groups":
        opt = torch.optim.AdamW(
            [
                {"params": model.bert.parameters(), "lr": 2e-3},
                {"params": model.classifier.parameters(), "lr": 5e-4},  # ratio 4
            ]
        )
        opts = (opt, LRScheduler(opt, lrp.linear(total_steps=16, warmup_steps=2)))
    trainer = Trainer(
        model=model, args=args, train_dataset=data(), callbacks=callbacks, optimizers=opts
    )
    return trainer, rec


def run(tmp_path: Path, with_test: bool, **kw: Any) -> tuple[Trainer, Recorder, Any]:
    torch.manual_seed(11)  # the Trainer's shuffling and dropout draw from the global RNG
    trainer, rec = make(tmp_path, **kw)
    finder = None
    if with_test:
        finder = find_lr(trainer, min_lr=1e-5, max_lr=10.0, steps=30)
        assert rec.lrs == []  # the user's callbacks were set aside
    trainer.train()
    return trainer, rec, finder


def assert_same(a: tuple[Trainer, Recorder, Any], b: tuple[Trainer, Recorder, Any]) -> None:
    (ta, ra, _), (tb, rb, _) = a, b
    for (name, pa), pb in zip(ta.model.state_dict().items(), tb.model.state_dict().values()):
        assert torch.equal(pa, pb), name
    assert ra.lrs == rb.lrs and len(ra.lrs) == ta.state.global_step
    la = [h["loss"] for h in ta.state.log_history if "loss" in h]
    lb = [h["loss"] for h in tb.state.log_history if "loss" in h]
    assert la == lb and la


def test_find_lr_then_train_is_train(tmp_path: Path) -> None:
    with_test = run(tmp_path, True)
    assert_same(with_test, run(tmp_path, False))
    finder = with_test[2]
    assert len(finder.lrs) == len(finder.losses) > 10
    assert 1e-5 < finder.suggestion < 10.0
    assert finder.base_lrs == [1e-3, 1e-3]  # the Trainer's decay and no-decay groups
    assert with_test[1].lrs[0] == [0.0, 0.0]  # the real run starts its warmup from 0


def test_supplied_optimizer_two_groups_keep_their_ratio(tmp_path: Path) -> None:
    with_test = run(tmp_path, True, optimizers="groups")
    assert_same(with_test, run(tmp_path, False, optimizers="groups"))
    finder = with_test[2]
    assert finder.base_lrs == [2e-3, 5e-4]
    assert finder.suggested_lrs == pytest.approx([finder.suggestion, finder.suggestion / 4])
    # the sweep's LRs, seen by the optimizer itself
    torch.manual_seed(11)
    trainer, _ = make(tmp_path, optimizers="groups")
    seen: list[list[float]] = []
    trainer.optimizer.register_step_pre_hook(
        lambda o, a, k: seen.append([g["lr"] for g in o.param_groups])
    )
    finder = find_lr(trainer, min_lr=1e-5, steps=20)
    assert len(seen) == len(finder.lrs)
    for k, (lr0, lr1) in enumerate(seen):
        assert lr0 == pytest.approx(finder.lr_at(k), rel=1e-12)
        assert lr0 / lr1 == pytest.approx(4.0, rel=1e-12)


def test_lrplugins_callback_is_set_aside_and_continues(tmp_path: Path) -> None:
    assert_same(run(tmp_path, True, callback=True), run(tmp_path, False, callback=True))


def test_gradient_accumulation_counts_updates(tmp_path: Path) -> None:
    torch.manual_seed(11)
    trainer, _ = make(tmp_path, gradient_accumulation_steps=2)
    losses: list[float] = []
    original = trainer.compute_loss

    def compute_loss(*a: Any, **k: Any) -> Any:
        out = original(*a, **k)
        losses.append(float(out.detach()))
        return out

    trainer.compute_loss = compute_loss  # type: ignore[method-assign]
    finder = find_lr(trainer, steps=6, diverge=None)
    assert len(finder.lrs) == 6 and len(losses) == 12  # 6 updates of 2 batches
    # each update's loss is the loss the Trainer logs for it: the mean of its two batches', or
    # twice that where the Trainer leaves the loss unscaled for accumulation because the model
    # takes loss kwargs (BERT does, and ignores them); a constant factor moves no suggestion
    means = [(losses[2 * k] + losses[2 * k + 1]) / 2 for k in range(6)]
    factor = 2.0 if trainer.model_accepts_loss_kwargs else 1.0
    assert finder.losses == pytest.approx([factor * m for m in means], rel=1e-5)
    assert trainer.args.gradient_accumulation_steps == 2 and trainer.args.max_steps == -1


class Regression(torch.nn.Module):
    """A linear regression with dropout on inputs of size 1e3 (so that at a huge loss scale
    the fp32 gradients overflow and a GradScaler skips updates for real)."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lin = torch.nn.Linear(4, 1)
        self.drop = torch.nn.Dropout(0.1)

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"loss": torch.nn.functional.mse_loss(self.lin(self.drop(x)), labels)}


def regression(tmp_path: Path, **kw: Any) -> tuple[Trainer, Recorder, list[float]]:
    """A Trainer on :class:`Regression`, with a supplied AdamW whose updates are recorded (the
    LR of each update the optimizer really made)."""
    torch.manual_seed(11)
    g = torch.Generator().manual_seed(1)
    x = 1e3 * torch.randn(32, 4, generator=g)
    examples = [{"x": x[i], "labels": x[i].sum(0, keepdim=True)} for i in range(32)]
    model = Regression()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    updates: list[float] = []
    opt.register_step_pre_hook(lambda o, a, k: updates.append(o.param_groups[0]["lr"]))
    args = TrainingArguments(
        output_dir=str(tmp_path),
        per_device_train_batch_size=4,
        num_train_epochs=2,
        logging_steps=1,
        save_strategy="no",
        report_to=[],
        disable_tqdm=True,
        use_cpu=True,
        seed=3,
        **kw,
    )
    rec = Recorder()
    trainer = Trainer(
        model=model, args=args, train_dataset=examples, callbacks=[rec], optimizers=(opt, None)
    )
    return trainer, rec, updates


def test_bf16_mixed_precision(tmp_path: Path) -> None:
    """``bf16=True``: the sweep is ``train()`` itself, each forward under the autocast wrapper
    that ``accelerator.prepare`` puts on the model, and the real run gets that wrapper too
    (before, the mark ``prepare`` left on the model made the real run's ``prepare`` skip it)."""

    def run_bf16(with_test: bool) -> tuple[Trainer, Recorder, list[float]]:
        trainer, rec, updates = regression(tmp_path, bf16=True)
        if with_test:
            find_lr(trainer, min_lr=1e-4, max_lr=10.0, steps=20)
            updates.clear()
        trainer.train()
        return trainer, rec, updates

    with_test, plain = run_bf16(True), run_bf16(False)
    assert_same(with_test, plain)
    assert with_test[2] == plain[2]
    assert with_test[0].accelerator.mixed_precision == "bf16"


def test_fp16_grad_scaler_skips_are_retried_and_its_state_restored(tmp_path: Path) -> None:
    """``fp16=True`` with a GradScaler. accelerate makes none on CPU, so the test puts a CPU one
    where accelerate keeps it (``accelerator.scaler``); accelerate's own code then scales,
    steps and skips through it as on a GPU. An update the scaler skipped made no step: it is
    not recorded and its LR is tried again; afterwards the scaler is as it was."""

    def scaled(with_test: bool) -> tuple[Trainer, Recorder, list[float]]:
        trainer, rec, updates = regression(tmp_path, fp16=True)
        scaler = torch.amp.GradScaler("cpu", init_scale=2.0**115, growth_interval=4)
        trainer.accelerator.scaler = scaler
        if with_test:
            finder = find_lr(trainer, min_lr=1e-4, max_lr=10.0, steps=20)
            # one recorded point per update made, at the finder's LR
            made = len(finder.lrs) - (finder.stop_reason == "non-finite")
            assert updates == pytest.approx([finder.lr_at(k) for k in range(made)], rel=1e-12)
            assert scaler.get_scale() == 2.0**115
            updates.clear()
        trainer.train()
        return trainer, rec, updates

    with_test, plain = scaled(True), scaled(False)
    assert_same(with_test, plain)
    assert with_test[2] == plain[2]  # the updates the real run made, at the same LRs
    assert len(plain[2]) < plain[0].state.global_step  # and the scaler skipped some


def test_docstring_example() -> None:
    import doctest

    from lrplugins import _finder_huggingface

    assert doctest.testmod(_finder_huggingface, optionflags=doctest.ELLIPSIS).failed == 0


def test_errors(tmp_path: Path) -> None:
    trainer, _ = make(tmp_path)
    with pytest.raises(ValueError, match=r"LRFinder\(\): mode can be exp or linear, got 'log'"):
        find_lr(trainer, mode="log")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be a transformers Trainer"):
        find_lr(object())  # type: ignore[arg-type]
    trainer.train_dataset = []
    with pytest.raises(ValueError, match="the trainer's train_dataset is empty"):
        find_lr(trainer)
    assert math.isfinite(trainer.args.learning_rate)
