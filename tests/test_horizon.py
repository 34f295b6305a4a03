"""Changing the horizon: ``s.cooldown(at, steps, shape, final)`` and
``s.stretch(at, total_steps)``.

Expected values are computed here from the definitions in the docstrings, with ``math`` on plain floats.
"""

from __future__ import annotations

import json
import math
import os
import pickle

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import lrplugins as lrp
from conftest import require
from lrplugins._ops import ArrayOps, numpy_ops

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

D_OF = {
    "linear": lambda p: 1.0 - p,
    "cosine": lambda p: (1.0 + math.cos(math.pi * p)) / 2.0,
    "1-sqrt": lambda p: 1.0 - math.sqrt(p),
}


def cooled(s: lrp.Schedule, at: int, steps: int, shape: str, final: float, t: int) -> float:
    """The definition: s before at; final + (s(at) - final) * d((t - at) / steps); final after."""
    if t < at:
        return s(t)
    if t >= at + steps:
        return final
    return final + (s(at) - final) * D_OF[shape]((t - at) / steps)


def stretched(s: lrp.Schedule, at: int, total: int, t: int) -> float:
    """The definition: s before at; s(at + (t - at) * (E - at) / (total - at)); s(E) after total."""
    end = s.phases()[-1].start
    if t < at:
        return s(t)
    if t >= total:
        return s(end)
    u = at + (t - at) * (end - at) / (total - at)
    return float(s.evaluate(np.array([u]), numpy_ops())[0])  # s at a fractional step


def check(s: lrp.Schedule, expected: list[float], tol: float = 1e-12) -> None:
    steps = np.arange(len(expected))
    np.testing.assert_allclose([s(int(t)) for t in steps], expected, rtol=tol, atol=tol)
    np.testing.assert_allclose(s.values(steps), expected, rtol=tol, atol=tol)


# ------------------------------------------------------------------------------------------------
# cooldown
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["linear", "cosine", "1-sqrt"])
def test_cooldown_values_follow_the_definition(shape):
    base = lrp.constant()
    s = base.cooldown(at=2, steps=4, shape=shape, final=0.2)
    check(s, [cooled(base, 2, 4, shape, 0.2, t) for t in range(12)])
    assert s(0) == s(1) == 1.0 and s(6) == s(10**9) == 0.2
    # the three shapes at the middle of the cooldown: 0.2 + 0.8 * d(1/2)
    assert s(4) == pytest.approx(
        0.2 + 0.8 * {"linear": 0.5, "cosine": 0.5, "1-sqrt": 1 - 0.5**0.5}[shape]
    )


def test_cooldown_starts_from_the_value_in_force():
    base = lrp.cosine(total_steps=100, warmup_steps=10, final=0.1)
    s = base.cooldown(at=40, steps=20, shape="cosine")
    check(s, [cooled(base, 40, 20, "cosine", 0.0, t) for t in range(110)])
    assert s(40) == pytest.approx(base(40)) and s(60) == 0.0
    # a cooldown inside the warmup decays from the warmup value reached
    w = base.cooldown(at=5, steps=5, shape="linear", final=0.0)
    check(w, [cooled(base, 5, 5, "linear", 0.0, t) for t in range(20)])


def test_cooldown_of_zero_steps_holds_final_from_at():
    s = lrp.constant().cooldown(at=3, steps=0, final=0.25)
    check(s, [1.0, 1.0, 1.0, 0.25, 0.25, 0.25])
    assert [tuple(ph) for ph in s.phases()] == [("constant", 0, 3), ("hold", 3, None)]


def test_cooldown_after_the_end_decays_from_the_final_value():
    base = lrp.linear(total_steps=10, final=0.5)
    s = base.cooldown(at=20, steps=10, shape="linear", final=0.0)
    check(s, [cooled(base, 20, 10, "linear", 0.0, t) for t in range(35)])
    assert s(25) == pytest.approx(0.25)


def test_cooldown_phases():
    s = lrp.cosine(total_steps=100, warmup_steps=10).cooldown(at=60, steps=20)
    assert [tuple(ph) for ph in s.phases()] == [
        ("warmup", 0, 10),
        ("cosine decay", 10, 60),
        ("cooldown", 60, 80),
        ("hold", 80, None),
    ]


@SETTINGS
@given(
    st.integers(1, 2_000).flatmap(
        lambda n: st.tuples(st.just(n), st.integers(0, n)).flatmap(
            lambda nw: st.tuples(st.just(nw[0]), st.just(nw[1]), st.integers(0, nw[0] - nw[1]))
        )
    ),
    st.just(0.0) | st.floats(0.0, 1.0),
    st.sampled_from(["linear", "cosine", "1-sqrt"]),
)
def test_wsd_is_a_cooldown_of_a_warmed_up_constant(nwd, f, shape):
    n, w, d = nwd
    wsd = lrp.wsd(total_steps=n, warmup_steps=w, decay_steps=d, final=f, decay_shape=shape)
    cool = lrp.constant(warmup_steps=w).cooldown(at=n - d, steps=d, shape=shape, final=f)
    first = 0 if f == 0.0 else w  # wsd warms up from `final`, constant from 0
    steps = np.arange(first, n + 11)
    np.testing.assert_allclose(cool.values(steps), wsd.values(steps), rtol=1e-12, atol=1e-12)
    for t in (first, n - d, n - d + d // 2, n, n + 10):
        if t >= first:
            assert cool(t) == pytest.approx(wsd(t), rel=1e-12, abs=1e-12)


# ------------------------------------------------------------------------------------------------
# stretch
# ------------------------------------------------------------------------------------------------


def test_stretch_values_follow_the_definition():
    base = lrp.linear(total_steps=10)
    s = base.stretch(at=4, total_steps=16)
    # u = 4 + (t - 4) * 6 / 12: the linear decay from step 4 runs at half speed
    expected = [1.0 - t / 10 for t in range(4)] + [
        1.0 - (4 + (t - 4) / 2) / 10 for t in range(4, 16)
    ]
    check(s, [*expected, 0.0, 0.0, 0.0])
    assert [tuple(ph) for ph in s.phases()] == [
        ("linear decay", 0, 4),
        ("linear decay (stretched)", 4, 16),
        ("hold", 16, None),
    ]


@pytest.mark.parametrize("total", [60, 150, 1000])  # squeezed, stretched, stretched a lot
def test_stretch_of_a_cosine_with_warmup(total):
    base = lrp.cosine(total_steps=100, warmup_steps=10, final=0.1)
    s = base.stretch(at=20, total_steps=total)
    check(s, [stretched(base, 20, total, t) for t in range(total + 10)])
    assert [tuple(ph) for ph in s.phases()] == [
        ("warmup", 0, 10),
        ("cosine decay", 10, 20),
        ("cosine decay (stretched)", 20, total),
        ("hold", total, None),
    ]


def test_stretch_inside_the_warmup_moves_the_later_phases():
    base = lrp.cosine(total_steps=100, warmup_steps=10)
    s = base.stretch(at=5, total_steps=195)  # 2x: the rest of the warmup takes 10 steps
    assert [tuple(ph) for ph in s.phases()] == [
        ("warmup", 0, 5),
        ("warmup (stretched)", 5, 15),
        ("cosine decay (stretched)", 15, 195),
        ("hold", 195, None),
    ]
    assert s(15) == 1.0 and s(14) < 1.0
    check(s, [stretched(base, 5, 195, t) for t in range(200)])


ENDING = [
    lrp.constant(warmup_steps=20),
    lrp.linear(total_steps=50, warmup_steps=5, final=0.2),
    lrp.cosine(total_steps=50, warmup_steps=5, final=0.2),
    lrp.polynomial(total_steps=50, power=2.0, final=0.1),
    lrp.wsd(total_steps=50, warmup_steps=5, decay_steps=10, final=0.1),
    lrp.one_cycle(total_steps=50, three_phase=True),
    lrp.multistep([10, 30], gamma=0.5),
    lrp.piecewise([10, 30], [1.0, 0.5, 0.2]),
    lrp.interpolate([(0, 0.0), (10, 1.0), (50, 0.1)], shape="cosine"),
    lrp.sequence([lrp.exponential(0.9), lrp.linear()], boundaries=[20], total_steps=50),
    0.5 * lrp.cosine(total_steps=50),
    lrp.cosine(total_steps=50) * lrp.linear(total_steps=40),
    lrp.constant().cooldown(at=30, steps=10),
    lrp.cosine(total_steps=50).stretch(at=10, total_steps=40),
    lrp.one_cycle_momentum(total_steps=50),
]


@pytest.mark.parametrize("base", ENDING, ids=repr)
@pytest.mark.parametrize("frac", [0.0, 0.3, 0.9])
@pytest.mark.parametrize("factor", [0.5, 1.0, 3.0])
def test_stretch_is_continuous_at_at_and_lands_on_total_steps(base, frac, factor):
    end = base.phases()[-1].start
    at = min(int(frac * end), end - 1)
    total = at + max(1, round((end - at) * factor))
    s = base.stretch(at=at, total_steps=total)
    final = base(end)
    assert [s(t) for t in range(at + 1)] == [base(t) for t in range(at + 1)]  # equal up to at
    assert s(total) == final and s(total + 10**6) == final  # the end lands on total_steps
    assert s.phases()[-1].start == total
    if total > at + 1:
        assert s(total - 1) == pytest.approx(stretched(base, at, total, total - 1), abs=1e-12)
    check(s, [stretched(base, at, total, t) for t in range(total + 5)])


@pytest.mark.parametrize(
    "base",
    [
        lrp.exponential(0.5),
        lrp.inverse_sqrt(warmup_steps=10),
        lrp.inverse_time(10, 0.5),
        lrp.cyclic(10),
        lrp.cosine_restarts(10),
        lrp.sequence([lrp.linear(), lrp.exponential(0.9)], boundaries=[10], total_steps=20),
        lrp.cosine(total_steps=10) * lrp.exponential(0.9),
        lrp.cyclic_momentum(10),
    ],
    ids=repr,
)
def test_stretch_refuses_a_schedule_without_an_end(base):
    with pytest.raises(
        ValueError, match=r"stretch\(\): schedule must end in a constant phase"
    ) as e:
        base.stretch(at=1, total_steps=100)
    assert repr(base) in str(e.value) and "runs forever" in str(e.value)


def test_stretch_refuses_at_or_total_out_of_range():
    base = lrp.cosine(total_steps=100, warmup_steps=10)
    with pytest.raises(
        ValueError,
        match=r"stretch\(\): at must be < 100, the first step of the final constant phase of "
        r"cosine\(total_steps=100, warmup_steps=10\), got at=100",
    ):
        base.stretch(at=100, total_steps=200)
    with pytest.raises(ValueError, match=r"stretch\(\): total_steps must be > at \(50\), got 50"):
        base.stretch(at=50, total_steps=50)
    with pytest.raises(ValueError, match=r"stretch\(\): total_steps must be > at \(50\), got 20"):
        base.stretch(at=50, total_steps=20)
    with pytest.raises(ValueError, match=r"stretch\(\): at must be < 0"):
        lrp.constant().stretch(at=0, total_steps=10)  # constant from step 0: nothing to stretch


# ------------------------------------------------------------------------------------------------
# both: binding, configs, pickling, arguments
# ------------------------------------------------------------------------------------------------


def test_an_unbound_schedule_stays_unbound_until_bound():
    c = lrp.cosine(warmup_steps="10%").cooldown(at=50, steps=10)
    s = lrp.cosine(warmup_steps="10%").stretch(at=50, total_steps=200)
    for x in (c, s):
        assert not x.is_bound and x.missing == ("total_steps",)
        with pytest.raises(lrp.UnboundScheduleError, match="missing total_steps"):
            x(0)
    assert c.bind(total_steps=100) == lrp.cosine(total_steps=100, warmup_steps="10%").cooldown(
        at=50, steps=10
    )
    assert s.bind(total_steps=100) == lrp.cosine(total_steps=100, warmup_steps="10%").stretch(
        at=50, total_steps=200
    )
    assert c.bind(total_steps=100).bind(total_steps=999) == c.bind(total_steps=100)


def test_epoch_durations():
    base = lrp.cosine(total_steps=100)
    c = base.cooldown(at="5ep", steps="1.5ep")
    assert c.missing == ("steps_per_epoch (for at='5ep')", "steps_per_epoch (for steps='1.5ep')")
    b = c.bind(steps_per_epoch=10)
    assert b == base.cooldown(at="5ep", steps="1.5ep").bind(steps_per_epoch=10)
    np.testing.assert_array_equal(
        b.values(np.arange(80)), base.cooldown(50, 15).values(np.arange(80))
    )
    st_ = base.stretch(at="2ep", total_steps="30ep").bind(steps_per_epoch=10)
    np.testing.assert_array_equal(
        st_.values(np.arange(320)), base.stretch(at=20, total_steps=300).values(np.arange(320))
    )
    assert "steps_per_epoch=10" in repr(b) and repr(b).startswith("Cooldown(")


HORIZON = [
    lrp.wsd(total_steps=100).cooldown(at=50, steps=10),
    (0.5 * lrp.cosine(total_steps=100)).cooldown(at=50, steps=0, shape="cosine", final=0.1),
    lrp.cosine(warmup_steps="1ep").cooldown(at="3ep", steps=5),
    lrp.linear(total_steps=100).stretch(at=20, total_steps=300),
    lrp.cosine(total_steps=100).stretch(at=20, total_steps=300).cooldown(at=100, steps=50),
    lrp.constant().cooldown(at=30, steps=10).stretch(at=10, total_steps=100),
]


@pytest.mark.parametrize("s", HORIZON, ids=repr)
def test_config_round_trip_and_pickling(s):
    cfg = json.loads(json.dumps(s.to_config(), allow_nan=False))
    back = lrp.from_config(cfg)
    assert back == s and hash(back) == hash(s) and repr(back) == repr(s)
    again = pickle.loads(pickle.dumps(s))
    assert again == s and hash(again) == hash(s)
    b = s.bind(total_steps=100, steps_per_epoch=10)
    np.testing.assert_array_equal(
        lrp.from_config(b.to_config()).values(np.arange(400)), b.values(np.arange(400))
    )
    np.testing.assert_array_equal(
        pickle.loads(pickle.dumps(b)).values(np.arange(400)), b.values(np.arange(400))
    )


def test_repr_is_the_method_call():
    assert repr(lrp.wsd(total_steps=100).cooldown(at=50, steps=10)) == (
        "wsd(total_steps=100).cooldown(at=50, steps=10)"
    )
    assert repr((0.5 * lrp.linear(total_steps=9)).cooldown(4, 2, "cosine", 0.1)) == (
        "(0.5 * linear(total_steps=9)).cooldown(at=4, steps=2, shape='cosine', final=0.1)"
    )
    assert repr(lrp.linear(total_steps=9).stretch(3, 20)) == (
        "linear(total_steps=9).stretch(at=3, total_steps=20)"
    )


def test_numpy_scalar_arguments_are_plain_values():
    base = lrp.cosine(total_steps=100)
    a = base.cooldown(
        at=np.int64(50), steps=np.int32(10), shape=np.str_("cosine"), final=np.float32(0.1)
    )
    b = base.cooldown(at=50, steps=10, shape="cosine", final=0.1)
    assert a == b and hash(a) == hash(b) and json.dumps(a.to_config()) == json.dumps(b.to_config())
    np.testing.assert_array_equal(a.values(np.arange(70)), b.values(np.arange(70)))
    c = base.stretch(at=np.int64(20), total_steps=np.array(300))
    d = base.stretch(at=20, total_steps=300)
    assert c == d and hash(c) == hash(d) and json.dumps(c.to_config()) == json.dumps(d.to_config())


@pytest.mark.parametrize(
    ("make", "error", "message"),
    [
        (lambda s: s.cooldown(at=-1, steps=5), ValueError, r"cooldown\(\): at must be >= 0, got -1"),
        (lambda s: s.cooldown(at=5, steps=-2), ValueError, r"cooldown\(\): steps must be >= 0, got -2"),
        (lambda s: s.cooldown(at="5%", steps=5), ValueError,
         r"cooldown\(\): at must be an int number of steps, 'Nep' \(epochs\), got '5%'"),
        (lambda s: s.cooldown(at=5.5, steps=5), TypeError, r"cooldown\(\): at must be an int, got 5.5"),
        (lambda s: s.cooldown(at=True, steps=5), TypeError, r"cooldown\(\): at must be an int, got True"),
        (lambda s: s.cooldown(at=5, steps=5, shape="cubic"), ValueError,
         r"cooldown\(\): shape must be one of 'linear', 'cosine', '1-sqrt', got 'cubic'"),
        (lambda s: s.cooldown(at=5, steps=5, final=-0.1), ValueError,
         r"cooldown\(\): final must be >= 0, got -0.1"),
        (lambda s: s.cooldown(at=5, steps=5, final=float("nan")), ValueError,
         r"cooldown\(\): final must be a finite number, got nan"),
        (lambda s: s.stretch(at=-1, total_steps=5), ValueError, r"stretch\(\): at must be >= 0, got -1"),
        (lambda s: s.stretch(at=1, total_steps=0), ValueError,
         r"stretch\(\): total_steps must be >= 1, got 0"),
        (lambda s: s.stretch(at=1, total_steps="50%"), ValueError,
         r"stretch\(\): total_steps must be an int number of steps, 'Nep' \(epochs\), got '50%'"),
        (lambda s: lrp.Cooldown(3, at=1, steps=1), TypeError,
         r"cooldown\(\): schedule must be a schedule, got 3"),
        (lambda s: lrp.Stretch("cosine", at=1, total_steps=9), TypeError,
         r"stretch\(\): schedule must be a schedule, got 'cosine'"),
    ],
)  # fmt: skip
def test_bad_arguments_name_the_argument_and_value(make, error, message):
    with pytest.raises(error, match=message):
        make(lrp.cosine(total_steps=100))


def test_both_compile_into_keras():
    os.environ.setdefault("KERAS_BACKEND", "torch")
    keras = require("keras")
    ops = ArrayOps(keras.ops)
    steps = np.arange(0, 400)
    for s in HORIZON:
        b = s.bind(total_steps=100, steps_per_epoch=10)
        got = keras.ops.convert_to_numpy(
            b.evaluate(keras.ops.convert_to_tensor(steps, "float32"), ops)
        )
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, b.values(steps), rtol=1e-5, atol=1e-6)


def test_inline_specs_accept_the_horizon_methods_and_nothing_else():
    from lrplugins.spec import SpecError, parse_spec

    s = parse_spec("wsd(total_steps=1000, warmup_steps=50).cooldown(at=400, steps=100)")
    assert s == lrp.wsd(total_steps=1000, warmup_steps=50).cooldown(at=400, steps=100)
    assert parse_spec("cosine(total_steps=100).stretch(at=50, total_steps=200)")(200) == 0.0
    with pytest.raises(SpecError, match=r"only catalog names can be called \(and a schedule's \.cooldown\(\) and \.stretch\(\)\)"):
        parse_spec("cosine().bind(total_steps=3)")
    with pytest.raises(SpecError, match=r"\.cooldown\(\) needs a schedule"):
        parse_spec("(3).cooldown(at=1, steps=2)")
