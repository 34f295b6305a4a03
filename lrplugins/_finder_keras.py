"""``lrplugins.keras.find_lr``: the LR range test on a compiled Keras 3 model, on every backend.

The sweep trains with the model's own compiled train step (``model.train_on_batch``); its LR
comes from a small ``LearningRateSchedule`` of the optimizer's iteration counter that is swapped
in for the optimizer's own learning rate during the sweep, so it is jit-safe on TensorFlow,
JAX and torch alike. Everything the sweep touches (the model's variables, random seed states
included; the optimizer's variables, loss scale and gradient accumulators included; the metrics;
the random number generators) is put back, and a ``tf.data`` pipeline that reshuffles is swept
through a copy of it.
"""

from __future__ import annotations

import itertools
import math
import random
import sys
from collections.abc import Iterable, Iterator
from typing import Any, Literal

try:
    import keras
    from keras import ops
except ImportError as _exc:  # pragma: no cover - exercised in a subprocess without keras
    raise ImportError(
        "lrplugins.keras needs Keras 3, which is not installed: pip install 'lrplugins[keras]'"
    ) from _exc

import numpy as np

from ._finder import DEFAULT_RULE, LRFinder

__all__ = ["find_lr"]

# Micro-batches in a row that a loss scaler may skip (halving its scale each time) before the
# sweep ends as non-finite: from Keras' initial scale of 2**15 that is a scale of 2**-49, so the
# gradients overflow float16 at any scale.
_MAX_SKIPS = 64


class _SweepRate(keras.optimizers.schedules.LearningRateSchedule):
    """The sweep's LR as a function of the counter a Keras optimizer hands its schedule: its
    micro-batch counter ``_iterations``, which with ``gradient_accumulation_steps=k`` counts
    ``k`` per update (``optimizer.iterations`` is that counter divided by ``k``). Update ``j`` of
    the sweep spans micro-batches ``start + j * accumulate`` .. ``start + (j + 1) * accumulate - 1``
    (``start`` a multiple of ``accumulate``)."""

    def __init__(self, finder: LRFinder, start: int, accumulate: int) -> None:
        self.finder = finder
        self.start = start
        self.accumulate = accumulate

    def __call__(self, step: Any) -> Any:
        f = self.finder
        j = ops.floor_divide(ops.cast(step, "float32") - self.start, float(self.accumulate))
        t = ops.clip(j / float(f.steps - 1), 0.0, 1.0)
        if f.mode == "exp":
            lo, hi = math.log(f.min_lr), math.log(f.max_lr)
            return ops.exp(lo + t * (hi - lo))
        return f.min_lr + t * (f.max_lr - f.min_lr)

    def get_config(self) -> dict[str, Any]:  # never saved: it lives only during the sweep
        return {}


def find_lr(
    model: keras.Model,
    x: Any,
    y: Any = None,
    *,
    sample_weight: Any = None,
    batch_size: int = 32,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    steps: int = 100,
    mode: Literal["exp", "linear"] = "exp",
    smooth: float = 0.98,
    diverge: float | None = 0.5,
    rule: str = DEFAULT_RULE,
    shuffle: bool = True,
    verbose: Literal["auto", 0, 1, 2] = "auto",
) -> LRFinder:
    """Run an LR range test on a compiled ``model``; afterwards ``model.fit`` is unaffected.

    ``x, y, sample_weight`` are what ``model.fit`` takes: arrays (numpy or backend tensors, or a
    list/dict of them for several inputs) cut into batches of ``batch_size``, in an order drawn
    from a private generator (``shuffle=True``) that leaves the global random state alone; or,
    with ``y=None`` and ``x`` not an array, a re-iterable of ``(x, y)`` or
    ``(x, y, sample_weight)`` batches (a ``tf.data.Dataset``, a ``keras.utils.PyDataset``, a
    list). A ``tf.data`` pipeline that draws seeds when iterated (a ``shuffle`` that reshuffles
    each epoch) is swept through a copy with generators of its own, so the original's next epoch
    is still the one ``fit`` would have seen; its batches become numpy arrays on the jax and torch
    backends. The data restart when they run out. Each of up to
    ``steps`` updates is the model's compiled train step (its loss, regularization losses
    included); with ``gradient_accumulation_steps=k`` on the optimizer an update takes ``k``
    batches and records their mean loss, and the sweep starts on a fresh accumulation window
    (gradients a ``fit`` left half-accumulated stay out of it, and are back afterwards). The LR of
    update ``j`` is ``finder.lr_at(j)``. Under mixed precision (a ``LossScaleOptimizer``, which
    ``compile`` adds for the ``"mixed_float16"`` policy) a batch whose gradients overflow is
    skipped by the loss scaler, as in ``fit``: it is no update of the sweep and is not recorded;
    64 skips in a row (the gradients overflow at every scale) end the sweep as ``"non-finite"``.

    Afterwards every variable of the model (weights, batch-norm statistics, dropout seed
    states), of the optimizer (iteration counter, slots, its own learning rate or schedule) and
    of the compiled metrics is restored, and so are Python's, numpy's and Keras' global seed
    generators (and torch's on the torch backend): ``find_lr(model, x, y); model.fit(x, y)``
    trains exactly as ``model.fit(x, y)`` would. The model must be built (give it an ``Input``
    or call ``model.build``): building it here would draw its initial weights.

    Args:
        model: a compiled, built Keras model.
        x, y: training data (see above).
        sample_weight: one weight per sample of array data (batches carry their own).
        batch_size: batch size for array data.
        min_lr, max_lr, steps, mode, smooth, diverge, rule: see :class:`lrplugins.LRFinder`;
            ``steps`` counts optimizer updates.
        shuffle: draw array batches in a shuffled order.
        verbose: ``"auto"``/1 a ``keras.utils.Progbar``, 2 one line at the end, 0 silent.

    Returns:
        The :class:`lrplugins.LRFinder` record.

    >>> import keras, numpy as np
    >>> from lrplugins.keras import find_lr
    >>> keras.utils.set_random_seed(0)
    >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    >>> model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    >>> x = np.random.standard_normal((64, 4)); y = x.sum(axis=1, keepdims=True)
    >>> before = model.get_weights()[0].copy()
    >>> finder = find_lr(model, x, y, batch_size=8, verbose=0)
    >>> finder.stop_reason in ("diverged", "non-finite"), 0.01 < finder.suggestion < 1.0
    (True, True)
    >>> bool((model.get_weights()[0] == before).all()), float(model.optimizer.learning_rate)
    (True, 0.1...)
    """
    finder = LRFinder(min_lr, max_lr, steps, mode=mode, smooth=smooth, diverge=diverge, rule=rule)
    if not isinstance(model, keras.Model):
        raise TypeError(f"find_lr(): model must be a keras.Model, got {model!r}")
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None or not getattr(model, "compiled", False):
        raise ValueError("find_lr(): the model is not compiled: call model.compile(...) first")
    if not model.built:
        raise ValueError(
            "find_lr(): the model is not built; give it a keras.Input or call "
            "model.build(input_shape) first (building it here would draw its weights)"
        )
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"find_lr(): batch_size must be an int >= 1, got {batch_size!r}")
    if verbose not in ("auto", 0, 1, 2):
        raise ValueError(f"find_lr(): verbose can be 'auto', 0, 1 or 2, got {verbose!r}")
    batches = _batches(x, y, sample_weight, batch_size, shuffle)
    inner = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer
    if not optimizer.built:
        optimizer.build(model.trainable_variables)  # what the first fit step would do
    accumulate = int(getattr(inner, "gradient_accumulation_steps", None) or 1)
    saved = _Snapshot(model, optimizer, inner)
    finder.begin([saved.base_lr])
    show = 1 if verbose == "auto" else verbose
    bar = keras.utils.Progbar(steps, verbose=show, unit_name="update") if show else None
    counter = inner._iterations  # micro-batches: what the optimizer hands its LR schedule
    try:
        # The sweep starts on a fresh accumulation window: a fit that stopped inside one left
        # its gradients in the accumulators and the counter between two updates.
        start = saved.micro_batches - saved.micro_batches % accumulate
        if accumulate > 1:
            counter.assign(start)
            for acc in getattr(inner, "_accumulated_gradients", None) or ():
                acc.assign(ops.zeros(acc.shape, acc.dtype))
        object.__setattr__(inner, "_learning_rate", _SweepRate(finder, start, accumulate))
        model.train_function = None  # retrace with the sweep's LR
        taken = start
        for step in range(steps):
            losses: list[float] = []
            skipped = 0
            while len(losses) < accumulate:
                xb, yb, wb = next(batches)
                logs = model.train_on_batch(xb, yb, sample_weight=wb, return_dict=True)
                loss = float(logs["loss"])
                now = int(ops.convert_to_numpy(counter))
                if now == taken:  # a loss scaler skipped it: no step of the sweep
                    if math.isfinite(loss) and skipped < _MAX_SKIPS:
                        skipped += 1
                        continue
                    # a non-finite loss, or gradients that overflow at every scale: the end
                    losses.append(loss if not math.isfinite(loss) else math.nan)
                    break
                losses.append(loss)
                taken, skipped = now, 0
            loss = sum(losses) / len(losses)
            go_on = finder.record(loss)
            if bar is not None:
                bar.update(
                    step + 1, values=[("loss", loss), ("lr", finder.lrs[-1])], finalize=not go_on
                )
            if not go_on:
                break
    finally:
        saved.restore()
    return finder


class _Snapshot:
    def __init__(self, model: keras.Model, optimizer: Any, inner: Any) -> None:
        self.model, self.optimizer, self.inner = model, optimizer, inner
        self.variables = _unique(
            list(model.variables) + list(optimizer.variables) + list(model.metrics_variables)
        )
        self.values = [np.array(ops.convert_to_numpy(v.value), copy=True) for v in self.variables]
        self.learning_rate = inner._learning_rate
        self.micro_batches = int(ops.convert_to_numpy(inner._iterations))
        self.base_lr = _configured_lr(self.learning_rate)
        self.train_function = model.train_function
        self.stop_training = getattr(model, "stop_training", False)
        self.python = random.getstate()
        self.numpy = np.random.get_state()
        torch = sys.modules.get("torch")
        self.torch = torch.get_rng_state() if torch is not None else None
        self.seed_generator, self.seed_state = _global_seed_generator()
        # The compiled loss and metrics build themselves on the first batch. While they are
        # unbuilt, model.fit draws one batch to build them before the first epoch, which takes a
        # shuffling permutation; once the sweep has built them, fit would not, and would shuffle
        # differently. So they go back to unbuilt, exactly as they were.
        self.unbuilt = [
            (obj, dict(vars(obj)))
            for obj in (
                getattr(model, "_compile_loss", None),
                getattr(model, "_compile_metrics", None),
            )
            if obj is not None and not getattr(obj, "built", True)
        ]

    def restore(self) -> None:
        object.__setattr__(self.inner, "_learning_rate", self.learning_rate)
        for v, value in zip(self.variables, self.values):
            v.assign(value)
        self.model.train_function = None  # the traced one used the sweep's LR
        self.model.stop_training = self.stop_training
        random.setstate(self.python)
        np.random.set_state(self.numpy)
        torch = sys.modules.get("torch")
        if self.torch is not None and torch is not None:
            torch.set_rng_state(self.torch)
        _restore_global_seed_generator(self.seed_generator, self.seed_state)
        for obj, attrs in self.unbuilt:
            vars(obj).clear()
            vars(obj).update(attrs)


def _unique(variables: list[Any]) -> list[Any]:
    seen: set[int] = set()
    out = []
    for v in variables:
        if id(v) not in seen:
            seen.add(id(v))
            out.append(v)
    return out


def _configured_lr(lr: Any) -> float:
    """The LR the user configured: a schedule's ``base_lr`` (lrplugins) or
    ``initial_learning_rate`` (Keras' own), else the variable's value."""
    for name in ("base_lr", "initial_learning_rate"):
        value = getattr(lr, name, None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    if isinstance(lr, keras.optimizers.schedules.LearningRateSchedule) or callable(lr):
        return 1.0
    return float(ops.convert_to_numpy(lr))


def _global_seed_generator() -> tuple[Any, Any]:
    """Keras' global SeedGenerator (used by unseeded random ops) and its state, if it exists;
    asking for it through the public API would create one and draw Python's generator."""
    try:
        from keras.src.backend.common import global_state
    except ImportError:  # pragma: no cover - a Keras layout we do not know
        return None, None
    gen = global_state.get_global_attribute("global_seed_generator")
    if gen is None:
        return None, None
    return gen, np.array(ops.convert_to_numpy(gen.state.value), copy=True)


def _restore_global_seed_generator(gen: Any, state: Any) -> None:
    try:
        from keras.src.backend.common import global_state
    except ImportError:  # pragma: no cover
        return
    if gen is None:  # created during the sweep: without it, it would not exist yet
        global_state.set_global_attribute("global_seed_generator", None)
    else:
        gen.state.assign(state)


def _batches(
    x: Any, y: Any, sample_weight: Any, batch_size: int, shuffle: bool
) -> Iterator[tuple[Any, Any, Any]]:
    if y is None and not hasattr(x, "shape"):
        if isinstance(x, Iterator):
            raise TypeError(
                "find_lr(): x must be re-iterable (a tf.data.Dataset, a PyDataset, a list of "
                f"batches); got the one-shot iterator {type(x).__name__}, which the test would "
                "consume"
            )
        if sample_weight is not None:
            raise ValueError(
                "find_lr(): sample_weight is for array inputs; batches of "
                f"{type(x).__name__} carry their weights as (x, y, sample_weight)"
            )
        return _cycle(_tf_data_copy(x))
    leaves = keras.tree.flatten(x)
    if not leaves:
        raise ValueError("find_lr(): x holds no array")
    n = len(leaves[0])
    if n == 0:
        raise ValueError("find_lr(): x is empty")
    if sample_weight is not None and len(sample_weight) != n:
        raise ValueError(
            f"find_lr(): sample_weight must have one weight per sample ({n}), got "
            f"{len(sample_weight)}"
        )
    return _array_batches(x, y, sample_weight, n, batch_size, shuffle)


def _array_batches(
    x: Any, y: Any, sample_weight: Any, n: int, batch_size: int, shuffle: bool
) -> Iterator[tuple[Any, Any, Any]]:
    rng = np.random.default_rng(0)  # private: the global generators stay untouched

    def take(data: Any, idx: np.ndarray) -> Any:
        if data is None:
            return None
        return keras.tree.map_structure(lambda a: np.asarray(a)[idx], data)

    while True:
        order = rng.permutation(n) if shuffle else np.arange(n)
        for i in range(0, n, batch_size):
            idx = order[i : i + batch_size]
            yield take(x, idx), take(y, idx), take(sample_weight, idx)


def _cycle(data: Iterable[Any]) -> Iterator[tuple[Any, Any, Any]]:
    tf = _tensorflow(data)
    to_numpy = tf is not None and keras.backend.backend() != "tensorflow"
    while True:
        empty = True
        for batch in data:
            empty = False
            if to_numpy:  # the jax and torch backends cannot read TensorFlow tensors
                batch = keras.tree.map_structure(
                    lambda t: t.numpy() if isinstance(t, tf.Tensor) else t, batch
                )
            yield keras.utils.unpack_x_y_sample_weight(batch)
        if empty:
            raise ValueError("find_lr(): x yielded no batch")


def _tensorflow(data: Any) -> Any:
    """TensorFlow, if ``data`` is a ``tf.data.Dataset`` (then TensorFlow is imported)."""
    tf = sys.modules.get("tensorflow")
    if tf is not None and isinstance(data, tf.data.Dataset):
        return tf
    return None


_copies = itertools.count()


def _tf_data_copy(data: Any) -> Any:
    """``data`` itself, or, for a ``tf.data.Dataset`` whose pipeline draws random seeds when it
    is iterated (a ``shuffle`` that reshuffles each epoch, ``Dataset.random``), a copy of it with
    seed generators of its own: iterating the original would move its generators on, and the
    ``fit`` after the test would see other epochs than the ``fit`` without it. The copy's
    generators start from the pipeline's seeds, as a pipeline never iterated does."""
    tf = _tensorflow(data)
    if tf is None:
        return data
    try:
        graph = tf.raw_ops.DatasetToGraphV2(
            input_dataset=data._variant_tensor,
            external_state_policy=1,  # IGNORE: Python generators stay in-process, as here
        )
    except Exception as exc:
        raise ValueError(
            "find_lr(): cannot copy the tf.data pipeline to sweep it without moving its "
            f"shuffle on ({type(exc).__name__}: {exc}); pass arrays or a list of batches"
        ) from exc
    graph_def = tf.compat.v1.GraphDef.FromString(graph.numpy())
    own = f"/lrplugins.find_lr.{next(_copies)}"
    generators = 0
    for node in graph_def.node:
        if node.op != "Const" or node.attr["dtype"].type != tf.resource.as_datatype_enum:
            continue
        for handle in node.attr["value"].tensor.resource_handle_val:
            if "SeedGenerator" in handle.maybe_type_name:
                handle.name += own  # not found: the copy makes a generator of its own
                generators += 1
    if not generators:
        return data  # nothing in it moves when iterated
    variant = tf.raw_ops.DatasetFromGraph(graph_def=graph_def.SerializeToString())
    return tf.data.experimental.from_variant(variant, data.element_spec)
