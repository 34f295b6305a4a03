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
        return lo if x < lo else hi if x > hi else x

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

_NUMPY_OPS: Any = None


def numpy_ops() -> Any:
    """The numpy namespace, imported on first use (``import lrplugins`` stays numpy-free)."""
    global _NUMPY_OPS
    if _NUMPY_OPS is None:
        import numpy as np

        class NumpyOps:
            __slots__ = ()
            where = staticmethod(np.where)
            minimum = staticmethod(np.minimum)
            maximum = staticmethod(np.maximum)
            clip = staticmethod(np.clip)
            cos = staticmethod(np.cos)
            sqrt = staticmethod(np.sqrt)
            floor = staticmethod(np.floor)
            log = staticmethod(np.log)
            power = staticmethod(np.power)

        _NUMPY_OPS = NumpyOps()
    return _NUMPY_OPS
