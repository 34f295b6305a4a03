"""Core speed against its targets: ``s(step)`` beside a hand-written function, ``values``, import.

Run by hand (numbers go in benchmarks/RESULTS.md)::

    python benchmarks/bench_core.py [--repeats 7] [--with-frameworks]

What is measured, and the target each is judged against (the verdict lines are computed here):

- **scalar**: for each shape, ``s(step)`` and a hand-written Python function of the same shape
  (its constants inlined as literals, as someone would write it for one run) are timed in the same
  process, interleaved in slices of 1,000 steps, over the same steps (CPU time of the thread, so
  that other load on the machine does not count); each repeat gives a ratio ``s(step) / hand``.
  The table shows microseconds per call (median) and the ratio's median and spread (min..max over
  repeats).
  Target: median ratio <= 2x for ``cosine`` with warmup (``s(step)`` runs in every adapter's
  per-update hook); every shape is reported against the same line. Where the hand-written function
  is a single operation (``exponential``, ``wsd``'s stable phase), the fixed cost of calling an
  object and checking the step (about 0.07 us) is larger than the whole function.
- **vectorized**: seconds for ``s.values(np.arange(10_000_000))`` (best of 3, thread CPU time).
  Target: < 0.5 s.
- **import**: ``import lrplugins`` in a fresh interpreter, CPU time of that process (median of
  7), with the bytecode cached as after ``pip install`` (the number compiling the sources each time,
  as under ``PYTHONDONTWRITEBYTECODE=1``, is printed beside it). Target: < 50 ms.

``--with-frameworks`` adds, for context only, what torch's and transformers' own schedulers cost
per ``step()``: not like for like (their ``step()`` also writes the LR into the optimizer), so they
are kept out of the verdict.

Only the public API is used (``import lrplugins as lrp``).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import numpy as np

import lrplugins as lrp

N = 100_000
W = 5_000

SCALAR_TARGET = 2.0  # s(step) / hand-written, median over repeats
TARGET_SHAPE = "cosine+warmup"  # the shape the scalar target is set for
VECTOR_TARGET_S = 0.5  # seconds for values() of 10M steps, every shape
IMPORT_TARGET_MS = 50.0  # import lrplugins, fresh interpreter, median


# Hand-written counterparts: the same shape, constants as literals (N = 100_000, W = 5_000).
def hand_cosine(t: int) -> float:  # cosine(total_steps=N, warmup_steps=W, final=0.1)
    if t < 5000:
        return t / 5000
    p = min((t - 5000) / 95000, 1.0)
    return 0.1 + 0.45 * (1.0 + math.cos(math.pi * p))


def hand_linear(t: int) -> float:  # linear(total_steps=N, warmup_steps=W)
    if t < 5000:
        return t / 5000
    return max(0.0, (100000 - t) / 95000)


def hand_wsd(t: int) -> float:  # wsd(total_steps=N, warmup_steps=W, decay_steps=20_000)
    if t < 5000:
        return t / 5000
    if t < 80000:
        return 1.0
    return 1.0 - math.sqrt(min((t - 80000) / 20000, 1.0))


def hand_exponential(t: int) -> float:  # exponential(0.99999)
    return 0.99999**t


def hand_multistep(t: int) -> float:  # multistep([30_000, 60_000, 90_000])
    return 0.1 ** ((t >= 30000) + (t >= 60000) + (t >= 90000))


def hand_one_cycle(t: int) -> float:  # one_cycle(total_steps=N): peak at 0.3 N - 1 = 29_999
    if t <= 29999:
        return 1.0 - 0.48 * (math.cos(math.pi * t / 29999) + 1.0)
    p = min((t - 29999) / 70000, 1.0)
    return 4e-06 + 0.499998 * (math.cos(math.pi * p) + 1.0)


SHAPES: dict[str, tuple[lrp.Schedule, Callable[[int], float]]] = {
    "cosine+warmup": (lrp.cosine(total_steps=N, warmup_steps=W, final=0.1), hand_cosine),
    "linear+warmup": (lrp.linear(total_steps=N, warmup_steps=W), hand_linear),
    "wsd": (lrp.wsd(total_steps=N, warmup_steps=W, decay_steps=20_000), hand_wsd),
    "exponential": (lrp.exponential(0.99999), hand_exponential),
    "multistep": (lrp.multistep([30_000, 60_000, 90_000]), hand_multistep),
    "one_cycle": (lrp.one_cycle(total_steps=N), hand_one_cycle),
}


def _loop_seconds(fn: Callable[[int], float], steps: list[int]) -> float:
    # CPU time of this thread: on a shared machine, time spent descheduled is not the code's
    t0 = time.thread_time()
    for t in steps:
        fn(t)
    return time.thread_time() - t0


def scalar_ratios(
    sched: lrp.Schedule, hand: Callable[[int], float], steps: list[int], repeats: int
) -> tuple[list[float], float, float]:
    """Per-repeat ratios ours/hand and the median us/call of each.

    Each repeat runs every step through both functions, in slices of 1,000 steps alternating who
    goes first, so that both see the same machine state.
    """
    sched(0)  # the first call prepares the schedule's scalar path: not part of the steady state
    slices = [steps[i : i + 1000] for i in range(0, len(steps), 1000)]
    ours, theirs = [], []
    for _ in range(repeats):
        a = b = 0.0
        for j, chunk in enumerate(slices):
            if j % 2:
                b += _loop_seconds(hand, chunk)
                a += _loop_seconds(sched, chunk)
            else:
                a += _loop_seconds(sched, chunk)
                b += _loop_seconds(hand, chunk)
        ours.append(a)
        theirs.append(b)
    ratios = [a / b for a, b in zip(ours, theirs)]
    per_call = 1e6 / len(steps)
    return ratios, statistics.median(ours) * per_call, statistics.median(theirs) * per_call


def vector_seconds(sched: lrp.Schedule, steps: np.ndarray, repeats: int = 3) -> float:
    """Best of ``repeats``, in CPU time of this thread (numpy runs these on one thread)."""
    best = math.inf
    for _ in range(repeats):
        t0 = time.thread_time()
        sched.values(steps)
        best = min(best, time.thread_time() - t0)
    return best


def import_ms(module: str, repeats: int = 7, *, cached: bool = True) -> float:
    """CPU milliseconds of ``import module`` in a fresh interpreter (median of ``repeats``).

    ``cached``: with the modules' bytecode compiled once beforehand (into a temporary
    ``PYTHONPYCACHEPREFIX``), as after ``pip install``; otherwise every run compiles the sources,
    as under ``PYTHONDONTWRITEBYTECODE=1`` with no cache.
    """
    code = f"import time; t=time.process_time(); import {module}; print(time.process_time()-t)"
    env = dict(os.environ)
    with tempfile.TemporaryDirectory() as prefix:
        if cached:
            env.pop("PYTHONDONTWRITEBYTECODE", None)
            env["PYTHONPYCACHEPREFIX"] = prefix
            subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, check=True)
        else:  # lrplugins compiled each time (the standard library's own cache still used)
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        runs = [
            float(
                subprocess.run(
                    [sys.executable, "-c", code],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                ).stdout
            )
            for _ in range(repeats)
        ]
    return statistics.median(runs) * 1e3


def framework_step_us(n_steps: int = 20_000) -> dict[str, dict[str, float]]:
    """Microseconds per ``scheduler.step()`` of torch / transformers schedulers (context only)."""
    import warnings

    try:
        import torch
        from torch.optim import lr_scheduler as tls
    except ImportError:
        return {}

    def opt() -> torch.optim.Optimizer:
        return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)

    makers: dict[str, dict[str, Callable[[], object]]] = {
        "torch": {
            "cosine+warmup": lambda: tls.CosineAnnealingLR(opt(), T_max=N, eta_min=0.01),
            "linear+warmup": lambda: tls.LinearLR(opt(), 1.0, 0.0, total_iters=N),
            "exponential": lambda: tls.ExponentialLR(opt(), 0.99999),
            "multistep": lambda: tls.MultiStepLR(opt(), [30_000, 60_000, 90_000]),
            "one_cycle": lambda: tls.OneCycleLR(opt(), max_lr=0.1, total_steps=N),
        }
    }
    try:
        from transformers import optimization as hf

        makers["transformers"] = {
            "cosine+warmup": lambda: hf.get_cosine_with_min_lr_schedule_with_warmup(
                opt(), W, N, min_lr_rate=0.1
            ),
            "linear+warmup": lambda: hf.get_linear_schedule_with_warmup(opt(), W, N),
            "wsd": lambda: hf.get_wsd_schedule(opt(), W, 20_000, num_training_steps=N),
        }
    except ImportError:
        pass
    out: dict[str, dict[str, float]] = {}
    for lib, shapes in makers.items():
        for name, make in shapes.items():
            sched = make()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t0 = time.perf_counter()
                for _ in range(n_steps):
                    sched.step()  # type: ignore[attr-defined]
                out.setdefault(name, {})[lib] = (time.perf_counter() - t0) / n_steps * 1e6
    return out


def verdict(ok: bool, what: str) -> str:
    return f"{'PASS' if ok else 'FAIL'}: {what}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7, help="scalar repeats per shape")
    parser.add_argument("--with-frameworks", action="store_true", help="add torch/HF step() times")
    args = parser.parse_args()

    steps = list(range(0, N + 1000, 7))  # warmup, decay and the hold after the end
    big = np.arange(10_000_000, dtype=np.int64)
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, lrplugins {lrp.__version__}")
    print()
    print(
        "| shape | s(step) us | hand-written us | ratio median | ratio min..max | values(10M) s |"
    )
    print("|---|---|---|---|---|---|")
    ratio_of: dict[str, float] = {}
    vector_of: dict[str, float] = {}
    for name, (sched, hand) in SHAPES.items():
        for t in range(0, N + 1000, 997):  # the hand-written function is the same shape
            if abs(sched(t) - hand(t)) > 1e-9:
                raise SystemExit(
                    f"{name}: hand-written differs at step {t}: {hand(t)} vs {sched(t)}"
                )
        ratios, ours, theirs = scalar_ratios(sched, hand, steps, args.repeats)
        ratio_of[name] = med = statistics.median(ratios)
        vector_of[name] = vec = vector_seconds(sched, big)
        print(
            f"| {name} | {ours:.3f} | {theirs:.3f} | {med:.2f}x | "
            f"{min(ratios):.2f}x..{max(ratios):.2f}x | {vec:.3f} |"
        )
    ms, np_ms = import_ms("lrplugins"), import_ms("numpy")
    cold = import_ms("lrplugins", cached=False)
    print()
    print(f"import lrplugins: {ms:.1f} ms CPU, bytecode cached (median of 7 fresh interpreters; "
          f"{cold:.1f} ms compiling the sources each time); import numpy: {np_ms:.1f} ms")  # fmt: skip
    print()
    target = ratio_of[TARGET_SHAPE]
    print(verdict(target <= SCALAR_TARGET,
                  f"s(step) <= {SCALAR_TARGET:g}x hand-written for {TARGET_SHAPE} ({target:.2f}x)"))  # fmt: skip
    over = [f"{k} {r:.2f}x" for k, r in ratio_of.items() if r > SCALAR_TARGET]
    print(f"      (all shapes: {len(ratio_of) - len(over)} of {len(ratio_of)} within "
          f"{SCALAR_TARGET:g}x{'; over it: ' + ', '.join(over) if over else ''})")  # fmt: skip
    slowest = max(vector_of, key=lambda k: vector_of[k])
    print(verdict(vector_of[slowest] < VECTOR_TARGET_S,
                  f"values() of 10M steps < {VECTOR_TARGET_S:g} s for every shape "
                  f"(slowest: {slowest}, {vector_of[slowest]:.3f} s)"))  # fmt: skip
    print(
        verdict(ms < IMPORT_TARGET_MS, f"import lrplugins < {IMPORT_TARGET_MS:g} ms ({ms:.1f} ms)")
    )

    if args.with_frameworks:
        times = framework_step_us()
        print()
        print("For context (not like for like: step() also writes the LR into the optimizer):")
        print("| shape | torch step() us | transformers step() us |")
        print("|---|---|---|")
        for name, libs in times.items():
            cells = [f"{libs[k]:.2f}" if k in libs else "-" for k in ("torch", "transformers")]
            print(f"| {name} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
