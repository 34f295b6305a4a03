"""Seconds per training step: no scheduler vs ``LRSchedulerCallback`` vs torch ``CosineAnnealingLR``.

A tiny MLP on synthetic data, so the per-step cost of LR handling is as visible as it gets. Each
configuration trains ``--steps`` optimizer steps; the time between ``on_train_start`` and
``on_train_end`` is divided by the steps. The same shape both ways: ``cosine(final=0.1)`` from the
callback, ``CosineAnnealingLR(T_max=steps, eta_min=0.1 * lr)`` stepped every update by Lightning.
Configurations take turns within each of ``--repeats`` rounds, so each round gives a paired ratio
callback / torch; the table gives the median (min–max) over rounds.

One torch thread (``--threads``): the model is tiny, and on a shared machine extra threads measure
the other load more than the step.

Target (issue 4): the callback costs no more than torch's own scheduler (paired ratio <= 1); the
verdict is printed from the paired ratios (``benchmarks/spread.py``).

    python benchmarks/bench_lightning.py [--steps 1000] [--repeats 9] [--accelerator cpu] [--threads 1]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
import warnings
from typing import Any

import lightning.pytorch as pl
import torch
from spread import ratios, summary, verdict_line
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--accelerator", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    kinds = {
        "none": "no scheduler",
        "lrplugins": "`LRSchedulerCallback(cosine(final=0.1))`",
        "torch": "torch `CosineAnnealingLR(eta_min=0.1 * lr)` (interval=step)",
    }
    times: dict[str, list[float]] = {k: [] for k in kinds}
    run("none", 50, args.accelerator)  # warm-up
    for _ in range(args.repeats):
        for kind in kinds:
            times[kind].append(run(kind, args.steps, args.accelerator))
    base = statistics.median(times["none"])
    print(
        f"{args.steps} steps x {args.repeats} rounds, accelerator={args.accelerator} "
        f"({torch.get_num_threads()} torch thread(s)), "
        f"torch {torch.__version__}, lightning {pl.__version__}; median (min–max) over rounds\n"
    )
    print("| configuration | µs / step | median cost over no scheduler | vs torch (paired) |")
    print("| --- | ---: | ---: | ---: |")
    for kind, label in kinds.items():
        med = statistics.median(times[kind])
        vs_torch = summary(ratios(times[kind], times["torch"]), digits=3)
        print(
            f"| {label} | {summary(times[kind], 1e6, 1)} | "
            f"{(med - base) * 1e6:+.1f} µs ({(med / base - 1) * 100:+.1f}%) | {vs_torch}x |"
        )
    print("\nTarget: the callback costs no more than torch's own scheduler (paired ratios)")
    line, ok = verdict_line(
        "callback / torch CosineAnnealingLR", ratios(times["lrplugins"], times["torch"]), 1.0
    )
    print(line)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
