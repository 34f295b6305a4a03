"""values(): agrees with s(step) on Python ints beyond int64, which s(step) takes."""

from __future__ import annotations

import numpy as np
import pytest

import lrplugins as lrp

BIG = 2**70


@pytest.mark.parametrize(
    "s",
    [
        lrp.cosine(total_steps=BIG, warmup_steps="1%"),
        lrp.wsd(total_steps=BIG, warmup_steps="10%", decay_steps="20%"),
        lrp.linear(total_steps=BIG),
    ],
    ids=lambda s: s.kind,
)
def test_steps_beyond_int64_agree_with_the_scalar_call(s):
    steps = [0, 2**62, BIG // 3, BIG // 2, BIG - 2**60, BIG, 2**71]
    expected = pytest.approx([s(t) for t in steps], abs=1e-12)  # values()'s documented promise
    assert s.values(steps) == expected
    arr = s.values(np.array(steps, dtype=object).reshape(7, 1))
    assert arr.shape == (7, 1) and arr[:, 0].tolist() == expected


@pytest.mark.parametrize(
    ("steps", "error", "match"),
    [
        ([BIG, True], TypeError, r"steps must be integers, got dtype object"),
        ([BIG, 1.5], TypeError, r"steps must be integers, got dtype object"),
        ([BIG, -1], ValueError, r"steps must be >= 0, got -1"),
    ],
)
def test_a_bad_step_among_big_ones_is_still_refused(steps, error, match):
    with pytest.raises(error, match=match):
        lrp.cosine(total_steps=BIG).values(steps)
