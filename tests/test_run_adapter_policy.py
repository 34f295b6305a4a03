"""Policies the engine decides for every adapter, with no framework: where its warnings go.

Lightning's own warnings are emitted on global rank 0 only (``rank_zero_warn``); an adapter gives
the engine its warning sink in its :class:`~lrplugins._run.Profile`, so every warning of the run
state (a cooldown longer than the run, a missing metric, a horizon change, ...) goes the
framework's way. The default is :func:`warnings.warn`. The DDP check (one warning per run, not
one per process) is ``integration/test_lightning_warnings_ddp.py``.
"""

from __future__ import annotations

import warnings
from typing import Any

import pytest

import lrplugins as lrp
from lrplugins._run import Profile, RunState, UnknownClockError, adapter_run

LONG = (
    "Owner.cooldown(): steps=50 (50 updates) from update 0 ends at update 50, after the run's last "
    "update (9, total_steps=10): the run ends before the LR reaches final."
)


def where(run: RunState) -> tuple[str, int]:
    """The location a warning of ``run`` is reported at (a cooldown longer than the run)."""
    run.begin(0, total_steps=10)
    with pytest.warns(UserWarning) as caught:
        adapters_cooldown(run)
    assert [str(w.message) for w in caught] == [LONG]
    return caught[0].filename, caught[0].lineno


def adapters_cooldown(run: RunState) -> None:
    run.cooldown(50)  # an adapter's cooldown(): the warning points at its caller


def test_the_default_sink_is_warnings_warn() -> None:
    assert where(RunState("Owner", lrp.constant()))[0] == __file__


def test_an_adapters_sink_gets_every_engine_warning_and_warnings_warn_none() -> None:
    got: list[tuple[str, int]] = []

    def sink(message: str, stacklevel: int = 1) -> None:
        got.append((message, stacklevel))

    run = adapter_run(Profile(warn=sink), "Owner", lrp.cosine())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing reaches warnings.warn
        run.begin(0, total_steps=10)
        run.cooldown(50)
        run.end()
        run.load_state_dict(run.state_dict())
        run.begin(5, total_steps=20)  # a horizon change
    assert len(got) == 2 and got[0][0] == LONG
    assert got[1][0].startswith("Owner: the run length changed from 10 to 20 updates")
    assert all(isinstance(n, int) and n >= 2 for _, n in got)


def test_a_sink_that_forwards_to_warnings_warn_keeps_the_location() -> None:
    def sink(message: str, stacklevel: int = 1) -> None:
        warnings.warn(message, stacklevel=stacklevel + 1)

    default = where(RunState("Owner", lrp.constant()))
    assert where(adapter_run(Profile(warn=sink), "Owner", lrp.constant())) == default


def test_the_metric_parts_warnings_go_to_the_sink() -> None:
    got: list[Any] = []
    run = adapter_run(
        Profile(warn=lambda m, stacklevel=1: got.append(m)),
        "Owner",
        lrp.constant(),
        lrp.Plateau(),
        "val_loss",
        strict=False,
    )
    run.begin(0, total_steps=10)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        run.check_feedable(False, "evaluation='off'")
    assert len(got) == 1 and got[0].startswith("Owner(monitor='val_loss'): this run never")


# ------------------------------------------------------------------------------------------------
# begin(step, ..., clock=n): where a samples / tokens clock starts, decided once
# ------------------------------------------------------------------------------------------------

TOKENS = lrp.cosine(total_steps="1000tok")


def tokens_run() -> RunState:
    return RunState("Owner", TOKENS)


def test_a_fresh_or_foreign_run_starts_its_clock_at_the_frameworks_count() -> None:
    run = tokens_run()
    assert run.begin(0, clock=0) == "fresh" and run.clock_value == 0
    run = tokens_run()
    assert run.begin(4, clock=300) == "foreign"
    assert run.clock_value == 300
    assert run.now(4) == 300 and run.multiplier(run.now(4)) == run.active(300) < run.active(0)


def test_a_foreign_resume_without_the_frameworks_count_is_refused_changing_nothing() -> None:
    run = tokens_run()
    run.cooldown("10tok")  # pending: still pending after the refusal
    with pytest.raises(UnknownClockError, match=r"the tokens consumed before it are not known"):
        run.begin(4)
    assert not run.in_progress and not run.is_bound
    assert run.begin(0) == "fresh" and [e["kind"] for e in run.events] == ["cooldown"]
    assert issubclass(UnknownClockError, ValueError)


def test_a_resume_goes_on_from_its_own_clock_and_warns_when_the_frameworks_differs() -> None:
    run = tokens_run()
    run.begin(0, clock=0)
    run.advance(250)
    run.step = 3
    state = run.state_dict()
    same = tokens_run()
    same.load_state_dict(state)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert same.begin(3, clock=250) == "resume"
    assert same.clock_value == 250
    other = tokens_run()
    other.load_state_dict(state)
    with pytest.warns(UserWarning) as caught:
        assert other.begin(3, clock=1250) == "resume"
    message = (
        "Owner: the schedule's clock stands at 250 tokens but the trainer counted 1250 before "
        "update 3; the schedule goes on from its own count (250), as the run that saved it, adding "
        "the tokens the trainer counts from here."
    )
    assert [str(w.message) for w in caught] == [message]
    assert other.clock_value == 250
    unknown = tokens_run()
    unknown.load_state_dict(state)
    assert unknown.begin(3) == "resume" and unknown.clock_value == 250  # no count: no check


def test_the_update_clock_ignores_the_frameworks_count() -> None:
    run = RunState("Owner", lrp.cosine(total_steps=10))
    assert run.begin(4, clock=300) == "foreign" and run.clock_value == 0
    fresh = RunState("Owner", lrp.cosine(total_steps=10))
    assert fresh.begin(4) == "foreign"  # no count needed to resume on the update clock


# ------------------------------------------------------------------------------------------------
# What a run starts from: the configured schedules and plateau, not an earlier resume's
# ------------------------------------------------------------------------------------------------

GIVEN = lrp.cosine(total_steps=20)
SAVED = lrp.linear(total_steps=20, final=0.5)


def saved_state() -> dict[str, Any]:
    """A checkpoint at update 4 of a run given ``SAVED`` and a plateau of factor 0.25."""
    run = RunState("Owner", SAVED, lrp.Plateau(factor=0.25, patience=0), "val_loss")
    run.begin(0)
    run.observe_metrics({"val_loss": 1.0})
    run.observe_metrics({"val_loss": 2.0})  # a cut: scale 0.25
    run.step = 4
    return run.state_dict()


def resumed() -> tuple[RunState, lrp.Plateau]:
    plateau = lrp.Plateau(factor=0.5, patience=0)
    run = RunState("Owner", GIVEN, plateau, "val_loss")
    run.load_state_dict(saved_state())  # the checkpoint's plateau config and scale win
    with pytest.warns(UserWarning, match="the checkpoint's is used"):
        assert run.begin(4) == "resume"
    assert run.schedule == SAVED and run.plateau is not plateau and run.scale == 0.25
    run.end()
    return run, plateau


@pytest.mark.parametrize("step, decision", [(0, "fresh"), (7, "foreign")])
def test_a_new_run_after_a_resume_starts_from_the_configured_schedule_and_plateau(
    step: int, decision: str
) -> None:
    run, plateau = resumed()
    assert run.begin(step) == decision
    assert run.schedule == GIVEN and run.active == GIVEN
    assert run.plateau is plateau and run.scale == 1.0
    assert run.multiplier(10) == GIVEN(10)


def test_a_second_resume_is_compared_with_the_configured_schedule() -> None:
    run, _ = resumed()
    run.load_state_dict(saved_state())
    with pytest.warns(UserWarning) as caught:
        assert run.begin(4) == "resume"
    assert any(
        f"the checkpoint was saved with schedule {SAVED!r}, this run was given {GIVEN!r}"
        in str(w.message)
        for w in caught
    ), [str(w.message) for w in caught]


def test_a_schedule_configured_late_is_in_force_only_from_the_next_new_run() -> None:
    run = adapter_run(Profile(schedule_optional=True, per_group=False), "Owner", None)
    run.schedule = GIVEN  # the adapter learns it (Keras: the optimizer's)
    assert run.begin(0) == "fresh" and run.active == GIVEN
    run.end()
    run.schedule = SAVED  # configured again between runs: a continued run keeps its own
    assert run.begin(1) == "continue" and run.active == GIVEN
    run.end()
    assert run.begin(0) == "fresh" and run.active == SAVED
