"""Record the multiplier sequences of the real anchor schedulers, for ``tests/test_parity.py``.

Every function here steps or calls a real framework; none computes a schedule itself. A curve is a
float64 numpy array whose entry ``t`` is the anchor's multiplier for step ``t`` (the LR used by the
``t``-th optimizer update divided by the base, or max, LR).

Keras holds one backend per process, chosen when it is first imported. This module asks for the
torch backend with ``os.environ.setdefault`` (so a backend chosen by the environment or by an
earlier module wins) and imports keras only inside ``keras_curve``. The schedules compared here
give the same float32 numbers on every backend; torch is the backend that is both quick per call
(jax retraces ``ops.cond`` on every eager call) and able to train, for other test modules that may
run in the same process.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "torch")

import numpy as np

from conftest import require

BASE = 0.5
"""The optimizer's base (or max) LR: not 1, so that confusing a multiplier with an LR shows up."""


def torch_curve(
    make: Callable[[Any, Any], Any], n: int, *, base: float = BASE, momentum: float = 0.0
) -> np.ndarray:
    """Multipliers of a torch scheduler for steps ``0 .. n-1``.

    ``make(lr_scheduler_module, optimizer)`` builds the scheduler on a fresh
    ``SGD([param], lr=base, momentum=momentum)``. The group's ``lr`` is read before each update;
    then ``optimizer.step()`` and ``scheduler.step()`` run (not after the last read, so a scheduler
    that raises when stepped past its end, like ``OneCycleLR``, can be read up to its last step).
    """
    torch = require("torch")
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=base, momentum=momentum)
    sched = make(torch.optim.lr_scheduler, opt)
    out = []
    for t in range(n):
        out.append(float(opt.param_groups[0]["lr"]) / base)
        if t + 1 < n:
            opt.step()
            sched.step()
    return np.array(out, dtype=np.float64)


def hf_curve(name: str, n: int, **kwargs: Any) -> np.ndarray:
    """Multipliers of ``transformers.optimization.<name>(optimizer, **kwargs)`` for steps ``0 .. n-1``."""
    require("torch")
    transformers = require("transformers")
    fn = getattr(transformers.optimization, name)
    return torch_curve(lambda _, opt: fn(opt, **kwargs), n)


def keras_module() -> Any:
    """``keras`` (imported on first use, after the backend was chosen)."""
    return require("keras")


def keras_values(
    make: Callable[[Any], Any], steps: Any, *, base: float = BASE, per_step: bool = False
) -> np.ndarray:
    """Multipliers of a Keras ``LearningRateSchedule`` at ``steps`` (float32 numbers, as float64).

    ``make(keras.optimizers.schedules)`` builds the schedule with LRs in units of ``base``. The
    schedule is called once on the array of steps, or once per step with ``per_step``
    (``CosineDecay`` with warmup branches with ``ops.cond`` and ``PiecewiseConstantDecay`` adds into
    a scalar, so both need a scalar step).
    """
    keras = keras_module()
    sched = make(keras.optimizers.schedules)
    steps = np.asarray(steps)
    if per_step:
        fn = sched
        if keras.backend.backend() == "jax":  # eager jax retraces ops.cond on every call
            import jax

            fn = jax.jit(sched)
        # float() of a 0-d tensor works on every backend
        vals = [float(fn(t.item())) for t in steps]
    else:
        # element by element: np.array(torch tensor) warns under numpy 2 on the torch backend
        vals = [float(x) for x in sched(steps)]
    arr = np.array(vals, dtype=np.float64)
    assert arr.shape == steps.shape, (arr.shape, steps.shape)
    return arr / base


def keras_curve(
    make: Callable[[Any], Any], n: int, *, base: float = BASE, per_step: bool = False
) -> np.ndarray:
    """``keras_values`` at the integer steps ``0 .. n-1``."""
    return keras_values(make, np.arange(n), base=base, per_step=per_step)
