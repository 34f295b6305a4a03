"""The engine's "on resume, the plateau missed an evaluation" policy, with no framework.

A checkpoint written after an epoch's last update but before that epoch's evaluation resumes
after it, and the framework does not run that evaluation again. The adapter says where that
evaluation falls (its framework's rules); the engine records where the plateau was last fed
(saved in its state), decides, and warns with one wording for every adapter.
"""

from __future__ import annotations

import doctest
import json
import warnings

import pytest

import lrplugins as lrp
import lrplugins._run.metric
from lrplugins._run import RunState

FIX = "Save checkpoints after the evaluation (Framework(setting=x)) to avoid it."


def new_run(monitor: str | None = "val_loss") -> RunState:
    plateau = lrp.Plateau(factor=0.5, patience=0) if monitor else None
    return RunState("Owner", lrp.constant(), plateau, monitor)


def fed_then_saved(feeds: dict[int, float], stop: int) -> dict:
    """A run's state after updates ``0..stop-1``, ``feeds[u]`` fed after update ``u`` (at the
    next update's index, ``observe``'s default); through JSON, as every checkpoint goes."""
    run = new_run()
    assert run.begin(0, total_steps=32) == "fresh"
    for u in range(stop):
        run.step = u + 1
        if u in feeds:
            run.observe(feeds[u])
    return json.loads(json.dumps(run.state_dict()))


def resumed(state: dict, step: int) -> RunState:
    run = new_run()
    run.load_state_dict(state)
    assert run.begin(step, total_steps=32) == "resume"
    return run


def check(run: RunState, due: int | None, now: int, **kw) -> tuple[bool, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = run.check_missed_evaluation(due, now, **kw)
    return out, [str(w.message) for w in caught]


# ------------------------------------------------------------------------------------------------
# The decision and its one wording
# ------------------------------------------------------------------------------------------------


def test_a_resume_before_the_due_evaluation_warns_naming_where_it_was_last_fed():
    # fed after update 3 (at 4); the checkpoint at 8 was written before the evaluation due at 8
    run = resumed(fed_then_saved({3: 1.0}, 8), 8)
    assert run.fed_at == 4
    warned, messages = check(run, 8, 8, fix=FIX)
    assert warned
    assert messages == [
        (
            "Owner(monitor='val_loss'): the plateau was last fed at update 4 and the run resumes "
            "at update 8: the checkpoint was written before the evaluation at update 8, which the "
            "resumed run does not repeat, so the plateau missed one value and the LR may differ "
            f"from an uninterrupted run's. {FIX}"
        )
    ]


def test_a_plateau_never_fed_says_so_and_the_adapter_names_the_evaluation_and_unit():
    run = resumed(fed_then_saved({}, 8), 1)
    assert run.fed_at is None
    warned, messages = check(run, 0, 1, unit="epoch", evaluation="epoch 0's validation", fix=FIX)
    assert warned
    assert messages == [
        (
            "Owner(monitor='val_loss'): the plateau was never fed and the run resumes at epoch 1: "
            "the checkpoint was written before epoch 0's validation, which the resumed run does "
            "not repeat, so the plateau missed one value and the LR may differ from an "
            f"uninterrupted run's. {FIX}"
        )
    ]


@pytest.mark.parametrize("fed_after", [7, 9])
def test_fed_at_or_after_the_due_evaluation_is_nothing_missed(fed_after):
    run = resumed(fed_then_saved({3: 1.0, fed_after: 1.0}, 12), 12)
    assert run.fed_at == fed_after + 1
    assert check(run, 8, 12, fix=FIX) == (False, [])


def test_no_due_evaluation_no_monitor_or_no_resume_is_never_a_warning():
    state = fed_then_saved({}, 8)
    assert check(resumed(state, 8), None, 8) == (False, [])  # the adapter: nothing was due
    no_monitor = new_run(None)
    no_monitor.load_state_dict({**state, "plateau": None})
    assert no_monitor.begin(8, total_steps=32) == "resume"
    assert check(no_monitor, 8, 8) == (False, [])
    fresh = new_run()
    assert fresh.begin(0, total_steps=32) == "fresh"
    assert check(fresh, 0, 0) == (False, [])
    foreign = new_run()  # step > 0 with nothing loaded: not this run's checkpoint
    assert foreign.begin(8, total_steps=32) == "foreign"
    assert check(foreign, 8, 8) == (False, [])
    # the same run state trains on ("continue"): it ran the evaluations itself
    cont = new_run()
    cont.begin(0, total_steps=32)
    cont.step = 8
    cont.end()
    assert cont.begin(8, total_steps=32) == "continue"
    assert check(cont, 8, 8) == (False, [])


# ------------------------------------------------------------------------------------------------
# Where the plateau was fed: recorded by observe, saved, forgotten by a new run
# ------------------------------------------------------------------------------------------------


def test_observe_records_the_next_update_or_the_adapters_position_and_the_state_keeps_it():
    run = new_run()
    run.begin(0, total_steps=32)
    assert "fed" not in run.state_dict()  # never fed: the key is left out, as before it existed
    run.step = 5
    run.observe(1.0)
    assert run.fed_at == 5 and run.state_dict()["fed"] == 5
    run.observe(float("nan"), at=2)  # a bad value is still fed (a bad observation)
    assert run.fed_at == 2 and run.state_dict()["fed"] == 2
    with pytest.raises(TypeError, match="single number"):
        run.observe("x", at=9)  # refused: nothing was fed
    assert run.fed_at == 2


def test_a_new_run_forgets_where_the_last_one_fed_and_a_continued_one_keeps_it():
    run = new_run()
    run.begin(0, total_steps=32)
    run.step = 4
    run.observe(1.0)
    run.end()
    assert run.begin(4, total_steps=32) == "continue" and run.fed_at == 4
    run.end()
    assert run.begin(0, total_steps=32) == "fresh" and run.fed_at is None


@pytest.mark.parametrize("fed", [-1, True, 2.5, "3"])
def test_a_bad_fed_in_a_state_is_refused_naming_it(fed):
    state = fed_then_saved({3: 1.0}, 8)
    with pytest.raises(ValueError, match=rf"fed must be an int >= 0, got {fed!r}"):
        new_run().load_state_dict({**state, "fed": fed})


# ------------------------------------------------------------------------------------------------
# Checkpoints written before the engine kept it: the adapters' extras "fed" / "fed_epoch"
# ------------------------------------------------------------------------------------------------


def old_format(state: dict, extra: str, value: int) -> dict:
    """``state`` as the previous version wrote it: no ``"fed"``, the adapter's extra instead."""
    old = {k: v for k, v in state.items() if k != "fed"}
    old["adapter"] = {**old["adapter"], extra: value}
    return old


@pytest.mark.parametrize(
    "extra, saved, due, warned",
    [
        ("fed", 4, 8, True),  # Hugging Face: the update of the last evaluation fed
        ("fed", 8, 8, False),
        ("fed", -1, 8, True),  # never fed
        ("fed_epoch", 0, 1, True),  # Lightning: the epoch
        ("fed_epoch", 1, 1, False),
        ("fed_epoch", -1, 0, True),
    ],
)
def test_an_old_format_state_still_loads_and_still_decides(extra, saved, due, warned):
    state = old_format(fed_then_saved({3: 1.0}, 8), extra, saved)
    assert "fed" not in state
    run = resumed(state, 8)
    assert run.fed_at == (None if saved < 0 else saved)
    out, messages = check(run, due, due, fix=FIX)
    assert out is warned and len(messages) == int(warned)
    if warned:
        last = "was never fed" if saved < 0 else f"was last fed at update {saved}"
        assert f"the plateau {last} and the run resumes at update {due}" in messages[0]


def test_an_old_format_state_with_neither_extra_counts_as_never_fed():
    state = fed_then_saved({3: 1.0}, 8)
    del state["fed"]
    run = resumed(state, 8)
    assert run.fed_at is None
    assert check(run, 8, 8)[0]


def test_the_methods_example_runs():
    result = doctest.testmod(lrplugins._run.metric, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
