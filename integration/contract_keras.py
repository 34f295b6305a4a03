"""The contract suite's Keras driver, for one backend per process (Keras fixes it at import).

    KERAS_BACKEND=jax python integration/contract_keras.py OUT.json [scenario ...]

Runs every scenario of ``contract_scenarios.SCENARIOS`` that Keras can express (all of them by
default) and writes ``{scenario: [trace per leg]}`` (``Trace.to_json``) to ``OUT.json``; a driver
failure is recorded as ``{"driver_error": traceback}``. The applied LR is the optimizer's
``learning_rate`` read at each batch begin, after the lrplugins callback put the schedule in force
(listed after it); momentum and weight decay likewise, through the optimizer's attributes as its
train step reads them; with plain SGD, also the LR recovered from each update's weight change
(``lr_from_weights``), what the compiled step really used. A resume loads the model saved with
``model.save`` at the end of the first leg's epoch (optimizer state and update counter included)
and the callback state saved with it.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import tempfile
import traceback
import warnings
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import contract_scenarios as cs
import keras
import numpy as np
from keras import ops

from lrplugins.keras import LRSchedulerCallback

RNG = np.random.default_rng(0)
X = RNG.normal(size=(cs.PE * 8, 4)).astype("float32")
Y = np.zeros((cs.PE * 8, 1), dtype="float32")


def _value(x: Any) -> float:
    return float(ops.convert_to_numpy(1.0 * x))  # a traced hyperparameter converts via ops


def _act(a: cs.Act, cb: Any, trace: cs.Trace, model: Any = None) -> None:
    try:
        if a.kind == "write_lr":  # outside the callback: the optimizer's own setter
            opt = model.optimizer
            opt.learning_rate = _value(opt.learning_rate) * a.args[0]
            return
        cb.cooldown(*a.args, **a.kwargs)
    except Exception as exc:  # noqa: BLE001 - compared by the test; training goes on
        trace.caught.append(cs.exception_record(exc))


class Acts(keras.callbacks.Callback):
    def __init__(self, leg: cs.Leg, cb: Any, trace: cs.Trace) -> None:
        super().__init__()
        self.leg, self.cb, self.trace = leg, cb, trace
        self.done: set[int] = set()

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        u = int(ops.convert_to_numpy(self.model.optimizer.iterations))
        for j, a in enumerate(self.leg.acts):
            if a.at == u and j not in self.done:
                self.done.add(j)
                _act(a, self.cb, self.trace, self.model)


class Metric(keras.callbacks.Callback):
    """Logs the scenario's metric as ``val_score`` at the epochs that validated."""

    def __init__(self, sc: cs.Scenario) -> None:
        super().__init__()
        self.sc = sc

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if logs is not None and "val_loss" in logs:
            logs["val_score"] = self.sc.metric_at((epoch + 1) * cs.PE)


class Recorder(keras.callbacks.Callback):
    def __init__(
        self, sc: cs.Scenario, trace: cs.Trace, save: Path | None, cb: Any, states: dict[int, Any]
    ) -> None:
        super().__init__()
        self.sc, self.trace, self.save, self.cb, self.states = sc, trace, save, cb, states
        self.before: tuple[int, int, list[np.ndarray]] | None = None

    def on_train_batch_begin(self, batch: int, logs: Any = None) -> None:
        opt = self.model.optimizer
        u = int(ops.convert_to_numpy(opt.iterations))
        record = {"lr": [_value(opt.learning_rate)]}
        if self.sc.optimizer == "sgd_mw":
            record["momentum"] = [_value(opt.momentum)]
            record["weight_decay"] = [_value(opt.weight_decay)]
        else:
            self.before = (u, batch, self._weights())
        self.trace.values[u] = record

    def on_train_batch_end(self, batch: int, logs: Any = None) -> None:
        """Plain SGD: also the LR the compiled step used, from the weight change (least squares
        of ``w_new - w = -lr * grad``, the MSE gradient computed here in float64)."""
        if self.before is None:
            return
        u, b, (w, c) = self.before
        self.before = None
        w2, c2 = self._weights()
        x = X[b * 8 : (b + 1) * 8].astype("float64")
        err = x @ w + c - Y[b * 8 : (b + 1) * 8]
        gw, gc = 2 * x.T @ err / len(x), 2 * err.mean(axis=0)
        g = np.concatenate([gw.ravel(), gc.ravel()])
        step = np.concatenate([(w - w2).ravel(), (c - c2).ravel()])
        self.trace.values[u]["lr_from_weights"] = [float(step @ g / (g @ g))]

    def _weights(self) -> list[np.ndarray]:
        return [ops.convert_to_numpy(v).astype("float64") for v in self.model.trainable_weights]

    def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
        if self.save is not None:
            self.model.save(self.save / f"e{epoch + 1}.keras")
            self.states[epoch + 1] = json.loads(json.dumps(self.cb.state_dict()))


def _half(epoch: int, lr: float) -> float:
    """Keras's own schedule callback (``Scenario.rival``)."""
    return 0.5 * lr


def _model(sc: cs.Scenario) -> Any:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    extra = (
        {"momentum": cs.MOMENTUM, "weight_decay": cs.WEIGHT_DECAY}
        if sc.optimizer == "sgd_mw"
        else {}
    )
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=cs.BASE["body"], **extra), loss="mse"
    )
    return model


def _args(args: Any) -> dict[str, Any]:
    out = copy.deepcopy(dict(args))  # a Plateau object is state: one per adapter
    if "monitor" in out:
        out["monitor"] = cs.METRIC_NAMES["keras"][out["monitor"]]
    return out


def run(sc: cs.Scenario, tmp: Path) -> list[cs.Trace]:
    traces: list[cs.Trace] = []
    states: dict[int, Any] = {}
    cb: Any = None
    model: Any = None
    for i, leg in enumerate(sc.legs):
        trace = cs.Trace()
        traces.append(trace)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                initial = leg.resume_at or 0
                if leg.resume_at is not None:
                    model = keras.models.load_model(tmp / f"e{leg.resume_at}.keras")
                elif leg.more:  # the same model and callback, fit on from where it ended
                    initial = sc.legs[i - 1].epochs
                else:
                    model = _model(sc)
                if not leg.same:
                    cb = LRSchedulerCallback(**_args(leg.args))
                for a in leg.acts:
                    if a.at == "before":
                        _act(a, cb, trace)
                if leg.resume_at is not None:
                    cb.load_state_dict(states[leg.resume_at])
                save = tmp if i == 0 and sc.needs_checkpoints() else None
                evaluates = sc.validates()
                model.fit(
                    X,
                    Y,
                    batch_size=8,
                    epochs=leg.epochs,
                    initial_epoch=initial,
                    validation_data=(X[:8], Y[:8]) if evaluates else None,
                    validation_freq=sc.eval_every or 1,
                    shuffle=False,
                    verbose=0,
                    callbacks=[
                        Acts(leg, cb, trace),
                        Metric(sc),
                        cb,
                        Recorder(sc, trace, save, cb, states),
                        *([keras.callbacks.LearningRateScheduler(_half)] if sc.rival else []),
                    ],
                )
                for a in leg.acts:
                    if a.at == "after":
                        _act(a, cb, trace)
            except Exception as exc:  # noqa: BLE001 - the leg's outcome, compared by the test
                trace.error = cs.exception_record(exc)
            trace.warnings += list(dict.fromkeys(str(w.message) for w in caught))
        if trace.error is not None:
            break
    return traces


def main(out: str, names: list[str]) -> None:
    results: dict[str, Any] = {}
    for name in names or [sc.name for sc in cs.SCENARIOS]:
        sc = cs.BY_NAME[name]
        if sc.cell("keras").startswith("n/a"):
            continue
        try:
            with tempfile.TemporaryDirectory() as tmp:
                results[name] = [t.to_json() for t in run(sc, Path(tmp))]
        except Exception:  # noqa: BLE001 - a driver failure fails that scenario's test
            results[name] = {"driver_error": traceback.format_exc()}
    with open(out, "w", encoding="utf-8") as fh:
        json.dump(results, fh)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
