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
W = RNG.choice(np.array([0.0, 1.0, 3.0], dtype="float32"), size=64)  # sample weights


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


def arrays(n: int = 64, batch_size: int = 8, weighted: bool = False) -> Callable[[], Any]:
    """Array inputs for ``find_lr`` and ``fit`` alike: ``(args, kwargs)``."""

    def make() -> tuple[tuple[Any, ...], dict[str, Any]]:
        kw: dict[str, Any] = {"batch_size": batch_size}
        if weighted:
            kw["sample_weight"] = W[:n]
        return (X[:n], Y[:n]), kw

    return make


def tf_data(weighted: bool = False, reshuffle: bool = True) -> Callable[[], Any]:
    """A ``tf.data`` pipeline that reshuffles every epoch (its shuffle takes its op seed from the
    global seed when built, so both runs build the same pipeline)."""

    def make() -> tuple[tuple[Any, ...], dict[str, Any]]:
        import tensorflow as tf

        data = (X, Y, W) if weighted else (X, Y)
        ds = tf.data.Dataset.from_tensor_slices(data)
        ds = ds.shuffle(64, reshuffle_each_iteration=reshuffle).batch(8)
        return (ds,), {}

    return make


def compare(
    optimizer: Callable[[], Any],
    inputs: Callable[[], Any] | None = None,
    *,
    before: int = 0,
    watch: Callable[[keras.Model], Any] | None = None,
    **find: Any,
) -> tuple[Any, str]:
    """``[fit(before epochs);] find_lr; fit(2 epochs)`` against the same without ``find_lr``;
    ``inputs`` makes the data for both (default: :func:`arrays`); ``watch(model)`` is called
    just before ``find_lr``."""
    inputs = inputs or arrays()
    runs = []
    finder = None
    for with_test in (True, False):
        m = model(optimizer)
        keras.utils.set_random_seed(5)
        args, kw = inputs()
        if before:
            m.fit(*args, **kw, epochs=before, verbose=0)
        if with_test:
            if watch is not None:
                watch(m)
            finder = find_lr(m, *args, **kw, verbose=0, **find)
        hist = m.fit(*args, **kw, epochs=2, verbose=0)
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


@contextlib.contextmanager
def mixed_float16() -> Any:
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


def linear(optimizer: Any) -> keras.Model:
    """``y = x @ w``, no bias, MSE: its gradient has a closed form."""
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, use_bias=False)])
    m.compile(optimizer=optimizer, loss="mse")
    return m


def spy_applied_lr(m: keras.Model) -> tuple[list[float], list[int]]:
    """Spy on ``m.train_on_batch`` of a :func:`linear` model trained by plain SGD: for every call
    that moved the weights, the LR it applied, ``(w - w') / grad`` with the (sample-weighted)
    gradient in closed form at ``w``, appended to the first list; the second counts the calls
    that left the weights alone (accumulated, or skipped by the loss scaler). Full batches: with
    gradient accumulation every micro-batch has the same gradient, so the mean is that too."""
    seen: list[float] = []
    still = [0]
    orig = m.train_on_batch

    def spy(xb: Any, yb: Any = None, sample_weight: Any = None, **kw: Any) -> Any:
        w = np.array(m.get_weights()[0], dtype="float64")
        x64, y64 = np.asarray(xb, dtype="float64"), np.asarray(yb, dtype="float64")
        s = np.ones((len(x64), 1)) if sample_weight is None else np.asarray(sample_weight)
        grad = 2 * x64.T @ (s.reshape(-1, 1) * (x64 @ w - y64)) / len(x64)
        out = orig(xb, yb, sample_weight=sample_weight, **kw)
        w2 = np.array(m.get_weights()[0], dtype="float64")
        if np.array_equal(w, w2):
            still[0] += 1
        else:
            seen.append(float(np.median((w - w2) / grad)))
        return out

    m.train_on_batch = spy  # type: ignore[method-assign]
    return seen, still


def scenario_identical() -> str:
    finder, problem = compare(
        lambda: keras.optimizers.SGD(0.05, momentum=0.9), min_lr=1e-5, max_lr=10.0, steps=40
    )
    assert not problem, problem
    assert finder.stop_reason in ("diverged", "non-finite"), finder.summary()
    assert 1e-5 < finder.suggestion < 10.0
    assert np.allclose(finder.base_lrs, [0.05], rtol=1e-7)  # the float32 variable's value
    return finder.summary()


def scenario_accumulation_after_fit() -> str:
    """After ``fit`` with ``gradient_accumulation_steps=2`` (12 updates, 24 micro-batches; then
    7 more micro-batches, one left half-accumulated), update ``i`` of the sweep applies
    ``finder.lr_at(i)``, read back from the weights."""
    out = []
    for n in (64, 56):
        m = linear(keras.optimizers.SGD(0.01, gradient_accumulation_steps=2))
        m.fit(X, Y, batch_size=8, epochs=3, shuffle=False, verbose=0)
        if n == 56:
            m.fit(X[:56], Y[:56], batch_size=8, epochs=1, shuffle=False, verbose=0)
        seen, still = spy_applied_lr(m)
        finder = find_lr(
            m, X, Y, batch_size=64, min_lr=1e-4, max_lr=0.1, steps=8, diverge=None, verbose=0
        )
        assert len(finder.lrs) == 8 and len(seen) == 8, (finder.lrs, seen)
        assert np.allclose(seen, finder.lrs, rtol=1e-3), (n, seen, finder.lrs)
        assert still[0] == 8, still
        out.append(f"{n}: {len(seen)} updates")
    return ", ".join(out)


def scenario_accumulation_identical() -> str:
    """``fit`` that stops in the middle of an accumulation window, ``find_lr``, ``fit`` again:
    identical to the two ``fit`` alone."""

    def opt() -> Any:
        return keras.optimizers.SGD(0.05, momentum=0.9, gradient_accumulation_steps=3)

    finder, problem = compare(opt, arrays(n=56), before=1, steps=10, diverge=None)
    assert not problem, problem
    return finder.summary()


def scenario_mixed_precision_skips() -> str:
    """``mixed_float16``: ``compile`` wraps SGD in a ``LossScaleOptimizer`` whose first scales
    overflow float16, so it skips updates; the record holds only the updates taken, and taken
    update ``i`` applies ``finder.lr_at(i)``. Also with ``gradient_accumulation_steps=2``, where a
    skipped micro-batch is not accumulated either."""
    out = []
    with mixed_float16():
        for k in (None, 2):
            m = linear(keras.optimizers.SGD(0.01, gradient_accumulation_steps=k))
            assert isinstance(m.optimizer, keras.optimizers.LossScaleOptimizer), m.optimizer
            seen, still = spy_applied_lr(m)
            finder = find_lr(
                m,
                X,
                10 * Y,
                batch_size=64,
                min_lr=1e-4,
                max_lr=0.1,
                steps=8,
                diverge=None,
                verbose=0,
            )
            skipped = still[0] - 8 * ((k or 1) - 1)  # the rest were accumulated
            assert skipped >= 1, f"k={k}: no update skipped: the scenario tests nothing"
            assert len(seen) == len(finder.lrs) == 8, (k, seen, finder.lrs)
            assert np.allclose(seen, finder.lrs, rtol=2e-2), (k, seen, finder.lrs)
            out.append(f"k={k}: {skipped} skipped")
    return ", ".join(out)


def count_skips(m: keras.Model, skips: list[int]) -> None:
    """Spy on ``m.train_on_batch``: append 1 to ``skips`` for each batch its loss scaler skipped
    (the micro-batch counter did not move)."""
    orig = m.train_on_batch
    inner = m.optimizer.inner_optimizer

    def spy(*args: Any, **kw: Any) -> Any:
        before = int(keras.ops.convert_to_numpy(inner._iterations))
        out = orig(*args, **kw)
        if int(keras.ops.convert_to_numpy(inner._iterations)) == before:
            skips.append(1)
        return out

    m.train_on_batch = spy  # type: ignore[method-assign]


def scenario_mixed_precision_identical() -> str:
    """``mixed_float16`` (loss scaling, dropout, batch norm), with and without accumulation:
    ``fit, find_lr, fit`` identical to ``fit, fit``; the sweep had updates the scaler skipped."""
    out = []
    with mixed_float16():
        for k in (None, 2):

            def opt(k: int | None = k) -> Any:
                return keras.optimizers.SGD(0.05, momentum=0.9, gradient_accumulation_steps=k)

            skips: list[int] = []
            finder, problem = compare(
                opt, before=1, steps=12, watch=lambda m, s=skips: count_skips(m, s)
            )
            assert not problem, f"k={k}: {problem}"
            assert skips, f"k={k}: the loss scaler skipped nothing in the sweep"
            out.append(f"k={k}: {len(skips)} skipped, {finder.summary()}")
    return "; ".join(out)


def _weighted_reference(finder: Any, sample_weight: Any) -> list[float]:
    """The losses of the sweep redone by hand: a fresh :func:`linear` model trained on the full
    batch with ``sample_weight``, the LR set to ``finder.lr_at(i)`` before update ``i``."""
    m = linear(keras.optimizers.SGD(0.01))
    losses = []
    for i in range(len(finder.lrs)):
        m.optimizer.learning_rate = finder.lr_at(i)
        logs = m.train_on_batch(X, Y, sample_weight=sample_weight, return_dict=True)
        losses.append(float(logs["loss"]))
    return losses


def scenario_sample_weight() -> str:
    """``sample_weight=`` with arrays, and ``(x, y, sample_weight)`` batches (a list, and a
    ``tf.data`` pipeline): the recorded losses are those of training with the weights."""
    kw: dict[str, Any] = {"min_lr": 1e-3, "max_lr": 0.5, "steps": 8, "diverge": None}
    want: list[float] = []
    problems = []
    for name in ("list", "tf.data", "arrays"):
        m = linear(keras.optimizers.SGD(0.01))
        try:
            if name == "arrays":
                finder = find_lr(m, X, Y, sample_weight=W, batch_size=64, verbose=0, **kw)
            elif name == "list":
                finder = find_lr(m, [(X, Y, W)], verbose=0, **kw)
            else:
                import tensorflow as tf

                ds = tf.data.Dataset.from_tensor_slices((X, Y, W)).batch(64)
                finder = find_lr(m, ds, verbose=0, **kw)
        except Exception as exc:  # noqa: BLE001 - reported with the others
            problems.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        if not want:
            want = _weighted_reference(finder, W)
            unweighted = _weighted_reference(finder, None)
            assert not np.allclose(want, unweighted, rtol=1e-3), "the weights change nothing"
        if not np.allclose(finder.losses, want, rtol=1e-4):
            problems.append(f"{name}: losses {finder.losses}, trained with the weights {want}")
    assert not problems, "\n".join(problems)
    return f"weighted losses {want}"


def scenario_sample_weight_identical() -> str:
    """``sample_weight=`` arrays: ``find_lr`` then ``fit`` identical to ``fit`` alone."""
    finder, problem = compare(
        lambda: keras.optimizers.SGD(0.01, momentum=0.9), arrays(weighted=True), steps=12
    )
    assert not problem, problem
    return finder.summary()


def scenario_tf_data_identical() -> str:
    """A ``tf.data`` pipeline that reshuffles every epoch, of ``(x, y)`` and of
    ``(x, y, sample_weight)``: ``find_lr`` leaves its shuffle where it was, so ``fit`` afterwards
    sees the same batches and ends with the same weights as ``fit`` alone."""
    out = []
    for weighted in (False, True):
        finder, problem = compare(
            lambda: keras.optimizers.SGD(0.01, momentum=0.9), tf_data(weighted), steps=12
        )
        assert not problem, f"weighted={weighted}: {problem}"
        out.append(finder.summary())
    return "; ".join(out)


def scenario_tf_data_order() -> str:
    """Pipelines whose randomness is drawn when iterated (a ``shuffle`` over a Python generator,
    a ``shuffle`` after a ``py_function`` map, ``Dataset.random`` rerandomizing each epoch): the
    next two epochs after ``find_lr`` are the epochs the pipeline gives without it."""
    import tensorflow as tf

    def from_generator() -> Any:
        def gen() -> Any:
            yield from zip(X, Y)

        spec = (tf.TensorSpec((4,), tf.float32), tf.TensorSpec((1,), tf.float32))
        return tf.data.Dataset.from_generator(gen, output_signature=spec).shuffle(64)

    def py_function() -> Any:
        def double(x: Any, y: Any) -> Any:
            return tf.py_function(lambda a: 2 * a, [x], tf.float32), y

        return tf.data.Dataset.from_tensor_slices((X, Y)).map(double).shuffle(64)

    def random() -> Any:
        ds = tf.data.Dataset.random(seed=3, rerandomize_each_iteration=True).take(64)
        return ds.map(lambda r: (tf.gather(X, r % 64), tf.gather(Y, r % 64)))

    def epochs(ds: Any) -> list[np.ndarray]:
        return [np.concatenate([np.asarray(xb) for xb, _ in ds]) for _ in range(2)]

    out, moved = [], []
    for make in (from_generator, py_function, random):
        keras.utils.set_random_seed(5)
        want = epochs(make().batch(8))
        keras.utils.set_random_seed(5)
        ds = make().batch(8)
        finder = find_lr(linear("sgd"), ds, steps=12, diverge=None, verbose=0)
        got = epochs(ds)
        if not all(np.array_equal(a, b) for a, b in zip(got, want)):
            moved.append(make.__name__)
        out.append(f"{make.__name__}: {len(finder.lrs)} updates")
    assert not moved, f"find_lr moved the randomness of {moved}"
    return ", ".join(out)


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
