"""wsd: warmup and decay written as shares of the run bind for every run length when the shares
sum to at most 100%; the decay gives way by the step the two round-ups would overflow."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

import lrplugins as lrp


def lengths(s, n):
    """(W, D) of ``s`` bound to ``n`` steps, read from its phases."""
    phases = {p.name: p for p in s.bind(total_steps=n).phases()}
    w = phases["warmup"].end if "warmup" in phases else 0
    return w, phases["hold"].start - phases["decay"].start


@pytest.mark.parametrize(("wp", "dp"), [("10%", "90%"), ("50%", "50%"), ("12.5%", "80%")])
def test_shares_that_sum_to_at_most_100_percent_bind_for_every_total(wp, dp):
    s = lrp.wsd(warmup_steps=wp, decay_steps=dp, final=0.01)
    wf, df = Fraction(wp[:-1]) / 100, Fraction(dp[:-1]) / 100
    for n in range(10, 2001):
        w, d = lengths(s, n)
        w_up, d_up = math.ceil(wf * n), math.ceil(df * n)
        assert w == w_up  # the warmup is always its share rounded up
        # unchanged where the two round-ups fit; else the decay gives way, to N - W
        assert d == (d_up if w_up + d_up <= n else n - w_up), n
        assert w + d <= n
        bound = s.bind(total_steps=n)
        assert bound(n) == 0.01 and bound(w) == 1.0  # the decay ends at N, from the peak


def test_ten_and_ninety_percent_of_1001_steps():
    s = lrp.wsd(warmup_steps="10%", decay_steps="90%", final=0.01)
    assert lengths(s, 1001) == (101, 900)


def test_shares_over_100_percent_and_step_counts_that_do_not_fit_stay_refused():
    with pytest.raises(ValueError, match=r"warmup_steps \+ decay_steps \(101 \+ 911\)"):
        lrp.wsd(warmup_steps="10%", decay_steps="91%").bind(total_steps=1001)
    with pytest.raises(ValueError, match=r"\(101 \+ 901\) must be <= total_steps \(1001\)"):
        lrp.wsd(warmup_steps="10%", decay_steps=901).bind(total_steps=1001)
    with pytest.raises(ValueError, match=r"\(6 \+ 5\) must be <= total_steps \(10\)"):
        lrp.wsd(total_steps=10, warmup_steps=6, decay_steps=5)


def test_fractional_epochs_that_fit_exactly_bind_too():
    # 1.5 + 1.5 epochs of 3 steps: 4.5 + 4.5 = 9 steps exactly; rounded up each, 5 + 5
    s = lrp.wsd(total_steps=9, warmup_steps="1.5ep", decay_steps="1.5ep", steps_per_epoch=3)
    assert lengths(s, 9) == (5, 4)
