"""Keras range-test scenarios for one backend, run in their own process (Keras fixes its backend
at import): ``KERAS_BACKEND=jax python integration/finder_keras_scenarios.py``.

Prints one JSON object ``{scenario: {"ok": bool, "detail": str, "seconds": float}}`` on the
last line of stdout; ``integration/test_finder_keras.py`` runs it once per backend.

Every scenario compares ``find_lr(model, ...)`` followed by ``model.fit`` with ``model.fit``
alone on an identical model (same seeds): the final weights must be equal bit for bit and the
per-epoch losses and learning rates identical. The model has dropout and ``fit`` shuffles, so
random state left moved by the range test would show.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

import lrplugins as lrp
from lrplugins._finder_keras import _SweepRate
from lrplugins.keras import LearningRateSchedule, find_lr

RNG = np.random.default_rng(1)
X = RNG.standard_normal((64, 4)).astype("float32")
Y = (X @ np.array([[1.0], [-2.0], [0.5], [3.0]], dtype="float32")).astype("float32")


def model(optimizer: Callable[[], Any]) -> keras.Model:
    keras.utils.set_random_seed(0)
    m = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.BatchNormalization(),
            keras.layers.Dense(1),
        ]
    )
    m.compile(optimizer=optimizer(), loss="mse")
    return m


def compare(optimizer: Callable[[], Any], **find: Any) -> tuple[Any, str]:
    runs = []
    finder = None
    for with_test in (True, False):
        m = model(optimizer)
        keras.utils.set_random_seed(5)
        if with_test:
            finder = find_lr(m, X, Y, batch_size=8, verbose=0, **find)
        hist = m.fit(X, Y, batch_size=8, epochs=2, shuffle=True, verbose=0)
        weights = [np.array(w) for w in m.get_weights()]
        runs.append((weights, hist.history, int(m.optimizer.iterations)))
    (wa, ha, ia), (wb, hb, ib) = runs
    problems = []
    if len(wa) != len(wb) or not all(np.array_equal(a, b) for a, b in zip(wa, wb)):
        diffs = [float(np.max(np.abs(a - b))) for a, b in zip(wa, wb)]
        problems.append(f"weights differ: max abs diffs {diffs}")
    if ha != hb:
        problems.append(f"history differs: {ha} vs {hb}")
    if ia != ib:
        problems.append(f"iterations {ia} vs {ib}")
    return finder, "; ".join(problems)


def scenario_identical() -> str:
    finder, problem = compare(
        lambda: keras.optimizers.SGD(0.05, momentum=0.9), min_lr=1e-5, max_lr=10.0, steps=40
    )
    assert not problem, problem
    assert finder.stop_reason in ("diverged", "non-finite"), finder.summary()
    assert 1e-5 < finder.suggestion < 10.0
    assert np.allclose(finder.base_lrs, [0.05], rtol=1e-7)  # the float32 variable's value
    return finder.summary()


def scenario_adam_schedule() -> str:
    """An lrplugins LearningRateSchedule is swapped out for the sweep and back in."""

    def opt() -> Any:
        return keras.optimizers.AdamW(LearningRateSchedule(lrp.cosine(16, warmup_steps=4), 3e-3))

    finder, problem = compare(opt, steps=30)
    assert not problem, problem
    assert finder.base_lrs == [3e-3]  # the schedule's base_lr
    return finder.summary()


def scenario_accumulation() -> str:
    def opt() -> Any:
        return keras.optimizers.SGD(0.05, gradient_accumulation_steps=2)

    finder, problem = compare(opt, steps=12, diverge=None)
    assert not problem, problem
    assert len(finder.lrs) == 12
    # the swapped-in LR: update j spans iterations 2j and 2j + 1
    rate = _SweepRate(finder, start=0, accumulate=2)
    got = [float(keras.ops.convert_to_numpy(rate(i))) for i in range(24)]
    want = [finder.lr_at(i // 2) for i in range(24)]
    assert np.allclose(got, want, rtol=1e-5), (got, want)
    return f"{len(finder.lrs)} updates"


def scenario_applied_lr() -> str:
    """The LR each update applies, read back from SGD on a linear least-squares model:
    ``w' = w - lr * grad`` with the gradient in closed form, full batch."""
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, use_bias=False)])
    m.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    seen: list[float] = []
    orig = m.train_on_batch

    def spy(xb: Any, yb: Any, **kw: Any) -> Any:
        w = np.array(m.get_weights()[0], dtype="float64")
        grad = 2 * xb.T.astype("float64") @ (xb.astype("float64") @ w - yb) / len(xb)
        out = orig(xb, yb, **kw)
        w2 = np.array(m.get_weights()[0], dtype="float64")
        seen.append(float(np.median((w - w2) / grad)))
        return out

    m.train_on_batch = spy  # type: ignore[method-assign]
    finder = find_lr(
        m, X, Y, batch_size=64, min_lr=1e-4, max_lr=0.1, steps=8, diverge=None, verbose=0
    )
    assert np.allclose(seen, finder.lrs, rtol=1e-3), (seen, finder.lrs)  # float32 weights
    assert float(m.optimizer.learning_rate) == np.float32(0.1)
    return f"applied {seen}"


def scenario_batches() -> str:
    """A list of (x, y) batches instead of arrays; an iterator is refused."""
    m = model(lambda: keras.optimizers.SGD(0.05))
    batches = [(X[i : i + 8], Y[i : i + 8]) for i in range(0, 64, 8)]
    finder = find_lr(m, batches, steps=20, verbose=0)
    assert len(finder.lrs) >= 11
    try:
        find_lr(m, iter(batches), verbose=0)
    except TypeError as exc:
        assert "one-shot iterator" in str(exc)
    else:
        raise AssertionError("an iterator was accepted")
    return finder.summary()


def scenario_progress() -> str:
    m = model(lambda: keras.optimizers.SGD(0.05))
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        find_lr(m, X, Y, batch_size=8, steps=10, diverge=None)
    text = out.getvalue()
    assert "10/10" in text and "loss" in text, text
    return text.strip().splitlines()[-1][:80]


def scenario_doctests() -> str:
    import doctest

    from lrplugins import _finder_keras

    result = doctest.testmod(_finder_keras, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0, result
    return str(result)


def scenario_errors() -> str:
    bare = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    try:
        find_lr(bare, X, Y)
    except ValueError as exc:
        assert "not compiled" in str(exc), exc
    unbuilt = keras.Sequential([keras.layers.Dense(1)])
    unbuilt.compile(optimizer="sgd", loss="mse")
    try:
        find_lr(unbuilt, X, Y)
    except ValueError as exc:
        assert "not built" in str(exc), exc
    else:
        raise AssertionError("an unbuilt model was accepted")
    return "ok"


SCENARIOS = {
    name[len("scenario_") :]: fn for name, fn in globals().items() if name.startswith("scenario_")
}


def main(names: list[str]) -> None:
    results: dict[str, Any] = {}
    for name in names or list(SCENARIOS):
        t0 = time.time()
        try:
            detail = SCENARIOS[name]()
            results[name] = {"ok": True, "detail": detail}
        except Exception:  # noqa: BLE001 - every failure becomes that scenario's report
            results[name] = {"ok": False, "detail": traceback.format_exc()}
        results[name]["seconds"] = round(time.time() - t0, 2)
    print(json.dumps(results))


if __name__ == "__main__":
    main(sys.argv[1:])
