"""The leaf shapes of the catalog: each a frozen dataclass with one closed-form formula.

Every class here is one row of the catalog: its docstring gives the formula, the
units of its arguments, the anchor it equals, and an example. Formulas are written once against the
array namespace ``xp`` (see :mod:`lrplugins._ops`), so floats, numpy arrays and ``keras.ops``
tensors all run the same code.

"Steps" in the arguments are values of the schedule's clock: every duration may be written in
optimizer steps (an int, ``"Nep"``), samples (``"512sp"``) or tokens (``"1.5Mtok"``), the same unit
throughout one schedule (``"N%"`` is of ``total_steps``, in its unit), and ``s(t)`` then takes the
update index, or the samples or tokens consumed before the update (``Schedule.clock``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from .. import _validate as v
from .base import Duration, Schedule, builds, register
from .durations import (
    check_common,
    check_warmup_fits,
    ctx,
    increasing,
    run_and_warmup,
    warmup_phase,
)
from .formulas import (
    SHAPES,
    decay_shape,
    full_like,
    half_cosine,
    progress,
    rise_shape,
    warmup_ramp,
)

__all__ = [
    "PiecewiseConstant",
    "constant",
    "cosine",
    "cosine_restarts",
    "cyclic",
    "exponential",
    "interpolate",
    "inverse_sqrt",
    "inverse_time",
    "linear",
    "multistep",
    "one_cycle",
    "piecewise",
    "polynomial",
    "wsd",
]


@register("constant")
@dataclass(frozen=True, repr=False)
class constant(Schedule):
    """Constant multiplier 1 after an optional linear warmup from 0.

    ``t / W`` for ``t < W``, then ``1``. Equals transformers ``get_constant_schedule_with_warmup``.

    Args:
        warmup_steps: warmup length (steps, ``"N%"`` of ``total_steps``, ``"Nep"``, ``"Nsp"`` or
            ``"Ntok"``).
        total_steps: run length in steps (or ``"Nep"``, ``"Nsp"``, ``"Ntok"``); only needed to resolve ``"N%"``.
        steps_per_epoch: optimizer steps per epoch; only needed to resolve ``"Nep"``.

    >>> import lrplugins as lrp
    >>> lrp.constant(warmup_steps=4).values(range(6))
    [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    """

    _ends = True  # holds its final value after its last phase

    warmup_steps: Duration = 0
    total_steps: Duration | None = field(default=None, kw_only=True)
    steps_per_epoch: int | None = field(default=None, kw_only=True)

    def _check(self) -> None:
        check_common(self)
        v.duration(self.kind, "warmup_steps", self.warmup_steps)

    def _resolve(self) -> Any:
        dur = ctx(self)
        w = dur.steps("warmup_steps", self.warmup_steps)
        dur.done()
        if dur.total is not None:
            check_warmup_fits(self.kind, w, dur.total)
        return (w,)

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        (w,) = p
        return xp.where(t < w, warmup_ramp(t, w), 1.0)

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        return [*warmup_phase(p[0]), ("constant", p[0])]


class _HasFinal:
    """Declares ``final`` for type checkers; each shape declares the field itself, so that its
    arguments keep their documented order."""

    final: float


@dataclass(frozen=True, repr=False)
class _WarmupDecay(Schedule, _HasFinal):
    """Shared by ``linear``, ``cosine`` and ``polynomial``: a linear warmup over ``W`` steps, then a
    decay from 1 that reaches ``final`` at ``total_steps = N`` and holds it.

    Resolves to ``p = (W, N, N - W (at least 1), final, *shape_args)``.
    """

    _ends = True  # holds its final value after its last phase

    total_steps: Duration | None = None
    warmup_steps: Duration = 0
    steps_per_epoch: int | None = field(default=None, kw_only=True)

    _decay_phase: ClassVar[str] = "decay"  # the name of the decay phase
    _unit_fields: ClassVar[tuple[str, ...]] = ("final",)  # multipliers that must lie in [0, 1]

    def _check(self) -> None:
        check_common(self)
        v.duration(self.kind, "warmup_steps", self.warmup_steps)
        for name in self._unit_fields:
            v.real(self.kind, name, getattr(self, name), lo=0.0, hi=1.0)

    def _resolve(self) -> Any:
        n, w = run_and_warmup(self)
        return (w, float(n), float(max(1, n - w)), float(self.final), *self._shape_args())

    def _shape_args(self) -> tuple[float, ...]:
        """The shape's own numbers, appended to ``p``."""
        return ()

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        w, n, span = p[0], p[1], p[2]
        return [*warmup_phase(w), (self._decay_phase, w), ("hold", self._hold_start(w, n, span))]

    def _hold_start(self, w: int, n: float, span: float) -> float:
        """The first step of the final hold: where progress ``(t - W) / span`` reaches 1."""
        return w + span


@register("linear")
@dataclass(frozen=True, repr=False)
class linear(_WarmupDecay):
    """Linear warmup from ``warmup_start``, then linear decay from 1 to ``final`` at ``total_steps``.

    ``warmup_start + (1 - warmup_start) * t / W`` for ``t < W``; then
    ``final + (1 - final) * max(0, (N - t) / (N - W))``; holds ``final`` after ``N``. Equals
    transformers ``get_linear_schedule_with_warmup`` (``final=0``) and Megatron-LM's
    ``OptimizerParamScheduler`` with ``lr_decay_style="linear"`` (``warmup_start = init_lr / max_lr``,
    ``final = min_lr / max_lr``; in its sample mode on the samples clock).

    Args:
        total_steps: run length N, warmup included: optimizer steps (an int or ``"Nep"``),
            samples (``"Nsp"``) or tokens (``"Ntok"``).
        warmup_steps: warmup length W in the same unit, or ``"N%"`` of N.
        final: multiplier reached at N, in [0, 1].
        warmup_start: multiplier at 0 when there is a warmup, in [0, 1].
        steps_per_epoch: optimizer steps per epoch, for ``"Nep"`` durations.

    >>> import lrplugins as lrp
    >>> lrp.linear(total_steps=4, final=0.5).values(range(6))
    [1.0, 0.875, 0.75, 0.625, 0.5, 0.5]
    """

    final: float = 0.0
    warmup_start: float = 0.0

    _decay_phase = "linear decay"
    _unit_fields = ("final", "warmup_start")

    def _shape_args(self) -> tuple[float, ...]:
        return (float(self.warmup_start),)

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        w, n, span, final, start = p
        decay = xp.maximum((n - t) / span, 0.0)
        return xp.where(t < w, warmup_ramp(t, w, start), final + (1.0 - final) * decay)

    def _hold_start(self, w: int, n: float, span: float) -> float:
        return n  # (N - t) / span reaches 0 at N even when W = N


@register("cosine")
@dataclass(frozen=True, repr=False)
class cosine(_WarmupDecay):
    """Linear warmup from ``warmup_start``, then a half cosine from 1 down to ``final``.

    ``warmup_start + (1 - warmup_start) * t / W`` for ``t < W``; then with
    ``p = min(1, (t - W) / (N - W))``: ``final + (1 - final) * (1 + cos(pi * p)) / 2``. Holds ``final``
    after ``N``. Equals transformers ``get_cosine_schedule_with_warmup`` (``final=0``),
    ``get_cosine_with_min_lr_schedule_with_warmup`` (``final=min_lr_rate``), Keras ``CosineDecay``
    with warmup (``warmup_start = initial / warmup_target``, ``N = warmup_steps + decay_steps``) and
    Megatron-LM's ``OptimizerParamScheduler`` with ``lr_decay_style="cosine"``
    (``warmup_start = init_lr / max_lr``, ``final = min_lr / max_lr``; in its sample mode on the
    samples clock).

    Args:
        total_steps: run length N, warmup included: optimizer steps (an int or ``"Nep"``),
            samples (``"Nsp"``) or tokens (``"Ntok"``).
        warmup_steps: warmup length W in the same unit, or ``"N%"`` of N.
        final: multiplier at the end of the decay, in [0, 1].
        warmup_start: multiplier at step 0 when there is a warmup, in [0, 1].
        steps_per_epoch: optimizer steps per epoch, for ``"Nep"`` durations.

    >>> import lrplugins as lrp
    >>> s = lrp.cosine(total_steps=100, warmup_steps="10%", final=0.1)
    >>> s(0), s(10), round(s(55), 6), s(100), s(10**9)
    (0.0, 1.0, 0.55, 0.1, 0.1)
    """

    final: float = 0.0
    warmup_start: float = 0.0

    _decay_phase = "cosine decay"
    _unit_fields = ("final", "warmup_start")

    def _shape_args(self) -> tuple[float, ...]:
        return (float(self.warmup_start),)

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        w, _, span, final, start = p
        decay = half_cosine(progress(t, w, span, xp), xp)
        return xp.where(t < w, warmup_ramp(t, w, start), decay * (1.0 - final) + final)


@register("cosine_restarts")
@dataclass(frozen=True, repr=False)
class cosine_restarts(Schedule):
    """Cosine annealing with warm restarts (SGDR), after an optional linear warmup from 0.

    Cycle ``i`` lasts ``cycle_steps * cycle_mult**i`` steps and, at local progress ``q``, gives
    ``final + (1 - final) * decay**i * (1 + cos(pi * q)) / 2``. Equals torch
    ``CosineAnnealingWarmRestarts(T_0=cycle_steps, T_mult=cycle_mult, eta_min=final)`` (decay 1, no
    warmup) and Keras ``CosineDecayRestarts`` (``t_mul=cycle_mult, m_mul=decay, alpha=final``).

    Args:
        cycle_steps: length of the first cycle (steps, ``"N%"``, ``"Nep"``, ``"Nsp"`` or
            ``"Ntok"``), at least 1.
        cycle_mult: growth factor of each cycle's length, >= 1.
        final: the floor every cycle decays to, in [0, 1].
        decay: factor applied to the peak at each restart, in (0, 1].
        warmup_steps: linear warmup from 0 before the first cycle.
        total_steps: run length, only needed to resolve ``"N%"`` durations.
        steps_per_epoch: optimizer steps per epoch, for ``"Nep"`` durations.

    >>> import lrplugins as lrp
    >>> lrp.cosine_restarts(cycle_steps=2).values(range(5))
    [1.0, 0.5, 1.0, 0.5, 1.0]
    """

    cycle_steps: Duration
    cycle_mult: float = 1.0
    final: float = 0.0
    decay: float = 1.0
    warmup_steps: Duration = 0
    total_steps: Duration | None = field(default=None, kw_only=True)
    steps_per_epoch: int | None = field(default=None, kw_only=True)

    def _check(self) -> None:
        check_common(self)
        v.duration(self.kind, "cycle_steps", self.cycle_steps, lo=1)
        v.real(self.kind, "cycle_mult", self.cycle_mult, lo=1.0)
        v.real(self.kind, "final", self.final, lo=0.0, hi=1.0)
        v.real(self.kind, "decay", self.decay, lo=0.0, hi=1.0, lo_open=True)
        v.duration(self.kind, "warmup_steps", self.warmup_steps)

    def _resolve(self) -> Any:
        dur = ctx(self)
        c = dur.steps("cycle_steps", self.cycle_steps, lo=1)
        w = dur.steps("warmup_steps", self.warmup_steps)
        dur.done()
        m = float(self.cycle_mult)
        log_m = math.log(m) if m > 1.0 else 0.0
        i_cap = float(max(0, math.floor((69.0 - math.log(c)) / log_m))) if m > 1.0 else 0.0
        return (w, float(c), m, log_m, i_cap, float(self.final), float(self.decay))

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        w, c, m, log_m, i_cap, final, decay = p
        u = xp.maximum(t - w, 0.0)
        if m == 1.0:
            i = xp.floor(u / c)
            start = i * c
            length = c
        else:
            # cycle index from the geometric series, corrected by one either way so that float
            # rounding in log() never misplaces a restart that falls exactly on an integer step;
            # capped where cycles grow past 1e30 steps, so nothing overflows
            i = xp.floor(xp.minimum(xp.log(1.0 + u * (m - 1.0) / c) / log_m, i_cap))
            i = xp.where(u < c * (xp.power(m, i) - 1.0) / (m - 1.0), xp.maximum(i - 1.0, 0.0), i)
            i = xp.where(u >= c * (xp.power(m, i + 1.0) - 1.0) / (m - 1.0), i + 1.0, i)
            i = xp.minimum(i, i_cap)
            start = c * (xp.power(m, i) - 1.0) / (m - 1.0)
            length = c * xp.power(m, i)
        q = xp.clip((u - start) / length, 0.0, 1.0)
        peak = xp.power(decay, i) if decay != 1.0 else 1.0
        cyc = final + (1.0 - final) * peak * half_cosine(q, xp)
        return xp.where(t < w, warmup_ramp(t, w), cyc)

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        w, c, m = p[0], p[1], p[2]
        out, start = [*warmup_phase(w)], float(w)
        for i in range(5):  # the first cycles; the pattern repeats
            out.append((f"cycle {i}", start))
            start += c * m**i
        out.append(("more cycles", start))
        return out


@register("polynomial")
@dataclass(frozen=True, repr=False)
class polynomial(_WarmupDecay):
    """Linear warmup from 0, then polynomial decay from 1 to ``final``.

    ``t / W`` for ``t < W``; then ``(1 - final) * (1 - p)**power + final`` with
    ``p = min(1, (t - W) / (N - W))``. Equals transformers
    ``get_polynomial_decay_schedule_with_warmup`` (``final = lr_end / lr``) and Keras
    ``PolynomialDecay`` (``cycle=False``).

    Args:
        total_steps: run length N, warmup included: optimizer steps (an int or ``"Nep"``),
            samples (``"Nsp"``) or tokens (``"Ntok"``).
        warmup_steps: warmup length W (steps, ``"N%"``, ``"Nep"``, ``"Nsp"`` or ``"Ntok"``).
        power: exponent of the decay, > 0 (1 is linear).
        final: multiplier reached at step N, in [0, 1].
        steps_per_epoch: optimizer steps per epoch, for ``"Nep"`` durations.

    >>> import lrplugins as lrp
    >>> lrp.polynomial(total_steps=2, power=2.0).values(range(4))
    [1.0, 0.25, 0.0, 0.0]
    """

    power: float = 1.0
    final: float = 0.0

    _decay_phase = "polynomial decay"

    def _check(self) -> None:
        super()._check()
        v.real(self.kind, "power", self.power, lo=0.0, lo_open=True)

    def _shape_args(self) -> tuple[float, ...]:
        return (float(self.power),)

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        w, _, span, final, power = p
        remaining = 1.0 - progress(t, w, span, xp)
        return xp.where(
            t < w, warmup_ramp(t, w), (1.0 - final) * xp.power(remaining, power) + final
        )


@register("exponential")
@dataclass(frozen=True, repr=False)
class exponential(Schedule):
    """Exponential decay: ``rate ** (t / every)``, or ``rate ** floor(t / every)`` with staircase.

    Equals torch ``ExponentialLR(gamma=rate)`` (``every=1``), ``StepLR(step_size=every,
    gamma=rate)`` (``staircase=True``) and Keras ``ExponentialDecay``.

    Args:
        rate: the multiplier after each ``every`` steps, in (0, 1].
        every: decay period (steps, ``"N%"``, ``"Nep"``, ``"Nsp"`` or ``"Ntok"``), at least 1.
        staircase: decay in whole periods instead of continuously.
        total_steps: run length, only needed to resolve ``"N%"`` durations.
        steps_per_epoch: optimizer steps per epoch, for ``"Nep"`` durations.

    >>> import lrplugins as lrp
    >>> lrp.exponential(0.5, every=2, staircase=True).values(range(5))
    [1.0, 1.0, 0.5, 0.5, 0.25]
    """

    rate: float
    every: Duration = 1
    staircase: bool = False
    total_steps: Duration | None = field(default=None, kw_only=True)
    steps_per_epoch: int | None = field(default=None, kw_only=True)

    def _check(self) -> None:
        check_common(self)
        v.real(self.kind, "rate", self.rate, lo=0.0, hi=1.0, lo_open=True)
        v.duration(self.kind, "every", self.every, lo=1)
        v.boolean(self.kind, "staircase", self.staircase)

    def _resolve(self) -> Any:
        dur = ctx(self)
        every = dur.steps("every", self.every, lo=1)
        dur.done()
        return (float(self.rate), float(every), self.staircase)

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        rate, every, staircase = p
        e = t / every
        if staircase:
            e = xp.floor(e)
        return xp.power(rate, e)

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        return [("exponential decay", 0)]


@register("multistep")
@dataclass(frozen=True, repr=False)
class multistep(Schedule):
    """Step decay at given milestones: ``gamma ** (number of milestones <= t)``.

    Equals torch ``MultiStepLR``.

    Args:
        milestones: a list (or tuple) of strictly increasing steps (ints, ``"N%"``, ``"Nep"``,
            ``"Nsp"`` or ``"Ntok"``) where the multiplier drops; a dict or a set is refused.
        gamma: factor applied at each milestone, >= 0.
        total_steps: run length, only needed to resolve ``"N%"`` milestones.
        steps_per_epoch: optimizer steps per epoch, for ``"Nep"`` milestones.

    >>> import lrplugins as lrp
    >>> lrp.multistep([2, 4], gamma=0.5).values(range(6))
    [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    """

    _ends = True  # holds its final value after its last phase

    milestones: tuple[Duration, ...]
    gamma: float = 0.1
    total_steps: Duration | None = field(default=None, kw_only=True)
    steps_per_epoch: int | None = field(default=None, kw_only=True)

    def _check(self) -> None:
        check_common(self)
        for i, m in enumerate(v.listlike(self.kind, "milestones", self.milestones)):
            v.duration(self.kind, f"milestones[{i}]", m)
        v.real(self.kind, "gamma", self.gamma, lo=0.0)

    def _resolve(self) -> Any:
        dur = ctx(self)
        ms = [dur.steps(f"milestones[{i}]", m) for i, m in enumerate(self.milestones)]
        dur.done()
        increasing(self.kind, "milestones", ms)
        return (tuple(float(m) for m in ms), float(self.gamma))

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        ms, gamma = p
        count: Any = 0.0
        for m in ms:
            count = count + xp.where(t >= m, 1.0, 0.0)
        return xp.power(gamma, count) if ms else full_like(t, 1.0, xp)

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        return [("constant", 0), *((f"after milestone {i}", m) for i, m in enumerate(p[0]))]


@register("piecewise")
@dataclass(frozen=True, repr=False)
class PiecewiseConstant(Schedule):
    """Piecewise constant: ``values[0]`` up to and including ``boundaries[0]``, then the next value.

    ``values[i]`` applies for ``boundaries[i-1] < t <= boundaries[i]``; ``values[-1]`` after the last
    boundary. Equals Keras ``PiecewiseConstantDecay`` with the values read as multipliers.

    Args:
        boundaries: strictly increasing steps (ints, ``"N%"``, ``"Nep"``, ``"Nsp"`` or ``"Ntok"``).
        values: multipliers, one more than there are boundaries, each finite and >= 0.
        total_steps: run length, only needed to resolve ``"N%"`` boundaries.
        steps_per_epoch: optimizer steps per epoch, for ``"Nep"`` boundaries.

    >>> import lrplugins as lrp
    >>> lrp.piecewise([1, 3], [1.0, 0.5, 0.1]).values(range(5))
    [1.0, 1.0, 0.5, 0.5, 0.1]
    """

    _ends = True  # holds its final value after its last phase

    boundaries: tuple[Duration, ...]
    levels: tuple[float, ...]
    total_steps: Duration | None = field(default=None, kw_only=True)
    steps_per_epoch: int | None = field(default=None, kw_only=True)

    # the field can't be called `values`: that would hide the values() method
    _aliases: ClassVar[dict[str, str]] = {"levels": "values"}

    def _check(self) -> None:
        check_common(self)
        bs = v.listlike(self.kind, "boundaries", self.boundaries)
        vals = v.listlike(self.kind, "values", self.levels)
        for i, b in enumerate(bs):
            v.duration(self.kind, f"boundaries[{i}]", b)
        for i, x in enumerate(vals):
            v.real(self.kind, f"values[{i}]", x, lo=0.0)
        if len(vals) != len(bs) + 1:
            raise ValueError(
                f"{self.kind}(): values must have one more entry than boundaries "
                f"({len(bs)} boundaries), got {len(vals)} values"
            )

    def _canonical_fields(self) -> dict[str, Any]:
        """Values as floats (``[1, 0.1]`` and ``[1.0, 0.1]`` give the same config)."""
        return {"levels": tuple(map(float, self.levels))}

    def _resolve(self) -> Any:
        dur = ctx(self)
        bs = [dur.steps(f"boundaries[{i}]", b) for i, b in enumerate(self.boundaries)]
        dur.done()
        increasing(self.kind, "boundaries", bs)
        return (tuple(float(b) for b in bs), self.levels)

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        bs, vals = p
        out = full_like(t, vals[0], xp)
        for b, val in zip(bs, vals[1:]):
            out = xp.where(t > b, val, out)
        return out

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        # values[i] takes over one step after boundaries[i-1] (the boundary step keeps the old one)
        return [("piece 0", 0), *((f"piece {i + 1}", b + 1) for i, b in enumerate(p[0]))]


@builds("piecewise")
def piecewise(
    boundaries: Sequence[Duration],
    values: Sequence[float],
    *,
    total_steps: Duration | None = None,
    steps_per_epoch: int | None = None,
) -> PiecewiseConstant:
    """Piecewise constant multipliers; see :class:`PiecewiseConstant`.

    >>> import lrplugins as lrp
    >>> lrp.piecewise([1, 3], [1.0, 0.5, 0.1]).values(range(5))
    [1.0, 1.0, 0.5, 0.5, 0.1]
    """
    return PiecewiseConstant(
        boundaries,  # type: ignore[arg-type] # any sequence: normalized to a tuple at construction
        values,  # type: ignore[arg-type]
        total_steps=total_steps,
        steps_per_epoch=steps_per_epoch,
    )


@register("inverse_sqrt")
@dataclass(frozen=True, repr=False)
class inverse_sqrt(Schedule):
    """Linear warmup from 0, then inverse square-root decay.

    ``t / W`` for ``t < W``; then ``1 / sqrt((t + tau - W) / tau)`` with ``tau = timescale`` (default
    ``W``, or 10000 when ``W = 0``). Equals transformers ``get_inverse_sqrt_schedule``.

    Args:
        warmup_steps: warmup length W (steps, ``"N%"``, ``"Nep"``, ``"Nsp"`` or ``"Ntok"``).
        timescale: the ``tau`` above in steps (``"N%"``, ``"Nep"``, ``"Nsp"`` or ``"Ntok"`` too), >= 1.
        total_steps: run length, only needed to resolve ``"N%"`` durations.
        steps_per_epoch: optimizer steps per epoch, for ``"Nep"`` durations.

    >>> import lrplugins as lrp
    >>> lrp.inverse_sqrt(warmup_steps=4).values([0, 2, 4, 16])
    [0.0, 0.5, 1.0, 0.5]
    """

    warmup_steps: Duration = 0
    timescale: Duration | None = None
    total_steps: Duration | None = field(default=None, kw_only=True)
    steps_per_epoch: int | None = field(default=None, kw_only=True)

    def _check(self) -> None:
        check_common(self)
        v.duration(self.kind, "warmup_steps", self.warmup_steps)
        if self.timescale is not None:
            v.duration(self.kind, "timescale", self.timescale, lo=1)

    def _resolve(self) -> Any:
        dur = ctx(self)
        w = dur.steps("warmup_steps", self.warmup_steps)
        tau = None if self.timescale is None else dur.steps("timescale", self.timescale, lo=1)
        dur.done()
        if tau is None:
            tau = w or 10_000
        return (w, float(tau))

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        w, tau = p
        decay = 1.0 / xp.sqrt((xp.maximum(t, w) + (tau - w)) / tau)
        return xp.where(t < w, warmup_ramp(t, w), decay)

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        return [*warmup_phase(p[0]), ("inverse sqrt decay", p[0])]


@register("inverse_time")
@dataclass(frozen=True, repr=False)
class inverse_time(Schedule):
    """Inverse time decay: ``1 / (1 + rate * t / decay_steps)`` (``floor(t / decay_steps)`` with staircase).

    Equals Keras ``InverseTimeDecay``.

    Args:
        decay_steps: the time unit of the decay (steps, ``"N%"``, ``"Nep"``, ``"Nsp"`` or
            ``"Ntok"``), at least 1.
        rate: decay rate per ``decay_steps``, >= 0.
        staircase: decay in whole periods instead of continuously.
        total_steps: run length, only needed to resolve ``"N%"`` durations.
        steps_per_epoch: optimizer steps per epoch, for ``"Nep"`` durations.

    >>> import lrplugins as lrp
    >>> lrp.inverse_time(decay_steps=2, rate=1.0).values(range(5))
    [1.0, 0.6666666666666666, 0.5, 0.4, 0.3333333333333333]
    """

    decay_steps: Duration
    rate: float
    staircase: bool = False
    total_steps: Duration | None = field(default=None, kw_only=True)
    steps_per_epoch: int | None = field(default=None, kw_only=True)

    def _check(self) -> None:
        check_common(self)
        v.duration(self.kind, "decay_steps", self.decay_steps, lo=1)
        v.real(self.kind, "rate", self.rate, lo=0.0)
        v.boolean(self.kind, "staircase", self.staircase)

    def _resolve(self) -> Any:
        dur = ctx(self)
        d = dur.steps("decay_steps", self.decay_steps, lo=1)
        dur.done()
        return (float(d), float(self.rate), self.staircase)

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        d, rate, staircase = p
        e = t / d
        if staircase:
            e = xp.floor(e)
        return 1.0 / (1.0 + rate * e)

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        return [("inverse time decay", 0)]


@register("one_cycle")
@dataclass(frozen=True, repr=False)
class one_cycle(Schedule):
    """The 1cycle policy: up from ``1/div_factor`` to 1, then down to ``1/(div_factor*final_div_factor)``.

    Phase boundaries as torch: the peak is at step ``pct_start * N - 1``; with ``three_phase`` the
    multiplier is back at ``1/div_factor`` at ``2 * pct_start * N - 2`` before the final annealing; the
    end value is reached at ``N - 1`` and held after. Equals torch ``OneCycleLR`` (multiplier =
    lr / max_lr).

    Args:
        total_steps: run length N in optimizer steps (or ``"Nep"``, ``"Nsp"``, ``"Ntok"``), at least 2.
        pct_start: fraction of the run spent rising, in (0, 1) (below 0.5 with ``three_phase``).
        div_factor: start multiplier is ``1 / div_factor``, >= 1.
        final_div_factor: end multiplier is ``1 / (div_factor * final_div_factor)``, >= 1.
        anneal: ``"cos"`` or ``"linear"`` interpolation within a phase.
        three_phase: use the symmetric three-phase variant.
        steps_per_epoch: optimizer steps per epoch, for ``"Nep"`` durations.

    >>> import lrplugins as lrp
    >>> s = lrp.one_cycle(total_steps=100, anneal="linear")
    >>> s(0), s(29), round(s(99), 12)
    (0.04, 1.0, 4e-06)
    """

    _ends = True  # holds its final value after its last phase

    total_steps: Duration | None = None
    pct_start: float = 0.3
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    anneal: str = "cos"
    three_phase: bool = False
    steps_per_epoch: int | None = field(default=None, kw_only=True)

    def _check(self) -> None:
        check_common(self)
        v.real(self.kind, "pct_start", self.pct_start, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
        v.real(self.kind, "div_factor", self.div_factor, lo=1.0)
        v.real(self.kind, "final_div_factor", self.final_div_factor, lo=1.0)
        v.choice(self.kind, "anneal", self.anneal, ("cos", "linear"))
        v.boolean(self.kind, "three_phase", self.three_phase)
        if self.three_phase and self.pct_start >= 0.5:
            raise ValueError(
                f"{self.kind}(): pct_start must be < 0.5 with three_phase=True, got {self.pct_start!r}"
            )

    def _resolve(self) -> Any:
        dur = ctx(self)
        n = dur.need_total()
        dur.done()
        if n < 2:
            raise ValueError(f"{self.kind}(): total_steps must be >= 2, got {n}")
        start = 1.0 / self.div_factor
        end = start / self.final_div_factor
        e1 = float(self.pct_start * n) - 1
        ends: tuple[float, ...]
        levels: tuple[tuple[float, float], ...]
        if self.three_phase:
            ends = (e1, float(2 * self.pct_start * n) - 2, float(n - 1))
            levels = ((start, 1.0), (1.0, start), (start, end))
        else:
            ends = (e1, float(n - 1))
            levels = ((start, 1.0), (1.0, end))
        phases = []
        begin = 0.0
        for stop, (a, b) in zip(ends, levels):
            # an empty phase (pct_start * N <= 1 puts the peak at or before step 0) is complete
            phases.append((begin, stop, stop - begin if stop > begin else None, a, b))
            begin = stop
        return (tuple(phases), self.anneal == "cos")

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        phases, cos = p
        out: Any = None
        for begin, stop, length, a, b in reversed(phases):
            pct = 1.0 if length is None else progress(t, begin, length, xp)
            if cos:
                val = b + (a - b) * half_cosine(pct, xp)
            else:
                val = (b - a) * pct + a
            out = val if out is None else xp.where(t <= stop, val, out)
        return out

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        phases = p[0]
        names = ("rise", "fall", "anneal") if len(phases) == 3 else ("rise", "anneal")
        out = [
            (name, 0 if i == 0 else math.floor(ph[0]) + 1)
            for i, (name, ph) in enumerate(zip(names, phases))
        ]
        return [*out, ("hold", phases[-1][1])]


@register("cyclic")
@dataclass(frozen=True, repr=False)
class cyclic(Schedule):
    """Cyclical learning rate between ``low`` and 1 (triangular, triangular2 or exp_range).

    Each cycle rises linearly from ``low`` to 1 over ``step_size_up`` steps and falls back over
    ``step_size_down``. ``triangular2`` halves the amplitude every cycle; ``exp_range`` scales it by
    ``gamma ** t``. Equals torch ``CyclicLR(base_lr=low * max_lr, max_lr)`` (multiplier = lr / max_lr).

    Args:
        step_size_up: rising half-cycle length (steps, ``"N%"``, ``"Nep"``, ``"Nsp"`` or
            ``"Ntok"``), at least 1.
        step_size_down: falling half-cycle length (defaults to ``step_size_up``), at least 1.
        low: the lowest multiplier, in [0, 1].
        mode: ``"triangular"``, ``"triangular2"`` or ``"exp_range"``.
        gamma: amplitude decay per step for ``"exp_range"`` only, in (0, 1].
        total_steps: run length, only needed to resolve ``"N%"`` durations.
        steps_per_epoch: optimizer steps per epoch, for ``"Nep"`` durations.

    >>> import lrplugins as lrp
    >>> lrp.cyclic(2, low=0.0).values(range(6))
    [0.0, 0.5, 1.0, 0.5, 0.0, 0.5]
    """

    step_size_up: Duration
    step_size_down: Duration | None = None
    low: float = 0.1
    mode: str = "triangular"
    gamma: float = 1.0
    total_steps: Duration | None = field(default=None, kw_only=True)
    steps_per_epoch: int | None = field(default=None, kw_only=True)

    def _check(self) -> None:
        check_common(self)
        v.duration(self.kind, "step_size_up", self.step_size_up, lo=1)
        if self.step_size_down is not None:
            v.duration(self.kind, "step_size_down", self.step_size_down, lo=1)
        v.real(self.kind, "low", self.low, lo=0.0, hi=1.0)
        v.choice(self.kind, "mode", self.mode, ("triangular", "triangular2", "exp_range"))
        v.real(self.kind, "gamma", self.gamma, lo=0.0, hi=1.0, lo_open=True)
        if self.mode != "exp_range" and self.gamma != 1.0:
            raise ValueError(
                f"{self.kind}(): gamma is only used with mode='exp_range', got gamma={self.gamma!r} "
                f"with mode={self.mode!r}"
            )

    def _resolve(self) -> Any:
        dur = ctx(self)
        up = dur.steps("step_size_up", self.step_size_up, lo=1)
        down = (
            up
            if self.step_size_down is None
            else dur.steps("step_size_down", self.step_size_down, lo=1)
        )
        dur.done()
        size = float(up + down)
        return (size, up / size, float(self.low), self.mode, float(self.gamma))

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        size, ratio, low, mode, gamma = p
        cycle = xp.floor(1.0 + t / size)
        x = 1.0 + t / size - cycle
        rise = x / ratio
        fall = (x - 1.0) / (ratio - 1.0)
        height = (1.0 - low) * xp.where(x <= ratio, rise, fall)
        if mode == "triangular2":
            height = height / xp.power(2.0, cycle - 1.0)
        elif mode == "exp_range":
            height = height * xp.power(gamma, t)
        return low + height

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        size, ratio = p[0], p[1]
        out = []
        for i in range(3):
            out += [(f"cycle {i} up", i * size), (f"cycle {i} down", i * size + ratio * size)]
        return [*out, ("more cycles", 3 * size)]


@register("wsd")
@dataclass(frozen=True, repr=False)
class wsd(Schedule):
    """Warmup-stable-decay: warm up from ``warmup_start`` to 1, hold 1, then decay to ``final``.

    The stable phase lasts ``N - W - D`` steps. Warmup and decay shapes are ``"linear"``,
    ``"cosine"`` or ``"1-sqrt"``; a warmup value ``f`` is mapped to ``f * (1 - s) + s`` with
    ``s = warmup_start``, a decay value to ``f * (1 - final) + final``. Equals transformers
    ``get_wsd_schedule`` (``min_lr_ratio = final``) and Megatron-LM's ``OptimizerParamScheduler``
    with ``lr_decay_style="WSD"`` (``lr_wsd_decay_style`` ``"minus_sqrt"`` is ``"1-sqrt"``;
    ``warmup_start = init_lr / max_lr``, ``final = min_lr / max_lr``, ``D = wsd_decay_steps``; in
    its sample mode on the samples clock).

    Args:
        total_steps: run length N, warmup included: optimizer steps (an int or ``"Nep"``),
            samples (``"Nsp"``) or tokens (``"Ntok"``).
        warmup_steps: warmup length W in the same unit, or ``"N%"`` of N.
        decay_steps: decay length D in the same unit, or ``"N%"`` of N; W + D must be <= N.
            A share or fraction of an epoch that falls between two steps is rounded up; where W
            and D rounded up overflow N although their exact lengths fit (``"10%"`` and
            ``"90%"`` of 1001 steps are 100.1 and 900.9), the decay gives way: D = N - W (900),
            so shares that sum to at most 100% bind for every N. Where W + D already fit, nothing
            changes.
        final: multiplier at the end of decay, in [0, 1].
        warmup_shape: ``"linear"``, ``"cosine"`` or ``"1-sqrt"``.
        decay_shape: ``"linear"``, ``"cosine"`` or ``"1-sqrt"``.
        warmup_start: multiplier at the start of warmup, in [0, 1]; ``None`` (the default) starts
            from ``final``.
        steps_per_epoch: optimizer steps per epoch, for ``"Nep"`` durations.

    >>> import lrplugins as lrp
    >>> lrp.wsd(total_steps=10, warmup_steps=2, decay_steps=4, decay_shape="linear").values(range(11))
    [0.0, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0]
    """

    _ends = True  # holds its final value after its last phase

    total_steps: Duration | None = None
    warmup_steps: Duration = 0
    decay_steps: Duration = "20%"
    final: float = 0.0
    warmup_shape: str = "linear"
    decay_shape: str = "1-sqrt"
    warmup_start: float | None = None
    steps_per_epoch: int | None = field(default=None, kw_only=True)

    def _check(self) -> None:
        check_common(self)
        v.duration(self.kind, "warmup_steps", self.warmup_steps)
        v.duration(self.kind, "decay_steps", self.decay_steps)
        v.real(self.kind, "final", self.final, lo=0.0, hi=1.0)
        if self.warmup_start is not None:
            v.real(self.kind, "warmup_start", self.warmup_start, lo=0.0, hi=1.0)
        v.choice(self.kind, "warmup_shape", self.warmup_shape, SHAPES)
        v.choice(self.kind, "decay_shape", self.decay_shape, SHAPES)

    def _resolve(self) -> Any:
        dur = ctx(self)
        n = dur.need_total()
        w = dur.steps("warmup_steps", self.warmup_steps)
        d = dur.steps("decay_steps", self.decay_steps)
        dur.done()
        if w + d > n and dur.exact(self.warmup_steps) + dur.exact(self.decay_steps) <= n:
            d = n - w  # both rounded up overflow while the exact lengths fit: the decay gives way
        if w + d > n:
            raise ValueError(
                f"{self.kind}(): warmup_steps + decay_steps ({w} + {d}) must be <= total_steps ({n})"
            )
        stable_end = n - d
        start = self.final if self.warmup_start is None else self.warmup_start
        # a zero-length decay ends at once: start it one step early so that step N gives `final`
        return (
            w,
            stable_end,
            stable_end - (d == 0),
            max(d, 1),
            float(self.final),
            self.warmup_shape,
            self.decay_shape,
            float(start),
        )

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        w, stable_end, decay_start, d, final, wshape, dshape, start = p
        warm = rise_shape(progress(t, 0, max(w, 1), xp), wshape, xp)
        dec = decay_shape(progress(t, decay_start, d, xp), dshape, xp)
        out = xp.where(t < stable_end, 1.0, dec * (1.0 - final) + final)
        return xp.where(t < w, warm * (1.0 - start) + start, out)

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        w, stable_end, decay_start, d = p[0], p[1], p[2], p[3]
        return [*warmup_phase(w), ("stable", w), ("decay", stable_end), ("hold", decay_start + d)]


_INTERP_SHAPES = ("linear", "cosine")


@register("interpolate")
@dataclass(frozen=True, repr=False)
class interpolate(Schedule):
    """Interpolate between knots ``[(step, multiplier), ...]``; hold the end values outside them.

    ``shape="linear"`` joins knots with straight lines, ``"cosine"`` with half-cosine ease curves
    (as optax ``piecewise_interpolate_schedule``).

    Args:
        knots: pairs ``(step, multiplier)`` with strictly increasing steps (ints, ``"N%"``,
            ``"Nep"``, ``"Nsp"`` or ``"Ntok"``) and finite multipliers >= 0; at least one knot.
        shape: ``"linear"`` or ``"cosine"``.
        total_steps: run length, only needed to resolve ``"N%"`` steps.
        steps_per_epoch: optimizer steps per epoch, for ``"Nep"`` steps.

    >>> import lrplugins as lrp
    >>> lrp.interpolate([(0, 0.0), (2, 1.0), (4, 0.5)]).values(range(6))
    [0.0, 0.5, 1.0, 0.75, 0.5, 0.5]
    """

    _ends = True  # holds its final value after its last phase

    knots: tuple[tuple[Duration, float], ...]
    shape: str = "linear"
    total_steps: Duration | None = field(default=None, kw_only=True)
    steps_per_epoch: int | None = field(default=None, kw_only=True)

    def _check(self) -> None:
        check_common(self)
        raw = v.listlike(self.kind, "knots", self.knots)
        if not raw:
            raise ValueError(
                f"{self.kind}(): knots must hold at least one (step, multiplier) pair, got []"
            )
        for i, k in enumerate(raw):
            pair = v.listlike(self.kind, f"knots[{i}]", k)
            if len(pair) != 2:
                raise ValueError(
                    f"{self.kind}(): knots[{i}] must be a (step, multiplier) pair, got {k!r}"
                )
            v.duration(self.kind, f"knots[{i}] step", pair[0])
            v.real(self.kind, f"knots[{i}] multiplier", pair[1], lo=0.0)
        v.choice(self.kind, "shape", self.shape, _INTERP_SHAPES)

    def _canonical_fields(self) -> dict[str, Any]:
        """Knot multipliers as floats (``(0, 1)`` and ``(0, 1.0)`` give the same config)."""
        return {"knots": tuple((step, float(m)) for step, m in self.knots)}

    def _resolve(self) -> Any:
        dur = ctx(self)
        steps = [dur.steps(f"knots[{i}] step", s) for i, (s, _) in enumerate(self.knots)]
        dur.done()
        increasing(self.kind, "knot steps", steps)
        segs = tuple(
            (float(a), float(b - a), va, vb)
            for (a, va), (b, vb) in zip(
                zip(steps, (m for _, m in self.knots)),
                zip(steps[1:], (m for _, m in self.knots[1:])),
            )
        )
        return (self.knots[0][1], segs, self.shape == "cosine")

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        first, segs, cos = p
        out = full_like(t, first, xp)
        for a, length, va, vb in segs:
            prog = progress(t, a, length, xp)
            if cos:
                prog = half_cosine(prog, xp, rising=True)
            out = xp.where(t > a, va * (1.0 - prog) + vb * prog, out)  # exact at both knots
        return out

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        segs = p[1]
        lead = [("hold first knot", 0)] if not segs or segs[0][0] > 0 else []
        tail = ("hold", segs[-1][0] + segs[-1][1]) if segs else None
        return [
            *lead,
            *((f"segment {i}", a) for i, (a, *_) in enumerate(segs)),
            *([tail] if tail else []),
        ]
