"""Seconds per training step: no scheduler vs ``LRSchedulerCallback`` vs torch ``CosineAnnealingLR``.

A tiny MLP on synthetic data, so the per-step cost of LR handling is as visible as it gets. Each
configuration trains ``--steps`` optimizer steps; the time between ``on_train_start`` and
``on_train_end`` is divided by the steps. Configurations are interleaved over ``--repeats`` rounds
and the median is reported, as a markdown table.

    python benchmarks/bench_lightning.py [--steps 2000] [--repeats 5] [--accelerator cpu]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import lrplugins as lrp
from lrplugins.lightning import LRSchedulerCallback


class Model(pl.LightningModule):
    def __init__(self, total: int, torch_cosine: bool) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(16, 32), nn.Tanh(), nn.Linear(32, 1))
        self.total, self.torch_cosine = total, torch_cosine

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        x, y = batch
        return nn.functional.mse_loss(self.net(x), y)

    def configure_optimizers(self) -> Any:
        opt = torch.optim.SGD(self.parameters(), lr=0.1)
        if not self.torch_cosine:
            return opt
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=self.total, eta_min=0.01)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class Clock(pl.Callback):
    def on_train_start(self, trainer: Any, pl_module: Any) -> None:
        self.start = time.perf_counter()

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        self.seconds = time.perf_counter() - self.start


def run(kind: str, steps: int, accelerator: str) -> float:
    g = torch.Generator().manual_seed(0)
    ds = TensorDataset(
        torch.randn(steps * 8, 16, generator=g), torch.randn(steps * 8, 1, generator=g)
    )
    clock = Clock()
    callbacks: list[Any] = [clock]
    if kind == "lrplugins":
        callbacks.insert(0, LRSchedulerCallback(lrp.cosine(final=0.1)))
    trainer = pl.Trainer(
        accelerator=accelerator,
        devices=1,
        max_epochs=1,
        callbacks=callbacks,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(Model(steps, kind == "torch"), DataLoader(ds, batch_size=8))
    assert trainer.global_step == steps
    return clock.seconds / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--accelerator", default="cpu")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    import logging

    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    kinds = {
        "none": "no scheduler",
        "lrplugins": "`LRSchedulerCallback(cosine(final=0.1))`",
        "torch": "torch `CosineAnnealingLR` (interval=step)",
    }
    times: dict[str, list[float]] = {k: [] for k in kinds}
    run("none", 50, args.accelerator)  # warm-up
    for _ in range(args.repeats):
        for kind in kinds:
            times[kind].append(run(kind, args.steps, args.accelerator))
    base = statistics.median(times["none"])
    print(
        f"{args.steps} steps x {args.repeats} rounds, accelerator={args.accelerator}, "
        f"torch {torch.__version__}, lightning {pl.__version__}\n"
    )
    print("| configuration | µs / step (median) | min | vs no scheduler |")
    print("| --- | ---: | ---: | ---: |")
    for kind, label in kinds.items():
        med = statistics.median(times[kind])
        print(
            f"| {label} | {med * 1e6:.1f} | {min(times[kind]) * 1e6:.1f} | "
            f"{(med - base) * 1e6:+.1f} µs ({(med / base - 1) * 100:+.1f}%) |"
        )


if __name__ == "__main__":
    main()
