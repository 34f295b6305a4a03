"""One runtime cooldown through all four adapters gives the same per-update LRs.

The same schedule (``wsd`` over 12 updates), the same call (``.cooldown(4, shape="linear")`` after
update 5, so from update 6) in a plain torch loop, Lightning, the Hugging Face Trainer and Keras
(torch backend, in a subprocess). Each run records the LR the framework applied at every update
(the optimizer's param group in a step pre-hook; Keras's optimizer ``learning_rate`` at each batch),
and all four equal ``base * s.cooldown(at=6, steps=4, shape="linear")(u)``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import lrplugins as lrp
from conftest import require

pytestmark = pytest.mark.slow

BASE, N, PER_EPOCH, AT, STEPS = 0.1, 12, 4, 6, 4
SCHEDULE = lrp.wsd(warmup_steps=2, decay_steps="25%")
EXPECTED = [
    BASE * SCHEDULE.bind(total_steps=N).cooldown(at=AT, steps=STEPS, shape="linear")(u)
    for u in range(N)
]


def _torch_loop() -> list[float]:
    torch = require("torch")
    from lrplugins.torch import LRScheduler

    model = torch.nn.Linear(4, 1)
    opt = torch.optim.SGD(model.parameters(), lr=BASE)
    seen: list[float] = []
    opt.register_step_pre_hook(lambda o, a, k: seen.append(o.param_groups[0]["lr"]))
    sched = LRScheduler(opt, SCHEDULE).bind(total_steps=N)
    for u in range(N):
        opt.zero_grad()
        model(torch.randn(8, 4)).pow(2).mean().backward()
        opt.step()
        sched.step()
        if u == AT - 1:
            sched.cooldown(STEPS, shape="linear")
    return seen


def _lightning(tmp_path: Path) -> list[float]:
    torch = require("torch")
    pl = require("lightning.pytorch")
    from torch.utils.data import DataLoader, TensorDataset

    from lrplugins.lightning import LRSchedulerCallback

    seen: list[float] = []

    class Model(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Linear(4, 1)

        def training_step(self, batch: Any, batch_idx: int) -> Any:
            return self.net(batch[0]).pow(2).mean()

        def configure_optimizers(self) -> Any:
            opt = torch.optim.SGD(self.parameters(), lr=BASE)
            opt.register_step_pre_hook(lambda o, a, k: seen.append(o.param_groups[0]["lr"]))
            return opt

    cb = LRSchedulerCallback(SCHEDULE)

    class Cool(pl.Callback):
        def on_train_batch_end(self, trainer: Any, *args: Any) -> None:
            if trainer.global_step == AT:
                cb.cooldown(STEPS, shape="linear")

    data = TensorDataset(torch.randn(32, 4), torch.randn(32, 1))
    trainer = pl.Trainer(
        max_epochs=N // PER_EPOCH, callbacks=[cb, Cool()], logger=False, accelerator="cpu",
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
        default_root_dir=tmp_path,
    )  # fmt: skip
    trainer.fit(Model(), DataLoader(data, batch_size=8))
    return seen


def _huggingface(tmp_path: Path) -> list[float]:
    torch = require("torch")
    require("transformers")
    require("accelerate")
    from transformers import Trainer, TrainerCallback, TrainingArguments

    from lrplugins.huggingface import LRSchedulerCallback

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = torch.nn.Linear(4, 1)

        def forward(self, x: Any, labels: Any = None) -> Any:
            return {"loss": self.net(x).pow(2).mean()}

    model = Net()
    opt = torch.optim.SGD(model.parameters(), lr=BASE)
    seen: list[float] = []
    opt.register_step_pre_hook(lambda o, a, k: seen.append(o.param_groups[0]["lr"]))
    cb = LRSchedulerCallback(SCHEDULE)

    class Cool(TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if state.global_step == AT:
                cb.cooldown(STEPS, shape="linear")

    data = [{"x": x, "labels": y} for x, y in zip(torch.randn(32, 4), torch.randn(32, 1))]
    args = TrainingArguments(
        output_dir=str(tmp_path), num_train_epochs=N // PER_EPOCH, per_device_train_batch_size=8,
        learning_rate=BASE, report_to="none", use_cpu=True, disable_tqdm=True, save_strategy="no",
    )  # fmt: skip
    Trainer(model=model, args=args, train_dataset=data, optimizers=(opt, None),
            callbacks=[cb, Cool()]).train()  # fmt: skip
    return seen


KERAS_SCRIPT = """
import json, sys
import keras, numpy as np
import lrplugins as lrp
from lrplugins.keras import LRSchedulerCallback
BASE, N, PER_EPOCH, AT, STEPS = {consts}
cb = LRSchedulerCallback(lrp.wsd(warmup_steps=2, decay_steps="25%"))
seen = []
class Cool(keras.callbacks.Callback):
    def on_train_batch_begin(self, batch, logs=None):
        seen.append(float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate)))
    def on_train_batch_end(self, batch, logs=None):
        if int(keras.ops.convert_to_numpy(self.model.optimizer.iterations)) == AT:
            cb.cooldown(STEPS, shape="linear")
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
model.compile(optimizer=keras.optimizers.SGD(learning_rate=BASE), loss="mse")
x, y = np.random.default_rng(0).normal(size=(32, 4)), np.zeros((32, 1))
model.fit(x, y, batch_size=8, epochs=N // PER_EPOCH, callbacks=[cb, Cool()], verbose=0,
          shuffle=False)
print(json.dumps(seen))
"""


def _keras(tmp_path: Path) -> list[float]:
    require("keras")
    consts = repr((BASE, N, PER_EPOCH, AT, STEPS))
    env = dict(os.environ, KERAS_BACKEND="torch")
    proc = subprocess.run(
        [sys.executable, "-c", KERAS_SCRIPT.format(consts=consts)],
        capture_output=True, text=True, check=False, env=env, cwd=tmp_path, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_the_same_cooldown_gives_the_same_lrs_in_every_adapter(tmp_path: Path) -> None:
    runs = {
        "torch": _torch_loop(),
        "lightning": _lightning(tmp_path / "l"),
        "huggingface": _huggingface(tmp_path / "h"),
        "keras": _keras(tmp_path),
    }
    assert EXPECTED[AT - 1] > EXPECTED[AT + 1] > EXPECTED[AT + STEPS - 1] > 0.0  # a real cooldown
    for name, seen in runs.items():
        rel = 1e-6 if name == "keras" else 1e-12  # Keras computes its LR in float32
        assert len(seen) == N, (name, seen)
        for u, (got, want) in enumerate(zip(seen, EXPECTED)):
            assert got == pytest.approx(want, rel=rel, abs=1e-9), (name, u, got, want)
