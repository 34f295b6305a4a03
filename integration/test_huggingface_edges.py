"""The Hugging Face adapter at the edges users hit: a group added during ``train()``, several eval
datasets, a metric that is not a number, a resume before an epoch's evaluation, a cooldown asked
for before ``train()``.

Same method as ``test_huggingface.py``: a tiny BERT built from a config, synthetic data, a real
``Trainer``. What an update used is read from the raw optimizer (a step post-hook: the groups still
hold the LR the update used; with SGD also ``-(p_after - p_before) / grad``), never from the
callback.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import Any

import pytest
from test_huggingface import LR, MODELS, assert_close, data, logged_lrs, targs, train

from conftest import require

torch = require("torch")
require("transformers")
require("accelerate")

from transformers import Trainer, TrainerCallback

import lrplugins as lrp
from lrplugins.huggingface import LRSchedulerCallback

pytestmark = pytest.mark.slow


class Applied(TrainerCallback):
    """Records, per update, each group's LR as the raw optimizer's step saw it (a post-hook: the
    scheduler has not stepped yet), as a step pre-hook registered before the callback's saw it,
    and for plain SGD the LR the update really used."""

    def __init__(self) -> None:
        self.lrs: dict[int, list[float]] = {}
        self.pre: dict[int, list[float]] = {}
        self.used: dict[int, list[float]] = {}
        self.state: Any = None
        self._before: list[tuple[Any, Any, Any]] = []
        self._handles: list[Any] = []

    def on_train_begin(
        self, args: Any, state: Any, control: Any, optimizer: Any = None, **kw: Any
    ) -> None:
        raw = getattr(optimizer, "optimizer", optimizer)
        self.state = state
        for h in self._handles:
            h.remove()
        self._handles = [
            raw.register_step_pre_hook(self._pre),
            raw.register_step_post_hook(self._post),
        ]

    def _pre(self, opt: Any, a: Any, k: Any) -> None:
        self.pre[self.state.global_step] = [float(g["lr"]) for g in opt.param_groups]
        self._before = []
        for g in opt.param_groups:
            p = next(p for p in g["params"] if p.grad is not None)
            self._before.append((p, p.detach().clone().double(), p.grad.detach().clone().double()))

    def _post(self, opt: Any, a: Any, k: Any) -> None:
        step = self.state.global_step
        self.lrs[step] = [float(g["lr"]) for g in opt.param_groups]
        used = []
        for p, before, grad in self._before:
            mask = grad.abs() > grad.abs().max() * 0.5
            used.append(float(((before - p.detach().double()) / grad)[mask].median()))
        self.used[step] = used


def head_only_sgd() -> Any:
    """Plain SGD over the classifier head only, named "head"; the body joins later."""
    m = MODELS["bert"]()
    head = [p for n, p in m.named_parameters() if n.startswith(("classifier", "pooler"))]
    opt = torch.optim.SGD([{"params": head, "lr": 10 * LR, "name": "head"}], lr=LR)
    opt.model_ref = m  # type: ignore[attr-defined]
    return opt


def body_params(opt: Any) -> list[Any]:
    ids = {id(p) for g in opt.param_groups for p in g["params"]}
    return [p for p in opt.model_ref.parameters() if id(p) not in ids]


class AddGroupAt(TrainerCallback):
    """Adds the body as a group ``{"name": "body", "lr": LR}`` at ``hook`` of update ``at``."""

    def __init__(self, opt: Any, at: int, hook: str) -> None:
        self.opt, self.at = opt, at
        setattr(self, hook, self._add)

    def _add(self, args: Any, state: Any, control: Any, optimizer: Any = None, **kw: Any) -> None:
        if state.global_step == self.at and len(optimizer.param_groups) == 1:
            # through the Trainer's (accelerate-wrapped) optimizer, as a user's callback does
            optimizer.add_param_group({"params": body_params(self.opt), "lr": LR, "name": "body"})


# ------------------------------------------------------------------------------------------------
# 1. A parameter group added during train() joins on its own clock
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("hook", ["on_step_begin", "on_pre_optimizer_step", "on_optimizer_step"])
def test_a_group_added_during_train_runs_its_schedule_from_its_first_update(
    tmp_path: Path, hook: str
) -> None:
    """Added before update 5's ``optimizer.step()`` it joins at update 5 (its warmup starts
    there); added after it (``on_optimizer_step``), at update 6. Its schedule is bound with the
    updates that remain."""
    opt = head_only_sgd()
    schedules = {"head": lrp.cosine(final=0.1), "body": lrp.linear(warmup_steps=2)}
    applied = Applied()
    trainer, _ = train(
        tmp_path,
        "bert",
        LRSchedulerCallback(schedules),
        optimizers=(opt, None),
        extra_callbacks=(applied, AddGroupAt(opt, 5, hook)),
        max_grad_norm=0.0,
    )
    join = 6 if hook == "on_optimizer_step" else 5
    head = schedules["head"].bind(total_steps=12)
    body = schedules["body"].bind(total_steps=12 - join)
    assert sorted(applied.lrs) == list(range(12))
    assert_close([applied.lrs[k][0] for k in range(12)], [10 * LR * head(k) for k in range(12)])
    assert all(len(applied.lrs[k]) == 1 for k in range(join))
    want = [LR * body(k - join) for k in range(join, 12)]
    assert want[0] == 0.0 and want[2] == LR  # a real warmup, on the body's own clock
    assert_close([applied.lrs[k][1] for k in range(join, 12)], want)
    assert applied.pre == applied.lrs  # a step pre-hook registered before training sees them too
    for k in range(join + 1, 12):  # what the SGD update really did (float32 parameters)
        assert applied.used[k][1] == pytest.approx(want[k - join], rel=2e-3)
    logs = {e["step"] - 1: e for e in trainer.state.log_history if "learning_rate/body" in e}
    assert_close([logs[k]["learning_rate/body"] for k in range(join, 12)], want)


# ------------------------------------------------------------------------------------------------
# 2. Several eval datasets whose names extend one another
# ------------------------------------------------------------------------------------------------


def frozen_sgd() -> Any:
    """SGD over a dummy parameter only: the model never changes, so each eval loss stalls."""
    m = MODELS["bert"]()
    dummy = torch.nn.Parameter(torch.zeros(1))
    dummy.grad = torch.zeros(1)
    opt = torch.optim.SGD([dummy], lr=LR)
    opt.model_ref = m  # type: ignore[attr-defined]
    return opt


class Scales(TrainerCallback):
    """Each evaluation's step, dataset and the plateau scale before it (listed before the LR
    callback, so it runs first)."""

    def __init__(self, cb: LRSchedulerCallback) -> None:
        self.cb, self.seen = cb, []

    def on_evaluate(
        self, args: Any, state: Any, control: Any, metrics: Any = None, **kw: Any
    ) -> None:
        prefix = next(k[: -len("_runtime")] for k in metrics if k.endswith("_runtime"))
        scale = self.cb.plateau.scale  # type: ignore[union-attr]
        self.seen.append((state.global_step, prefix, scale))


def test_the_monitored_dataset_feeds_the_plateau_and_the_other_is_skipped(tmp_path: Path) -> None:
    """``val`` is a prefix of ``val_hard``: its evaluation does not hold ``eval_val_hard_loss``
    and is skipped; ``val_hard``'s feeds the plateau, and the LR follows."""
    cb = LRSchedulerCallback(
        lrp.constant(), lrp.Plateau(factor=0.5, patience=0), monitor="eval_val_hard_loss"
    )
    scales = Scales(cb)
    evals = {"val": data("bert", 8, 2), "val_hard": data("bert", 8, 3)}
    applied = Applied()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # not even a warning for the other dataset
        trainer, _ = train(
            tmp_path,
            "bert",
            cb,
            optimizers=(frozen_sgd(), None),
            eval_dataset=evals,
            eval_strategy="steps",
            eval_steps=4,
            extra_callbacks=(applied, scales),
        )
    hard = [e["eval_val_hard_loss"] for e in trainer.state.log_history if "eval_val_hard_loss" in e]
    assert len(hard) == 3 and len(set(hard)) == 1  # a true stall at steps 4, 8, 12
    # val at 4 skipped, val_hard at 4 best; at 8 bad: x0.5; at 12 bad: x0.5 (val never fed)
    assert scales.seen == [
        (4, "eval_val", 1.0),
        (4, "eval_val_hard", 1.0),
        (8, "eval_val", 1.0),
        (8, "eval_val_hard", 1.0),
        (12, "eval_val", 0.5),
        (12, "eval_val_hard", 0.5),
    ]
    assert cb.plateau is not None and cb.plateau.scale == 0.25
    want = [LR] * 8 + [LR / 2] * 4
    assert_close([applied.lrs[k][0] for k in range(12)], want)
    assert_close([logged_lrs(trainer)[k] for k in range(12)], want)


@pytest.mark.parametrize("monitor", ["loss", "eval_test_loss"])
def test_a_monitor_that_no_dataset_produces_still_raises(tmp_path: Path, monitor: str) -> None:
    """Neither ``eval_loss`` (no dataset named) nor a dataset that does not exist is in any
    evaluation of the round: it raises, listing every dataset's metrics."""
    cb = LRSchedulerCallback(lrp.constant(), lrp.Plateau(), monitor=monitor)
    evals = {"val": data("bert", 8, 2), "val_hard": data("bert", 8, 3)}
    with pytest.raises(
        RuntimeError,
        match=rf"monitor={monitor!r}.*'eval_val_hard_loss'.*'eval_val_loss'.*full key, e.g. "
        "'eval_val_loss'",
    ):
        train(tmp_path, "bert", cb, eval_dataset=evals, eval_strategy="steps", eval_steps=4)


# ------------------------------------------------------------------------------------------------
# 3. A monitored metric that is not a single number
# ------------------------------------------------------------------------------------------------


def test_a_list_valued_metric_is_refused_naming_the_monitor(tmp_path: Path) -> None:
    cb = LRSchedulerCallback(lrp.constant(), lrp.Plateau(), monitor="eval_per_class")
    trainer = Trainer(
        model=MODELS["bert"](),
        args=targs(tmp_path, eval_strategy="steps", eval_steps=4),
        train_dataset=data("bert"),
        eval_dataset=data("bert", 8, 2),
        compute_metrics=lambda pred: {"per_class": [0.5, 0.25]},
        callbacks=[cb],
    )
    with pytest.raises(
        TypeError, match=r"monitor='eval_per_class'.*single number, got \[0.5, 0.25\]"
    ):
        trainer.train()


# ------------------------------------------------------------------------------------------------
# 4. A resume at an epoch boundary, from a checkpoint written before that epoch's evaluation
# ------------------------------------------------------------------------------------------------


def to_previous_format(ckpt: Path) -> None:
    """Rewrite ``ckpt``'s ``scheduler.pt`` as the previous version wrote it: where the plateau
    was last fed in the adapter's extra ``"fed"`` (``-1``: never), not in the run state."""
    path = ckpt / "scheduler.pt"
    sched = torch.load(path, weights_only=True)
    record = sched["lr_lambdas"][0]["lrplugins"]
    record["adapter"]["fed"] = record.pop("fed", -1)
    torch.save(sched, path)


MISSED = (
    "LRSchedulerCallback(monitor='eval_loss'): the plateau {last} and the run resumes at update "
    "{step}: the checkpoint was written before epoch {epoch}'s evaluation, which the resumed run "
    "does not repeat, so the plateau missed one value and the LR may differ from an uninterrupted "
    "run's. Save checkpoints after the evaluation (save_strategy='epoch' with "
    "eval_strategy='epoch') to avoid it."
)
"""The one wording of the engine, as ``test_lightning_run``'s ``MISSED`` (the adapter's facts)."""


@pytest.mark.parametrize("fmt", ["current", "previous"])
@pytest.mark.parametrize("save_steps", [4, 8])
def test_a_resume_before_the_epochs_evaluation_warns_that_the_plateau_missed_it(
    tmp_path: Path, save_steps: int, fmt: str
) -> None:
    """``save_strategy="steps"`` at the last update of an epoch writes the checkpoint before the
    epoch's evaluation (``eval_strategy="epoch"``), which the resumed Trainer does not run: the
    plateau misses that value, so the LR sequence differs from the uninterrupted run's. The eval
    loss stalls exactly (only a dummy parameter trains), so each evaluation after the first is
    a bad one. A checkpoint of the previous format (``fmt="previous"``) is read alike."""

    def run(path: Path, resume: str | None = None) -> tuple[Any, Applied]:
        cb = LRSchedulerCallback(lrp.constant(), lrp.Plateau(factor=0.5, patience=0), "eval_loss")
        applied = Applied()
        trainer, _ = train(
            path,
            "bert",
            cb,
            resume=resume,
            optimizers=(frozen_sgd(), None),
            eval_dataset=data("bert", 8, 2),
            eval_strategy="epoch",
            save_strategy="steps",
            save_steps=save_steps,
            extra_callbacks=(applied,),
        )
        return trainer, applied

    full, full_applied = run(tmp_path / "full")
    # evaluations at 4 (best), 8 (bad: x0.5 from update 8), 12 (bad)
    assert [full_applied.lrs[k][0] for k in range(12)] == [LR] * 8 + [LR / 2] * 4
    epoch_ends = [e["step"] for e in full.state.log_history if "eval_loss" in e]
    assert epoch_ends == [4, 8, 12]
    ckpt = f"checkpoint-{save_steps}"
    shutil.copytree(tmp_path / "full" / ckpt, tmp_path / "res" / ckpt)
    if fmt == "previous":
        to_previous_format(tmp_path / "res" / ckpt)
    epoch = save_steps // 4
    with pytest.warns(
        UserWarning,
        match=rf"resumes at update {save_steps}.*before epoch {epoch}'s evaluation.*plateau "
        "missed one value",
    ) as record:
        resumed, applied = run(tmp_path / "res", str(tmp_path / "res" / ckpt))
    last = "was never fed" if save_steps == 4 else "was last fed at update 4"
    assert [str(w.message) for w in record if "missed" in str(w.message)] == [
        MISSED.format(last=last, step=save_steps, epoch=epoch)
    ]
    assert [e["step"] for e in resumed.state.log_history if "eval_loss" in e] == [
        s for s in epoch_ends if s != save_steps
    ]  # the evaluation at the resume step is the one that never ran
    # one bad evaluation fewer: no cut at update 8
    assert [applied.lrs[k][0] for k in range(save_steps, 12)] == [LR] * (12 - save_steps)


@pytest.mark.parametrize("fmt", ["current", "previous"])
def test_a_resume_after_the_epochs_evaluation_does_not_warn(tmp_path: Path, fmt: str) -> None:
    """``save_strategy="epoch"`` saves after the evaluation: nothing missed, nothing said (also
    from a checkpoint of the previous format)."""

    def run(path: Path, resume: str | None = None) -> tuple[Any, Applied]:
        cb = LRSchedulerCallback(lrp.constant(), lrp.Plateau(factor=0.5, patience=0), "eval_loss")
        applied = Applied()
        trainer, _ = train(
            path,
            "bert",
            cb,
            resume=resume,
            eval_dataset=data("bert", 8, 2),
            eval_strategy="epoch",
            save_strategy="epoch",
            extra_callbacks=(applied,),
        )
        return trainer, applied

    _, full = run(tmp_path / "full")
    shutil.copytree(tmp_path / "full/checkpoint-4", tmp_path / "res/checkpoint-4")
    if fmt == "previous":
        to_previous_format(tmp_path / "res/checkpoint-4")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _, resumed = run(tmp_path / "res", str(tmp_path / "res/checkpoint-4"))
    assert not [w for w in caught if "missed" in str(w.message)]
    assert [resumed.lrs[k] for k in range(4, 12)] == [full.lrs[k] for k in range(4, 12)]


# ------------------------------------------------------------------------------------------------
# 5. A cooldown asked for while no train() is in progress applies from the next run's first update
# ------------------------------------------------------------------------------------------------

COOL = lrp.cosine(final=0.1)


def cooled(at: int, total: int = 12) -> list[float]:
    s = COOL.bind(total_steps=total).cooldown(at=at, steps=4, shape="linear")
    return [LR * s(k) for k in range(total)]


def test_a_cooldown_before_a_resume_applies_from_its_first_update(tmp_path: Path) -> None:
    """``cb.cooldown(4)`` then ``train(resume_from_checkpoint=...)``: from the resumed update on."""
    train(tmp_path / "a", "bert", LRSchedulerCallback(COOL), save_strategy="steps", save_steps=6)
    shutil.copytree(tmp_path / "a/checkpoint-6", tmp_path / "b/checkpoint-6")
    cb = LRSchedulerCallback(COOL)
    cb.cooldown(4, shape="linear")
    applied = Applied()
    trainer, _ = train(
        tmp_path / "b",
        "bert",
        cb,
        resume=str(tmp_path / "b/checkpoint-6"),
        extra_callbacks=(applied,),
    )
    want = cooled(6)
    assert want[9] < want[6] < LR * COOL.bind(total_steps=12)(5)  # a real cooldown from 6
    assert sorted(applied.lrs) == list(range(6, 12))
    assert_close([applied.lrs[k][0] for k in range(6, 12)], want[6:])
    logged = logged_lrs(trainer)
    assert_close([logged[k] for k in range(6, 12)], want[6:])


def test_a_cooldown_after_train_ended_applies_at_the_next_train(tmp_path: Path) -> None:
    """On the same Trainer: ``train()``, ``cb.cooldown(4)``, then a resume of that run from its
    checkpoint (from update 6), or a new ``train()`` (from update 0)."""
    cb = LRSchedulerCallback(COOL)
    applied = Applied()
    trainer = Trainer(
        model=MODELS["bert"](),
        args=targs(tmp_path, save_strategy="steps", save_steps=6),
        train_dataset=data("bert"),
        callbacks=[applied, cb],
    )
    trainer.train()
    assert_close(
        [applied.lrs[k][0] for k in range(12)],
        [LR * COOL.bind(total_steps=12)(k) for k in range(12)],
    )

    cb.cooldown(4, shape="linear")
    applied.lrs.clear()
    trainer.train(resume_from_checkpoint=str(tmp_path / "checkpoint-6"))
    assert sorted(applied.lrs) == list(range(6, 12))
    assert_close([applied.lrs[k][0] for k in range(6, 12)], cooled(6)[6:])

    cb.cooldown(4, shape="linear")
    applied.lrs.clear()
    trainer.train()
    assert_close([applied.lrs[k][0] for k in range(12)], cooled(0))


def test_a_cooldown_after_train_raised_applies_at_the_next_train(tmp_path: Path) -> None:
    """The Trainer calls no hook when ``train()`` raises; a cooldown asked for afterwards still
    waits for the next ``train()`` (here a new one, from update 0) instead of joining the dead
    run."""
    items = data("bert")

    class Breaks(torch.utils.data.Dataset):
        """Raises while loading the 15th sample, in the middle of update 3."""

        def __init__(self) -> None:
            self.seen = 0

        def __len__(self) -> int:
            return len(items)

        def __getitem__(self, i: int) -> Any:
            self.seen += 1
            if self.seen == 15:
                raise RuntimeError("broken sample")
            return items[i]

    cb = LRSchedulerCallback(COOL)
    broken = Trainer(
        model=MODELS["bert"](), args=targs(tmp_path), train_dataset=Breaks(), callbacks=[cb]
    )
    with pytest.raises(RuntimeError, match="broken sample"):
        broken.train()
    cb.cooldown(4, shape="linear")
    applied = Applied()
    Trainer(
        model=MODELS["bert"](),
        args=targs(tmp_path / "2"),
        train_dataset=data("bert"),
        callbacks=[applied, cb],
    ).train()
    assert_close([applied.lrs[k][0] for k in range(12)], cooled(0))
