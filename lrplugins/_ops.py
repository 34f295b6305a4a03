"""Array namespaces that schedule formulas are written against.

Every built-in formula is written once, against a tiny namespace ``xp`` with ``where``, ``minimum``,
``maximum``, ``clip``, ``cos``, ``sqrt``, ``floor``, ``log`` and ``power``. Three namespaces run it:
Python floats (:data:`MATH`), numpy arrays (:func:`numpy_ops`) and ``keras.ops`` tensors (built by
the Keras adapter). Formulas only put the step ``t`` through ``xp``; every other number is a Python
float resolved when the schedule is built, so a traced step (jax, tf.function) never meets a Python
``if``.

Rule for formula authors: ``where`` evaluates both branches, so each branch must be finite and free of
domain errors for every ``t >= 0`` (clip progress to ``[0, 1]``, never divide by a value that can be
zero).
"""

from __future__ import annotations

import math
from typing import Any


class MathOps:
    """Python-float namespace (the scalar path of ``schedule(step)``)."""

    __slots__ = ()

    @staticmethod
    def where(cond: Any, a: Any, b: Any) -> Any:
        return a if cond else b

    minimum = staticmethod(min)
    maximum = staticmethod(max)

    @staticmethod
    def clip(x: float, lo: float, hi: float) -> float:
        return lo if x < lo else min(x, hi)

    cos = staticmethod(math.cos)
    sqrt = staticmethod(math.sqrt)
    floor = staticmethod(math.floor)
    log = staticmethod(math.log)

    @staticmethod
    def power(a: float, b: float) -> float:
        try:
            return math.pow(a, b)
        except OverflowError:  # numpy and keras give inf here too
            return math.inf


MATH = MathOps()

OP_NAMES = ("where", "minimum", "maximum", "clip", "cos", "sqrt", "floor", "log", "power")
"""What a formula may call on ``xp``."""


class ArrayOps:
    """An ``xp`` namespace taken from an array module that has every name in :data:`OP_NAMES`
    with numpy's meaning (``numpy``, ``keras.ops``)."""

    __slots__ = OP_NAMES

    def __init__(self, module: Any) -> None:
        for name in OP_NAMES:
            setattr(self, name, getattr(module, name))


_NUMPY_OPS: ArrayOps | None = None


def numpy_ops() -> ArrayOps:
    """The numpy namespace, imported on first use (``import lrplugins`` stays numpy-free)."""
    global _NUMPY_OPS
    if _NUMPY_OPS is None:
        import numpy as np

        _NUMPY_OPS = ArrayOps(np)
    return _NUMPY_OPS
