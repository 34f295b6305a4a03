"""Pieces of formulas that several shapes share, each written once against the namespace ``xp``.

Like every formula, these only put the step ``t`` (or a progress computed from it) through ``xp``;
every other number is a Python float or int resolved when the schedule is built, so a branch on it
(``if start == 0.0``) is decided once, never on a traced value.

>>> from lrplugins._ops import MATH
>>> warmup_ramp(5.0, 10), warmup_ramp(5.0, 10, start=0.5)
(0.5, 0.75)
>>> half_cosine(0.0, MATH), half_cosine(0.5, MATH), half_cosine(1.0, MATH)
(1.0, 0.5, 0.0)
>>> [decay_shape(0.25, k, MATH) for k in SHAPES]
[0.75, 0.8535533905932737, 0.5]
"""

from __future__ import annotations

import math
from typing import Any

__all__: list[str] = []

SHAPES = ("linear", "cosine", "1-sqrt")
"""The shapes of a warmup or decay ramp (``wsd``, ``cooldown``)."""

_PI = math.pi


def warmup_ramp(t: Any, warmup: int, start: float = 0.0) -> Any:
    """Linear warmup from ``start`` to 1 over ``warmup`` steps: ``start + (1 - start) * t / W``.

    Only meaningful for ``t < W`` (callers select it with ``xp.where(t < W, ...)``); finite for every
    ``t >= 0`` (``W = 0`` divides by 1). With ``start = 0`` it is exactly ``t / W``. Plain
    arithmetic on ``t``, so it needs no ``xp``.
    """
    ramp = t / max(warmup, 1)
    return ramp if start == 0.0 else start + (1.0 - start) * ramp


def progress(t: Any, start: float, length: float, xp: Any) -> Any:
    """Progress through a phase that starts at ``start`` and lasts ``length`` (> 0) steps:
    ``clip((t - start) / length, 0, 1)``."""
    return xp.clip((t if start == 0 else t - start) / length, 0.0, 1.0)


def half_cosine(p: Any, xp: Any, *, rising: bool = False) -> Any:
    """The half-cosine ramp ``(1 + cos(pi p)) / 2``: 1 at ``p = 0``, 0 at ``p = 1``.

    ``rising=True`` gives its mirror image ``(1 - cos(pi p)) / 2``, from 0 to 1.
    """
    c = xp.cos(_PI * p)
    return 0.5 * (1.0 - c) if rising else 0.5 * (1.0 + c)


def decay_shape(p: Any, shape: str, xp: Any) -> Any:
    """A decay from 1 at ``p = 0`` to 0 at ``p = 1``: ``d(p) = 1 - p`` (``"linear"``),
    ``(1 + cos(pi p)) / 2`` (``"cosine"``) or ``1 - sqrt(p)`` (``"1-sqrt"``); ``p`` in [0, 1]."""
    if shape == "linear":
        return 1.0 - p
    if shape == "cosine":
        return half_cosine(p, xp)
    return 1.0 - xp.sqrt(p)


def rise_shape(p: Any, shape: str, xp: Any) -> Any:
    """A rise from 0 at ``p = 0`` to 1 at ``p = 1``: ``p``, ``(1 - cos(pi p)) / 2`` or
    ``1 - sqrt(1 - p)`` for ``"linear"``, ``"cosine"``, ``"1-sqrt"``; ``p`` in [0, 1]."""
    if shape == "linear":
        return p
    if shape == "cosine":
        return half_cosine(p, xp, rising=True)
    return 1.0 - xp.sqrt(1.0 - p)


def full_like(t: Any, value: float, xp: Any) -> Any:
    """The constant ``value`` with the shape of ``t`` (a float for a float, an array for an array)."""
    return xp.where(t >= 0.0, value, value)
