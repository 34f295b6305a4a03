"""The schedule catalog: immutable, closed-form multipliers of the optimizer's base learning rate.

A schedule is a frozen dataclass. ``s(step)`` returns the multiplier for the update with index
``step`` (0 for the first update); ``s.values(steps)`` evaluates many steps at once. Each formula is
written once, in ``_formula(t, p, xp)``, against the namespace ``xp`` of :mod:`lrplugins._ops`, so
Python floats, numpy arrays and ``keras.ops`` tensors all run the same code. ``p`` holds the numbers
resolved from the arguments (durations turned into steps), computed once at construction or ``bind``.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple, Union

from . import _validate as v
from ._ops import MATH, numpy_ops

Duration = Union[int, str]  # noqa: UP007 - a runtime alias, usable on Python 3.10
"""A number of optimizer steps (``int``), a percentage of ``total_steps`` (``"5%"``) or a number of
epochs (``"2ep"``, needs ``steps_per_epoch``). Fractions are rounded up to a whole step."""

_PI = math.pi
_CHUNK = 32_768  # steps per numpy chunk in values()


class UnboundScheduleError(RuntimeError):
    """Raised when an unbound schedule is evaluated.

    A schedule is unbound when a duration cannot be resolved from its own arguments: no
    ``total_steps`` where the shape or a ``"N%"`` duration needs it, or no ``steps_per_epoch`` for an
    ``"Nep"`` duration. ``schedule.bind(total_steps=..., steps_per_epoch=...)`` returns a bound copy;
    the adapters bind from the trainer.
    """


class Phase(NamedTuple):
    """One phase of a schedule: its name and its steps ``[start, end)`` (``end=None``: forever)."""

    name: str
    start: int
    end: int | None


class _Unbound(Exception):
    def __init__(self, missing: list[str]):
        super().__init__(missing)
        self.missing = missing


class _Ctx:
    """Resolves durations to whole steps, recording what is missing instead of failing at once."""

    __slots__ = ("missing", "owner", "spe", "total")

    def __init__(self, owner: str, total: int | None, spe: int | None):
        self.owner = owner
        self.total = total
        self.spe = spe
        self.missing: list[str] = []

    def steps(self, name: str, value: Duration, *, lo: int = 0) -> int:
        if isinstance(value, int):
            return value
        num, unit = v.split_duration(value)
        if unit == "%":
            if self.total is None:
                self.missing.append(f"total_steps (for {name}={value!r})")
                return lo
            n = math.ceil(num * self.total / 100)
        else:
            if self.spe is None:
                self.missing.append(f"steps_per_epoch (for {name}={value!r})")
                return lo
            n = math.ceil(num * self.spe)
        if n < lo:
            raise ValueError(
                f"{self.owner}(): {name} must be at least {lo} step(s), got {value!r} = {n} steps"
            )
        return n

    def need_total(self) -> int:
        if self.total is None:
            self.missing.append("total_steps")
            return 1
        return self.total

    def done(self) -> None:
        if self.missing:
            if "total_steps" in self.missing:  # the bare entry already says it all
                self.missing = [m for m in self.missing if not m.startswith("total_steps (")]
            raise _Unbound(self.missing)


_REGISTRY: dict[str, type[Schedule]] = {}


def _register(kind: str) -> Callable[[Any], Any]:
    def deco(cls: Any) -> Any:
        cls.kind = kind
        _REGISTRY[kind] = cls
        return cls

    return deco


class Schedule:
    """Base class of every schedule: a pure function from step to multiplier.

    Subclasses are frozen dataclasses; equality, hash, repr, pickling and :meth:`to_config` all come
    from their fields.
    """

    kind: ClassVar[str] = "schedule"
    _aliases: ClassVar[dict[str, str]] = {}  # field name -> public argument name, if they differ
    _p: Any
    _missing: list[str] | None

    # -- construction -------------------------------------------------------------------------
    def __post_init__(self) -> None:
        self._check()
        try:
            p = self._resolve()
        except _Unbound as exc:
            object.__setattr__(self, "_p", None)
            object.__setattr__(self, "_missing", exc.missing)
        else:
            object.__setattr__(self, "_p", p)
            object.__setattr__(self, "_missing", None)

    def _check(self) -> None:
        """Validate the fields (types and ranges); raise ValueError/TypeError naming the argument."""

    def _resolve(self) -> Any:
        """Turn the fields into the numbers ``_formula`` reads; raise ``_Unbound`` if it can't."""
        raise NotImplementedError

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        raise NotImplementedError

    # -- evaluation ---------------------------------------------------------------------------
    def __call__(self, step: int) -> float:
        """The multiplier for the optimizer update with index ``step`` (0 is the first update)."""
        p = self._p
        if p is None:
            raise self._unbound_error()
        if step.__class__ is not int:
            step = _as_step(step)
        if step < 0:
            raise ValueError(f"{self.kind}(): step must be >= 0, got {step}")
        return float(self._formula(float(step), p, MATH))

    def values(self, steps: Any) -> Any:
        """Evaluate many steps at once, vectorized.

        A numpy array of integer steps gives a float64 array of the same shape; a ``range`` or list
        gives a list of floats. Agrees with ``s(step)`` to 1e-12.

        >>> import lrplugins as lrp
        >>> lrp.linear(total_steps=4).values(range(6))
        [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
        """
        p = self._p
        if p is None:
            raise self._unbound_error()
        try:
            import numpy as np
        except ImportError:  # pragma: no cover - exercised only without numpy
            if isinstance(steps, (range, list, tuple)):
                return [self(s) for s in steps]
            raise
        as_list = not isinstance(steps, np.ndarray)
        arr = np.asarray(steps)
        if arr.dtype.kind not in "iu":
            if arr.size == 0:
                arr = arr.astype(np.int64)
            else:
                raise TypeError(
                    f"{self.kind}().values(): steps must be integers, got dtype {arr.dtype}"
                )
        if arr.size and arr.min() < 0:
            raise ValueError(f"{self.kind}().values(): steps must be >= 0, got {int(arr.min())}")
        flat = arr.reshape(-1)
        out = np.empty(flat.shape, dtype=np.float64)
        xp = numpy_ops()
        # Chunks that stay in cache are several times faster than whole-array temporaries, which
        # page-fault on every allocation (10M steps: 0.22 s instead of 1.4 s on 2 cores).
        with np.errstate(all="ignore"):  # inactive branches of where() may overflow harmlessly
            for i in range(0, flat.size, _CHUNK):
                out[i : i + _CHUNK] = self._formula(flat[i : i + _CHUNK].astype(np.float64), p, xp)
        out = out.reshape(arr.shape)  # type: ignore[assignment]
        return out.tolist() if as_list else out

    def evaluate(self, t: Any, ops: Any) -> Any:
        """Evaluate the formula on a float step ``t`` with the array namespace ``ops``.

        This is what framework adapters call to compile the schedule into a training step (the Keras
        adapter passes a ``keras.ops`` namespace and a float32 tensor). ``t`` must be ``>= 0``.
        """
        p = self._p
        if p is None:
            raise self._unbound_error()
        return self._formula(t, p, ops)

    # -- introspection ------------------------------------------------------------------------
    def phases(self) -> list[Phase]:
        """The schedule's phases in order, as ``Phase(name, start, end)`` in optimizer steps.

        ``end`` is the first step of the next phase, or ``None`` for the last phase, which runs
        forever (most schedules hold their final value there).

        >>> import lrplugins as lrp
        >>> [tuple(ph) for ph in lrp.cosine(total_steps=100, warmup_steps=10).phases()]
        [('warmup', 0, 10), ('cosine decay', 10, 100), ('hold', 100, None)]
        """
        p = self._p
        if p is None:
            raise self._unbound_error()
        starts = [(name, math.ceil(start)) for name, start in self._phase_starts(p)]
        # drop phases of zero length (e.g. a warmup that ends where the next phase ends too)
        starts = [
            ph for i, ph in enumerate(starts) if i + 1 == len(starts) or ph[1] < starts[i + 1][1]
        ]
        return [
            Phase(name, start, starts[i + 1][1] if i + 1 < len(starts) else None)
            for i, (name, start) in enumerate(starts)
        ]

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        return [(self.kind, 0)]

    # -- binding ------------------------------------------------------------------------------
    @property
    def is_bound(self) -> bool:
        """True when every duration resolves, so the schedule can be evaluated."""
        return self._p is not None

    @property
    def missing(self) -> tuple[str, ...]:
        """What an unbound schedule lacks (empty when bound)."""
        return tuple(self._missing or ())

    def bind(self, total_steps: int | None = None, steps_per_epoch: int | None = None) -> Schedule:
        """Return a copy with ``total_steps`` / ``steps_per_epoch`` filled in where they are unset.

        Values the schedule already has are kept, so binding is idempotent and an explicit
        ``total_steps`` always wins over the trainer's.

        >>> import lrplugins as lrp
        >>> s = lrp.cosine(warmup_steps="10%").bind(total_steps=100)
        >>> s == lrp.cosine(total_steps=100, warmup_steps="10%"), s(10)
        (True, 1.0)
        """
        if total_steps is not None:
            total_steps = v.integer(f"{self.kind}().bind", "total_steps", total_steps, lo=1)
        if steps_per_epoch is not None:
            steps_per_epoch = v.integer(
                f"{self.kind}().bind", "steps_per_epoch", steps_per_epoch, lo=1
            )
        return self._bind(total_steps, steps_per_epoch)

    def _bind(self, total: int | None, spe: int | None) -> Schedule:
        if self.is_bound:
            return self
        changes = {}
        if getattr(self, "total_steps", None) is None and total is not None:
            changes["total_steps"] = total
        if getattr(self, "steps_per_epoch", None) is None and spe is not None:
            changes["steps_per_epoch"] = spe
        return dataclasses.replace(self, **changes) if changes else self  # type: ignore[type-var]

    def _unbound_error(self) -> UnboundScheduleError:
        what = "; ".join(self._missing or ())
        return UnboundScheduleError(
            f"{self!r} is unbound: missing {what}. Pass it to the schedule or call "
            ".bind(total_steps=..., steps_per_epoch=...); the framework adapters bind it for you."
        )

    # -- arithmetic ---------------------------------------------------------------------------
    def scaled(self, base_lr: float) -> Schedule:
        """``base_lr * self``: turn the multiplier into an absolute learning rate."""
        return scaled(base_lr, self)

    def __mul__(self, other: Any) -> Schedule:
        if isinstance(other, Schedule):
            return product((self, other))
        if isinstance(other, bool) or not isinstance(other, (int, float)) and not hasattr(
            other, "__float__"
        ):
            return NotImplemented
        return scaled(other, self)

    __rmul__ = __mul__

    # -- configs ------------------------------------------------------------------------------
    def to_config(self) -> dict[str, Any]:
        """A JSON-compatible dict; ``lrplugins.from_config`` rebuilds an equal schedule."""
        cfg: dict[str, Any] = {"kind": self.kind}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            cfg[self._aliases.get(f.name, f.name)] = _encode(getattr(self, f.name))
        return cfg

    def __repr__(self) -> str:
        parts = []
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if f.default is not dataclasses.MISSING and value == f.default:
                continue
            parts.append(f"{self._aliases.get(f.name, f.name)}={_repr_value(value)}")
        return f"{self.kind}({', '.join(parts)})"


def _as_step(step: Any) -> int:
    if isinstance(step, bool):
        raise TypeError(f"step must be an int, got {step!r}")
    try:
        return operator.index(step)
    except TypeError:
        raise TypeError(f"step must be an int, got {step!r}") from None


def _encode(value: Any) -> Any:
    if isinstance(value, Schedule):
        return value.to_config()
    if isinstance(value, tuple):
        return [_encode(x) for x in value]
    return value


def _repr_value(value: Any) -> str:
    if isinstance(value, tuple):
        return "[" + ", ".join(_repr_value(x) for x in value) + "]"
    return repr(value)


# ------------------------------------------------------------------------------------------------
# Shared pieces of formulas
# ------------------------------------------------------------------------------------------------


def _warmup(t: Any, warmup: int, start: float) -> Any:
    """Linear warmup from ``start`` to 1 over ``warmup`` steps: ``start + (1 - start) * t / W``."""
    return start + (1.0 - start) * (t / max(warmup, 1))


def _warm(w: int) -> list[tuple[str, float]]:
    return [("warmup", 0)] if w else []


def _check_common(self: Any) -> None:
    """Checks for the ``total_steps`` and ``steps_per_epoch`` fields every leaf schedule has."""
    if self.total_steps is not None:
        v.duration(self.kind, "total_steps", self.total_steps, lo=1, epochs_only=True)
    if self.steps_per_epoch is not None:
        v.integer(self.kind, "steps_per_epoch", self.steps_per_epoch, lo=1)


def _ctx(self: Any) -> _Ctx:
    """A resolver whose total is this schedule's own ``total_steps`` (resolved if in epochs)."""
    ctx = _Ctx(self.kind, None, self.steps_per_epoch)
    if self.total_steps is not None:
        ctx.total = ctx.steps("total_steps", self.total_steps, lo=1)
        if ctx.missing:
            ctx.total = None
    return ctx


def _check_warmup_fits(owner: str, warmup: int, total: int) -> None:
    if warmup > total:
        raise ValueError(f"{owner}(): warmup_steps ({warmup}) must be <= total_steps ({total})")


def _run_and_warmup(self: Any) -> tuple[int, int]:
    """Resolve a required ``total_steps`` and ``warmup_steps``; check that the warmup fits."""
    ctx = _ctx(self)
    n = ctx.need_total()
    w = ctx.steps("warmup_steps", self.warmup_steps)
    ctx.done()
    _check_warmup_fits(self.kind, w, n)
    return n, w


# ------------------------------------------------------------------------------------------------
# The catalog
# ------------------------------------------------------------------------------------------------


@_register("constant")
@dataclass(frozen=True, repr=False)
class constant(Schedule):
    """Constant multiplier 1 after an optional linear warmup from 0.

    ``t / W`` for ``t < W``, then ``1``. Equals transformers ``get_constant_schedule_with_warmup``.

    Args:
        warmup_steps: warmup length (steps, ``"N%"`` of ``total_steps`` or ``"Nep"``).
        total_steps: run length in steps (or ``"Nep"``); only needed to resolve ``"N%"``.
        steps_per_epoch: optimizer steps per epoch; only needed to resolve ``"Nep"``.

    >>> import lrplugins as lrp
    >>> lrp.constant(warmup_steps=4).values(range(6))
    [0.0, 0.25, 0.5, 0.75, 1.0, 1.0]
    """

    warmup_steps: Duration = 0
    total_steps: Duration | None = field(default=None, kw_only=True)
    steps_per_epoch: int | None = field(default=None, kw_only=True)

    def _check(self) -> None:
        _check_common(self)
        v.duration(self.kind, "warmup_steps", self.warmup_steps)

    def _resolve(self) -> Any:
        ctx = _ctx(self)
        w = ctx.steps("warmup_steps", self.warmup_steps)
        ctx.done()
        if ctx.total is not None:
            _check_warmup_fits(self.kind, w, ctx.total)
        return (w,)

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        (w,) = p
        return xp.where(t < w, t / max(w, 1), 1.0)

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        return [*_warm(p[0]), ("constant", p[0])]


@_register("linear")
@dataclass(frozen=True, repr=False)
class linear(Schedule):
    """Linear warmup from 0, then linear decay from 1 to ``final`` at ``total_steps``.

    ``t / W`` for ``t < W``; then ``final + (1 - final) * max(0, (N - t) / (N - W))``; holds
    ``final`` after ``N``. Equals transformers ``get_linear_schedule_with_warmup`` (``final=0``).

    Args:
        total_steps: run length N in optimizer steps, warmup included (or ``"Nep"``).
        warmup_steps: warmup length W (steps, ``"N%"`` or ``"Nep"``).
        final: multiplier reached at step N, in [0, 1].
        steps_per_epoch: optimizer steps per epoch, for ``"Nep"`` durations.

    >>> import lrplugins as lrp
    >>> lrp.linear(total_steps=4, final=0.5).values(range(6))
    [1.0, 0.875, 0.75, 0.625, 0.5, 0.5]
    """

    total_steps: Duration | None = None
    warmup_steps: Duration = 0
    final: float = 0.0
    steps_per_epoch: int | None = field(default=None, kw_only=True)

    def _check(self) -> None:
        _check_common(self)
        v.duration(self.kind, "warmup_steps", self.warmup_steps)
        v.real(self.kind, "final", self.final, lo=0.0, hi=1.0)

    def _resolve(self) -> Any:
        n, w = _run_and_warmup(self)
        return (w, float(n), float(max(1, n - w)), float(self.final))

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        w, n, span, final = p
        decay = xp.maximum((n - t) / span, 0.0)
        return xp.where(t < w, t / max(w, 1), final + (1.0 - final) * decay)

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        w, n = p[0], p[1]
        return [*_warm(w), ("linear decay", w), ("hold", n)]


@_register("cosine")
@dataclass(frozen=True, repr=False)
class cosine(Schedule):
    """Linear warmup from ``warmup_start``, then a half cosine from 1 down to ``final``.

    ``warmup_start + (1 - warmup_start) * t / W`` for ``t < W``; then with
    ``p = min(1, (t - W) / (N - W))``: ``final + (1 - final) * (1 + cos(pi * p)) / 2``. Holds ``final``
    after ``N``. Equals transformers ``get_cosine_schedule_with_warmup`` (``final=0``),
    ``get_cosine_with_min_lr_schedule_with_warmup`` (``final=min_lr_rate``) and Keras ``CosineDecay``
    with warmup (``warmup_start = initial / warmup_target``, ``N = warmup_steps + decay_steps``).

    Args:
        total_steps: run length N in optimizer steps, warmup included (or ``"Nep"``).
        warmup_steps: warmup length W (steps, ``"N%"`` of N or ``"Nep"``).
        final: multiplier at the end of the decay, in [0, 1].
        warmup_start: multiplier at step 0 when there is a warmup, in [0, 1].
        steps_per_epoch: optimizer steps per epoch, for ``"Nep"`` durations.

    >>> import lrplugins as lrp
    >>> s = lrp.cosine(total_steps=100, warmup_steps="10%", final=0.1)
    >>> s(0), s(10), round(s(55), 6), s(100), s(10**9)
    (0.0, 1.0, 0.55, 0.1, 0.1)
    """

    total_steps: Duration | None = None
    warmup_steps: Duration = 0
    final: float = 0.0
    warmup_start: float = 0.0
    steps_per_epoch: int | None = field(default=None, kw_only=True)

    def _check(self) -> None:
        _check_common(self)
        v.duration(self.kind, "warmup_steps", self.warmup_steps)
        v.real(self.kind, "final", self.final, lo=0.0, hi=1.0)
        v.real(self.kind, "warmup_start", self.warmup_start, lo=0.0, hi=1.0)

    def _resolve(self) -> Any:
        n, w = _run_and_warmup(self)
        return (w, float(self.warmup_start), float(max(1, n - w)), float(self.final))

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        w, start, span, final = p
        prog = xp.clip((t - w) / span, 0.0, 1.0)
        decay = 0.5 * (1.0 + xp.cos(_PI * prog))
        return xp.where(t < w, _warmup(t, w, start), decay * (1.0 - final) + final)

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        w, span = p[0], p[2]
        return [*_warm(w), ("cosine decay", w), ("hold", w + span)]


@_register("cosine_restarts")
@dataclass(frozen=True, repr=False)
class cosine_restarts(Schedule):
    """Cosine annealing with warm restarts (SGDR), after an optional linear warmup from 0.

    Cycle ``i`` lasts ``cycle_steps * cycle_mult**i`` steps and, at local progress ``q``, gives
    ``final + (1 - final) * decay**i * (1 + cos(pi * q)) / 2``. Equals torch
    ``CosineAnnealingWarmRestarts(T_0=cycle_steps, T_mult=cycle_mult, eta_min=final)`` (decay 1, no
    warmup) and Keras ``CosineDecayRestarts`` (``t_mul=cycle_mult, m_mul=decay, alpha=final``).

    Args:
        cycle_steps: length of the first cycle (steps, ``"N%"`` or ``"Nep"``), at least 1.
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
        _check_common(self)
        v.duration(self.kind, "cycle_steps", self.cycle_steps, lo=1)
        v.real(self.kind, "cycle_mult", self.cycle_mult, lo=1.0)
        v.real(self.kind, "final", self.final, lo=0.0, hi=1.0)
        v.real(self.kind, "decay", self.decay, lo=0.0, hi=1.0, lo_open=True)
        v.duration(self.kind, "warmup_steps", self.warmup_steps)

    def _resolve(self) -> Any:
        ctx = _ctx(self)
        c = ctx.steps("cycle_steps", self.cycle_steps, lo=1)
        w = ctx.steps("warmup_steps", self.warmup_steps)
        ctx.done()
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
        cyc = final + (1.0 - final) * peak * 0.5 * (1.0 + xp.cos(_PI * q))
        return xp.where(t < w, t / max(w, 1), cyc)

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        w, c, m = p[0], p[1], p[2]
        out, start = [*_warm(w)], float(w)
        for i in range(5):  # the first cycles; the pattern repeats
            out.append((f"cycle {i}", start))
            start += c * m**i
        out.append(("more cycles", start))
        return out


@_register("polynomial")
@dataclass(frozen=True, repr=False)
class polynomial(Schedule):
    """Linear warmup from 0, then polynomial decay from 1 to ``final``.

    ``t / W`` for ``t < W``; then ``(1 - final) * (1 - p)**power + final`` with
    ``p = min(1, (t - W) / (N - W))``. Equals transformers
    ``get_polynomial_decay_schedule_with_warmup`` (``final = lr_end / lr``) and Keras
    ``PolynomialDecay`` (``cycle=False``).

    Args:
        total_steps: run length N in optimizer steps, warmup included (or ``"Nep"``).
        warmup_steps: warmup length W (steps, ``"N%"`` or ``"Nep"``).
        power: exponent of the decay, > 0 (1 is linear).
        final: multiplier reached at step N, in [0, 1].
        steps_per_epoch: optimizer steps per epoch, for ``"Nep"`` durations.

    >>> import lrplugins as lrp
    >>> lrp.polynomial(total_steps=2, power=2.0).values(range(4))
    [1.0, 0.25, 0.0, 0.0]
    """

    total_steps: Duration | None = None
    warmup_steps: Duration = 0
    power: float = 1.0
    final: float = 0.0
    steps_per_epoch: int | None = field(default=None, kw_only=True)

    def _check(self) -> None:
        _check_common(self)
        v.duration(self.kind, "warmup_steps", self.warmup_steps)
        v.real(self.kind, "power", self.power, lo=0.0, lo_open=True)
        v.real(self.kind, "final", self.final, lo=0.0, hi=1.0)

    def _resolve(self) -> Any:
        n, w = _run_and_warmup(self)
        return (w, float(max(1, n - w)), float(self.power), float(self.final))

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        w, span, power, final = p
        remaining = 1.0 - xp.clip((t - w) / span, 0.0, 1.0)
        return xp.where(t < w, t / max(w, 1), (1.0 - final) * xp.power(remaining, power) + final)

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        w, span = p[0], p[1]
        return [*_warm(w), ("polynomial decay", w), ("hold", w + span)]


@_register("exponential")
@dataclass(frozen=True, repr=False)
class exponential(Schedule):
    """Exponential decay: ``rate ** (t / every)``, or ``rate ** floor(t / every)`` with staircase.

    Equals torch ``ExponentialLR(gamma=rate)`` (``every=1``), ``StepLR(step_size=every,
    gamma=rate)`` (``staircase=True``) and Keras ``ExponentialDecay``.

    Args:
        rate: the multiplier after each ``every`` steps, in (0, 1].
        every: decay period (steps, ``"N%"`` or ``"Nep"``), at least 1.
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
        _check_common(self)
        v.real(self.kind, "rate", self.rate, lo=0.0, hi=1.0, lo_open=True)
        v.duration(self.kind, "every", self.every, lo=1)
        v.boolean(self.kind, "staircase", self.staircase)

    def _resolve(self) -> Any:
        ctx = _ctx(self)
        every = ctx.steps("every", self.every, lo=1)
        ctx.done()
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


def _increasing(owner: str, name: str, steps: Sequence[int], *, lo: int = 0) -> None:
    for i, s in enumerate(steps):
        if s < lo:
            raise ValueError(f"{owner}(): {name}[{i}] must be >= {lo} steps, got {s}")
        if i and s <= steps[i - 1]:
            raise ValueError(
                f"{owner}(): {name} must be strictly increasing, got {list(steps)} "
                f"({name}[{i}]={s} after {steps[i - 1]})"
            )


def _tuple(owner: str, name: str, value: Any) -> tuple[Any, ...]:
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(f"{owner}(): {name} must be a list, got {value!r}")
    return tuple(value)


@_register("multistep")
@dataclass(frozen=True, repr=False)
class multistep(Schedule):
    """Step decay at given milestones: ``gamma ** (number of milestones <= t)``.

    Equals torch ``MultiStepLR``.

    Args:
        milestones: strictly increasing steps (ints, ``"N%"`` or ``"Nep"``) where the multiplier drops.
        gamma: factor applied at each milestone, >= 0.
        total_steps: run length, only needed to resolve ``"N%"`` milestones.
        steps_per_epoch: optimizer steps per epoch, for ``"Nep"`` milestones.

    >>> import lrplugins as lrp
    >>> lrp.multistep([2, 4], gamma=0.5).values(range(6))
    [1.0, 1.0, 0.5, 0.5, 0.25, 0.25]
    """

    milestones: tuple[Duration, ...]
    gamma: float = 0.1
    total_steps: Duration | None = field(default=None, kw_only=True)
    steps_per_epoch: int | None = field(default=None, kw_only=True)

    def _check(self) -> None:
        _check_common(self)
        ms = _tuple(self.kind, "milestones", self.milestones)
        object.__setattr__(self, "milestones", ms)
        for i, m in enumerate(ms):
            v.duration(self.kind, f"milestones[{i}]", m)
        v.real(self.kind, "gamma", self.gamma, lo=0.0)

    def _resolve(self) -> Any:
        ctx = _ctx(self)
        ms = [ctx.steps(f"milestones[{i}]", m) for i, m in enumerate(self.milestones)]
        ctx.done()
        _increasing(self.kind, "milestones", ms)
        return (tuple(float(m) for m in ms), float(self.gamma))

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        ms, gamma = p
        count: Any = 0.0
        for m in ms:
            count = count + xp.where(t >= m, 1.0, 0.0)
        return xp.power(gamma, count) if ms else t * 0.0 + 1.0

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        return [("constant", 0), *((f"after milestone {i}", m) for i, m in enumerate(p[0]))]


@_register("piecewise")
@dataclass(frozen=True, repr=False)
class PiecewiseConstant(Schedule):
    """Piecewise constant: ``values[0]`` up to and including ``boundaries[0]``, then the next value.

    ``values[i]`` applies for ``boundaries[i-1] < t <= boundaries[i]``; ``values[-1]`` after the last
    boundary. Equals Keras ``PiecewiseConstantDecay`` with the values read as multipliers.

    Args:
        boundaries: strictly increasing steps (ints, ``"N%"`` or ``"Nep"``).
        values: multipliers, one more than there are boundaries, each finite and >= 0.
        total_steps: run length, only needed to resolve ``"N%"`` boundaries.
        steps_per_epoch: optimizer steps per epoch, for ``"Nep"`` boundaries.

    >>> import lrplugins as lrp
    >>> lrp.piecewise([1, 3], [1.0, 0.5, 0.1]).values(range(5))
    [1.0, 1.0, 0.5, 0.5, 0.1]
    """

    boundaries: tuple[Duration, ...]
    levels: tuple[float, ...]
    total_steps: Duration | None = field(default=None, kw_only=True)
    steps_per_epoch: int | None = field(default=None, kw_only=True)

    # the field can't be called `values`: that would hide the values() method
    _aliases: ClassVar[dict[str, str]] = {"levels": "values"}

    def _check(self) -> None:
        _check_common(self)
        bs = _tuple(self.kind, "boundaries", self.boundaries)
        vals = _tuple(self.kind, "values", self.levels)
        object.__setattr__(self, "boundaries", bs)
        for i, b in enumerate(bs):
            v.duration(self.kind, f"boundaries[{i}]", b)
        object.__setattr__(
            self, "levels", tuple(v.real(self.kind, f"values[{i}]", x, lo=0.0) for i, x in enumerate(vals))
        )
        if len(vals) != len(bs) + 1:
            raise ValueError(
                f"{self.kind}(): values must have one more entry than boundaries "
                f"({len(bs)} boundaries), got {len(vals)} values"
            )

    def _resolve(self) -> Any:
        ctx = _ctx(self)
        bs = [ctx.steps(f"boundaries[{i}]", b) for i, b in enumerate(self.boundaries)]
        ctx.done()
        _increasing(self.kind, "boundaries", bs)
        return (tuple(float(b) for b in bs), self.levels)

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        bs, vals = p
        out: Any = xp.where(t >= 0.0, vals[0], vals[0])
        for b, val in zip(bs, vals[1:]):
            out = xp.where(t > b, val, out)
        return out

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        # values[i] takes over one step after boundaries[i-1] (the boundary step keeps the old one)
        return [("piece 0", 0), *((f"piece {i + 1}", b + 1) for i, b in enumerate(p[0]))]


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
        tuple(boundaries), tuple(values), total_steps=total_steps, steps_per_epoch=steps_per_epoch
    )


@_register("inverse_sqrt")
@dataclass(frozen=True, repr=False)
class inverse_sqrt(Schedule):
    """Linear warmup from 0, then inverse square-root decay.

    ``t / W`` for ``t < W``; then ``1 / sqrt((t + tau - W) / tau)`` with ``tau = timescale`` (default
    ``W``, or 10000 when ``W = 0``). Equals transformers ``get_inverse_sqrt_schedule``.

    Args:
        warmup_steps: warmup length W (steps, ``"N%"`` or ``"Nep"``).
        timescale: the ``tau`` above in steps (``"N%"`` or ``"Nep"`` too), >= 1.
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
        _check_common(self)
        v.duration(self.kind, "warmup_steps", self.warmup_steps)
        if self.timescale is not None:
            v.duration(self.kind, "timescale", self.timescale, lo=1)

    def _resolve(self) -> Any:
        ctx = _ctx(self)
        w = ctx.steps("warmup_steps", self.warmup_steps)
        tau = None if self.timescale is None else ctx.steps("timescale", self.timescale, lo=1)
        ctx.done()
        if tau is None:
            tau = w or 10_000
        return (w, float(tau))

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        w, tau = p
        decay = 1.0 / xp.sqrt((xp.maximum(t, w) + (tau - w)) / tau)
        return xp.where(t < w, t / max(w, 1), decay)

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        return [*_warm(p[0]), ("inverse sqrt decay", p[0])]


@_register("inverse_time")
@dataclass(frozen=True, repr=False)
class inverse_time(Schedule):
    """Inverse time decay: ``1 / (1 + rate * t / decay_steps)`` (``floor(t / decay_steps)`` with staircase).

    Equals Keras ``InverseTimeDecay``.

    Args:
        decay_steps: the time unit of the decay (steps, ``"N%"`` or ``"Nep"``), at least 1.
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
        _check_common(self)
        v.duration(self.kind, "decay_steps", self.decay_steps, lo=1)
        v.real(self.kind, "rate", self.rate, lo=0.0)
        v.boolean(self.kind, "staircase", self.staircase)

    def _resolve(self) -> Any:
        ctx = _ctx(self)
        d = ctx.steps("decay_steps", self.decay_steps, lo=1)
        ctx.done()
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


@_register("one_cycle")
@dataclass(frozen=True, repr=False)
class one_cycle(Schedule):
    """The 1cycle policy: up from ``1/div_factor`` to 1, then down to ``1/(div_factor*final_div_factor)``.

    Phase boundaries as torch: the peak is at step ``pct_start * N - 1``; with ``three_phase`` the
    multiplier is back at ``1/div_factor`` at ``2 * pct_start * N - 2`` before the final annealing; the
    end value is reached at ``N - 1`` and held after. Equals torch ``OneCycleLR`` (multiplier =
    lr / max_lr).

    Args:
        total_steps: run length N in optimizer steps (or ``"Nep"``), at least 2.
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

    total_steps: Duration | None = None
    pct_start: float = 0.3
    div_factor: float = 25.0
    final_div_factor: float = 1e4
    anneal: str = "cos"
    three_phase: bool = False
    steps_per_epoch: int | None = field(default=None, kw_only=True)

    def _check(self) -> None:
        _check_common(self)
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
        ctx = _ctx(self)
        n = ctx.need_total()
        ctx.done()
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
            pct = 1.0 if length is None else xp.clip((t - begin) / length, 0.0, 1.0)
            if cos:
                val = b + (a - b) / 2.0 * (xp.cos(_PI * pct) + 1.0)
            else:
                val = (b - a) * pct + a
            out = val if out is None else xp.where(t <= stop, val, out)
        return out

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        phases = p[0]
        names = ("rise", "fall", "anneal") if len(phases) == 3 else ("rise", "anneal")
        out = [(name, 0 if i == 0 else math.floor(ph[0]) + 1) for i, (name, ph) in enumerate(zip(names, phases))]
        return [*out, ("hold", phases[-1][1])]


@_register("cyclic")
@dataclass(frozen=True, repr=False)
class cyclic(Schedule):
    """Cyclical learning rate between ``low`` and 1 (triangular, triangular2 or exp_range).

    Each cycle rises linearly from ``low`` to 1 over ``step_size_up`` steps and falls back over
    ``step_size_down``. ``triangular2`` halves the amplitude every cycle; ``exp_range`` scales it by
    ``gamma ** t``. Equals torch ``CyclicLR(base_lr=low * max_lr, max_lr)`` (multiplier = lr / max_lr).

    Args:
        step_size_up: rising half-cycle length (steps, ``"N%"`` or ``"Nep"``), at least 1.
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
        _check_common(self)
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
        ctx = _ctx(self)
        up = ctx.steps("step_size_up", self.step_size_up, lo=1)
        down = up if self.step_size_down is None else ctx.steps("step_size_down", self.step_size_down, lo=1)
        ctx.done()
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


_WSD_SHAPES = ("linear", "cosine", "1-sqrt")


def _wsd_warm(prog: Any, shape: str, xp: Any) -> Any:
    if shape == "linear":
        return prog
    if shape == "cosine":
        return 0.5 * (1.0 - xp.cos(_PI * prog))
    return 1.0 - xp.sqrt(1.0 - prog)


def _wsd_decay(prog: Any, shape: str, xp: Any) -> Any:
    if shape == "linear":
        return 1.0 - prog
    if shape == "cosine":
        return 0.5 * (1.0 + xp.cos(_PI * prog))
    return 1.0 - xp.sqrt(prog)


@_register("wsd")
@dataclass(frozen=True, repr=False)
class wsd(Schedule):
    """Warmup-stable-decay: warm up from ``final`` to 1, hold 1, then decay to ``final``.

    The stable phase lasts ``N - W - D`` steps. Warmup and decay shapes are ``"linear"``,
    ``"cosine"`` or ``"1-sqrt"``; each phase value ``f`` is mapped to ``f * (1 - final) + final``.
    Equals transformers ``get_wsd_schedule`` (``min_lr_ratio = final``).

    Args:
        total_steps: run length N in optimizer steps, warmup included (or ``"Nep"``).
        warmup_steps: warmup length W (steps, ``"N%"`` or ``"Nep"``).
        decay_steps: decay length D (steps, ``"N%"`` or ``"Nep"``); W + D must be <= N.
        final: multiplier at the start of warmup and the end of decay, in [0, 1].
        warmup_shape: ``"linear"``, ``"cosine"`` or ``"1-sqrt"``.
        decay_shape: ``"linear"``, ``"cosine"`` or ``"1-sqrt"``.
        steps_per_epoch: optimizer steps per epoch, for ``"Nep"`` durations.

    >>> import lrplugins as lrp
    >>> lrp.wsd(total_steps=10, warmup_steps=2, decay_steps=4, decay_shape="linear").values(range(11))
    [0.0, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0, 0.75, 0.5, 0.25, 0.0]
    """

    total_steps: Duration | None = None
    warmup_steps: Duration = 0
    decay_steps: Duration = "20%"
    final: float = 0.0
    warmup_shape: str = "linear"
    decay_shape: str = "1-sqrt"
    steps_per_epoch: int | None = field(default=None, kw_only=True)

    def _check(self) -> None:
        _check_common(self)
        v.duration(self.kind, "warmup_steps", self.warmup_steps)
        v.duration(self.kind, "decay_steps", self.decay_steps)
        v.real(self.kind, "final", self.final, lo=0.0, hi=1.0)
        v.choice(self.kind, "warmup_shape", self.warmup_shape, _WSD_SHAPES)
        v.choice(self.kind, "decay_shape", self.decay_shape, _WSD_SHAPES)

    def _resolve(self) -> Any:
        ctx = _ctx(self)
        n = ctx.need_total()
        w = ctx.steps("warmup_steps", self.warmup_steps)
        d = ctx.steps("decay_steps", self.decay_steps)
        ctx.done()
        if w + d > n:
            raise ValueError(
                f"{self.kind}(): warmup_steps + decay_steps ({w} + {d}) must be <= total_steps ({n})"
            )
        stable_end = n - d
        # a zero-length decay ends at once: start it one step early so that step N gives `final`
        return (w, stable_end, stable_end - (d == 0), max(d, 1), float(self.final),
                self.warmup_shape, self.decay_shape)

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        w, stable_end, decay_start, d, final, wshape, dshape = p
        warm = _wsd_warm(xp.clip(t / max(w, 1), 0.0, 1.0), wshape, xp)
        dec = _wsd_decay(xp.clip((t - decay_start) / d, 0.0, 1.0), dshape, xp)
        scale = 1.0 - final
        out = xp.where(t < stable_end, 1.0, dec * scale + final)
        return xp.where(t < w, warm * scale + final, out)

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        w, stable_end, decay_start, d = p[0], p[1], p[2], p[3]
        return [*_warm(w), ("stable", w), ("decay", stable_end), ("hold", decay_start + d)]


_INTERP_SHAPES = ("linear", "cosine")


@_register("interpolate")
@dataclass(frozen=True, repr=False)
class interpolate(Schedule):
    """Interpolate between knots ``[(step, multiplier), ...]``; hold the end values outside them.

    ``shape="linear"`` joins knots with straight lines, ``"cosine"`` with half-cosine ease curves
    (as optax ``piecewise_interpolate_schedule``).

    Args:
        knots: pairs ``(step, multiplier)`` with strictly increasing steps (ints, ``"N%"`` or
            ``"Nep"``) and finite multipliers >= 0; at least one knot.
        shape: ``"linear"`` or ``"cosine"``.
        total_steps: run length, only needed to resolve ``"N%"`` steps.
        steps_per_epoch: optimizer steps per epoch, for ``"Nep"`` steps.

    >>> import lrplugins as lrp
    >>> lrp.interpolate([(0, 0.0), (2, 1.0), (4, 0.5)]).values(range(6))
    [0.0, 0.5, 1.0, 0.75, 0.5, 0.5]
    """

    knots: tuple[tuple[Duration, float], ...]
    shape: str = "linear"
    total_steps: Duration | None = field(default=None, kw_only=True)
    steps_per_epoch: int | None = field(default=None, kw_only=True)

    def _check(self) -> None:
        _check_common(self)
        raw = _tuple(self.kind, "knots", self.knots)
        if not raw:
            raise ValueError(f"{self.kind}(): knots must hold at least one (step, multiplier) pair, got []")
        knots = []
        for i, k in enumerate(raw):
            pair = _tuple(self.kind, f"knots[{i}]", k)
            if len(pair) != 2:
                raise ValueError(
                    f"{self.kind}(): knots[{i}] must be a (step, multiplier) pair, got {k!r}"
                )
            step = v.duration(self.kind, f"knots[{i}] step", pair[0])
            knots.append((step, v.real(self.kind, f"knots[{i}] multiplier", pair[1], lo=0.0)))
        object.__setattr__(self, "knots", tuple(knots))
        v.choice(self.kind, "shape", self.shape, _INTERP_SHAPES)

    def _resolve(self) -> Any:
        ctx = _ctx(self)
        steps = [ctx.steps(f"knots[{i}] step", s) for i, (s, _) in enumerate(self.knots)]
        ctx.done()
        _increasing(self.kind, "knot steps", steps)
        segs = tuple(
            (float(a), float(b - a), va, vb)
            for (a, va), (b, vb) in zip(
                zip(steps, (m for _, m in self.knots)), zip(steps[1:], (m for _, m in self.knots[1:]))
            )
        )
        return (self.knots[0][1], segs, self.shape == "cosine")

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        first, segs, cos = p
        out: Any = xp.where(t >= 0.0, first, first)
        for a, length, va, vb in segs:
            prog = xp.clip((t - a) / length, 0.0, 1.0)
            if cos:
                prog = 0.5 * (1.0 - xp.cos(_PI * prog))
            out = xp.where(t > a, va * (1.0 - prog) + vb * prog, out)  # exact at both knots
        return out

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        segs = p[1]
        lead = [("hold first knot", 0)] if not segs or segs[0][0] > 0 else []
        tail = ("hold", segs[-1][0] + segs[-1][1]) if segs else None
        return [*lead, *((f"segment {i}", a) for i, (a, *_) in enumerate(segs)), *([tail] if tail else [])]


@_register("sequence")
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

    _children: ClassVar[str] = "schedules"

    def _check(self) -> None:
        _check_common(self)
        parts = _tuple(self.kind, "schedules", self.schedules)
        for i, s in enumerate(parts):
            if not isinstance(s, Schedule):
                raise TypeError(f"{self.kind}(): schedules[{i}] must be a schedule, got {s!r}")
        if not parts:
            raise ValueError(f"{self.kind}(): schedules must hold at least one schedule, got []")
        bs = _tuple(self.kind, "boundaries", self.boundaries)
        for i, b in enumerate(bs):
            v.duration(self.kind, f"boundaries[{i}]", b)
        if len(bs) != len(parts) - 1:
            raise ValueError(
                f"{self.kind}(): boundaries must have one entry fewer than schedules "
                f"({len(parts)} schedules), got {len(bs)} boundaries"
            )
        object.__setattr__(self, "schedules", parts)
        object.__setattr__(self, "boundaries", bs)

    def _resolve(self) -> Any:
        ctx = _ctx(self)
        bs = [ctx.steps(f"boundaries[{i}]", b) for i, b in enumerate(self.boundaries)]
        ctx.done()
        _increasing(self.kind, "boundaries", bs, lo=1)  # every part runs for at least one step
        starts = [0, *bs]
        ends: list[int | None] = [*bs, ctx.total]
        parts = []
        missing: list[str] = []
        for i, (s, a, b) in enumerate(zip(self.schedules, starts, ends)):
            length = None if b is None else b - a
            if length is not None and length < 1:
                raise ValueError(
                    f"{self.kind}(): the last part starts at step {a}, after total_steps ({b})"
                )
            part = s._bind(length, ctx.spe)
            if not part.is_bound:
                missing.extend(f"{m} in schedules[{i}]" for m in part.missing)
            parts.append(part)
        if missing:
            raise _Unbound(missing)
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


@_register("scaled")
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

    _children: ClassVar[str] = "schedule"

    def _check(self) -> None:
        v.real(self.kind, "factor", self.factor, lo=0.0)
        if not isinstance(self.schedule, Schedule):
            raise TypeError(f"{self.kind}(): schedule must be a schedule, got {self.schedule!r}")
        if isinstance(self.schedule, scaled):  # fold k * (j * s) into (k * j) * s
            object.__setattr__(self, "factor", float(self.factor) * self.schedule.factor)
            object.__setattr__(self, "schedule", self.schedule.schedule)

    def _resolve(self) -> Any:
        if not self.schedule.is_bound:
            raise _Unbound(list(self.schedule.missing))
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


@_register("product")
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

    _children: ClassVar[str] = "schedules"

    def _check(self) -> None:
        parts: list[Schedule] = []
        for i, s in enumerate(_tuple(self.kind, "schedules", self.schedules)):
            if not isinstance(s, Schedule):
                raise TypeError(f"{self.kind}(): schedules[{i}] must be a schedule, got {s!r}")
            parts.extend(s.schedules if isinstance(s, product) else (s,))
        if len(parts) < 2:
            raise ValueError(f"{self.kind}(): schedules must hold at least two schedules, got {len(parts)}")
        object.__setattr__(self, "schedules", tuple(parts))

    def _resolve(self) -> Any:
        missing = [m for s in self.schedules for m in s.missing]
        if missing:
            raise _Unbound(missing)
        return self.schedules

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        out = p[0]._formula(t, p[0]._p, xp)
        for s in p[1:]:
            out = out * s._formula(t, s._p, xp)
        return out

    def _bind(self, total: int | None, spe: int | None) -> Schedule:
        return self if self.is_bound else product(tuple(s._bind(total, spe) for s in self.schedules))

    def __repr__(self) -> str:
        return " * ".join(f"({s!r})" if isinstance(s, scaled) else repr(s) for s in self.schedules)

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        starts = sorted({start for s in p for _, start in s._phase_starts(s._p)})
        return [(f"phase {i}", start) for i, start in enumerate(starts)]


@_register("custom")
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
        if xp is numpy_ops():
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
# Configs
# ------------------------------------------------------------------------------------------------


def from_config(config: dict[str, Any]) -> Schedule:
    """Rebuild a schedule from ``schedule.to_config()`` (or a hand-written dict of the same form).

    >>> import lrplugins as lrp
    >>> lrp.from_config({"kind": "cosine", "total_steps": 100, "warmup_steps": "5%"})
    cosine(total_steps=100, warmup_steps='5%')
    """
    if not isinstance(config, dict):
        raise TypeError(f"from_config(): config must be a dict, got {config!r}")
    if "kind" not in config:
        raise ValueError(f"from_config(): config has no 'kind' key, got keys {sorted(config)}")
    kind = config["kind"]
    cls = _REGISTRY.get(kind) if isinstance(kind, str) else None
    if cls is None or cls is custom:
        allowed = ", ".join(sorted(k for k in _REGISTRY if k != "custom"))
        raise ValueError(f"from_config(): unknown kind {kind!r}; known kinds: {allowed}")
    fields = {cls._aliases.get(f.name, f.name): f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(config) - set(fields) - {"kind"})
    if unknown:
        raise ValueError(
            f"from_config(): unknown key(s) {unknown} for kind {kind!r}; allowed: {sorted(fields)}"
        )
    kwargs = {fields[k]: val for k, val in config.items() if k != "kind"}
    child = getattr(cls, "_children", None)
    if child == "schedule" and child in kwargs:
        kwargs[child] = from_config(kwargs[child])
    elif child == "schedules" and child in kwargs:
        kwargs[child] = [from_config(c) for c in _tuple(kind, child, kwargs[child])]
    return cls(**kwargs)


def load(path: Any) -> Schedule:
    """Load a schedule from a JSON or YAML file (YAML needs PyYAML: ``pip install 'lrplugins[yaml]'``).

    Any error in the file is reported with the file's name.
    """
    import json
    import os

    name = os.fspath(path)
    with open(name, encoding="utf-8") as fh:
        text = fh.read()
    if name.endswith((".yaml", ".yml")):
        try:
            import yaml
        except ImportError:
            raise ImportError(
                f"load({name!r}): reading YAML needs PyYAML: pip install 'lrplugins[yaml]'"
            ) from None
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ValueError(f"{name}: not valid YAML: {exc}") from None
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{name}: not valid JSON: {exc}") from None
    try:
        return from_config(data)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{name}: {exc}") from None
