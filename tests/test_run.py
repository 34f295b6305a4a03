"""The run-state engine (``lrplugins.RunState``), tested once here, with no framework.

Every adapter delegates to it: the constructor checks, binding and horizon changes on resume, the
metric policy (``strict``), the plateau, runtime cooldowns, base LRs and the one state format. The
adapters' integration tests check the wiring; the policies are pinned here.
"""

from __future__ import annotations

import json
import math
import warnings

import pytest

import lrplugins as lrp
from lrplugins._run import FORMAT, Profile, RunState, adapter_run


def run_of(schedule=None, plateau=None, monitor=None, **kw):
    return RunState("Owner", schedule or lrp.cosine(warmup_steps=2), plateau, monitor, **kw)


def drive(run, start, stop, metrics=None):
    """Multipliers for updates ``start..stop-1``, feeding ``metrics[u]`` after update ``u``."""
    out = []
    for u in range(start, stop):
        run.step = u
        out.append(run.multiplier(u))
        if metrics and u in metrics:
            run.observe(metrics[u])
    return out


# ------------------------------------------------------------------------------------------------
# One constructor surface
# ------------------------------------------------------------------------------------------------


def test_schedule_and_plateau_may_be_config_dicts():
    run = RunState("Owner", {"kind": "linear", "warmup_steps": 2}, {"patience": 3}, "val_loss")
    assert run.schedule == lrp.linear(warmup_steps=2)
    assert run.plateau.to_config()["patience"] == 3


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"schedule": lambda t: 1.0}, TypeError, "Owner(): schedule must be an lrplugins schedule"),
        ({"plateau": 0.5}, TypeError, "Owner(): plateau must be an lrplugins.Plateau"),
        ({"plateau": lrp.Plateau()}, ValueError, "plateau needs monitor"),
        ({"monitor": "val_loss"}, ValueError, "monitor='val_loss' is only read with a plateau"),
        ({"plateau": lrp.Plateau(), "monitor": ""}, ValueError, "non-empty str"),
        ({"plateau": lrp.Plateau(), "monitor": 3}, TypeError, "got 3"),
        ({"strict": "yes"}, TypeError, "strict must be True or False, got 'yes'"),
        ({"horizon": "extend"}, ValueError, "horizon must be one of 'stretch', 'rebind'"),
    ],
)
def test_bad_arguments_are_named_with_their_value(kwargs, error, message):
    args = {"schedule": lrp.constant(), **kwargs}
    with pytest.raises(error) as info:
        RunState("Owner", **args)
    assert message in str(info.value)


# ------------------------------------------------------------------------------------------------
# Binding and the LR
# ------------------------------------------------------------------------------------------------


def test_bind_from_the_run_and_explicit_values_win():
    run = run_of(lrp.linear(total_steps=10, warmup_steps="1ep"))
    assert run.bind(total_steps=999, steps_per_epoch=4) == lrp.linear(
        total_steps=10, warmup_steps="1ep", steps_per_epoch=4
    )


def test_unbound_names_what_is_missing_and_the_hint():
    run = run_of(lrp.cosine(warmup_steps="1ep"))
    with pytest.raises(lrp.UnboundScheduleError) as info:
        run.bind(total_steps=None, hint="Set max_steps.")
    assert "total_steps" in str(info.value) and str(info.value).endswith("Set max_steps.")
    with pytest.raises(lrp.UnboundScheduleError, match="not bound yet"):
        run.multiplier(0)


def test_lr_is_base_times_schedule_times_scale_and_nan_never_reaches_it():
    s = lrp.cosine(total_steps=20, warmup_steps=2)
    run = run_of(s, lrp.Plateau(patience=0, factor=0.5), "val_loss")
    run.bind()
    groups = [{"lr": 0.1}, {"lr": 0.02}]
    run.take_groups(0, groups)
    assert run.lrs(0, 5, groups) == [0.1 * s(5), 0.02 * s(5)]
    run.observe(1.0)
    for bad in (math.nan, math.inf, -math.inf):
        run.observe(bad)
    lrs = run.lrs(0, 5, groups)
    assert all(math.isfinite(x) for x in lrs)
    assert lrs == [0.1 * s(5) * 0.125, 0.02 * s(5) * 0.125]


def test_a_group_added_later_runs_its_schedule_on_its_own_clock_and_groups_cannot_vanish():
    s = lrp.linear(warmup_steps=2)
    run = run_of(s)
    run.bind(total_steps=10)
    run.take_groups(0, [{"lr": 1.0}])
    assert run.lrs(0, 4, [{"lr": 1.0}, {"lr": 0.5}]) == [s.bind(total_steps=10)(4), 0.0]
    late = s.bind(total_steps=6)  # bound with the 6 updates that remain at its join
    assert run.lrs(0, 7, [{"lr": 1.0}, {"lr": 0.5}])[1] == 0.5 * late(3)
    assert [g["join"] for g in run.groups[0]] == [0, 4]
    with pytest.raises(ValueError, match="groups cannot be removed"):
        run.lrs(0, 8, [{"lr": 1.0}])


# ------------------------------------------------------------------------------------------------
# The metric policy
# ------------------------------------------------------------------------------------------------


def test_strict_missing_metric_raises_listing_the_available_ones():
    run = run_of(plateau=lrp.Plateau(), monitor="val_loss")
    with pytest.raises(KeyError) as info:
        run.observe_metrics({"val_acc": 0.5, "loss": 1.0})
    assert "monitor='val_loss'" in str(info.value) and "['loss', 'val_acc']" in str(info.value)


def test_non_strict_missing_metric_warns_once_and_skips():
    run = run_of(plateau=lrp.Plateau(patience=0), monitor="val_loss", strict=False)
    with pytest.warns(UserWarning, match="no such metric.*warned once"):
        assert run.observe_metrics({"loss": 1.0}) is False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run.observe_metrics({"loss": 1.0}) is False
    assert run.plateau.num_bad == 0  # skipped, not counted as bad


def test_aliases_name_the_same_metric():
    run = run_of(plateau=lrp.Plateau(), monitor="loss")
    assert run.metric({"eval_loss": 0.3}, aliases=("eval_loss",)) == 0.3


def test_a_non_scalar_metric_is_an_error_naming_the_monitor():
    run = run_of(plateau=lrp.Plateau(), monitor="val_loss")
    with pytest.raises(TypeError, match=r"monitor='val_loss'.*single number"):
        run.observe([1.0, 2.0])


@pytest.mark.parametrize("strict", [True, False])
def test_a_monitor_that_can_never_be_fed_is_never_silent(strict):
    run = run_of(plateau=lrp.Plateau(), monitor="eval_loss", strict=strict)
    if strict:
        with pytest.raises(ValueError, match=r"monitor='eval_loss'.*eval_strategy='no'"):
            run.check_feedable(False, "eval_strategy='no'")
    else:
        with pytest.warns(UserWarning, match=r"monitor='eval_loss'.*eval_strategy='no'"):
            run.check_feedable(False, "eval_strategy='no'")
    run.check_feedable(True, "unused")  # fine when it can evaluate


def test_observe_reports_a_change_to_the_adapter():
    calls = []
    run = run_of(plateau=lrp.Plateau(patience=0), monitor="m")
    run.on_change = lambda: calls.append(run.scale)
    assert run.observe(1.0) is False and run.observe(2.0) is True
    assert calls == [pytest.approx(0.1)]


# ------------------------------------------------------------------------------------------------
# State and resume
# ------------------------------------------------------------------------------------------------

METRICS = {3: 2.0, 6: 2.0, 9: 2.0, 12: 1.0, 15: 1.5, 18: 1.5}


def fresh(**kw):
    return run_of(
        lrp.cosine(warmup_steps=2, final=0.1), lrp.Plateau(patience=1, factor=0.5), "m", **kw
    )


@pytest.mark.parametrize("cut", [0, 1, 7, 13, 19])
def test_resume_continues_exactly_through_json(cut):
    whole = fresh()
    whole.bind(total_steps=20)
    expected = drive(whole, 0, 25, METRICS)

    first = fresh()
    first.bind(total_steps=20)
    head = drive(first, 0, cut, METRICS)
    state = json.loads(json.dumps(first.state_dict(epoch=3), allow_nan=False))
    assert state["format"] == FORMAT

    second = fresh()
    assert second.load_state_dict(state) == {"epoch": 3}
    second.bind(total_steps=20, step=cut)
    assert head + drive(second, cut, 25, METRICS) == expected


def test_a_fresh_run_without_the_state_diverges():
    whole = fresh()
    whole.bind(total_steps=20)
    expected = drive(whole, 0, 25, METRICS)
    first = fresh()
    first.bind(total_steps=20)
    head = drive(first, 0, 13, METRICS)
    second = fresh()
    second.bind(total_steps=20, step=13)
    assert head + drive(second, 13, 25, METRICS) != expected


def test_the_checkpoint_wins_with_a_warning_naming_what_differs():
    first = fresh()
    first.bind(total_steps=20)
    drive(first, 0, 10, METRICS)
    other = RunState("Owner", lrp.linear(), lrp.Plateau(patience=5), "m")
    with pytest.warns(UserWarning, match="checkpoint's plateau has config"):
        other.load_state_dict(first.state_dict())
    with pytest.warns(UserWarning, match=r"saved with schedule cosine.*given linear"):
        other.bind(total_steps=20, step=10)
    assert other.schedule == first.schedule and other.plateau.to_config()["patience"] == 1
    assert other.multiplier(10) == first.multiplier(10)


def test_a_plateau_missing_on_either_side_warns():
    with_p = fresh()
    with_p.bind(total_steps=20)
    without = RunState("Owner", lrp.cosine(warmup_steps=2, final=0.1))
    with pytest.warns(UserWarning, match="this run has no plateau; the saved scale is dropped"):
        without.load_state_dict(with_p.state_dict())
    with pytest.warns(UserWarning, match="the checkpoint has no plateau"):
        fresh().load_state_dict(without.state_dict())


@pytest.mark.parametrize(
    "change, message",
    [
        ({"format": "lrplugins.torch.LRScheduler/1"}, "got format 'lrplugins.torch.LRScheduler/1'"),
        ({"extra": 1}, "unknown keys ['extra']"),
        ({"events": ...}, "missing keys ['events']"),
        ({"total_steps": 2.5}, "total_steps must be an int or None, got 2.5"),
        ({"groups": {"0": [{"join": 0, "base": {"lr": float("nan")}}]}}, "finite base values"),
    ],
)
def test_the_state_format_is_checked_in_one_place(change, message):
    run = fresh()
    run.bind(total_steps=20)
    sd = run.state_dict()
    for k, val in change.items():
        if val is ...:
            del sd[k]
        else:
            sd[k] = val
    with pytest.raises(ValueError) as info:
        fresh().load_state_dict(sd)
    assert message in str(info.value)


def test_start_fresh_forgets_a_previous_run():
    run = fresh()
    run.bind(total_steps=20)
    run.take_groups(0, [{"lr": 1.0}])
    drive(run, 0, 20, METRICS)
    assert run.plateau.scale < 1.0
    run.start_fresh()
    assert run.plateau.scale == 1.0 and run.groups == {} and run.active is None


# ------------------------------------------------------------------------------------------------
# Horizon changes on resume
# ------------------------------------------------------------------------------------------------


def _checkpoint_at(step, total=20, **kw):
    run = fresh(**kw)
    run.bind(total_steps=total)
    drive(run, 0, step)
    return run, run.state_dict()


@pytest.mark.parametrize("new_total", [30, 15])
def test_a_longer_or_shorter_run_stretches_the_rest_continuously(new_total):
    old, state = _checkpoint_at(10)
    run = fresh()
    run.load_state_dict(state)
    with pytest.warns(UserWarning, match=rf"from 20 to {new_total} updates"):
        active = run.bind(total_steps=new_total, step=10)
    assert active == old.active.stretch(at=10, total_steps=new_total)
    assert run.state_dict()["events"] == [{"kind": "stretch", "at": 10, "total_steps": new_total}]
    assert run.multiplier(10) == old.multiplier(10)  # continuous at the resume step
    assert run.multiplier(new_total) == pytest.approx(0.1)  # the end lands on the new total
    assert [run.multiplier(u) for u in range(10)] == [old.multiplier(u) for u in range(10)]


def test_rebind_binds_again_from_the_new_total():
    _, state = _checkpoint_at(10, horizon="rebind")
    run = fresh(horizon="rebind")
    run.load_state_dict(state)
    with pytest.warns(UserWarning, match="horizon='rebind'"):
        active = run.bind(total_steps=40, step=10)
    assert active == lrp.cosine(total_steps=40, warmup_steps=2, final=0.1)


def test_a_total_already_passed_is_a_clear_error():
    _, state = _checkpoint_at(12)
    run = fresh()
    run.load_state_dict(state)
    with pytest.raises(ValueError, match=r"resumes at update 12 but now has total_steps=10"):
        run.bind(total_steps=10, step=12)


def test_the_same_total_or_an_explicit_one_needs_no_stretch():
    _, state = _checkpoint_at(10)
    run = fresh()
    run.load_state_dict(state)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert run.bind(total_steps=20, step=10) == lrp.cosine(
            total_steps=20, warmup_steps=2, final=0.1
        )
    explicit = RunState("Owner", lrp.cosine(total_steps=20))
    explicit.bind(total_steps=20)
    drive(explicit, 0, 5)
    again = RunState("Owner", lrp.cosine(total_steps=20))
    again.load_state_dict(explicit.state_dict())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert again.bind(total_steps=50, step=5) == lrp.cosine(total_steps=20)


# ------------------------------------------------------------------------------------------------
# Runtime cooldown
# ------------------------------------------------------------------------------------------------


def test_cooldown_starts_at_the_next_update_from_the_lr_in_force():
    s = lrp.constant(warmup_steps=2)
    run = run_of(s, lrp.Plateau(patience=0, factor=0.5), "m")
    run.begin(0, total_steps=100)
    drive(run, 0, 10, {4: 1.0, 5: 2.0})  # one cut: scale 0.5
    run.step = 10
    run.cooldown(4, shape="linear", final=0.0)
    got = [run.multiplier(u) for u in range(10, 16)]
    assert got == pytest.approx([0.5, 0.375, 0.25, 0.125, 0.0, 0.0])
    run.observe(5.0)
    run.observe(5.0)  # the plateau no longer scales the LR once a cooldown runs
    assert run.multiplier(11) == pytest.approx(0.375)


def test_cooldown_is_resumed_exactly_and_a_second_call_restarts_from_the_lr_in_force():
    run = fresh()
    run.begin(0, total_steps=100)
    drive(run, 0, 20, METRICS)
    run.step = 20
    run.cooldown(10)  # 1-sqrt to 0
    expected = drive(run, 20, 40)
    state = run.state_dict()
    assert state["events"][0]["at"] == 20

    resumed = fresh()
    resumed.load_state_dict(json.loads(json.dumps(state)))
    assert resumed.begin(25, total_steps=100) == "resume"
    assert drive(resumed, 20, 40) == expected

    resumed.step = 24
    in_force = resumed.multiplier(24)
    resumed.cooldown(2, shape="linear")
    assert [resumed.multiplier(u) for u in (24, 25, 26)] == pytest.approx(
        [in_force, in_force / 2, 0]
    )


def test_cooldown_arguments_are_checked_before_anything_changes():
    run = fresh()
    run.begin(0, total_steps=100)
    with pytest.raises(ValueError, match="shape"):
        run.cooldown(10, shape="cubic")
    assert run.events == [] and run.active == lrp.cosine(total_steps=100, warmup_steps=2, final=0.1)


# ------------------------------------------------------------------------------------------------
# Schedules per parameter group, momentum and weight decay
# ------------------------------------------------------------------------------------------------


def test_a_schedule_per_group_by_name_index_and_star():
    head, body, rest = lrp.constant(), lrp.linear(warmup_steps=2), lrp.cosine()
    run = RunState("Owner", {"head": head, 1: body, "*": rest})
    run.bind(total_steps=10)
    groups = [{"lr": 1.0, "name": "head"}, {"lr": 0.1}, {"lr": 0.01, "name": "x"}]
    run.take_groups(0, groups)
    assert [g["keys"]["lr"] for g in run.groups[0]] == ["head", 1, "*"]
    lrs = run.lrs(0, 5, groups)
    assert lrs == [1.0, 0.1 * body.bind(total_steps=10)(5), 0.01 * rest.bind(total_steps=10)(5)]


def test_an_unmatched_group_is_refused_listing_the_keys():
    run = RunState("Owner", {"head": lrp.constant()})
    run.bind(total_steps=10)
    with pytest.raises(ValueError, match=r"group 1 \(name 'body'\).*matches no key.*\['head'\]"):
        run.take_groups(0, [{"lr": 1.0, "name": "head"}, {"lr": 1.0, "name": "body"}])


def test_a_key_may_name_a_group_that_joins_later():
    run = RunState("Owner", {"*": lrp.constant(), "backbone": lrp.linear(warmup_steps=2)})
    run.bind(total_steps=12)
    groups = [{"lr": 1.0, "name": "head"}]
    run.take_groups(0, groups)
    drive(run, 0, 4)
    groups.append({"lr": 0.5, "name": "backbone"})
    late = lrp.linear(warmup_steps=2).bind(total_steps=8)
    got = [run.lrs(0, u, groups)[1] for u in range(4, 12)]
    assert got == [0.5 * late(u - 4) for u in range(4, 12)]


def test_dict_schedules_are_refused_where_an_optimizer_has_one_lr():
    with pytest.raises(TypeError, match="one learning rate"):
        adapter_run(Profile(per_group=False), "Keras", {"head": lrp.constant()})


def test_adapter_only_flags_are_not_part_of_the_public_constructor():
    with pytest.raises(TypeError, match="per_group"):
        RunState("Owner", lrp.constant(), per_group=False)
    run = adapter_run(Profile(monitor_required=False), "LRScheduler", lrp.constant(), lrp.Plateau())
    assert run.monitor is None and RunState._profile == Profile()


def test_momentum_and_weight_decay_multiply_the_configured_values_without_the_plateau():
    m, wd = lrp.linear(final=0.5), lrp.constant(warmup_steps=4)
    run = RunState(
        "Owner", lrp.constant(), lrp.Plateau(patience=0), "m", momentum=m, weight_decay=wd
    )
    run.bind(total_steps=8)
    groups = [
        {"lr": 0.1, "betas": (0.9, 0.999), "weight_decay": 0.01},
        {"lr": 0.1, "momentum": 0.95, "weight_decay": 0.0},
    ]
    run.take_groups(0, groups)
    run.observe(1.0)
    run.observe(2.0)  # cut: the LR only
    bm, bwd = m.bind(total_steps=8), wd.bind(total_steps=8)
    assert run.lrs(0, 2, groups) == [pytest.approx(0.01)] * 2
    assert run.values("momentum", 0, 2) == [0.9 * bm(2), 0.95 * bm(2)]
    assert run.values("weight_decay", 0, 2) == [0.01 * bwd(2), 0.0]


@pytest.mark.parametrize(
    "kwargs, groups, message",
    [
        ({"momentum": lrp.constant()}, [{"lr": 1.0}], "has no momentum hyperparameter"),
        (
            {"weight_decay": lrp.constant()},
            [{"lr": 1.0, "weight_decay": 0.0}],
            "nothing for weight_decay= to scale",
        ),
        (
            {"momentum": lrp.constant()},
            [{"lr": 1.0, "momentum": 0.0}],
            "nothing for momentum= to scale",
        ),
    ],
)
def test_a_hyperparameter_the_optimizer_lacks_is_refused(kwargs, groups, message):
    run = RunState("Owner", lrp.constant(), **kwargs)
    run.bind(total_steps=8)
    with pytest.raises(ValueError, match=message):
        run.take_groups(0, groups)


def test_a_plain_number_for_momentum_says_to_configure_it_on_the_optimizer():
    with pytest.raises(TypeError, match="configure momentum on the optimizer and pass a schedule"):
        RunState("Owner", lrp.constant(), momentum=0.9)


def test_groups_and_hyperparameter_schedules_survive_a_resume():
    def fresh_run():
        return RunState(
            "Owner",
            {"*": lrp.cosine(warmup_steps=2), "late": lrp.linear()},
            momentum=lrp.linear(final=0.5),
        )

    groups = [{"lr": 1.0, "momentum": 0.9}]
    run = fresh_run()
    run.bind(total_steps=20)
    run.take_groups(0, groups)
    drive(run, 0, 5)
    groups.append({"lr": 0.5, "momentum": 0.8, "name": "late"})
    expected = [run.lrs(0, u, groups) for u in range(5, 20)]
    state = json.loads(json.dumps(run.state_dict()))

    again = fresh_run()
    again.load_state_dict(state)
    again.bind(total_steps=20, step=5)
    again.take_groups(0, groups)
    assert [again.lrs(0, u, groups) for u in range(5, 20)] == expected
    assert again.values("momentum", 0, 7) == run.values("momentum", 0, 7)


# ------------------------------------------------------------------------------------------------
# The cross-rank rule
# ------------------------------------------------------------------------------------------------


def _ranks(values):
    """Simulate ``allreduce_sum`` over ranks holding ``values`` (None: not logged there)."""

    def allreduce(_):
        present = [v for v in values if v is not None]
        return [float(len(present)), float(sum(present)), 0.0]  # count, sum, non-numbers

    return allreduce


def test_every_rank_decides_from_the_mean_and_a_partial_metric_is_an_error():
    run = run_of(plateau=lrp.Plateau(), monitor="val_loss")
    assert run.agree(0.5, 1, _ranks([0.5])) == 0.5
    assert run.agree(1.0, 2, _ranks([1.0, 0.5])) == 0.75
    assert run.agree(None, 2, _ranks([None, None])) is None
    with pytest.raises(RuntimeError, match=r"logged on 1 of 2 ranks.*sync_dist=True"):
        run.agree(1.0, 2, _ranks([1.0, None]))


def test_a_schedule_with_no_end_is_left_alone_when_the_run_length_changes():
    def fresh_run():
        return RunState("Owner", lrp.cosine(), momentum=lrp.cyclic_momentum(4))

    run = fresh_run()
    run.bind(total_steps=20)
    run.take_groups(0, [{"lr": 1.0, "momentum": 0.9}])
    state = run.state_dict()
    again = fresh_run()
    again.load_state_dict(state)
    with pytest.warns(UserWarning, match="from 20 to 40 updates"):
        again.bind(total_steps=40, step=5)
    again.take_groups(0, [{"lr": 1.0, "momentum": 0.9}])
    assert again.values("momentum", 0, 30) == run.values("momentum", 0, 30)  # periodic: unchanged
    assert again.lrs(0, 40, [{"lr": 1.0}]) == [0.0]  # the cosine now ends at 40


# ------------------------------------------------------------------------------------------------
# The lifecycle the engine decides once: new run, resume, continue, foreign; pending cooldowns
# ------------------------------------------------------------------------------------------------


def test_begin_decides_fresh_resume_continue_and_foreign():
    run = fresh()
    assert run.begin(0, total_steps=20) == "fresh"
    drive(run, 0, 8, METRICS)
    run.end()
    state = run.state_dict()
    # the same run state, the trainer goes on from where it stopped: kept in memory
    assert run.begin(8, total_steps=20) == "continue"
    assert run.plateau.state_dict() == state["plateau"]["state"]
    run.end()
    # a checkpoint loaded first: taken over
    other = fresh()
    other.load_state_dict(state)
    assert other.begin(8, total_steps=20) == "resume"
    # a trainer at a step this run state never reached, with nothing loaded: not ours
    assert fresh().begin(5, total_steps=20) == "foreign"
    # step 0 again: a new run forgets the plateau of the last one
    assert run.begin(0, total_steps=20) == "fresh"
    assert run.plateau.scale == 1.0 and run.events == []


def test_a_checkpoint_loaded_for_a_run_that_never_began_is_dropped_at_end():
    run = fresh()
    run.begin(0, total_steps=20)
    drive(run, 0, 8, METRICS)
    loaded = fresh()
    loaded.load_state_dict(run.state_dict())
    loaded.end()
    assert loaded.begin(0, total_steps=20) == "fresh" and loaded.plateau.scale == 1.0


@pytest.mark.parametrize(
    ("steps", "error", "match"),
    [
        (-5, ValueError, r"steps must be >= 0.*got -5"),
        (True, TypeError, r"steps must be a non-negative int.*got True"),
        (None, TypeError, r"steps must be a non-negative int.*got None"),
        (2.5, TypeError, r"steps must be a non-negative int.*got 2.5"),
        ("2 epochs", ValueError, r"steps must be an int number of steps.*got '2 epochs'"),
    ],
)
def test_cooldown_refuses_bad_steps_naming_it_and_records_nothing(steps, error, match):
    run = fresh()
    run.begin(0, total_steps=100)
    with pytest.raises(error, match=match):
        run.cooldown(steps)
    run.end()
    with pytest.raises(error, match=match):  # also while pending: checked at once
        run.cooldown(steps)
    assert run.events == [] and run._pending == []


def test_cooldown_zero_gives_the_final_value_from_the_next_update():
    run = run_of(lrp.constant())
    run.begin(0, total_steps=10)
    run.step = 3
    run.cooldown(0, final=0.25)
    assert [run.multiplier(u) for u in range(5)] == [1.0, 1.0, 1.0, 0.25, 0.25]


def test_a_cooldown_whose_final_is_above_the_lr_in_force_warns_that_it_rises():
    # Late in a cosine the multiplier is below 0.2: cooldown(final=0.2) would raise the LR, not
    # decay it. It still does what it was asked (the values), with a warning naming both values.
    run = run_of(lrp.cosine(final=0.0))
    run.begin(0, total_steps=20)
    run.step = 16
    m = run.multiplier(16)
    assert m < 0.2
    with pytest.warns(
        UserWarning,
        match=rf"final=0.2 is above the LR multiplier in force at update 16 \({m:.3g}\): the LR rises",
    ):
        run.cooldown(4, shape="linear", final=0.2)
    assert run.multiplier(16) == pytest.approx(m)
    assert run.multiplier(20) == pytest.approx(0.2)
    with warnings.catch_warnings():  # at or below the LR in force: a decay, no warning
        warnings.simplefilter("error")
        run.step = 18
        run.cooldown(2, final=run.multiplier(18))
        run.cooldown(2)


def test_cooldown_in_epochs_and_percent_and_a_too_long_one_warns():
    run = run_of(lrp.constant())
    run.begin(0, total_steps=40, steps_per_epoch=4)
    run.step = 10
    run.cooldown("2ep", shape="linear")  # 8 updates
    assert run.events[-1]["steps"] == 8
    run.step = 12
    run.cooldown("10%")  # 4 updates of 40
    assert run.events[-1]["steps"] == 4
    run.step = 30
    with pytest.warns(UserWarning, match=r"ends at update 50, after the run's last update \(39"):
        run.cooldown(20)


def test_a_cooldown_asked_while_no_run_is_in_progress_starts_with_the_next_run():
    s = lrp.wsd(warmup_steps=2, decay_steps="25%")
    run = run_of(s)
    run.cooldown(4, shape="linear")  # before the first run: pending, checked
    assert run.begin(0, total_steps=20) == "fresh"
    expected = s.bind(total_steps=20).cooldown(at=0, steps=4, shape="linear")
    assert drive(run, 0, 6) == [expected(u) for u in range(6)]

    whole = run_of(s)
    whole.begin(0, total_steps=20)
    drive(whole, 0, 8)
    whole.end()
    state = whole.state_dict()
    whole.cooldown(4, shape="linear")  # after the run ended: kept for the next one
    assert whole.begin(8, total_steps=20) == "continue"
    resumed = run_of(s)
    resumed.load_state_dict(state)
    resumed.cooldown(4, shape="linear")  # "cool down from this checkpoint"
    assert resumed.begin(8, total_steps=20) == "resume"
    expected = s.bind(total_steps=20).cooldown(at=8, steps=4, shape="linear")
    for r in (whole, resumed):
        assert drive(r, 8, 14) == pytest.approx([expected(u) for u in range(8, 14)], abs=1e-15)


def test_each_optimizer_starts_a_cooldown_at_its_own_next_update():
    run = run_of(lrp.constant())
    run.begin(0, total_steps=40)
    g0, g1 = [{"lr": 1.0}], [{"lr": 0.1}]
    run.take_groups(0, g0)
    run.take_groups(1, g1)
    run.cooldown(4, shape="linear", at={0: 10, 1: 5})  # optimizer 1 steps half as often
    assert [run.lrs(0, u, g0)[0] for u in (9, 10, 12, 14)] == [1.0, 1.0, 0.5, 0.0]
    assert [run.lrs(1, u, g1)[0] for u in (4, 5, 7, 9)] == pytest.approx([0.1, 0.1, 0.05, 0.0])
    again = run_of(lrp.constant())
    again.load_state_dict(json.loads(json.dumps(run.state_dict())))
    again.begin(12, total_steps=40)
    assert again.lrs(1, 7, g1) == run.lrs(1, 7, g1)


def test_rebind_also_rebinds_a_group_that_joined_late():
    run = RunState("Owner", lrp.linear(), horizon="rebind")
    run.begin(0, total_steps=10)
    groups = [{"lr": 1.0}]
    run.take_groups(0, groups)
    drive(run, 0, 4)
    groups.append({"lr": 1.0})
    run.lrs(0, 4, groups)  # joins at update 4 with 6 updates left
    state = json.loads(json.dumps(run.state_dict()))
    longer = RunState("Owner", lrp.linear(), horizon="rebind")
    longer.load_state_dict(state)
    with pytest.warns(UserWarning, match="binds the schedules again for 20"):
        longer.begin(6, total_steps=20)
    late = lrp.linear(total_steps=16)  # its own clock: 20 - 4 updates
    assert [longer.lrs(0, u, groups)[1] for u in (10, 15, 19)] == [
        late(u - 4) for u in (10, 15, 19)
    ]
    assert longer.lrs(0, 19, groups)[1] > 0


def test_resuming_an_ended_schedule_with_more_updates_says_it_holds_its_final_value():
    run = run_of(lrp.cosine(final=0.1))
    run.begin(0, total_steps=16)
    drive(run, 0, 16)
    state = run.state_dict()
    more = run_of(lrp.cosine(final=0.1))
    more.load_state_dict(state)
    with pytest.warns(UserWarning, match=r"already ended \(at update 16.*holds its final value"):
        more.begin(16, total_steps=32)
    assert drive(more, 16, 32) == [0.1] * 16


def test_a_key_that_matches_no_group_warns_when_a_group_falls_back_to_star():
    run = RunState("Owner", {"bakbone": lrp.constant(), "*": lrp.linear()})
    run.begin(0, total_steps=10)
    groups = [{"lr": 1.0, "name": "backbone"}, {"lr": 1.0, "name": "head"}]
    run.take_groups(0, groups)
    with pytest.warns(UserWarning, match=r"key\(s\) \['bakbone'\] that match no parameter group"):
        run.lrs(0, 0, groups)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once
        run.lrs(0, 1, groups)
        exact = RunState("Owner", {"backbone": lrp.constant(), "*": lrp.linear()})
        exact.begin(0, total_steps=10)
        exact.take_groups(0, groups)
        exact.lrs(0, 0, groups)


def test_momentum_added_on_resume_takes_the_optimizers_value_and_dropped_warns():
    base = RunState("Owner", lrp.constant())
    base.begin(0, total_steps=10)
    groups = [{"lr": 1.0, "momentum": 0.9, "weight_decay": 0.01}]
    base.take_groups(0, groups)
    state = json.loads(json.dumps(base.state_dict()))
    m = lrp.linear(final=0.5)
    added = RunState("Owner", lrp.constant(), momentum=m)
    added.load_state_dict(state)
    with pytest.warns(UserWarning, match="checkpoint has no momentum schedule"):
        added.begin(4, total_steps=10)
    added.take_groups(0, groups)
    assert added.values("momentum", 0, 4) == [0.9 * m.bind(total_steps=10)(4)]

    dropped = RunState("Owner", lrp.constant())
    dropped.load_state_dict(json.loads(json.dumps(added.state_dict())))
    with pytest.warns(
        UserWarning, match="schedules momentum .* given no momentum=; the checkpoint"
    ):
        dropped.begin(4, total_steps=10)


def test_refusals_of_a_missing_hyperparameter_name_the_optimizer_class():
    class Adagrad:
        param_groups = [{"lr": 0.1, "params": []}]

    run = RunState("Owner", lrp.constant(), momentum=lrp.constant())
    run.begin(0, total_steps=10)
    with pytest.raises(ValueError, match=r"cannot be scheduled on optimizer 0 \(Adagrad\)"):
        run.take_groups(0, Adagrad.param_groups, optimizer=Adagrad())
    with pytest.raises(ValueError, match=r"every parameter group of optimizer 0 \(SGD\)"):
        run.take_groups(0, [{"lr": 0.1, "momentum": 0.0}], optimizer=type("SGD", (), {})())


def test_timm_lr_scale_multiplies_the_base_lr_once():
    run = RunState("Owner", lrp.constant())
    run.begin(0, total_steps=10)
    groups = [
        {"lr": 1e-3, "lr_scale": 0.25},
        {"lr": 1e-3, "lr_scale": 0.5},
        {"lr": 1e-3},
        {"lr": 2.5e-4, "lr_scale": 0.25, "layer_scale": 0.25},  # already baked in: not twice
    ]
    run.take_groups(0, groups)
    assert run.lrs(0, 3, groups) == [0.25e-3, 0.5e-3, 1e-3, 2.5e-4]
    with pytest.raises(ValueError, match=r"parameter group 0 of optimizer 0 has lr_scale=-1"):
        RunState("Owner", lrp.constant()).take_groups(0, [{"lr": 1.0, "lr_scale": -1}])


def test_glob_keys_match_group_names_in_order_after_exact_names_and_indices():
    fast, slow, rest = lrp.constant(), lrp.linear(), lrp.cosine()
    run = RunState("Owner", {"layer_1*": fast, "layer_*": slow, "layer_0_decay": rest, "*": rest})
    run.begin(0, total_steps=10)
    names = ["layer_11_decay", "layer_1_no_decay", "layer_2_decay", "layer_0_decay", "head"]
    run.take_groups(0, [{"lr": 1.0, "name": n} for n in names])
    assert [r["keys"]["lr"] for r in run.groups[0]] == [
        "layer_1*",
        "layer_1*",
        "layer_*",
        "layer_0_decay",
        "*",
    ]
    with pytest.raises(ValueError, match="a pattern that matches its name"):
        RunState("Owner", {"layer_*": fast}).take_groups(0, [{"lr": 1.0, "name": "head"}])


def test_a_non_number_on_one_rank_is_an_error_on_every_rank_after_the_collective():
    contributions = {0: [1.0, 0.5, 0.0], 1: [1.0, 0.0, 1.0]}  # rank 1 logged a list
    total = [a + b for a, b in zip(contributions[0], contributions[1])]
    calls = []

    def allreduce_sum(values):
        calls.append(values)
        return total

    for rank, value in ((0, 0.5), (1, [0.5, 0.7])):
        run = run_of(lrp.constant(), lrp.Plateau(), "val_loss")
        with pytest.raises(TypeError, match=r"monitor='val_loss'.*(single number|not a single)"):
            run.agree(value, 2, allreduce_sum)
    assert calls == [contributions[0], contributions[1]]  # both ranks reached the collective
    with pytest.raises(TypeError, match=r"must be a single number, got \[1, 2\]"):
        run_of(lrp.constant(), lrp.Plateau(), "m").agree([1, 2], 1, allreduce_sum)
