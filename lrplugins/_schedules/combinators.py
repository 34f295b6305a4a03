"""Combinators: schedules built from other schedules (joined, scaled, multiplied) or a callable.

As in optax, composition gives each part its own local time: ``sequence`` runs part ``i`` at
``step - boundaries[i-1]``. Combinators bind their parts (``bind`` passes ``total_steps`` and
``steps_per_epoch`` through) and evaluate them with the same ``xp`` namespace. A combinator runs on
its parts' clock (steps, samples or tokens): parts on different clocks, or a part on one clock and
a duration of the combinator's own on another, are refused at construction (``Schedule.clock``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import _validate as v
from .._ops import MATH, ArrayOps, numpy_ops
from .base import Duration, Schedule, Unbound, register
from .durations import Ctx, check_common, ctx, increasing
from .formulas import SHAPES, decay_shape, full_like, progress

__all__ = ["Cooldown", "Stretch", "custom", "product", "scaled", "sequence"]


@register("sequence")
@dataclass(frozen=True, repr=False)
class sequence(Schedule):
    """Join schedules end to end: schedule ``i`` runs from ``boundaries[i-1]`` and sees local time.

    Schedule ``i`` is evaluated at ``t - boundaries[i-1]`` (as optax ``join_schedules``). On
    ``bind``, each part gets its own segment length as ``total_steps`` (the last one gets
    ``total_steps - boundaries[-1]``), so ``"N%"`` inside a part is a fraction of that part. All
    in the clock's unit: the parts and the boundaries share one clock.

    Args:
        schedules: the parts, at least one.
        boundaries: strictly increasing clock values, one fewer than parts: ints (steps), ``"N%"``,
            ``"Nep"``, ``"Nsp"`` (samples) or ``"Ntok"`` (tokens).
        total_steps: run length (int steps, ``"Nep"``, ``"Nsp"`` or ``"Ntok"``), for ``"N%"``
            boundaries and the last part's length.
        steps_per_epoch: optimizer steps per epoch, for ``"Nep"`` durations here and in the parts;
            ``None``: the one a part already has (parts with different ones are refused).

    >>> import lrplugins as lrp
    >>> s = lrp.sequence([lrp.constant(), lrp.linear()], boundaries=[2], total_steps=6)
    >>> s.values(range(7))
    [1.0, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0]
    >>> t = lrp.sequence([lrp.constant(), lrp.linear()], boundaries=["2Ktok"], total_steps="6Ktok")
    >>> t.clock, t.values([0, 3000, 6000])
    ('tokens', [1.0, 0.75, 0.0])
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
            part = s._bind(self._on_clock(length), dur.spe)
            if not part.is_bound:
                missing.extend(f"{m} in schedules[{i}]" for m in part.missing)
            parts.append(part)
        if missing:
            raise Unbound(missing)
        return (tuple(parts), tuple(float(b) for b in bs))

    def _on_clock(self, count: int | None) -> int | str | None:
        """A part's length as a total on this schedule's clock (``"1000sp"`` on the samples
        clock), so that binding a part keeps it on the clock of the whole."""
        return count if count is None else v.count_on(self.clock, count)

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

    def _holds_final(self, p: Any) -> bool:
        last = p[0][-1]
        return last._holds_final(last._p)


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

    def _bind(self, total: int | str | None, spe: int | None) -> Schedule:
        return self if self.is_bound else scaled(self.factor, self.schedule._bind(total, spe))

    def __repr__(self) -> str:
        return f"{self.factor!r} * {self.schedule!r}"

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        return p[1]._phase_starts(p[1]._p)

    def _holds_final(self, p: Any) -> bool:
        return p[1]._holds_final(p[1]._p)


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
        spe = self._epoch_length()  # a factor's epochs are those of a factor that has them
        parts = self.schedules if spe is None else tuple(s._bind(None, spe) for s in self.schedules)
        missing = [m for s in parts for m in s.missing]
        if missing:
            raise Unbound(missing)
        return parts

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        out = p[0]._formula(t, p[0]._p, xp)
        for s in p[1:]:
            out = out * s._formula(t, s._p, xp)
        return out

    def _bind(self, total: int | str | None, spe: int | None) -> Schedule:
        return (
            self if self.is_bound else product(tuple(s._bind(total, spe) for s in self.schedules))
        )

    def __repr__(self) -> str:
        return " * ".join(f"({s!r})" if isinstance(s, scaled) else repr(s) for s in self.schedules)

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        starts = sorted({start for s in p for _, start in s._phase_starts(s._p)})
        return [(f"phase {i}", start) for i, start in enumerate(starts)]

    def _holds_final(self, p: Any) -> bool:
        return all(s._holds_final(s._p) for s in p)  # constant once every factor is


@register("custom", inline=False)
@dataclass(frozen=True, repr=False)
class custom(Schedule):
    """A schedule from any callable ``fn(step: int) -> float``.

    Each value must be finite and >= 0 (checked at every call). It declares no clock: alone it runs
    on the steps clock, in a ``product`` or ``sequence`` on its partners' (``step`` is then a count
    of samples or tokens). ``values`` loops in Python, the Keras
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


# ------------------------------------------------------------------------------------------------
# Changing the horizon: built by Schedule.cooldown() and Schedule.stretch()
# ------------------------------------------------------------------------------------------------


def _method_repr(schedule: Schedule, method: str, args: list[str]) -> str:
    inner = repr(schedule)
    if isinstance(schedule, (scaled, product)):  # `0.5 * s` and `a * b` need brackets
        inner = f"({inner})"
    return f"{inner}.{method}({', '.join(args)})"


def _resolve_own(owner: Schedule, names: tuple[str, ...], spe: int | None) -> list[int]:
    """Resolve the wrapper's own durations (ints or ``"Nep"``) and check that the wrapped schedule
    is bound; ``Unbound`` naming everything missing otherwise."""
    dur = Ctx(owner.kind, None, spe)
    steps = [dur.steps(name, getattr(owner, name)) for name in names]
    missing = [*dur.missing, *owner.schedule.missing]  # type: ignore[attr-defined]
    if missing:
        raise Unbound(missing)
    return steps


@register("cooldown", inline=False)
@dataclass(frozen=True, repr=False)
class Cooldown(Schedule):
    """``schedule`` until step ``at``, then a decay from ``schedule(at)`` to ``final`` over ``steps``.

    Built by :meth:`Schedule.cooldown`. ``at`` and ``steps`` are on the schedule's clock (optimizer
    steps, samples or tokens). With ``v = schedule(at)`` and ``p = (t - at) / steps``:
    ``schedule(t)`` for ``t < at``; ``final + (v - final) * d(p)`` for ``at <= t < at + steps``, where
    ``d(p)`` is ``1 - p`` (``"linear"``), ``(1 + cos(pi p)) / 2`` (``"cosine"``) or ``1 - sqrt(p)``
    (``"1-sqrt"``); ``final`` from ``at + steps`` on. So
    ``constant(warmup_steps=W).cooldown(at=N - D, steps=D, shape=k, final=f)`` is
    ``wsd(total_steps=N, warmup_steps=W, decay_steps=D, final=f, decay_shape=k)`` from step ``W`` on
    (and at every step when ``f = 0``).

    Args:
        schedule: the schedule to cool down (bound or not: binding passes through to it).
        at: the first step of the cooldown: an int number of optimizer steps or ``"Nep"``, or on
            the samples or tokens clock ``"Nsp"`` / ``"Ntok"`` (``"250Btok"``).
        steps: the cooldown's length, in the same unit (``0``: ``final`` from ``at`` on).
        shape: ``"linear"``, ``"cosine"`` or ``"1-sqrt"``.
        final: the multiplier reached at ``at + steps`` and held after, finite and >= 0.
        steps_per_epoch: optimizer steps per epoch, for ``"Nep"`` durations; ``None``: the
            wrapped schedule's own, if it has one (a different one is refused).

    >>> import lrplugins as lrp
    >>> s = lrp.constant().cooldown(at=2, steps=4, shape="linear")
    >>> s.values(range(8))
    [1.0, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
    >>> [tuple(ph) for ph in s.phases()]
    [('constant', 0, 2), ('cooldown', 2, 6), ('hold', 6, None)]
    """

    schedule: Schedule
    at: Duration
    steps: Duration
    shape: str = "1-sqrt"
    final: float = 0.0
    steps_per_epoch: int | None = field(default=None, kw_only=True)

    _children = "schedule"

    def _check(self) -> None:
        if not isinstance(self.schedule, Schedule):
            raise TypeError(f"{self.kind}(): schedule must be a schedule, got {self.schedule!r}")
        v.duration(self.kind, "at", self.at, percent=False)
        v.duration(self.kind, "steps", self.steps, percent=False)
        v.choice(self.kind, "shape", self.shape, SHAPES)
        v.real(self.kind, "final", self.final, lo=0.0)
        if self.steps_per_epoch is not None:
            v.integer(self.kind, "steps_per_epoch", self.steps_per_epoch, lo=1)

    def _resolve(self) -> Any:
        at, steps = _resolve_own(self, ("at", "steps"), self._epoch_length())
        inner = self.schedule
        # the decay starts from the value in force at `at` (the same float s(at) returns)
        start = inner(at)
        length = float(steps) if steps else None  # None: `final` from `at` on
        return (inner, float(at), length, start, float(self.final), self.shape)

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        inner, at, length, start, final, shape = p
        before = inner._formula(t, inner._p, xp)
        if length is None:
            after = full_like(t, final, xp)
        else:
            after = final + (start - final) * decay_shape(progress(t, at, length, xp), shape, xp)
        return xp.where(t < at, before, after)

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        inner, at, length = p[0], p[1], p[2]
        before = [(name, s) for name, s in inner._phase_starts(inner._p) if s < at]
        return [*before, ("cooldown", at), ("hold", at + (length or 0.0))]

    def _holds_final(self, p: Any) -> bool:
        return True

    def _bind(self, total: int | str | None, spe: int | None) -> Schedule:
        if self.is_bound:
            return self
        own = self.steps_per_epoch if self.steps_per_epoch is not None else spe
        return Cooldown(self.schedule._bind(total, spe), self.at, self.steps, self.shape,
                        self.final, steps_per_epoch=own)  # fmt: skip

    def __repr__(self) -> str:
        if self.steps_per_epoch is not None:  # not an argument of the method: the class form
            return super().__repr__().replace(self.kind, type(self).__name__, 1)
        args = [f"at={self.at!r}", f"steps={self.steps!r}"]
        if self.shape != "1-sqrt":
            args.append(f"shape={self.shape!r}")
        if self.final != 0.0:
            args.append(f"final={self.final!r}")
        return _method_repr(self.schedule, "cooldown", args)


@register("stretch", inline=False)
@dataclass(frozen=True, repr=False)
class Stretch(Schedule):
    """``schedule`` until step ``at``; from there the rest of it stretched (or squeezed) in time so
    that its end lands on ``total_steps``.

    Built by :meth:`Schedule.stretch`; ``at`` and ``total_steps`` are on the schedule's clock
    (optimizer steps, samples or tokens). With ``E`` the first step of ``schedule``'s final constant
    phase: ``schedule(t)`` for ``t < at``; ``schedule(at + (t - at) * (E - at) / (total_steps - at))``
    for ``at <= t < total_steps``; ``schedule(E)``, the final value, from ``total_steps`` on.
    Continuous at ``at``. A schedule whose last phase is not constant (``exponential``,
    ``inverse_sqrt``, ``inverse_time``, ``cyclic``, ``cosine_restarts``, ...) has no end to move and
    is refused, as are ``at >= E`` and ``total_steps <= at``.

    Args:
        schedule: the schedule to stretch (bound or not: binding passes through to it).
        at: the first step that moves, an int number of optimizer steps or ``"Nep"`` (``"Nsp"`` /
            ``"Ntok"`` on the samples / tokens clock); ``< E``.
        total_steps: where the end lands, in the same unit; ``> at``.
        steps_per_epoch: optimizer steps per epoch, for ``"Nep"`` durations; ``None``: the
            wrapped schedule's own, if it has one (a different one is refused).

    >>> import lrplugins as lrp
    >>> s = lrp.linear(total_steps=4).stretch(at=2, total_steps=6)
    >>> s.values(range(8))
    [1.0, 0.75, 0.5, 0.375, 0.25, 0.125, 0.0, 0.0]
    >>> [tuple(ph) for ph in s.phases()]
    [('linear decay', 0, 2), ('linear decay (stretched)', 2, 6), ('hold', 6, None)]
    """

    schedule: Schedule
    at: Duration
    total_steps: Duration
    steps_per_epoch: int | None = field(default=None, kw_only=True)

    _children = "schedule"

    def _check(self) -> None:
        if not isinstance(self.schedule, Schedule):
            raise TypeError(f"{self.kind}(): schedule must be a schedule, got {self.schedule!r}")
        v.duration(self.kind, "at", self.at, percent=False)
        v.duration(self.kind, "total_steps", self.total_steps, lo=1, percent=False)
        if self.steps_per_epoch is not None:
            v.integer(self.kind, "steps_per_epoch", self.steps_per_epoch, lo=1)

    def _resolve(self) -> Any:
        at, total = _resolve_own(self, ("at", "total_steps"), self._epoch_length())
        inner = self.schedule
        phases = inner.phases()
        if not inner._holds_final(inner._p):
            raise ValueError(
                f"{self.kind}(): schedule must end in a constant phase to be stretched; "
                f"{inner!r} never does (its last phase, {phases[-1].name!r}, runs forever)"
            )
        end = phases[-1].start
        if at >= end:
            raise ValueError(
                f"{self.kind}(): at must be < {end}, the first step of the final constant phase of "
                f"{inner!r}, got at={at}"
            )
        if total <= at:
            raise ValueError(f"{self.kind}(): total_steps must be > at ({at}), got {total}")
        return (inner, float(at), float(end), float(total), inner(end))

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        inner, at, end, total, held = p
        # every branch stays in [0, end] for any t >= 0 (where() evaluates both)
        moved = at + (xp.clip(t, at, total) - at) * (end - at) / (total - at)
        u = xp.where(t < at, t, moved)
        return xp.where(t < total, inner._formula(u, inner._p, xp), held)

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        inner, at, end, total = p[0], p[1], p[2], p[3]
        out: list[tuple[str, float]] = []
        for ph in inner.phases():
            if ph.start < at:
                out.append((ph.name, ph.start))
                if ph.end is None or ph.end > at:  # the rest of this phase is stretched
                    out.append((f"{ph.name} (stretched)", at))
            elif ph.start < end:
                moved = at + (ph.start - at) * (total - at) / (end - at)
                out.append((f"{ph.name} (stretched)", moved))
            else:
                out.append((ph.name, total))
        return out

    def _holds_final(self, p: Any) -> bool:
        return True

    def _bind(self, total: int | str | None, spe: int | None) -> Schedule:
        if self.is_bound:
            return self
        own = self.steps_per_epoch if self.steps_per_epoch is not None else spe
        return Stretch(self.schedule._bind(total, spe), self.at, self.total_steps,
                       steps_per_epoch=own)  # fmt: skip

    def __repr__(self) -> str:
        if self.steps_per_epoch is not None:  # not an argument of the method: the class form
            return super().__repr__().replace(self.kind, type(self).__name__, 1)
        args = [f"at={self.at!r}", f"total_steps={self.total_steps!r}"]
        return _method_repr(self.schedule, "stretch", args)
