"""A resume that skipped an evaluation: Lightning does not run again the validation (or the
training epoch's end) due right after the batch a checkpoint was written at, so the plateau misses
that value. Every resume either continues the uninterrupted run's LRs exactly or says so, once.

Each case trains a tiny model with a checkpoint after every update, then resumes from each of them
(but the last) and compares the LR every update applied (read in an optimizer step pre-hook) with
the uninterrupted run's. The monitored value never improves and ``Plateau(patience=0)`` cuts the
LR at every value after the first, so a missed value always changes the LRs that follow.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest

from conftest import require

torch = require("torch")
pl = require("lightning.pytorch")

from lightning.pytorch.callbacks import ModelCheckpoint
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import lrplugins as lrp
from lrplugins.lightning import LRSchedulerCallback

pytestmark = pytest.mark.slow

BATCHES = 6  # training batches per epoch
MISSED = "plateau missed one value"


class Probe(pl.LightningModule):
    """Logs ``metric`` (always 1.0) in ``validation_step`` or, with ``where="training"``, once per
    training epoch; records the LR of every update in a step pre-hook."""

    def __init__(self, metric: str = "val_loss", where: str = "validation") -> None:
        super().__init__()
        self.net = nn.Linear(4, 1)
        self.metric, self.where = metric, where
        self.applied: list[float] = []

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        if self.where == "training":
            self.log(self.metric, 1.0, on_step=False, on_epoch=True)
        return nn.functional.mse_loss(self.net(batch[0]), batch[1])

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        if self.where == "validation":
            self.log(self.metric, torch.tensor(1.0))

    def configure_optimizers(self) -> Any:
        opt = torch.optim.SGD(self.parameters(), lr=0.1)
        opt.register_step_pre_hook(lambda o, a, k: self.applied.append(o.param_groups[0]["lr"]))
        return opt


def loader(n: int) -> DataLoader:
    g = torch.Generator().manual_seed(0)
    return DataLoader(
        TensorDataset(torch.randn(n, 4, generator=g), torch.randn(n, 1, generator=g)), batch_size=8
    )


def fit(model: Probe, path: Path, callbacks: list[Any], ckpt: str | None, **kw: Any) -> None:
    data = {"train_dataloaders": loader(8 * BATCHES)}
    if model.where == "validation":
        data["val_dataloaders"] = loader(16)
    cb = LRSchedulerCallback(lrp.constant(), lrp.Plateau(factor=0.5, patience=0), model.metric)
    pl.Trainer(
        callbacks=[cb, *callbacks],
        default_root_dir=path,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        **kw,
    ).fit(model, **data, ckpt_path=ckpt)


def resumes(
    tmp_path: Path,
    metric: str = "val_loss",
    where: str = "validation",
    *,
    at_val_end: bool = False,
    **kw: Any,
) -> tuple[list[float], dict[int, tuple[list[float], list[str]]]]:
    """The uninterrupted run's LRs, and for each checkpoint (by update) the resumed run's LRs and
    the "missed" warnings it gave."""
    full = Probe(metric, where)
    every = (
        ModelCheckpoint(
            dirpath=tmp_path / "ck", save_top_k=-1, filename="{step}", save_on_train_epoch_end=False
        )
        if at_val_end
        else ModelCheckpoint(
            dirpath=tmp_path / "ck", save_top_k=-1, filename="{step}", every_n_train_steps=1
        )
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit(full, tmp_path / "full", [every], None, **kw)
    out = {}
    for ckpt in sorted((tmp_path / "ck").glob("step=*.ckpt")):
        step = int(ckpt.stem.split("=")[1])
        if step >= len(full.applied):
            continue  # nothing left to train
        model = Probe(metric, where)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fit(model, tmp_path / f"r{step}", [], str(ckpt), enable_checkpointing=False, **kw)
        out[step] = (model.applied, [str(w.message) for w in caught if MISSED in str(w.message)])
    return full.applied, out


def assert_exact_or_warned(full: list[float], out: dict[int, Any], warned: set[int]) -> None:
    """Each resume from update ``k`` warns once (``k`` in ``warned``) and then differs, or is
    silent and applies the uninterrupted run's LRs from update ``k`` on."""
    assert out, "no checkpoint to resume from"
    for step, (applied, messages) in out.items():
        assert len(messages) == (step in warned), (step, messages)
        if step in warned:
            assert applied != full[step:], f"update {step}: warned, but nothing was missed"
        else:
            assert applied == full[step:], f"update {step}: the LRs differ, and no warning said so"


CADENCES = {
    # val_check_interval as a fraction: validations after batches 3 and 6 of each epoch
    "fraction": ({"max_epochs": 2, "val_check_interval": 0.5}, {3, 6, 9}),
    # every 4 training batches across epochs (check_val_every_n_epoch=None): after 4, 8 (, 12)
    "batches across epochs": (
        {"max_epochs": 2, "val_check_interval": 4, "check_val_every_n_epoch": None},
        {4, 8},
    ),
    # at the end of odd epochs only: after 12 and 24
    "every 2nd epoch": ({"max_epochs": 5, "check_val_every_n_epoch": 2}, {12, 24}),
}


@pytest.mark.parametrize("cadence", list(CADENCES))
def test_every_resume_before_a_due_validation_warns_and_every_other_is_exact(
    tmp_path: Path, cadence: str
) -> None:
    kw, warned = CADENCES[cadence]
    full, out = resumes(tmp_path, **kw)
    assert_exact_or_warned(full, out, warned)


def test_a_resume_before_a_mid_epoch_validation_names_it(tmp_path: Path) -> None:
    full, out = resumes(tmp_path, max_epochs=2, val_check_interval=0.5)
    assert full == [0.1] * 6 + [0.05] * 3 + [0.025] * 3  # cuts after the 2nd and 3rd validation
    head = "LRSchedulerCallback(monitor='val_loss'): the plateau "
    tail = (
        ", which the resumed run does not repeat, so the plateau missed one value and the LR may "
        "differ from an uninterrupted run's. Save checkpoints after validation "
        "(ModelCheckpoint(save_on_train_epoch_end=False)) to avoid it."
    )
    assert (
        out[3]
        == (
            [0.1] * 6 + [0.05] * 3,  # one cut behind for the rest of the run
            [
                head + "was never fed and the run resumes at training batch 3: the checkpoint was "
                "written before the validation after batch 3 of epoch 0" + tail
            ],
        )
    )
    assert out[6][1] == [
        head + "was last fed at training batch 3 and the run resumes at training batch 6: the "
        "checkpoint was written before epoch 0's validation (after its last batch)" + tail
    ]


def test_a_resume_from_a_checkpoint_written_after_validation_is_exact_and_silent(
    tmp_path: Path,
) -> None:
    full, out = resumes(tmp_path, at_val_end=True, max_epochs=2, val_check_interval=0.5)
    assert sorted(out) == [3, 6, 9]  # one checkpoint at the end of each validation (but the last)
    assert_exact_or_warned(full, out, set())


@pytest.mark.parametrize("metric", ["acc", "val_loss"])
def test_a_validation_metric_is_told_by_where_it_is_logged_not_by_its_name(
    tmp_path: Path, metric: str
) -> None:
    """``acc``, logged in ``validation_step``, validates every 2nd epoch as ``val_loss`` does:
    the resumes from training-only epochs (updates 6, 18) miss nothing and say nothing."""
    full, out = resumes(tmp_path, metric, max_epochs=5, check_val_every_n_epoch=2)
    assert_exact_or_warned(full, out, {12, 24})


def test_a_training_metric_misses_the_end_of_the_epoch_a_checkpoint_was_written_in(
    tmp_path: Path,
) -> None:
    """Fed at each training epoch's end: Lightning resumes after the last batch's checkpoint
    without ending that epoch again."""
    full, out = resumes(tmp_path, "train_metric", "training", max_epochs=3)
    assert full == [0.1] * 12 + [0.05] * 6
    assert_exact_or_warned(full, out, {6, 12})
    assert out[6][1][0].startswith(
        "LRSchedulerCallback(monitor='train_metric'): the plateau was never fed and the run "
        "resumes at training batch 6: the checkpoint was written before the end of epoch 0 (the "
        "training metric's value)"
    )
    assert out[6][1][0].endswith(
        "Save checkpoints at epochs' ends (ModelCheckpoint's default) to avoid it."
    )
