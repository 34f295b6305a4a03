"""Parity of the momentum rows with torch's own momentum cycling.

``one_cycle_momentum`` and ``cyclic_momentum`` are multipliers of the momentum configured on the
optimizer (torch's ``max_momentum``). Each test steps the real torch ``OneCycleLR`` /
``CyclicLR`` with ``cycle_momentum=True`` on a real optimizer (SGD, RMSprop: the group's
``momentum``; Adam, AdamW: its ``betas[0]``) and compares ``max_momentum * s(t)`` with what the
optimizer holds before update ``t``, at every step, through ``s(step)`` and ``s.values(steps)``,
within 1e-9 relative / 1e-12 absolute. The expected numbers always come from torch.

Parameters come from a grid (``three_phase``, ``anneal`` linear/cos, the three ``CyclicLR``
modes, edge lengths) and from hypothesis (random valid sets and optimizers).

Where torch is not meaningful, as in tests/test_parity.py for the LR: ``OneCycleLR`` is defined on
steps ``0 .. N-1`` (it extrapolates at ``N`` and raises after), so the comparison stops at ``N - 1``
and lrplugins' hold of the end value (1, i.e. ``max_momentum``) is pinned through ``N + 10``; with
``pct_start * N == 1`` torch divides by zero, and lrplugins is pinned finite in ``[low, 1]``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from test_parity import anchor_quirk

import lrplugins as lrp
from conftest import require
from lrplugins._ops import MATH, numpy_ops

torch = require("torch")

RTOL, ATOL = 1e-9, 1e-12
MAX_LR = 0.5
OPTIMIZERS = ("SGD", "RMSprop", "Adam", "AdamW")
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _optimizer(name: str):
    param = torch.nn.Parameter(torch.zeros(2, dtype=torch.float64))
    if name in ("SGD", "RMSprop"):
        # a configured momentum that torch overrides with max_momentum
        return getattr(torch.optim, name)([param], lr=MAX_LR, momentum=0.5)
    return getattr(torch.optim, name)([param], lr=MAX_LR)


def _held(opt) -> tuple[float, float]:
    """(lr, momentum or beta1) the optimizer's group holds now."""
    g = opt.param_groups[0]
    m = g["momentum"] if "momentum" in g else g["betas"][0]
    return float(g["lr"]), float(m)


def torch_momentum(make, n: int, optimizer: str = "SGD") -> tuple[np.ndarray, np.ndarray]:
    """(lr, momentum) that ``make(opt)`` puts in a real ``optimizer`` before updates ``0 .. n-1``.

    Read before each update; ``opt.step()`` and ``sched.step()`` run between reads (not after the
    last one, so ``OneCycleLR`` can be read through its last defined step).
    """
    opt = _optimizer(optimizer)
    sched = make(opt)
    lrs, moms = [], []
    for t in range(n):
        lr, m = _held(opt)
        lrs.append(lr)
        moms.append(m)
        if t + 1 < n:
            opt.step()
            sched.step()
    return np.array(lrs), np.array(moms)


def check_momentum(s: lrp.Schedule, max_momentum: float, expected: np.ndarray) -> None:
    """``max_momentum * s(t)`` and ``max_momentum * s.values(steps)[t]`` equal ``expected[t]``."""
    steps = np.arange(len(expected))
    scalar = [s(int(t)) for t in steps]
    assert all(type(x) is float for x in scalar)
    vector = s.values(steps)
    assert vector.dtype == np.float64
    for how, got in (
        ("s(step)", max_momentum * np.array(scalar)),
        ("values", max_momentum * vector),
    ):
        bad = ~np.isclose(got, expected, rtol=RTOL, atol=ATOL)
        if bad.any():
            rows = "\n".join(
                f"  step {t}: torch {expected[t]!r}, lrplugins {got[t]!r}"
                for t in np.flatnonzero(bad)[:8]
            )
            pytest.fail(f"{max_momentum} * {s!r} via {how} differs at {bad.sum()} step(s):\n{rows}")


def check_hold(s: lrp.Schedule, start: int, stop: int, value: float) -> None:
    steps = np.arange(start, stop + 1)
    assert [s(int(t)) for t in steps] == [value] * len(steps)
    assert s.values(steps).tolist() == [value] * len(steps)


# ------------------------------------------------------------------------------------------------
# one_cycle_momentum <-> torch OneCycleLR(cycle_momentum=True)
# ------------------------------------------------------------------------------------------------


def _one_cycle_case(total, pct, anneal, three_phase, base_m, max_m, optimizer, *, div=25.0):
    """Compare with torch through N - 1; pin the hold after. Also re-check the LR alongside."""
    s = lrp.one_cycle_momentum(
        total, pct_start=pct, anneal=anneal, three_phase=three_phase, low=base_m / max_m
    )

    def make(opt):
        return torch.optim.lr_scheduler.OneCycleLR(
            opt,
            max_lr=MAX_LR,
            total_steps=total,
            pct_start=pct,
            anneal_strategy=anneal,
            three_phase=three_phase,
            div_factor=div,
            base_momentum=base_m,
            max_momentum=max_m,
        )

    lrs, moms = torch_momentum(make, total, optimizer)
    check_momentum(s, max_m, moms)
    check_hold(s, total - 1, total + 10, 1.0)
    # the LR row it accompanies, on the same run (same phases)
    lr = lrp.one_cycle(total, pct_start=pct, div_factor=div, anneal=anneal, three_phase=three_phase)
    np.testing.assert_allclose(MAX_LR * lr.values(np.arange(total)), lrs, rtol=RTOL, atol=ATOL)
    assert [ph.start for ph in s.phases()] == [ph.start for ph in lr.phases()]


ONE_CYCLE_SETS = [  # (total, pct_start, anneal, three_phase, base_momentum, max_momentum)
    (100, 0.3, "cos", False, 0.85, 0.95),  # torch's defaults
    (100, 0.3, "linear", False, 0.85, 0.95),
    (2, 0.3, "cos", False, 0.85, 0.95),
    (2, 0.6, "linear", False, 0.85, 0.95),
    (3, 0.3, "cos", False, 0.5, 0.9),
    (10, 0.15, "linear", False, 0.8, 0.9),  # the turn between steps 0 and 1
    (10, 0.05, "cos", False, 0.85, 0.95),  # the turn before step 0
    (11, 0.95, "cos", False, 0.0, 0.99),  # momentum down to 0
    (17, 0.25, "linear", False, 0.9, 0.9),  # flat: low = 1
    (37, 0.5, "cos", False, 0.6, 0.98),
    (50, 0.3, "cos", True, 0.85, 0.95),
    (51, 0.4, "linear", True, 0.85, 0.95),
    (20, 0.2, "cos", True, 0.7, 0.99),
    (7, 0.3, "linear", True, 0.85, 0.95),
    (200, 0.45, "cos", True, 0.3, 0.6),
]


@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
@pytest.mark.parametrize(
    ("total", "pct", "anneal", "three_phase", "base_m", "max_m"), ONE_CYCLE_SETS
)
def test_one_cycle_momentum_vs_torch(total, pct, anneal, three_phase, base_m, max_m, optimizer):
    _one_cycle_case(total, pct, anneal, three_phase, base_m, max_m, optimizer)


@SETTINGS
@given(
    total=st.integers(2, 400),
    three_phase=st.booleans(),
    pct=st.floats(0.01, 0.99),
    anneal=st.sampled_from(["cos", "linear"]),
    max_m=st.floats(0.05, 0.999),
    ratio=st.floats(0.0, 1.0),
    optimizer=st.sampled_from(OPTIMIZERS),
)
def test_one_cycle_momentum_vs_torch_random(
    total, three_phase, pct, anneal, max_m, ratio, optimizer
):
    if three_phase:
        pct = min(pct, 0.49)
    assume(pct * total != 1.0)  # torch divides by zero there (test_one_cycle_momentum_turn_at_zero)
    _one_cycle_case(total, pct, anneal, three_phase, ratio * max_m, max_m, optimizer)


def test_one_cycle_momentum_defaults_are_torchs():
    # low defaults to torch's base_momentum / max_momentum, so the default row needs no argument
    s = lrp.one_cycle_momentum(60)
    _, moms = torch_momentum(
        lambda opt: torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=MAX_LR, total_steps=60), 60
    )
    check_momentum(s, 0.95, moms)


@pytest.mark.parametrize(
    ("kwargs", "epochs", "spe"),
    [({"total_steps": "3ep", "steps_per_epoch": 7}, 3, 7), ({"total_steps": "2ep"}, 2, 13)],
)
def test_one_cycle_momentum_epochs_vs_torch(kwargs, epochs, spe):
    # torch OneCycleLR(epochs=, steps_per_epoch=) has N = epochs * steps_per_epoch
    s = lrp.one_cycle_momentum(**kwargs)
    if not s.is_bound:
        assert s.missing == lrp.one_cycle(total_steps="2ep").missing  # what the LR row says
        s = s.bind(steps_per_epoch=spe)
    n = epochs * spe
    _, moms = torch_momentum(
        lambda opt: torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=MAX_LR, epochs=epochs, steps_per_epoch=spe
        ),
        n,
        "AdamW",
    )
    check_momentum(s, 0.95, moms)


ONE_CYCLE_TURN_AT_ZERO = [(2, 0.5, False), (10, 0.1, False), (10, 0.1, True)]
"""(total, pct_start, three_phase) with pct_start * total == 1: the fall ends at step 0."""


@pytest.mark.parametrize(("total", "pct", "three_phase"), ONE_CYCLE_TURN_AT_ZERO)
def test_one_cycle_momentum_turn_at_zero(total, pct, three_phase):
    # torch divides by zero computing its first value (tests/test_parity.py checks that quirk for
    # the LR, in the same code path). lrplugins is defined: the empty fall is complete, so the
    # momentum is at its low at step 0, as the LR is at its peak there; every value in [low, 1].
    s = lrp.one_cycle_momentum(total, pct_start=pct, three_phase=three_phase, low=0.5)
    vals = s.values(np.arange(total + 10))
    assert s(0) == 0.5 and vals[0] == 0.5
    assert np.isfinite(vals).all() and (vals >= 0.5).all() and (vals <= 1.0).all()
    assert vals[total - 1 :].tolist() == [1.0] * 11


def test_quirk_torch_one_cycle_momentum_past_the_end():
    # torch is defined on steps 0..N-1: at step N it extrapolates the last phase (the momentum
    # overshoots max_momentum's curve: cos anneal past progress 1 turns back down), and one more
    # step() raises. lrplugins holds 1 (test_one_cycle_momentum_vs_torch pins it).
    opt = _optimizer("SGD")
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=MAX_LR, total_steps=10)
    moms = []
    for _ in range(10):
        moms.append(_held(opt)[1])
        opt.step()
        sched.step()
    moms.append(_held(opt)[1])  # step N
    opt.step()
    try:
        sched.step()
        raised = False
    except ValueError:
        raised = True
    anchor_quirk(
        moms[9] == 0.95 and moms[10] < 0.95 and raised,
        "torch OneCycleLR(cycle_momentum=True)",
        f"extrapolates the momentum at step N ({moms[9]!r} at N-1, {moms[10]!r} at N) and raises "
        "after",
        "test_one_cycle_momentum_vs_torch can compare through step N",
    )


# ------------------------------------------------------------------------------------------------
# cyclic_momentum <-> torch CyclicLR(cycle_momentum=True)
# ------------------------------------------------------------------------------------------------


def _cyclic_case(up, down, mode, gamma, base_m, max_m, optimizer, *, s=None):
    s = s or lrp.cyclic_momentum(up, down, low=base_m / max_m, mode=mode, gamma=gamma)
    n = 4 * (up + (down or up)) + 10  # four cycles, then 10 steps

    def make(opt):
        return torch.optim.lr_scheduler.CyclicLR(
            opt,
            base_lr=0.1 * MAX_LR,
            max_lr=MAX_LR,
            step_size_up=up,
            step_size_down=down,
            mode=mode,
            gamma=gamma,
            base_momentum=base_m,
            max_momentum=max_m,
        )

    lrs, moms = torch_momentum(make, n, optimizer)
    check_momentum(s, max_m, moms)
    lr = lrp.cyclic(up, down, low=0.1, mode=mode, gamma=gamma)  # the LR row, same run
    np.testing.assert_allclose(MAX_LR * lr.values(np.arange(n)), lrs, rtol=RTOL, atol=ATOL)


CYCLIC_SETS = [  # (up, down, mode, gamma, base_momentum, max_momentum)
    (5, None, "triangular", 1.0, 0.8, 0.9),  # torch's momentum defaults
    (1, None, "triangular", 1.0, 0.0, 0.9),
    (1, 1, "triangular", 1.0, 0.5, 0.95),
    (3, 5, "triangular", 1.0, 0.85, 0.95),
    (6, 1, "triangular", 1.0, 0.2, 0.99),
    (4, None, "triangular2", 1.0, 0.8, 0.9),
    (2, 3, "triangular2", 1.0, 0.0, 0.5),
    (1, 4, "triangular2", 1.0, 0.7, 0.98),
    (5, None, "exp_range", 0.99, 0.8, 0.9),
    (3, 2, "exp_range", 0.9, 0.6, 0.95),
    (2, None, "exp_range", 1.0, 0.8, 0.9),
    (1, 1, "triangular", 1.0, 0.9, 0.9),  # flat: low = 1
]


@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
@pytest.mark.parametrize(("up", "down", "mode", "gamma", "base_m", "max_m"), CYCLIC_SETS)
def test_cyclic_momentum_vs_torch(up, down, mode, gamma, base_m, max_m, optimizer):
    _cyclic_case(up, down, mode, gamma, base_m, max_m, optimizer)


@SETTINGS
@given(
    up=st.integers(1, 40),
    down=st.none() | st.integers(1, 40),
    mode=st.sampled_from(["triangular", "triangular2", "exp_range"]),
    gamma=st.floats(0.9, 1.0),
    max_m=st.floats(0.05, 0.999),
    ratio=st.floats(0.0, 1.0),
    optimizer=st.sampled_from(OPTIMIZERS),
)
def test_cyclic_momentum_vs_torch_random(up, down, mode, gamma, max_m, ratio, optimizer):
    gamma = gamma if mode == "exp_range" else 1.0
    _cyclic_case(up, down, mode, gamma, ratio * max_m, max_m, optimizer)


def test_cyclic_momentum_durations_vs_torch():
    # "10%" of 50 = 5 steps up; "1.5ep" of 3 = 4.5, rounded up to 5 steps down
    s = lrp.cyclic_momentum("10%", "1.5ep", total_steps=50, steps_per_epoch=3)
    assert s.phases()[:2] == [lrp.Phase("cycle 0 down", 0, 5), lrp.Phase("cycle 0 up", 5, 10)]
    _cyclic_case(5, 5, "triangular", 1.0, 0.8, 0.9, "SGD", s=s)


# ------------------------------------------------------------------------------------------------
# The rows as schedules: construction, configs, phases, the xp namespace
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: lrp.one_cycle_momentum(10, low=1.5), "one_cycle_momentum(): low must be in [0, 1], got 1.5"),
        (lambda: lrp.one_cycle_momentum(10, pct_start=0.0), "one_cycle_momentum(): pct_start must be in (0, 1), got 0.0"),
        (lambda: lrp.one_cycle_momentum(10, pct_start=0.5, three_phase=True), "one_cycle_momentum(): pct_start must be < 0.5 with three_phase=True, got 0.5"),
        (lambda: lrp.one_cycle_momentum(10, anneal="cosine"), "one_cycle_momentum(): anneal must be one of 'cos', 'linear', got 'cosine'"),
        (lambda: lrp.one_cycle_momentum(1), "one_cycle_momentum(): total_steps must be >= 2, got 1"),
        (lambda: lrp.one_cycle_momentum("50%"), "one_cycle_momentum(): total_steps must be an int number of steps, 'Nep' (epochs), got '50%'"),
        (lambda: lrp.cyclic_momentum(0), "cyclic_momentum(): step_size_up must be >= 1, got 0"),
        (lambda: lrp.cyclic_momentum(2, 0), "cyclic_momentum(): step_size_down must be >= 1, got 0"),
        (lambda: lrp.cyclic_momentum(2, low=-0.1), "cyclic_momentum(): low must be in [0, 1], got -0.1"),
        (lambda: lrp.cyclic_momentum(2, mode="cosine"), "cyclic_momentum(): mode must be one of 'triangular', 'triangular2', 'exp_range', got 'cosine'"),
        (lambda: lrp.cyclic_momentum(2, gamma=0.9), "cyclic_momentum(): gamma is only used with mode='exp_range', got gamma=0.9 with mode='triangular'"),
        (lambda: lrp.cyclic_momentum(2, mode="exp_range", gamma=0.0), "cyclic_momentum(): gamma must be in (0, 1], got 0.0"),
    ],
)  # fmt: skip
def test_bad_arguments_are_refused_naming_the_argument_and_the_value(build, message):
    with pytest.raises(ValueError) as info:
        build()
    assert str(info.value) == message


def test_wrong_types_are_refused():
    with pytest.raises(TypeError, match=r"one_cycle_momentum\(\): low must be a number, got '0.8'"):
        lrp.one_cycle_momentum(10, low="0.8")
    with pytest.raises(TypeError, match=r"cyclic_momentum\(\): .*step_size_up"):
        lrp.cyclic_momentum(2.5)


def test_unbound_until_bound_and_config_round_trip():
    s = lrp.one_cycle_momentum(pct_start=0.25, low=0.8)
    assert not s.is_bound and s.missing == ("total_steps",)
    with pytest.raises(lrp.UnboundScheduleError, match="missing total_steps"):
        s(0)
    bound = s.bind(total_steps=40)
    assert bound == lrp.one_cycle_momentum(40, pct_start=0.25, low=0.8)
    c = lrp.cyclic_momentum("5%", mode="triangular2")
    assert c.missing == ("total_steps (for step_size_up='5%')",)
    for sched in (s, bound, c, c.bind(total_steps=100)):
        back = lrp.from_config(sched.to_config())
        assert back == sched and hash(back) == hash(sched) and repr(back) == repr(sched)
    assert lrp.from_config(
        {"kind": "one_cycle_momentum", "total_steps": 40}
    ) == lrp.one_cycle_momentum(40)
    assert repr(lrp.cyclic_momentum(3)) == "cyclic_momentum(step_size_up=3)"  # the default low


def test_phases_follow_the_lr_rows():
    s = lrp.one_cycle_momentum(100, pct_start=0.25, three_phase=True)
    assert [tuple(ph) for ph in s.phases()] == [
        ("fall", 0, 25), ("rise", 25, 49), ("constant", 49, 99), ("hold", 99, None)
    ]  # fmt: skip
    lr = lrp.one_cycle(100, pct_start=0.25, three_phase=True)
    assert [(ph.start, ph.end) for ph in s.phases()] == [(ph.start, ph.end) for ph in lr.phases()]
    vals = s.values(np.arange(101))
    assert vals.argmin() == 24 and vals[24] == pytest.approx(0.85 / 0.95) and vals[48:].min() == 1.0
    c = lrp.cyclic_momentum(2, 3)
    assert [(ph.name, ph.start) for ph in c.phases()[:3]] == [
        ("cycle 0 down", 0), ("cycle 0 up", 2), ("cycle 1 down", 5)
    ]  # fmt: skip


@pytest.mark.parametrize(
    "s",
    [
        lrp.one_cycle_momentum(57, anneal="cos", low=0.3),
        lrp.one_cycle_momentum(57, pct_start=0.4, anneal="linear", three_phase=True, low=0.1),
        lrp.cyclic_momentum(3, 4, low=0.2, mode="triangular2"),
        lrp.cyclic_momentum(5, low=0.5, mode="exp_range", gamma=0.97),
    ],
    ids=repr,
)
def test_evaluate_runs_the_same_formula_on_every_namespace(s):
    steps = np.arange(80)
    expected = s.values(steps)
    # the namespace adapters compile with (numpy here; the Keras adapter passes keras.ops), on a
    # float step as they do, and the scalar namespace
    got = s.evaluate(steps.astype(np.float64), numpy_ops())
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    assert [s.evaluate(float(t), MATH) for t in steps] == [s(int(t)) for t in steps]
    assert (expected <= 1.0).all() and (expected >= s.low - 1e-15).all()


def test_scaled_by_the_configured_momentum_gives_torchs_absolute_values():
    # the schedule is a multiplier: k * s is the absolute momentum, as s.scaled(max_momentum)
    s = lrp.one_cycle_momentum(30)
    assert s.scaled(0.95)(9) == pytest.approx(0.95 * s(9), rel=1e-15)
    assert math.isclose(s.scaled(0.95)(int(0.3 * 30) - 1), 0.85, rel_tol=1e-12)
