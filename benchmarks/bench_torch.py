"""Microseconds per ``scheduler.step()``: lrplugins.torch.LRScheduler against torch and transformers.

Same shape for every row: linear warmup over 1% of the run, then cosine decay to 0 (torch's
``CosineAnnealingLR`` alone has no warmup; ``SequentialLR`` chains ``LinearLR`` and
``CosineAnnealingLR`` for the full shape). Each scheduler gets its own SGD optimizer with 1 or 8
parameter groups; only ``scheduler.step()`` is timed (the best of several repeats, garbage
collection off). Target: ours at most half the time of transformers' ``LambdaLR``.

Run: ``python benchmarks/bench_torch.py`` (prints a markdown table).
"""

from __future__ import annotations

import platform
import sys
import timeit
import warnings
from collections.abc import Callable
from typing import Any

import torch
import transformers

import lrplugins as lrp
from lrplugins.torch import LRScheduler

TOTAL = 1_000_000  # long enough that every timed step lies inside the warmup/decay shape
WARMUP = TOTAL // 100
STEPS = 20_000  # steps per repeat
REPEATS = 7


def optimizer(groups: int) -> torch.optim.Optimizer:
    params = [{"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.1} for _ in range(groups)]
    opt = torch.optim.SGD(params, lr=0.1)
    return opt


def factories() -> dict[str, Callable[[torch.optim.Optimizer], Any]]:
    schedule = lrp.cosine(total_steps=TOTAL, warmup_steps="1%")
    return {
        "lrplugins LRScheduler(cosine)": lambda o: LRScheduler(o, schedule),
        "lrplugins LRScheduler(cosine, plateau)": lambda o: LRScheduler(o, schedule, lrp.Plateau()),
        "transformers get_cosine_schedule_with_warmup (LambdaLR)": lambda o: (
            transformers.get_cosine_schedule_with_warmup(o, WARMUP, TOTAL)
        ),
        "torch CosineAnnealingLR (no warmup)": lambda o: torch.optim.lr_scheduler.CosineAnnealingLR(
            o, T_max=TOTAL
        ),
        "torch SequentialLR(LinearLR, CosineAnnealingLR)": lambda o: (
            torch.optim.lr_scheduler.SequentialLR(
                o,
                [
                    torch.optim.lr_scheduler.LinearLR(o, 1e-8, 1.0, total_iters=WARMUP),
                    torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=TOTAL - WARMUP),
                ],
                milestones=[WARMUP],
            )
        ),
    }


def time_step(make: Callable[[torch.optim.Optimizer], Any], groups: int) -> float:
    """Best microseconds per step() over REPEATS runs of STEPS steps, fresh scheduler each run."""
    best = float("inf")
    for _ in range(REPEATS):
        opt = optimizer(groups)
        sched = make(opt)
        opt.step()  # so torch does not warn that the scheduler stepped first
        seconds = timeit.timeit(sched.step, number=STEPS)
        best = min(best, seconds / STEPS * 1e6)
    return best


def main() -> int:
    warnings.simplefilter("ignore")  # SequentialLR's deprecation chatter is not what we time
    rows = []
    ok = True
    for groups in (1, 8):
        results = {name: time_step(make, groups) for name, make in factories().items()}
        ref = results["transformers get_cosine_schedule_with_warmup (LambdaLR)"]
        for name, us in results.items():
            rows.append((groups, name, us, us / ref))
        ok &= results["lrplugins LRScheduler(cosine)"] <= 0.5 * ref
    print(
        f"Python {platform.python_version()}, torch {torch.__version__}, "
        f"transformers {transformers.__version__}, {platform.machine()}; "
        f"best of {REPEATS} x {STEPS} steps\n"
    )
    print("| param groups | scheduler | µs / step() | vs transformers LambdaLR |")
    print("| ---: | --- | ---: | ---: |")
    for groups, name, us, ratio in rows:
        print(f"| {groups} | {name} | {us:.2f} | {ratio:.2f}x |")
    verdict = "met" if ok else "NOT met"
    print(f"\nTarget (ours <= 0.5x transformers' LambdaLR, 1 and 8 groups): {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
