"""Keras training-step time, side by side in one run: lrplugins vs Keras's CosineDecay vs constant LR.

    python benchmarks/bench_keras.py [--steps 300] [--repeats 5] [--backends tensorflow,jax,torch]
                                     [--threads 1]

Each backend runs in its own process (Keras fixes its backend at import). Per backend, the same MLP
(6 Dense layers of 128, Adam, batch 64, synthetic data) is trained with:

- ``constant``: ``Adam(1e-3)``, a float LR;
- ``keras CosineDecay``: ``CosineDecay(0.0, decay_steps, warmup_target=1e-3, warmup_steps)``;
- ``LearningRateSchedule``: ``Adam(LearningRateSchedule(lrp.cosine(...), 1e-3))``, the same shape;
- ``LRSchedulerCallback``: ``Adam(1e-3)`` plus the callback with the same cosine (the LR written
  into the optimizer from Python before each batch, where Keras's schedule runs inside the step).

Milliseconds per step of one repeat: (time of the epoch's end - time at the end of its 10th batch) /
(steps - 10), so compilation is left out. The configurations take turns within each repeat (one
epoch each), so each repeat gives a paired ratio ours / ``CosineDecay``; the table gives the median
(min–max) over ``repeats``.

Each backend runs on ``--threads`` CPU threads (``OMP_NUM_THREADS``, TensorFlow's intra/inter-op
pools, XLA's CPU pool): the model is small, and on a shared machine extra threads measure the other
load more than the step (tensorflow took minutes instead of seconds with its default pools).

Target (issue 5): within 5% of Keras's own schedule, for both of ours (paired ratio <= 1.05); the
verdict is printed per backend from the paired ratios (``benchmarks/spread.py``).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

from spread import ratios, summary, verdict_line

CONFIGS = ["constant", "keras CosineDecay", "LearningRateSchedule", "LRSchedulerCallback"]
REF = "keras CosineDecay"
OURS = ["LearningRateSchedule", "LRSchedulerCallback"]
SKIP = 10  # batches left out at the start of each epoch


def worker(steps: int, repeats: int) -> dict[str, list[float]]:
    import keras
    import numpy as np

    import lrplugins as lrp
    from lrplugins.keras import LearningRateSchedule, LRSchedulerCallback

    total = steps * (repeats + 1)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(steps * 64, 64)).astype("float32")
    y = rng.normal(size=(steps * 64, 1)).astype("float32")

    class Clock(keras.callbacks.Callback):
        def __init__(self) -> None:
            super().__init__()
            self.times: list[float] = []

        def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
            if batch == SKIP - 1:
                self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:  # after jax's state sync
            self.times.append((time.perf_counter() - self.t0) * 1e3 / (steps - SKIP))

    def build(name: str) -> tuple[Any, list[Any]]:
        keras.utils.set_random_seed(0)
        layers = [keras.Input((64,))]
        layers += [keras.layers.Dense(128, activation="relu") for _ in range(6)]
        model = keras.Sequential([*layers, keras.layers.Dense(1)])
        cbs: list[Any] = []
        if name == "constant":
            lr: Any = 1e-3
        elif name == "keras CosineDecay":
            lr = keras.optimizers.schedules.CosineDecay(
                0.0, total - total // 20, warmup_target=1e-3, warmup_steps=total // 20
            )
        elif name == "LearningRateSchedule":
            lr = LearningRateSchedule(lrp.cosine(total_steps=total, warmup_steps="5%"), 1e-3)
        else:
            lr = 1e-3
            cbs.append(LRSchedulerCallback(lrp.cosine(total_steps=total, warmup_steps="5%")))
        model.compile(optimizer=keras.optimizers.Adam(lr), loss="mse")
        return model, cbs

    runs = {}
    for name in CONFIGS:
        model, cbs = build(name)
        clock = Clock()
        runs[name] = (model, cbs, clock)
    times: dict[str, list[float]] = {name: [] for name in CONFIGS}
    # one fit per config with all epochs would interleave badly; instead each repeat is one epoch
    # of a fit(epochs=repeats + 1) that we step through by initial_epoch (warm-up epoch 0 first)
    for epoch in range(repeats + 1):
        for name in CONFIGS:
            model, cbs, clock = runs[name]
            model.fit(
                x,
                y,
                batch_size=64,
                epochs=epoch + 1,
                initial_epoch=epoch,
                shuffle=False,
                verbose=0,
                callbacks=[*cbs, clock],
            )
            if epoch > 0:
                times[name].append(clock.times[-1])
    return times


def threads(n: int) -> dict[str, str]:
    """Environment variables that hold every backend's CPU thread pools to ``n`` threads."""
    xla = f"--xla_cpu_multi_thread_eigen={'true' if n > 1 else 'false'} intra_op_parallelism_threads={n}"
    return {
        "OMP_NUM_THREADS": str(n),
        "MKL_NUM_THREADS": str(n),
        "TF_NUM_INTRAOP_THREADS": str(n),
        "TF_NUM_INTEROP_THREADS": str(n),
        "XLA_FLAGS": (os.environ.get("XLA_FLAGS", "") + " " + xla).strip(),
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--backends", default="tensorflow,jax,torch")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.steps, args.repeats)))
        return 0
    rows: dict[str, dict[str, list[float]]] = {}
    seconds = {}
    for backend in args.backends.split(","):
        env = dict(
            os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3", **threads(args.threads)
        )
        t0 = time.perf_counter()
        cmd = [sys.executable, __file__, "--worker", f"--steps={args.steps}"]
        proc = subprocess.run(
            [*cmd, f"--repeats={args.repeats}"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode:
            print(f"{backend}: failed\n{proc.stderr[-3000:]}", file=sys.stderr)
            continue
        rows[backend] = json.loads(proc.stdout.strip().splitlines()[-1])
        seconds[backend] = time.perf_counter() - t0
    print(
        f"{args.threads} CPU thread(s) per backend; "
        f"ms per training step, median (min–max) over {args.repeats} epochs of {args.steps} "
        "steps; below it, the paired ratio to keras CosineDecay, median (min–max)\n"
    )
    print("| backend | " + " | ".join(CONFIGS) + " |")
    print("| --- |" + " ---: |" * len(CONFIGS))
    for backend, r in rows.items():
        cells = [summary(r[c], digits=3) for c in CONFIGS]
        print(f"| {backend} | " + " | ".join(cells) + " |")
        cells = [summary(ratios(r[c], r[REF])) + "x" for c in CONFIGS]
        print("| ↳ vs CosineDecay | " + " | ".join(cells) + " |")
    print("\nTarget: within 5% of Keras's own CosineDecay (paired ratios)")
    ok = bool(rows)
    for backend, r in rows.items():
        for name in OURS:
            line, met = verdict_line(f"{backend}: {name} / {REF}", ratios(r[name], r[REF]), 1.05)
            print(line)
            ok &= met
    for backend, sec in seconds.items():
        print(f"({backend}: {sec:.0f} s)", file=sys.stderr)
    return 0 if ok and len(rows) == len(args.backends.split(",")) else 1


if __name__ == "__main__":
    sys.exit(main())
