"""Plain PyTorch: a warmup-stable-decay schedule plus a plateau monitor in a hand-written loop.

Trains a tiny regression model on synthetic data (about a second on a CPU) and prints the learning
rate the optimizer used at every update. After epoch 4 the validation targets turn to noise, so the
validation loss stalls and the plateau monitor halves the LR on top of the schedule.

    python examples/torch_example.py
"""

from __future__ import annotations

import torch
from torch import nn

import lrplugins as lrp
from lrplugins.torch import LRScheduler


def main() -> None:
    torch.manual_seed(0)
    x = torch.randn(512, 8)
    y = x @ torch.randn(8, 1) + 0.1 * torch.randn(512, 1)
    x_train, y_train, x_val, y_val = x[:384], y[:384], x[384:], y[384:]
    model = nn.Sequential(nn.Linear(8, 32), nn.Tanh(), nn.Linear(32, 1))
    opt = torch.optim.SGD(
        [
            {"params": model[0].parameters(), "lr": 0.05},  # body
            {"params": model[2].parameters(), "lr": 0.1},  # head: a larger base LR, kept
        ]
    )
    epochs, batch = 10, 32
    steps_per_epoch = len(x_train) // batch
    schedule = lrp.wsd(warmup_steps="1ep", decay_steps="30%", final=0.05)
    sched = LRScheduler(opt, schedule, plateau=lrp.Plateau(factor=0.5, patience=1))
    sched.bind(total_steps=epochs * steps_per_epoch, steps_per_epoch=steps_per_epoch)
    print(f"schedule: {sched.schedule}")

    step = 0
    for epoch in range(epochs):
        perm = torch.randperm(len(x_train))
        for i in range(steps_per_epoch):
            idx = perm[i * batch : (i + 1) * batch]
            loss = nn.functional.mse_loss(model(x_train[idx]), y_train[idx])
            opt.zero_grad()
            loss.backward()
            lrs = [g["lr"] for g in opt.param_groups]  # the LRs this update uses
            opt.step()
            sched.step()
            print(f"epoch {epoch} step {step:3d} lr body {lrs[0]:.5f} head {lrs[1]:.5f}")
            step += 1
        with torch.no_grad():
            target = y_val if epoch < 4 else torch.randn(y_val.shape)  # stall after epoch 4
            val_loss = nn.functional.mse_loss(model(x_val), target).item()
        scale = sched.observe(val_loss)
        print(f"epoch {epoch} val_loss {val_loss:.4f} plateau scale {scale}")


if __name__ == "__main__":
    main()
