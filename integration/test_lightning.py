"""The Lightning adapter against a real ``lightning.pytorch.Trainer``.

Every test trains a tiny model on synthetic data and records the learning rate each optimizer update
actually used (``RecordingSGD`` runs Lightning's closure, so every hook before the update has fired,
then records ``param_groups`` and steps). The record is compared with
``base_lr * schedule(step) * plateau.scale`` computed independently, from a schedule the test binds
by hand. ``accelerator="auto"`` uses a GPU where one is present.
"""

from __future__ import annotations

import csv
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

from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from torch import nn
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

import lrplugins as lrp
from lrplugins.lightning import LRSchedulerCallback

HERE = Path(__file__).resolve().parent
N, BATCH = 64, 8  # 8 batches per epoch
REL = 1e-9

pytestmark = pytest.mark.slow


# ------------------------------------------------------------------------------------------------
# A tiny model that records the LR of every update
# ------------------------------------------------------------------------------------------------


class RecordingSGD(torch.optim.SGD):
    """SGD that records each group's LR at the moment of the update (after Lightning's closure)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.trace: list[list[float]] = []

    def step(self, closure: Any = None) -> Any:  # type: ignore[override]
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()  # forward, backward, on_before_optimizer_step
        self.trace.append([float(g["lr"]) for g in self.param_groups])
        super().step()
        return loss


class Tiny(pl.LightningModule):
    """Linear(4, 8) -> Linear(8, 1); optional two parameter groups, scripted val_loss."""

    def __init__(
        self,
        lr: float = 0.1,
        lr2: float | None = None,
        val_losses: list[float] | None = None,
        manual: bool = False,
    ) -> None:
        super().__init__()
        self.a = nn.Linear(4, 8)
        self.b = nn.Linear(8, 1)
        self.lr, self.lr2, self.val_losses = lr, lr2, val_losses
        self.automatic_optimization = not manual
        self.scales: list[float] = []  # plateau scale seen at each training batch

    def forward(self, x: Any) -> Any:
        return self.b(torch.tanh(self.a(x)))

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        x, y = batch
        loss = nn.functional.mse_loss(self(x), y)
        if not self.automatic_optimization:
            opts = self.optimizers()
            for opt in opts if isinstance(opts, list) else [opts]:
                opt.zero_grad()
            self.manual_backward(loss)
            for opt in opts if isinstance(opts, list) else [opts]:
                opt.step()
        return loss

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        loss = nn.functional.mse_loss(self(x), y)
        if self.val_losses is not None:
            if self.trainer.sanity_checking:  # fed to the plateau, this would cut at once
                loss = torch.zeros((), device=self.device)
            else:  # scripted, plus a trace of the real loss so resumed weights matter
                loss = self.val_losses[self.current_epoch] + 1e-6 * loss
        self.log("val_loss", loss)

    def configure_optimizers(self) -> Any:
        if self.automatic_optimization and self.lr2 is None:
            return RecordingSGD(self.parameters(), lr=self.lr)
        if self.automatic_optimization:
            groups = [
                {"params": self.a.parameters()},
                {"params": self.b.parameters(), "lr": self.lr2},
            ]
            return RecordingSGD(groups, lr=self.lr)
        return [
            RecordingSGD(self.a.parameters(), lr=self.lr),
            RecordingSGD(self.b.parameters(), lr=self.lr2),
        ]


class ResumableLoader:
    """A loader with ``state_dict``/``load_state_dict``, so a mid-epoch resume continues the data.

    Lightning pre-fetches one batch, so the state counts the batches the training loop has taken
    (``on_train_batch_start`` hands them over), not the ones the iterator has produced.
    """

    def __init__(self, dataset: Any, batch_size: int) -> None:
        self.batches = list(DataLoader(dataset, batch_size=batch_size))
        self.taken = 0
        self._start = 0

    def __len__(self) -> int:
        return len(self.batches)

    def __iter__(self) -> Any:
        start, self._start = self._start, 0
        self.taken = start
        for i in range(start, len(self.batches)):
            yield self.batches[i]

    def state_dict(self) -> dict[str, int]:
        return {"taken": self.taken}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self._start = state["taken"]


class CountTaken(pl.Callback):
    def __init__(self, loader: ResumableLoader) -> None:
        self.loader = loader

    def on_train_batch_start(
        self, trainer: Any, pl_module: Any, batch: Any, batch_idx: int
    ) -> None:
        self.loader.taken = batch_idx + 1


class Unsized(IterableDataset):
    def __iter__(self) -> Any:
        g = torch.Generator().manual_seed(0)
        for _ in range(N):
            yield torch.randn(4, generator=g), torch.randn(1, generator=g)


def data(n: int = N) -> TensorDataset:
    g = torch.Generator().manual_seed(0)
    return TensorDataset(torch.randn(n, 4, generator=g), torch.randn(n, 1, generator=g))


def loaders(val: bool = False) -> dict[str, Any]:
    out = {"train_dataloaders": DataLoader(data(), batch_size=BATCH)}
    if val:
        out["val_dataloaders"] = DataLoader(data(16), batch_size=BATCH)
    return out


def trainer(tmp_path: Path, callbacks: list[Any], **kwargs: Any) -> Any:
    opts: dict[str, Any] = {
        "accelerator": "auto",
        "devices": 1,
        "max_epochs": 3,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "default_root_dir": tmp_path,
        "deterministic": True,
    }
    opts.update(kwargs)
    return pl.Trainer(callbacks=callbacks, **opts)


def assert_close(got: list[float], want: list[float], what: str = "lr") -> None:
    assert len(got) == len(want), f"{what}: {len(got)} values, expected {len(want)}"
    for k, (g, w) in enumerate(zip(got, want)):
        assert math.isclose(g, w, rel_tol=REL, abs_tol=1e-15), f"{what} at step {k}: {g} != {w}"


# ------------------------------------------------------------------------------------------------
# The applied LR equals base_lr * schedule(step)
# ------------------------------------------------------------------------------------------------

COSINE = lrp.cosine(warmup_steps="10%", final=0.1)

CASES = {
    # name: (schedule, trainer kwargs, total updates, updates per epoch, lr2)
    "plain": (COSINE, {}, 24, 8, None),
    "two_groups": (COSINE, {}, 24, 8, 0.03),
    "accumulate_3": (COSINE, {"accumulate_grad_batches": 3}, 9, 3, None),
    "max_steps": (lrp.linear(warmup_steps=2), {"max_steps": 10, "max_epochs": 5}, 10, 8, None),
    "limit_train_batches": (COSINE, {"limit_train_batches": 5}, 15, 5, None),
    "epochs": (
        lrp.multistep(milestones=["1ep", "2ep"], gamma=0.5) * lrp.constant(warmup_steps="1ep"),
        {"accumulate_grad_batches": 3, "max_epochs": 4},
        12,
        3,
        None,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_applied_lr_is_base_times_schedule(tmp_path: Path, case: str) -> None:
    schedule, kwargs, total, per_epoch, lr2 = CASES[case]
    model = Tiny(lr=0.1, lr2=lr2)
    cb = LRSchedulerCallback(schedule)
    trainer(tmp_path, [cb], **kwargs).fit(model, **loaders())

    expected = schedule.bind(total_steps=total, steps_per_epoch=per_epoch)
    assert cb.bound_schedule == expected
    trace = model.trainer.optimizers[0].trace
    assert len(trace) == total
    bases = [0.1] if lr2 is None else [0.1, lr2]
    for j, base in enumerate(bases):
        assert_close(
            [lrs[j] for lrs in trace], [base * expected(k) for k in range(total)], f"group {j}"
        )
    assert max(lrs[0] for lrs in trace) > 0  # the run really used the schedule


def test_update_uses_the_recorded_lr(tmp_path: Path) -> None:
    """A witness independent of param_groups: in float64, SGD's weight change is -lr * grad."""
    model = Tiny(lr=0.2).double()
    seen: list[float] = []

    class Witness(pl.Callback):
        def on_before_optimizer_step(self, trainer: Any, pl_module: Any, optimizer: Any) -> None:
            p = pl_module.b.bias
            self.before, self.grad = p.detach().clone(), p.grad.detach().clone()

        def on_train_batch_end(self, trainer: Any, pl_module: Any, *args: Any) -> None:
            seen.append(float(-(pl_module.b.bias.detach() - self.before) / self.grad))

    schedule = lrp.linear(warmup_steps=3, final=0.2)
    dl = DataLoader(TensorDataset(*(t.double() for t in data().tensors)), batch_size=BATCH)
    trainer(tmp_path, [LRSchedulerCallback(schedule), Witness()], max_epochs=2).fit(model, dl)
    expected = schedule.bind(total_steps=16)
    for k, lr in enumerate(seen):
        assert math.isclose(lr, 0.2 * expected(k), rel_tol=1e-9, abs_tol=1e-12), (k, lr)


def test_group_added_during_training_follows_the_schedule(tmp_path: Path) -> None:
    """A group added mid-run (as BaseFinetuning does) gets its own lr as base and its own clock:
    its step 0 is its first update, and it is bound with the 16 updates that remain."""

    class Unfreeze(pl.Callback):
        def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            if trainer.current_epoch == 1:
                extra = nn.Parameter(torch.zeros(1, device=pl_module.device))
                trainer.optimizers[0].add_param_group({"params": [extra], "lr": 0.5})

    model = Tiny(lr=0.1)
    trainer(tmp_path, [LRSchedulerCallback(COSINE, log_lr=True), Unfreeze()]).fit(
        model, **loaders()
    )
    trace = model.trainer.optimizers[0].trace
    expected = COSINE.bind(total_steps=24)
    assert [len(lrs) for lrs in trace] == [1] * 8 + [2] * 16
    assert_close([lrs[0] for lrs in trace], [0.1 * expected(k) for k in range(24)])
    late = COSINE.bind(total_steps=16)  # its own warmup, over 10% of the rest of the run
    assert_close([lrs[1] for lrs in trace[8:]], [0.5 * late(k - 8) for k in range(8, 24)])
    assert trace[8][1] == 0.0 and trace[10][1] == 0.5  # warmup from 0 over 2 updates
    assert float(model.trainer.callback_metrics["lr/pg1"]) == trace[-1][1]


# ------------------------------------------------------------------------------------------------
# Logging
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("monitor_first", [True, False], ids=["monitor_first", "monitor_last"])
def test_lr_monitor_and_log_lr_report_the_applied_lr(tmp_path: Path, monitor_first: bool) -> None:
    model = Tiny(lr=0.1, lr2=0.05)
    cb = LRSchedulerCallback(COSINE, log_lr=True)
    monitor = LearningRateMonitor(logging_interval="step")
    callbacks = [monitor, cb] if monitor_first else [cb, monitor]
    logger = CSVLogger(tmp_path, name="logs")
    trainer(tmp_path, callbacks, logger=logger, log_every_n_steps=1, max_epochs=2).fit(
        model, **loaders()
    )

    trace = model.trainer.optimizers[0].trace
    with open(Path(logger.log_dir) / "metrics.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    keys = {
        "lr-RecordingSGD/pg1": 0, "lr-RecordingSGD/pg2": 1,  # LearningRateMonitor
        "lr/pg0": 0, "lr/pg1": 1,  # log_lr
    }  # fmt: skip
    for key, j in keys.items():
        logged: dict[int, set[float]] = {}
        for row in rows:
            if row.get(key):
                logged.setdefault(int(row["step"]), set()).add(float(row[key]))
        assert sorted(logged) == list(range(len(trace))), key
        for step, values in logged.items():
            for value in values:  # LearningRateMonitor may log a step twice; both must be right
                tol = REL if key.startswith("lr/") else 1e-6  # the CSV keeps ~7 digits of a float32
                assert math.isclose(value, trace[step][j], rel_tol=tol, abs_tol=1e-12), (key, step)


# ------------------------------------------------------------------------------------------------
# Plateau
# ------------------------------------------------------------------------------------------------

STALL = [1.0, 0.5, 0.5, 0.5, 0.5, 0.5]  # improves once, then stalls


def test_plateau_cuts_lr_at_the_right_epoch(tmp_path: Path) -> None:
    """patience=1: the 2nd bad epoch in a row (epoch 3, then 5) cuts the LR for the next epoch."""
    model = Tiny(lr=0.1, val_losses=STALL)
    plateau = lrp.Plateau(factor=0.5, patience=1)
    schedule = lrp.constant(warmup_steps=4)
    cb = LRSchedulerCallback(schedule, plateau=plateau, monitor="val_loss")
    trainer(tmp_path, [cb], max_epochs=6).fit(model, **loaders(val=True))

    # the sanity check's val_loss 0.0 is skipped: fed to the plateau, it would cut at once
    scale_per_epoch = [1, 1, 1, 1, 0.5, 0.5]
    bound = schedule.bind(total_steps=48)
    want = [0.1 * bound(k) * scale_per_epoch[k // 8] for k in range(48)]
    assert_close([lrs[0] for lrs in model.trainer.optimizers[0].trace], want)
    assert plateau.scale == 0.25  # the second cut, after the last epoch


def test_missing_metric_lists_available_ones(tmp_path: Path) -> None:
    cb = LRSchedulerCallback(COSINE, plateau=lrp.Plateau(), monitor="val_acc")
    with pytest.raises(RuntimeError, match=r"val_acc.*available metrics: \['val_loss'\]"):
        trainer(tmp_path, [cb], num_sanity_val_steps=0).fit(Tiny(), **loaders(val=True))


# ------------------------------------------------------------------------------------------------
# Refusals and errors
# ------------------------------------------------------------------------------------------------


def test_scheduler_in_configure_optimizers_is_refused(tmp_path: Path) -> None:
    class WithScheduler(Tiny):
        def configure_optimizers(self) -> Any:
            opt = torch.optim.SGD(self.parameters(), lr=0.1)
            return {"optimizer": opt, "lr_scheduler": torch.optim.lr_scheduler.StepLR(opt, 2)}

    with pytest.raises(MisconfigurationException, match=r"StepLR.*Keep one of them"):
        trainer(tmp_path, [LRSchedulerCallback(COSINE)]).fit(WithScheduler(), **loaders())


def test_unknown_run_length_says_what_to_set(tmp_path: Path) -> None:
    dl = DataLoader(Unsized(), batch_size=BATCH)
    with pytest.raises(lrp.UnboundScheduleError, match=r"total_steps.*max_steps"):
        trainer(tmp_path, [LRSchedulerCallback(COSINE)], max_epochs=2).fit(Tiny(), dl)

    model = Tiny()  # with max_steps the same run binds, and an unsized loader is fine
    cb = LRSchedulerCallback(COSINE)
    trainer(tmp_path, [cb], max_epochs=-1, max_steps=7).fit(model, dl)
    assert cb.bound_schedule == COSINE.bind(total_steps=7)
    assert len(model.trainer.optimizers[0].trace) == 7


def test_constructor_errors_name_the_argument() -> None:
    with pytest.raises(TypeError, match=r"schedule must be .*got 0.1"):
        LRSchedulerCallback(0.1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"plateau needs monitor.*monitor=None"):
        LRSchedulerCallback(COSINE, plateau=lrp.Plateau())
    with pytest.raises(ValueError, match=r"monitor='val_loss' is only read with a plateau"):
        LRSchedulerCallback(COSINE, monitor="val_loss")
    with pytest.raises(ValueError, match=r"optimizers must be indices >= 0.*-1"):
        LRSchedulerCallback(COSINE, optimizers=-1)
    with pytest.raises(ValueError, match=r"unknown kind 'cosinus'"):
        LRSchedulerCallback({"kind": "cosinus"})


def test_docstring_examples() -> None:
    import doctest

    import lrplugins.lightning as module

    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


# ------------------------------------------------------------------------------------------------
# Several optimizers (manual optimization), two instances
# ------------------------------------------------------------------------------------------------


def test_manual_optimization_two_optimizers_two_callbacks(tmp_path: Path) -> None:
    """Lightning's global_step counts both optimizers' updates; each keeps its own step here."""
    model = Tiny(lr=0.1, lr2=0.02, manual=True)
    s0, s1 = lrp.cosine(warmup_steps=2), lrp.linear(final=0.5)
    cb0 = LRSchedulerCallback(s0, optimizers=0, name="a", log_lr=True)
    cb1 = LRSchedulerCallback(s1, optimizers=[1], name="b")
    ckpt = ModelCheckpoint(dirpath=tmp_path, save_last=True)
    trainer(tmp_path, [cb0, cb1, ckpt], enable_checkpointing=True, max_epochs=2).fit(
        model, **loaders()
    )

    assert model.trainer.global_step == 32  # 16 batches, two updates each
    opt0, opt1 = model.trainer.optimizers
    assert_close([x[0] for x in opt0.trace], [0.1 * s0.bind(total_steps=16)(k) for k in range(16)])
    assert_close([x[0] for x in opt1.trace], [0.02 * s1.bind(total_steps=16)(k) for k in range(16)])
    assert float(model.trainer.callback_metrics["lr-a/opt0"]) == opt0.trace[-1][0]  # log_lr key
    saved = torch.load(tmp_path / "last.ckpt", weights_only=True)["callbacks"]
    assert saved[cb0.state_key]["adapter"]["counters"] == {"0": 16}
    assert saved[cb1.state_key]["adapter"]["counters"] == {"1": 16}


def test_overlapping_callbacks_are_refused(tmp_path: Path) -> None:
    cbs = [LRSchedulerCallback(COSINE, name="a"), LRSchedulerCallback(COSINE, name="b")]
    with pytest.raises(MisconfigurationException, match=r"drive optimizer\(s\) \[0\]"):
        trainer(tmp_path, cbs).fit(Tiny(), **loaders())


# ------------------------------------------------------------------------------------------------
# Resume
# ------------------------------------------------------------------------------------------------


def _resumable_run(tmp_path: Path, ckpt_path: str | None = None) -> tuple[Any, Any, Any]:
    torch.manual_seed(0)
    model = Tiny(lr=0.1, val_losses=STALL)
    plateau = lrp.Plateau(factor=0.5, patience=1)
    cb = LRSchedulerCallback(lrp.cosine(warmup_steps="10%", final=0.1), plateau, "val_loss")
    loader = ResumableLoader(data(), BATCH)
    every = ModelCheckpoint(
        dirpath=tmp_path / "ckpt", every_n_train_steps=1, save_top_k=-1, filename="{step}"
    )
    callbacks = [cb, CountTaken(loader), every]
    t = trainer(
        tmp_path, callbacks, max_epochs=6, enable_checkpointing=True, num_sanity_val_steps=0
    )
    t.fit(model, loader, DataLoader(data(16), batch_size=BATCH), ckpt_path=ckpt_path)
    return model, cb, plateau


def test_resume_mid_epoch_continues_exactly(tmp_path: Path) -> None:
    full_model, full_cb, full_plateau = _resumable_run(tmp_path / "full")
    mid = tmp_path / "full" / "ckpt" / "step=27.ckpt"  # epoch 3, after 3 of its 8 batches
    state = torch.load(mid, weights_only=True)["callbacks"][full_cb.state_key]
    json.dumps(state)  # JSON-compatible
    assert state["plateau"] is not None

    model, _, plateau = _resumable_run(tmp_path / "resumed", ckpt_path=str(mid))
    full_trace = full_model.trainer.optimizers[0].trace
    trace = model.trainer.optimizers[0].trace
    assert len(full_trace) == 48 and len(trace) == 48 - 27
    assert trace == full_trace[27:]  # the exact LR sequence, plateau cuts included
    assert min(x[0] for x in trace) < 0.1 * 0.1  # a plateau cut happened after the resume
    assert plateau.scale == full_plateau.scale == 0.25
    assert plateau.state_dict() == full_plateau.state_dict()
    for p, q in zip(model.parameters(), full_model.parameters()):  # and the data resumed too
        torch.testing.assert_close(p, q, rtol=0, atol=0)


# ------------------------------------------------------------------------------------------------
# LightningCLI
# ------------------------------------------------------------------------------------------------


class CLIModel(Tiny):
    def __init__(self, lr: float = 0.1) -> None:
        super().__init__(lr=lr)


class CLIData(pl.LightningDataModule):
    def train_dataloader(self) -> Any:
        return DataLoader(data(), batch_size=BATCH)

    def val_dataloader(self) -> Any:
        return DataLoader(data(16), batch_size=BATCH)


@pytest.mark.parametrize("config", ["lightning_cli_config.yaml", "lightning_cli_dict.yaml"])
def test_lightning_cli_yaml(tmp_path: Path, config: str, monkeypatch: pytest.MonkeyPatch) -> None:
    require("jsonargparse")
    monkeypatch.setattr(sys, "argv", ["cli"])  # LightningCLI reads args=, not pytest's argv
    from lightning.pytorch.cli import LightningCLI

    args = ["--config", str(HERE / config), f"--trainer.default_root_dir={tmp_path}"]
    cli = LightningCLI(
        CLIModel, CLIData, run=False, args=args, save_config_kwargs={"overwrite": True}
    )
    cb = next(c for c in cli.trainer.callbacks if isinstance(c, LRSchedulerCallback))
    assert cb.schedule == lrp.cosine(warmup_steps="10%", final=0.1)
    assert cb.monitor == "val_loss" and cb.plateau is not None
    assert cb.plateau.to_config() == lrp.Plateau(factor=0.5, patience=2).to_config()
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    expected = cb.schedule.bind(total_steps=16)
    assert_close(
        [x[0] for x in cli.trainer.optimizers[0].trace], [0.02 * expected(k) for k in range(16)]
    )


# ------------------------------------------------------------------------------------------------
# DDP: rank-dependent metrics, identical decisions
# ------------------------------------------------------------------------------------------------


def run_ddp(tmp_path: Path, mode: str) -> list[dict[str, Any]]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE.parent), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.run(
        [sys.executable, str(HERE / "lightning_ddp_script.py"), str(tmp_path), mode],
        check=False, capture_output=True, text=True, timeout=300, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1)]


def test_ddp_metric_logged_on_one_rank_is_an_error_on_every_rank(tmp_path: Path) -> None:
    ranks = run_ddp(tmp_path, "rank0_only")  # returns: no hang
    for rank in ranks:
        assert "logged on 1 of 2 ranks" in rank["error"] and "sync_dist=True" in rank["error"]


def test_ddp_ranks_apply_the_same_lr(tmp_path: Path) -> None:
    ranks = run_ddp(tmp_path, "mean")
    assert ranks[0]["lrs"] == ranks[1]["lrs"]  # the same LR at every update on both ranks
    assert ranks[0]["val_loss"] != ranks[1]["val_loss"]  # although each logged its own metric
    # the decisions follow the mean over ranks, fed to a Plateau in this process
    plateau = lrp.Plateau(**ranks[0]["plateau_args"])
    scales = [
        plateau.update((a + b) / 2) for a, b in zip(ranks[0]["val_loss"], ranks[1]["val_loss"])
    ]
    assert ranks[0]["scales"] == ranks[1]["scales"] == scales
    assert scales[-1] < 1.0  # the mean stalls, so the LR was cut
    local0 = lrp.Plateau(**ranks[0]["plateau_args"])
    assert [local0.update(v) for v in ranks[0]["val_loss"]] != scales  # rank 0 alone would differ
    schedule = lrp.from_config(ranks[0]["schedule"])
    total, per_epoch = ranks[0]["total_steps"], ranks[0]["steps_per_epoch"]
    assert total == 4 * per_epoch  # per-rank steps: each rank sees half the data
    want = [0.1 * schedule(k) * ([1.0, *scales][k // per_epoch]) for k in range(total)]
    assert_close(ranks[0]["lrs"], want)
