"""Combinators: schedules built from other schedules (joined, scaled, multiplied) or a callable.

As in optax, composition gives each part its own local time: ``sequence`` runs part ``i`` at
``step - boundaries[i-1]``. Combinators bind their parts (``bind`` passes ``total_steps`` and
``steps_per_epoch`` through) and evaluate them with the same ``xp`` namespace.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import _validate as v
from .._ops import MATH, ArrayOps, numpy_ops
from .base import Duration, Schedule, Unbound, register
from .durations import check_common, ctx, increasing

__all__ = ["custom", "product", "scaled", "sequence"]


@register("sequence")
@dataclass(frozen=True, repr=False)
class sequence(Schedule):
    """Join schedules end to end: schedule ``i`` runs from ``boundaries[i-1]`` and sees local time.

    Schedule ``i`` is evaluated at ``t - boundaries[i-1]`` (as optax ``join_schedules``). On
    ``bind``, each part gets its own segment length as ``total_steps`` (the last one gets
    ``total_steps - boundaries[-1]``), so ``"N%"`` inside a part is a fraction of that part.

    Args:
        schedules: the parts, at least one.
        boundaries: strictly increasing steps (ints, ``"N%"`` or ``"Nep"``), one fewer than parts.
        total_steps: run length (or ``"Nep"``), for ``"N%"`` boundaries and the last part's length.
        steps_per_epoch: optimizer steps per epoch, for ``"Nep"`` durations here and in the parts.

    >>> import lrplugins as lrp
    >>> s = lrp.sequence([lrp.constant(), lrp.linear()], boundaries=[2], total_steps=6)
    >>> s.values(range(7))
    [1.0, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0]
    """

    schedules: tuple[Schedule, ...]
    boundaries: tuple[Duration, ...]
    total_steps: Duration | None = field(default=None, kw_only=True)
    steps_per_epoch: int | None = field(default=None, kw_only=True)

    _children = "schedules"

    def _check(self) -> None:
        check_common(self)
        parts = v.listlike(self.kind, "schedules", self.schedules)
        for i, s in enumerate(parts):
            if not isinstance(s, Schedule):
                raise TypeError(f"{self.kind}(): schedules[{i}] must be a schedule, got {s!r}")
        if not parts:
            raise ValueError(f"{self.kind}(): schedules must hold at least one schedule, got []")
        bs = v.listlike(self.kind, "boundaries", self.boundaries)
        for i, b in enumerate(bs):
            v.duration(self.kind, f"boundaries[{i}]", b)
        if len(bs) != len(parts) - 1:
            raise ValueError(
                f"{self.kind}(): boundaries must have one entry fewer than schedules "
                f"({len(parts)} schedules), got {len(bs)} boundaries"
            )

    def _resolve(self) -> Any:
        dur = ctx(self)
        bs = [dur.steps(f"boundaries[{i}]", b) for i, b in enumerate(self.boundaries)]
        dur.done()
        increasing(self.kind, "boundaries", bs, lo=1)  # every part runs for at least one step
        starts = [0, *bs]
        ends: list[int | None] = [*bs, dur.total]
        parts = []
        missing: list[str] = []
        for i, (s, a, b) in enumerate(zip(self.schedules, starts, ends)):
            length = None if b is None else b - a
            if length is not None and length < 1:
                raise ValueError(
                    f"{self.kind}(): the last part starts at step {a}, after total_steps ({b})"
                )
            part = s._bind(length, dur.spe)
            if not part.is_bound:
                missing.extend(f"{m} in schedules[{i}]" for m in part.missing)
            parts.append(part)
        if missing:
            raise Unbound(missing)
        return (tuple(parts), tuple(float(b) for b in bs))

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        parts, bs = p
        out = parts[0]._formula(t, parts[0]._p, xp)
        for b, part in zip(bs, parts[1:]):
            local = part._formula(xp.maximum(t - b, 0.0), part._p, xp)
            out = xp.where(t >= b, local, out)
        return out

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        parts, bs = p
        out = []
        for i, (part, begin) in enumerate(zip(parts, (0.0, *bs))):
            end = bs[i] if i < len(bs) else math.inf
            out += [
                (f"part {i}: {name}", begin + start)
                for name, start in part._phase_starts(part._p)
                if begin + start < end
            ]
        return out


@register("scaled", inline=False)
@dataclass(frozen=True, repr=False)
class scaled(Schedule):
    """``factor * schedule``; what ``k * s`` and ``s.scaled(base_lr)`` build.

    Args:
        factor: a finite number >= 0 (a base learning rate, or a plain multiplier).
        schedule: the schedule to scale.

    >>> import lrplugins as lrp
    >>> (0.5 * lrp.linear(total_steps=2)).values(range(3))
    [0.5, 0.25, 0.0]
    """

    factor: float
    schedule: Schedule

    _children = "schedule"

    def _check(self) -> None:
        v.real(self.kind, "factor", self.factor, lo=0.0)
        if not isinstance(self.schedule, Schedule):
            raise TypeError(f"{self.kind}(): schedule must be a schedule, got {self.schedule!r}")

    def _canonical_fields(self) -> dict[str, Any]:
        """Nested scaling folded: ``k * (j * s)`` is ``(k * j) * s``."""
        inner = self.schedule
        if isinstance(inner, scaled):
            return {"factor": float(self.factor) * inner.factor, "schedule": inner.schedule}
        return {}

    def _resolve(self) -> Any:
        if not self.schedule.is_bound:
            raise Unbound(list(self.schedule.missing))
        return (float(self.factor), self.schedule)

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        k, s = p
        return k * s._formula(t, s._p, xp)

    def _bind(self, total: int | None, spe: int | None) -> Schedule:
        return self if self.is_bound else scaled(self.factor, self.schedule._bind(total, spe))

    def __repr__(self) -> str:
        return f"{self.factor!r} * {self.schedule!r}"

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        return p[1]._phase_starts(p[1]._p)


@register("product", inline=False)
@dataclass(frozen=True, repr=False)
class product(Schedule):
    """Pointwise product of schedules; what ``s * t`` builds.

    Args:
        schedules: the factors, at least two.

    >>> import lrplugins as lrp
    >>> (lrp.constant(warmup_steps=2) * lrp.linear(total_steps=4)).values(range(5))
    [0.0, 0.375, 0.5, 0.25, 0.0]
    """

    schedules: tuple[Schedule, ...]

    _children = "schedules"

    def _check(self) -> None:
        for i, s in enumerate(v.listlike(self.kind, "schedules", self.schedules)):
            if not isinstance(s, Schedule):
                raise TypeError(f"{self.kind}(): schedules[{i}] must be a schedule, got {s!r}")
        count = len(self._canonical_fields()["schedules"])
        if count < 2:
            raise ValueError(
                f"{self.kind}(): schedules must hold at least two schedules, got {count}"
            )

    def _canonical_fields(self) -> dict[str, Any]:
        """Nested products flattened: ``a * (b * c)`` is ``product((a, b, c))``."""
        parts = (
            p for s in self.schedules for p in (s.schedules if isinstance(s, product) else (s,))
        )
        return {"schedules": tuple(parts)}

    def _resolve(self) -> Any:
        missing = [m for s in self.schedules for m in s.missing]
        if missing:
            raise Unbound(missing)
        return self.schedules

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        out = p[0]._formula(t, p[0]._p, xp)
        for s in p[1:]:
            out = out * s._formula(t, s._p, xp)
        return out

    def _bind(self, total: int | None, spe: int | None) -> Schedule:
        return (
            self if self.is_bound else product(tuple(s._bind(total, spe) for s in self.schedules))
        )

    def __repr__(self) -> str:
        return " * ".join(f"({s!r})" if isinstance(s, scaled) else repr(s) for s in self.schedules)

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        starts = sorted({start for s in p for _, start in s._phase_starts(s._p)})
        return [(f"phase {i}", start) for i, start in enumerate(starts)]


@register("custom", inline=False)
@dataclass(frozen=True, repr=False)
class custom(Schedule):
    """A schedule from any callable ``fn(step: int) -> float``.

    Each value must be finite and >= 0 (checked at every call). ``values`` loops in Python, the Keras
    graph cannot run it, and ``to_config`` refuses it: prefer a catalog shape where one fits.

    Args:
        fn: the multiplier as a function of the step.

    >>> import lrplugins as lrp
    >>> lrp.custom(lambda step: 0.9 ** step).values(range(3))
    [1.0, 0.9, 0.81]
    """

    fn: Callable[[int], float]

    _has_config = False  # a Python callable has no config

    def _check(self) -> None:
        if not callable(self.fn):
            raise TypeError(f"{self.kind}(): fn must be callable, got {self.fn!r}")

    def _resolve(self) -> Any:
        return (self.fn,)

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        (fn,) = p
        if xp is MATH:
            return _custom_value(fn, int(t))
        if isinstance(xp, ArrayOps) and xp is numpy_ops():
            import numpy as np

            arr = np.asarray(t)
            flat = (_custom_value(fn, int(s)) for s in arr.ravel())
            return np.fromiter(flat, dtype=np.float64, count=arr.size).reshape(arr.shape)
        raise TypeError(
            "custom(): a Python callable cannot be compiled into a framework graph; use a catalog "
            "shape (or interpolate() with knots) instead"
        )

    def to_config(self) -> dict[str, Any]:
        raise TypeError(
            f"custom(): a schedule built from a Python callable ({self.fn!r}) has no config; "
            "use a catalog shape (or interpolate() with knots) to save it"
        )

    def __repr__(self) -> str:
        return f"custom({getattr(self.fn, '__qualname__', self.fn)!r})"


def _custom_value(fn: Callable[[int], float], step: int) -> float:
    out = fn(step)
    try:
        x = float(out)
    except (TypeError, ValueError):
        raise TypeError(f"custom(): fn({step}) must return a number, got {out!r}") from None
    if not (x >= 0.0 and x != math.inf):
        raise ValueError(f"custom(): fn({step}) must return a finite number >= 0, got {out!r}")
    return x
