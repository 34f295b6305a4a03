"""One schedule, one epoch length: a wrapper's "Nep" (cooldown, stretch, sequence boundaries,
a product's other factors) counts the epochs of the schedule it wraps when that one has its own
steps_per_epoch; binding another steps_per_epoch keeps it (as .bind() keeps values a schedule
already has); two different ones written into one schedule are refused, naming both."""

from __future__ import annotations

import numpy as np
import pytest

import lrplugins as lrp
from lrplugins._schedules.combinators import Cooldown

S = lrp.cosine(total_steps="10ep", warmup_steps="1ep", steps_per_epoch=100)
IN_STEPS = lrp.cosine(total_steps=1000, warmup_steps=100)
T = np.arange(2500)


@pytest.mark.parametrize(
    ("in_epochs", "in_steps"),
    [
        (S.cooldown(at="5ep", steps="2ep"), IN_STEPS.cooldown(at=500, steps=200)),
        (S.stretch(at="5ep", total_steps="20ep"), IN_STEPS.stretch(at=500, total_steps=2000)),
        (
            lrp.sequence([S, lrp.constant()], ["10ep"]),
            lrp.sequence([IN_STEPS, lrp.constant()], [1000]),
        ),
        (S * lrp.constant(warmup_steps="2ep"), IN_STEPS * lrp.constant(warmup_steps=200)),
    ],
    ids=["cooldown", "stretch", "sequence", "product"],
)
def test_a_wrappers_epochs_are_the_wrapped_schedules(in_epochs, in_steps):
    assert in_epochs.is_bound
    np.testing.assert_array_equal(in_epochs.values(T), in_steps.values(T))
    assert [tuple(p) for p in in_epochs.phases()] == [tuple(p) for p in in_steps.phases()]
    # another epoch length from the trainer: the schedule keeps its own, everywhere
    for spe in (50, 100, 200):
        bound = in_epochs.bind(total_steps=3000, steps_per_epoch=spe)
        np.testing.assert_array_equal(bound.values(T), in_steps.values(T))


def test_a_part_without_an_epoch_length_gets_the_one_its_partner_has():
    seq = lrp.sequence([S, lrp.linear(total_steps="5ep")], ["10ep"])  # the last part lacks spe
    assert seq.is_bound
    expected = lrp.sequence([IN_STEPS, lrp.linear(total_steps=500)], [1000])
    np.testing.assert_array_equal(seq.values(T), expected.values(T))
    prod = S * lrp.linear(warmup_steps="1ep")  # unbound: the second factor needs total_steps
    assert prod.missing == ("total_steps",)
    np.testing.assert_array_equal(
        prod.bind(total_steps=2000, steps_per_epoch=50).values(T),
        (IN_STEPS * lrp.linear(total_steps=2000, warmup_steps=100)).values(T),
    )


def test_two_epoch_lengths_in_one_schedule_are_refused_naming_both():
    with pytest.raises(
        ValueError,
        match=r"sequence\(\): steps_per_epoch=50 but schedules\[0\] has steps_per_epoch=100: "
        r"one schedule has one epoch length",
    ):
        lrp.sequence([S, lrp.constant()], ["10ep"], steps_per_epoch=50, total_steps=2000)
    with pytest.raises(
        ValueError, match=r"schedules\[0\] has steps_per_epoch=100 but schedules\[1\] has .*=7"
    ):
        lrp.sequence([S, lrp.linear(total_steps="2ep", steps_per_epoch=7)], ["10ep"])
    with pytest.raises(
        ValueError, match=r"cooldown\(\): steps_per_epoch=50 but schedule has steps_per_epoch=100"
    ):
        Cooldown(S, at="5ep", steps="2ep", steps_per_epoch=50)
    # the same value twice is one epoch length
    same = Cooldown(S, at="5ep", steps="2ep", steps_per_epoch=100)
    np.testing.assert_array_equal(same.values(T), S.cooldown(at="5ep", steps="2ep").values(T))
