"""Hypothesis strategies that build valid, bound schedules of every catalog kind."""

from __future__ import annotations

from hypothesis import strategies as st

import lrplugins as lrp

unit = st.floats(0.0, 1.0, allow_nan=False)
totals = st.integers(1, 5_000)


@st.composite
def warmup_cosine(draw):
    n = draw(totals)
    return lrp.cosine(
        total_steps=n,
        warmup_steps=draw(st.integers(0, n)),
        final=draw(unit),
        warmup_start=draw(unit),
    )


@st.composite
def linear_s(draw):
    n = draw(totals)
    return lrp.linear(total_steps=n, warmup_steps=draw(st.integers(0, n)), final=draw(unit))


@st.composite
def polynomial_s(draw):
    n = draw(totals)
    return lrp.polynomial(
        total_steps=n,
        warmup_steps=draw(st.integers(0, n)),
        power=draw(st.floats(1e-3, 10.0)),
        final=draw(unit),
    )


@st.composite
def wsd_s(draw):
    n = draw(totals)
    w = draw(st.integers(0, n))
    d = draw(st.integers(0, n - w))
    shapes = st.sampled_from(["linear", "cosine", "1-sqrt"])
    return lrp.wsd(
        total_steps=n,
        warmup_steps=w,
        decay_steps=d,
        final=draw(unit),
        warmup_shape=draw(shapes),
        decay_shape=draw(shapes),
    )


@st.composite
def one_cycle_s(draw):
    three = draw(st.booleans())
    return lrp.one_cycle(
        total_steps=draw(st.integers(2, 5_000)),
        pct_start=draw(st.floats(0.01, 0.49 if three else 0.99)),
        div_factor=draw(st.floats(1.0, 1e3)),
        final_div_factor=draw(st.floats(1.0, 1e5)),
        anneal=draw(st.sampled_from(["cos", "linear"])),
        three_phase=three,
    )


@st.composite
def cyclic_s(draw):
    mode = draw(st.sampled_from(["triangular", "triangular2", "exp_range"]))
    return lrp.cyclic(
        draw(st.integers(1, 500)),
        draw(st.none() | st.integers(1, 500)),
        low=draw(unit),
        mode=mode,
        gamma=draw(st.floats(0.9, 1.0)) if mode == "exp_range" else 1.0,
    )


@st.composite
def increasing(draw, n_min=0, n_max=5):
    steps = draw(st.lists(st.integers(0, 5_000), min_size=n_min, max_size=n_max, unique=True))
    return sorted(steps)


@st.composite
def multistep_s(draw):
    return lrp.multistep(draw(increasing()), gamma=draw(st.floats(0.0, 2.0)))


@st.composite
def piecewise_s(draw):
    bs = draw(increasing())
    vals = draw(st.lists(st.floats(0.0, 10.0), min_size=len(bs) + 1, max_size=len(bs) + 1))
    return lrp.piecewise(bs, vals)


@st.composite
def interpolate_s(draw):
    steps = draw(increasing(n_min=1))
    vals = draw(st.lists(st.floats(0.0, 10.0), min_size=len(steps), max_size=len(steps)))
    return lrp.interpolate(list(zip(steps, vals)), shape=draw(st.sampled_from(["linear", "cosine"])))


leaves = st.one_of(
    st.builds(lrp.constant, warmup_steps=st.integers(0, 1_000)),
    linear_s(),
    warmup_cosine(),
    st.builds(
        lrp.cosine_restarts,
        cycle_steps=st.integers(1, 500),
        cycle_mult=st.sampled_from([1.0, 1.5, 2.0, 3.0]),
        final=unit,
        decay=st.floats(0.01, 1.0),
        warmup_steps=st.integers(0, 100),
    ),
    polynomial_s(),
    st.builds(
        lrp.exponential,
        rate=st.floats(1e-3, 1.0),
        every=st.integers(1, 100),
        staircase=st.booleans(),
    ),
    multistep_s(),
    piecewise_s(),
    st.builds(
        lrp.inverse_sqrt,
        warmup_steps=st.integers(0, 1_000),
        timescale=st.none() | st.integers(1, 10_000),
    ),
    st.builds(
        lrp.inverse_time,
        decay_steps=st.integers(1, 1_000),
        rate=st.floats(0.0, 10.0),
        staircase=st.booleans(),
    ),
    one_cycle_s(),
    cyclic_s(),
    wsd_s(),
    interpolate_s(),
)


@st.composite
def composites(draw):
    a, b = draw(leaves), draw(leaves)
    kind = draw(st.sampled_from(["scaled", "product", "sequence"]))
    if kind == "scaled":
        return draw(st.floats(0.0, 10.0)) * a
    if kind == "product":
        return a * b
    return lrp.sequence([a, b], boundaries=[draw(st.integers(1, 3_000))])


schedules = st.one_of(leaves, composites())
steps = st.integers(0, 20_000)
