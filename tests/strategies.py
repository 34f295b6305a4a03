"""Hypothesis strategies that build valid, bound schedules of every registered kind.

Every schedule here runs on the steps clock; :func:`on_clock` writes one on the samples or tokens
clock (each duration as the same count of samples or tokens).

The kinds come from the registry (``lrplugins._schedules.base.REGISTRY``): each leaf kind has an
argument strategy in :data:`LEAF_ARGS`, each combinator a builder in :data:`COMBINE`, and a kind in
neither must be listed in :data:`NOT_GENERATED` with the reason, or importing this module fails. A
new shape therefore cannot join the catalog without joining the property tests.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from hypothesis import strategies as st

import lrplugins as lrp
from lrplugins._schedules.base import REGISTRY, signature_fields

unit = st.floats(0.0, 1.0, allow_nan=False)
totals = st.integers(1, 5_000)
shapes3 = st.sampled_from(["linear", "cosine", "1-sqrt"])

Args = tuple[tuple[Any, ...], dict[str, Any]]  # positional and keyword arguments of a kind's build


def kw(**kwargs: Any) -> Args:
    return (), kwargs


@st.composite
def _cosine(draw):
    n = draw(totals)
    return kw(total_steps=n, warmup_steps=draw(st.integers(0, n)), final=draw(unit),
              warmup_start=draw(unit))  # fmt: skip


@st.composite
def _linear(draw):
    n = draw(totals)
    return kw(total_steps=n, warmup_steps=draw(st.integers(0, n)), final=draw(unit),
              warmup_start=draw(unit))  # fmt: skip


@st.composite
def _polynomial(draw):
    n = draw(totals)
    return kw(total_steps=n, warmup_steps=draw(st.integers(0, n)),
              power=draw(st.floats(1e-3, 10.0)), final=draw(unit))  # fmt: skip


@st.composite
def _wsd(draw):
    n = draw(totals)
    w = draw(st.integers(0, n))
    d = draw(st.integers(0, n - w))
    return kw(total_steps=n, warmup_steps=w, decay_steps=d, final=draw(unit),
              warmup_shape=draw(shapes3), decay_shape=draw(shapes3),
              warmup_start=draw(st.none() | unit))  # fmt: skip


@st.composite
def _one_cycle(draw):
    three = draw(st.booleans())
    return kw(
        total_steps=draw(st.integers(2, 5_000)),
        pct_start=draw(st.floats(0.01, 0.49 if three else 0.99)),
        div_factor=draw(st.floats(1.0, 1e3)),
        final_div_factor=draw(st.floats(1.0, 1e5)),
        anneal=draw(st.sampled_from(["cos", "linear"])),
        three_phase=three,
    )


@st.composite
def _cyclic(draw):
    mode = draw(st.sampled_from(["triangular", "triangular2", "exp_range"]))
    gamma = draw(st.floats(0.9, 1.0)) if mode == "exp_range" else 1.0
    up, down = draw(st.integers(1, 500)), draw(st.none() | st.integers(1, 500))
    return (up, down), {"low": draw(unit), "mode": mode, "gamma": gamma}


@st.composite
def _one_cycle_momentum(draw):
    three = draw(st.booleans())
    return kw(
        total_steps=draw(st.integers(2, 5_000)),
        pct_start=draw(st.floats(0.01, 0.49 if three else 0.99)),
        anneal=draw(st.sampled_from(["cos", "linear"])),
        three_phase=three,
        low=draw(unit),
    )


@st.composite
def increasing(draw, n_min=0, n_max=5):
    steps = draw(st.lists(st.integers(0, 5_000), min_size=n_min, max_size=n_max, unique=True))
    return sorted(steps)


@st.composite
def _multistep(draw):
    return (draw(increasing()),), {"gamma": draw(st.floats(0.0, 2.0))}


@st.composite
def _piecewise(draw):
    bs = draw(increasing())
    vals = draw(st.lists(st.floats(0.0, 10.0), min_size=len(bs) + 1, max_size=len(bs) + 1))
    return (bs, vals), {}


@st.composite
def _interpolate(draw):
    steps = draw(increasing(n_min=1))
    vals = draw(st.lists(st.floats(0.0, 10.0), min_size=len(steps), max_size=len(steps)))
    return (list(zip(steps, vals)),), {"shape": draw(st.sampled_from(["linear", "cosine"]))}


def _kwargs(**strategies: st.SearchStrategy[Any]) -> st.SearchStrategy[Args]:
    return st.fixed_dictionaries(strategies).map(lambda d: ((), d))


LEAF_ARGS: dict[str, st.SearchStrategy[Args]] = {
    "constant": _kwargs(warmup_steps=st.integers(0, 1_000)),
    "linear": _linear(),
    "cosine": _cosine(),
    "cosine_restarts": _kwargs(
        cycle_steps=st.integers(1, 500),
        cycle_mult=st.sampled_from([1.0, 1.5, 2.0, 3.0]),
        final=unit,
        decay=st.floats(0.01, 1.0),
        warmup_steps=st.integers(0, 100),
    ),
    "polynomial": _polynomial(),
    "exponential": _kwargs(
        rate=st.floats(1e-3, 1.0), every=st.integers(1, 100), staircase=st.booleans()
    ),
    "multistep": _multistep(),
    "piecewise": _piecewise(),
    "inverse_sqrt": _kwargs(
        warmup_steps=st.integers(0, 1_000), timescale=st.none() | st.integers(1, 10_000)
    ),
    "inverse_time": _kwargs(
        decay_steps=st.integers(1, 1_000), rate=st.floats(0.0, 10.0), staircase=st.booleans()
    ),
    "one_cycle": _one_cycle(),
    "cyclic": _cyclic(),
    "wsd": _wsd(),
    "interpolate": _interpolate(),
    "one_cycle_momentum": _one_cycle_momentum(),
    "cyclic_momentum": _cyclic(),  # the same arguments as cyclic
}
"""Valid arguments of every leaf kind: ``(args, kwargs)`` for the kind's build (what users call)."""


# --------------------------------------------------------------------------------------------
# numpy scalars: users pass them (np.int64 from a dataset length, np.float32 from a config array)
# --------------------------------------------------------------------------------------------


@st.composite
def numpy_version(draw, x: Any) -> Any:
    """``x`` as a user might pass it: unchanged, or with numbers as numpy scalars, lists of numbers
    as numpy arrays, recursively. Bools and strings stay as they are."""
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return x
    if isinstance(x, int):
        return draw(st.sampled_from([x, np.int64(x), np.int32(x), np.array(x)]))
    if isinstance(x, float):
        return draw(st.sampled_from([x, np.float64(x), np.float32(x), np.array(x, np.float32)]))
    if isinstance(x, (list, tuple)):
        items = [draw(numpy_version(e)) for e in x]
        one_type = {type(e) for e in x} in ({int}, {float})
        if one_type and draw(st.booleans()):
            return np.array(x)  # int64 or float64
        return type(x)(items)
    if isinstance(x, dict):
        return {k: draw(numpy_version(e)) for k, e in x.items()}
    return x


def as_meant(x: Any) -> Any:
    """The plain value a numpy argument stands for (the test's oracle, independent of lrplugins):
    ``int(x)``, ``float(x)`` for float64, ``float(str(x))`` for float32 and float16."""
    if isinstance(x, np.ndarray) and x.ndim:
        return [as_meant(e) for e in x]
    if isinstance(x, (np.ndarray, np.generic)):
        x = x[()]
        if isinstance(x, np.floating) and x.dtype.itemsize < 8:
            return float(str(x))
        return x.item()
    if isinstance(x, (list, tuple)):
        return type(x)(as_meant(e) for e in x)
    if isinstance(x, dict):
        return {k: as_meant(e) for k, e in x.items()}
    return x


def build(kind: str, args: Args) -> lrp.Schedule:
    """The schedule of ``kind`` built the way users build it (``lrp.piecewise``, ``lrp.cosine``)."""
    positional, keywords = args
    return REGISTRY[kind].build(*positional, **keywords)


def built(kind: str) -> st.SearchStrategy[lrp.Schedule]:
    """Schedules of ``kind``, their arguments sometimes given as numpy scalars and arrays."""
    return LEAF_ARGS[kind].flatmap(numpy_version).map(lambda a: build(kind, a))


leaf_kinds = [k for k in REGISTRY if k in LEAF_ARGS]
leaf_args = st.sampled_from(leaf_kinds).flatmap(lambda k: LEAF_ARGS[k].map(lambda a: (k, a)))
"""``(kind, (args, kwargs))`` with plain Python arguments."""
leaves = st.one_of(*(built(k) for k in leaf_kinds))


def warmup_cosine() -> st.SearchStrategy[lrp.Schedule]:
    return built("cosine")


def linear_s() -> st.SearchStrategy[lrp.Schedule]:
    return built("linear")


def polynomial_s() -> st.SearchStrategy[lrp.Schedule]:
    return built("polynomial")


def wsd_s() -> st.SearchStrategy[lrp.Schedule]:
    return built("wsd")


def one_cycle_s() -> st.SearchStrategy[lrp.Schedule]:
    return built("one_cycle")


def _scaled(draw: Any, a: lrp.Schedule, b: lrp.Schedule) -> lrp.Schedule:
    return draw(st.floats(0.0, 10.0).flatmap(numpy_version)) * a


def _product(draw: Any, a: lrp.Schedule, b: lrp.Schedule) -> lrp.Schedule:
    return a * b


def _sequence(draw: Any, a: lrp.Schedule, b: lrp.Schedule) -> lrp.Schedule:
    return lrp.sequence([a, b], boundaries=draw(numpy_version([draw(st.integers(1, 3_000))])))


def _cooldown(draw: Any, a: lrp.Schedule, b: lrp.Schedule) -> lrp.Schedule:
    at, steps = draw(st.integers(0, 3_000)), draw(st.integers(0, 3_000))
    at, steps, final = draw(numpy_version([at, steps, draw(unit)]))
    return a.cooldown(at=at, steps=steps, shape=draw(shapes3), final=final)


def _stretch(draw: Any, a: lrp.Schedule, b: lrp.Schedule) -> lrp.Schedule:
    # the first of a, b that ends (and not at step 0), else a linear decay
    for s in (a, b, lrp.linear(total_steps=draw(st.integers(1, 5_000)))):
        end = s.phases()[-1].start
        if end == 0:
            continue
        at = draw(st.integers(0, end - 1))
        total = draw(st.integers(at + 1, at + 5_000))
        try:
            return s.stretch(at=draw(numpy_version(at)), total_steps=total)
        except ValueError:  # it never ends (cyclic, exponential, ...)
            continue
    raise AssertionError("unreachable: a linear decay always ends after step 0")


COMBINE = {
    "scaled": _scaled,
    "product": _product,
    "sequence": _sequence,
    "cooldown": _cooldown,
    "stretch": _stretch,
}
"""How to combine two drawn leaves into each combinator kind."""

NOT_GENERATED = {"custom": "built from a Python callable: no config, covered in test_schedules"}

_unknown = set(REGISTRY) - set(LEAF_ARGS) - set(COMBINE) - set(NOT_GENERATED)
if _unknown:
    raise RuntimeError(f"no hypothesis strategy for registered kind(s) {sorted(_unknown)}")


@st.composite
def composites(draw):
    a, b = draw(leaves), draw(leaves)
    kind = draw(st.sampled_from([k for k in REGISTRY if k in COMBINE]))
    return COMBINE[kind](draw, a, b)


schedules = st.one_of(leaves, composites())
steps = st.integers(0, 20_000)


# --------------------------------------------------------------------------------------------
# the samples and tokens clocks
# --------------------------------------------------------------------------------------------

UNITS = {"sp": "samples", "tok": "tokens"}


def written(draw: Any, count: int, unit: str) -> str:
    """``count`` samples or tokens as a duration string, in one of its exact forms: ``"1500sp"``,
    ``"1.500Ksp"``, ``"0.001500Msp"``."""
    return draw(
        st.sampled_from(
            [
                f"{count}{unit}",
                f"{count // 1000}.{count % 1000:03d}K{unit}",
                f"{count // 10**6}.{count % 10**6:06d}M{unit}",
            ]
        )
    )


def on_clock(draw: Any, s: lrp.Schedule, unit: str, declared: list[str] | None = None) -> Any:
    """``s`` with every duration written in steps (an int > 0) written as the same count of
    samples (``unit="sp"``) or tokens (``"tok"``), nested schedules included. Each duration
    rewritten is appended to ``declared``, so a caller knows whether the result declares a clock
    (one whose durations are all 0 or ``"N%"`` does not, and stays on the steps clock)."""
    declared = [] if declared is None else declared

    def convert(value: Any) -> Any:
        if isinstance(value, tuple):
            return tuple(
                (convert(x[0]), x[1]) if isinstance(x, tuple) else convert(x) for x in value
            )
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            declared.append(f"{value}")
            return written(draw, value, unit)
        return value

    changes = {}
    for f in signature_fields(type(s)):
        value = getattr(s, f.name)
        if isinstance(value, lrp.Schedule):
            changes[f.name] = on_clock(draw, value, unit, declared)
        elif isinstance(value, tuple) and any(isinstance(x, lrp.Schedule) for x in value):
            changes[f.name] = tuple(on_clock(draw, x, unit, declared) for x in value)
        elif "Duration" in str(f.type):
            changes[f.name] = convert(value)
    return dataclasses.replace(s, **changes) if changes else s  # type: ignore[type-var]


@st.composite
def clocked(draw):
    """``(steps_schedule, same_on_clock, clock)``: a random schedule of any kind, and the same
    written in samples or tokens; ``clock`` is the one it declares (``"steps"`` if it has no
    duration to write)."""
    s = draw(schedules)
    unit = draw(st.sampled_from(sorted(UNITS)))
    declared: list[str] = []
    c = on_clock(draw, s, unit, declared)
    return s, c, UNITS[unit] if declared else "steps"
