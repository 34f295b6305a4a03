"""Clocks in the core: durations in samples and tokens, ``s.clock``, the one-clock rule, binding.

A schedule runs on the clock its durations are written in: optimizer steps (ints, ``"Nep"``),
samples (``"Nsp"``) or tokens (``"Ntok"``). The formulas are the same on every clock, so a schedule
written in samples gives, at ``t`` samples, exactly what the same schedule written in steps gives
at step ``t``. Random schedules of every kind are checked that way in test_properties.py; the
equality with Megatron-LM's sample mode under a batch ramp is in test_megatron_parity.py.
"""

from __future__ import annotations

import json
import pickle
import re

import numpy as np
import pytest

import lrplugins as lrp
from lrplugins import UnboundScheduleError
from lrplugins.spec import parse_spec

# --------------------------------------------------------------------------------------------
# the units
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "count"),
    [
        ("512sp", 512),
        ("512tok", 512),
        ("1Ksp", 1_000),
        ("1.5Mtok", 1_500_000),
        ("2Btok", 2_000_000_000),
        ("0.3Ttok", 300_000_000_000),
        ("300Btok", 300_000_000_000),
        ("1.25Ksp", 1_250),
        (".5Ksp", 500),
        ("7.sp", 7),
        ("0.0001Ksp", 1),  # 0.1 sample rounds up
        ("1.0000001Ksp", 1_001),  # 1000.0001 rounds up
        ("2.5sp", 3),
        ("0.1Btok", 100_000_000),  # an exact decimal: not 100000000.00000001 -> 100000001
    ],
)
def test_samples_and_tokens_round_up_to_a_whole_count(written, count):
    s = lrp.constant(warmup_steps=written)
    assert s._p == (count,)
    assert s.clock == ("samples" if written.endswith("sp") else "tokens")
    assert s.phases()[1].start == count


@pytest.mark.parametrize(
    "bad",
    ["2Xtok", "-5tok", "5 tok", "5tokens", "1.5mtok", "1e9tok", "tok", "Ksp", "5KKsp", "5Kep",
     "5K%", "5sp ", " 5sp", "1,000sp", "5smp", "5TOK"],
)  # fmt: skip
def test_malformed_units_are_refused_naming_the_argument(bad):
    with pytest.raises(ValueError) as info:
        lrp.cosine(total_steps="1Msp", warmup_steps=bad)
    msg = str(info.value)
    assert msg.startswith("cosine(): warmup_steps must be an int number of steps")
    assert f"got {bad!r}" in msg
    assert "'Nsp'" in msg and "'Ntok'" in msg and "'1.5Mtok'" in msg


def test_a_total_in_samples_or_tokens_must_be_positive_and_is_not_a_percentage():
    with pytest.raises(ValueError, match=r"cosine\(\): total_steps must be > 0, got '0Btok'"):
        lrp.cosine(total_steps="0Btok")
    with pytest.raises(ValueError, match=r"total_steps must be an int number of steps, 'Nep'"):
        lrp.cosine(total_steps="50%")
    with pytest.raises(ValueError, match=r"exponential\(\): every must be > 0, got '0Ksp'"):
        lrp.exponential(0.5, every="0Ksp")


def test_percentages_are_of_the_total_in_its_unit():
    s = lrp.wsd(total_steps="2Mtok", warmup_steps="5%", decay_steps="20%")
    assert s.clock == "tokens"
    assert [tuple(ph) for ph in s.phases()] == [
        ("warmup", 0, 100_000),
        ("stable", 100_000, 1_600_000),
        ("decay", 1_600_000, 2_000_000),
        ("hold", 2_000_000, None),
    ]
    assert s.end == 2_000_000
    assert s(99_999) < 1.0 == s(100_000) == s(1_599_999) and s(2_000_000) == 0.0


# --------------------------------------------------------------------------------------------
# the clock, and the same formulas on it
# --------------------------------------------------------------------------------------------


def test_the_clock_is_decided_by_the_units():
    assert lrp.cosine(total_steps=100).clock == "steps"
    assert lrp.cosine(total_steps="2ep", steps_per_epoch=5).clock == "steps"
    assert lrp.cosine(total_steps="10Msp").clock == "samples"
    assert lrp.cosine(total_steps="300Btok", warmup_steps="1%").clock == "tokens"
    # durations that mean the same on every clock (0, "N%") decide nothing: the steps clock
    assert lrp.cosine(warmup_steps="5%").clock == "steps"
    assert lrp.constant().clock == "steps"
    assert lrp.custom(lambda t: 1.0).clock == "steps"


@pytest.mark.parametrize(
    ("on_steps", "on_clock"),
    [
        (lrp.cosine(total_steps=1000, warmup_steps=100, final=0.1, warmup_start=0.2),
         lrp.cosine(total_steps="1Ksp", warmup_steps="100sp", final=0.1, warmup_start=0.2)),
        (lrp.linear(total_steps=1000, warmup_steps=50, warmup_start=0.5),
         lrp.linear(total_steps="0.001Mtok", warmup_steps="5%", warmup_start=0.5)),
        (lrp.wsd(total_steps=1000, warmup_steps=100, decay_steps=200, warmup_start=0.3),
         lrp.wsd(total_steps="1Ktok", warmup_steps="100tok", decay_steps="0.2Ktok", warmup_start=0.3)),
        (lrp.cosine_restarts(100, cycle_mult=2.0, warmup_steps=10),
         lrp.cosine_restarts("100sp", cycle_mult=2.0, warmup_steps="10sp")),
        (lrp.multistep([100, 300], gamma=0.5), lrp.multistep(["100tok", "0.3Ktok"], gamma=0.5)),
        (lrp.interpolate([(0, 0.0), (100, 1.0), (1000, 0.1)]),
         lrp.interpolate([("0sp", 0.0), ("100sp", 1.0), ("1Ksp", 0.1)])),
        (lrp.one_cycle(1000), lrp.one_cycle("1Ksp")),
        (lrp.one_cycle_momentum(1000), lrp.one_cycle_momentum("1Ksp")),
        (lrp.cyclic_momentum(100, 300), lrp.cyclic_momentum("100tok", "300tok")),
        (lrp.sequence([lrp.constant(warmup_steps="10%"), lrp.linear()], boundaries=[200], total_steps=1000),
         lrp.sequence([lrp.constant(warmup_steps="10%"), lrp.linear()], boundaries=["200sp"], total_steps="1Ksp")),
        (lrp.constant(warmup_steps=100).cooldown(at=600, steps=300),
         lrp.constant(warmup_steps="100tok").cooldown(at="600tok", steps="300tok")),
        (lrp.cosine(total_steps=1000).stretch(at=500, total_steps=1500),
         lrp.cosine(total_steps="1Ksp").stretch(at="500sp", total_steps="1.5Ksp")),
        (0.5 * lrp.linear(total_steps=1000) * lrp.constant(warmup_steps=100),
         0.5 * lrp.linear(total_steps="1Ktok") * lrp.constant(warmup_steps="100tok")),
    ],
)  # fmt: skip
def test_the_formulas_are_the_same_on_every_clock(on_steps, on_clock):
    ts = np.arange(0, 2_000)
    np.testing.assert_array_equal(on_clock.values(ts), on_steps.values(ts))
    assert [on_clock(int(t)) for t in ts] == [on_steps(int(t)) for t in ts]
    assert on_clock.phases() == on_steps.phases() and on_clock.end == on_steps.end
    assert on_clock.clock in ("samples", "tokens") and on_steps.clock == "steps"


def test_large_token_counts_are_exact():
    s = lrp.cosine(total_steps="300Btok", warmup_steps="2Btok", final=0.1)
    assert s(0) == 0.0 and s(10**9) == 0.5 and s(2 * 10**9) == 1.0
    assert s(300 * 10**9) == s(10**15) == 0.1
    ts = np.array([0, 10**9, 151 * 10**9, 300 * 10**9 - 1, 300 * 10**9], dtype=np.int64)
    np.testing.assert_allclose(s.values(ts), [s(int(t)) for t in ts], rtol=1e-12, atol=0)


def test_configs_keep_the_units():
    s = lrp.sequence(
        [lrp.wsd(warmup_steps="2Btok", decay_steps="20%"), lrp.constant()],
        boundaries=["300Btok"],
        total_steps="0.31Ttok",
    ).cooldown(at="305Btok", steps="2.5Btok", final=0.01)
    cfg = json.loads(json.dumps(s.to_config()))
    assert cfg["at"] == "305Btok" and cfg["steps"] == "2.5Btok"
    assert cfg["schedule"]["boundaries"] == ["300Btok"]
    assert cfg["schedule"]["schedules"][0]["warmup_steps"] == "2Btok"
    back = lrp.from_config(cfg)
    assert back == s and back.clock == "tokens" and repr(back) == repr(s)
    assert pickle.loads(pickle.dumps(s)).clock == "tokens"
    assert back(306 * 10**9) == s(306 * 10**9)


def test_an_inline_spec_takes_the_units():
    s = parse_spec('cosine(total_steps="300Btok", warmup_steps="1%") * 0.5')
    assert s.clock == "tokens" and s(3 * 10**9) == 0.5


# --------------------------------------------------------------------------------------------
# one clock per schedule
# --------------------------------------------------------------------------------------------

MIXED = [
    (lambda: lrp.cosine(total_steps="1Msp", warmup_steps="1Ktok"),
     "warmup_steps='1Ktok' is in tokens", "total_steps='1Msp' is in samples"),
    (lambda: lrp.cosine(total_steps="300Btok", warmup_steps=100),
     "warmup_steps=100 is in optimizer steps", "total_steps='300Btok' is in tokens"),
    (lambda: lrp.cosine(total_steps=1000, warmup_steps="10sp"),
     "warmup_steps='10sp' is in samples", "total_steps=1000 is in optimizer steps"),
    (lambda: lrp.cosine(total_steps="1Msp", warmup_steps="1ep"),
     "warmup_steps='1ep' is in epochs", "total_steps='1Msp' is in samples"),
    (lambda: lrp.wsd(total_steps="1Mtok", warmup_steps="5%", decay_steps="1Ksp"),
     "decay_steps='1Ksp' is in samples", "total_steps='1Mtok' is in tokens"),
    (lambda: lrp.multistep(["1Ksp", 2000]),
     "milestones[1]=2000 is in optimizer steps", "milestones[0]='1Ksp' is in samples"),
    (lambda: lrp.interpolate([("0tok", 0.0), (10, 1.0)]),
     "knots[1] step=10 is in optimizer steps", "knots[0] step='0tok' is in tokens"),
    (lambda: lrp.cyclic_momentum("10sp", "10tok"),
     "step_size_down='10tok' is in tokens", "step_size_up='10sp' is in samples"),
    (lambda: lrp.constant(warmup_steps="1Ksp") * lrp.linear(total_steps="1Mtok"),
     "schedules[1] (linear(total_steps='1Mtok')) runs on the tokens clock",
     "schedules[0] (constant(warmup_steps='1Ksp')) runs on the samples clock"),
    (lambda: lrp.sequence([lrp.constant(), lrp.linear(total_steps=10)], boundaries=["1Ksp"]),
     "boundaries[0]='1Ksp' is in samples", "schedules[1] (linear(total_steps=10)) runs on the steps clock"),
    (lambda: lrp.constant(warmup_steps="1Ksp").cooldown(at=100, steps=10),
     "at=100 is in optimizer steps", "schedule (constant(warmup_steps='1Ksp')) runs on the samples clock"),
    (lambda: lrp.linear(total_steps="1Ksp").cooldown(at="500sp", steps="1Ktok"),
     "steps='1Ktok' is in tokens", "schedule (linear(total_steps='1Ksp')) runs on the samples clock"),
    (lambda: lrp.cosine(total_steps="1Mtok").stretch(at=10, total_steps="2Mtok"),
     "at=10 is in optimizer steps", "schedule (cosine(total_steps='1Mtok')) runs on the tokens clock"),
    (lambda: lrp.from_config({"kind": "product", "schedules": [
        {"kind": "constant", "warmup_steps": "2Btok"}, {"kind": "linear", "total_steps": 100}]}),
     "schedules[1] (linear(total_steps=100)) runs on the steps clock",
     "schedules[0] (constant(warmup_steps='2Btok')) runs on the tokens clock"),
]  # fmt: skip


@pytest.mark.parametrize(("build", "this", "first"), MIXED)
def test_a_mix_of_clocks_is_refused_naming_both_arguments_and_units(build, this, first):
    with pytest.raises(ValueError) as info:
        build()
    msg = str(info.value)
    assert f"{this} but {first}" in msg, msg
    assert msg.endswith(
        "all durations of one schedule share one clock (optimizer steps and epochs, samples, or "
        "tokens)"
    )


def test_composites_take_their_parts_clock():
    tok = lrp.linear(total_steps="1Mtok")
    assert (0.5 * tok).clock == "tokens"
    assert (tok * lrp.constant()).clock == "tokens"  # a part that declares nothing fits
    assert (tok * lrp.custom(lambda t: 1.0)).clock == "tokens"
    assert tok.cooldown(at="0.5Mtok", steps=0).clock == "tokens"
    assert tok.stretch(at="0.5Mtok", total_steps="2Mtok").clock == "tokens"
    # a total in samples and a part in tokens: refused
    with pytest.raises(ValueError, match=r"total_steps='2Msp' is in samples but schedules\[1\]"):
        lrp.sequence([lrp.constant(), tok], boundaries=["10%"], total_steps="2Msp")
    neutral = lrp.sequence([lrp.constant(), lrp.linear()], boundaries=["10%"], total_steps="2Msp")
    assert neutral.clock == "samples" and neutral(200_000) == 1.0 and neutral(2_000_000) == 0.0


def test_steps_per_epoch_is_refused_on_the_samples_and_tokens_clocks():
    with pytest.raises(ValueError) as info:
        lrp.cosine(total_steps="1Msp", steps_per_epoch=10)
    assert str(info.value) == (
        "cosine(): steps_per_epoch is only for 'Nep' durations, on the steps clock; this schedule "
        "runs on the samples clock (total_steps='1Msp' is in samples), got steps_per_epoch=10"
    )


# --------------------------------------------------------------------------------------------
# binding: a samples or tokens schedule needs its total in its own unit
# --------------------------------------------------------------------------------------------


def test_an_update_count_does_not_bind_a_samples_or_tokens_schedule():
    s = lrp.cosine(warmup_steps="2Btok")
    assert not s.is_bound and s.clock == "tokens"
    hint = "total_steps in tokens (e.g. total_steps='300Btok'; an update count cannot bind it)"
    assert s.missing == (hint,)
    b = s.bind(total_steps=1000, steps_per_epoch=10)
    assert b == s and not b.is_bound and b.missing == (hint,)
    with pytest.raises(UnboundScheduleError) as info:
        b(0)
    msg = str(info.value)
    assert "cosine(warmup_steps='2Btok') is unbound: missing total_steps in tokens" in msg
    assert "pass total_steps='300Btok' to the schedule or to .bind()" in msg
    assert "cannot derive it from the trainer" in msg
    with pytest.raises(UnboundScheduleError, match="total_steps in tokens"):
        b.values([0, 1])
    # a percentage needs the total too, and says so in the unit
    w = lrp.wsd(warmup_steps="1Ksp", decay_steps="20%")
    assert w.missing == (
        "total_steps in samples (e.g. total_steps='10Msp'; an update count cannot bind it)",
    )
    seq = lrp.sequence([lrp.constant(), lrp.linear()], boundaries=["1Ksp"])
    assert seq.bind(total_steps=5_000).missing == (
        (
            "total_steps in samples (e.g. total_steps='10Msp'; an update count cannot bind it) in "
            "schedules[1]"
        ),
    )


def test_a_total_in_its_own_unit_binds():
    s = lrp.cosine(warmup_steps="2Btok").bind(total_steps="300Btok", steps_per_epoch=10)
    assert s == lrp.cosine(total_steps="300Btok", warmup_steps="2Btok")  # steps_per_epoch ignored
    assert s.is_bound and s(2 * 10**9) == 1.0
    # a schedule that declares no clock takes the total's
    n = lrp.cosine(warmup_steps="10%").bind(total_steps="1Msp", steps_per_epoch=10)
    assert n.clock == "samples" and n(100_000) == 1.0 and n.steps_per_epoch is None
    assert lrp.cosine(warmup_steps="10%").bind(total_steps=1000).clock == "steps"
    # composites pass it through, in the unit
    c = (0.5 * lrp.linear()).cooldown(at="1Ktok", steps="1Ktok").bind(total_steps="4Ktok")
    assert c.is_bound and c.values([0, 1000, 2000]) == [0.5, 0.375, 0.0]
    assert c.bind(total_steps="1Ktok") == c  # a bound schedule keeps its total


@pytest.mark.parametrize(
    ("schedule", "total", "message"),
    [
        (lrp.cosine(total_steps=100), "1Msp",
         ("cosine().bind(): total_steps='1Msp' is in samples, but cosine(total_steps=100) runs on "
          "the steps clock: give the total in its own unit (total_steps=10000)")),
        (lrp.cosine(warmup_steps=10), "1Mtok", "is in tokens, but cosine(warmup_steps=10) runs on the steps clock"),
        (lrp.cosine(warmup_steps="1Ksp"), "1Mtok",
         ("total_steps='1Mtok' is in tokens, but cosine(warmup_steps='1Ksp') runs on the samples "
          "clock: give the total in its own unit (total_steps='10Msp')")),
        (lrp.cosine(warmup_steps="1Ksp"), "2ep", "total_steps='2ep' is in epochs, but"),
    ],
)  # fmt: skip
def test_a_total_in_another_unit_is_refused(schedule, total, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        schedule.bind(total_steps=total)


def test_bind_checks_a_written_total():
    s = lrp.cosine(warmup_steps="1Ksp")
    with pytest.raises(ValueError, match=r"cosine\(\)\.bind\(\): total_steps must be > 0"):
        s.bind(total_steps="0sp")
    with pytest.raises(ValueError, match=r"cosine\(\)\.bind\(\): total_steps must be an int"):
        s.bind(total_steps="10%")
    with pytest.raises(ValueError, match=r"got '1 Msp'"):
        s.bind(total_steps="1 Msp")


def test_a_schedule_pickled_before_clocks_existed_loads_on_its_clock():
    s = lrp.sequence([lrp.constant(warmup_steps=10), lrp.linear()], boundaries=[20], total_steps=50)
    old = s.__reduce_ex__(2)
    state = dict(old[2])
    del state["_clock"]  # what a pickle written by an earlier version holds
    back = old[0](*old[1])
    back.__setstate__(state)
    assert back == s and back.clock == "steps" and back(30) == s(30)
