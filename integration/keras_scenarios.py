"""Keras scenarios for one backend, run in their own process (Keras fixes its backend at import).

    KERAS_BACKEND=jax python integration/keras_scenarios.py [scenario ...]

Prints one JSON object ``{scenario: {"ok": bool, "detail": str, "seconds": float}}`` on the last
line of stdout and exits 0. ``integration/test_keras.py`` runs it once per backend and turns each
scenario into its own test. ``load-child DIR`` is the fresh process of the save/load scenario: it
imports only keras and ``lrplugins.keras`` before ``keras.models.load_model``.

Every LR check recovers the LR actually applied from the weight change of a linear model trained
with plain SGD on MSE (the gradient is known in closed form), never from the optimizer alone.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from collections.abc import Callable
from typing import Any

if len(sys.argv) > 1 and sys.argv[1] == "load-child":  # the fresh process: nothing but these
    import keras
    import numpy as np

    import lrplugins.keras

    def _child(folder: str) -> None:
        with open(os.path.join(folder, "spec.json")) as fh:
            spec = json.load(fh)
        data = np.load(os.path.join(folder, "data.npz"))
        for name in spec["models"]:
            model = keras.models.load_model(os.path.join(folder, f"{name}.keras"))
            lrs = model.optimizer._learning_rate
            assert type(lrs).__name__ == "LearningRateSchedule", type(lrs)
            callbacks = []
            if name == "callback":
                import lrplugins as lrp

                cb = lrplugins.keras.LRSchedulerCallback(
                    lrp.from_config(spec["schedule"]),
                    plateau=lrp.Plateau.from_config(spec["plateau"]),
                    monitor="val_loss",
                )
                cb.load_state_dict(spec["state"])
                callbacks.append(cb)
            hist = model.fit(
                data["x"], data["y"], batch_size=4, epochs=spec["epochs"],
                initial_epoch=spec["initial_epoch"], shuffle=False, verbose=0,
                validation_data=(data["xv"], data["yv"]), callbacks=callbacks,
            )
            np.save(os.path.join(folder, f"{name}_out.npy"), keras.ops.convert_to_numpy(
                model.trainable_weights[0]))
            with open(os.path.join(folder, f"{name}_lr.json"), "w") as fh:
                json.dump(hist.history.get("learning_rate", []), fh)

    _child(sys.argv[2])
    sys.exit(0)

import keras
import numpy as np
from keras import ops

import lrplugins as lrp
from lrplugins.keras import LearningRateSchedule, LRSchedulerCallback

BACKEND = keras.backend.backend()
F32 = {"rtol": 2e-5, "atol": 1e-7}  # float32 evaluation against the float64 core
D = 3  # input features
B = 4  # batch size


# ------------------------------------------------------------------------------------------------
# helpers
# ------------------------------------------------------------------------------------------------


def data(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, D)).astype("float32")
    y = (x @ np.array([[1.0], [-2.0], [0.5]]) + 0.1 * rng.normal(size=(n, 1))).astype("float32")
    # validation inputs are zero: predictions are 0 whatever the weights, so val_loss stalls
    return {"x": x, "y": y, "xv": np.zeros((8, D), "float32"), "yv": np.ones((8, 1), "float32")}


def linear_model(optimizer: Any) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((D,)), keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")]
    )
    model.compile(optimizer=optimizer, loss="mse")
    return model


class Weights(keras.callbacks.Callback):
    """Records the kernel after every batch (the micro-batch under gradient accumulation)."""

    def __init__(self) -> None:
        super().__init__()
        self.w: list[np.ndarray] = []

    def on_train_begin(self, logs: Any = None) -> None:
        self.w.append(ops.convert_to_numpy(self.model.trainable_weights[0]).astype("float64"))

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self.w.append(ops.convert_to_numpy(self.model.trainable_weights[0]).astype("float64"))


def applied_lrs(ws: list[np.ndarray], d: dict[str, np.ndarray], accum: int = 1) -> np.ndarray:
    """The LR of each SGD update, recovered from the weight changes: ``dw = -lr * grad``."""
    x, y = d["x"].astype("float64"), d["y"].astype("float64")
    n_batches = len(x) // B
    out = []
    for i in range(accum - 1, len(ws) - 1, accum):  # micro-batch i ends an update
        w = ws[i + 1 - accum]  # weights before the update
        g = np.zeros_like(w)
        for j in range(i + 1 - accum, i + 1):
            b = j % n_batches
            xb, yb = x[b * B : (b + 1) * B], y[b * B : (b + 1) * B]
            g += 2.0 / B * xb.T @ (xb @ w - yb)
        g /= accum
        dw = ws[i + 1] - w
        out.append(-float((dw * g).sum() / (g * g).sum()))
    return np.array(out)


def close(got: Any, want: Any, what: str, rtol: float = 1e-4, atol: float = 1e-6) -> None:
    got, want = np.asarray(got, "float64"), np.asarray(want, "float64")
    if got.shape != want.shape or not np.allclose(got, want, rtol=rtol, atol=atol):
        raise AssertionError(f"{what}:\n got  {np.round(got, 7).tolist()}\n want {np.round(want, 7).tolist()}")


def expect(exc: type | tuple[type, ...], words: list[str], fn: Callable[[], Any]) -> None:
    """``fn()`` raises ``exc`` (or one of them) with every one of ``words`` in its message."""
    name = " or ".join(e.__name__ for e in (exc if isinstance(exc, tuple) else (exc,)))
    try:
        fn()
    except exc as e:
        msg = str(e)
        missing = [w for w in words if w not in msg]
        if missing:
            raise AssertionError(f"{name} message lacks {missing}: {msg}") from None
    else:
        raise AssertionError(f"no {name}")


def ours(caught: list[warnings.WarningMessage]) -> list[str]:
    """The lrplugins warnings among ``caught``."""
    return [str(w.message) for w in caught if "LRSchedulerCallback" in str(w.message)]


def kernel(model: keras.Model) -> np.ndarray:
    return ops.convert_to_numpy(model.trainable_weights[0])


def fit(model: keras.Model, d: dict[str, np.ndarray], epochs: int, callbacks: list[Any], **kw: Any) -> Any:
    return model.fit(
        d["x"], d["y"], batch_size=B, epochs=epochs, shuffle=False, verbose=0,
        validation_data=(d["xv"], d["yv"]), callbacks=callbacks, **kw,
    )


# ------------------------------------------------------------------------------------------------
# scenarios: every function decorated with @scenario, in the order of this file. This is the one
# list: integration/test_keras.py reads it from this file's source (without importing Keras).
# ------------------------------------------------------------------------------------------------

ALL_BACKENDS = ("tensorflow", "jax", "torch")
SCENARIOS: dict[str, Callable[[], Any]] = {}


def scenario(fn: Any = None, *, backends: tuple[str, ...] = ALL_BACKENDS) -> Any:
    """Register a scenario; ``backends`` (a literal tuple) lists where it runs, all by default."""

    def register(f: Callable[[], Any]) -> Callable[[], Any]:
        SCENARIOS[f.__name__] = f
        return f

    return register(fn) if fn is not None else register



@scenario
def catalog() -> str:
    """LearningRateSchedule equals the core (float32) for every shape, eagerly and compiled."""
    shapes = [
        lrp.constant(warmup_steps=7),
        lrp.linear(total_steps=50, warmup_steps=5, final=0.1),
        lrp.cosine(total_steps=60, warmup_steps="10%", final=0.05, warmup_start=0.1),
        lrp.cosine_restarts(10, cycle_mult=2, final=0.1, decay=0.7, warmup_steps=3),
        lrp.polynomial(total_steps=40, warmup_steps=4, power=2.0, final=0.01),
        lrp.exponential(0.95, every=3, staircase=True),
        lrp.exponential(0.97),
        lrp.multistep([10, 25], gamma=0.3),
        lrp.piecewise([10, 20], [1.0, 0.5, 0.1]),
        lrp.inverse_sqrt(warmup_steps=8),
        lrp.inverse_time(10, 0.5, staircase=True),
        lrp.one_cycle(total_steps=50, three_phase=True),
        lrp.cyclic(8, step_size_down=5, mode="exp_range", gamma=0.99),
        lrp.wsd(total_steps=60, warmup_steps=6, decay_steps="30%", final=0.05),
        lrp.interpolate([(0, 0.0), (10, 1.0), (30, 0.2)], shape="cosine"),
        lrp.sequence([lrp.constant(warmup_steps=5), lrp.cosine()], boundaries=[10], total_steps=50),
        0.5 * lrp.cosine(total_steps=50) * lrp.constant(warmup_steps=5),
    ]
    steps = np.arange(0, 80)
    compiled: Callable[[Any, Any], Any]
    if BACKEND == "jax":
        import jax

        compiled = lambda f, s: jax.jit(f)(s)
    elif BACKEND == "tensorflow":
        import tensorflow as tf

        compiled = lambda f, s: tf.function(f)(s)
    else:
        compiled = lambda f, s: f(s)
    for s in shapes:
        lrs = LearningRateSchedule(s, base_lr=0.3)
        want = 0.3 * s.values(steps)
        eager = np.array([float(ops.convert_to_numpy(lrs(int(u)))) for u in steps[::7]])
        close(eager, want[::7], f"eager {s!r}", **F32)
        step_t = ops.convert_to_tensor(steps, "int32")
        got = ops.convert_to_numpy(compiled(lambda u: lrs(u), step_t))  # noqa: B023 - called now
        close(got, want, f"compiled {s!r}", **F32)
    return f"{len(shapes)} shapes, steps 0..79"


@scenario
def trace() -> dict[str, Any]:
    """Callback + plateau on a float-LR SGD: every update's LR, the cut epoch, History, traces."""
    d = data(24)  # 6 batches per epoch, 5 epochs = 30 updates
    sched = lrp.cosine(warmup_steps="1ep", final=0.1)  # unbound: the callback binds it
    plateau = lrp.Plateau(factor=0.5, patience=1)
    cb = LRSchedulerCallback(sched, plateau=plateau, monitor="val_loss")
    rec = Weights()
    calls = [0]
    model = linear_model(keras.optimizers.SGD(0.1))
    orig = LearningRateSchedule.__call__

    def counting(self: Any, step: Any) -> Any:
        calls[0] += 1
        return orig(self, step)

    LearningRateSchedule.__call__ = counting  # type: ignore[method-assign]
    try:
        hist = fit(model, d, 5, [cb, rec])
    finally:
        LearningRateSchedule.__call__ = orig  # type: ignore[method-assign]
    got = applied_lrs(rec.w, d)
    bound = sched.bind(total_steps=30, steps_per_epoch=6)
    # torch patience: best at epoch 0, bad at 1 and 2 -> cut at the end of epoch 2
    scale = np.array([1.0] * 18 + [0.5] * 12)
    want = 0.1 * np.array(bound.values(range(30))) * scale
    close(got, want, "applied LR")
    close(hist.history["learning_rate"], want[5::6], "History learning_rate")
    # ... and again at the end of epoch 4 (after the last update, so only the count shows it)
    if plateau.num_reductions != 2 or plateau.scale != 0.25:
        raise AssertionError(f"expected 2 reductions, got {plateau!r}")
    if BACKEND != "torch" and calls[0] > 4:  # traced once per compile: start and one cut (+eval)
        raise AssertionError(f"schedule traced {calls[0]} times in 30 steps")
    return {"lrs": got.tolist(), "calls": calls[0]}


@scenario
def accumulation() -> str:
    """gradient_accumulation_steps=2: the schedule advances once per real update."""
    d = data(32)  # 8 micro-batches = 4 updates per epoch, 2 epochs = 8 updates
    # schedule straight in the optimizer: no callback, so it is told k itself
    s = lrp.linear(total_steps=8, warmup_steps=2, final=0.1)
    lrs = LearningRateSchedule(s, 0.2, gradient_accumulation_steps=2)  # told k explicitly
    model = linear_model(keras.optimizers.SGD(lrs, gradient_accumulation_steps=2))
    rec = Weights()
    fit(model, d, 2, [rec])
    close(applied_lrs(rec.w, d, accum=2), 0.2 * np.array(s.values(range(8))), "in optimizer")
    # callback binding: total = 2 epochs * 8 batches // 2 = 8 updates, steps_per_epoch 4
    s2 = lrp.cosine(warmup_steps="1ep")
    model = linear_model(keras.optimizers.SGD(0.2, gradient_accumulation_steps=2))
    rec = Weights()
    hist = fit(model, d, 2, [LRSchedulerCallback(s2), rec])
    want = 0.2 * np.array(s2.bind(total_steps=8, steps_per_epoch=4).values(range(8)))
    close(applied_lrs(rec.w, d, accum=2), want, "callback")
    close(hist.history["learning_rate"], want[3::4], "History learning_rate")
    # schedule=None: the callback binds and drives the optimizer's own LearningRateSchedule
    s3 = lrp.linear(warmup_steps="50%")
    model = linear_model(keras.optimizers.SGD(LearningRateSchedule(s3, 0.2), gradient_accumulation_steps=2))
    rec = Weights()
    fit(model, d, 2, [LRSchedulerCallback(None), rec])
    want = 0.2 * np.array(s3.bind(total_steps=8).values(range(8)))
    close(applied_lrs(rec.w, d, accum=2), want, "callback(None) + optimizer schedule")
    return "ok"


def _resume_spec() -> tuple[Any, dict[str, Any]]:
    sched = lrp.cosine(warmup_steps="1ep", final=0.1)
    plateau_cfg = lrp.Plateau(factor=0.5, patience=2).to_config()
    return sched, plateau_cfg


class StopAfter(keras.callbacks.Callback):
    def __init__(self, epochs: int, error: bool = False) -> None:
        super().__init__()
        self.epochs, self.error = epochs, error

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if epoch + 1 == self.epochs:
            if self.error:
                raise KeyboardInterrupt("simulated crash")
            self.model.stop_training = True


@scenario
def save_load() -> str:
    """model.save after 2 of 5 epochs, load in a fresh process, continue == uninterrupted."""
    d = data(24)
    sched, plateau_cfg = _resume_spec()
    direct = LearningRateSchedule(lrp.cosine(total_steps=30, warmup_steps=6), base_lr=0.05)

    def make(name: str) -> tuple[keras.Model, list[Any], Any]:
        if name == "direct":
            return linear_model(keras.optimizers.Adam(LearningRateSchedule.from_config(direct.get_config()))), [], None
        cb = LRSchedulerCallback(sched, plateau=lrp.Plateau.from_config(plateau_cfg), monitor="val_loss")
        return linear_model(keras.optimizers.Adam(0.05)), [cb], cb

    with tempfile.TemporaryDirectory() as folder:
        np.savez(os.path.join(folder, "data.npz"), **d)
        spec: dict[str, Any] = {"models": ["direct", "callback"], "epochs": 5, "initial_epoch": 2,
                                "schedule": sched.to_config(), "plateau": plateau_cfg}
        full = {}
        for name in spec["models"]:
            model, cbs, cb = make(name)
            hist = fit(model, d, 5, cbs)
            full[name] = (ops.convert_to_numpy(model.trainable_weights[0]), hist.history.get("learning_rate"))
            model, cbs, cb = make(name)
            fit(model, d, 5, cbs + [StopAfter(2)])
            model.save(os.path.join(folder, f"{name}.keras"))
            if cb is not None:
                spec["state"] = json.loads(json.dumps(cb.state_dict()))
        with open(os.path.join(folder, "spec.json"), "w") as fh:
            json.dump(spec, fh)
        env = dict(os.environ, KERAS_BACKEND=BACKEND)
        proc = subprocess.run([sys.executable, __file__, "load-child", folder], env=env, check=False,
                              capture_output=True, text=True, timeout=240)
        if proc.returncode:
            raise AssertionError(f"load-child failed:\n{proc.stderr[-3000:]}")
        for name in spec["models"]:
            w = np.load(os.path.join(folder, f"{name}_out.npy"))
            close(w, full[name][0], f"{name}: weights after resume", rtol=1e-6, atol=1e-7)
            if name == "callback":
                with open(os.path.join(folder, f"{name}_lr.json")) as fh:
                    lrs = json.load(fh)
                close(lrs, full[name][1][2:], "History learning_rate after resume")
                # the plateau cut happened after the restart (epoch 3), so its state was needed
                if not full[name][1][4] < full[name][1][3] * 0.6:
                    raise AssertionError(f"no cut after the restart: {full[name][1]}")
    return "ok"


OLD_LAYOUT_CONFIG = {  # LearningRateSchedule as serialized by the single-module lrplugins/keras.py
    "module": "lrplugins.keras",
    "class_name": "LearningRateSchedule",
    "config": {
        "schedule": {
            "kind": "cooldown",
            "schedule": {"kind": "cosine", "total_steps": 12, "warmup_steps": "1ep", "final": 0.1,
                         "warmup_start": 0.0, "steps_per_epoch": 6},
            "at": 8, "steps": 6, "shape": "linear", "final": 0.0, "steps_per_epoch": None,
        },
        "base_lr": 0.1, "scale": 1.0, "gradient_accumulation_steps": 1, "offset": 0,
    },
    "registered_name": "lrplugins>LearningRateSchedule",
}


@scenario
def saved_config() -> str:
    """A LearningRateSchedule serialized before lrplugins.keras became a package (module
    "lrplugins.keras", registered name "lrplugins>LearningRateSchedule") deserializes to the same
    LRs, and serializing it again gives the same config (saved models record the public module)."""
    lrs = keras.saving.deserialize_keras_object(json.loads(json.dumps(OLD_LAYOUT_CONFIG)))
    want = lrp.cosine(total_steps=12, warmup_steps="1ep", final=0.1, steps_per_epoch=6)
    want = want.cooldown(at=8, steps=6, shape="linear")
    close([lrs.lr(u) for u in range(16)], [0.1 * want(u) for u in range(16)], "lr", rtol=1e-12)
    close(ops.convert_to_numpy(lrs(ops.convert_to_tensor(np.arange(16), "int32"))),
          [0.1 * want(u) for u in range(16)], "compiled lr", **F32)
    again = keras.saving.serialize_keras_object(lrs)
    if again != OLD_LAYOUT_CONFIG:
        raise AssertionError(f"serialized differently:\n{again}\n{OLD_LAYOUT_CONFIG}")
    return "ok"


def _crash_and_restore(cooldown_at: int | None = None) -> tuple[Any, Any, Any, Any]:
    """5 epochs of SGD with momentum, a plateau and BackupAndRestore + backup_dir, uninterrupted
    and crashed after epoch 3 then rerun (with ``cb.cooldown(12)`` at update ``cooldown_at``):
    (weights, History learning_rate) of the uninterrupted run, then of the rerun."""
    d = data(24)
    sched, plateau_cfg = _resume_spec()

    def run(folder: str | None, extra: list[Any]) -> Any:
        cb = LRSchedulerCallback(sched, plateau=lrp.Plateau.from_config(plateau_cfg),
                                 monitor="val_loss", backup_dir=folder)
        model = linear_model(keras.optimizers.SGD(0.05, momentum=0.9))
        cbs: list[Any] = [cb] + ([keras.callbacks.BackupAndRestore(folder)] if folder else [])
        if cooldown_at is not None:
            cbs.append(CallAt(cooldown_at, lambda: cb.cooldown(12)))
        hist = fit(model, d, 5, cbs + extra)
        return kernel(model), hist.history["learning_rate"]

    w_full, lr_full = run(None, [])
    with tempfile.TemporaryDirectory() as folder:
        try:
            run(folder, [StopAfter(3, error=True)])
        except KeyboardInterrupt:
            pass
        else:
            raise AssertionError("the crash did not happen")
        w, lr = run(folder, [])
        if os.path.exists(os.path.join(folder, "lrplugins_lr_state.json")):
            raise AssertionError("state file left behind after a finished fit")
    return w_full, lr_full, w, lr


@scenario
def backup_restore() -> str:
    """A crash after epoch 3, rerun with BackupAndRestore + backup_dir == uninterrupted run."""
    w_full, lr_full, w, lr = _crash_and_restore()
    close(w, w_full, "weights after restore", rtol=1e-6, atol=1e-7)
    close(lr, lr_full[3:], "History learning_rate after restore")
    return "ok"


@scenario(backends=("jax",))  # DataParallel over simulated CPU devices
def data_parallel() -> str:
    """jax DataParallel on 2 CPU devices: the same LRs as the single-device trace."""
    if BACKEND != "jax":
        return "skipped: jax only"
    import jax

    devices = jax.devices("cpu")
    if len(devices) < 2:
        raise AssertionError(f"need 2 CPU devices (XLA_FLAGS), got {devices}")
    single = trace()
    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices[:2]))
    try:
        multi = trace()
    finally:
        keras.distribution.set_distribution(None)
    close(multi["lrs"], single["lrs"], "LRs under DataParallel vs one device")
    return f"{len(devices)} devices"


@scenario
def errors() -> str:
    """Clear errors: unbound without callback, unknown run length, missing metric, foreign LR."""
    d = data(16)
    unbound = LearningRateSchedule(lrp.cosine(warmup_steps="5%"), 0.1)
    expect(lrp.UnboundScheduleError, ["total_steps", "LRSchedulerCallback"],
           lambda: fit(linear_model(keras.optimizers.SGD(unbound)), d, 1, []))

    def gen() -> Any:
        while True:
            yield d["x"][:B], d["y"][:B]

    expect(lrp.UnboundScheduleError, ["steps_per_epoch", "total_steps"],
           lambda: _fit_generator(gen))
    expect(KeyError, ["val_acc", "available", "loss", "val_loss"],
           lambda: fit(linear_model(keras.optimizers.SGD(0.1)), d, 1,
                       [LRSchedulerCallback(lrp.cosine(), plateau=lrp.Plateau(), monitor="val_acc")]))
    foreign = keras.optimizers.schedules.CosineDecay(0.1, 10)
    expect(TypeError, ["learning_rate", "float"],
           lambda: fit(linear_model(keras.optimizers.SGD(foreign)), d, 1,
                       [LRSchedulerCallback(lrp.cosine())]))
    for other in (keras.callbacks.ReduceLROnPlateau(), keras.callbacks.LearningRateScheduler(lambda e, lr: lr),
                  LRSchedulerCallback(lrp.constant())):
        model = linear_model(keras.optimizers.SGD(0.1))
        expect(ValueError, [type(other).__name__, "also sets the learning rate"],
               lambda m=model, o=other: fit(m, d, 1, [LRSchedulerCallback(lrp.cosine()), o]))
        if np.any(kernel(model) != 0):
            raise AssertionError(f"trained before refusing {type(other).__name__}")
    expect(TypeError, ["custom"], lambda: LearningRateSchedule(lrp.custom(lambda s: 1.0), 0.1))
    expect(ValueError, ["base_lr", "-1"], lambda: LearningRateSchedule(lrp.constant(), -1))
    expect(ValueError, ["plateau", "monitor"], lambda: LRSchedulerCallback(lrp.constant(), plateau=lrp.Plateau()))
    return "ok"


@scenario
def clock_refused() -> str:
    """A schedule in samples or tokens is refused by LearningRateSchedule and the callback (as
    the schedule, momentum, or a restored state's), saying to write it in updates; nothing
    trains."""
    words = ["clock", "update count", "optimizer updates"]
    tokens, samples = lrp.cosine(total_steps="300Btok"), lrp.linear(warmup_steps="512sp", total_steps="10Ksp")
    expect(ValueError, ["tokens", *words], lambda: LearningRateSchedule(tokens, 0.1))
    expect(ValueError, ["samples", *words], lambda: LearningRateSchedule(samples.to_config(), 0.1))
    expect(ValueError, ["tokens", *words], lambda: LRSchedulerCallback(tokens))
    expect(ValueError, ["samples", *words], lambda: LRSchedulerCallback(samples, plateau=lrp.Plateau(), monitor="loss"))
    expect(ValueError, ["momentum", "tokens"],
           lambda: LRSchedulerCallback(lrp.constant(), momentum=lrp.cosine(total_steps="1Mtok")))
    # a state saved on the tokens clock (e.g. by lrplugins.torch) is refused before any update
    state = LRSchedulerCallback(lrp.cosine()).state_dict()
    state.update(schedule=tokens.to_config(), clock={"unit": "tokens", "value": 4096})
    model, cb = linear_model(keras.optimizers.SGD(0.1)), LRSchedulerCallback(lrp.cosine())
    expect(ValueError, ["load_state_dict", "tokens", *words], lambda: cb.load_state_dict(state))
    fit(model, data(16), 1, [cb])  # the refused state left the callback as it was
    if cb.run_state.clock != "steps":
        raise AssertionError(f"the refused state changed the run: {cb.run_state.clock}")
    return "ok"


def _fit_generator(gen: Callable[[], Any]) -> Any:
    """A generator with no length: fit() cannot tell the run length."""
    model = linear_model(keras.optimizers.SGD(0.1))
    return model.fit(gen(), epochs=2, steps_per_epoch=None, verbose=0,
                     callbacks=[LRSchedulerCallback(lrp.cosine(warmup_steps=2)), StopAfter(1)])


class CallAt(keras.callbacks.Callback):
    """Calls ``fn()`` from ``on_train_batch_end`` once the optimizer has taken ``update`` updates."""

    def __init__(self, update: int, fn: Callable[[], Any]) -> None:
        super().__init__()
        self.update, self.fn, self.done = update, fn, False

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        if not self.done and int(ops.convert_to_numpy(self.model.optimizer.iterations)) == self.update:
            self.done = True
            self.fn()


@scenario
def no_validation() -> str:
    """A val_* monitor in a fit without validation data: refused before any update (strict) or
    warned (strict=False); validation_freq=2 skips the other epochs silently; validation_split works."""
    d = data(24)

    def cb(strict: bool = True) -> LRSchedulerCallback:
        return LRSchedulerCallback(lrp.constant(), plateau=lrp.Plateau(factor=0.5, patience=0),
                                   monitor="val_loss", strict=strict)

    def plain_fit(model: keras.Model, c: Any, **kw: Any) -> Any:
        return model.fit(d["x"], d["y"], batch_size=B, epochs=4, shuffle=False, verbose=0,
                         callbacks=[c], **kw)

    model = linear_model(keras.optimizers.SGD(0.1))
    expect(ValueError, ["val_loss", "validation_data=", "validation_split=", "strict=False"],
           lambda: plain_fit(model, cb()))
    if np.any(kernel(model) != 0):
        raise AssertionError("the model was trained before the refusal")
    c = cb(strict=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        plain_fit(linear_model(keras.optimizers.SGD(0.1)), c)
    got = ours(caught)
    if len(got) != 1 or "val_loss" not in got[0] or "validation_data=" not in got[0]:
        raise AssertionError(f"expected one warning naming val_loss and validation_data=: {got}")
    if c.plateau.state_dict() != lrp.Plateau(factor=0.5, patience=0).state_dict():
        raise AssertionError(f"the plateau was fed: {c.plateau.state_dict()}")
    # validation every 2nd epoch: fed at epochs 1 and 3 only (constant val_loss: one cut, at 3)
    c = cb()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(linear_model(keras.optimizers.SGD(0.1)), d, 4, [c], validation_freq=2)
    if ours(caught) or c.plateau.num_reductions != 1:  # fed 4 times: 3 cuts
        raise AssertionError(f"validation_freq=2: {ours(caught)} {c.plateau.state_dict()}")
    c = cb()
    plain_fit(linear_model(keras.optimizers.SGD(0.1)), c, validation_split=0.25)
    if not np.isfinite(c.plateau.state_dict()["best"]):
        raise AssertionError("validation_split: the plateau was never fed")
    return "ok"


@scenario
def metrics() -> str:
    """strict=False: a missing monitor warns once and is skipped; a training metric ("loss") is fed
    the epoch that just ended."""
    d = data(24)
    c = LRSchedulerCallback(lrp.constant(), plateau=lrp.Plateau(), monitor="val_acc", strict=False)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(linear_model(keras.optimizers.SGD(0.1)), d, 3, [c])
    got = ours(caught)
    if len(got) != 1 or "val_acc" not in got[0] or "val_loss" not in got[0]:
        raise AssertionError(f"expected one warning naming val_acc and the available metrics: {got}")
    if c.plateau.state_dict() != lrp.Plateau().state_dict():
        raise AssertionError(f"the plateau was fed: {c.plateau.state_dict()}")
    c = LRSchedulerCallback(lrp.constant(), plateau=lrp.Plateau(), monitor="loss")
    seen: list[tuple[float, float]] = []
    probe = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: seen.append((c.plateau.state_dict()["best"], logs["loss"])))
    fit(linear_model(keras.optimizers.SGD(0.1)), d, 3, [c, probe])
    close([b for b, _ in seen], [v for _, v in seen], "plateau best vs this epoch's loss", rtol=1e-6)
    return "ok"


@scenario
def cooldown() -> str:
    """cb.cooldown() from a signal handler mid-epoch: the cooldown starts at the next update from
    the LR in force (plateau scale included), and the model's optimizer config holds it."""
    d = data(24)  # 6 batches per epoch, 5 epochs = 30 updates
    sched = lrp.cosine(warmup_steps="1ep", final=0.1)
    cb = LRSchedulerCallback(sched, plateau=lrp.Plateau(factor=0.5, patience=0), monitor="val_loss")
    rec = Weights()
    model = linear_model(keras.optimizers.SGD(0.1))
    usr1 = getattr(signal, "SIGUSR1", None)
    def request() -> None:
        cb.cooldown(8, shape="linear", final=0.05)

    previous = signal.signal(usr1, lambda *_: request()) if usr1 else None
    try:
        hist = fit(model, d, 5, [cb, CallAt(14, (lambda: signal.raise_signal(usr1)) if usr1 else request), rec])
    finally:
        if usr1:
            signal.signal(usr1, previous)
    bound = sched.bind(total_steps=30, steps_per_epoch=6)
    # constant val_loss, patience 0: bad at the end of epoch 1, so scale 0.5 from update 12
    before = 0.1 * np.array(bound.values(range(30))) * np.array([1.0] * 12 + [0.5] * 18)
    cooled = (0.5 * bound).cooldown(at=14, steps=8, shape="linear", final=0.05)
    want = np.where(np.arange(30) < 14, before, 0.1 * np.array(cooled.values(range(30))))
    close(applied_lrs(rec.w, d), want, "applied LR")
    close(hist.history["learning_rate"], want[5::6], "History learning_rate")
    events = cb.state_dict()["events"]
    if [(e["kind"], e["at"], e["scale"]) for e in events] != [("cooldown", 14, 0.5)]:
        raise AssertionError(f"events: {events}")
    config = json.loads(json.dumps(model.optimizer._learning_rate.get_config()))
    saved = LearningRateSchedule.from_config(config)
    # from the cooldown on (what a model loaded from here runs; earlier updates are past)
    close([saved.lr(u) for u in range(14, 30)], want[14:], "the optimizer config's schedule")
    return "ok"


@scenario
def cooldown_resume() -> str:
    """A crash after a mid-epoch cooldown, rerun with BackupAndRestore + backup_dir: the same
    weights and History as the uninterrupted run."""
    w_full, lr_full, w, lr = _crash_and_restore(cooldown_at=9)
    close(w, w_full, "weights after restore", rtol=1e-6, atol=1e-7)
    close(lr, lr_full[3:], "History learning_rate after restore")
    if not lr_full[4] < lr_full[1] * 0.5:
        raise AssertionError(f"no cooldown visible: {lr_full}")
    return "ok"


@scenario
def cooldown_checkpoint() -> str:
    """The "cool down from this checkpoint" recipe: cb.cooldown() before a resumed fit starts the
    cooldown at the resumed run's first update (applied LR from the weights)."""
    d = data(24)  # 4 epochs of 6 updates; the first run crashes after 2
    sched = lrp.cosine(warmup_steps="1ep", final=0.1)
    with tempfile.TemporaryDirectory() as folder:
        def run(cb: LRSchedulerCallback, extra: list[Any]) -> Weights:
            rec = Weights()
            model = linear_model(keras.optimizers.SGD(0.1))
            fit(model, d, 4, [cb, keras.callbacks.BackupAndRestore(folder), *extra, rec])
            return rec

        try:
            run(LRSchedulerCallback(sched, backup_dir=folder), [StopAfter(2, error=True)])
        except KeyboardInterrupt:
            pass
        cb = LRSchedulerCallback(sched, backup_dir=folder)
        cb.cooldown(6, shape="linear")
        rec = run(cb, [])
    cooled = sched.bind(total_steps=24, steps_per_epoch=6).cooldown(at=12, steps=6, shape="linear")
    close(applied_lrs(rec.w, d), 0.1 * np.array(cooled.values(range(12, 24))), "cooldown from update 12")
    return "ok"


class CoolAtEpochEnd(keras.callbacks.Callback):
    """Calls ``cb.cooldown(...)`` from its own ``on_epoch_end`` at the end of epoch ``epoch``."""

    def __init__(self, cb: LRSchedulerCallback, epoch: int, steps: int) -> None:
        super().__init__()
        self.cb, self.epoch, self.steps = cb, epoch, steps

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if epoch == self.epoch:
            self.cb.cooldown(self.steps, shape="linear")


@scenario
def cooldown_epoch_end() -> str:
    """A cooldown requested from another callback's on_epoch_end, before or after this callback
    in the list, is in that epoch's BackupAndRestore state: a fit that crashes right after that
    epoch and resumes gives the uninterrupted run's LR at every update (from the weights)."""
    d = data(24)  # 6 updates per epoch, 4 epochs; the cooldown is asked at the end of epoch 1
    sched = lrp.cosine(warmup_steps="1ep", final=0.1)
    bound = sched.bind(total_steps=24, steps_per_epoch=6)
    want = 0.1 * np.array(bound.cooldown(at=12, steps=9, shape="linear").values(range(24)))
    for first in (True, False):
        with tempfile.TemporaryDirectory() as folder:
            def run(extra: list[Any], folder: str = folder, first: bool = first) -> Weights:
                cb = LRSchedulerCallback(sched, backup_dir=folder)
                other = CoolAtEpochEnd(cb, 1, 9)
                own = [cb, keras.callbacks.BackupAndRestore(folder)]
                rec = Weights()
                cbs = [other, *own] if first else [*own, other]
                fit(linear_model(keras.optimizers.SGD(0.1)), d, 4, [*cbs, *extra, rec])
                return rec

            order = "before" if first else "after"
            close(applied_lrs(run([]).w, d), want, f"uninterrupted, cooldown {order} the callback")
            try:
                run([StopAfter(2, error=True)])
            except KeyboardInterrupt:
                pass
            else:
                raise AssertionError("the crash did not happen")
            close(applied_lrs(run([]).w, d), want[12:], f"resumed, cooldown {order} the callback")
    return "ok"


@scenario
def new_base_lr() -> str:
    """After a fit with the callback the optimizer's LR can be set again (Keras refuses a float on
    a schedule: "not settable"): the next run takes it as its base, with the same callback reused
    or a new one, also through a LossScaleOptimizer; a new callback without a new value takes the
    optimizer's configured LR; set during a fit it is refused before the next update, naming the
    callback; model.save keeps the new base."""
    d = data(24)  # 2 epochs of 6 updates
    sched = lrp.cosine(warmup_steps="1ep", final=0.1)
    shape = np.array(sched.bind(total_steps=12, steps_per_epoch=6).values(range(12)))
    cb = LRSchedulerCallback(sched)
    model = linear_model(keras.optimizers.SGD(0.1))
    for what, base, callback in (
        ("first fit", 0.1, cb),
        ("the same callback after learning_rate = 0.02", 0.02, cb),
        ("a new callback after learning_rate = 0.05", 0.05, None),
        ("a new callback, nothing set", 0.05, None),
    ):
        if what.endswith("= 0.02"):
            model.optimizer.learning_rate = 0.02
        elif what.endswith("= 0.05"):
            model.optimizer.learning_rate = np.float32(0.05)
        rec = Weights()
        fit(model, d, 2, [callback or LRSchedulerCallback(sched), rec])
        close(applied_lrs(rec.w, d), base * shape, what)
    scaled = linear_model(keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1)))
    fit(scaled, d, 1, [LRSchedulerCallback(sched)])
    scaled.optimizer.learning_rate = 0.03
    rec = Weights()
    fit(scaled, d, 2, [LRSchedulerCallback(sched), rec])
    close(applied_lrs(rec.w, d), 0.03 * shape, "LossScaleOptimizer, learning_rate = 0.03")
    with tempfile.TemporaryDirectory() as tmp:
        model.save(os.path.join(tmp, "m.keras"))
        loaded = keras.models.load_model(os.path.join(tmp, "m.keras"))
        if loaded.optimizer._learning_rate.base_lr != 0.05:
            raise AssertionError(f"saved base: {loaded.optimizer._learning_rate!r}")
    setter = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: setattr(model.optimizer, "learning_rate", 0.3))
    w = kernel(model).copy()
    expect(TypeError, ["learning_rate", "during fit()", "LRSchedulerCallback", "next run"],
           lambda: fit(model, d, 2, [LRSchedulerCallback(sched), setter]))
    if model.optimizer._learning_rate.base_lr != 0.05 or np.allclose(kernel(model), w):
        raise AssertionError("the refused set changed the base, or no epoch ran before it")
    expect(ValueError, ["learning_rate", "-1"], lambda: setattr(model.optimizer, "learning_rate", -1))
    return "ok"


@scenario
def pending_cooldown() -> str:
    """cb.cooldown() while no fit runs is pending and starts at the first update of the next
    fit: after a fit ended (a continued fit and a new fit) or raised, and before a fit that
    resumes from load_state_dict; twice before a fit: the second from the first's value; bad arguments are
    refused at once, naming steps."""
    d = data(24)  # 4 epochs of 6 updates; the first fit stops after 2
    sched = lrp.cosine(warmup_steps="1ep", final=0.1)
    bound = sched.bind(total_steps=24, steps_per_epoch=6)
    stop = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: setattr(model, "stop_training", e == 1))

    def cooled(*calls: tuple[int, int]) -> np.ndarray:
        s = bound
        for at, steps in calls:
            s = s.cooldown(at=at, steps=steps, shape="linear")
        return 0.1 * np.array(s.values(range(24)))

    # after a fit ended, then the same callback continues (initial_epoch=2)
    cb = LRSchedulerCallback(sched)
    model = linear_model(keras.optimizers.SGD(0.1))
    fit(model, d, 4, [cb, stop])
    state = json.loads(json.dumps(cb.state_dict()))
    cb.cooldown(6, shape="linear")
    rec = Weights()
    fit(model, d, 4, [cb, rec], initial_epoch=2)
    close(applied_lrs(rec.w, d), cooled((12, 6))[12:], "after a fit ended, continued")
    # ... then a new fit from epoch 0: the next cooldown starts at its update 0
    cb.cooldown(6, shape="linear")
    rec = Weights()
    fit(model, d, 4, [cb, rec])
    close(applied_lrs(rec.w, d), cooled((0, 6)), "after a fit ended, a new fit")
    # after a fit that raised (Keras calls no hook then), the same callback and model go on
    cb = LRSchedulerCallback(sched)
    model = linear_model(keras.optimizers.SGD(0.1))
    try:
        fit(model, d, 4, [cb, StopAfter(2, error=True)])
    except KeyboardInterrupt:
        pass
    cb.cooldown(6, shape="linear")
    rec = Weights()
    fit(model, d, 4, [cb, rec], initial_epoch=2)
    close(applied_lrs(rec.w, d), cooled((12, 6))[12:], "after a fit that raised")
    # before a fit that resumes from load_state_dict (a new callback, the saved optimizer)
    for order in ("cooldown, then load_state_dict", "load_state_dict, then cooldown"):
        resumed = LRSchedulerCallback(sched)
        if order.startswith("cooldown"):
            resumed.cooldown(6, shape="linear")
        resumed.load_state_dict(state)
        if order.startswith("load"):
            resumed.cooldown(6, shape="linear")
        model = linear_model(keras.optimizers.SGD(0.1))
        fit(model, d, 4, [LRSchedulerCallback(sched), stop])
        rec = Weights()
        fit(model, d, 4, [resumed, rec], initial_epoch=2)
        close(applied_lrs(rec.w, d), cooled((12, 6))[12:], order)
    # twice before a fit: the second starts at the same update, from the first's value there
    cb = LRSchedulerCallback(sched)
    cb.cooldown(10, shape="linear")
    cb.cooldown(4, shape="linear")
    rec = Weights()
    fit(linear_model(keras.optimizers.SGD(0.1)), d, 4, [cb, rec])
    close(applied_lrs(rec.w, d), cooled((0, 10), (0, 4)), "two pending cooldowns")
    for bad in (-1, True, None):
        expect((TypeError, ValueError), ["steps"], lambda b=bad: cb.cooldown(b))
    return "ok"


@scenario
def horizon() -> str:
    """Resume (BackupAndRestore) with another number of epochs: stretched (more) or squeezed (fewer)
    from the resume update, one warning naming both totals; horizon='rebind' binds again."""
    d = data(24)  # 6 updates per epoch; the first run (4 epochs = 24 updates) crashes after 2
    sched = lrp.cosine(warmup_steps="1ep", final=0.1)
    bound = sched.bind(total_steps=24, steps_per_epoch=6)
    for mode, epochs in (("stretch", 6), ("stretch", 3), ("rebind", 6)):
        with tempfile.TemporaryDirectory() as folder:
            def run(n: int, extra: list[Any], mode: str = mode, folder: str = folder) -> Weights:
                rec = Weights()
                cb = LRSchedulerCallback(sched, horizon=mode, backup_dir=folder)
                model = linear_model(keras.optimizers.SGD(0.1))
                fit(model, d, n, [cb, keras.callbacks.BackupAndRestore(folder), *extra, rec])
                return rec

            try:
                run(4, [StopAfter(2, error=True)])
            except KeyboardInterrupt:
                pass
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                rec = run(epochs, [])
            total = 6 * epochs
            got = [m for m in ours(caught) if "24" in m and str(total) in m]
            if len(got) != 1 or len(ours(caught)) != 1:
                raise AssertionError(f"{mode} to {total}: expected one warning, got {ours(caught)}")
            if mode == "stretch":
                want = bound.stretch(at=12, total_steps=total)
            else:
                want = sched.bind(total_steps=total, steps_per_epoch=6)
            close(applied_lrs(rec.w, d), 0.1 * np.array(want.values(range(12, total))),
                  f"{mode} to {total} updates")
    return "ok"


@scenario
def loss_scale() -> str:
    """A LossScaleOptimizer (what mixed precision wraps around the optimizer): the callback drives
    the inner optimizer; every update's LR and the plateau cut apply."""
    d = data(24)
    sched = lrp.cosine(warmup_steps="1ep", final=0.1)
    cb = LRSchedulerCallback(sched, plateau=lrp.Plateau(factor=0.5, patience=0), monitor="val_loss")
    rec = Weights()
    fit(linear_model(keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.1))), d, 3, [cb, rec])
    bound = sched.bind(total_steps=18, steps_per_epoch=6)
    want = 0.1 * np.array(bound.values(range(18))) * np.array([1.0] * 12 + [0.5] * 6)
    close(applied_lrs(rec.w, d), want, "applied LR through LossScaleOptimizer")
    return "ok"


class Bias(keras.callbacks.Callback):
    """The LR each batch applied to a bias whose gradient is ``G`` (0: the update was skipped)."""

    G = 100.0

    def __init__(self) -> None:
        super().__init__()
        self.lrs: list[float] = []
        self.b0 = 0.0

    def _bias(self) -> float:
        return float(ops.convert_to_numpy(self.model.layers[-1].bias)[0])

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        self.b0 = self._bias()

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        self.lrs.append((self.b0 - self._bias()) / self.G)


def _overflowing_model() -> keras.Model:
    """Under ``mixed_float16``: a bias-only model whose loss ``G * mean(prediction)`` has the
    gradient ``G`` on the bias, so the scaled gradient overflows float16 (max 65504) while the
    loss scale is above 512: the first 6 batches (scale 32768 halved to 1024) are skipped, and
    ``optimizer.iterations`` counts none of them."""

    def loss(y: Any, p: Any) -> Any:
        return ops.mean(p) * Bias.G

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, kernel_initializer="zeros")])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss=loss)
    if type(model.optimizer).__name__ != "LossScaleOptimizer":
        raise AssertionError(f"mixed_float16 compiled a {type(model.optimizer).__name__}")
    return model


@scenario
def loss_scale_skips_continue() -> str:
    """mixed_float16 with 6 overflow-skipped updates: a fit interrupted at the end of epoch 2 and
    continued by the same callback with fit(initial_epoch=2) applies the uninterrupted run's LRs,
    without a warning (the optimizer is where that fit left it); the same callback on a fresh
    optimizer at epoch 2 still warns that its state was not restored."""
    x, y = np.zeros((64, 2), "float32"), np.zeros((64, 1), "float32")  # 8 batches of 8 per epoch
    policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:

        def run(model: keras.Model, cbs: list[Any], **kw: Any) -> list[str]:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                model.fit(
                    x, y, batch_size=8, epochs=4, verbose=0, shuffle=False, callbacks=cbs, **kw
                )
            return ours(caught)

        full = Bias()
        model = _overflowing_model()
        run(model, [LRSchedulerCallback(lrp.linear()), full])
        skipped = 6
        done = int(ops.convert_to_numpy(model.optimizer.inner_optimizer.iterations))
        if done != 32 - skipped:  # (the outer optimizer's own count stays 0 on Keras 3.7)
            raise AssertionError(f"iterations {done}")
        # updates 0..25 of a run bound to 4 * 8 = 32 updates; the skipped batches apply nothing
        want = [0.0] * skipped + [0.1 * (1 - u / 32) for u in range(32 - skipped)]
        close(full.lrs, want, "uninterrupted run with skipped updates", atol=1e-6)

        model, cb, first, rest = (
            _overflowing_model(),
            LRSchedulerCallback(lrp.linear()),
            Bias(),
            Bias(),
        )
        try:
            run(model, [cb, StopAfter(2, error=True), first])
        except KeyboardInterrupt:
            pass
        else:
            raise AssertionError("the interruption did not happen")
        said = run(model, [cb, rest], initial_epoch=2)
        close(first.lrs + rest.lrs, full.lrs, "interrupted + fit(initial_epoch=2)", atol=1e-6)
        if said:
            raise AssertionError(f"continuing the callback's own fit warned: {said}")

        # the same callback on a fresh optimizer: its state was not restored
        said = run(_overflowing_model(), [cb, Bias()], initial_epoch=2)
        if not any("not restored" in m and "update 16" in m for m in said):
            raise AssertionError(f"no warning about a fresh optimizer: {said}")
    finally:
        keras.mixed_precision.set_global_policy(policy)
    return "ok"


@scenario
def reuse() -> str:
    """One callback object: a second fit on the same model and a fit on a new model each start a
    new run (schedule from update 0, fresh plateau); a weights-only resume (optimizer not restored)
    continues at the resumed update with a warning."""
    d = data(24)  # 3 epochs of 6 updates
    sched = lrp.cosine(warmup_steps="1ep", final=0.1)
    bound = sched.bind(total_steps=18, steps_per_epoch=6)
    # constant val_loss, patience 0: the cut comes at the end of epoch 1 (0.5 for epoch 2)
    want = 0.1 * np.array(bound.values(range(18))) * np.array([1.0] * 12 + [0.5] * 6)
    cb = LRSchedulerCallback(sched, plateau=lrp.Plateau(factor=0.5, patience=0), monitor="val_loss")
    model = linear_model(keras.optimizers.SGD(0.1))
    for what, m in (("first fit", model), ("second fit, same model", model),
                    ("new model", linear_model(keras.optimizers.SGD(0.1)))):
        rec = Weights()
        fit(m, d, 3, [cb, rec])
        close(applied_lrs(rec.w, d), want, what)
    # load_weights-style resume at epoch 1: the optimizer starts at update 0
    resumed = linear_model(keras.optimizers.SGD(0.1))
    resumed.set_weights(model.get_weights())
    rec = Weights()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fit(resumed, d, 3, [LRSchedulerCallback(sched), rec], initial_epoch=1)
    if not any("not restored" in m and "update 6" in m for m in ours(caught)):
        raise AssertionError(f"no warning about the optimizer state: {ours(caught)}")
    close(applied_lrs(rec.w, d), 0.1 * np.array(bound.values(range(6, 18))), "weights-only resume")
    return "ok"


def _grad(w: np.ndarray, x: np.ndarray, y: np.ndarray, b: int) -> np.ndarray:
    """The MSE gradient of batch ``b`` at ``w`` (float64)."""
    xb, yb = x[b * B : (b + 1) * B], y[b * B : (b + 1) * B]
    return 2.0 / B * xb.T @ (xb @ w - yb)


@scenario
def momentum() -> dict[str, Any]:
    """momentum= / weight_decay=: SGD momentum recovered per update from the weights equals
    0.9 * s(u) (and a float64 re-run gives the same weights); AdamW beta_1 and weight_decay
    schedules equal a float64 re-run of Keras's AdamW; epoch logs; no retrace per step; an
    optimizer without the hyperparameter, or with it at 0, and a plain number are refused;
    model.save / load_model keep working (configured values); a resume from state_dict continues
    the momentum schedule."""
    import lrplugins.keras._hypers as lk

    d = data(24)  # 6 batches per epoch, 2 epochs = 12 updates
    x, y = d["x"].astype("float64"), d["y"].astype("float64")
    n, lr = 12, 0.05
    # -- SGD with momentum 0.9, momentum=linear(final=0.5): recovered from the weight changes
    sm = lrp.linear(final=0.5)  # unbound: the callback binds it to the 12 updates
    cb = LRSchedulerCallback(lrp.constant(), momentum=sm)
    model = linear_model(keras.optimizers.SGD(lr, momentum=0.9))
    traces, reads = [0], [0]
    make = model.make_train_function

    def counting_make(force: bool = False) -> Any:
        traces[0] += 1
        return make(force=force)

    model.make_train_function = counting_make  # type: ignore[method-assign]
    get = lk._Hyper.__get__

    def counting_get(self: Any, opt: Any, owner: Any = None) -> Any:
        if opt is not None and self.attr in (vars(opt).get(lk._DRIVERS) or {}):
            reads[0] += 1
        return get(self, opt, owner)

    lk._Hyper.__get__ = counting_get  # type: ignore[method-assign]
    rec = Weights()
    try:
        hist = fit(model, d, 2, [cb, rec])
    finally:
        lk._Hyper.__get__ = get  # type: ignore[method-assign]
    want_m = 0.9 * np.array(sm.bind(total_steps=n).values(range(n)))
    ws = rec.w
    got_m = []
    for t in range(1, n):  # v_t = m_t v_{t-1} - lr g_t, w_t = w_{t-1} + v_t (v_0 = 0: no m_0)
        v_prev, v = ws[t] - ws[t - 1], ws[t + 1] - ws[t]
        r = v + lr * _grad(ws[t], x, y, t % 6)
        got_m.append(float((r * v_prev).sum() / (v_prev * v_prev).sum()))
    close(got_m, want_m[1:], "SGD momentum recovered from the weights", rtol=2e-3, atol=1e-4)
    w, v = np.zeros((D, 1)), np.zeros((D, 1))
    for t in range(n):  # float64 re-run with momentum 0.9 * s(u)
        v = want_m[t] * v - lr * _grad(w, x, y, t % 6)
        w = w + v
    close(kernel(model), w, "SGD weights vs float64 re-run", rtol=1e-4, atol=1e-6)
    close(hist.history["momentum"], want_m[[5, 11]], "History momentum", rtol=1e-12)
    opt = model.optimizer
    if opt.get_config()["momentum"] != 0.9 or type(opt).__name__ != "SGD":
        raise AssertionError(f"get_config: {opt.get_config()}, {type(opt)}")
    if traces[0] > 2:  # fit's own make_train_function and the callback's one recompile
        raise AssertionError(f"make_train_function called {traces[0]} times in one fit")
    if BACKEND != "torch" and reads[0] >= n:  # traced: read a few times per trace, not per step
        raise AssertionError(f"momentum read {reads[0]} times in {n} updates")
    with tempfile.TemporaryDirectory() as tmp:
        model.save(os.path.join(tmp, "m.keras"))
        loaded = keras.models.load_model(os.path.join(tmp, "m.keras"))
        if loaded.optimizer.get_config()["momentum"] != 0.9:
            raise AssertionError(f"loaded momentum {loaded.optimizer.get_config()}")
    state = cb.state_dict()
    if state["momentum"] != sm.to_config() or state["groups"]["0"][0]["base"]["momentum"] != 0.9:
        raise AssertionError(f"state_dict: {state}")
    # a run stopped after epoch 1, resumed from the callback's state on the same optimizer
    stop = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda e, logs: setattr(model2, "stop_training", True))
    cb1 = LRSchedulerCallback(lrp.constant(), momentum=sm)
    model2 = linear_model(keras.optimizers.SGD(lr, momentum=0.9))
    fit(model2, d, 2, [cb1, stop])
    cb2 = LRSchedulerCallback(lrp.constant(), momentum=sm)
    cb2.load_state_dict(json.loads(json.dumps(cb1.state_dict())))
    hist = fit(model2, d, 2, [cb2], initial_epoch=1)
    close(kernel(model2), w, "resumed SGD weights vs float64 re-run", rtol=1e-4, atol=1e-6)
    close(hist.history["momentum"], want_m[[11]], "resumed History momentum", rtol=1e-12)

    # -- AdamW: beta_1 and weight_decay schedules against a float64 re-run of Keras's AdamW
    sb, sw = lrp.cosine(final=0.5), lrp.linear(final=0.2)
    cb = LRSchedulerCallback(lrp.constant(), momentum=sb, weight_decay=sw)
    model = linear_model(keras.optimizers.AdamW(0.05, beta_1=0.9, weight_decay=0.5))
    hist = fit(model, d, 2, [cb])
    b1 = 0.9 * np.array(sb.bind(total_steps=n).values(range(n)))
    wd = 0.5 * np.array(sw.bind(total_steps=n).values(range(n)))
    w, m, v = np.zeros((D, 1)), np.zeros((D, 1)), np.zeros((D, 1))
    for t in range(n):
        g = _grad(w, x, y, t % 6)
        w = w - w * wd[t] * 0.05  # decoupled decay first, at the update's weight decay
        m = m + (g - m) * (1 - b1[t])
        v = v + (g * g - v) * (1 - 0.999)
        alpha = 0.05 * np.sqrt(1 - 0.999 ** (t + 1)) / (1 - b1[t] ** (t + 1))
        w = w - alpha * m / (np.sqrt(v) + 1e-7)
    close(kernel(model), w, "AdamW weights vs float64 re-run", rtol=2e-4, atol=1e-5)
    close(hist.history["momentum"], b1[[5, 11]], "History momentum (beta_1)", rtol=1e-12)
    close(hist.history["weight_decay"], wd[[5, 11]], "History weight_decay", rtol=1e-12)
    cfg = model.optimizer.get_config()
    if cfg["beta_1"] != 0.9 or cfg["weight_decay"] != 0.5:
        raise AssertionError(f"AdamW get_config: {cfg}")

    # -- RMSprop (compares momentum with 0 in its step): a float64 re-run; Nadam: it runs
    model = linear_model(keras.optimizers.RMSprop(0.01, momentum=0.8))
    hist = fit(model, d, 2, [LRSchedulerCallback(lrp.constant(), momentum=sm)])
    w, vel, buf = np.zeros((D, 1)), np.zeros((D, 1)), np.zeros((D, 1))
    for t in range(n):
        g = _grad(w, x, y, t % 6)
        vel = 0.9 * vel + 0.1 * g * g
        buf = want_m[t] / 0.9 * 0.8 * buf + 0.01 * g / np.sqrt(vel + 1e-7)
        w = w - buf
    close(kernel(model), w, "RMSprop weights vs float64 re-run", rtol=2e-4, atol=1e-5)
    close(hist.history["momentum"], want_m[[5, 11]] / 0.9 * 0.8, "RMSprop momentum", rtol=1e-12)
    model = linear_model(keras.optimizers.Nadam(0.01))
    hist = fit(model, d, 2, [LRSchedulerCallback(lrp.constant(), momentum=sm)])
    close(hist.history["momentum"], want_m[[5, 11]], "Nadam momentum (beta_1)", rtol=1e-12)
    if not np.isfinite(kernel(model)).all():
        raise AssertionError("Nadam: non-finite weights")

    # -- refused: no such hyperparameter, at 0, a plain number
    expect(ValueError, ["Adagrad", "momentum"], lambda: fit(
        linear_model(keras.optimizers.Adagrad(0.1)), d, 1,
        [LRSchedulerCallback(lrp.constant(), momentum=lrp.linear())]))
    expect(ValueError, ["SGD", "momentum=0.0"], lambda: fit(
        linear_model(keras.optimizers.SGD(0.1)), d, 1,
        [LRSchedulerCallback(lrp.constant(), momentum=lrp.linear())]))
    expect(ValueError, ["Adam", "weight_decay=None"], lambda: fit(
        linear_model(keras.optimizers.Adam(0.1)), d, 1,
        [LRSchedulerCallback(lrp.constant(), weight_decay=lrp.linear())]))
    expect(TypeError, ["momentum", "configure momentum on the optimizer"],
           lambda: LRSchedulerCallback(lrp.constant(), momentum=0.9))
    return {"momentum": got_m[:4], "traces": traces[0], "reads": reads[0]}


@scenario
def doctests() -> str:
    """The examples in the docstrings of lrplugins.keras and its modules run on this backend."""
    import doctest
    import importlib
    import pkgutil

    import lrplugins.keras

    attempted = 0
    names = [f"lrplugins.keras.{m.name}" for m in pkgutil.iter_modules(lrplugins.keras.__path__)]
    for name in ["lrplugins.keras", *names]:
        result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
        if result.failed:
            raise AssertionError(f"doctests of {name}: {result}")
        attempted += result.attempted
    if attempted < 5:
        raise AssertionError(f"only {attempted} doctest examples found")
    return f"{attempted} examples"


def main(names: list[str]) -> None:
    results = {}
    for name in names or list(SCENARIOS):
        t0 = time.perf_counter()
        try:
            out = SCENARIOS[name]()
            detail = out if isinstance(out, str) else json.dumps(out)[:300]
            ok = True
        except BaseException:  # noqa: BLE001 - report every failure, keep going
            ok, detail = False, traceback.format_exc()[-4000:]
        results[name] = {"ok": ok, "detail": detail, "seconds": round(time.perf_counter() - t0, 2)}
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1:])
