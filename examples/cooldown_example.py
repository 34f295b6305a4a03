"""Finish a warmup-stable-decay run early: train, cool down from a chosen update, plot the trace.

A WSD run is meant to be cut short at any point with a short cooldown (1-sqrt over ~10-20% of the
updates gives a fully annealed model). This script trains a tiny regression model with
``wsd(decay_steps="20%")`` planned for 1000 updates, decides at update 300 to finish now, calls
``scheduler.cooldown(100)`` (the LR goes from where it stands to 0 over 100 updates), and stops at
update 400. It prints the LR trace the optimizer actually used, then draws the same run with the
command line: the schedule in force after the call is an ordinary schedule whose spec
``lrplugins plot`` accepts, ``wsd(...).cooldown(at=300, steps=100)``.

Run: ``python examples/cooldown_example.py`` (about 2 s on a CPU; writes cooldown.png when
matplotlib is installed).
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import torch

import lrplugins as lrp
from lrplugins.torch import LRScheduler

TOTAL, STOP_AT, COOLDOWN = 1000, 300, 100

torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(8, 32), torch.nn.ReLU(), torch.nn.Linear(32, 1))
opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
sched = LRScheduler(opt, lrp.wsd(warmup_steps=50, decay_steps="20%")).bind(total_steps=TOTAL)
applied: list[float] = []
opt.register_step_pre_hook(lambda o, a, k: applied.append(o.param_groups[0]["lr"]))

x = torch.randn(512, 8)
y = torch.sin(x @ torch.randn(8, 1))
for update in range(STOP_AT + COOLDOWN):
    if update == STOP_AT:
        sched.cooldown(COOLDOWN)  # from the next update: 1-sqrt from the LR in force down to 0
    loss = torch.nn.functional.mse_loss(model(x), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    sched.step()

print(f"cooled down at update {STOP_AT} over {COOLDOWN} updates; final loss {loss.item():.4f}")
print(f"schedule in force: {sched.schedule!r}")
print("update  lr (applied by the optimizer)")
for update in [0, 25, 50, 200, 299, 300, 310, 350, 390, 399]:
    print(f"{update:6d}  {applied[update]:.6g}")
assert applied[-1] < 0.01 * 3e-3 and abs(applied[STOP_AT] - applied[STOP_AT - 1]) < 1e-12

# the same run, drawn by the command line from its spec (a schedule is a value: no replay needed)
spec = f"wsd(total_steps={TOTAL}, warmup_steps=50).cooldown(at={STOP_AT}, steps={COOLDOWN})"
cli = shutil.which("lrplugins")
command = [cli] if cli else [sys.executable, "-m", "lrplugins.cli"]
show = subprocess.run(
    [*command, "show", spec, "--total-steps", "450", "--base-lr", "3e-3"],
    capture_output=True,
    text=True,
    check=True,
)
print(show.stdout)
try:
    import matplotlib  # noqa: F401
except ImportError:
    print("(install matplotlib to also draw cooldown.png)")
else:
    subprocess.run(
        [*command, "plot", spec, "--total-steps", "450", "-o", "cooldown.png"], check=True
    )
    print("lr trace drawn in cooldown.png")
