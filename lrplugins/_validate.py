"""Argument checks shared by the schedules and the plateau monitor.

Every check raises at construction with a message that names the owner, the argument, the rule and
the value received, e.g. ``cosine(): warmup_steps must be >= 0, got -5``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from fractions import Fraction
from typing import Any

Duration = "int | str"

_DURATION = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)(%|ep)$")


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
    """Return ``value`` as a finite float in the given range, or raise naming ``name``."""
    # numpy scalars are fine (they convert through __float__); bools and strings are not numbers
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
    """Return ``value`` as an int ``>= lo`` (bools refused), or raise naming ``name``."""
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"{owner}(): {name} must be an int, got {value!r}")
    v = int(value.__index__())
    if v < lo:
        raise ValueError(f"{owner}(): {name} must be >= {lo}, got {value!r}")
    return v


def duration(owner: str, name: str, value: Any, *, lo: int = 0, epochs_only: bool = False) -> Any:
    """Check a duration: an int number of steps, ``"N%"`` of total_steps or ``"Nep"`` epochs.

    Returns the value unchanged (ints normalised to ``int``), so configs keep what the user wrote.
    """
    if isinstance(value, str):
        m = _DURATION.match(value)
        allowed = "'Nep' (epochs)" if epochs_only else "'N%' (of total_steps) or 'Nep' (epochs)"
        if m is None or (epochs_only and m.group(2) == "%"):
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
    m = _DURATION.match(value)
    if m is None:  # pragma: no cover - values are checked by duration() first
        raise ValueError(f"malformed duration {value!r}")
    return Fraction(m.group(1)), m.group(2)


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
    """Return ``value`` (a list, tuple or other non-string iterable) as a tuple, or raise naming ``name``."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise TypeError(f"{owner}(): {name} must be a list, got {value!r}")
    return tuple(value)
