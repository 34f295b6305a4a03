"""A tiny Keras model trained with an lrplugins schedule and a plateau monitor (any backend, CPU).

    KERAS_BACKEND=jax python examples/keras_example.py     # or tensorflow, torch

The optimizer is configured with a float LR (the base LR). ``LRSchedulerCallback`` binds the
unbound cosine schedule from ``fit`` (warmup = 5% of the run), computes
``base_lr * schedule(step) * plateau.scale`` inside the compiled train step, and cuts the LR by 2
when ``val_loss`` has not improved for ``patience + 1`` epochs in a row (torch's convention). After
epoch 8 another callback calls ``scheduler.cooldown(16)``: from the next update the LR decays from
the value in force to 0 over 16 updates (1-sqrt), as a warmup-stable-decay run is finished early.
The script prints the LR of every update (read back through ``LearningRateSchedule.lr``) and the
per-epoch ``learning_rate`` that History logged. It takes a few seconds.
"""

from __future__ import annotations

import keras
import numpy as np

import lrplugins as lrp
from lrplugins.keras import LRSchedulerCallback

rng = np.random.default_rng(0)
x = rng.normal(size=(256, 8)).astype("float32")
y = (x @ rng.normal(size=(8, 1)) + 0.5 * rng.normal(size=(256, 1))).astype("float32")
x_val, y_val = x[:64], y[:64] + rng.normal(size=(64, 1)).astype("float32")  # noisy: stalls soon

keras.utils.set_random_seed(0)
model = keras.Sequential(
    [keras.Input((8,)), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)]
)
model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.05, momentum=0.9), loss="mse")


class LRTrace(keras.callbacks.Callback):
    """Collects the LR of every optimizer update (the callback's schedule, read on the host)."""

    def __init__(self) -> None:
        super().__init__()
        self.lrs: list[float] = []

    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None:
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        self.lrs.append(scheduler.lr_schedule.lr(step))


scheduler = LRSchedulerCallback(
    lrp.cosine(warmup_steps="5%", final=0.01),
    plateau=lrp.Plateau(factor=0.5, patience=1),
    monitor="val_loss",
)
trace = LRTrace()
cool_down = keras.callbacks.LambdaCallback(  # e.g. a time budget running out
    on_epoch_end=lambda epoch, logs: scheduler.cooldown(16) if epoch == 7 else None
)
history = model.fit(
    x, y, batch_size=32, epochs=12, validation_data=(x_val, y_val),
    callbacks=[scheduler, trace, cool_down], verbose=0,
)

print(f"backend: {keras.backend.backend()}; optimizer LR: {scheduler.lr_schedule!r}")
print("update  lr")
for step, lr in enumerate(trace.lrs):
    if step % 8 == 0 or step == len(trace.lrs) - 1:
        print(f"{step:6d}  {lr:.6f}")
print("epoch  val_loss  learning_rate (History: LR of the epoch's last update)")
for epoch, (v, lr) in enumerate(zip(history.history["val_loss"], history.history["learning_rate"])):
    print(f"{epoch:5d}  {v:8.4f}  {lr:.6f}")
print(f"plateau: {scheduler.plateau!r}")
print(f"events: {scheduler.state_dict()['events']}")
