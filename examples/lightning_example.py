"""Lightning: a cosine schedule with warmup plus a plateau monitor, driven by one callback.

Trains a tiny regression model on synthetic data (a few seconds on a CPU) and prints the learning
rate the optimizer used at every update. Halfway through, the validation data turns to noise, so
``val_loss`` stalls and the plateau monitor halves the LR on top of the schedule.

    python examples/lightning_example.py
"""

from __future__ import annotations

import warnings
from typing import Any

import lightning.pytorch as pl
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import lrplugins as lrp
from lrplugins.lightning import LRSchedulerCallback


class Regressor(pl.LightningModule):
    def __init__(self, lr: float = 0.05) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 1))
        self.lr = lr
        self.applied: list[tuple[int, int, float]] = []  # (epoch, step, lr) of every update

    def training_step(self, batch: Any, batch_idx: int) -> Any:
        x, y = batch
        loss = nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def on_before_optimizer_step(self, optimizer: Any) -> None:
        # LightningModule hooks run after the callbacks', so this is the LR the update uses
        self.applied.append((self.current_epoch, self.global_step, optimizer.param_groups[0]["lr"]))

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        x, y = batch
        if self.current_epoch >= 4:  # from epoch 4 on the targets are noise: val_loss stalls
            y = torch.randn(y.shape, generator=torch.Generator().manual_seed(batch_idx))
        self.log("val_loss", nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=self.lr)  # lr is the base the schedule scales


def main() -> None:
    warnings.filterwarnings("ignore")
    torch.manual_seed(0)
    x = torch.randn(512, 8)
    y = x @ torch.randn(8, 1) + 0.1 * torch.randn(512, 1)
    train = DataLoader(
        TensorDataset(x[:384], y[:384]), batch_size=32, shuffle=True
    )  # 12 steps/epoch
    val = DataLoader(TensorDataset(x[384:], y[384:]), batch_size=64)

    callback = LRSchedulerCallback(
        lrp.cosine(warmup_steps="1ep", final=0.1),  # bound from the trainer: 96 steps, 12 per epoch
        plateau=lrp.Plateau(factor=0.5, patience=1),
        monitor="val_loss",
    )
    model = Regressor()
    trainer = pl.Trainer(
        max_epochs=8,
        accelerator="auto",
        devices=1,
        callbacks=[callback],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, train, val)

    print(f"schedule bound from the trainer: {callback.bound_schedule!r}")
    print(f"plateau after training: {callback.plateau!r}")
    schedule = callback.bound_schedule
    print("epoch  step  lr applied  = base * schedule(step) * plateau scale   (every 4th update)")
    for epoch, step, lr in model.applied[::4]:
        mult = schedule(step)
        scale = lr / (model.lr * mult) if mult else 1.0
        print(f"{epoch:5d} {step:5d}  {lr:.6f}    = {model.lr} * {mult:.6f} * {scale:g}")


if __name__ == "__main__":
    main()
