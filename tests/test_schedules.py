"""Semantics of the core: durations, binding, configs, arithmetic, validation, extreme inputs.

Exact agreement with torch / transformers / keras lives in test_parity.py; these tests pin the
library's own contract.
"""

from __future__ import annotations

import dataclasses
import json
import math
import pickle
import re
import subprocess
import sys

import numpy as np
import pytest

import lrplugins as lrp
from conftest import require

# --------------------------------------------------------------------------------------------
# durations and binding
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("warmup", "total", "spe", "steps"),
    [
        ("5%", 1000, None, 50),
        ("5%", 1001, None, 51),  # 50.05 rounds up
        ("12.5%", 8, None, 1),
        ("33.3%", 1000, None, 333),  # exact decimal: 333.0, not 333.00000000000006 -> 334
        ("0.1%", 10, None, 1),
        ("100%", 7, None, 7),
        ("0%", 7, None, 0),
        ("2ep", 100, 30, 60),
        ("0.5ep", 100, 7, 4),  # 3.5 rounds up
        ("1ep", 100, 1, 1),
    ],
)
def test_durations_round_up_to_whole_steps(warmup, total, spe, steps):
    s = lrp.constant(warmup_steps=warmup).bind(total_steps=total, steps_per_epoch=spe)
    assert s._p == (steps,)


def test_percent_durations_are_exact_decimals():
    # 0.07 * 100 in floating point is 7.000000000000001; ceil() of that would be 8
    s = lrp.cosine(total_steps=100, warmup_steps="7%")
    assert s(6) < 1.0 and s(7) == 1.0


def test_bound_when_its_own_arguments_suffice():
    assert lrp.cosine(total_steps=1000, warmup_steps="5%").is_bound
    assert lrp.constant(warmup_steps=10).is_bound
    assert lrp.exponential(0.5).is_bound
    assert not lrp.cosine().is_bound
    assert not lrp.constant(warmup_steps="5%").is_bound
    assert not lrp.constant(warmup_steps="2ep", total_steps=100).is_bound


@pytest.mark.parametrize(
    ("schedule", "missing"),
    [
        (lrp.cosine(), "total_steps"),
        (lrp.constant(warmup_steps="5%"), "total_steps (for warmup_steps='5%')"),
        (
            lrp.cosine(total_steps=100, warmup_steps="2ep"),
            "steps_per_epoch (for warmup_steps='2ep')",
        ),
        (lrp.cosine(total_steps="3ep"), "steps_per_epoch (for total_steps='3ep')"),
        (2.0 * lrp.linear(), "total_steps"),
    ],
)
def test_unbound_schedule_names_what_is_missing(schedule, missing):
    assert missing in schedule.missing
    with pytest.raises(lrp.UnboundScheduleError, match=re.escape(missing)):
        schedule(0)
    with pytest.raises(lrp.UnboundScheduleError, match=re.escape(".bind(total_steps=")):
        schedule.values([0, 1])


def test_bind_fills_only_what_is_unset():
    s = lrp.cosine(warmup_steps="10%")
    b = s.bind(total_steps=200)
    assert b == lrp.cosine(total_steps=200, warmup_steps="10%")
    assert b.bind(total_steps=999) is b  # an explicit or earlier total wins
    epochs = lrp.cosine(total_steps="3ep", warmup_steps="1ep").bind(
        total_steps=5, steps_per_epoch=10
    )
    assert epochs(10) == 1.0 and epochs(30) == 0.0  # total is 3 epochs = 30 steps, not 5


def test_bind_rejects_bad_values():
    with pytest.raises(ValueError, match=r"total_steps must be >= 1, got 0"):
        lrp.cosine().bind(total_steps=0)
    with pytest.raises(TypeError, match=r"steps_per_epoch must be an int, got 2.5"):
        lrp.cosine().bind(steps_per_epoch=2.5)


def test_sequence_binds_each_part_to_its_segment():
    s = lrp.sequence([lrp.linear(), lrp.cosine(warmup_steps="50%")], boundaries=["20%"])
    b = s.bind(total_steps=100)
    # the first part decays over its own 20 steps, the second warms up over half of its 80
    assert b(0) == 1.0 and b(10) == 0.5 and b(19) == pytest.approx(0.05)
    assert b(20) == 0.0 and b(60) == 1.0 and b(100) == 0.0
    assert b == s.bind(total_steps=100).bind(total_steps=100)


def test_hold_final_after_the_last_phase():
    big = 10**12
    assert lrp.cosine(total_steps=10, final=0.25)(big) == 0.25
    assert lrp.linear(total_steps=10, final=0.25)(big) == 0.25
    assert lrp.polynomial(total_steps=10, power=2.0, final=0.25)(big) == 0.25
    assert lrp.wsd(total_steps=10, decay_steps=3, final=0.25)(big) == 0.25
    assert lrp.one_cycle(total_steps=10)(big) == pytest.approx(1 / 25 / 1e4)
    assert lrp.interpolate([(0, 1.0), (5, 0.3)])(big) == 0.3


# --------------------------------------------------------------------------------------------
# values(), steps, arithmetic
# --------------------------------------------------------------------------------------------


def test_values_preserves_shape_and_container():
    s = lrp.linear(total_steps=4)
    assert s.values(range(3)) == [1.0, 0.75, 0.5]
    assert s.values((0, 4)) == [1.0, 0.0]
    arr = s.values(np.array([[0, 1], [2, 3]], dtype=np.int32))
    assert arr.shape == (2, 2) and arr.dtype == np.float64
    assert s.values(np.array([], dtype=np.int64)).shape == (0,)


def test_bad_steps_are_refused():
    s = lrp.linear(total_steps=4)
    with pytest.raises(ValueError, match=r"step must be >= 0, got -1"):
        s(-1)
    with pytest.raises(TypeError, match=r"step must be an int, got 1.5"):
        s(1.5)
    with pytest.raises(TypeError, match=r"step must be an int, got True"):
        s(True)
    with pytest.raises(ValueError, match=r"steps must be >= 0, got -3"):
        s.values(np.array([0, -3]))
    with pytest.raises(TypeError, match=r"steps must be integers, got dtype float64"):
        s.values(np.array([0.5]))
    assert s(np.int64(2)) == 0.5


def test_arithmetic_builds_schedules():
    a = lrp.linear(total_steps=10)
    b = lrp.constant(warmup_steps=5)
    assert (2 * a)(5) == 1.0 and (a * 2)(5) == 1.0
    assert a.scaled(3e-4)(0) == 3e-4
    assert (a * b)(2) == pytest.approx(0.8 * 0.4)
    assert 2 * (3 * a) == 6 * a  # nested scaling folds
    assert a * (b * a) == lrp.product((a, b, a))
    assert repr(0.5 * a) == "0.5 * linear(total_steps=10)"
    with pytest.raises(ValueError, match=r"factor must be >= 0, got -1"):
        -1 * a
    with pytest.raises(ValueError, match=r"factor must be a finite number, got nan"):
        a * float("nan")
    with pytest.raises(TypeError):
        a * "2"


# --------------------------------------------------------------------------------------------
# values: equality, hash, repr, pickle, configs, files
# --------------------------------------------------------------------------------------------


def test_immutable_value_semantics():
    a = lrp.cosine(total_steps=100, warmup_steps="5%")
    b = lrp.cosine(100, "5%")
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != lrp.cosine(total_steps=100, warmup_steps=5)  # same numbers, different spec
    assert repr(a) == "cosine(total_steps=100, warmup_steps='5%')"
    with pytest.raises(AttributeError):
        a.final = 0.5  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(a)) == a


def test_repr_and_config_follow_the_constructor_order():
    s = lrp.polynomial(total_steps=10, power=2.0, final=0.5, steps_per_epoch=5)
    assert repr(s) == "polynomial(total_steps=10, power=2.0, final=0.5, steps_per_epoch=5)"
    assert list(s.to_config()) == [
        "kind", "total_steps", "warmup_steps", "power", "final", "steps_per_epoch"
    ]  # fmt: skip


def test_nested_config_round_trip():
    s = (
        3e-4
        * lrp.sequence(
            [lrp.constant(warmup_steps="1ep"), lrp.piecewise(["50%"], [1.0, 0.1])],
            boundaries=["1ep"],
        )
        * lrp.cosine()
    )
    cfg = s.to_config()
    assert cfg["kind"] == "product"
    text = json.dumps(cfg)
    assert lrp.from_config(json.loads(text)) == s
    bound = s.bind(total_steps=100, steps_per_epoch=10)
    assert lrp.from_config(bound.to_config()) == bound


def test_piecewise_config_uses_the_argument_name_values():
    s = lrp.piecewise([10, 20], [1.0, 0.5, 0.1])
    assert s.to_config()["values"] == [1.0, 0.5, 0.1]
    assert "values=[1.0, 0.5, 0.1]" in repr(s)
    assert (
        lrp.from_config({"kind": "piecewise", "boundaries": [10, 20], "values": [1, 0.5, 0.1]}) == s
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"kind": "cosin"}, r"unknown kind 'cosin'; known kinds: constant, cooldown, cosine, "),
        ({"kind": "cosine", "warmup": 3}, r"unknown key\(s\) \['warmup'\] for kind 'cosine'"),
        ({"total_steps": 3}, r"config has no 'kind' key"),
        ({"kind": "custom", "fn": None}, r"unknown kind 'custom'"),
        ({"kind": "cosine", "warmup_steps": -1}, r"cosine\(\): warmup_steps must be >= 0, got -1"),
        ({"kind": "scaled", "factor": 2, "schedule": {"kind": "nope"}}, r"unknown kind 'nope'"),
    ],
)
def test_bad_configs_are_refused(config, message):
    with pytest.raises(ValueError, match=message):
        lrp.from_config(config)


def test_from_config_type_errors():
    with pytest.raises(TypeError, match=r"config must be a dict, got \[1\]"):
        lrp.from_config([1])  # type: ignore[arg-type]


def test_load_json_and_yaml(tmp_path):
    s = lrp.wsd(total_steps=1000, warmup_steps="2%", decay_steps="20%", final=0.1)
    (tmp_path / "s.json").write_text(json.dumps(s.to_config()))
    assert lrp.load(tmp_path / "s.json") == s
    yaml = require("yaml")
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(s.to_config()))
    assert lrp.load(str(tmp_path / "s.yaml")) == s
    (tmp_path / "hand.yml").write_text("kind: cosine\ntotal_steps: 100\nwarmup_steps: 5%\n")
    assert lrp.load(tmp_path / "hand.yml") == lrp.cosine(total_steps=100, warmup_steps="5%")


def test_malformed_files_are_named_in_the_error(tmp_path):
    bad_json = tmp_path / "bad.json"
    bad_json.write_text("{not json")
    with pytest.raises(ValueError, match=re.escape(str(bad_json)) + ": not valid JSON"):
        lrp.load(bad_json)
    bad_kind = tmp_path / "kind.json"
    bad_kind.write_text('{"kind": "cosine", "warmup_stepz": 3}')
    with pytest.raises(ValueError, match=re.escape(str(bad_kind)) + r": .*unknown key"):
        lrp.load(bad_kind)
    require("yaml")
    bad_yaml = tmp_path / "bad.yaml"
    bad_yaml.write_text("kind: [cosine\n")
    with pytest.raises(ValueError, match=re.escape(str(bad_yaml)) + ": not valid YAML"):
        lrp.load(bad_yaml)


def test_yaml_without_pyyaml_says_what_to_install(tmp_path):
    (tmp_path / "s.yaml").write_text("kind: constant\n")
    code = (
        "import sys; sys.modules['yaml'] = None\n"
        "import lrplugins as lrp\n"
        "try:\n"
        f"    lrp.load({str(tmp_path / 's.yaml')!r})\n"
        "except ImportError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'lrplugins[yaml]'" in out.stdout


# --------------------------------------------------------------------------------------------
# custom()
# --------------------------------------------------------------------------------------------


def square_decay(step: int) -> float:
    return 1.0 / (1 + step) ** 2


def test_custom_schedules():
    s = lrp.custom(square_decay)
    assert s(1) == 0.25 and s.values([0, 1]) == [1.0, 0.25]
    assert s.values(np.array([3])).tolist() == [1 / 16]
    assert pickle.loads(pickle.dumps(s)) == s
    with pytest.raises(TypeError, match=r"custom\(\): a schedule built from a Python callable"):
        s.to_config()
    with pytest.raises(TypeError, match=r"fn must be callable, got 3"):
        lrp.custom(3)  # type: ignore[arg-type]
    # composes like any schedule
    joined = lrp.sequence([lrp.constant(), s], boundaries=[2])
    assert joined.values([0, 1, 2, 3]) == [1.0, 1.0, 1.0, 0.25]


@pytest.mark.parametrize("bad", [float("nan"), -0.5, float("inf"), "x"])
def test_custom_outputs_are_checked(bad):
    s = lrp.custom(lambda step: bad)
    with pytest.raises((ValueError, TypeError), match=r"custom\(\): fn\(3\) must return"):
        s(3)


# --------------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------------

BAD = [
    (
        lambda: lrp.cosine(warmup_steps=-5),
        ValueError,
        r"cosine\(\): warmup_steps must be >= 0, got -5",
    ),
    (
        lambda: lrp.cosine(total_steps=10, warmup_steps=20),
        ValueError,
        r"cosine\(\): warmup_steps \(20\) must be <= total_steps \(10\)",
    ),
    (
        lambda: lrp.linear(total_steps=100, warmup_steps="150%"),
        ValueError,
        r"at most 100%, got '150%'",
    ),
    (lambda: lrp.cosine(total_steps=0), ValueError, r"cosine\(\): total_steps must be >= 1, got 0"),
    (
        lambda: lrp.cosine(total_steps="50%"),
        ValueError,
        r"total_steps must be an int number of steps, 'Nep'",
    ),
    (lambda: lrp.cosine(total_steps=10.0), TypeError, r"total_steps must be an int, got 10.0"),
    (
        lambda: lrp.cosine(warmup_steps="5 %"),
        ValueError,
        r"warmup_steps must be an int number of steps, 'N%' \(of total_steps\) or 'Nep' \(epochs\), got '5 %'",
    ),
    (lambda: lrp.cosine(warmup_steps="five"), ValueError, r"got 'five'"),
    (lambda: lrp.cosine(warmup_steps=True), TypeError, r"warmup_steps must be an int, got True"),
    (lambda: lrp.cosine(final=1.5), ValueError, r"cosine\(\): final must be in \[0, 1\], got 1.5"),
    (lambda: lrp.cosine(final=float("nan")), ValueError, r"final must be a finite number, got nan"),
    (lambda: lrp.cosine(final="0.1"), TypeError, r"final must be a number, got '0.1'"),
    (lambda: lrp.cosine(final=True), TypeError, r"final must be a number, got True"),
    (lambda: lrp.cosine(final=None), TypeError, r"final must be a number, got None"),
    (lambda: lrp.polynomial(power=0.0), ValueError, r"power must be > 0, got 0.0"),
    (lambda: lrp.polynomial(power=-1), ValueError, r"power must be > 0, got -1"),
    (lambda: lrp.exponential(-0.5), ValueError, r"rate must be in \(0, 1\], got -0.5"),
    (lambda: lrp.exponential(0.5, every=0), ValueError, r"every must be >= 1, got 0"),
    (lambda: lrp.exponential(0.5, every="0ep"), ValueError, r"every must be > 0, got '0ep'"),
    (
        lambda: lrp.exponential(0.5, staircase=1),
        TypeError,
        r"staircase must be True or False, got 1",
    ),
    (
        lambda: lrp.multistep([10, 5]),
        ValueError,
        r"milestones must be strictly increasing, got \[10, 5\]",
    ),
    (lambda: lrp.multistep([10, 10]), ValueError, r"strictly increasing"),
    (lambda: lrp.multistep(10), TypeError, r"milestones must be a list, got 10"),
    (
        lambda: lrp.multistep({30: 0.1, 60: 0.1}),
        TypeError,
        r"multistep\(\): milestones must be a list, got \{30: 0.1, 60: 0.1\}",
    ),
    (lambda: lrp.multistep({30, 60}), TypeError, r"milestones must be a list, got \{\d+, \d+\}"),
    (
        lambda: lrp.piecewise({10: 1.0}, [1.0, 0.5]),
        TypeError,
        r"piecewise\(\): boundaries must be a list, got \{10: 1.0\}",
    ),
    (lambda: lrp.multistep([5], gamma=-0.1), ValueError, r"gamma must be >= 0, got -0.1"),
    (
        lambda: lrp.piecewise([10], [1.0]),
        ValueError,
        r"values must have one more entry than boundaries \(1 boundaries\), got 1 values",
    ),
    (lambda: lrp.piecewise([10], [1.0, -2.0]), ValueError, r"values\[1\] must be >= 0, got -2.0"),
    (lambda: lrp.interpolate([]), ValueError, r"knots must hold at least one"),
    (
        lambda: lrp.interpolate([(0, 1.0), (0, 0.5)]),
        ValueError,
        r"knot steps must be strictly increasing",
    ),
    (
        lambda: lrp.interpolate([(0, 1.0, 2)]),
        ValueError,
        r"knots\[0\] must be a \(step, multiplier\) pair",
    ),
    (
        lambda: lrp.interpolate([(0, 1.0)], shape="cubic"),
        ValueError,
        r"shape must be one of 'linear', 'cosine', got 'cubic'",
    ),
    (
        lambda: lrp.wsd(warmup_shape="cubic"),
        ValueError,
        r"wsd\(\): warmup_shape must be one of 'linear', 'cosine', '1-sqrt', got 'cubic'",
    ),
    (
        lambda: lrp.wsd(total_steps=10, warmup_steps=6, decay_steps=5),
        ValueError,
        r"warmup_steps \+ decay_steps \(6 \+ 5\) must be <= total_steps \(10\)",
    ),
    (
        lambda: lrp.one_cycle(total_steps=1),
        ValueError,
        r"one_cycle\(\): total_steps must be >= 2, got 1",
    ),
    (lambda: lrp.one_cycle(pct_start=1.0), ValueError, r"pct_start must be in \(0, 1\), got 1.0"),
    (
        lambda: lrp.one_cycle(pct_start=0.6, three_phase=True),
        ValueError,
        r"pct_start must be < 0.5",
    ),
    (
        lambda: lrp.one_cycle(anneal="cosine"),
        ValueError,
        r"anneal must be one of 'cos', 'linear', got 'cosine'",
    ),
    (lambda: lrp.cyclic(0), ValueError, r"step_size_up must be >= 1, got 0"),
    (lambda: lrp.cyclic(5, mode="tri"), ValueError, r"mode must be one of 'triangular'"),
    (lambda: lrp.cyclic(5, gamma=0.9), ValueError, r"gamma is only used with mode='exp_range'"),
    (
        lambda: lrp.cosine_restarts(10, cycle_mult=0.5),
        ValueError,
        r"cycle_mult must be >= 1, got 0.5",
    ),
    (lambda: lrp.cosine_restarts(10, decay=0.0), ValueError, r"decay must be in \(0, 1\], got 0.0"),
    (lambda: lrp.inverse_sqrt(timescale=0), ValueError, r"timescale must be >= 1, got 0"),
    (lambda: lrp.inverse_time(0, 0.5), ValueError, r"decay_steps must be >= 1, got 0"),
    (lambda: lrp.inverse_time(10, -0.5), ValueError, r"rate must be >= 0, got -0.5"),
    (
        lambda: lrp.sequence([lrp.constant()], boundaries=[5]),
        ValueError,
        r"boundaries must have one entry fewer than schedules \(1 schedules\), got 1 boundaries",
    ),
    (
        lambda: lrp.sequence([lrp.constant(), 3], boundaries=[5]),
        TypeError,
        r"schedules\[1\] must be a schedule, got 3",
    ),
    (
        lambda: lrp.sequence([lrp.constant(), lrp.constant()], boundaries=[20], total_steps=10),
        ValueError,
        r"the last part starts at step 20, after total_steps \(10\)",
    ),
    (
        lambda: lrp.sequence([lrp.constant(), lrp.constant()], boundaries=[0]),
        ValueError,
        r"sequence\(\): boundaries\[0\] must be >= 1 steps, got 0",
    ),
    (lambda: lrp.constant(steps_per_epoch=0), ValueError, r"steps_per_epoch must be >= 1, got 0"),
    (
        lambda: lrp.constant(warmup_steps="2ep", steps_per_epoch=10, total_steps=5),
        ValueError,
        r"warmup_steps \(20\) must be <= total_steps \(5\)",
    ),
]


@pytest.mark.parametrize(("make", "error", "message"), BAD)
def test_bad_arguments_raise_naming_the_argument_and_value(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_linear_and_wsd_warm_up_from_warmup_start():
    lin = lrp.linear(total_steps=10, warmup_steps=4, final=0.5, warmup_start=0.2)
    assert lin.values([0, 2, 4, 7, 10, 11]) == pytest.approx([0.2, 0.6, 1.0, 0.75, 0.5, 0.5])
    assert lrp.linear(total_steps=10, warmup_steps=4).values([0, 2]) == [0.0, 0.5]
    # wsd warms up from `final` unless told otherwise (transformers' get_wsd_schedule)
    w = lrp.wsd(total_steps=10, warmup_steps=4, decay_steps=2, final=0.2, decay_shape="linear")
    assert w.values([0, 2, 4, 9, 10]) == pytest.approx([0.2, 0.6, 1.0, 0.6, 0.2])
    w0 = lrp.wsd(total_steps=10, warmup_steps=4, decay_steps=2, final=0.2, decay_shape="linear",
                 warmup_start=0.0)  # fmt: skip
    assert w0.values([0, 2, 4, 9, 10]) == pytest.approx([0.0, 0.5, 1.0, 0.6, 0.2])
    assert (
        repr(w)
        == "wsd(total_steps=10, warmup_steps=4, decay_steps=2, final=0.2, decay_shape='linear')"
    )
    assert lrp.from_config(w0.to_config()) == w0 and w0.to_config()["warmup_start"] == 0.0
    with pytest.raises(ValueError, match=r"linear\(\): warmup_start must be in \[0, 1\], got 1.5"):
        lrp.linear(total_steps=10, warmup_start=1.5)
    with pytest.raises(TypeError, match=r"wsd\(\): warmup_start must be a number, got '0'"):
        lrp.wsd(total_steps=10, warmup_start="0")


def test_bad_argument_found_at_bind_time_is_named():
    s = lrp.cosine(warmup_steps=50)
    with pytest.raises(ValueError, match=r"warmup_steps \(50\) must be <= total_steps \(10\)"):
        s.bind(total_steps=10)


def test_unknown_keyword_is_a_type_error():
    with pytest.raises(TypeError, match="warmup"):
        lrp.cosine(warmup=10)  # type: ignore[call-arg]


# --------------------------------------------------------------------------------------------
# extreme valid parameters
# --------------------------------------------------------------------------------------------

EXTREME = [
    lrp.cosine(total_steps=10**15, warmup_steps=10**14, final=1e-300),
    lrp.cosine(total_steps=1),
    lrp.cosine(total_steps=1, warmup_steps=1),
    lrp.linear(total_steps=1, warmup_steps=1),
    lrp.polynomial(total_steps=1, power=1e-300),
    lrp.polynomial(total_steps=10**12, power=1e300),
    lrp.polynomial(total_steps=10, warmup_steps=10, power=3.0),
    lrp.exponential(1e-300),
    lrp.exponential(1.0 - 1e-16, every=10**15, staircase=True),
    lrp.inverse_sqrt(timescale=1),
    lrp.inverse_sqrt(warmup_steps=10**15),
    lrp.inverse_time(1, 1e300),
    lrp.one_cycle(total_steps=2, pct_start=1e-9, div_factor=1e300, final_div_factor=1e300),
    lrp.one_cycle(total_steps=3, pct_start=0.49, three_phase=True),
    lrp.one_cycle(total_steps=10**15),
    lrp.cyclic(1, low=0.0, mode="exp_range", gamma=1e-300),
    lrp.cyclic(10**15, mode="triangular2"),
    lrp.cosine_restarts(1, cycle_mult=1e300, decay=1e-300),
    lrp.cosine_restarts(1, cycle_mult=3.0, decay=0.5),
    lrp.cosine_restarts(10**15, cycle_mult=1.0000001),
    lrp.wsd(total_steps=1, decay_steps=1, decay_shape="cosine"),
    lrp.wsd(total_steps=1, warmup_steps=1, decay_steps=0, warmup_shape="1-sqrt"),
    lrp.wsd(total_steps=10**15, warmup_steps="1%", decay_steps="99%"),
    lrp.multistep(list(range(1, 2000)), gamma=0.5),
    lrp.interpolate([(10**15, 1e300), (10**15 + 1, 0.0)]),
    lrp.constant(warmup_steps=10**15),
]
HUGE_STEPS = [0, 1, 2, 3, 10, 10**6, 2**53 - 1, 2**53, 2**63 - 1, 10**30]


@pytest.mark.parametrize("s", EXTREME, ids=repr)
def test_extreme_valid_parameters_give_finite_non_negative_values(s):
    for t in HUGE_STEPS:
        x = s(t)
        assert math.isfinite(x) and x >= 0.0, (t, x)
    arr = s.values(np.array([t for t in HUGE_STEPS if t < 2**63], dtype=np.int64))
    assert np.all(np.isfinite(arr)) and np.all(arr >= 0.0)


# --------------------------------------------------------------------------------------------
# numpy / torch / jax scalars are plain values once inside a schedule
# --------------------------------------------------------------------------------------------


def _same(a: lrp.Schedule, b: lrp.Schedule) -> None:
    """Equal, same hash, repr and config (JSON-serializable), same values, plain field types."""
    assert a == b and hash(a) == hash(b) and repr(a) == repr(b)
    assert json.dumps(a.to_config(), allow_nan=False) == json.dumps(b.to_config(), allow_nan=False)
    if a.is_bound:
        steps = [*range(40), 10**6]
        assert [a(t) for t in steps] == [b(t) for t in steps]
        assert a.values(steps) == b.values(steps)

    def plain_types(x):
        if isinstance(x, tuple):
            return all(plain_types(e) for e in x)
        return type(x) in (int, float, bool, str, type(None)) or isinstance(x, lrp.Schedule)

    for f in dataclasses.fields(a):
        assert plain_types(getattr(a, f.name)), (f.name, type(getattr(a, f.name)))


NUMPY_CASES = [
    (lambda: lrp.cosine(total_steps=np.int64(10)), lambda: lrp.cosine(total_steps=10)),
    (lambda: lrp.constant(warmup_steps=np.int64(5)), lambda: lrp.constant(warmup_steps=5)),
    (lambda: lrp.multistep([np.int64(3)]), lambda: lrp.multistep([3])),
    (lambda: lrp.multistep(np.array([3, 6]), gamma=np.float64(0.5)), lambda: lrp.multistep([3, 6], 0.5)),
    (lambda: lrp.cosine(total_steps=10, final=np.float32(0.1)), lambda: lrp.cosine(total_steps=10, final=0.1)),
    (lambda: lrp.cosine(total_steps=np.array(10), final=np.array(0.1, dtype=np.float32)),
     lambda: lrp.cosine(total_steps=10, final=0.1)),
    (lambda: lrp.linear(total_steps=10, final=np.float16(0.1)), lambda: lrp.linear(total_steps=10, final=0.1)),
    (lambda: lrp.linear(total_steps=10, final=np.float64(0.1)), lambda: lrp.linear(total_steps=10, final=0.1)),
    (lambda: lrp.wsd(total_steps=np.uint32(100), decay_steps=np.int32(20), decay_shape=np.str_("cosine")),
     lambda: lrp.wsd(total_steps=100, decay_steps=20, decay_shape="cosine")),
    (lambda: lrp.piecewise(np.array([10, 20]), np.array([1.0, 0.5, 0.1], dtype=np.float32)),
     lambda: lrp.piecewise([10, 20], [1.0, 0.5, 0.1])),
    (lambda: lrp.interpolate([(np.int64(0), np.float32(1.0)), (np.int64(10), np.float32(0.3))]),
     lambda: lrp.interpolate([(0, 1.0), (10, 0.3)])),
    (lambda: lrp.exponential(np.float32(0.9), every=np.int64(2), staircase=np.bool_(True)),
     lambda: lrp.exponential(0.9, every=2, staircase=True)),
    (lambda: lrp.one_cycle(total_steps=np.int64(100), pct_start=np.float32(0.25)),
     lambda: lrp.one_cycle(total_steps=100, pct_start=0.25)),
    (lambda: np.float32(0.3) * lrp.linear(total_steps=4), lambda: 0.3 * lrp.linear(total_steps=4)),
    (lambda: lrp.linear(total_steps=4) * np.float32(0.3), lambda: 0.3 * lrp.linear(total_steps=4)),
    (lambda: lrp.sequence([lrp.constant(), lrp.linear()], boundaries=np.array([2]), total_steps=np.int64(6)),
     lambda: lrp.sequence([lrp.constant(), lrp.linear()], boundaries=[2], total_steps=6)),
    (lambda: lrp.cosine(warmup_steps=np.int64(3)).bind(total_steps=np.int64(10), steps_per_epoch=np.int32(2)),
     lambda: lrp.cosine(warmup_steps=3).bind(total_steps=10, steps_per_epoch=2)),
]  # fmt: skip


@pytest.mark.parametrize(("given", "meant"), NUMPY_CASES)
def test_numpy_scalars_and_arrays_give_the_same_schedule_as_plain_values(given, meant):
    _same(given(), meant())


def test_a_float32_argument_means_its_shortest_decimal():
    s = lrp.cosine(total_steps=10, final=np.float32(0.1))
    assert s.final == 0.1 and type(s.final) is float and s(10) == 0.1
    # float64 scalars convert exactly, even where float32 would have rounded
    assert lrp.cosine(final=np.float64(0.1 + 1e-17)).final == 0.1 + 1e-17
    assert lrp.cosine(final=np.float32(1 / 3)).final == 0.33333334
    assert lrp.cosine(final=np.float16(1 / 3)).final == 0.3333


@pytest.mark.parametrize(
    "true", [True, np.bool_(True), np.array(True)], ids=["bool", "np.bool_", "0-d"]
)
def test_bools_are_refused_whatever_their_type(true):
    with pytest.raises(TypeError, match=r"cosine\(\): final must be a number, got True$"):
        lrp.cosine(final=true)
    with pytest.raises(TypeError, match=r"cosine\(\): warmup_steps must be an int, got True$"):
        lrp.cosine(warmup_steps=true)
    with pytest.raises(
        TypeError, match=r"multistep\(\): milestones\[0\] must be an int, got True$"
    ):
        lrp.multistep([true])
    with pytest.raises(TypeError, match=r"Plateau\(\): factor must be a number, got True$"):
        lrp.Plateau(factor=true)


def test_torch_scalars_are_plain_values():
    torch = require("torch")
    _same(
        lrp.cosine(
            total_steps=torch.tensor(10), warmup_steps=torch.tensor(2), final=torch.tensor(0.1)
        ),
        lrp.cosine(total_steps=10, warmup_steps=2, final=0.1),
    )
    _same(lrp.multistep(torch.tensor([3, 6]), gamma=torch.tensor(0.5, dtype=torch.float64)),
          lrp.multistep([3, 6], gamma=0.5))  # fmt: skip
    assert lrp.linear(final=torch.tensor(0.1, dtype=torch.bfloat16)).final == 0.1
    assert lrp.linear(final=torch.tensor(0.1, dtype=torch.float16)).final == 0.1
    with pytest.raises(TypeError, match=r"final must be a number, got True$"):
        lrp.cosine(final=torch.tensor(True))


def test_jax_scalars_are_plain_values():
    jnp = require("jax.numpy")
    _same(
        lrp.cosine(total_steps=jnp.int32(10), warmup_steps=jnp.array(2), final=jnp.float32(0.1)),
        lrp.cosine(total_steps=10, warmup_steps=2, final=0.1),
    )
    _same(lrp.piecewise(jnp.array([3, 6]), jnp.array([1.0, 0.5, 0.25])),
          lrp.piecewise([3, 6], [1.0, 0.5, 0.25]))  # fmt: skip
    assert lrp.linear(final=jnp.bfloat16(0.1)).final == 0.1


def test_plateau_arguments_are_plain_values():
    given = lrp.Plateau(factor=np.float32(0.5), patience=np.int64(2), threshold=np.float32(1e-3),
                        cooldown=np.int32(1), min_scale=np.float16(0.01), eps=np.float64(1e-9))  # fmt: skip
    meant = lrp.Plateau(
        factor=0.5, patience=2, threshold=1e-3, cooldown=1, min_scale=0.01, eps=1e-9
    )
    assert given.to_config() == meant.to_config()
    assert all(type(x) in (int, float, str) for x in given.to_config().values())
    json.dumps(given.to_config(), allow_nan=False)
    stream = [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5, 0.5]
    assert [given.update(x) for x in stream] == [meant.update(x) for x in stream]


# --------------------------------------------------------------------------------------------
# the registry is the one list of kinds
# --------------------------------------------------------------------------------------------


def test_every_registered_kind_is_exported_configurable_and_in_the_spec_catalog():
    from lrplugins import _schedules
    from lrplugins._schedules import base, io
    from lrplugins._schedules.base import REGISTRY
    from lrplugins.spec import CATALOG

    # the schedule part of lrplugins.__all__ is exactly the registry's names, base and io aside
    names = {n for k in REGISTRY.values() for n in (k.build.__name__, k.cls.__name__)}
    assert set(_schedules.__all__) - set(base.__all__) - set(io.__all__) == names
    assert set(_schedules.__all__) <= set(lrp.__all__) and len(lrp.__all__) == len(set(lrp.__all__))
    for k in REGISTRY.values():
        assert getattr(lrp, k.build.__name__) is k.build and getattr(lrp, k.cls.__name__) is k.cls
        assert k.cls.kind == k.name
        assert (k.name in CATALOG) == k.inline and CATALOG.get(k.name, k.build) is k.build
    assert lrp.piecewise is REGISTRY["piecewise"].build  # a function around PiecewiseConstant
    assert list(CATALOG)[:3] == ["constant", "linear", "cosine"]  # definition order


# --------------------------------------------------------------------------------------------
# the core stays framework-free and fast to import
# --------------------------------------------------------------------------------------------

FRAMEWORKS = ["torch", "keras", "tensorflow", "jax", "transformers", "lightning", "numpy"]


def test_import_lrplugins_loads_no_framework_and_no_numpy():
    code = (
        "import sys, lrplugins as lrp\n"
        "s = lrp.cosine(total_steps=100, warmup_steps='5%')\n"
        "s(3); lrp.from_config(s.to_config())\n"
        f"print([m for m in {FRAMEWORKS!r} if m in sys.modules])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
