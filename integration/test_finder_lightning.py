"""``lrplugins.lightning.find_lr`` against a real ``lightning.pytorch.Trainer``.

Each test builds two identical setups (same seed): one runs ``find_lr(trainer, model)`` and then
``trainer.fit(model)``, the other only ``trainer.fit(model)``. The fits must be identical: the
same weights bit for bit and the same LR at every update (recorded by the optimizer at the
moment of the update). The model has dropout and the data is shuffled, so a random number
generator left moved by the test would show.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import require

torch = require("torch")
pl = require("lightning.pytorch")

from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import lrplugins as lrp
from lrplugins.lightning import LRSchedulerCallback, find_lr
from lrplugins.torch import LRScheduler

HERE = Path(__file__).resolve().parent
pytestmark = pytest.mark.slow


class Recording(torch.optim.SGD):
    """SGD that records every group's LR at each update."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.trace: list[list[float]] = []

    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        self.trace.append([float(g["lr"]) for g in self.param_groups])
        super().step()
        return loss


class Tiny(pl.LightningModule):
    def __init__(self, scheduler: str | None = None) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.2))
        self.head = nn.Linear(16, 1)
        self.scheduler = scheduler
        self.micro: list[float] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        x, y = batch
        loss = nn.functional.mse_loss(self(x), y)
        self.micro.append(float(loss.detach()))
        self.log("train_loss", loss)
        return loss

    def configure_optimizers(self) -> Any:
        opt = Recording(
            [
                {"params": self.body.parameters(), "lr": 0.02},
                {"params": self.head.parameters(), "lr": 0.005},  # ratio 4
            ],
            momentum=0.9,
        )
        if self.scheduler is None:
            return opt
        sched = LRScheduler(opt, lrp.cosine(total_steps=16, warmup_steps=4))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


def loader() -> DataLoader:
    g = torch.Generator().manual_seed(1)
    x = torch.randn(64, 4, generator=g)
    y = x @ torch.tensor([[1.0], [-2.0], [0.5], [3.0]]) + 0.1 * torch.randn(64, 1, generator=g)
    return DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True)


def trainer(tmp_path: Path, **kw: Any) -> Any:
    kw = {"max_epochs": 2, "logger": False, **kw}
    return pl.Trainer(
        accelerator="cpu",
        devices=1,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        **kw,
    )


def fit(
    tmp_path: Path,
    *,
    find: dict[str, Any] | None,
    scheduler: str | None = None,
    callbacks: Any = None,
    **kw: Any,
) -> tuple[Tiny, Any, Any]:
    torch.manual_seed(123)  # the global RNG: dropout and the loader's shuffling draw from it
    model = Tiny(scheduler)
    t = trainer(tmp_path, callbacks=callbacks() if callbacks else None, **kw)
    data = loader()
    finder = None
    if find is not None:
        finder = find_lr(t, model, data, **find)
        model.sweep_trace = list(model.trainer.optimizers[0].trace)  # type: ignore[attr-defined]
        model.sweep_micro = list(model.micro)  # type: ignore[attr-defined]
    model.micro = []
    t.fit(model, data)
    return model, t, finder


def assert_same_fit(a: tuple[Tiny, Any, Any], b: tuple[Tiny, Any, Any]) -> None:
    ma, ta, _ = a
    mb, tb, _ = b
    for (name, pa), pb in zip(ma.state_dict().items(), mb.state_dict().values()):
        assert torch.equal(pa, pb), name
    trace_a = ta.optimizers[0].trace
    assert trace_a == tb.optimizers[0].trace
    assert ta.global_step == tb.global_step == 16
    assert ma.micro == mb.micro  # the same batches, dropout masks and losses


def test_find_lr_then_fit_is_fit(tmp_path: Path) -> None:
    with_test = fit(tmp_path, find={"min_lr": 1e-5, "max_lr": 10.0, "steps": 30})
    plain = fit(tmp_path, find=None)
    assert_same_fit(with_test, plain)
    model, t, finder = with_test
    assert finder.stop_reason in ("diverged", "non-finite", "steps")
    assert 1e-5 <= finder.suggestion <= 10.0
    sweep = model.sweep_trace
    assert len(sweep) == len(finder.lrs)  # one recorded point per update
    for k, (lr0, lr1) in enumerate(sweep):
        assert lr0 == pytest.approx(finder.lr_at(k), rel=1e-12)
        assert lr0 / lr1 == pytest.approx(4.0, rel=1e-12)  # the groups keep their ratio
    assert finder.suggested_lrs == pytest.approx([finder.suggestion, finder.suggestion / 4])
    # the record holds the loss of each update, as training_step computed it
    assert finder.losses == pytest.approx(model.sweep_micro[: len(finder.losses)], rel=1e-6)
    # the fit after it starts from the configured LRs and a clean trainer
    assert t.optimizers[0].trace[0] == [0.02, 0.005]
    assert t.callback_metrics["train_loss"] is not None


def test_gradient_accumulation_counts_updates(tmp_path: Path) -> None:
    with_test = fit(
        tmp_path,
        find={"steps": 12, "diverge": None},
        accumulate_grad_batches=2,
        max_steps=16,
        max_epochs=-1,
    )
    plain = fit(tmp_path, find=None, accumulate_grad_batches=2, max_steps=16, max_epochs=-1)
    assert_same_fit(with_test, plain)
    model, _, finder = with_test
    assert len(finder.lrs) == 12 and len(model.sweep_trace) == 12  # 12 updates, 24 batches
    micro = model.sweep_micro
    assert len(micro) == 24
    means = [(micro[2 * k] + micro[2 * k + 1]) / 2 for k in range(12)]
    assert finder.losses == pytest.approx(means, rel=1e-6)


def test_scheduler_in_configure_optimizers_and_lrplugins_callback(tmp_path: Path) -> None:
    """A torch scheduler (warmup from 0) and an lrplugins callback are set aside and come back."""
    with_test = fit(tmp_path, find={"steps": 20}, scheduler="warmup")
    plain = fit(tmp_path, find=None, scheduler="warmup")
    assert_same_fit(with_test, plain)
    _, t, finder = with_test
    # the sweep's reference is the configured LR (initial_lr), not the warmup's 0
    assert finder.base_lrs == [0.02, 0.005]
    assert [round(lr, 12) for lr in t.optimizers[0].trace[0]] == [0.0, 0.0]  # warmup starts at 0

    def callbacks() -> list[Any]:
        return [LRSchedulerCallback(lrp.linear(warmup_steps=3))]

    a = fit(tmp_path, find={"steps": 20}, callbacks=callbacks)
    b = fit(tmp_path, find=None, callbacks=callbacks)
    assert_same_fit(a, b)


class Data(pl.LightningDataModule):
    """A DataModule that owns the generator its loader shuffles with."""

    def __init__(self) -> None:
        super().__init__()
        self.generator = torch.Generator().manual_seed(7)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(loader().dataset, batch_size=8, shuffle=True, generator=self.generator)


def test_datamodule_generator_is_restored(tmp_path: Path) -> None:
    def run(with_test: bool) -> tuple[Tiny, Any, Any]:
        torch.manual_seed(123)
        model, t, dm = Tiny(), trainer(tmp_path), Data()
        finder = find_lr(t, model, datamodule=dm, steps=20) if with_test else None
        model.micro = []
        t.fit(model, datamodule=dm)
        return model, t, finder

    assert_same_fit(run(True), run(False))


class EpochLogging(Tiny):
    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        loss = super().training_step(batch, batch_idx)
        self.log("epoch_loss", loss, on_step=False, on_epoch=True)
        self.log("bar", 2 * loss, prog_bar=True)
        return loss


def test_the_sweeps_metrics_do_not_stay_in_the_trainer(tmp_path: Path) -> None:
    def run(with_test: bool) -> tuple[Tiny, Any, Any]:
        torch.manual_seed(123)
        logger = pl.loggers.CSVLogger(tmp_path)
        model, t = EpochLogging(), trainer(tmp_path, logger=logger)
        finder = None
        if with_test:
            finder = find_lr(t, model, loader(), steps=20)
            assert dict(t.callback_metrics) == {}
            assert dict(t.logged_metrics) == {}
            assert dict(t.progress_bar_metrics) == {}
        model.micro = []
        t.fit(model, loader())
        return model, t, finder

    a, b = run(True), run(False)
    assert_same_fit(a, b)
    assert {"train_loss", "epoch_loss", "bar"} <= set(b[1].callback_metrics)
    for name in ("callback_metrics", "logged_metrics", "progress_bar_metrics"):
        assert set(getattr(a[1], name)) == set(getattr(b[1], name)), name
        for key, value in getattr(a[1], name).items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(getattr(b[1], name)[key]))


@pytest.mark.parametrize("persistent", [True, False])
def test_loader_with_workers(tmp_path: Path, persistent: bool) -> None:
    def workers_loader() -> DataLoader:
        return DataLoader(
            loader().dataset,
            batch_size=8,
            shuffle=True,
            num_workers=1,
            persistent_workers=persistent,
        )

    def run(with_test: bool) -> tuple[Tiny, Any, Any]:
        torch.manual_seed(123)
        model, t, data = Tiny(), trainer(tmp_path), workers_loader()
        finder = find_lr(t, model, data, steps=12, diverge=None) if with_test else None
        model.micro = []
        t.fit(model, data)
        return model, t, finder

    assert_same_fit(run(True), run(False))


def test_bf16_mixed_precision(tmp_path: Path) -> None:
    """The sweep runs under the Trainer's precision plugin, each training step in its own
    autocast context, as the fit does."""
    with_test = fit(tmp_path, find={"steps": 20}, precision="bf16-mixed")
    assert_same_fit(with_test, fit(tmp_path, find=None, precision="bf16-mixed"))
    model, _, finder = with_test
    assert finder.losses == pytest.approx(model.sweep_micro[: len(finder.losses)], rel=1e-6)


def test_fp16_grad_scaler_skips_are_retried_and_its_state_restored(tmp_path: Path) -> None:
    """A MixedPrecision plugin with a GradScaler: the updates it skips (inf gradients at a too
    large first scale) made no step, so they are not recorded and their LR is tried again;
    afterwards the scaler is back at its first scale."""
    from lightning.pytorch.plugins import MixedPrecision

    def plugin() -> Any:
        return MixedPrecision(
            "16-mixed", "cpu", scaler=torch.amp.GradScaler("cpu", init_scale=2.0**24)
        )

    with_test = fit(tmp_path, find={"steps": 20}, plugins=[plugin()])
    plain = fit(tmp_path, find=None, plugins=[plugin()])
    assert_same_fit(with_test, plain)
    model, _, finder = with_test
    # the optimizer's own trace holds only the updates it made: one recorded point each (but
    # for a last, NaN loss, which stops the sweep and whose update the scaler skipped)
    assert len(model.sweep_trace) == len(finder.lrs) - (finder.stop_reason == "non-finite")
    for k, (lr0, _) in enumerate(model.sweep_trace):
        assert lr0 == pytest.approx(finder.lr_at(k), rel=1e-12)
    assert len(model.sweep_micro) > len(finder.lrs)  # some batches were skipped updates


def test_progress_bar_follows_the_trainer(tmp_path: Path, capsys: Any) -> None:
    t = pl.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )  # a progress bar
    find_lr(t, Tiny(), loader(), steps=10, diverge=None)
    assert "LR range test" in capsys.readouterr().err
    find_lr(trainer(tmp_path), Tiny(), loader(), steps=10, diverge=None)  # none
    assert "LR range test" not in capsys.readouterr().err


def test_docstring_example() -> None:
    import doctest

    from lrplugins import _finder_lightning

    assert doctest.testmod(_finder_lightning, optionflags=doctest.ELLIPSIS).failed == 0


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"LRFinder\(\): steps must be >= 2, got 1"):
        find_lr(trainer(tmp_path), Tiny(), loader(), steps=1)
    t = pl.Trainer(fast_dev_run=True, accelerator="cpu", logger=False)
    with pytest.raises(ValueError, match="fast_dev_run=True"):
        find_lr(t, Tiny(), loader())


def test_ddp_ranks_get_the_same_record_and_fit_as_without(tmp_path: Path) -> None:
    """Two CPU ranks (gloo): find_lr then fit, and a plain fit, in one launch (~25 s)."""
    script = HERE / "finder_lightning_ddp.py"
    env = dict(os.environ, PYTHONPATH=str(HERE.parent))
    proc = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["record"] == ranks[1]["record"]  # same losses, stop, suggestions
    assert math.isfinite(ranks[0]["record"]["suggestion"])
    for r in ranks:
        assert r["same_weights"] and r["same_trace"], r
    # the ranks saw different batches, so the mean over ranks differs from rank 0's own losses
    assert ranks[0]["record"]["losses"] != ranks[0]["local_losses"]
