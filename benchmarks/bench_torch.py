"""Microseconds per ``scheduler.step()``: lrplugins.torch.LRScheduler against torch and transformers.

Same shape for every row: linear warmup over 1% of the run, then cosine decay to 0 (torch's
``CosineAnnealingLR`` alone has no warmup; ``SequentialLR`` chains ``LinearLR`` and
``CosineAnnealingLR`` for the full shape). Each scheduler gets its own SGD optimizer with 1 or 8
parameter groups; only ``scheduler.step()`` is timed, ``STEPS`` calls per repeat (``timeit``,
garbage collection off). Within a repeat the schedulers take turns, so each repeat gives a paired
ratio ours / theirs; the table gives the median (min–max) over ``REPEATS``.

Target (issue 3): ours at most half the time of transformers' ``LambdaLR``, with 1 and 8 groups. The
verdict is printed from the paired ratios (``benchmarks/spread.py``); the ratio to torch's own
scheduler of the same shape (``SequentialLR``) is printed beside it.

Run: ``python benchmarks/bench_torch.py`` (prints a markdown table; exit status 1 if the target is
not met at the median).
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
from spread import ratios, summary, verdict_line

import lrplugins as lrp
from lrplugins.torch import LRScheduler

TOTAL = 1_000_000  # long enough that every timed step lies inside the warmup/decay shape
WARMUP = TOTAL // 100
STEPS = 5_000  # steps per repeat: short turns, so a burst of other load hits few of them
REPEATS = 21


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


OURS = "lrplugins LRScheduler(cosine)"
HF = "transformers get_cosine_schedule_with_warmup (LambdaLR)"
TORCH_SAME_SHAPE = "torch SequentialLR(LinearLR, CosineAnnealingLR)"


def time_step(make: Callable[[torch.optim.Optimizer], Any], groups: int) -> float:
    """Microseconds per step() over STEPS steps of a fresh scheduler."""
    opt = optimizer(groups)
    sched = make(opt)
    opt.step()  # so torch does not warn that the scheduler stepped first
    return timeit.timeit(sched.step, number=STEPS) / STEPS * 1e6


def main() -> int:
    warnings.simplefilter("ignore")  # SequentialLR's deprecation chatter is not what we time
    makers = factories()
    times = {(g, name): [] for g in (1, 8) for name in makers}
    for _ in range(REPEATS):
        for groups in (1, 8):
            for name, make in makers.items():
                times[groups, name].append(time_step(make, groups))
    print(
        f"Python {platform.python_version()}, torch {torch.__version__}, "
        f"transformers {transformers.__version__}, {platform.machine()}; "
        f"{REPEATS} repeats x {STEPS} steps, median (min–max) over repeats\n"
    )
    print(
        "| param groups | scheduler | µs / step() | vs transformers LambdaLR | "
        "vs torch SequentialLR (same shape) |"
    )
    print("| ---: | --- | ---: | ---: | ---: |")
    for (groups, name), us in times.items():
        vs_hf = summary(ratios(us, times[groups, HF]))
        vs_torch = summary(ratios(us, times[groups, TORCH_SAME_SHAPE]))
        print(f"| {groups} | {name} | {summary(us)} | {vs_hf}x | {vs_torch}x |")
    print("\nTarget: ours at most 0.5x the time of transformers' LambdaLR (paired ratios)")
    ok = True
    for groups in (1, 8):
        line, met = verdict_line(
            f"{groups} group(s): {OURS} / {HF}",
            ratios(times[groups, OURS], times[groups, HF]),
            0.5,
        )
        print(line)
        ok &= met
    print("Beside it, no target: ours / torch's own scheduler of the same shape")
    for groups in (1, 8):
        rs = ratios(times[groups, OURS], times[groups, TORCH_SAME_SHAPE])
        print(f"- {groups} group(s): {OURS} / {TORCH_SAME_SHAPE}: {summary(rs)}x")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
