"""Core speed, side by side in one run: lrplugins vs hand-written Python vs torch / transformers.

Run by hand (numbers go in benchmarks/RESULTS.md):

    python benchmarks/bench_core.py

Columns, per shape:
- ``lrplugins s(step)``: microseconds per scalar call of the schedule;
- ``hand-written``: the same shape as a plain Python function with its constants inlined;
- ``torch step()`` / ``transformers step()``: microseconds per ``scheduler.step()`` of the framework's
  own scheduler for the same shape (one parameter group), i.e. what a training loop pays today;
- ``values(10M)``: seconds to evaluate 10 million steps at once.
Then the import time of ``lrplugins`` and of numpy, each in a fresh interpreter.
"""

from __future__ import annotations

import math
import statistics
import subprocess
import sys
import time
import timeit

import numpy as np

import lrplugins as lrp

N = 100_000
W = 5_000
PI = math.pi


def hand_cosine(t: int) -> float:
    if t < W:
        return t / W
    p = min((t - W) / (N - W), 1.0)
    return 0.1 + 0.9 * 0.5 * (1.0 + math.cos(PI * p))


def hand_linear(t: int) -> float:
    if t < W:
        return t / W
    return max(0.0, (N - t) / (N - W))


def hand_wsd(t: int) -> float:
    if t < W:
        return t / W
    if t < N - 20_000:
        return 1.0
    return 1.0 - math.sqrt(min((t - (N - 20_000)) / 20_000, 1.0))


def hand_exponential(t: int) -> float:
    return 0.99999 ** t


def hand_multistep(t: int) -> float:
    return 0.1 ** ((t >= 30_000) + (t >= 60_000) + (t >= 90_000))


def hand_one_cycle(t: int) -> float:
    e1 = 0.3 * N - 1
    if t <= e1:
        pct = t / e1
        return 1.0 + (0.04 - 1.0) / 2.0 * (math.cos(PI * pct) + 1.0)
    pct = min((t - e1) / (N - 1 - e1), 1.0)
    return 4e-6 + (1.0 - 4e-6) / 2.0 * (math.cos(PI * pct) + 1.0)


def torch_schedulers():
    import torch
    from torch.optim import lr_scheduler as tls

    def opt():
        return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)

    return {
        "cosine": lambda: tls.CosineAnnealingLR(opt(), T_max=N, eta_min=0.01),
        "linear": lambda: tls.LinearLR(opt(), 1.0, 0.0, total_iters=N),
        "exponential": lambda: tls.ExponentialLR(opt(), 0.99999),
        "multistep": lambda: tls.MultiStepLR(opt(), [30_000, 60_000, 90_000]),
        "one_cycle": lambda: tls.OneCycleLR(opt(), max_lr=0.1, total_steps=N),
    }


def hf_schedulers():
    import torch
    from transformers import optimization as hf

    def opt():
        return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)

    return {
        "cosine": lambda: hf.get_cosine_with_min_lr_schedule_with_warmup(
            opt(), W, N, min_lr_rate=0.1
        ),
        "linear": lambda: hf.get_linear_schedule_with_warmup(opt(), W, N),
        "wsd": lambda: hf.get_wsd_schedule(
            opt(), W, 20_000, num_training_steps=N, decay_type="1-sqrt"
        ),
    }


SHAPES = {
    "cosine": (lrp.cosine(total_steps=N, warmup_steps=W, final=0.1), hand_cosine),
    "linear": (lrp.linear(total_steps=N, warmup_steps=W), hand_linear),
    "wsd": (lrp.wsd(total_steps=N, warmup_steps=W, decay_steps=20_000), hand_wsd),
    "exponential": (lrp.exponential(0.99999), hand_exponential),
    "multistep": (lrp.multistep([30_000, 60_000, 90_000]), hand_multistep),
    "one_cycle": (lrp.one_cycle(total_steps=N), hand_one_cycle),
}


def per_call_us(fn, steps, repeat: int = 5) -> float:
    """Median over ``repeat`` runs of the mean microseconds per call over ``steps``."""

    def run():
        for t in steps:
            fn(t)

    return statistics.median(timeit.repeat(run, number=1, repeat=repeat)) / len(steps) * 1e6


def per_step_us(make, n_steps: int = 20_000, repeat: int = 3) -> float:
    import warnings

    times = []
    for _ in range(repeat):
        sched = make()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t0 = time.perf_counter()
            for _ in range(n_steps):
                sched.step()
            times.append(time.perf_counter() - t0)
    return statistics.median(times) / n_steps * 1e6


def import_ms(module: str, repeat: int = 5) -> float:
    code = f"import time; t=time.perf_counter(); import {module}; print(time.perf_counter()-t)"
    runs = [
        float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
        for _ in range(repeat)
    ]
    return statistics.median(runs) * 1e3


def main() -> None:
    steps = list(range(0, N, 7))
    big = np.arange(10_000_000, dtype=np.int64)
    try:
        torch_s = torch_schedulers()
    except ImportError:
        torch_s = {}
    try:
        hf_s = hf_schedulers()
    except ImportError:
        hf_s = {}
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}")
    print()
    print(
        "| shape | lrplugins s(step) us | hand-written us | ratio | torch step() us | "
        "transformers step() us | values(10M) s |"
    )
    print("|---|---|---|---|---|---|---|")
    for name, (sched, hand) in SHAPES.items():
        for t in range(0, N, 997):  # same shape check before timing
            assert abs(sched(t) - hand(t)) < 1e-9, (name, t, sched(t), hand(t))
        ours = per_call_us(sched, steps)
        theirs = per_call_us(hand, steps)
        tq = f"{per_step_us(torch_s[name]):.2f}" if name in torch_s else "-"
        hq = f"{per_step_us(hf_s[name]):.2f}" if name in hf_s else "-"
        t0 = time.perf_counter()
        sched.values(big)
        vec = time.perf_counter() - t0
        print(f"| {name} | {ours:.2f} | {theirs:.2f} | {ours / theirs:.2f}x | {tq} | {hq} | {vec:.3f} |")
    print()
    print(f"import lrplugins: {import_ms('lrplugins'):.1f} ms; import numpy: {import_ms('numpy'):.1f} ms")


if __name__ == "__main__":
    main()
