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
    with pytest.warns(UserWarning, match=r"never fed.*resumes in epoch 1.*missed one value"):
        run(tmp_path / "b", str(tmp_path / "a/step=8.ckpt"))
    with warnings.catch_warnings():  # a mid-epoch checkpoint of the first epoch misses nothing
        warnings.filterwarnings("error", message=".*plateau missed one value")
        run(tmp_path / "c", str(tmp_path / "a/step=4.ckpt"))


# ------------------------------------------------------------------------------------------------
# 4. Lightning's own range test next to the callback
# ------------------------------------------------------------------------------------------------


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
    real = trace_of(model)[
        -24:
    ]  # (the sweep's own updates come first when it shares the optimizer)
    assert_close(real, [chosen * lr / 0.1 for lr in trace_of(plain)])
    assert cb.bound_schedule == schedule.bind(total_steps=24, steps_per_epoch=8)


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
