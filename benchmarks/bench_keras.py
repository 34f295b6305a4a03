"""Keras training-step time, side by side in one run: lrplugins vs Keras's CosineDecay vs constant LR.

    python benchmarks/bench_keras.py [--steps 300] [--repeats 5] [--backends tensorflow,jax,torch]

Each backend runs in its own process (Keras fixes its backend at import). Per backend, the same MLP
(6 Dense layers of 128, Adam, batch 64, synthetic data) is trained with:

- ``constant``: ``Adam(1e-3)``, a float LR;
- ``keras CosineDecay``: ``CosineDecay(0.0, decay_steps, warmup_target=1e-3, warmup_steps)``;
- ``LearningRateSchedule``: ``Adam(LearningRateSchedule(lrp.cosine(...), 1e-3))``, the same shape;
- ``LRSchedulerCallback``: ``Adam(1e-3)`` plus the callback with an unbound cosine and a plateau.

Milliseconds per step are the best (min) over ``repeats`` epochs of (time of the epoch's end - time at
the end of its 10th batch) / (steps - 10), so compilation is left out. The configurations take turns
within each repeat, so drift on the machine hits them alike. Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

CONFIGS = ["constant", "keras CosineDecay", "LearningRateSchedule", "LRSchedulerCallback"]
SKIP = 10  # batches left out at the start of each epoch


def worker(steps: int, repeats: int) -> dict[str, float]:
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
            cbs.append(LRSchedulerCallback(lrp.cosine(warmup_steps="5%"),
                                           plateau=lrp.Plateau(patience=2), monitor="loss"))
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
            model.fit(x, y, batch_size=64, epochs=epoch + 1, initial_epoch=epoch, shuffle=False,
                      verbose=0, callbacks=[*cbs, clock])
            if epoch > 0:
                times[name].append(clock.times[-1])
    return {name: min(ts) for name, ts in times.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--backends", default="tensorflow,jax,torch")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(args.steps, args.repeats)))
        return
    rows = {}
    for backend in args.backends.split(","):
        env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3")
        t0 = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, __file__, "--worker", f"--steps={args.steps}", f"--repeats={args.repeats}"],
            env=env, capture_output=True, text=True,
        )
        if proc.returncode:
            print(f"{backend}: failed\n{proc.stderr[-3000:]}", file=sys.stderr)
            continue
        rows[backend] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(f"{backend}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    print(f"ms per training step (best of {args.repeats} epochs of {args.steps} steps; "
          "ratio to keras CosineDecay in parentheses)\n")
    print("| backend | " + " | ".join(CONFIGS) + " |")
    print("| --- |" + " ---: |" * len(CONFIGS))
    for backend, r in rows.items():
        ref = r["keras CosineDecay"]
        cells = [f"{r[c]:.3f} ({r[c] / ref:.2f})" for c in CONFIGS]
        print(f"| {backend} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
