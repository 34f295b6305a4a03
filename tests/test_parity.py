"""Parity of every catalog row with its real anchor.

Each test builds an ``lrplugins`` schedule and the anchor it must equal (a torch scheduler stepped
on a real optimizer, a transformers ``get_*_schedule`` stepped the same way, or a Keras
``LearningRateSchedule`` called on the steps) and compares them at every integer step, through both
``s(step)`` and ``s.values(array)``: within 1e-9 relative / 1e-12 absolute for float64 anchors,
1e-5 / 1e-6 for Keras, which computes in float32. The expected numbers always come from the anchor;
nothing here re-implements a formula (``numpy.interp`` for ``interpolate`` is the one independent
implementation used, as optax is not a test dependency).

Schedules with an end are compared from step 0 to ``total + 10`` where the anchor holds its end
value. Schedules with no end are compared over several cycles or decay periods plus 10 steps.

Where an anchor is not meaningful (transformers cosine climbs again after the end, torch
``OneCycleLR`` extrapolates one step past the end and then raises, a division by zero, a restart
misplaced by a float ``log``), the comparison stops where the anchor is meaningful and an ordinary
assertion pins what lrplugins does there (it holds its final value through ``total + 10``, it is
defined where the anchor divides by zero, it restarts on the integer step). These fail only on a
change of ours. Whether the anchor still has its quirk is checked apart, by a ``test_quirk_*`` test
(last section) that never fails for it: if an upstream release fixed the quirk, it is skipped with
a reason starting "ANCHOR CHANGED" that says which comparison can now be extended (``-ra``, the
project's default, lists it in every run's short summary).
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")  # before keras is imported; see tests/anchors.py

import math
import warnings

import numpy as np
import pytest
from anchors import BASE, hf_curve, keras_curve, keras_values, torch_curve

import lrplugins as lrp
from conftest import require

RTOL, ATOL = 1e-9, 1e-12
KERAS_TOL = {"rtol": 1e-5, "atol": 1e-6}  # Keras computes in float32


def check(s: lrp.Schedule, expected: np.ndarray, *, rtol: float = RTOL, atol: float = ATOL) -> None:
    """``s(t)`` and ``s.values(steps)`` equal ``expected[t]`` for every ``t`` in ``0 .. len-1``."""
    steps = np.arange(len(expected))
    scalar = [s(int(t)) for t in steps]
    assert all(type(x) is float for x in scalar)
    vector = s.values(steps)
    assert isinstance(vector, np.ndarray) and vector.dtype == np.float64
    for how, got in (("s(step)", np.array(scalar)), ("s.values(steps)", vector)):
        bad = ~np.isclose(got, expected, rtol=rtol, atol=atol)
        if bad.any():
            rows = "\n".join(
                f"  step {t}: anchor {expected[t]!r}, lrplugins {got[t]!r}"
                for t in np.flatnonzero(bad)[:8]
            )
            pytest.fail(f"{s!r} via {how} differs from its anchor at {bad.sum()} step(s):\n{rows}")


def check_where(
    s: lrp.Schedule, expected: np.ndarray, where: np.ndarray, *, rtol: float, atol: float
) -> None:
    """``check`` at the steps where ``where`` is true (a boolean mask over ``expected``)."""
    steps = np.flatnonzero(where)
    scalar = np.array([s(int(t)) for t in steps])
    vector = s.values(np.arange(len(expected)))[steps]
    for how, got in (("s(step)", scalar), ("s.values(steps)", vector)):
        bad = ~np.isclose(got, expected[steps], rtol=rtol, atol=atol)
        if bad.any():
            rows = "\n".join(
                f"  step {steps[i]}: anchor {expected[steps[i]]!r}, lrplugins {got[i]!r}"
                for i in np.flatnonzero(bad)[:8]
            )
            pytest.fail(f"{s!r} via {how} differs from its anchor at {bad.sum()} step(s):\n{rows}")


def check_hold(s: lrp.Schedule, start: int, stop: int, value: float) -> None:
    """``s`` equals ``value`` at every step in ``start .. stop`` (inclusive), scalar and vectorized."""
    steps = np.arange(start, stop + 1)
    np.testing.assert_allclose([s(int(t)) for t in steps], value, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(s.values(steps), value, rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------------------------------------------
# constant <-> transformers get_constant_schedule_with_warmup
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "warmup"),
    [
        ({}, 0),
        ({"warmup_steps": 0}, 0),
        ({"warmup_steps": 1}, 1),
        ({"warmup_steps": 2}, 2),
        ({"warmup_steps": 7}, 7),
        ({"warmup_steps": 50}, 50),
        ({"warmup_steps": "10%", "total_steps": 95}, 10),  # 9.5 steps, rounded up
        ({"warmup_steps": "1.5ep", "steps_per_epoch": 3}, 5),  # 4.5 steps, rounded up
    ],
    ids=lambda x: repr(x) if isinstance(x, dict) else None,
)
def test_constant_vs_hf(kwargs, warmup):
    s = lrp.constant(**kwargs)
    n = warmup + 20  # no end: the warmup, then 20 steps of the constant
    check(s, hf_curve("get_constant_schedule_with_warmup", n, num_warmup_steps=warmup))


# ------------------------------------------------------------------------------------------------
# linear <-> transformers get_linear_schedule_with_warmup (final=0)
#        <-> transformers get_polynomial_decay_schedule_with_warmup(power=1) (final > 0)
#        <-> keras PolynomialDecay(power=1) (final > 0, no warmup)
# ------------------------------------------------------------------------------------------------

LINEAR_SETS = [  # (total, warmup)
    (1, 0),
    (1, 1),
    (2, 0),
    (2, 1),
    (2, 2),
    (10, 0),
    (10, 1),
    (37, 5),
    (37, 36),
    (37, 37),
]


@pytest.mark.parametrize(("total", "warmup"), LINEAR_SETS)
def test_linear_vs_hf(total, warmup):
    s = lrp.linear(total_steps=total, warmup_steps=warmup)
    # transformers clamps at 0 after the end: compare through total + 10
    expected = hf_curve(
        "get_linear_schedule_with_warmup",
        total + 11,
        num_warmup_steps=warmup,
        num_training_steps=total,
    )
    check(s, expected)


def test_linear_percent_warmup_vs_hf():
    s = lrp.linear(total_steps=101, warmup_steps="10%")  # 10.1 steps -> 11, as transformers rounds
    check(
        s,
        hf_curve(
            "get_linear_schedule_with_warmup", 112, num_warmup_steps=11, num_training_steps=101
        ),
    )


@pytest.mark.parametrize(
    ("total", "warmup", "final"),
    [(1, 0, 0.5), (2, 1, 0.1), (10, 0, 0.2), (10, 3, 0.01), (37, 36, 0.9), (37, 5, 0.25)],
)
def test_linear_final_vs_hf_polynomial(total, warmup, final):
    # linear with a floor is transformers' polynomial decay with power 1 (lr_end = final * lr)
    s = lrp.linear(total_steps=total, warmup_steps=warmup, final=final)
    expected = hf_curve(
        "get_polynomial_decay_schedule_with_warmup",
        total + 11,
        num_warmup_steps=warmup,
        num_training_steps=total,
        lr_end=final * BASE,
        power=1.0,
    )
    check(s, expected)


@pytest.mark.parametrize(("total", "final"), [(1, 0.0), (10, 0.0), (10, 0.3), (33, 0.05)])
def test_linear_vs_keras_polynomial(total, final):
    s = lrp.linear(total_steps=total, final=final)
    expected = keras_curve(
        lambda S: S.PolynomialDecay(BASE, total, end_learning_rate=final * BASE, power=1.0),
        total + 11,
    )
    check(s, expected, **KERAS_TOL)


# ------------------------------------------------------------------------------------------------
# cosine <-> transformers get_cosine_schedule_with_warmup (final=0),
#            get_cosine_with_min_lr_schedule_with_warmup (final=min_lr_rate),
#            keras CosineDecay with warmup
# ------------------------------------------------------------------------------------------------

COSINE_SETS = [  # (total, warmup)
    (1, 0),
    (1, 1),
    (2, 0),
    (2, 1),
    (3, 0),
    (10, 0),
    (10, 1),
    (10, 9),
    (10, 10),
    (37, 5),
    (64, 16),
]


def _cosine_hold_start(total: int, warmup: int) -> int:
    # With warmup == total, transformers (and lrplugins, which follows it) give 1.0 at step `total`
    # (progress 0 of an empty decay) and the floor from the next step on.
    return total + 1 if warmup == total else total


@pytest.mark.parametrize(("total", "warmup"), COSINE_SETS)
def test_cosine_vs_hf(total, warmup):
    s = lrp.cosine(total_steps=total, warmup_steps=warmup)
    # transformers' cosine has no clamp after num_training_steps (it climbs back up, see
    # test_quirk_hf_cosine_climbs_after_the_end): compare through `total`, then check the hold.
    expected = hf_curve(
        "get_cosine_schedule_with_warmup",
        total + 1,
        num_warmup_steps=warmup,
        num_training_steps=total,
    )
    check(s, expected)
    check_hold(s, _cosine_hold_start(total, warmup), total + 10, 0.0)


@pytest.mark.parametrize(("total", "warmup"), COSINE_SETS)
@pytest.mark.parametrize("final", [0.1, 0.5, 1.0])
def test_cosine_final_vs_hf_min_lr_rate(total, warmup, final):
    s = lrp.cosine(total_steps=total, warmup_steps=warmup, final=final)
    expected = hf_curve(
        "get_cosine_with_min_lr_schedule_with_warmup",
        total + 1,
        num_warmup_steps=warmup,
        num_training_steps=total,
        min_lr_rate=final,
    )
    check(s, expected)
    check_hold(s, _cosine_hold_start(total, warmup), total + 10, final)


def test_cosine_final_vs_hf_min_lr_absolute():
    # the same anchor given an absolute min_lr, which transformers divides by the optimizer's lr
    s = lrp.cosine(total_steps=40, warmup_steps="10%", final=0.2)
    expected = hf_curve(
        "get_cosine_with_min_lr_schedule_with_warmup",
        41,
        num_warmup_steps=4,
        num_training_steps=40,
        min_lr=0.2 * BASE,
    )
    check(s, expected)


KERAS_COSINE_SETS = [  # (warmup, decay, final, warmup_start)
    (0, 1, 0.0, 0.0),
    (0, 10, 0.0, 0.0),
    (0, 10, 0.3, 0.0),
    (1, 1, 0.0, 0.5),
    (1, 9, 0.1, 0.0),
    (5, 10, 0.1, 0.0),
    (5, 10, 0.1, 0.2),
    (3, 17, 0.25, 0.1),
    (10, 1, 0.0, 0.0),
    (8, 25, 1.0, 0.9),
]


@pytest.mark.parametrize(("warmup", "decay", "final", "warmup_start"), KERAS_COSINE_SETS)
def test_cosine_vs_keras_with_warmup(warmup, decay, final, warmup_start):
    total = warmup + decay
    s = lrp.cosine(total_steps=total, warmup_steps=warmup, final=final, warmup_start=warmup_start)

    # initial = warmup_start * warmup_target; decay_steps excludes the warmup; alpha = final
    def make(S):
        return S.CosineDecay(
            warmup_start * BASE, decay, alpha=final, warmup_target=BASE, warmup_steps=warmup
        )

    # Keras clamps at the end: compare through total + 10; ops.cond needs a scalar step
    check(s, keras_curve(make, total + 11, per_step=True), **KERAS_TOL)


@pytest.mark.parametrize(("decay", "final"), [(1, 0.0), (10, 0.0), (10, 0.3), (23, 1.0)])
def test_cosine_vs_keras_without_warmup(decay, final):
    # no warmup_target: Keras decays from initial_learning_rate
    s = lrp.cosine(total_steps=decay, final=final)
    check(
        s, keras_curve(lambda S: S.CosineDecay(BASE, decay, alpha=final), decay + 11), **KERAS_TOL
    )


# ------------------------------------------------------------------------------------------------
# cosine_restarts <-> torch CosineAnnealingWarmRestarts (decay 1, no warmup);
#                     keras CosineDecayRestarts
# ------------------------------------------------------------------------------------------------


def _restart_horizon(cycle: int, mult: float, cycles: int = 4, cap: int = 300) -> int:
    """Steps covering the first ``cycles`` cycles (at most ``cap``), plus 10."""
    return min(sum(math.ceil(cycle * mult**i) for i in range(cycles)), cap) + 10


@pytest.mark.parametrize(
    ("cycle", "mult", "final"),
    [
        (1, 1, 0.0),
        (1, 2, 0.0),
        (1, 3, 0.0),
        (2, 1, 0.0),
        (3, 2, 0.1),
        (4, 1, 0.2),
        (5, 3, 0.0),
        (7, 2, 0.05),
        (10, 1, 1.0),
        (1, 5, 0.3),
    ],
)
def test_cosine_restarts_vs_torch(cycle, mult, final):
    s = lrp.cosine_restarts(cycle_steps=cycle, cycle_mult=mult, final=final)
    n = _restart_horizon(cycle, mult)
    expected = torch_curve(
        lambda sch, opt: sch.CosineAnnealingWarmRestarts(
            opt, T_0=cycle, T_mult=mult, eta_min=final * BASE
        ),
        n,
    )
    check(s, expected)


@pytest.mark.parametrize(("warmup", "cycle", "mult"), [(1, 3, 1), (3, 4, 2), (10, 2, 3)])
def test_cosine_restarts_warmup_vs_hf_then_torch(warmup, cycle, mult):
    # No single anchor has both: the warmup is transformers' constant-with-warmup (t / W), and the
    # cycles are torch's CosineAnnealingWarmRestarts started at step W (it sees t - W).
    s = lrp.cosine_restarts(cycle_steps=cycle, cycle_mult=mult, warmup_steps=warmup)
    n = warmup + _restart_horizon(cycle, mult)
    warm = hf_curve("get_constant_schedule_with_warmup", warmup, num_warmup_steps=warmup)
    cycles = torch_curve(
        lambda sch, opt: sch.CosineAnnealingWarmRestarts(opt, T_0=cycle, T_mult=mult), n - warmup
    )
    check(s, np.concatenate([warm, cycles]))


KERAS_RESTART_SETS = [  # (first_decay_steps, t_mul, m_mul, alpha)
    (4, 1.0, 1.0, 0.0),
    (10, 1.0, 0.5, 0.0),
    (4, 2.0, 1.0, 0.0),
    (3, 2.0, 0.5, 0.1),
    (5, 1.5, 0.8, 0.0),
    (1, 2.0, 0.9, 0.2),
    (2, 3.0, 0.7, 0.05),
    (6, 1.5, 1.0, 0.5),
    (3, 4.0, 0.6, 0.0),
]
# t_mul=1.25 (jax backend) and t_mul=1.1 (torch and tensorflow backends) misplace some restarts in
# Keras: see KERAS_FLOAT32_RESTART_SETS below


def keras_restart_ties(cycle: int, t_mul: float, n: int) -> dict[int, int]:
    """The steps ``t < n`` where Keras ``CosineDecayRestarts`` may land on either side of a restart.

    Keras finds the cycle as ``floor(log(1 - f * (1 - t_mul)) / log(t_mul))`` with
    ``f = t / first_decay_steps``, in float32 (``floor(f)`` when ``t_mul == 1``, exact for integer
    steps). Where that quotient is an integer ``k >= 1`` (a restart exactly on the step, e.g. step
    15 of 6 + 9 with ``t_mul=1.5``: ``log(2.25) / log(1.5) = 2``), the two float32 logarithms may
    round the quotient just below ``k``, and whether they do depends on the float32 ``log`` of the
    backend and of the CPU (torch on AMD EPYC gives 1.9999999 there, tensorflow 2.0). Returns
    ``{t: k}`` for the steps whose quotient lies within 8 float32 epsilons (relative) of an integer,
    computed from that definition, except where it is exactly ``k = 1`` in float32 (the argument
    rounds to ``t_mul`` itself: ``log(x) / log(x)`` is 1 in any arithmetic).
    """
    if t_mul == 1.0:
        return {}
    eps = float(np.finfo(np.float32).eps)
    f32, one = np.float32, np.float32(1.0)
    ties = {}
    for t in range(n):
        arg = one - (f32(t) / f32(cycle)) * (one - f32(t_mul))  # float32, as Keras
        q = math.log(float(arg)) / math.log(float(f32(t_mul)))
        k = round(q)
        if k >= 1 and abs(q - k) <= 8 * eps * k and not (k == 1 and arg == f32(t_mul)):
            ties[t] = k
    return ties


def check_keras_restarts(s, anchor, ties, m_mul, alpha):
    """``check`` against Keras ``CosineDecayRestarts``, except at the ``ties`` of
    :func:`keras_restart_ties`: there lrplugins starts cycle ``k`` (its peak ``m_mul**k``, as
    torch's ``CosineAnnealingWarmRestarts`` does and as Keras does just after the step), and the
    anchor may be either that peak, ``alpha + (1 - alpha) * m_mul**k`` in Keras's definition, or
    the end of cycle ``k - 1``, ``alpha``."""
    clear = np.ones(len(anchor), dtype=bool)
    clear[list(ties)] = False
    check_where(s, anchor, clear, **KERAS_TOL)
    for t, k in ties.items():
        peak, end = alpha + (1 - alpha) * m_mul**k, alpha
        for how, got in (("s(step)", s(t)), ("s.values(steps)", s.values(np.array([t]))[0])):
            assert math.isclose(got, peak, rel_tol=1e-12), f"step {t} via {how}: {got} != {peak}"
        assert any(np.isclose(anchor[t], side, **KERAS_TOL) for side in (peak, end)), (
            f"step {t}: the anchor {anchor[t]} is neither side of the restart ({end}, {peak})"
        )


@pytest.mark.parametrize(("cycle", "t_mul", "m_mul", "alpha"), KERAS_RESTART_SETS)
def test_cosine_restarts_vs_keras(cycle, t_mul, m_mul, alpha):
    # Compared at every step where the anchor's float32 arithmetic is unambiguous; at a restart
    # that falls exactly on a step (keras_restart_ties) the anchor may be either side of it.
    s = lrp.cosine_restarts(cycle_steps=cycle, cycle_mult=t_mul, decay=m_mul, final=alpha)
    n = _restart_horizon(cycle, t_mul)
    expected = keras_curve(
        lambda S: S.CosineDecayRestarts(BASE, cycle, t_mul=t_mul, m_mul=m_mul, alpha=alpha), n
    )
    check_keras_restarts(s, expected, keras_restart_ties(cycle, t_mul, n), m_mul, alpha)


def test_keras_restart_ties_are_the_exact_restarts():
    # (6, 1.5): cycles of 6, 9, 13.5, 20.25 steps: restarts at 6 (exactly 1 in float32), 15 (the
    # step where torch and tensorflow disagree on AMD EPYC), 28.5 and 48.75 (not on a step).
    assert keras_restart_ties(6, 1.5, 60) == {15: 2}
    assert keras_restart_ties(4, 2.0, 70) == {12: 2, 28: 3, 60: 4}
    assert keras_restart_ties(4, 1.0, 70) == {}
    # the anchor on the side a torch-backend AMD EPYC gives at step 15 (the end of cycle 1) is
    # accepted there, and the same value anywhere else is still a failure
    s = lrp.cosine_restarts(cycle_steps=6, cycle_mult=1.5, final=0.5)
    anchor = s.values(np.arange(40))
    anchor[15] = 0.5
    check_keras_restarts(s, anchor, {15: 2}, 1.0, 0.5)
    anchor[16] = 0.5  # step 16 is clear of the restart
    with pytest.raises(pytest.fail.Exception, match="step 16"):
        check_keras_restarts(s, anchor, {15: 2}, 1.0, 0.5)
    anchor[16], anchor[15] = s(16), 0.7
    with pytest.raises(AssertionError, match="neither side"):
        check_keras_restarts(s, anchor, {15: 2}, 1.0, 0.5)


KERAS_FLOAT32_RESTART_SETS = [
    (6, 1.25, 1.0, 0.5),
    (4, 1.25, 0.9, 0.1),
    (10, 1.1, 0.8, 0.0),
    (10, 1.25, 1.0, 0.0),
]
"""Restart sets where Keras' float32 cycle search misplaces a restart on some backend (see below)."""


def _keras_restarts_off(cycle, t_mul, m_mul, alpha):
    """(lrplugins values, anchor values, the anchor factory, steps where the two differ)."""
    s = lrp.cosine_restarts(cycle_steps=cycle, cycle_mult=t_mul, decay=m_mul, final=alpha)

    def make(S):
        return S.CosineDecayRestarts(BASE, cycle, t_mul=t_mul, m_mul=m_mul, alpha=alpha)

    n = _restart_horizon(cycle, t_mul)
    anchor = keras_curve(make, n)
    ours = s.values(np.arange(n))
    return ours, anchor, make, np.flatnonzero(~np.isclose(ours, anchor, **KERAS_TOL))


@pytest.mark.parametrize(("cycle", "t_mul", "m_mul", "alpha"), KERAS_FLOAT32_RESTART_SETS)
def test_cosine_restarts_vs_keras_where_float32_misplaces_a_restart(cycle, t_mul, m_mul, alpha):
    # Keras CosineDecayRestarts finds the cycle as floor(log(1 - f * (1 - t_mul)) / log(t_mul)) in
    # float32. When a restart falls exactly on an integer step the quotient can round just below the
    # integer, and the anchor returns the end of the previous cycle (its left limit) instead of the
    # new peak. Which steps are hit depends on the backend: on the jax backend t_mul=1.25 misplaces
    # the first restart for every cycle length tried; on torch and tensorflow (10, 1.1) misplaces
    # step 21; numpy misplaces none of these. lrplugins starts the new cycle there (as torch's
    # CosineAnnealingWarmRestarts does, and as Keras does just after the step): at every step it
    # equals the anchor to float32 precision, except at such a step, where it equals the anchor's
    # right limit (the new peak). Whether the anchor still misplaces a restart is reported by
    # test_quirk_keras_restarts_float32_log_misplaces_a_restart.
    ours, anchor, make, off = _keras_restarts_off(cycle, t_mul, m_mul, alpha)
    s = lrp.cosine_restarts(cycle_steps=cycle, cycle_mult=t_mul, decay=m_mul, final=alpha)
    np.testing.assert_allclose([s(int(t)) for t in range(len(ours))], ours, rtol=1e-12, atol=1e-15)
    for t in off:
        left, right = keras_values(make, np.array([t - 1e-3, t + 1e-3]))
        assert anchor[t] == pytest.approx(left, abs=1e-4), f"step {t}: not a misplaced restart"
        assert ours[t] == pytest.approx(right, abs=1e-4), f"step {t}: lrplugins is not the new peak"
        assert ours[t] > anchor[t]


# ------------------------------------------------------------------------------------------------
# polynomial <-> transformers get_polynomial_decay_schedule_with_warmup (final = lr_end / lr);
#                keras PolynomialDecay(cycle=False)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "warmup", "power", "final"),
    [
        (1, 0, 1.0, 0.0),
        (2, 1, 2.0, 0.0),
        (3, 0, 0.5, 0.0),
        (10, 0, 1.0, 0.0),
        (10, 3, 2.0, 0.1),
        (37, 5, 0.5, 0.01),
        (37, 36, 3.0, 0.2),
        (20, 4, 1.0, 2e-7),  # transformers' default lr_end=1e-7 on lr=0.5
        (50, 10, 7.0, 0.9),
    ],
)
def test_polynomial_vs_hf(total, warmup, power, final):
    s = lrp.polynomial(total_steps=total, warmup_steps=warmup, power=power, final=final)
    expected = hf_curve(
        "get_polynomial_decay_schedule_with_warmup",
        total + 11,  # transformers holds lr_end after the end
        num_warmup_steps=warmup,
        num_training_steps=total,
        lr_end=final * BASE,
        power=power,
    )
    check(s, expected)


@pytest.mark.parametrize(
    ("total", "power", "final"),
    [
        (1, 1.0, 0.0),
        (10, 1.0, 0.0),
        (10, 2.0, 0.1),
        (33, 0.5, 0.25),
        (7, 3.0, 0.0),
        (12, 1.5, 1e-4),
    ],
)
def test_polynomial_vs_keras(total, power, final):
    s = lrp.polynomial(total_steps=total, power=power, final=final)
    expected = keras_curve(
        lambda S: S.PolynomialDecay(
            BASE, total, end_learning_rate=final * BASE, power=power, cycle=False
        ),
        total + 11,
    )
    check(s, expected, **KERAS_TOL)


# ------------------------------------------------------------------------------------------------
# exponential <-> torch ExponentialLR (every=1), StepLR (staircase), keras ExponentialDecay
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rate", [0.5, 0.9, 0.99, 1.0])
def test_exponential_vs_torch_exponential_lr(rate):
    s = lrp.exponential(rate)
    check(s, torch_curve(lambda sch, opt: sch.ExponentialLR(opt, gamma=rate), 60))


@pytest.mark.parametrize(("rate", "every"), [(0.5, 1), (0.5, 3), (0.1, 7), (0.9, 10), (1.0, 2)])
def test_exponential_staircase_vs_torch_step_lr(rate, every):
    s = lrp.exponential(rate, every=every, staircase=True)
    n = 5 * every + 10  # five drops, then 10 steps
    check(s, torch_curve(lambda sch, opt: sch.StepLR(opt, step_size=every, gamma=rate), n))


@pytest.mark.parametrize(
    ("rate", "every", "staircase"),
    [
        (0.5, 1, False),
        (0.96, 10, False),
        (0.5, 3, True),
        (0.9, 7, True),
        (1.0, 5, False),
        (0.3, 1, True),
    ],
)
def test_exponential_vs_keras(rate, every, staircase):
    s = lrp.exponential(rate, every=every, staircase=staircase)
    n = 5 * every + 10
    expected = keras_curve(lambda S: S.ExponentialDecay(BASE, every, rate, staircase=staircase), n)
    check(s, expected, **KERAS_TOL)


# ------------------------------------------------------------------------------------------------
# multistep <-> torch MultiStepLR
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("milestones", "gamma"),
    [
        ([2, 4], 0.5),
        ([1], 0.1),
        ([0, 3], 0.5),  # a milestone at step 0 applies to the first update
        ([5, 10, 15], 0.1),
        ([3, 4, 5], 0.5),
        ([7, 20], 2.0),
        ([], 0.1),
        ([4], 0.0),
    ],
)
def test_multistep_vs_torch(milestones, gamma):
    s = lrp.multistep(milestones, gamma=gamma)
    n = (milestones[-1] if milestones else 0) + 11
    check(
        s, torch_curve(lambda sch, opt: sch.MultiStepLR(opt, milestones=milestones, gamma=gamma), n)
    )


# ------------------------------------------------------------------------------------------------
# piecewise <-> keras PiecewiseConstantDecay (values read as multipliers)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("boundaries", "values"),
    [
        ([1, 3], [1.0, 0.5, 0.1]),
        ([0], [1.0, 0.5]),
        ([5], [0.2, 1.0]),
        ([10, 20, 30], [1.0, 0.3, 0.1, 0.01]),
        ([1, 2, 3, 4], [0.0, 0.25, 0.5, 0.75, 1.0]),
    ],
)
def test_piecewise_vs_keras(boundaries, values):
    s = lrp.piecewise(boundaries, values)
    n = boundaries[-1] + 11
    expected = keras_curve(  # adds into a scalar tensor: one step per call
        lambda S: S.PiecewiseConstantDecay(boundaries, [v * BASE for v in values]), n, per_step=True
    )
    check(s, expected, **KERAS_TOL)


# ------------------------------------------------------------------------------------------------
# inverse_sqrt <-> transformers get_inverse_sqrt_schedule
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("warmup", "timescale"),
    [(0, None), (1, None), (4, None), (10, 3), (0, 50), (7, 100), (5, 1), (100, None)],
)
def test_inverse_sqrt_vs_hf(warmup, timescale):
    s = lrp.inverse_sqrt(warmup_steps=warmup, timescale=timescale)
    n = warmup + 100  # no end: the warmup, then 100 steps of decay
    expected = hf_curve(
        "get_inverse_sqrt_schedule", n, num_warmup_steps=warmup, timescale=timescale
    )
    check(s, expected)


# ------------------------------------------------------------------------------------------------
# inverse_time <-> keras InverseTimeDecay
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("decay_steps", "rate", "staircase"),
    [
        (1, 0.5, False),
        (10, 1.0, False),
        (3, 2.0, True),
        (7, 0.0, False),
        (5, 0.1, True),
        (1, 3.0, True),
    ],
)
def test_inverse_time_vs_keras(decay_steps, rate, staircase):
    s = lrp.inverse_time(decay_steps=decay_steps, rate=rate, staircase=staircase)
    n = 5 * decay_steps + 10
    expected = keras_curve(
        lambda S: S.InverseTimeDecay(BASE, decay_steps, rate, staircase=staircase), n
    )
    check(s, expected, **KERAS_TOL)


# ------------------------------------------------------------------------------------------------
# one_cycle <-> torch OneCycleLR (multiplier = lr / max_lr)
# ------------------------------------------------------------------------------------------------

ONE_CYCLE_SETS = [  # (total, pct_start, div_factor, final_div_factor, anneal, three_phase)
    (100, 0.3, 25.0, 1e4, "cos", False),
    (100, 0.3, 25.0, 1e4, "linear", False),
    (2, 0.3, 25.0, 1e4, "cos", False),
    (2, 0.6, 25.0, 1e4, "linear", False),
    (10, 0.15, 25.0, 1e4, "linear", False),  # peak between steps 0 and 1
    (3, 0.3, 25.0, 1e4, "cos", False),
    (17, 0.25, 10.0, 100.0, "linear", False),
    (10, 0.05, 25.0, 1e4, "cos", False),  # peak before step 0 (pct * N - 1 < 0)
    (11, 0.95, 4.0, 2.0, "cos", False),
    (33, 0.5, 1.0, 1.0, "cos", False),  # flat: div factors of 1
    (50, 0.3, 25.0, 1e4, "cos", True),
    (51, 0.4, 25.0, 1e4, "linear", True),
    (20, 0.2, 5.0, 10.0, "cos", True),
    (7, 0.3, 25.0, 1e4, "linear", True),
]


@pytest.mark.parametrize(
    ("total", "pct", "div", "final_div", "anneal", "three_phase"), ONE_CYCLE_SETS
)
def test_one_cycle_vs_torch(total, pct, div, final_div, anneal, three_phase):
    s = lrp.one_cycle(
        total_steps=total,
        pct_start=pct,
        div_factor=div,
        final_div_factor=final_div,
        anneal=anneal,
        three_phase=three_phase,
    )

    def make(sch, opt):
        return sch.OneCycleLR(
            opt,
            max_lr=BASE,
            total_steps=total,
            pct_start=pct,
            div_factor=div,
            final_div_factor=final_div,
            anneal_strategy=anneal,
            three_phase=three_phase,
        )

    # torch cycles the momentum, so the optimizer has one; its lr is defined for steps 0..N-1 only
    # (it extrapolates at N and raises after, see test_quirk_torch_one_cycle_past_the_end)
    expected = torch_curve(make, total, momentum=0.9)
    check(s, expected)
    check_hold(s, total - 1, total + 10, expected[-1])


# ------------------------------------------------------------------------------------------------
# cyclic <-> torch CyclicLR (base_lr = low * max_lr, multiplier = lr / max_lr)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("up", "down", "low", "mode", "gamma"),
    [
        (2, None, 0.1, "triangular", 1.0),
        (1, None, 0.0, "triangular", 1.0),
        (1, 1, 0.5, "triangular", 1.0),
        (3, 5, 0.2, "triangular", 1.0),
        (6, 1, 0.0, "triangular", 1.0),
        (4, None, 0.1, "triangular2", 1.0),
        (2, 3, 0.0, "triangular2", 1.0),
        (1, 4, 0.3, "triangular2", 1.0),
        (5, None, 0.1, "exp_range", 0.99),
        (3, 2, 0.25, "exp_range", 0.9),
        (2, None, 0.0, "exp_range", 1.0),
        (1, 1, 1.0, "triangular", 1.0),  # low == 1: flat
    ],
)
def test_cyclic_vs_torch(up, down, low, mode, gamma):
    s = lrp.cyclic(up, step_size_down=down, low=low, mode=mode, gamma=gamma)
    n = 4 * (up + (down or up)) + 10  # four cycles, then 10 steps

    def make(sch, opt):
        return sch.CyclicLR(
            opt,
            base_lr=low * BASE,
            max_lr=BASE,
            step_size_up=up,
            step_size_down=down,
            mode=mode,
            gamma=gamma,
        )

    check(s, torch_curve(make, n, momentum=0.9))  # CyclicLR cycles the momentum too


# ------------------------------------------------------------------------------------------------
# wsd <-> transformers get_wsd_schedule (min_lr_ratio = final, num_training_steps given)
# ------------------------------------------------------------------------------------------------

WSD_SHAPES = ["linear", "cosine", "1-sqrt"]


def _wsd_expected(total, warmup, decay, final, wshape, dshape):
    return hf_curve(
        "get_wsd_schedule",
        total + 11,  # transformers holds min_lr_ratio after the end
        num_warmup_steps=warmup,
        num_decay_steps=decay,
        num_training_steps=total,
        warmup_type=wshape,
        decay_type=dshape,
        min_lr_ratio=final,
    )


@pytest.mark.parametrize("wshape", WSD_SHAPES)
@pytest.mark.parametrize("dshape", WSD_SHAPES)
@pytest.mark.parametrize("final", [0.0, 0.1])
def test_wsd_shapes_vs_hf(wshape, dshape, final):
    s = lrp.wsd(
        total_steps=20,
        warmup_steps=4,
        decay_steps=7,
        final=final,
        warmup_shape=wshape,
        decay_shape=dshape,
    )
    check(s, _wsd_expected(20, 4, 7, final, wshape, dshape))


@pytest.mark.parametrize(
    ("total", "warmup", "decay", "final"),
    [
        (10, 0, 4, 0.0),  # no warmup
        (10, 3, 0, 0.2),  # no decay: straight to the floor at the end
        (10, 4, 6, 0.1),  # no stable phase
        (10, 10, 0, 0.1),  # all warmup
        (10, 0, 10, 0.05),  # all decay
        (1, 0, 1, 0.0),
        (1, 1, 0, 0.3),
        (2, 1, 1, 0.5),
        (11, 1, 1, 0.0),
        (37, 5, 13, 1.0),
    ],
)
@pytest.mark.parametrize(
    ("wshape", "dshape"), [("linear", "1-sqrt"), ("1-sqrt", "cosine"), ("cosine", "linear")]
)
def test_wsd_edges_vs_hf(total, warmup, decay, final, wshape, dshape):
    s = lrp.wsd(
        total_steps=total,
        warmup_steps=warmup,
        decay_steps=decay,
        final=final,
        warmup_shape=wshape,
        decay_shape=dshape,
    )
    check(s, _wsd_expected(total, warmup, decay, final, wshape, dshape))


def test_wsd_defaults_vs_hf():
    # decay_steps defaults to "20%" (37 * 0.2 = 7.4 -> 8 steps) and decay_shape to "1-sqrt"
    s = lrp.wsd(total_steps=37, warmup_steps=3)
    check(s, _wsd_expected(37, 3, 8, 0.0, "linear", "1-sqrt"))


# ------------------------------------------------------------------------------------------------
# interpolate <-> optax piecewise_interpolate_schedule style; checked against numpy.interp
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "knots",
    [
        [(0, 0.0), (2, 1.0), (4, 0.5)],
        [(5, 1.0), (10, 0.1)],  # holds the first value before the first knot
        [(0, 1.0)],
        [(3, 0.25)],
        [(0, 0.0), (1, 1.0), (3, 1.0), (10, 0.05)],
        [(0, 0.1), (7, 1.0), (8, 0.0), (30, 0.7)],
    ],
    ids=str,
)
def test_interpolate_linear_vs_numpy_interp(knots):
    # optax is not a test dependency; numpy.interp is an independent piecewise-linear interpolation
    # that, like optax, holds the end values outside the knots.
    s = lrp.interpolate(knots)
    n = knots[-1][0] + 11
    xs, ys = zip(*knots)
    check(s, np.interp(np.arange(n), xs, ys))


def test_interpolate_percent_knots_vs_numpy_interp():
    s = lrp.interpolate([(0, 0.0), ("10%", 1.0), ("100%", 0.0)], total_steps=45)  # 4.5 -> 5
    check(s, np.interp(np.arange(56), [0, 5, 45], [0.0, 1.0, 0.0]))


@pytest.mark.parametrize("knots", [[(0, 0.0), (4, 1.0), (10, 0.2)], [(2, 1.0), (3, 0.0)]], ids=str)
def test_interpolate_cosine_hits_the_knots(knots):
    # no installed anchor for the cosine ease (optax is not a dependency): only the knot values,
    # which are data, not a formula, and the hold outside the knots are checked here
    s = lrp.interpolate(knots, shape="cosine")
    for step, value in knots:
        assert s(step) == pytest.approx(value, rel=RTOL, abs=ATOL)
    check_hold(s, 0, knots[0][0], knots[0][1])
    check_hold(s, knots[-1][0], knots[-1][0] + 10, knots[-1][1])


# ------------------------------------------------------------------------------------------------
# sequence <-> optax join_schedules: part i sees step - boundaries[i-1]; anchors of the parts
# ------------------------------------------------------------------------------------------------


def test_sequence_constant_warmup_then_cosine_vs_hf():
    s = lrp.sequence([lrp.constant(warmup_steps=5), lrp.cosine(final=0.1)], [5], total_steps=40)
    a = hf_curve("get_constant_schedule_with_warmup", 5, num_warmup_steps=5)
    b = hf_curve(
        "get_cosine_with_min_lr_schedule_with_warmup",
        36,  # the cosine part runs 35 steps (40 - 5), compared through its end
        num_warmup_steps=0,
        num_training_steps=35,
        min_lr_rate=0.1,
    )
    check(s, np.concatenate([a, b]))
    check_hold(s, 40, 50, 0.1)


def test_sequence_linear_then_exponential_vs_hf_and_torch():
    s = lrp.sequence([lrp.linear(warmup_steps=3), lrp.exponential(0.9)], [10])
    a = hf_curve("get_linear_schedule_with_warmup", 10, num_warmup_steps=3, num_training_steps=10)
    b = torch_curve(lambda sch, opt: sch.ExponentialLR(opt, gamma=0.9), 40)
    check(s, np.concatenate([a, b]))


def test_sequence_three_parts_vs_hf_and_torch():
    s = lrp.sequence(
        [
            lrp.constant(warmup_steps=4),
            lrp.cosine_restarts(3, cycle_mult=2, final=0.05),
            lrp.multistep([5, 8], gamma=0.5),
        ],
        boundaries=[4, 25],
    )
    a = hf_curve("get_constant_schedule_with_warmup", 4, num_warmup_steps=4)
    b = torch_curve(
        lambda sch, opt: sch.CosineAnnealingWarmRestarts(opt, T_0=3, T_mult=2, eta_min=0.05 * BASE),
        21,
    )
    c = torch_curve(lambda sch, opt: sch.MultiStepLR(opt, milestones=[5, 8], gamma=0.5), 30)
    check(s, np.concatenate([a, b, c]))


def test_sequence_one_cycle_then_constant_vs_torch():
    # one_cycle gets its segment (20 steps) as total_steps; torch defines it on steps 0..19
    s = lrp.sequence([lrp.one_cycle(), lrp.constant()], ["40%"], total_steps=50)
    a = torch_curve(
        lambda sch, opt: sch.OneCycleLR(opt, max_lr=BASE, total_steps=20), 20, momentum=0.9
    )
    b = hf_curve("get_constant_schedule_with_warmup", 41, num_warmup_steps=0)
    check(s, np.concatenate([a, b]))


def test_sequence_wsd_parts_vs_hf():
    s = lrp.sequence(
        [
            lrp.wsd(warmup_steps=2, decay_steps=3, decay_shape="linear"),
            lrp.polynomial(power=2.0, final=0.1),
        ],
        [12],
        total_steps=30,
    )
    a = _wsd_expected(12, 2, 3, 0.0, "linear", "linear")[:12]
    b = hf_curve(
        "get_polynomial_decay_schedule_with_warmup",
        29,
        num_warmup_steps=0,
        num_training_steps=18,
        lr_end=0.1 * BASE,
        power=2.0,
    )
    check(s, np.concatenate([a, b]))


# ------------------------------------------------------------------------------------------------
# custom <-> any callable
# ------------------------------------------------------------------------------------------------


def _hf_lambda(name: str, **kwargs):
    """The ``lr_lambda`` of a transformers schedule, built on a real optimizer."""
    torch = require("torch")
    transformers = require("transformers")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=BASE)
    return getattr(transformers.optimization, name)(opt, **kwargs).lr_lambdas[0]


def test_custom_vs_its_callable():
    fn = _hf_lambda("get_inverse_sqrt_schedule", num_warmup_steps=4, timescale=7)
    check(lrp.custom(fn), np.array([fn(t) for t in range(60)]))


# ------------------------------------------------------------------------------------------------
# Where an anchor is not meaningful. Each case has two tests: test_<case> pins what lrplugins does
# there (an ordinary test, fails on a regression of ours); test_quirk_<case> checks that the anchor
# still has its quirk and, if an upstream release fixed it, reports that with a skip whose reason
# says what can now be extended. It never fails because the anchor changed.
# ------------------------------------------------------------------------------------------------


def anchor_quirk(present: bool, anchor: str, quirk: str, then: str) -> None:
    """Pass while ``anchor`` still has ``quirk``; otherwise skip with "ANCHOR CHANGED: ...".

    ``-ra`` (the project's default) lists the reason in the short summary of every run, so a fixed
    upstream quirk shows up without turning the build red.
    """
    if not present:
        pytest.skip(f"ANCHOR CHANGED: {anchor} no longer {quirk}: {then}")


def test_cosine_holds_its_final_value_where_hf_cosine_climbs():
    # lrplugins holds its final value after the end (no periodic continuation); parity with
    # transformers through `total`. test_cosine_vs_hf does the same over COSINE_SETS.
    s = lrp.cosine(total_steps=10, warmup_steps=2)
    hf = hf_curve("get_cosine_schedule_with_warmup", 11, num_warmup_steps=2, num_training_steps=10)
    check(s, hf)
    check_hold(s, 10, 20, 0.0)


def test_quirk_hf_cosine_climbs_after_the_end():
    # transformers' cosine has no clamp: past num_training_steps the half wave continues upward.
    hf = hf_curve("get_cosine_schedule_with_warmup", 13, num_warmup_steps=2, num_training_steps=10)
    anchor_quirk(
        bool(abs(hf[10]) < 1e-15 and hf[11] > 0.01 and hf[12] > hf[11]),
        "transformers get_cosine_schedule_with_warmup",
        f"climbs after num_training_steps (steps 10..12 of 10: {hf[10:].tolist()})",
        "test_cosine_vs_hf can compare through total + 10 instead of check_hold",
    )


def _hf_polynomial_warmup_equal_total():
    return _hf_lambda(
        "get_polynomial_decay_schedule_with_warmup",
        num_warmup_steps=5,
        num_training_steps=5,
        lr_end=0.1 * BASE,
        power=1.0,
    )


def test_polynomial_warmup_equal_total_where_hf_divides_by_zero():
    # With warmup == total, lrplugins is defined at step N: the warmup is complete and the decay
    # (of length 0) is at progress 0, so 1.0, as the cosine gives there (_cosine_hold_start); then
    # `final` from N + 1 on. Parity with transformers everywhere it is defined.
    fn = _hf_polynomial_warmup_equal_total()
    s = lrp.polynomial(total_steps=5, warmup_steps=5, final=0.1)
    check(s, np.array([fn(t) for t in range(5)]))  # the warmup matches
    assert [s(t) for t in range(6, 16)] == pytest.approx([fn(t) for t in range(6, 16)], rel=RTOL)
    assert s(5) == 1.0 and s.values(np.array([5]))[0] == 1.0
    check_hold(s, 6, 15, 0.1)


def test_quirk_hf_polynomial_warmup_equal_total_divides_by_zero():
    # transformers' polynomial decay divides by num_training_steps - num_warmup_steps at step N
    # when the warmup fills the run.
    fn = _hf_polynomial_warmup_equal_total()
    try:
        got = fn(5)
    except ZeroDivisionError:
        return
    anchor_quirk(
        False,
        "transformers get_polynomial_decay_schedule_with_warmup",
        f"divides by zero at step N when num_warmup_steps == num_training_steps (now {got!r})",
        "compare lrplugins with it at step N too "
        "(test_polynomial_warmup_equal_total_where_hf_divides_by_zero)",
    )


def _torch_one_cycle_linear(torch, total):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=BASE, momentum=0.9)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=BASE, total_steps=total, anneal_strategy="linear"
    )
    return opt, sched


def test_one_cycle_holds_its_end_where_torch_stops():
    # torch OneCycleLR is meaningful on steps 0..N-1; lrplugins equals it there and holds the end
    # value (step N-1) from then on. test_one_cycle_vs_torch does the same over ONE_CYCLE_SETS.
    require("torch")
    lrs = torch_curve(
        lambda sch, opt: sch.OneCycleLR(opt, max_lr=BASE, total_steps=10, anneal_strategy="linear"),
        10,
        momentum=0.9,
    )
    s = lrp.one_cycle(total_steps=10, anneal="linear")
    check(s, lrs)
    check_hold(s, 9, 20, lrs[9])


def test_quirk_torch_one_cycle_past_the_end():
    # torch OneCycleLR is defined on steps 0..N-1: at step N it extrapolates the last phase (here
    # below the end value, with a linear anneal even below 0) and one more step() raises ValueError.
    torch = require("torch")
    opt, sched = _torch_one_cycle_linear(torch, 10)
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"] / BASE)
        opt.step()
        sched.step()
    lrs.append(opt.param_groups[0]["lr"] / BASE)  # step N = 10
    opt.step()
    try:
        sched.step()
        raised = ""
    except ValueError as exc:
        raised = str(exc)
    anchor_quirk(
        lrs[10] < lrs[9],
        "torch OneCycleLR",
        f"extrapolates below its end value at step N ({lrs[9]!r} at N-1, {lrs[10]!r} at N)",
        "test_one_cycle_vs_torch can compare through step N",
    )
    anchor_quirk(
        "Tried to step" in raised,
        "torch OneCycleLR",
        "raises ValueError when stepped past step N",
        "test_one_cycle_vs_torch can compare through total + 10 instead of check_hold",
    )


ONE_CYCLE_PEAK_AT_ZERO = [(2, 0.5, False), (10, 0.1, False), (10, 0.1, True)]
"""(total, pct_start, three_phase) with pct_start * total == 1: the rise ends at step 0."""


@pytest.mark.parametrize(("total", "pct", "three_phase"), ONE_CYCLE_PEAK_AT_ZERO)
def test_one_cycle_peak_at_step_zero(total, pct, three_phase):
    # The rise phase has length 0: lrplugins is defined there, the peak is at step 0 (the empty
    # rise is complete, as the phases say) and every value is finite and in (0, 1].
    s = lrp.one_cycle(total_steps=total, pct_start=pct, three_phase=three_phase)
    vals = s.values(np.arange(total + 10))
    assert np.isfinite(vals).all() and (vals > 0).all() and (vals <= 1).all()
    assert s(0) == 1.0 and vals[0] == 1.0


@pytest.mark.parametrize(("total", "pct", "three_phase"), ONE_CYCLE_PEAK_AT_ZERO)
def test_quirk_torch_one_cycle_peak_at_step_zero_divides_by_zero(total, pct, three_phase):
    # torch OneCycleLR divides by zero while computing the very first LR.
    torch = require("torch")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=BASE, momentum=0.9)
    try:
        torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=BASE, total_steps=total, pct_start=pct, three_phase=three_phase
        )
    except ZeroDivisionError:
        return
    anchor_quirk(
        False,
        "torch OneCycleLR",
        f"divides by zero when pct_start * total_steps == 1 ({total=}, {pct=}, {three_phase=})",
        "add these sets to ONE_CYCLE_SETS (test_one_cycle_vs_torch)",
    )


def test_cosine_restarts_restart_on_the_integer_step_as_torch_step_does():
    # For T_0=1, T_mult=3 the restart at step 121 (1 + 3 + 9 + 27 + 81): lrplugins restarts there,
    # as torch's plain step() does (it counts in integers; it is the anchor used above).
    require("torch")
    stepped = torch_curve(
        lambda sch, opt: sch.CosineAnnealingWarmRestarts(opt, T_0=1, T_mult=3), 130
    )
    s = lrp.cosine_restarts(cycle_steps=1, cycle_mult=3)
    check(s, stepped)
    assert s(121) == 1.0 and stepped[121] == 1.0


def test_quirk_torch_warm_restarts_epoch_argument_misplaces_a_restart():
    # CosineAnnealingWarmRestarts.step(epoch) finds the cycle with int(log(...)) in floats:
    # for T_0=1, T_mult=3 the restart at epoch 121 comes out as the end of the previous cycle
    # (log3(243) = 4.999...).
    torch = require("torch")
    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=BASE)
    sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, T_0=1, T_mult=3)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the epoch argument is deprecated
            opt.step()
            sched.step(121)
    except TypeError as exc:  # the deprecated argument was removed
        anchor_quirk(False, "torch CosineAnnealingWarmRestarts", f"takes step(epoch) ({exc})", "-")
    by_epoch = opt.param_groups[0]["lr"] / BASE
    anchor_quirk(
        by_epoch == pytest.approx(0.0, abs=1e-12),
        "torch CosineAnnealingWarmRestarts",
        f"misplaces the restart at step(121) with T_0=1, T_mult=3 (now {by_epoch!r})",
        "nothing here depends on it (parity uses plain step()); drop this check",
    )


KERAS_MISPLACED_RESTARTS = {
    "jax": {(6, 1.25, 1.0, 0.5): [6], (4, 1.25, 0.9, 0.1): [4, 9], (10, 1.1, 0.8, 0.0): [21],
            (10, 1.25, 1.0, 0.0): [10]},
    "torch": {(10, 1.1, 0.8, 0.0): [21]},
    "tensorflow": {(10, 1.1, 0.8, 0.0): [21]},
    "numpy": {},
}  # fmt: skip
"""Per Keras backend: the KERAS_FLOAT32_RESTART_SETS whose restarts Keras misplaces, and the steps
(keras 3.15 with jax 0.10, torch 2.13, tensorflow 2.21, numpy 2.4)."""


def test_quirk_keras_restarts_float32_log_misplaces_a_restart():
    # See test_cosine_restarts_vs_keras_where_float32_misplaces_a_restart: which restarts Keras
    # misplaces depends on the backend; this checks the record above for the backend in use.
    backend = require("keras").backend.backend()
    if backend not in KERAS_MISPLACED_RESTARTS:
        pytest.skip(f"no record of misplaced Keras restarts for backend {backend!r}")
    found = {}
    for key in KERAS_FLOAT32_RESTART_SETS:
        off = _keras_restarts_off(*key)[3]
        if len(off):
            found[key] = off.tolist()
    expected = KERAS_MISPLACED_RESTARTS[backend]
    anchor_quirk(
        found == expected,
        f"Keras CosineDecayRestarts (backend {backend})",
        f"misplaces exactly the restarts recorded in KERAS_MISPLACED_RESTARTS ({expected}); "
        f"now {found}",
        "update the record; a set no longer misplaced on any backend can join KERAS_RESTART_SETS",
    )
