"""The Lightning adapter under real use: monitors that can't be fed, training metrics, reuse,
runtime cooldowns and resumes with a new run length.

Same method as ``test_lightning.py``: a tiny model trained by a real ``Trainer``, the LR of every
update recorded by the optimizer itself (``RecordingSGD``), compared with numbers computed here from
a schedule bound by hand.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
from test_lightning import (
    BATCH,
    STALL,
    CountTaken,
    N,
    ResumableLoader,
    Tiny,
    assert_close,
    data,
    loaders,
    trainer,
)

from conftest import require

torch = require("torch")
pl = require("lightning.pytorch")

from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader

import lrplugins as lrp
from lrplugins.lightning import LRSchedulerCallback

pytestmark = pytest.mark.slow


def trace_of(model: Any) -> list[float]:
    return [lrs[0] for lrs in model.trainer.optimizers[0].trace]


# ------------------------------------------------------------------------------------------------
# Monitors that can never be fed, and missing metrics
# ------------------------------------------------------------------------------------------------


def test_a_val_monitor_in_a_run_that_never_validates_is_refused(tmp_path: Path) -> None:
    cb = LRSchedulerCallback(lrp.constant(), lrp.Plateau(), "val_loss")
    with pytest.raises(ValueError, match=r"monitor='val_loss'.*limit_val_batches=0"):
        trainer(tmp_path, [cb], limit_val_batches=0).fit(Tiny(), **loaders(val=True))

    lenient = LRSchedulerCallback(lrp.constant(), lrp.Plateau(), "val_loss", strict=False)
    model = Tiny()
    with pytest.warns(UserWarning, match=r"monitor='val_loss'.*limit_val_batches=0"):
        trainer(tmp_path, [lenient], limit_val_batches=0, max_epochs=1).fit(
            model, **loaders(val=True)
        )
    assert len(model.trainer.optimizers[0].trace) == 8  # it trained


def test_strict_false_warns_once_and_skips_a_missing_metric(tmp_path: Path) -> None:
    cb = LRSchedulerCallback(lrp.constant(), lrp.Plateau(patience=0), "val_acc", strict=False)
    model = Tiny(val_losses=STALL)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer(tmp_path, [cb], num_sanity_val_steps=0).fit(model, **loaders(val=True))
    missing = [w for w in caught if "no such metric" in str(w.message)]
    assert len(missing) == 1 and "['val_loss']" in str(missing[0].message)
    assert trace_of(model) == [0.1] * 24 and cb.plateau.scale == 1.0


class LogsTrainLoss(Tiny):
    """Logs a scripted epoch-level ``train_loss`` (``on_epoch=True``), no validation loss."""

    def __init__(self, losses: list[float]) -> None:
        super().__init__(lr=0.1)
        self.losses = losses

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        loss = super().training_step(batch, batch_idx)
        self.log("train_loss", self.losses[self.current_epoch], on_step=False, on_epoch=True)
        return loss


@pytest.mark.parametrize("val", [False, True], ids=["no_validation", "with_validation"])
def test_a_training_metric_is_fed_the_epoch_that_just_ended(tmp_path: Path, val: bool) -> None:
    losses = [1.0, 0.5, 0.7, 0.4, 0.6, 0.6]  # bad at epochs 2, 4, 5
    cb = LRSchedulerCallback(lrp.constant(), lrp.Plateau(factor=0.5, patience=0), "train_loss")
    model = LogsTrainLoss(losses)
    trainer(tmp_path, [cb], max_epochs=6, num_sanity_val_steps=0).fit(model, **loaders(val=val))
    # fed after each epoch with that epoch's value: the cuts apply from epochs 3, 5 and 6
    scale = [1, 1, 1, 0.5, 0.5, 0.25]
    assert_close(trace_of(model), [0.1 * scale[k // 8] for k in range(48)])
    assert cb.plateau.best == pytest.approx(0.4, rel=1e-7)  # logged as float32
    assert cb.plateau.num_reductions == 3


# ------------------------------------------------------------------------------------------------
# A callback reused for a second fit
# ------------------------------------------------------------------------------------------------


def test_a_reused_callback_starts_fresh(tmp_path: Path) -> None:
    cb = LRSchedulerCallback(
        lrp.cosine(warmup_steps=2), lrp.Plateau(factor=0.5, patience=1), "val_loss"
    )
    first, second = Tiny(lr=0.1, val_losses=STALL), Tiny(lr=0.2, val_losses=STALL)
    trainer(tmp_path, [cb], max_epochs=6).fit(first, **loaders(val=True))
    assert cb.plateau.scale == 0.25
    trainer(tmp_path, [cb], max_epochs=4).fit(second, **loaders(val=True))
    bound = lrp.cosine(total_steps=32, warmup_steps=2)
    scale = [1, 1, 1, 1]  # the second run stalls for 2 epochs only: no cut carried over
    assert_close(trace_of(second), [0.2 * bound(k) * scale[k // 8] for k in range(32)])


def test_a_fresh_fit_after_a_resume_trains_on_the_configured_schedule_again(
    tmp_path: Path,
) -> None:
    """A resume takes the checkpoint's schedule (with a warning); the next fit from scratch with
    the same callback is a new run: the schedule it was given, not the checkpoint's."""
    saved = lrp.linear(final=0.5)
    every = ModelCheckpoint(
        dirpath=tmp_path / "a", every_n_train_steps=1, save_top_k=-1, filename="{step}"
    )
    trainer(
        tmp_path / "a", [LRSchedulerCallback(saved), every], max_epochs=2, enable_checkpointing=True
    ).fit(Tiny(lr=0.1), **loaders())
    cb = LRSchedulerCallback(lrp.cosine(warmup_steps=2))
    resumed, fresh = Tiny(lr=0.1), Tiny(lr=0.2)
    with pytest.warns(UserWarning, match=r"saved with schedule linear.*the checkpoint's is used"):
        trainer(tmp_path / "b", [cb], max_epochs=2).fit(
            resumed, **loaders(), ckpt_path=str(tmp_path / "a/step=4.ckpt")
        )
    assert_close(trace_of(resumed), [0.1 * saved.bind(16)(k) for k in range(4, 16)])
    trainer(tmp_path / "c", [cb], max_epochs=2).fit(fresh, **loaders())
    bound = lrp.cosine(total_steps=16, warmup_steps=2)
    assert_close(trace_of(fresh), [0.2 * bound(k) for k in range(16)])


# ------------------------------------------------------------------------------------------------
# Runtime cooldown and a new run length on resume
# ------------------------------------------------------------------------------------------------


class CoolAt(pl.Callback):
    """Calls ``cb.cooldown(...)`` from another callback, mid-epoch, after update ``at``."""

    def __init__(self, cb: LRSchedulerCallback, at: int, **kwargs: Any) -> None:
        self.cb, self.at, self.kwargs = cb, at, kwargs

    def on_train_batch_end(self, trainer: Any, *args: Any) -> None:
        if trainer.global_step == self.at:
            self.cb.cooldown(**self.kwargs)


def _cooldown_run(tmp_path: Path, ckpt_path: str | None = None, max_epochs: int = 6) -> Any:
    torch.manual_seed(0)
    model = Tiny(lr=0.1, val_losses=STALL)
    cb = LRSchedulerCallback(
        lrp.wsd(warmup_steps=4, final=0.1), lrp.Plateau(factor=0.5, patience=1), "val_loss"
    )
    loader = ResumableLoader(data(), BATCH)
    every = ModelCheckpoint(
        dirpath=tmp_path / "ckpt", every_n_train_steps=1, save_top_k=-1, filename="{step}"
    )
    callbacks = [cb, CountTaken(loader), every, CoolAt(cb, 37, steps=6, shape="linear")]
    t = trainer(
        tmp_path,
        callbacks,
        max_epochs=max_epochs,
        enable_checkpointing=True,
        num_sanity_val_steps=0,
    )
    t.fit(model, loader, DataLoader(data(16), batch_size=BATCH), ckpt_path=ckpt_path)
    return model, cb


def test_cooldown_from_another_callback_applies_at_the_next_update_and_resumes(
    tmp_path: Path,
) -> None:
    model, cb = _cooldown_run(tmp_path / "full")
    trace = trace_of(model)
    bound = lrp.wsd(total_steps=48, warmup_steps=4, final=0.1)
    scale = [1, 1, 1, 1, 0.5, 0.5]  # STALL with patience 1 cuts after epoch 3
    want = [0.1 * bound(k) * scale[k // 8] for k in range(37)]
    in_force = 0.1 * bound(37) * 0.5
    want += [in_force * (1 - p / 6) for p in range(6)] + [0.0] * 5  # linear to 0 over 6 updates
    assert_close(trace, want)
    assert cb.run_state.events[0]["at"] == 37

    # a checkpoint taken mid-cooldown resumes it exactly (weights, data and LR)
    resumed, _ = _cooldown_run(tmp_path / "resumed", str(tmp_path / "full/ckpt/step=41.ckpt"))
    assert trace_of(resumed) == trace[41:]
    for p, q in zip(resumed.parameters(), model.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_resume_with_more_epochs_stretches_the_rest(tmp_path: Path) -> None:
    def run(path: Path, epochs: int, ckpt: str | None = None) -> Any:
        model = Tiny(lr=0.1)
        cb = LRSchedulerCallback(lrp.cosine(warmup_steps=4, final=0.1))
        every = ModelCheckpoint(
            dirpath=path, every_n_train_steps=1, save_top_k=-1, filename="{step}"
        )
        trainer(path, [cb, every], max_epochs=epochs, enable_checkpointing=True).fit(
            model, **loaders(), ckpt_path=ckpt
        )
        return model

    first = run(tmp_path / "a", 3)  # 24 updates
    with pytest.warns(UserWarning, match=r"from 24 to 40 updates.*stretched from update 16"):
        longer = run(tmp_path / "b", 5, str(tmp_path / "a/step=16.ckpt"))
    bound = lrp.cosine(total_steps=24, warmup_steps=4, final=0.1)
    want = [0.1 * bound.stretch(at=16, total_steps=40)(k) for k in range(16, 40)]
    assert_close(trace_of(longer), want)
    assert trace_of(longer)[0] == trace_of(first)[16]  # continuous at the resume step
    assert bound.stretch(at=16, total_steps=40)(40) == pytest.approx(0.1)  # ends on the new total
    # (a total the run has passed never reaches the callback: Lightning's fit loop is done)


def test_a_val_monitor_without_a_val_loader_is_refused(tmp_path: Path) -> None:
    cb = LRSchedulerCallback(lrp.constant(), lrp.Plateau(), "val_loss")
    with pytest.raises(ValueError, match=r"monitor='val_loss'.*no validation dataloader"):
        trainer(tmp_path, [cb]).fit(Tiny(), **loaders(val=False))


def test_nonscalar_metric_is_an_error_naming_the_monitor(tmp_path: Path) -> None:
    class Vector(Tiny):
        def validation_step(self, batch: Any, batch_idx: int) -> None:
            pass

        def on_validation_epoch_end(self) -> None:
            self.trainer.callback_metrics["val_vec"] = torch.ones(3)

    cb = LRSchedulerCallback(lrp.constant(), lrp.Plateau(), "val_vec")
    with pytest.raises(TypeError, match=r"monitor='val_vec'.*single number"):
        trainer(tmp_path, [cb], num_sanity_val_steps=0).fit(Vector(), **loaders(val=True))


_ = nn  # the tiny model's layers come from test_lightning


# ------------------------------------------------------------------------------------------------
# A schedule per parameter group; a backbone unfrozen mid-run gets its own warmup
# ------------------------------------------------------------------------------------------------


class HeadFirst(Tiny):
    """Layer ``b`` is the head (group ``"head"``); layer ``a``, the backbone, starts frozen."""

    def configure_optimizers(self) -> Any:
        from test_lightning import RecordingSGD

        return RecordingSGD([{"params": self.b.parameters(), "lr": 0.1, "name": "head"}], lr=0.1)


class Unfreeze(pl.callbacks.BaseFinetuning):
    """Unfreezes the backbone at epoch 2 as a group named ``"backbone"`` (BaseFinetuning style)."""

    def freeze_before_training(self, pl_module: Any) -> None:
        self.freeze(pl_module.a)

    def finetune_function(self, pl_module: Any, epoch: int, optimizer: Any) -> None:
        if epoch >= 2:  # (on a resume, BaseFinetuning has restored the group: unfreeze only)
            self.make_trainable(pl_module.a)
            if not any(g.get("name") == "backbone" for g in optimizer.param_groups):
                optimizer.add_param_group(
                    {"params": list(pl_module.a.parameters()), "lr": 0.05, "name": "backbone"}
                )


PER_GROUP = {"head": lrp.cosine(final=0.1), "backbone": lrp.linear(warmup_steps=4)}


def _finetune(path: Path, ckpt: str | None = None) -> tuple[Any, Any]:
    torch.manual_seed(0)
    model = HeadFirst()
    cb = LRSchedulerCallback(PER_GROUP)
    monitor = pl.callbacks.LearningRateMonitor(logging_interval="step")
    every = ModelCheckpoint(
        dirpath=path / "ckpt", every_n_train_steps=1, save_top_k=-1, filename="{step}"
    )
    loader = ResumableLoader(data(), BATCH)
    t = trainer(
        path,
        [cb, Unfreeze(), monitor, every, CountTaken(loader)],
        max_epochs=6,
        enable_checkpointing=True,
        logger=pl.loggers.CSVLogger(path, name="logs"),
        log_every_n_steps=1,
    )
    t.fit(model, loader, ckpt_path=ckpt)
    return model, monitor


def test_an_unfrozen_backbone_runs_its_own_schedule_and_resumes_exactly(tmp_path: Path) -> None:
    model, monitor = _finetune(tmp_path / "full")
    trace = model.trainer.optimizers[0].trace
    head, backbone = (
        PER_GROUP["head"].bind(total_steps=48),
        PER_GROUP["backbone"].bind(total_steps=32),
    )
    assert [len(x) for x in trace] == [1] * 16 + [2] * 32
    assert_close([x[0] for x in trace], [0.1 * head(k) for k in range(48)], "head")
    assert_close(
        [x[1] for x in trace[16:]], [0.05 * backbone(k - 16) for k in range(16, 48)], "backbone"
    )
    assert trace[16][1] == 0.0 and trace[20][1] == 0.05  # its own warmup, from its first update
    # LearningRateMonitor shows each group under its name, with the applied values
    assert monitor.lrs["lr-RecordingSGD/backbone"][-1] == trace[-1][1]
    assert monitor.lrs["lr-RecordingSGD/head"][-1] == trace[-1][0]

    # a crash after the join: the same LR sequence for both groups. (The weights differ here even
    # with a constant LR and no lrplugins callback: BaseFinetuning restores the unfrozen group's
    # parameters in another state; checked by hand, so only the LR is compared.)
    resumed, _ = _finetune(tmp_path / "after", str(tmp_path / "full/ckpt/step=21.ckpt"))
    assert resumed.trainer.optimizers[0].trace == trace[21:]
    # a crash before the join: the join happens in the resumed run, identically, weights included
    resumed, _ = _finetune(tmp_path / "before", str(tmp_path / "full/ckpt/step=12.ckpt"))
    assert resumed.trainer.optimizers[0].trace == trace[12:]
    for p, q in zip(resumed.parameters(), model.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


# ------------------------------------------------------------------------------------------------
# Momentum and weight decay
# ------------------------------------------------------------------------------------------------


def test_momentum_and_weight_decay_are_applied_and_logged(tmp_path: Path) -> None:
    seen: list[tuple[float, float, float]] = []

    class WithMomentum(Tiny):
        def configure_optimizers(self) -> Any:
            opt = torch.optim.SGD(self.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
            opt.register_step_pre_hook(
                lambda o, *_: seen.append(
                    tuple(float(o.param_groups[0][k]) for k in ("lr", "momentum", "weight_decay"))
                )
            )
            return opt

    m, wd = lrp.linear(final=0.5), lrp.constant(warmup_steps=8)
    cb = LRSchedulerCallback(lrp.cosine(), momentum=m, weight_decay=wd)
    monitor = pl.callbacks.LearningRateMonitor(
        logging_interval="step", log_momentum=True, log_weight_decay=True
    )
    logger = pl.loggers.CSVLogger(tmp_path, name="logs")
    trainer(tmp_path, [monitor, cb], logger=logger, log_every_n_steps=1).fit(
        WithMomentum(), **loaders()
    )
    bm, bwd, lr = m.bind(total_steps=24), wd.bind(total_steps=24), lrp.cosine(total_steps=24)
    assert_close([x[0] for x in seen], [0.1 * lr(k) for k in range(24)], "lr")
    assert_close([x[1] for x in seen], [0.9 * bm(k) for k in range(24)], "momentum")
    assert_close([x[2] for x in seen], [0.01 * bwd(k) for k in range(24)], "weight_decay")
    assert monitor.last_momentum_values["lr-SGD-momentum"] == pytest.approx(seen[-1][1])
    assert monitor.last_weight_decay_values["lr-SGD-weight_decay"] == pytest.approx(seen[-1][2])


def test_an_optimizer_without_momentum_is_refused(tmp_path: Path) -> None:
    class Adagrad(Tiny):
        def configure_optimizers(self) -> Any:
            return torch.optim.Adagrad(self.parameters(), lr=0.1)

    cb = LRSchedulerCallback(lrp.constant(), momentum=lrp.linear())
    with pytest.raises(ValueError, match=r"has no momentum hyperparameter"):
        trainer(tmp_path, [cb]).fit(Adagrad(), **loaders())


# ------------------------------------------------------------------------------------------------
# Resume without this callback's state, other LR owners, changing accumulation, interruptions
# ------------------------------------------------------------------------------------------------


class WithInitialLR(Tiny):
    def configure_optimizers(self) -> Any:
        from test_lightning import RecordingSGD

        return RecordingSGD([{"params": self.parameters(), "lr": 0.1, "initial_lr": 0.1}], lr=0.1)


def test_a_resume_without_this_callbacks_state_never_schedules_the_lr_twice(tmp_path: Path) -> None:
    for model, path in ((Tiny(), tmp_path / "plain"), (WithInitialLR(), tmp_path / "initial")):
        ckpt = ModelCheckpoint(dirpath=path, save_last=True)
        first = LRSchedulerCallback(lrp.linear(), name="a")
        trainer(path, [first, ckpt], enable_checkpointing=True, max_epochs=1).fit(
            model, **loaders()
        )
    renamed = LRSchedulerCallback(lrp.linear(), name="b")  # another state key: nothing restored
    with pytest.raises(Exception, match=r"holds no state of this callback.*initial_lr"):
        trainer(tmp_path, [renamed], max_epochs=2).fit(
            Tiny(), **loaders(), ckpt_path=str(tmp_path / "plain/last.ckpt")
        )
    model = WithInitialLR()  # the groups carry their base LR: it is used, with a warning
    with pytest.warns(UserWarning, match=r"the base LRs are the groups' initial_lr"):
        trainer(tmp_path, [LRSchedulerCallback(lrp.linear(), name="c")], max_epochs=2).fit(
            model, **loaders(), ckpt_path=str(tmp_path / "initial/last.ckpt")
        )
    bound = lrp.linear(total_steps=16)
    assert_close(trace_of(model), [0.1 * bound(k) for k in range(8, 16)])


def test_stochastic_weight_averaging_is_refused(tmp_path: Path) -> None:
    swa = pl.callbacks.StochasticWeightAveraging(swa_lrs=0.05)
    with pytest.raises(Exception, match=r"StochasticWeightAveraging sets the learning rate too"):
        trainer(tmp_path, [LRSchedulerCallback(lrp.cosine()), swa]).fit(Tiny(), **loaders())


def test_a_gradient_accumulation_scheduler_binds_the_true_number_of_updates(tmp_path: Path) -> None:
    model = Tiny()
    cb = LRSchedulerCallback(lrp.cosine(warmup_steps=2))
    accumulate = pl.callbacks.GradientAccumulationScheduler(scheduling={0: 1, 1: 2})
    trainer(tmp_path, [cb, accumulate]).fit(model, **loaders())
    bound = lrp.cosine(total_steps=16, warmup_steps=2)  # 8 + 4 + 4 updates
    assert cb.bound_schedule == lrp.cosine(total_steps=16, warmup_steps=2, steps_per_epoch=8)
    assert_close(trace_of(model), [0.1 * bound(k) for k in range(16)])


def test_an_interrupted_fit_leaves_the_callback_inert(tmp_path: Path) -> None:
    class Crashes(Tiny):
        def training_step(self, batch: Any, batch_idx: int) -> Any:
            if self.global_step == 5:
                raise RuntimeError("crash")
            return super().training_step(batch, batch_idx)

    model = Crashes(val_losses=STALL)
    cb = LRSchedulerCallback(lrp.constant(), lrp.Plateau(patience=0), "val_loss")
    t = trainer(tmp_path, [cb])
    with pytest.raises(RuntimeError, match="crash"):
        t.fit(model, **loaders(val=True))
    lr = model.trainer.optimizers[0].param_groups[0]["lr"]
    t.validate(model, DataLoader(data(16), batch_size=BATCH))
    assert cb.plateau.num_bad == 0 and cb.plateau.best is None
    assert model.trainer.optimizers[0].param_groups[0]["lr"] == lr


def to_previous_format(ckpt: Path) -> None:
    """Rewrite the callbacks' states in ``ckpt`` as the previous version wrote them: the epoch the
    plateau was last fed in the adapter's extra ``"fed_epoch"`` (``-1``: never), not in the run
    state, and no ``"fed_in"`` / ``"metric"`` extras (the current version's ``fed`` counts
    training batches: a validation at an epoch's end, here after ``8 * (epoch + 1)`` of them)."""
    saved = torch.load(ckpt, weights_only=True)
    for state in saved["callbacks"].values():
        if state.get("format") == "lrplugins.run/1":
            fed = state.pop("fed", None)
            assert state["adapter"].pop("fed_in") == "batches"
            state["adapter"].pop("metric")
            state["adapter"]["fed_epoch"] = -1 if fed is None else fed // (N // BATCH) - 1
    torch.save(saved, ckpt)


MISSED = (
    "LRSchedulerCallback(monitor='val_loss'): the plateau was last fed at training batch 8 and "
    "the run resumes at training batch 16: the checkpoint was written before epoch 1's "
    "validation (after its last batch), which the resumed run does not repeat, so the plateau "
    "missed one value and the LR may differ from an uninterrupted run's. Save checkpoints after "
    "validation (ModelCheckpoint(save_on_train_epoch_end=False)) to avoid it."
)
"""The one wording of the engine, as ``test_huggingface_edges``'s ``MISSED`` (the adapter's
facts: training batches done, since Lightning validates between batches; its setting). A state of
the previous format, whose ``fed`` is an epoch, is read as fed at that epoch's end."""


@pytest.mark.parametrize("fmt", ["current", "previous"])
def test_a_resume_that_skipped_an_evaluation_says_the_plateau_missed_a_value(
    tmp_path: Path, fmt: str
) -> None:
    """A checkpoint of the previous format (``fmt="previous"``) is read alike."""

    def run(path: Path, ckpt: str | None = None) -> None:
        every = ModelCheckpoint(
            dirpath=path, every_n_train_steps=1, save_top_k=-1, filename="{step}"
        )
        cb = LRSchedulerCallback(lrp.constant(), lrp.Plateau(patience=1), "val_loss")
        trainer(path, [cb, every], max_epochs=4, enable_checkpointing=True).fit(
            Tiny(val_losses=STALL), **loaders(val=True), ckpt_path=ckpt
        )

    run(tmp_path / "a")
    if fmt == "previous":
        to_previous_format(tmp_path / "a/step=16.ckpt")
        to_previous_format(tmp_path / "a/step=20.ckpt")
    # step 16 is written at epoch 1's last batch, before its validation: Lightning skips it
    with pytest.warns(
        UserWarning, match=r"last fed at training batch 8 and the run resumes at training batch 16"
    ) as record:
        run(tmp_path / "b", str(tmp_path / "a/step=16.ckpt"))
    assert [str(w.message) for w in record if "missed" in str(w.message)] == [MISSED]
    with warnings.catch_warnings():  # a mid-epoch checkpoint misses nothing
        warnings.filterwarnings("error", message=".*plateau missed one value")
        run(tmp_path / "c", str(tmp_path / "a/step=20.ckpt"))
