"""Durations: checking them and resolving them to whole counts on the schedule's clock.

A duration is an ``int`` number of optimizer steps, ``"N%"`` of ``total_steps`` (in the total's
unit), ``"Nep"`` epochs (needs ``steps_per_epoch``), ``"Nsp"`` samples or ``"Ntok"`` tokens (with an
optional magnitude ``K``, ``M``, ``B``, ``T``: ``"1.5Mtok"``); a fraction that falls between two
whole steps, samples or tokens is rounded up. :class:`Ctx` resolves them for one schedule and
records what is missing instead of failing at once, so that an unbound schedule can name everything
it lacks. Which clock a schedule runs on is decided by the base class (``Schedule.clock``) before
anything is resolved, so the numbers here are all in that one unit.

>>> c = Ctx("cosine", total=1000, spe=None)
>>> c.steps("warmup_steps", "5%"), c.steps("decay_steps", "0.05%"), c.missing
(50, 1, [])
>>> c.steps("warmup_steps", "1.5Ksp"), c.steps("warmup_steps", "0.0001Ktok")
(1500, 1)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

from .. import _validate as v
from .base import Duration, Unbound


class Ctx:
    """Resolves durations to whole steps, recording what is missing instead of failing at once."""

    __slots__ = ("missing", "owner", "spe", "total")

    def __init__(self, owner: str, total: int | None, spe: int | None):
        self.owner = owner
        self.total = total
        self.spe = spe
        self.missing: list[str] = []

    def steps(self, name: str, value: Duration, *, lo: int = 0) -> int:
        """``value`` as a whole count on the clock: optimizer steps, samples or tokens (``lo`` when
        it cannot be resolved yet: see :meth:`done`)."""
        if isinstance(value, int):
            return value
        num, unit = v.split_duration(value)
        if unit == "%":
            if self.total is None:
                self.missing.append(f"total_steps (for {name}={value!r})")
                return lo
            n = math.ceil(num * self.total / 100)
        elif unit == "ep":
            if self.spe is None:
                self.missing.append(f"steps_per_epoch (for {name}={value!r})")
                return lo
            n = math.ceil(num * self.spe)
        else:  # samples or tokens, the magnitude already applied
            n = math.ceil(num)
        if n < lo:
            raise ValueError(f"{self.owner}(): {name} must be at least {lo}, got {value!r} = {n}")
        return n

    def exact(self, value: Duration) -> Fraction:
        """``value`` on the clock before :meth:`steps` rounds it up (a resolvable duration)."""
        if isinstance(value, int):
            return Fraction(value)
        num, unit = v.split_duration(value)
        if unit == "%":
            return num * (self.total or 0) / 100
        if unit == "ep":
            return num * (self.spe or 0)
        return num

    def need_total(self) -> int:
        """The run length; recorded as missing (and 1 returned) when there is none."""
        if self.total is None:
            self.missing.append("total_steps")
            return 1
        return self.total

    def done(self) -> None:
        """Raise ``Unbound`` naming everything missing, if anything is."""
        if self.missing:
            if "total_steps" in self.missing:  # the bare entry already says it all
                self.missing = [m for m in self.missing if not m.startswith("total_steps (")]
            raise Unbound(self.missing)


def check_common(self: Any) -> None:
    """Checks for the ``total_steps`` and ``steps_per_epoch`` fields every leaf schedule has
    (``total_steps``: an int number of steps, or ``"Nep"``, ``"Nsp"``, ``"Ntok"``; not ``"N%"``)."""
    if self.total_steps is not None:
        v.duration(self.kind, "total_steps", self.total_steps, lo=1, percent=False)
    if self.steps_per_epoch is not None:
        v.integer(self.kind, "steps_per_epoch", self.steps_per_epoch, lo=1)


def ctx(self: Any) -> Ctx:
    """A resolver whose total is this schedule's own ``total_steps`` (resolved if in epochs)."""
    c = Ctx(self.kind, None, self._epoch_length())  # a sequence's parts may carry it
    if self.total_steps is not None:
        c.total = c.steps("total_steps", self.total_steps, lo=1)
        if c.missing:
            c.total = None
    return c


def check_warmup_fits(owner: str, warmup: int, total: int) -> None:
    if warmup > total:
        raise ValueError(f"{owner}(): warmup_steps ({warmup}) must be <= total_steps ({total})")


def run_and_warmup(self: Any) -> tuple[int, int]:
    """Resolve a required ``total_steps`` and ``warmup_steps``; check that the warmup fits."""
    c = ctx(self)
    n = c.need_total()
    w = c.steps("warmup_steps", self.warmup_steps)
    c.done()
    check_warmup_fits(self.kind, w, n)
    return n, w


def increasing(owner: str, name: str, steps: Sequence[int], *, lo: int = 0) -> None:
    """Refuse resolved steps that are below ``lo`` or not strictly increasing."""
    for i, s in enumerate(steps):
        if s < lo:
            raise ValueError(f"{owner}(): {name}[{i}] must be >= {lo} steps, got {s}")
        if i and s <= steps[i - 1]:
            raise ValueError(
                f"{owner}(): {name} must be strictly increasing, got {list(steps)} "
                f"({name}[{i}]={s} after {steps[i - 1]})"
            )


def warmup_phase(w: int) -> list[tuple[str, float]]:
    """The ``("warmup", 0)`` phase start, if there is a warmup."""
    return [("warmup", 0)] if w else []
