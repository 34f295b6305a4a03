"""lrplugins.torch.LRScheduler returned from Lightning's ``configure_optimizers``.

``{"scheduler": sched, "interval": "step"}``: Lightning steps it once per optimizer update. Each
test records the LR of every group when the optimizer's ``step()`` runs and after it (hooks on the
raw optimizer), measures it from the SGD weight change, and compares with
``base_lr * schedule(step) * scale``.
"""

from __future__ import annotations

import warnings

import pytest

import lrplugins as lrp
from conftest import require

pytestmark = pytest.mark.slow

N, BATCH = 48, 8  # 6 batches per epoch
BASE_LRS = (0.05, 0.01)


def build(schedule, plateau_args=None, metric=None):
    torch = require("torch")
    pl = require("lightning.pytorch")
    from lrplugins.torch import LRScheduler

    class Tiny(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.net = torch.nn.Sequential(
                torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)
            ).double()
            self.held: list[list[float]] = []
            self.after: list[list[float]] = []
            self.measured: list[list[float]] = []
            self._probes: list = []

        def training_step(self, batch, batch_idx):
            x, y = batch
            return torch.nn.functional.mse_loss(self.net(x), y)

        def validation_step(self, batch, batch_idx):
            x, y = batch
            self.log("val_loss", torch.nn.functional.mse_loss(self.net(x), y))

        def on_validation_epoch_end(self) -> None:
            if metric is not None and not self.trainer.sanity_checking:
                self.lr_schedulers().observe(metric(self.trainer.global_step))

        def on_before_optimizer_step(self, optimizer) -> None:
            self._probes = []
            for group in optimizer.param_groups:
                p = group["params"][0]
                i = int(p.grad.abs().argmax())
                self._probes.append(
                    (p, i, float(p.detach().flatten()[i]), float(p.grad.flatten()[i]))
                )

        def on_train_batch_end(self, outputs, batch, batch_idx) -> None:
            if self._probes:  # this batch ended with an update (not an accumulation step)
                self.measured.append(
                    [(b - float(p.detach().flatten()[i])) / g for p, i, b, g in self._probes]
                )
                self._probes = []

        def configure_optimizers(self):
            opt = torch.optim.SGD(
                [
                    {"params": self.net[0].parameters(), "lr": BASE_LRS[0]},
                    {"params": self.net[2].parameters(), "lr": BASE_LRS[1]},
                ]
            )
            opt.register_step_pre_hook(
                lambda o, a, k: self.held.append([float(g["lr"]) for g in o.param_groups])
            )
            opt.register_step_post_hook(
                lambda o, a, k: self.after.append([float(g["lr"]) for g in o.param_groups])
            )
            plateau = None if plateau_args is None else lrp.Plateau(**plateau_args)
            sched = LRScheduler(opt, schedule, plateau)
            return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    return Tiny()


def loaders():
    torch = require("torch")
    g = torch.Generator().manual_seed(1)
    x = torch.randn(N, 4, generator=g, dtype=torch.float64)
    ds = torch.utils.data.TensorDataset(x, x.sum(-1, keepdim=True).sin())
    return (
        torch.utils.data.DataLoader(ds, batch_size=BATCH, shuffle=False),
        torch.utils.data.DataLoader(ds, batch_size=BATCH * 2),
    )


def trainer(tmp_path, **kw):
    pl = require("lightning.pytorch")
    args = {
        "accelerator": "auto",
        "devices": 1,
        "max_epochs": 4,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "logger": False,
        "enable_checkpointing": False,
        "num_sanity_val_steps": 0,
        "default_root_dir": tmp_path,
    }
    args.update(kw)
    return pl.Trainer(**args)


def expected(schedule, scales):
    return [[b * (schedule(t) * s) for b in BASE_LRS] for t, s in enumerate(scales)]


def assert_lrs(got, want, rel):
    assert len(got) == len(want)
    for t, (g, w) in enumerate(zip(got, want)):
        assert g == pytest.approx(w, rel=rel, abs=1e-15), t


@pytest.mark.parametrize("accumulate", [1, 2])
def test_step_interval_applies_the_schedule_to_every_update(tmp_path, device, accumulate):
    from lrplugins.torch import LRScheduler

    updates = 24 // accumulate  # 4 epochs of 6 batches
    schedule = lrp.cosine(total_steps=updates, warmup_steps=3, final=0.1)
    model = build(schedule)
    train, val = loaders()
    t = trainer(tmp_path, accumulate_grad_batches=accumulate)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t.fit(model, train, val)
    # no torch scheduler warning ("lr_scheduler.step() before optimizer.step()", deprecations)
    assert not [w for w in caught if "lr_scheduler" in str(w.message)]
    assert model.device.type == device
    assert t.global_step == updates
    sched = t.lr_scheduler_configs[0].scheduler
    assert isinstance(sched, LRScheduler) and sched.last_epoch == updates
    want = expected(schedule, [1.0] * updates)
    assert_lrs(model.held, want, rel=1e-12)
    assert model.after == model.held  # nothing changes the LR during an update
    assert_lrs(model.measured, want, rel=1e-6)


def _stall(global_step):
    """Validation loss seen at the end of each epoch (global steps 6, 12, 18, ...): stalls at 0.5."""
    return {6: 1.0, 12: 0.5}.get(global_step, 0.5)


PLATEAU = {"factor": 0.5, "patience": 1}


def test_plateau_from_validation_cuts_the_next_update(tmp_path):
    schedule = lrp.linear(total_steps=36, warmup_steps=2, final=0.5)
    model = build(schedule, PLATEAU, _stall)
    train, val = loaders()
    trainer(tmp_path, max_epochs=6).fit(model, train, val)
    # epoch-end observations at steps 18 and 24 are bad -> cut from update 24; 30 bad, 36 bad
    scales = [1.0] * 24 + [0.5] * 12
    assert_lrs(model.held, expected(schedule, scales), rel=1e-12)


def test_resume_from_a_mid_run_checkpoint_continues_identically(tmp_path):
    torch = require("torch")
    pl = require("lightning.pytorch")
    schedule = lrp.cosine(total_steps=36, warmup_steps=4)
    train, val = loaders()

    ckpt = pl.callbacks.ModelCheckpoint(
        dirpath=tmp_path / "ckpt", every_n_epochs=1, save_top_k=-1, save_last=False
    )
    whole = build(schedule, PLATEAU, _stall)
    trainer(tmp_path, max_epochs=6, enable_checkpointing=True, callbacks=[ckpt]).fit(
        whole, train, val
    )
    path = tmp_path / "ckpt" / "epoch=3-step=24.ckpt"  # after the first plateau cut
    assert path.exists(), sorted(p.name for p in (tmp_path / "ckpt").iterdir())

    resumed = build(schedule, PLATEAU, _stall)
    t = trainer(tmp_path, max_epochs=6)
    t.fit(resumed, train, val, ckpt_path=str(path))
    sched = t.lr_scheduler_configs[0].scheduler
    assert sched.plateau.num_reductions == whole.lr_schedulers().plateau.num_reductions == 2
    assert resumed.held == whole.held[24:]  # exactly the same LRs from update 24 on
    for a, b in zip(whole.parameters(), resumed.parameters()):
        assert torch.equal(a, b)
