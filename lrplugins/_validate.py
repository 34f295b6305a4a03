"""Argument normalization and checks shared by the schedules and the plateau monitor.

:func:`plain` turns what users pass (numpy, torch or jax scalars and 0-d arrays, lists, arrays) into
plain Python values, so that equality, hashing, configs and values do not depend on the scalar type.
Every check then raises at construction with a message that names the owner, the argument, the rule
and the value received, e.g. ``cosine(): warmup_steps must be >= 0, got -5``.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping
from collections.abc import Set as AbstractSet
from decimal import Decimal
from fractions import Fraction
from typing import Any

Duration = "int | str"

_DURATION = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)(%|ep|([KMBT]?)(sp|tok))$")

MAGNITUDES = {"": 1, "K": 10**3, "M": 10**6, "B": 10**9, "T": 10**12}
"""The magnitudes a samples or tokens duration may carry (``"1.5Mtok"`` is 1,500,000 tokens)."""

CLOCKS = ("steps", "samples", "tokens")
"""The clocks a schedule runs on: optimizer updates, samples consumed, tokens consumed."""

CLOCK_OF_UNIT = {"ep": "steps", "sp": "samples", "tok": "tokens"}
"""The clock a duration unit belongs to (``"%"`` belongs to none: a fraction of the total)."""

UNIT_OF_CLOCK = {"samples": "sp", "tokens": "tok"}
"""The suffix that writes a count on the samples or tokens clock."""

_OTHER_CLOCKS = (
    "samples and tokens are written 'Nsp' and 'Ntok' with no space, N a decimal with an optional "
    "K, M, B or T: '512sp', '1.5Mtok', '2Btok'"
)

_PLAIN = frozenset({int, float, bool, str, type(None)})


def plain(value: Any) -> Any:
    """``value`` as plain Python: what every schedule argument is normalized to before its checks.

    - A scalar of an array library (a numpy scalar, or a 0-d numpy, torch or jax array) becomes the
      ``int``, ``float`` or ``bool`` it holds. A float64 converts exactly. A float32, float16 or
      bfloat16 becomes the float the user meant: the shortest decimal that rounds to the same
      narrow float (``np.float32(0.1)`` gives ``0.1``, not ``0.10000000149011612``), as
      ``float(str(x))`` does for numpy's float32 and float16.
    - ``int`` subclasses become ``int``; ``float`` subclasses, ``Fraction`` and ``Decimal`` become
      ``float``; ``str`` subclasses become ``str``.
    - Lists, tuples, ranges, arrays, generators and other iterables (not strings, bytes,
      mappings or sets) become tuples of plain values.
    - Anything else (bools, strings, schedules, callables, ``None``) is returned unchanged, for the
      checks to accept or refuse (bools stay bools, so numeric checks still refuse ``np.True_``).

    >>> import numpy as np
    >>> plain(np.int64(5)), plain(np.float32(0.1)), plain(np.float64(0.1)), plain(np.bool_(True))
    (5, 0.1, 0.1, True)
    >>> plain([np.int32(3), (np.float16(0.5), "5%")]), plain(np.array([1, 2]))
    ((3, (0.5, '5%')), (1, 2))
    """
    cls = value.__class__
    if cls in _PLAIN:
        return value
    item = getattr(value, "item", None)
    if item is not None and hasattr(value, "dtype") and getattr(value, "ndim", None) == 0:
        x = item()
        if x.__class__ is float:
            return _as_meant(x, value.dtype)
        if x.__class__ in _PLAIN:
            return x
        if isinstance(x, float):  # e.g. numpy longdouble: the nearest float
            return float(x)
        return x
    if isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, (float, Fraction, Decimal)):
        return float(value)
    if isinstance(value, (bytes, Mapping, AbstractSet)):  # left for the checks to refuse (no order)
        return value
    if isinstance(value, Iterable):
        return tuple(plain(x) for x in value)
    return value


def _rounder(bits: int, emin: int, emax: int) -> Callable[[float], float]:
    """Round a float to a binary format with ``bits`` significand bits (round half to even)."""
    top = math.ldexp(1.0 - math.ldexp(1.0, -bits), emax)

    def to_format(x: float) -> float:
        q = max(math.frexp(x)[1], emin) - bits
        r = math.ldexp(round(math.ldexp(x, -q)), q)
        return r if abs(r) <= top else math.copysign(math.inf, x)

    return to_format


# significand bits, lowest and highest frexp exponent of the normal numbers
_NARROW = {
    "float32": _rounder(24, -125, 128),
    "float16": _rounder(11, -13, 16),
    "bfloat16": _rounder(8, -125, 128),
}


def _as_meant(x: float, dtype: Any) -> float:
    """The shortest decimal that rounds to ``x`` in ``dtype``'s format (``x`` itself for float64)."""
    to_format = _NARROW.get(str(dtype).rsplit(".", 1)[-1])  # numpy "float32", torch "torch.float32"
    if to_format is None or x == 0.0 or not math.isfinite(x):
        return x
    exact = Decimal(x)
    for digits in range(1, 18):
        near = Decimal(f"{x:.{digits - 1}e}")
        ulp = Decimal(1).scaleb(near.adjusted() - digits + 1)
        # the nearest decimal of this length, or a neighbour where x's rounding interval is lopsided
        # (x a power of two): the closest one that rounds back to x
        fits = [c for c in (near, near - ulp, near + ulp) if to_format(float(c)) == x]
        if fits:
            return float(min(fits, key=lambda c: abs(c - exact)))
    return x  # pragma: no cover - 17 digits always round-trip


def real(
    owner: str,
    name: str,
    value: Any,
    *,
    lo: float | None = None,
    hi: float | None = None,
    lo_open: bool = False,
    hi_open: bool = False,
) -> float:
    """Return ``value`` (normalized by :func:`plain`) as a finite float in the given range, or raise
    naming ``name``. Bools and strings are not numbers."""
    value = plain(value)
    if isinstance(value, (bool, str, bytes)) or not hasattr(value, "__float__"):
        raise TypeError(f"{owner}(): {name} must be a number, got {value!r}")
    v = float(value)
    if math.isnan(v) or math.isinf(v):
        raise ValueError(f"{owner}(): {name} must be a finite number, got {value!r}")
    if (
        lo is not None
        and (v <= lo if lo_open else v < lo)
        or (hi is not None and (v >= hi if hi_open else v > hi))
    ):
        raise ValueError(
            f"{owner}(): {name} must be {_range(lo, hi, lo_open, hi_open)}, got {value!r}"
        )
    return v


def _range(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if hi is None:
        return f"{'>' if lo_open else '>='} {lo:g}"
    if lo is None:
        return f"{'<' if hi_open else '<='} {hi:g}"
    return f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"


def integer(owner: str, name: str, value: Any, *, lo: int = 0) -> int:
    """Return ``value`` (normalized by :func:`plain`) as an int ``>= lo`` (bools refused), or raise
    naming ``name``."""
    value = plain(value)
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"{owner}(): {name} must be an int, got {value!r}")
    v = int(value.__index__())
    if v < lo:
        raise ValueError(f"{owner}(): {name} must be >= {lo}, got {value!r}")
    return v


def duration(owner: str, name: str, value: Any, *, lo: int = 0, percent: bool = True) -> Any:
    """Check a duration: an int number of optimizer steps, ``"N%"`` of total_steps, ``"Nep"``
    epochs, ``"Nsp"`` samples or ``"Ntok"`` tokens (``N`` a decimal with an optional magnitude
    ``K``, ``M``, ``B`` or ``T``: ``"1.5Mtok"``). ``percent=False`` refuses ``"N%"`` (a total).

    Returns the value unchanged (ints normalised to ``int``), so configs keep what the user wrote.

    >>> duration("cosine", "total_steps", "1.5Mtok", lo=1, percent=False)
    '1.5Mtok'
    """
    if isinstance(value, str):
        m = _DURATION.match(value)
        allowed = "'N%' (of total_steps) or 'Nep' (epochs)" if percent else "'Nep' (epochs)"
        if m is None:
            raise ValueError(
                f"{owner}(): {name} must be an int number of steps, {allowed}, got {value!r} "
                f"({_OTHER_CLOCKS})"
            )
        if not percent and m.group(2) == "%":  # a total: a percentage of itself means nothing
            raise ValueError(
                f"{owner}(): {name} must be an int number of steps, {allowed}, got {value!r}"
            )
        if m.group(2) == "%" and Fraction(m.group(1)) > 100:
            raise ValueError(f"{owner}(): {name} must be at most 100%, got {value!r}")
        if lo > 0 and Fraction(m.group(1)) == 0:
            raise ValueError(f"{owner}(): {name} must be > 0, got {value!r}")
        return value
    return integer(owner, name, value, lo=lo)


def split_duration(value: str) -> tuple[Fraction, str]:
    """``(number, unit)`` of a checked duration string, the magnitude applied to the number: unit
    ``"%"``, ``"ep"``, ``"sp"`` or ``"tok"``.

    >>> split_duration("1.5Mtok"), split_duration("5%")
    ((Fraction(1500000, 1), 'tok'), (Fraction(5, 1), '%'))
    """
    m = _DURATION.match(value)
    if m is None:  # pragma: no cover - values are checked by duration() first
        raise ValueError(f"malformed duration {value!r}")
    if m.group(4) is not None:
        return Fraction(m.group(1)) * MAGNITUDES[m.group(3)], m.group(4)
    return Fraction(m.group(1)), m.group(2)


def clock_of(value: Any) -> str | None:
    """The clock a checked duration declares: ``"steps"`` for an int > 0 or ``"Nep"``,
    ``"samples"`` for ``"Nsp"``, ``"tokens"`` for ``"Ntok"``; ``None`` for 0 and ``"N%"``, which
    mean the same on every clock.

    >>> [clock_of(d) for d in (100, "2ep", "512sp", "1Btok", "5%", 0)]
    ['steps', 'steps', 'samples', 'tokens', None, None]
    """
    if isinstance(value, str):
        return CLOCK_OF_UNIT.get(split_duration(value)[1])
    return "steps" if value else None


def unit_name(value: Any) -> str:
    """The unit a checked duration is written in, in words (for messages).

    >>> unit_name(100), unit_name("2ep"), unit_name("512sp"), unit_name("1Btok")
    ('optimizer steps', 'epochs', 'samples', 'tokens')
    """
    if isinstance(value, str):
        return {"ep": "epochs", "sp": "samples", "tok": "tokens", "%": "percent"}[
            split_duration(value)[1]
        ]
    return "optimizer steps"


def count_on(clock: str, count: int) -> int | str:
    """``count`` written as a duration on ``clock``: the int itself on the steps clock, ``"Nsp"`` or
    ``"Ntok"`` on the samples or tokens clock (what binds, cools down or stretches a schedule of
    that clock by a count it computed).

    >>> count_on("steps", 1500), count_on("samples", 1500), count_on("tokens", 0)
    (1500, '1500sp', 0)
    """
    unit = UNIT_OF_CLOCK.get(clock)
    return count if unit is None or count == 0 else f"{count}{unit}"


def clock_example(clock: str) -> str:
    """A total written on ``clock``, for messages: ``total_steps='300Btok'``."""
    return {"samples": "total_steps='10Msp'", "tokens": "total_steps='300Btok'"}.get(
        clock, "total_steps=10000"
    )


def choice(owner: str, name: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        listed = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{owner}(): {name} must be one of {listed}, got {value!r}")
    return value


def boolean(owner: str, name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{owner}(): {name} must be True or False, got {value!r}")
    return value


def listlike(owner: str, name: str, value: Any) -> tuple[Any, ...]:
    """Return ``value`` (a list, tuple or other ordered iterable) as a tuple, or raise naming
    ``name``. Strings, mappings (a dict would give its keys) and sets (no order) are refused."""
    if isinstance(value, (str, bytes, Mapping, AbstractSet)) or not isinstance(value, Iterable):
        raise TypeError(f"{owner}(): {name} must be a list, got {value!r}")
    return tuple(value)


def step_index(step: Any) -> int:
    """``step`` as an ``int`` (numpy integers are fine; bools and floats are not), or ``TypeError``."""
    if isinstance(step, bool):
        raise TypeError(f"step must be an int, got {step!r}")
    try:
        return operator.index(step)
    except TypeError:
        raise TypeError(f"step must be an int, got {step!r}") from None


def not_a_number(value: Any) -> str | None:
    """Why ``value`` is not a metric value although ``float()`` may take it (a string, bytes, a
    bool: ``True``, ``numpy.bool_``, a boolean array or tensor), or ``None``."""
    if isinstance(value, (str, bytes, bytearray, memoryview)):
        return f"a {type(value).__name__} is not a number"
    dtype = getattr(value, "dtype", None)
    if isinstance(value, bool) or (
        dtype is not None
        and (
            getattr(dtype, "kind", None) == "b"
            or getattr(dtype, "name", None) == "bool"
            or str(dtype) == "torch.bool"
        )
    ):
        return "a bool is not a number"
    return None
