"""The ``Schedule`` base class, its phases and errors, and the registry of schedule kinds.

A schedule is a frozen dataclass. ``s(t)`` returns the multiplier for the update at clock value
``t``; ``s.values(ts)`` evaluates many at once. A schedule runs on one **clock** (``s.clock``),
decided by the units of its durations: ``"steps"`` (``t`` is the update's index, 0 for the first
update; the default), ``"samples"`` or ``"tokens"`` (``t`` is the number of samples or tokens all
ranks consumed before the update, so ``s(0)`` for the first one). Each formula is
written once, in ``_formula(t, p, xp)``, against the namespace ``xp`` of :mod:`lrplugins._ops`, so
Python floats, numpy arrays and ``keras.ops`` tensors all run the same code. ``p`` holds the numbers
resolved from the arguments (durations turned into steps), computed once at construction or ``bind``.

Every kind registers itself with :func:`register`; configs (:func:`lrplugins.from_config`), the
inline spec catalog (:data:`lrplugins.spec.CATALOG`) and the tests' strategies read the registry, so
adding a shape means writing its class (in ``leaves.py`` or ``combinators.py``) and nothing else.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, TypeVar, Union

from .. import _validate as v
from .._ops import numpy_ops
from .._validate import step_index
from .scalar import scalar_function

if TYPE_CHECKING:
    from .combinators import Cooldown, Stretch

__all__ = ["Duration", "Phase", "Schedule", "UnboundScheduleError"]

Duration = Union[int, str]  # noqa: UP007 - a runtime alias, usable on Python 3.10
"""A number of optimizer steps (``int``), a percentage of ``total_steps`` (``"5%"``, in the total's
unit), a number of epochs (``"2ep"``, needs ``steps_per_epoch``), of samples (``"512sp"``) or of
tokens (``"1.5Mtok"``; samples and tokens take an optional magnitude ``K`` 1e3, ``M`` 1e6, ``B``
1e9 or ``T`` 1e12). Fractions are rounded up to a whole step, sample or token. Ints and ``"Nep"``
put the schedule on the steps clock, ``"Nsp"`` on the samples clock, ``"Ntok"`` on the tokens
clock; ``0`` and ``"N%"`` fit every clock."""

_CHUNK = 32_768  # steps per numpy chunk in values()


class UnboundScheduleError(RuntimeError):
    """Raised when an unbound schedule is evaluated.

    A schedule is unbound when a duration cannot be resolved from its own arguments: no
    ``total_steps`` where the shape or a ``"N%"`` duration needs it, or no ``steps_per_epoch`` for an
    ``"Nep"`` duration. ``schedule.bind(total_steps=..., steps_per_epoch=...)`` returns a bound copy;
    the adapters bind a steps-clock schedule from the trainer. A samples or tokens schedule needs
    its total in its own unit (``total_steps="300Btok"``), which no trainer knows.
    """


class Phase(NamedTuple):
    """One phase of a schedule: its name and its clock values ``[start, end)`` (steps, samples or
    tokens, as the schedule's clock; ``end=None``: forever)."""

    name: str
    start: int
    end: int | None


class Unbound(Exception):
    """Raised by ``_resolve`` when a duration cannot be resolved yet (caught by the base class)."""

    def __init__(self, missing: list[str]):
        super().__init__(missing)
        self.missing = missing


# ------------------------------------------------------------------------------------------------
# The registry of kinds
# ------------------------------------------------------------------------------------------------


class Kind(NamedTuple):
    """A registered schedule kind.

    ``name`` is the ``"kind"`` of its configs; ``cls`` the frozen dataclass; ``build`` what users
    call to make one (the class itself, or a function around it such as ``piecewise``); ``inline``
    whether an inline spec (``lrplugins show 'cosine(...)'``) may call it by name.
    """

    name: str
    cls: type[Schedule]
    build: Callable[..., Schedule]
    inline: bool


REGISTRY: dict[str, Kind] = {}
"""Every schedule kind, by config name, in definition order."""

_S = TypeVar("_S", bound="type[Schedule]")
_F = TypeVar("_F", bound=Callable[..., Any])


def register(kind: str, *, inline: bool = True) -> Callable[[_S], _S]:
    """Class decorator: register a schedule class under the config name ``kind``.

    ``inline=False`` keeps the kind out of the inline spec catalog (kinds built by an operator or a
    method, or from a Python callable).
    """

    def deco(cls: _S) -> _S:
        if kind in REGISTRY:
            raise RuntimeError(f"schedule kind {kind!r} is registered twice")
        cls.kind = kind
        REGISTRY[kind] = Kind(kind, cls, cls, inline)
        return cls

    return deco


def builds(kind: str) -> Callable[[_F], _F]:
    """Function decorator: the function is what users call to build ``kind`` (see ``piecewise``)."""

    def deco(fn: _F) -> _F:
        REGISTRY[kind] = REGISTRY[kind]._replace(build=fn)
        return fn

    return deco


# ------------------------------------------------------------------------------------------------
# The base class
# ------------------------------------------------------------------------------------------------


class Schedule:
    """Base class of every schedule: a pure function from a value of its clock (an update index, or
    the samples or tokens consumed before the update: :attr:`clock`) to a multiplier.

    Subclasses are frozen dataclasses; equality, hash, repr, pickling and :meth:`to_config` all come
    from their fields.
    """

    kind: ClassVar[str] = "schedule"
    # numpy defers to us: `np.float32(0.5) * s` calls s.__rmul__ with the numpy scalar itself
    # (instead of a Python float of its float32 value), so it is normalized like any argument
    __array_ufunc__: ClassVar[None] = None
    _aliases: ClassVar[dict[str, str]] = {}  # field name -> public argument name, if they differ
    _children: ClassVar[str | None] = None  # the field holding nested schedules, for from_config
    _has_config: ClassVar[bool] = True
    _p: Any
    _clock: str | None  # the clock its durations declare; None: none does (0 and "N%" only)
    _missing: list[str] | None
    _scalar: Callable[[int], float]  # what s(step) runs (see __call__)

    # -- construction -------------------------------------------------------------------------
    def __post_init__(self) -> None:
        # numpy/torch/jax scalars -> int/float/bool, lists -> tuples (see _validate.plain), so that
        # equality, hash, configs and values never depend on the type of scalar passed
        for f in signature_fields(type(self)):
            value = getattr(self, f.name)
            normal = v.plain(value)
            if normal is not value:
                object.__setattr__(self, f.name, normal)
        self._check()
        for name, value in self._canonical_fields().items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "_clock", self._find_clock())
        self._epoch_length()  # refuses two epoch lengths in one schedule
        try:
            p = self._resolve()
        except Unbound as exc:
            object.__setattr__(self, "_p", None)
            object.__setattr__(self, "_missing", _in_clock(exc.missing, self._clock))
        else:
            object.__setattr__(self, "_p", p)
            object.__setattr__(self, "_missing", None)
        object.__setattr__(self, "_scalar", self._first_call)

    def _check(self) -> None:
        """Validate the fields (types and ranges); raise ValueError/TypeError naming the argument.

        Checks only read the fields; a shape that stores a field in a canonical form says so in
        :meth:`_canonical_fields`.
        """

    def _find_clock(self) -> str | None:
        """The clock the durations and the nested schedules declare (``None``: none does).

        Refuses a mix, naming both arguments and their units, and ``steps_per_epoch`` on the
        samples or tokens clock (where no duration is in epochs).
        """
        first: tuple[str, str] | None = None  # (what declared it, clock)
        for label, value, clock in self._declarations():
            if clock is None:
                continue
            if first is None:
                first = (_declares(label, value), clock)
            elif clock != first[1]:
                raise ValueError(
                    f"{self.kind}(): {_declares(label, value)} but {first[0]}: all durations of "
                    "one schedule share one clock (optimizer steps and epochs, samples, or tokens)"
                )
        if first is None:
            return None
        spe = getattr(self, "steps_per_epoch", None)
        if first[1] != "steps" and spe is not None:
            raise ValueError(
                f"{self.kind}(): steps_per_epoch is only for 'Nep' durations, on the steps clock; "
                f"this schedule runs on the {first[1]} clock ({first[0]}), got "
                f"steps_per_epoch={spe!r}"
            )
        return first[1]

    def _epoch_length(self) -> int | None:
        """The ``steps_per_epoch`` this schedule carries: its own, else the one its nested
        schedules carry, so that a wrapper's ``"Nep"`` (a cooldown's ``at``, a sequence's
        boundary) counts the epochs of the schedule it wraps. One schedule has one epoch length:
        two different ones (the wrapper's and a part's, or two parts') are refused, naming both."""
        found: list[tuple[str, int]] = []
        own = getattr(self, "steps_per_epoch", None)
        if own is not None:
            found.append(("steps_per_epoch", own))
        for label, value, _ in self._declarations():
            if isinstance(value, Schedule):
                spe = value._epoch_length()
                if spe is not None:
                    found.append((f"{label} has steps_per_epoch", spe))
        for label, spe in found[1:]:
            if spe != found[0][1]:
                raise ValueError(
                    f"{self.kind}(): {found[0][0]}={found[0][1]} but {label}={spe}: one "
                    "schedule has one epoch length; give steps_per_epoch once (or the same value)"
                )
        return found[0][1] if found else None

    def _declarations(self) -> Any:
        """``(argument, value, clock)`` of every duration (fields annotated ``Duration``) and every
        nested schedule; ``clock`` is ``None`` where the value fits every clock."""
        for f in signature_fields(type(self)):
            value = getattr(self, f.name)
            name = self._aliases.get(f.name, f.name)
            if isinstance(value, Schedule):
                yield name, value, value._clock
            elif isinstance(value, tuple) and any(isinstance(x, Schedule) for x in value):
                for i, x in enumerate(value):
                    yield f"{name}[{i}]", x, x._clock
            elif "Duration" in str(f.type):
                for label, d in _durations_in(name, value):
                    yield label, d, v.clock_of(d)

    def _canonical_fields(self) -> dict[str, Any]:
        """Fields to store in their canonical form, once the checks passed (``{}``: none).

        So that schedules that mean the same compare equal: e.g. ``scaled`` folds ``k * (j * s)``
        into ``(k * j) * s``.
        """
        return {}

    def _resolve(self) -> Any:
        """Turn the fields into the numbers ``_formula`` reads; raise ``Unbound`` if it can't."""
        raise NotImplementedError

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        raise NotImplementedError

    # -- evaluation ---------------------------------------------------------------------------
    if TYPE_CHECKING:

        def __call__(self, step: int) -> float:
            """The multiplier for the update at clock value ``step``: its index on the steps
            clock (0 is the first update), the samples or tokens consumed before it otherwise."""
            ...

    else:
        # s(step) calls the instance's `_scalar` function directly (no Python frame in between):
        # a function generated from the formula on the first call (see .scalar), which checks
        # the step and returns float(_formula(float(step), p, MATH)).
        __call__ = property(
            operator.attrgetter("_scalar"),
            doc="The multiplier for the update at clock value ``step``: ``s(step)``, a ``float``. "
            "On the steps clock ``step`` is the update's index (0 is the first update); on the "
            "samples or tokens clock, the samples or tokens all ranks consumed before it.",
        )

    def _first_call(self, step: int) -> float:
        """``_scalar`` until the first call: make the scalar function, keep it, run it."""
        if self._p is None:
            step_index(step)  # a bad step is reported first, as on a bound schedule
            raise self._unbound_error()
        fn = scalar_function(self)
        object.__setattr__(self, "_scalar", fn)
        return fn(step)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_scalar"]  # generated code: made again on the first call after unpickling
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        if "_clock" not in state:  # pickled before schedules had clocks: all on the steps clock
            object.__setattr__(self, "_clock", self._find_clock())
        object.__setattr__(self, "_scalar", self._first_call)

    def values(self, steps: Any) -> Any:
        """Evaluate many clock values at once, vectorized.

        ``steps`` are values of the schedule's clock (:attr:`clock`): update indices, or samples or
        tokens consumed. A numpy array of integers gives a float64 array of the same shape; a
        ``range`` or list gives a list of floats (Python ints beyond int64 included, as
        ``s(step)`` takes them). Agrees with ``s(step)`` to 1e-12.

        >>> import lrplugins as lrp
        >>> lrp.linear(total_steps=4).values(range(6))
        [1.0, 0.75, 0.5, 0.25, 0.0, 0.0]
        >>> lrp.linear(total_steps="4Ksp").values([0, 1000, 2000, 10**6])
        [1.0, 0.75, 0.5, 0.0]
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
        if arr.dtype == object and arr.size:  # Python ints beyond int64, as s(step) takes them
            arr = self._big_steps(arr, np)
        elif arr.dtype.kind not in "iu":
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

    def _big_steps(self, arr: Any, np: Any) -> Any:
        """An object array of Python ints (some beyond int64) as the float64 steps ``s(step)``
        would use (``float(step)``), checked as :meth:`values` checks integer arrays."""
        try:
            ints = [step_index(x) for x in arr.reshape(-1)]
        except TypeError:
            raise TypeError(
                f"{self.kind}().values(): steps must be integers, got dtype {arr.dtype}"
            ) from None
        if min(ints) < 0:
            raise ValueError(f"{self.kind}().values(): steps must be >= 0, got {min(ints)}")
        return np.array([float(i) for i in ints], dtype=np.float64).reshape(arr.shape)

    def evaluate(self, t: Any, ops: Any) -> Any:
        """Evaluate the formula on a float step ``t`` with the array namespace ``ops``.

        This is what framework adapters call to compile the schedule into a training step (the Keras
        adapter passes a ``keras.ops`` namespace and a float32 tensor). ``t`` must be ``>= 0``, in
        the schedule's clock unit.
        """
        p = self._p
        if p is None:
            raise self._unbound_error()
        return self._formula(t, p, ops)

    # -- introspection ------------------------------------------------------------------------
    def phases(self) -> list[Phase]:
        """The schedule's phases in order, as ``Phase(name, start, end)`` in the clock's unit
        (optimizer steps, samples or tokens).

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
        """``(name, first step)`` of each phase, in order; fractional steps are rounded up."""
        return [(self.kind, 0)]

    _ends: ClassVar[bool] = False  # for a shape: whether its last phase holds a constant forever

    def _holds_final(self, p: Any) -> bool:
        """Whether the last phase holds one value forever, so the schedule has an end (the first
        step of that phase) that ``stretch`` can move. A periodic or ever-decaying shape has none."""
        return self._ends

    @property
    def end(self) -> int | None:
        """The first clock value of the final constant phase (from there on the schedule holds its
        final value), or ``None`` for a shape that never ends (periodic or ever-decaying). In the
        clock's unit: an update index, or a count of samples or tokens.

        What :meth:`stretch` moves, and where a run that goes on longer simply holds the final value.

        >>> import lrplugins as lrp
        >>> lrp.cosine(total_steps=100, warmup_steps=10).end, lrp.exponential(0.9).end is None
        (100, True)
        >>> lrp.wsd(total_steps="2Mtok", decay_steps="25%").end
        2000000
        """
        p = self._p
        if p is None:
            raise self._unbound_error()
        return self.phases()[-1].start if self._holds_final(p) else None

    # -- binding ------------------------------------------------------------------------------
    @property
    def declared_clock(self) -> str | None:
        """The clock this schedule's durations declare, or ``None`` when every one fits every
        clock (only ``0`` and ``"N%"``): such a schedule takes the clock of the run it is used in.

        >>> import lrplugins as lrp
        >>> lrp.cosine(warmup_steps="5%").declared_clock, lrp.cosine(total_steps="1Btok").declared_clock
        (None, 'tokens')
        """
        return self._clock

    @property
    def clock(self) -> str:
        """The clock the schedule runs on: ``"steps"``, ``"samples"`` or ``"tokens"``.

        Decided by the units of its durations (``"Nsp"`` samples, ``"Ntok"`` tokens; ints and
        ``"Nep"`` optimizer steps); a schedule whose durations are all ``0`` or ``"N%"`` runs on
        the steps clock until it is bound with a total in samples or tokens. A composite runs on
        its parts' clock.

        >>> import lrplugins as lrp
        >>> lrp.cosine(total_steps=100).clock, lrp.cosine(total_steps="300Btok").clock
        ('steps', 'tokens')
        >>> (0.5 * lrp.constant(warmup_steps="512sp")).clock
        'samples'
        """
        return self._clock or "steps"

    @property
    def is_bound(self) -> bool:
        """True when every duration resolves, so the schedule can be evaluated."""
        return self._p is not None

    @property
    def missing(self) -> tuple[str, ...]:
        """What an unbound schedule lacks (empty when bound)."""
        return tuple(self._missing or ())

    def bind(
        self, total_steps: int | str | None = None, steps_per_epoch: int | None = None
    ) -> Schedule:
        """Return a copy with ``total_steps`` / ``steps_per_epoch`` filled in where they are unset.

        Values the schedule already has are kept, so binding is idempotent and an explicit
        ``total_steps`` always wins over the trainer's. A ``steps_per_epoch`` that the schedule or
        any schedule nested in it already has is kept for the whole schedule (a wrapper's
        ``"Nep"`` counts the wrapped schedule's epochs); the one given fills in only where none
        has one.

        ``total_steps`` is an int number of optimizer updates (what the adapters know), or a
        duration in the schedule's own unit: ``"2ep"``, ``"10Msp"``, ``"300Btok"``. An update count
        does not bind a samples or tokens schedule: it is returned unchanged, still unbound, and
        its :attr:`missing` says that the total must be given in samples or tokens. A total in
        samples or tokens for a schedule whose durations are in steps (or the other unit) is
        refused with a ``ValueError``. ``steps_per_epoch`` is ignored on the samples and tokens
        clocks.

        >>> import lrplugins as lrp
        >>> s = lrp.cosine(warmup_steps="10%").bind(total_steps=100)
        >>> s == lrp.cosine(total_steps=100, warmup_steps="10%"), s(10)
        (True, 1.0)
        >>> t = lrp.cosine(warmup_steps="2Btok")
        >>> t.bind(total_steps=1000).is_bound, t.bind(total_steps="300Btok").is_bound
        (False, True)
        """
        owner = f"{self.kind}().bind"
        given: str | None = None
        if total_steps is not None:
            total_steps = v.plain(total_steps)
            if isinstance(total_steps, str):
                v.duration(owner, "total_steps", total_steps, lo=1, percent=False)
            else:
                total_steps = v.integer(owner, "total_steps", total_steps, lo=1)
            given = v.clock_of(total_steps)
        if steps_per_epoch is not None:
            steps_per_epoch = v.integer(owner, "steps_per_epoch", steps_per_epoch, lo=1)
        mine = self._clock
        if mine is not None and given is not None and given != mine:
            if given == "steps" and not isinstance(total_steps, str):
                total_steps = None  # an update count: left unbound; `missing` says what it needs
            else:
                raise ValueError(
                    f"{owner}(): total_steps={total_steps!r} is in {v.unit_name(total_steps)}, but "
                    f"{self!r} runs on the {mine} clock: give the total in its own unit "
                    f"({v.clock_example(mine)})"
                )
        if (mine or given or "steps") != "steps":
            steps_per_epoch = None  # no epochs on the samples or tokens clock
        carried = self._epoch_length()
        if carried is not None:  # kept, as other values it has: one epoch length throughout
            steps_per_epoch = carried
        return self._bind(total_steps, steps_per_epoch)

    def _bind(self, total: int | str | None, spe: int | None) -> Schedule:
        if self.is_bound:
            return self
        changes: dict[str, Any] = {}
        if getattr(self, "total_steps", None) is None and total is not None:
            changes["total_steps"] = total
        if getattr(self, "steps_per_epoch", None) is None and spe is not None:
            changes["steps_per_epoch"] = spe
        return dataclasses.replace(self, **changes) if changes else self  # type: ignore[type-var]

    def _unbound_error(self) -> UnboundScheduleError:
        what = "; ".join(self._missing or ())
        if self.clock != "steps":
            how = (
                f"A {self.clock} schedule needs its total in {self.clock}: pass "
                f"{v.clock_example(self.clock)} to the schedule or to .bind(); an update count "
                "cannot bind it, and the framework adapters cannot derive it from the trainer."
            )
        else:
            how = (
                "Pass it to the schedule or call .bind(total_steps=..., steps_per_epoch=...); "
                "the framework adapters bind it for you."
            )
        return UnboundScheduleError(f"{self!r} is unbound: missing {what}. {how}")

    # -- changing the horizon -----------------------------------------------------------------
    def cooldown(
        self, at: Duration, steps: Duration, shape: str = "1-sqrt", final: float = 0.0
    ) -> Cooldown:
        """This schedule until step ``at``, then a decay from ``self(at)`` to ``final`` over ``steps``.

        ``self(t)`` for ``t < at``; ``final + (self(at) - final) * d((t - at) / steps)`` until
        ``at + steps``, with ``d(p) = 1 - p`` (``"linear"``), ``(1 + cos(pi p)) / 2``
        (``"cosine"``) or ``1 - sqrt(p)`` (``"1-sqrt"``); ``final`` from ``at + steps`` on. The
        point of warmup-stable-decay: a cooldown from any checkpoint gives a finished model.

        Args:
            at: the first step of the cooldown, on the schedule's clock: optimizer steps (an int or
                ``"Nep"``), samples (``"Nsp"``) or tokens (``"Ntok"``).
            steps: its length, in the same unit; 0 holds ``final`` from ``at``.
            shape: ``"linear"``, ``"cosine"`` or ``"1-sqrt"``.
            final: the multiplier reached at ``at + steps``, finite and >= 0.

        >>> import lrplugins as lrp
        >>> lrp.constant(warmup_steps=2).cooldown(at=4, steps=2, shape="linear").values(range(8))
        [0.0, 0.5, 1.0, 1.0, 1.0, 0.5, 0.0, 0.0]
        """
        from .combinators import Cooldown

        return Cooldown(self, at, steps, shape, final)

    def stretch(self, at: Duration, total_steps: Duration) -> Stretch:
        """This schedule until step ``at``; the rest stretched or squeezed to end at ``total_steps``.

        ``self(t)`` for ``t < at``, then ``self(at + (t - at) * (E - at) / (total_steps - at))``
        where ``E`` is the first step of this schedule's final constant phase, and the final value
        from ``total_steps`` on. Continuous at ``at``. A schedule with no end (``exponential``,
        ``inverse_sqrt``, ``cyclic``, ...), ``at >= E`` or ``total_steps <= at`` is refused.

        Args:
            at: the first step that moves, on the schedule's clock: optimizer steps (an int or
                ``"Nep"``), samples (``"Nsp"``) or tokens (``"Ntok"``).
            total_steps: where the end lands, in the same unit.

        >>> import lrplugins as lrp
        >>> s = lrp.cosine(total_steps=100).stretch(at=50, total_steps=150)
        >>> s(50) == lrp.cosine(total_steps=100)(50), s(100) == lrp.cosine(total_steps=100)(75)
        (True, True)
        >>> s(150), s(10**6)
        (0.0, 0.0)
        """
        from .combinators import Stretch

        return Stretch(self, at, total_steps)

    # -- arithmetic ---------------------------------------------------------------------------
    def scaled(self, base_lr: float) -> Schedule:
        """``base_lr * self``: turn the multiplier into an absolute learning rate."""
        from .combinators import scaled

        return scaled(base_lr, self)

    def __mul__(self, other: Any) -> Schedule:
        from .combinators import product, scaled

        if isinstance(other, Schedule):
            return product((self, other))
        if (
            isinstance(other, bool)
            or not isinstance(other, (int, float))
            and not hasattr(other, "__float__")
        ):
            return NotImplemented
        return scaled(other, self)

    __rmul__ = __mul__

    # -- configs ------------------------------------------------------------------------------
    def to_config(self) -> dict[str, Any]:
        """A JSON-compatible dict; ``lrplugins.from_config`` rebuilds an equal schedule."""
        cfg: dict[str, Any] = {"kind": self.kind}
        for f in signature_fields(type(self)):
            cfg[self._aliases.get(f.name, f.name)] = _encode(getattr(self, f.name))
        return cfg

    def __repr__(self) -> str:
        parts = []
        for f in signature_fields(type(self)):
            value = getattr(self, f.name)
            if f.default is not dataclasses.MISSING and value == f.default:
                continue
            parts.append(f"{self._aliases.get(f.name, f.name)}={_repr_value(value)}")
        return f"{self.kind}({', '.join(parts)})"


_SIGNATURE_FIELDS: dict[type, tuple[dataclasses.Field[Any], ...]] = {}


def signature_fields(cls: type) -> tuple[dataclasses.Field[Any], ...]:
    """The fields of a schedule class in the order of its constructor: positional, then keyword-only
    (a base class's keyword-only ``steps_per_epoch`` comes after the shape's own fields)."""
    found = _SIGNATURE_FIELDS.get(cls)
    if found is None:
        fields = dataclasses.fields(cls)
        found = tuple(f for f in fields if not f.kw_only) + tuple(f for f in fields if f.kw_only)
        _SIGNATURE_FIELDS[cls] = found
    return found


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


def _durations_in(name: str, value: Any) -> Any:
    """``(argument, duration)`` pairs in a field annotated with ``Duration``: the value itself, the
    items of a list, or the step of each ``(step, value)`` pair (``interpolate``'s knots)."""
    if value is None:
        return
    if isinstance(value, tuple):
        for i, x in enumerate(value):
            if isinstance(x, tuple):
                yield f"{name}[{i}] step", x[0]
            else:
                yield f"{name}[{i}]", x
    else:
        yield name, value


def _declares(label: str, value: Any) -> str:
    """What declared a clock, for messages: ``warmup_steps='2Btok' is in tokens``."""
    if isinstance(value, Schedule):
        return f"{label} ({value!r}) runs on the {value.clock} clock"
    return f"{label}={value!r} is in {v.unit_name(value)}"


def _in_clock(missing: list[str], clock: str | None) -> list[str]:
    """``missing`` with each missing total said in the clock's unit (on the samples and tokens
    clocks, where an update count from the trainer cannot bind it)."""
    if clock is None or clock == "steps":
        return missing
    unit = f"total_steps in {clock} (e.g. {v.clock_example(clock)}"
    return [
        m.replace("total_steps", unit + "; an update count cannot bind it)", 1)
        if m.startswith("total_steps") and unit not in m
        else m
        for m in missing
    ]
