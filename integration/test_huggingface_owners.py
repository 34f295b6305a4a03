"""Who sets the learning rate in a ``transformers.Trainer`` with the callback: a scheduler the user
gave the Trainer is refused (never silently thrown away), a second callback is refused, the
Trainer's own scheduler is replaced with one warning that names what is not used.

A tiny linear model on synthetic data and a real ``Trainer``; what each update used is read in a
step pre-hook of the optimizer (its groups' LR as the update sees it), never from the callback.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from conftest import require

torch = require("torch")
require("transformers")
require("accelerate")

from transformers import Trainer, TrainingArguments, get_cosine_schedule_with_warmup

import lrplugins as lrp
from lrplugins.huggingface import LRSchedulerCallback

pytestmark = pytest.mark.slow

LR = 0.01
STEPS = 6


class Linear(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.lin = torch.nn.Linear(4, 1)

    def forward(self, x: Any, labels: Any) -> dict[str, Any]:
        return {"loss": ((self.lin(x).squeeze(-1) - labels) ** 2).mean()}


def items(n: int = 24) -> list[dict[str, Any]]:
    g = torch.Generator().manual_seed(1)
    return [
        {"x": torch.randn(4, generator=g), "labels": torch.randn((), generator=g)} for _ in range(n)
    ]


def args(tmp_path: Path, **kw: Any) -> TrainingArguments:
    base: dict[str, Any] = {
        "output_dir": str(tmp_path),
        "learning_rate": LR,
        "max_steps": STEPS,
        "per_device_train_batch_size": 4,
        "report_to": "none",
        "use_cpu": True,
        "disable_tqdm": True,
        "save_strategy": "no",
        "log_level": "error",
    }
    return TrainingArguments(**{**base, **kw})


def trainer(
    tmp_path: Path, callbacks: list[Any], scheduler: Any = None, **kw: Any
) -> tuple[Trainer, list[float]]:
    """A Trainer over an AdamW at LR (given with ``scheduler`` when it is a callable of the
    optimizer), and the list its step pre-hook fills with each update's LR."""
    model = Linear()
    opt = torch.optim.AdamW(model.parameters(), lr=LR)
    applied: list[float] = []
    opt.register_step_pre_hook(lambda o, *_: applied.append(float(o.param_groups[0]["lr"])))
    sched = None if scheduler is None else scheduler(opt)
    tr = Trainer(
        model=model,
        args=args(tmp_path, **kw),
        train_dataset=items(),
        callbacks=callbacks,
        optimizers=(opt, sched),
    )
    return tr, applied


def test_a_scheduler_given_to_the_trainer_is_refused_not_thrown_away(tmp_path: Path) -> None:
    tr, applied = trainer(
        tmp_path,
        [LRSchedulerCallback(lrp.constant())],
        lambda opt: get_cosine_schedule_with_warmup(opt, num_warmup_steps=3, num_training_steps=6),
    )
    with pytest.raises(ValueError) as err:
        tr.train()
    message = str(err.value)
    assert "given its own scheduler (LambdaLR)" in message
    assert "Trainer(optimizers=(opt, None))" in message
    assert applied == []  # refused before the first update


def test_a_torch_scheduler_given_to_the_trainer_is_named_with_the_fix(tmp_path: Path) -> None:
    tr, applied = trainer(
        tmp_path,
        [LRSchedulerCallback(lrp.constant())],
        lambda opt: torch.optim.lr_scheduler.StepLR(opt, 3),
    )
    with pytest.raises(ValueError) as err:
        tr.train()
    message = str(err.value)
    assert "given its own scheduler (StepLR)" in message
    assert "Trainer(optimizers=(opt, None))" in message
    assert "lr_scheduler_type at its default" not in message
    assert applied == []


def test_a_torch_scheduler_set_after_init_is_named_with_the_fix(tmp_path: Path) -> None:
    """A callback added after the Trainer was built never saw it given a scheduler: a scheduler
    no lr_scheduler_type builds is still refused with the fix."""
    tr, applied = trainer(tmp_path, [], lambda opt: torch.optim.lr_scheduler.StepLR(opt, 3))
    tr.add_callback(LRSchedulerCallback(lrp.constant()))
    with pytest.raises(ValueError) as err:
        tr.train()
    message = str(err.value)
    assert "scheduler is a StepLR" in message and "Trainer(optimizers=(opt, None))" in message
    assert applied == []


def test_the_trainers_own_scheduler_is_replaced_with_a_warning(tmp_path: Path) -> None:
    """optimizers=(opt, None): the Trainer creates its scheduler, the callback takes it over; a
    single setting not used is reported in the singular."""
    cb = LRSchedulerCallback(lrp.linear())
    tr, applied = trainer(tmp_path, [cb], lr_scheduler_type="constant")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tr.train()
    ours = [str(w.message) for w in caught if "LRSchedulerCallback" in str(w.message)]
    assert ours == [
        (
            "LRSchedulerCallback: the learning rate follows this callback's schedule; the "
            "Trainer's lr_scheduler_type='constant' is not used (put a warmup in the schedule)."
        )
    ]
    want = [LR * (1 - k / STEPS) for k in range(STEPS)]
    assert applied == pytest.approx(want, rel=1e-6)


def test_a_callback_given_a_scheduler_once_drives_the_next_trainers_own(tmp_path: Path) -> None:
    cb = LRSchedulerCallback(lrp.linear())
    tr, _ = trainer(tmp_path, [cb], lambda opt: torch.optim.lr_scheduler.StepLR(opt, 3))
    with pytest.raises(ValueError, match="given its own scheduler"):
        tr.train()
    tr, applied = trainer(tmp_path, [cb])
    tr.train()
    assert applied == pytest.approx([LR * (1 - k / STEPS) for k in range(STEPS)], rel=1e-6)


def test_a_second_callback_in_the_same_trainer_is_refused(tmp_path: Path) -> None:
    tr, applied = trainer(
        tmp_path, [LRSchedulerCallback(lrp.constant()), LRSchedulerCallback(lrp.linear())]
    )
    with pytest.raises(ValueError) as err:
        tr.train()
    assert "a second LRSchedulerCallback in this Trainer" in str(err.value)
    assert applied == []
    # one callback, the same Trainer class: trains
    tr, applied = trainer(tmp_path, [LRSchedulerCallback(lrp.linear())])
    tr.train()
    assert applied == pytest.approx([LR * (1 - k / STEPS) for k in range(STEPS)], rel=1e-6)
