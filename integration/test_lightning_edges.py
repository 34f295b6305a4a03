"""The Lightning adapter at the edges users hit: evaluation cadences, other LR owners next to it
(Lightning's range test, ``BackboneFinetuning``), the ``pytorch_lightning`` package name, logging
at a group's join update, "train more" on the same Trainer, cooldowns across runs and optimizers.

Same method as ``test_lightning.py``: a tiny model trained by a real ``Trainer``; the LR of every
update is recorded by the optimizer itself (``RecordingSGD``) and compared with numbers computed
here, from a schedule bound by hand or from torch's own scheduler.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
from test_lightning import (
    BATCH,
    STALL,
    RecordingSGD,
    Tiny,
    assert_close,
    data,
    loaders,
    trainer,
)
from test_lightning_run import PER_GROUP, HeadFirst, Unfreeze

from conftest import require

torch = require("torch")
pl = require("lightning.pytorch")

from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader

import lrplugins as lrp
from lrplugins.lightning import LRSchedulerCallback

pytestmark = pytest.mark.slow


def trace_of(model: Any) -> list[float]:
    return [lrs[0] for lrs in model.trainer.optimizers[0].trace]


class RecordVal(pl.Callback):
    """Records the monitored value of every real validation (not the sanity check)."""

    def __init__(self, monitor: str = "val_loss") -> None:
        self.monitor = monitor
        self.values: list[tuple[int, float]] = []  # (epoch, value)

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if not trainer.sanity_checking:
            value = float(trainer.callback_metrics[self.monitor])
            self.values.append((trainer.current_epoch, value))


# ------------------------------------------------------------------------------------------------
# 1. A validation metric under check_val_every_n_epoch
# ------------------------------------------------------------------------------------------------


def test_a_val_plateau_is_fed_only_on_epochs_that_validated(tmp_path: Path) -> None:
    losses = [1.0, 0.5] + [0.5] * 10  # only odd epochs validate (check_val_every_n_epoch=2)
    cb = LRSchedulerCallback(lrp.constant(), lrp.Plateau(factor=0.5, patience=1), "val_loss")
    record = RecordVal()
    model = Tiny(lr=0.1, val_losses=losses)
    trainer(
        tmp_path, [cb, record], max_epochs=10, check_val_every_n_epoch=2, num_sanity_val_steps=0
    ).fit(model, **loaders(val=True))
    assert [e for e, _ in record.values] == [1, 3, 5, 7, 9]

    # torch's ReduceLROnPlateau fed the real validations only: its LR after the validations of
    # the epochs before epoch e is the LR of every update of epoch e
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.1)
    reference = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1)
    per_epoch = []
    for epoch in range(10):
        per_epoch.append(opt.param_groups[0]["lr"])
        for e, value in record.values:
            if e == epoch:
                reference.step(value)
    assert per_epoch == [0.1] * 6 + [0.05] * 4  # (the 3rd bad validation in a row cuts)
    assert_close(trace_of(model), [per_epoch[k // 8] for k in range(80)])


# ------------------------------------------------------------------------------------------------
# 3. A resume that skipped the first epoch's validation
# ------------------------------------------------------------------------------------------------


def test_a_resume_that_skipped_the_first_validation_says_the_plateau_missed_it(
    tmp_path: Path,
) -> None:
    def run(path: Path, ckpt: str | None = None) -> None:
        every = ModelCheckpoint(
            dirpath=path, every_n_train_steps=1, save_top_k=-1, filename="{step}"
        )
        cb = LRSchedulerCallback(lrp.constant(), lrp.Plateau(patience=1), "val_loss")
        trainer(path, [cb, every], max_epochs=2, enable_checkpointing=True).fit(
            Tiny(val_losses=STALL), **loaders(val=True), ckpt_path=ckpt
        )

    run(tmp_path / "a")
    # step 8 is written at epoch 0's last batch, before its validation: Lightning skips it
    with pytest.warns(
        UserWarning,
        match=r"never fed and the run resumes at training batch 8: the checkpoint was written before "
        r"epoch 0's validation \(after its last batch\).*missed one value",
    ):
        run(tmp_path / "b", str(tmp_path / "a/step=8.ckpt"))
    with warnings.catch_warnings():  # a mid-epoch checkpoint of the first epoch misses nothing
        warnings.filterwarnings("error", message=".*plateau missed one value")
        run(tmp_path / "c", str(tmp_path / "a/step=4.ckpt"))


# ------------------------------------------------------------------------------------------------
# 4. Lightning's own range test next to the callback
# ------------------------------------------------------------------------------------------------


def _finder_resets_the_fit() -> bool:
    import inspect

    from lightning.pytorch.tuner import lr_finder

    return "setup_data()" in inspect.getsource(lr_finder)


_FINDER_RESETS_THE_FIT = _finder_resets_the_fit()


@pytest.mark.parametrize("how", ["callback", "tuner"])
def test_lightnings_lr_finder_next_to_the_callback(tmp_path: Path, how: str) -> None:
    from lightning.pytorch.callbacks import LearningRateFinder
    from lightning.pytorch.tuner import Tuner

    schedule = lrp.cosine(warmup_steps=2, final=0.1)
    plain = Tiny(lr=0.1)
    trainer(tmp_path / "plain", [LRSchedulerCallback(schedule)]).fit(plain, **loaders())

    torch.manual_seed(0)
    model = Tiny(lr=0.1)
    cb = LRSchedulerCallback(schedule)
    if how == "callback":  # the sweep runs inside fit(), from on_fit_start
        finder = LearningRateFinder(num_training_steps=20, early_stop_threshold=None)
        trainer(tmp_path / "tuned", [finder, cb]).fit(model, **loaders())
    else:  # the sweep runs in its own fit() before the real one, on the same Trainer
        t = trainer(tmp_path / "tuned", [cb])
        Tuner(t).lr_find(model, **loaders(), num_training=20, early_stop_threshold=None)
        t.fit(model, **loaders())
    chosen = model.lr  # the finder wrote its suggestion to the module's lr
    assert chosen != 0.1
    assert cb.bound_schedule == schedule.bind(total_steps=24, steps_per_epoch=8)
    if how == "callback" and not _FINDER_RESETS_THE_FIT:
        # Lightning < 2.6's LearningRateFinder callback neither rebuilds the optimizer with its
        # suggestion nor resets the fit loop's data after its sweep (the real fit then runs 20 of
        # its 24 updates at the configured LR): the callback follows what Lightning trains
        real = trace_of(model)[20:]  # after the sweep's 20 updates
        assert 0 < len(real) <= 24
        assert_close(real, trace_of(plain)[: len(real)])
        return
    real = trace_of(model)[
        -24:
    ]  # (the sweep's own updates come first when it shares the optimizer)
    assert_close(real, [chosen * lr / 0.1 for lr in trace_of(plain)])


# ------------------------------------------------------------------------------------------------
# 5. The older package name, pytorch_lightning
# ------------------------------------------------------------------------------------------------


def test_the_pytorch_lightning_package_drives_the_callback(tmp_path: Path) -> None:
    ptl = require("pytorch_lightning")

    class Old(ptl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Linear(4, 1)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            x, y = batch
            return nn.functional.mse_loss(self.a(x), y)

        def validation_step(self, batch: Any, batch_idx: int) -> None:
            scripted = 0.0 if self.trainer.sanity_checking else STALL[self.current_epoch]
            self.log("val_loss", scripted)

        def configure_optimizers(self) -> Any:
            return RecordingSGD(self.parameters(), lr=0.1)

    def run(path: Path, ckpt: str | None = None) -> tuple[Any, Any]:
        model = Old()
        cb = LRSchedulerCallback(
            lrp.cosine(warmup_steps=2), lrp.Plateau(factor=0.5, patience=1), "val_loss"
        )
        assert isinstance(cb, ptl.Callback)  # for LightningCLI's class_path checks
        monitor = ptl.callbacks.LearningRateMonitor(logging_interval="step")
        every = ptl.callbacks.ModelCheckpoint(
            dirpath=path, every_n_train_steps=1, save_top_k=-1, filename="{step}"
        )
        t = ptl.Trainer(
            callbacks=[cb, monitor, every],
            max_epochs=6,
            logger=ptl.loggers.CSVLogger(path, name="logs"),
            log_every_n_steps=1,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=path,
        )
        t.fit(model, **loaders(val=True), ckpt_path=ckpt)
        return model, monitor

    model, monitor = run(tmp_path / "a")
    bound = lrp.cosine(total_steps=48, warmup_steps=2)
    scale = [1, 1, 1, 1, 0.5, 0.5]  # STALL, patience 1
    trace = trace_of(model)
    assert_close(trace, [0.1 * bound(k) * scale[k // 8] for k in range(48)])
    assert monitor.lrs["lr-RecordingSGD"] == pytest.approx(trace, rel=1e-6)
    resumed, _ = run(tmp_path / "b", str(tmp_path / "a/step=27.ckpt"))
    assert trace_of(resumed) == trace[27:]

    with pytest.raises(Exception, match=r"StochasticWeightAveraging sets the learning rate too"):
        ptl.Trainer(
            callbacks=[
                LRSchedulerCallback(lrp.cosine()),
                ptl.callbacks.StochasticWeightAveraging(0.05),
            ],
            max_epochs=1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            default_root_dir=tmp_path,
        ).fit(Old(), **loaders())


# ------------------------------------------------------------------------------------------------
# 6. BackboneFinetuning writes the backbone's LR every epoch: refused
# ------------------------------------------------------------------------------------------------


def test_backbone_finetuning_is_refused_naming_what_to_do_instead(tmp_path: Path) -> None:
    class WithBackbone(Tiny):
        @property
        def backbone(self) -> Any:
            return self.a

    finetune = pl.callbacks.BackboneFinetuning(unfreeze_backbone_at_epoch=1)
    with pytest.raises(
        Exception, match=r"BackboneFinetuning sets the backbone's learning rate.*'backbone'"
    ):
        trainer(tmp_path, [LRSchedulerCallback(lrp.cosine()), finetune]).fit(
            WithBackbone(), **loaders()
        )


# ------------------------------------------------------------------------------------------------
# 7. LearningRateMonitor at a group's join update
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["callback_first", "monitor_first"])
def test_lr_monitor_logs_the_applied_lr_from_a_groups_join_update(
    tmp_path: Path, order: str
) -> None:
    model = HeadFirst()
    cb = LRSchedulerCallback(PER_GROUP)
    monitor = LearningRateMonitor(logging_interval="step")
    callbacks = (
        [cb, Unfreeze(), monitor] if order == "callback_first" else [monitor, Unfreeze(), cb]
    )
    trainer(
        tmp_path,
        callbacks,
        max_epochs=4,
        logger=pl.loggers.CSVLogger(tmp_path, name="logs"),
        log_every_n_steps=1,
    ).fit(model, DataLoader(data(), batch_size=BATCH))
    trace = model.trainer.optimizers[0].trace
    applied = [x[1] for x in trace[16:]]  # the backbone joins at update 16 (epoch 2)
    assert applied[0] == 0.0  # the first update of its warmup
    assert monitor.lrs["lr-RecordingSGD/backbone"] == applied
    assert monitor.lrs["lr-RecordingSGD/head"] == [x[0] for x in trace]


# ------------------------------------------------------------------------------------------------
# 2. "Train more" on the same Trainer: fit, raise max_epochs, fit again (no checkpoint)
# ------------------------------------------------------------------------------------------------


def _train_more(path: Path, schedule: Any) -> list[float]:
    model = Tiny(lr=0.1)
    t = trainer(path, [LRSchedulerCallback(schedule)], max_epochs=3)
    t.fit(model, **loaders())
    first = trace_of(model)  # (the second fit builds its optimizer again)
    t.fit_loop.max_epochs = 5
    t.fit(model, **loaders())
    assert t.global_step == 40
    return first + trace_of(model)


def test_train_more_on_the_same_trainer_continues_the_run(tmp_path: Path) -> None:
    # a schedule with its own length: the second fit continues it, as one 40-update run
    own = lrp.cosine(total_steps=40, warmup_steps=2, final=0.1)
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*(run length changed|holds no state).*")
        trace = _train_more(tmp_path / "own", own)
    assert_close(trace, [0.1 * own(k) for k in range(40)])

    # bound for the first fit's 24 updates, the schedule has ended: it holds its final value
    schedule = lrp.cosine(warmup_steps=2, final=0.1)
    with pytest.warns(UserWarning, match=r"from 24 to 40 updates.*holds its final value"):
        trace = _train_more(tmp_path / "ended", schedule)
    bound = schedule.bind(total_steps=24)
    assert_close(trace, [0.1 * bound(k) for k in range(40)])
    assert trace[24:] == [trace[24]] * 16 and trace[24] == pytest.approx(0.1 * 0.1)  # held


# ------------------------------------------------------------------------------------------------
# 8. Two optimizers under one callback: a runtime cooldown starts at each one's next update
# ------------------------------------------------------------------------------------------------


class SlowSecond(Tiny):
    """Manual optimization: optimizer 0 steps at every batch, optimizer 1 at every other one."""

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        x, y = batch
        loss = nn.functional.mse_loss(self(x), y)
        opt0, opt1 = self.optimizers()
        opt0.zero_grad()
        opt1.zero_grad()
        self.manual_backward(loss)
        opt0.step()
        if batch_idx % 2 == 1:
            opt1.step()
        return loss


class CoolAfterBatches(pl.Callback):
    def __init__(self, cb: LRSchedulerCallback, batches: int, **kwargs: Any) -> None:
        self.cb, self.batches, self.kwargs = cb, batches, kwargs

    def on_train_batch_end(self, trainer: Any, *args: Any) -> None:
        if trainer.fit_loop.total_batch_idx + 1 == self.batches:
            self.cb.cooldown(**self.kwargs)


def test_a_cooldown_starts_at_each_optimizers_own_next_update(tmp_path: Path) -> None:
    model = SlowSecond(lr=0.1, lr2=0.02, manual=True)
    schedule = lrp.linear(final=0.5)
    cb = LRSchedulerCallback(schedule)
    cool = CoolAfterBatches(cb, 10, steps=4, shape="linear")
    trainer(tmp_path, [cb, cool]).fit(model, **loaders())
    bound = schedule.bind(total_steps=24)  # manual optimization: one update per batch

    def want(base: float, n: int, at: int) -> list[float]:
        before = [base * bound(k) for k in range(at)]
        return before + [base * bound(at) * max(1 - p / 4, 0.0) for p in range(n - at)]

    opt0, opt1 = model.trainer.optimizers
    assert_close([x[0] for x in opt0.trace], want(0.1, 24, 10), "optimizer 0")  # 10 updates done
    assert_close([x[0] for x in opt1.trace], want(0.02, 12, 5), "optimizer 1")  # 5 updates done

    # the same cooldown asked for before resuming from a checkpoint written after batch 10
    every = ModelCheckpoint(
        dirpath=tmp_path / "ckpt", every_n_train_steps=1, save_top_k=-1, filename="{step}"
    )
    trainer(tmp_path, [LRSchedulerCallback(schedule), every], enable_checkpointing=True).fit(
        SlowSecond(lr=0.1, lr2=0.02, manual=True), **loaders()
    )
    cb = LRSchedulerCallback(schedule)
    cb.cooldown(steps=4, shape="linear")
    model = SlowSecond(lr=0.1, lr2=0.02, manual=True)
    after_10 = str(tmp_path / "ckpt/step=15.ckpt")  # global_step: 10 + 5 updates
    trainer(tmp_path, [cb]).fit(model, **loaders(), ckpt_path=after_10)
    opt0, opt1 = model.trainer.optimizers
    assert_close([x[0] for x in opt0.trace], want(0.1, 24, 10)[10:], "optimizer 0, resumed")
    assert_close([x[0] for x in opt1.trace], want(0.02, 12, 5)[5:], "optimizer 1, resumed")


# ------------------------------------------------------------------------------------------------
# 9. A cooldown asked for while no run is in progress waits for the next one
# ------------------------------------------------------------------------------------------------


def _checkpointed(path: Path, cb: LRSchedulerCallback, ckpt: str | None = None, **kw: Any) -> Any:
    model = Tiny(lr=0.1, val_losses=STALL)
    every = ModelCheckpoint(dirpath=path, every_n_train_steps=1, save_top_k=-1, filename="{step}")
    callbacks = [cb, every, *kw.pop("callbacks", [])]
    trainer(
        path, callbacks, max_epochs=4, enable_checkpointing=True, num_sanity_val_steps=0, **kw
    ).fit(model, **loaders(val=True), ckpt_path=ckpt)
    return model


def _plateau_cb() -> LRSchedulerCallback:
    return LRSchedulerCallback(
        lrp.cosine(warmup_steps=2, final=0.1), lrp.Plateau(factor=0.5, patience=0), "val_loss"
    )


def test_a_cooldown_before_fit_from_a_checkpoint_starts_at_its_first_update(
    tmp_path: Path,
) -> None:
    full = trace_of(_checkpointed(tmp_path / "a", _plateau_cb()))
    assert full[30] < 0.1 * lrp.cosine(total_steps=32, warmup_steps=2, final=0.1)(30)  # a cut
    cb = _plateau_cb()
    cb.cooldown(8, shape="linear")  # "cool down from this checkpoint"
    resumed = trace_of(_checkpointed(tmp_path / "b", cb, str(tmp_path / "a/step=26.ckpt")))
    assert_close(resumed, [full[26] * (1 - p / 8) for p in range(6)])


class CoolAtTrainStart(pl.Callback):
    def __init__(self, cb: LRSchedulerCallback) -> None:
        self.cb = cb

    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self.cb.cooldown(8, shape="linear", final=0.5)


@pytest.mark.parametrize("order", ["before", "after"])
def test_a_cooldown_from_another_callbacks_train_start_whatever_the_order(
    tmp_path: Path, order: str
) -> None:
    model = Tiny(lr=0.1)
    cb = LRSchedulerCallback(lrp.constant())
    other = CoolAtTrainStart(cb)
    trainer(tmp_path, [other, cb] if order == "before" else [cb, other], max_epochs=2).fit(
        model, **loaders()
    )
    assert_close(trace_of(model), [0.1 * (0.5 + 0.5 * max(1 - p / 8, 0)) for p in range(16)])


def test_a_cooldown_after_a_fit_ended_applies_at_the_next_fit(tmp_path: Path) -> None:
    def cooled(p: int) -> float:
        return 0.5 + 0.5 * max(1 - p / 8, 0)

    cb = LRSchedulerCallback(lrp.constant())
    every = ModelCheckpoint(
        dirpath=tmp_path, every_n_train_steps=1, save_top_k=-1, filename="{step}"
    )
    trainer(tmp_path, [cb, every], max_epochs=2, enable_checkpointing=True).fit(Tiny(), **loaders())
    # a resume, by the same callback, from a checkpoint of its first fit (whose state differs
    # from the callback's own at its end only by the update it was written at)
    cb.cooldown(8, shape="linear", final=0.5)
    model = Tiny(lr=0.1)
    trainer(tmp_path, [cb], max_epochs=2).fit(
        model, **loaders(), ckpt_path=str(tmp_path / "step=4.ckpt")
    )
    assert_close(trace_of(model), [0.1 * cooled(p) for p in range(12)])
    # a new fit: fresh
    cb.cooldown(8, shape="linear", final=0.5)
    model = Tiny(lr=0.2)
    trainer(tmp_path, [cb], max_epochs=2).fit(model, **loaders())
    assert_close(trace_of(model), [0.2 * cooled(p) for p in range(16)])


def test_a_foreign_resume_of_several_manual_optimizers_is_refused(tmp_path: Path) -> None:
    """Without this callback's state, how many of the global steps each optimizer took is not
    known: the resume is refused (before, it started fresh from the restored, already scheduled
    LRs, scheduling them twice)."""
    ckpt = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    first = LRSchedulerCallback(lrp.linear(), name="a")
    trainer(tmp_path, [first, ckpt], enable_checkpointing=True, max_epochs=1).fit(
        Tiny(lr=0.1, lr2=0.02, manual=True), **loaders()
    )
    renamed = LRSchedulerCallback(lrp.linear(), name="b")
    with pytest.raises(Exception, match=r"update 16 .*manual optimization.*each optimizer took"):
        trainer(tmp_path, [renamed], max_epochs=2).fit(
            Tiny(lr=0.1, lr2=0.02, manual=True),
            **loaders(),
            ckpt_path=str(tmp_path / "last.ckpt"),
        )


# ------------------------------------------------------------------------------------------------
# Manual optimization, several optimizers, max_steps
# ------------------------------------------------------------------------------------------------


def test_max_steps_with_several_manual_optimizers_needs_each_schedules_total(
    tmp_path: Path,
) -> None:
    """``global_step`` (and so ``max_steps``) counts every optimizer's updates: ``max_steps=16``
    with two optimizers stepped once per batch is 8 updates each, and an optimizer may step more
    often. Bound to 16, each cosine would stop halfway: refused, naming what to pass instead."""

    def fit(schedule: lrp.Schedule, **kw: Any) -> Any:
        model = Tiny(lr=0.1, lr2=0.02, manual=True)
        cbs = [
            LRSchedulerCallback(schedule, optimizers=0, name="a"),
            LRSchedulerCallback(schedule, optimizers=1, name="b"),
        ]
        trainer(tmp_path, cbs, **kw).fit(model, **loaders())
        return [[x[0] for x in opt.trace] for opt in model.trainer.optimizers]

    with pytest.raises(
        lrp.UnboundScheduleError,
        match=r"Trainer\(max_steps=16\) counts the updates of all 2 optimizers of this manual "
        r"optimization \(Lightning's global_step\), so how many of them optimizer 0 takes is not "
        r"known: pass total_steps= to the schedule of each callback \(e\.g\. max_steps // 2 when "
        r"every optimizer steps once per batch\), or end the run with max_epochs instead\.",
    ):
        fit(lrp.cosine(final=0.0), max_steps=16, max_epochs=-1)

    own = lrp.cosine(total_steps=8, final=0.0)  # each optimizer's own total: to the end
    first, second = fit(own, max_steps=16, max_epochs=-1)
    assert_close(first, [0.1 * own(k) for k in range(8)])
    assert_close(second, [0.02 * own(k) for k in range(8)])

    # a max_steps the epochs reach first (2 epochs of 8 batches, 2 updates each) changes nothing
    cosine = lrp.cosine(final=0.0)
    first, second = fit(cosine, max_steps=32, max_epochs=2)
    assert_close(first, [0.1 * cosine.bind(total_steps=16)(k) for k in range(16)])
    assert_close(second, [0.02 * cosine.bind(total_steps=16)(k) for k in range(16)])
