"""Property tests over random valid schedules of every kind (hypothesis)."""

from __future__ import annotations

import json
import math
import pickle
import re
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import (
    as_meant,
    build,
    clocked,
    leaf_args,
    leaves,
    linear_s,
    numpy_version,
    on_clock,
    one_cycle_s,
    polynomial_s,
    schedules,
    steps,
    warmup_cosine,
    wsd_s,
)

import lrplugins as lrp
from lrplugins._ops import MATH

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# shapes whose multiplier never exceeds 1 by construction
UNIT_KINDS = {
    "constant", "linear", "cosine", "cosine_restarts", "polynomial", "exponential",
    "inverse_sqrt", "inverse_time", "one_cycle", "cyclic", "wsd",
    "one_cycle_momentum", "cyclic_momentum",
}  # fmt: skip


def _upper_bound(s: lrp.Schedule) -> float:
    if s.kind in UNIT_KINDS:
        return 1.0
    if s.kind == "multistep":
        return max(1.0, s.gamma ** len(s.milestones))
    if s.kind == "piecewise":
        return max(s.levels)
    if s.kind == "interpolate":
        return max(m for _, m in s.knots)
    if s.kind == "scaled":
        return s.factor * _upper_bound(s.schedule)
    if s.kind == "product":
        return math.prod(_upper_bound(c) for c in s.schedules)
    if s.kind == "sequence":
        return max(_upper_bound(c) for c in s.schedules)
    if s.kind == "cooldown":  # between s(at) and final
        return max(_upper_bound(s.schedule), s.final)
    if s.kind == "stretch":  # the same values, at other steps
        return _upper_bound(s.schedule)
    raise AssertionError(s.kind)


@SETTINGS
@given(schedules, st.lists(steps, min_size=1, max_size=50))
def test_values_are_finite_non_negative_and_bounded(s, ts):
    bound = _upper_bound(s) * (1 + 1e-12) + 1e-12
    for t in ts:
        x = s(t)
        assert type(x) is float
        assert math.isfinite(x) and 0.0 <= x <= bound, (s, t, x)


@SETTINGS
@given(schedules, st.lists(steps, min_size=0, max_size=200))
def test_values_equals_call(s, ts):
    arr = s.values(np.asarray(ts, dtype=np.int64))
    assert arr.dtype == np.float64 and arr.shape == (len(ts),)
    expected = np.array([s(t) for t in ts], dtype=np.float64)
    np.testing.assert_allclose(arr, expected, rtol=1e-12, atol=1e-12)
    as_list = s.values(ts)
    assert isinstance(as_list, list)
    np.testing.assert_allclose(as_list, expected, rtol=1e-12, atol=1e-12)


@SETTINGS
@given(schedules, st.lists(steps | st.integers(0, 2**64), min_size=1, max_size=50))
def test_the_generated_scalar_path_computes_the_formula_bit_for_bit(s, ts):
    # s(step) runs a function generated from the formula (lrplugins._schedules.scalar); it must
    # give exactly what the formula gives on Python floats
    for t in ts:
        assert s(t) == float(s._formula(float(t), s._p, MATH)), (s, t)


@SETTINGS
@given(schedules)
def test_config_round_trip_through_json(s):
    cfg = json.loads(json.dumps(s.to_config(), allow_nan=False))
    back = lrp.from_config(cfg)
    assert back == s and hash(back) == hash(s)
    ts = np.arange(0, 3_000, 7)
    np.testing.assert_array_equal(back.values(ts), s.values(ts))


@SETTINGS
@given(leaf_args, st.data())
def test_numpy_arguments_build_the_schedule_of_the_plain_values_they_stand_for(kind_args, data):
    kind, plain = kind_args
    given_args = data.draw(numpy_version(plain))
    meant_args = as_meant(given_args)
    try:
        meant = build(kind, meant_args)
    except (TypeError, ValueError) as exc:  # float32 rounding can only break a rule identically
        with pytest.raises(type(exc), match=re.escape(str(exc))):
            build(kind, given_args)
        return
    s = build(kind, given_args)
    assert s == meant and hash(s) == hash(meant) and repr(s) == repr(meant)
    cfg = s.to_config()
    assert json.loads(json.dumps(cfg, allow_nan=False)) == meant.to_config()
    assert lrp.from_config(cfg) == meant
    ts = np.arange(0, 3_000, 7)
    np.testing.assert_array_equal(s.values(ts), meant.values(ts))
    assert [s(int(t)) for t in ts[:50]] == [meant(int(t)) for t in ts[:50]]


@SETTINGS
@given(schedules)
def test_pickle_round_trip(s):
    back = pickle.loads(pickle.dumps(s))
    assert back == s and hash(back) == hash(s) and repr(back) == repr(s)
    assert back(123) == s(123)


@SETTINGS
@given(
    st.integers(1, 100_000),
    st.integers(1, 1_000),
    st.sampled_from(["0%", "5%", "12.5%", "33.3%", "100%", "0ep", "1ep", "0.5ep", "2ep"]),
)
def test_bind_is_idempotent_and_resolves_like_explicit_steps(total, spe, warmup):
    num, unit = (warmup[:-1], "%") if warmup.endswith("%") else (warmup[:-2], "ep")
    base = total if unit == "%" else spe
    w = math.ceil(Fraction(num) * base / (100 if unit == "%" else 1))
    s = lrp.constant(warmup_steps=warmup)
    if w > total:  # an epoch-based warmup longer than the run is refused at bind time
        with pytest.raises(ValueError, match=r"warmup_steps \(\d+\) must be <= total_steps"):
            s.bind(total_steps=total, steps_per_epoch=spe)
        return
    b = s.bind(total_steps=total, steps_per_epoch=spe)
    assert b.bind(total_steps=total, steps_per_epoch=spe) == b
    explicit = lrp.constant(warmup_steps=w)
    ts = np.arange(0, w + 3)
    np.testing.assert_array_equal(b.values(ts), explicit.values(ts))


@SETTINGS
@given(leaves, st.integers(1, 10_000), st.integers(1, 100))
def test_bind_never_changes_a_bound_schedule(s, total, spe):
    assert s.is_bound
    assert s.bind(total_steps=total, steps_per_epoch=spe) == s


def _max_jump(s, n):
    return float(np.max(np.abs(np.diff(s.values(np.arange(0, n + 20))))))


@SETTINGS
@given(st.one_of(warmup_cosine(), linear_s()))
def test_cosine_and_linear_have_no_jumps(s):
    # continuity in steps: no adjacent difference larger than the steepest slope of either phase
    n = s._p[0]  # resolved warmup
    total = s.total_steps
    rise = (1.0 - getattr(s, "warmup_start", 0.0)) / max(n, 1)
    fall = (1.0 - s.final) * (math.pi / 2 if s.kind == "cosine" else 1.0) / max(1, total - n)
    start = getattr(s, "warmup_start", 0.0) if n else 1.0
    assert s(0) == pytest.approx(start)
    assert _max_jump(s, total) <= max(rise, fall) + 1e-12


@SETTINGS
@given(polynomial_s())
def test_polynomial_decays_monotonically_after_warmup(s):
    w = s._p[0]
    vals = s.values(np.arange(w, s.total_steps + 20))
    assert np.all(np.diff(vals) <= 1e-15)
    assert vals[-1] == pytest.approx(s.final)


@SETTINGS
@given(wsd_s())
def test_wsd_phases(s):
    n = s.total_steps
    vals = s.values(np.arange(0, n + 20))
    w, stable_end = s._p[0], s._p[1]
    assert np.all(vals[w:stable_end] == 1.0)
    assert np.all(np.diff(vals[:w]) >= -1e-15)  # warmup rises
    assert np.all(np.diff(vals[stable_end:]) <= 1e-15)  # decay falls
    assert vals[n:] == pytest.approx(s.final)


@SETTINGS
@given(one_cycle_s())
def test_one_cycle_peaks_at_one_and_holds_its_end(s):
    n = s.total_steps
    vals = s.values(np.arange(0, n + 20))
    end = 1.0 / (s.div_factor * s.final_div_factor)
    assert vals.max() <= 1.0 + 1e-12
    assert vals[n - 1 :] == pytest.approx(end, rel=1e-9)


# --------------------------------------------------------------------------------------------
# the samples and tokens clocks
# --------------------------------------------------------------------------------------------


@SETTINGS
@given(clocked(), st.lists(steps | st.integers(0, 2**50), min_size=1, max_size=60))
def test_a_schedule_in_samples_or_tokens_is_the_same_function_of_its_clock(sc, ts):
    s, c, clock = sc
    assert c.clock == clock
    # the formulas are the same on every clock: s(t) at step t is c(t) at t samples or tokens
    assert [c(t) for t in ts] == [s(t) for t in ts]
    assert c.phases() == s.phases() and c.end == s.end
    arr = np.asarray(ts, dtype=np.int64)
    np.testing.assert_array_equal(c.values(arr), s.values(arr))
    np.testing.assert_allclose(c.values(arr), [c(t) for t in ts], rtol=1e-12, atol=1e-12)


@SETTINGS
@given(clocked())
def test_config_round_trip_keeps_the_units(sc):
    _, c, clock = sc
    cfg = json.loads(json.dumps(c.to_config(), allow_nan=False))
    back = lrp.from_config(cfg)
    assert back == c and hash(back) == hash(c) and back.clock == clock
    assert (clock == "steps") or re.search(r"\d[KMBT]?(sp|tok)'", repr(back))
    ts = np.arange(0, 3_000, 7)
    np.testing.assert_array_equal(back.values(ts), c.values(ts))
    assert pickle.loads(pickle.dumps(c)) == c


@SETTINGS
@given(leaves, leaves, st.sampled_from(["product", "sequence", "cooldown"]), st.data())
def test_composites_take_their_parts_clock_and_refuse_a_mix(a, b, kind, data):
    da: list[str] = []
    db: list[str] = []
    ca = on_clock(data.draw, a, "sp", da)
    cb = on_clock(data.draw, b, "tok", db)
    n = data.draw(st.integers(1, 3_000))

    def combine():
        if kind == "product":
            return ca * cb
        if kind == "sequence":
            return lrp.sequence([ca, cb], boundaries=[n if not (da or db) else "1%"],
                                total_steps=f"{100 * n}tok" if db else None)  # fmt: skip
        return ca.cooldown(at=f"{n}tok", steps=0)

    # what each side declares: a in samples, b (or the cooldown's `at`) in tokens
    left = bool(da)
    right = bool(db) or kind == "cooldown"
    if left and right:
        with pytest.raises(ValueError) as info:
            combine()
        msg = str(info.value)
        assert "in samples" in msg or "on the samples clock" in msg, msg
        assert "in tokens" in msg or "on the tokens clock" in msg, msg
        assert msg.endswith("share one clock (optimizer steps and epochs, samples, or tokens)")
        return
    both = combine()
    assert both.clock == ("samples" if left else "tokens" if right else "steps")
