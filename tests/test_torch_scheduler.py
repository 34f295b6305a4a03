"""Unit tests of lrplugins.torch.LRScheduler against a real torch optimizer."""

from __future__ import annotations

import doctest
import io
import json
import subprocess
import sys
import warnings

import pytest

import lrplugins as lrp
from conftest import require

SCHEDULES = {
    "cosine": lrp.cosine(total_steps=30, warmup_steps=5, final=0.1),
    "linear": lrp.linear(total_steps=25, warmup_steps="10%"),
    "wsd": lrp.wsd(total_steps=30, warmup_steps=3, decay_steps="30%"),
    "one_cycle": lrp.one_cycle(total_steps=30),
    "constant": lrp.constant(warmup_steps=4),
    "multistep": lrp.multistep([5, 12], gamma=0.5),
}


def make_optimizer(torch, base_lrs=(0.1, 0.03), cls=None, **kw):
    """An optimizer with one parameter group per base LR."""
    groups = [{"params": [torch.nn.Parameter(torch.ones(3))], "lr": lr} for lr in base_lrs]
    return (cls or torch.optim.SGD)(groups, lr=base_lrs[0], **kw)


def record_applied(opt):
    """Record the LR of every group at the moment each optimizer update runs."""
    applied: list[list[float]] = []
    opt.register_step_pre_hook(
        lambda o, args, kwargs: applied.append([float(g["lr"]) for g in o.param_groups])
    )
    return applied


def train(torch, opt, sched, steps, observe=None):
    """``steps`` updates: gradient, optimizer step, scheduler step (and metric feed if given)."""
    last_lrs = []
    for i in range(steps):
        opt.zero_grad()
        loss = sum((p**2).sum() for g in opt.param_groups for p in g["params"])
        loss.backward()
        opt.step()
        last_lrs.append(sched.get_last_lr())  # what transformers logs: after the update
        sched.step()
        if observe is not None and observe(i) is not None:
            sched.observe(observe(i))
    return last_lrs


def close(a, b, rel=1e-12):
    return all(x == pytest.approx(y, rel=rel, abs=1e-15) for x, y in zip(a, b)) and len(a) == len(b)


# ------------------------------------------------------------------------------------------------
# The LR each update uses
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_each_update_uses_base_lr_times_schedule(name):
    torch = require("torch")
    from lrplugins.torch import LRScheduler

    s = SCHEDULES[name]
    opt = make_optimizer(torch)
    applied = record_applied(opt)
    sched = LRScheduler(opt, s)
    assert isinstance(sched, torch.optim.lr_scheduler.LRScheduler)
    assert [g["lr"] for g in opt.param_groups] == [0.1 * s(0), 0.03 * s(0)]  # before any update
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # normal use raises no torch warning
        logged = train(torch, opt, sched, 40)
    for t, lrs in enumerate(applied):
        assert lrs == [0.1 * s(t), 0.03 * s(t)], t
    assert logged == applied  # get_last_lr() after an update is the LR that update used
    assert sched.last_epoch == 40
    assert sched.base_lrs == [0.1, 0.03]


def test_matches_transformers_cosine_with_warmup():
    torch = require("torch")
    transformers = require("transformers")
    from lrplugins.torch import LRScheduler

    o1, o2 = make_optimizer(torch), make_optimizer(torch)
    a1, a2 = record_applied(o1), record_applied(o2)
    ours = LRScheduler(o1, lrp.cosine(total_steps=50, warmup_steps=7))
    theirs = transformers.get_cosine_schedule_with_warmup(o2, 7, 50)
    train(torch, o1, ours, 51)  # transformers' cosine is periodic past the end; ours holds
    train(torch, o2, theirs, 51)
    assert len(a1) == len(a2) == 51
    for x, y in zip(a1, a2):
        assert close(x, y)


def test_closed_form_ignores_outside_writes():
    torch = require("torch")
    from lrplugins.torch import LRScheduler

    s = lrp.cosine(total_steps=10)
    opt = make_optimizer(torch, (1.0,))
    sched = LRScheduler(opt, s)
    opt.step()
    opt.param_groups[0]["lr"] = 123.0  # e.g. a user or another scheduler writes
    with pytest.warns(
        UserWarning, match=r"changed outside LRScheduler \(found 123 where it set 1\)"
    ):
        sched.step()
    assert opt.param_groups[0]["lr"] == s(1)
    assert sched.get_lr() == [s(1)]
    applied = []
    opt.register_step_pre_hook(lambda o, a, k: applied.append(o.param_groups[0]["lr"]))
    opt.param_groups[0]["lr"] = 7.0  # after step(), before the update: that update uses it
    with warnings.catch_warnings():  # warned once per run
        warnings.simplefilter("error")
        opt.step()
        sched.step()
    assert applied == [7.0]
    assert opt.param_groups[0]["lr"] == s(2)


def test_torch_reduce_lr_on_plateau_beside_it_is_warned_once_and_does_not_last():
    # The common mix-up: torch's ReduceLROnPlateau stepped next to LRScheduler. Its cut applies to
    # the one update after it (torch's stepping order), then step() puts the schedule back and
    # warns, once per run; a second cut warns no more.
    torch = require("torch")
    from torch.optim.lr_scheduler import ReduceLROnPlateau

    from lrplugins.torch import LRScheduler

    s = lrp.cosine(total_steps=6)
    opt = make_optimizer(torch, (1.0,))
    applied = record_applied(opt)
    sched = LRScheduler(opt, s)
    rop = ReduceLROnPlateau(opt, factor=0.5, patience=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for metric in (1.0, 2.0, 3.0, 4.0, 5.0, 6.0):  # worse every time: a cut after each
            opt.step()
            sched.step()
            rop.step(metric)
    ours = [str(w.message) for w in caught if "changed outside" in str(w.message)]
    assert len(ours) == 1
    assert "LRScheduler: the LR of parameter group 0 of optimizer 0 (SGD)" in ours[0]
    assert "plateau=lrplugins.Plateau" in ours[0]
    # update u used s(u), halved when the plateau cut right before it (after update 1 on)
    assert [a[0] for a in applied] == [s(0), s(1), s(2) / 2, s(3) / 2, s(4) / 2, s(5) / 2]


def test_a_scheduler_no_longer_stepped_leaves_the_next_one_alone():
    # torch's SWA recipe: step LRScheduler until swa_start, then SWALR instead. SWALR's LRs are
    # used as written, and nothing is warned (LRScheduler writes only when stepped).
    torch = require("torch")
    from torch.optim.swa_utils import SWALR

    from lrplugins.torch import LRScheduler

    s = lrp.cosine(total_steps=10)
    opt = make_optimizer(torch, (1.0,))
    applied = record_applied(opt)
    sched = LRScheduler(opt, s)
    swa = SWALR(opt, swa_lr=0.05, anneal_epochs=1)
    for g in opt.param_groups:  # SWALR's constructor wrote; the run starts on the schedule
        g["lr"] = s(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for u in range(6):
            opt.step()
            (sched if u < 3 else swa).step()
    assert [a[0] for a in applied][:4] == [s(0), s(1), s(2), s(3)]
    assert [a[0] for a in applied][4:] == [0.05, 0.05]


def test_tensor_learning_rates_are_filled_in_place():
    torch = require("torch")
    from lrplugins.torch import LRScheduler

    p = torch.nn.Parameter(torch.ones(2))
    opt = torch.optim.Adam([p], lr=torch.tensor(0.01))
    lr_tensor = opt.param_groups[0]["lr"]
    s = lrp.linear(total_steps=4)
    sched = LRScheduler(opt, s)
    for t in range(1, 4):
        p.grad = torch.ones(2)
        opt.step()
        sched.step()
        assert opt.param_groups[0]["lr"] is lr_tensor
        assert float(lr_tensor) == pytest.approx(0.01 * s(t), rel=1e-6)
    json.dumps(sched.state_dict(), allow_nan=False)


def test_warns_like_torch_when_stepped_before_the_optimizer():
    torch = require("torch")
    from lrplugins.torch import LRScheduler

    sched = LRScheduler(make_optimizer(torch), lrp.cosine(total_steps=10))
    with pytest.warns(UserWarning, match=r"before `optimizer.step\(\)`"):
        sched.step()


def test_deprecated_epoch_argument_jumps_with_torchs_warning():
    torch = require("torch")
    from lrplugins.torch import LRScheduler

    s = lrp.cosine(total_steps=10)
    opt = make_optimizer(torch, (1.0,))
    sched = LRScheduler(opt, s)
    opt.step()
    with pytest.warns(UserWarning, match="epoch"):
        sched.step(7)
    assert sched.last_epoch == 7 and opt.param_groups[0]["lr"] == s(7)


def test_existing_initial_lr_is_the_base_lr():
    # torch's convention: a group that already has initial_lr (an earlier scheduler) keeps it
    torch = require("torch")
    from lrplugins.torch import LRScheduler

    opt = make_optimizer(torch, (0.5,))
    opt.param_groups[0]["initial_lr"] = 2.0
    sched = LRScheduler(opt, lrp.constant())
    assert sched.base_lrs == [2.0] and opt.param_groups[0]["lr"] == 2.0


def test_a_group_added_during_training_takes_its_lr_as_base():
    torch = require("torch")
    from lrplugins.torch import LRScheduler

    s = lrp.linear(total_steps=10)
    opt = make_optimizer(torch, (1.0,))
    applied = record_applied(opt)
    sched = LRScheduler(opt, s)
    train(torch, opt, sched, 3)
    opt.add_param_group({"params": [torch.nn.Parameter(torch.ones(3))], "lr": 0.5})
    train(torch, opt, sched, 3)  # the new group runs the schedule on its own clock
    assert applied[3] == [s(3), 0.5 * s(0)]
    assert applied[4:] == [[s(t), 0.5 * s(t - 3)] for t in (4, 5)]
    assert sched.base_lrs == [1.0, 0.5]
    assert [g["base"]["lr"] for g in sched.state_dict()["groups"]["0"]] == [1.0, 0.5]


# ------------------------------------------------------------------------------------------------
# Plateau
# ------------------------------------------------------------------------------------------------


def test_observe_applies_the_plateau_scale_to_the_very_next_update():
    torch = require("torch")
    from lrplugins.torch import LRScheduler

    s = lrp.cosine(total_steps=20, warmup_steps=2)
    plateau = lrp.Plateau(factor=0.5, patience=1)
    opt = make_optimizer(torch)
    applied = record_applied(opt)
    sched = LRScheduler(opt, s, plateau=plateau)
    assert sched.plateau is plateau and sched.schedule is s
    metric = {3: 1.0, 5: 1.0, 7: 1.0, 9: 0.5, 11: 0.6, 13: 0.6}  # observed after update i
    logged = train(torch, opt, sched, 16, observe=metric.get)
    # reductions after the 3rd bad observation in total at patience 1: after updates 7 and 13
    scale = [1.0] * 8 + [0.5] * 6 + [0.25] * 2
    for t, lrs in enumerate(applied):
        assert lrs == [0.1 * (s(t) * scale[t]), 0.03 * (s(t) * scale[t])], t
    assert logged == applied
    assert sched.scale == 0.25 == plateau.scale


def test_observe_returns_the_scale_and_rewrites_get_last_lr():
    torch = require("torch")
    from lrplugins.torch import LRScheduler

    opt = make_optimizer(torch, (1.0,))
    sched = LRScheduler(opt, lrp.constant(), plateau=lrp.Plateau(patience=0))
    assert sched.observe(1.0) == 1.0
    assert sched.observe(torch.tensor(1.0)) == pytest.approx(0.1)
    assert sched.get_last_lr() == [opt.param_groups[0]["lr"]] == [pytest.approx(0.1)]


def test_observe_without_a_plateau_is_an_error():
    torch = require("torch")
    from lrplugins.torch import LRScheduler

    sched = LRScheduler(make_optimizer(torch), lrp.constant())
    with pytest.raises(RuntimeError, match="no plateau"):
        sched.observe(1.0)
    assert sched.scale == 1.0


# ------------------------------------------------------------------------------------------------
# Unbound schedules
# ------------------------------------------------------------------------------------------------


def test_unbound_schedule_keeps_base_lr_refuses_to_step_and_binds_later():
    torch = require("torch")
    from lrplugins.torch import LRScheduler

    opt = make_optimizer(torch)
    applied = record_applied(opt)
    sched = LRScheduler(opt, lrp.cosine(warmup_steps="10%"))
    assert not sched.schedule.is_bound
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.03]
    assert sched.get_last_lr() == [0.1, 0.03]
    opt.step()
    with pytest.raises(lrp.UnboundScheduleError, match=r"total_steps.*scheduler\.bind"):
        sched.step()
    assert sched.last_epoch == 0  # the failed step changed nothing
    assert sched.bind(total_steps=20) is sched
    s = lrp.cosine(total_steps=20, warmup_steps="10%")
    assert sched.schedule == s
    assert [g["lr"] for g in opt.param_groups] == [0.1 * s(0), 0.03 * s(0)]
    applied.clear()
    train(torch, opt, sched, 5)
    assert applied == [[0.1 * s(t), 0.03 * s(t)] for t in range(5)]


def test_bind_keeps_what_the_schedule_has_and_rewrites_the_current_step():
    torch = require("torch")
    from lrplugins.torch import LRScheduler

    opt = make_optimizer(torch, (1.0,))
    sched = LRScheduler(opt, lrp.linear(total_steps=10, warmup_steps="1ep"))
    sched.bind(total_steps=999, steps_per_epoch=4)
    assert sched.schedule == lrp.linear(total_steps=10, warmup_steps="1ep").bind(steps_per_epoch=4)
    assert sched.schedule(4) == 1.0 and sched.schedule(10) == 0.0
    assert opt.param_groups[0]["lr"] == 0.0


# ------------------------------------------------------------------------------------------------
# State and resume
# ------------------------------------------------------------------------------------------------


def _metric(i):
    return {4: 2.0, 8: 2.0, 12: 2.0, 16: 1.0, 20: 1.5, 24: 1.5}.get(i)


def _run(torch, steps, state=None, schedule=None, plateau_args=None):
    """Train ``steps`` updates (from ``state`` if given); return applied LRs, final state, params."""
    from lrplugins.torch import LRScheduler

    torch.manual_seed(0)
    opt = make_optimizer(torch, cls=torch.optim.SGD, momentum=0.9)
    plateau = lrp.Plateau(**(plateau_args or {"factor": 0.5, "patience": 1}))
    sched = LRScheduler(opt, schedule or lrp.cosine(total_steps=30, warmup_steps=3), plateau)
    start = 0
    if state is not None:
        buf = io.BytesIO()
        torch.save(state, buf)
        buf.seek(0)
        loaded = torch.load(buf, weights_only=True)  # what Lightning and transformers do
        with torch.no_grad():
            for g, saved in zip(opt.param_groups, loaded["params"]):
                g["params"][0].copy_(saved)
        opt.load_state_dict(loaded["optimizer"])
        sched.load_state_dict(loaded["scheduler"])
        start = sched.last_epoch
    applied = record_applied(opt)
    train(torch, opt, sched, steps, observe=lambda i: _metric(i + start))
    state = {
        "params": [g["params"][0].detach().clone() for g in opt.param_groups],
        "optimizer": opt.state_dict(),
        "scheduler": sched.state_dict(),
    }
    return applied, state, sched


@pytest.mark.parametrize("cut", [0, 1, 5, 13, 17, 29])
def test_resume_through_torch_save_and_weights_only_load_continues_identically(cut):
    torch = require("torch")
    whole, end_whole, _ = _run(torch, 30)
    first, state, _ = _run(torch, cut)
    json.dumps(state["scheduler"], allow_nan=False)  # JSON-compatible
    second, end_resumed, sched = _run(torch, 30 - cut, state=state)
    assert first + second == whole  # identical LR at every update
    assert sched.plateau.num_reductions == 2
    for a, b in zip(end_whole["params"], end_resumed["params"]):
        assert torch.equal(a, b)


def test_resume_restores_the_checkpoint_schedule_into_an_unbound_scheduler():
    # A trainer adapter builds the scheduler with an unbound schedule, loads the checkpoint, and
    # binds afterwards (transformers' order); binding keeps the checkpoint's total.
    torch = require("torch")
    from lrplugins.torch import LRScheduler

    s = lrp.cosine(total_steps=30, warmup_steps="10%")
    opt = make_optimizer(torch, (1.0,))
    sched = LRScheduler(opt, s)
    for _ in range(7):
        opt.step()
        sched.step()
    state = sched.state_dict()
    opt2 = make_optimizer(torch, (1.0,))
    fresh = LRScheduler(opt2, lrp.cosine(warmup_steps="10%"))
    fresh.load_state_dict(state)
    fresh.bind(total_steps=30)
    assert fresh.schedule == s
    assert opt2.param_groups[0]["lr"] == s(7)
    opt2.step()
    fresh.step()
    assert fresh.get_last_lr() == [s(8)]


def test_fresh_scheduler_without_the_state_diverges():
    # guards the resume test: the saved state is what makes the continuation identical
    torch = require("torch")
    whole, _, _ = _run(torch, 30)
    first, state, _ = _run(torch, 13)
    state["scheduler"] = _run(torch, 0)[1]["scheduler"]
    second, _, _ = _run(torch, 17, state=state)
    assert first + second != whole


def test_state_dict_is_json_and_holds_configs():
    torch = require("torch")
    from lrplugins.torch import LRScheduler

    s = lrp.wsd(total_steps=100, warmup_steps=10)
    p = lrp.Plateau(patience=3)
    sched = LRScheduler(make_optimizer(torch), s, p)
    sd = sched.state_dict()
    assert json.loads(json.dumps(sd, allow_nan=False)) == sd
    assert lrp.from_config(sd["schedule"]) == s
    assert sd["plateau"] == {"config": p.to_config(), "state": p.state_dict()}
    assert [g["base"]["lr"] for g in sd["groups"]["0"]] == [0.1, 0.03]
    assert sd["adapter"]["last_epoch"] == 0


def test_loading_replaces_a_different_plateau_and_updates_an_equal_one_in_place():
    torch = require("torch")
    from lrplugins.torch import LRScheduler

    src = LRScheduler(make_optimizer(torch), lrp.constant(), lrp.Plateau(patience=0))
    src.observe(1.0)
    src.observe(1.0)
    same = lrp.Plateau(patience=0)
    a = LRScheduler(make_optimizer(torch), lrp.constant(), same)
    a.load_state_dict(src.state_dict())
    assert a.plateau is same and same.scale == pytest.approx(0.1)
    b = LRScheduler(make_optimizer(torch), lrp.constant(), lrp.Plateau(patience=5))
    b.load_state_dict(src.state_dict())
    assert b.plateau.to_config()["patience"] == 0 and b.scale == pytest.approx(0.1)
    assert b.get_last_lr() == [pytest.approx(0.01), pytest.approx(0.003)]


def test_custom_schedule_state_omits_config_and_keeps_the_live_schedule():
    torch = require("torch")
    from lrplugins.torch import LRScheduler

    s = lrp.custom(lambda t: 0.9**t)
    opt = make_optimizer(torch, (1.0,))
    sched = LRScheduler(opt, s)
    for _ in range(4):
        opt.step()
        sched.step()
    buf = io.BytesIO()
    torch.save(sched.state_dict(), buf)  # a lambda would not pickle; the state has none
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    assert state["schedule"] is None
    opt2 = make_optimizer(torch, (1.0,))
    fresh = LRScheduler(opt2, s)
    fresh.load_state_dict(state)
    assert fresh.schedule is s
    assert opt2.param_groups[0]["lr"] == pytest.approx(0.9**4)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"format": "something/2"}, "not an lrplugins run state (format 'lrplugins.run/1')"),
        ({"extra": 1}, "unknown keys ['extra']"),
        ({"plateau": ...}, "missing keys ['plateau']"),
        (
            {
                "groups": {
                    "0": [
                        {
                            "name": None,
                            "join": 0,
                            "total": None,
                            "base": {"lr": 0.1},
                            "keys": {"lr": "*"},
                        }
                    ]
                }
            },
            "the checkpoint has 1 parameter group(s), the optimizer has 2",
        ),
    ],
)
def test_load_state_dict_validates(change, message):
    torch = require("torch")
    from lrplugins.torch import LRScheduler

    sched = LRScheduler(make_optimizer(torch), lrp.constant())
    sd = sched.state_dict()
    for k, val in change.items():
        if val is ...:
            del sd[k]
        else:
            sd[k] = val
    with pytest.raises(ValueError) as info:
        sched.load_state_dict(sd)
    assert message in str(info.value)


def test_a_torch_lambdalr_state_is_refused():
    torch = require("torch")
    from lrplugins.torch import LRScheduler

    opt = make_optimizer(torch)
    other = torch.optim.lr_scheduler.LambdaLR(opt, lambda t: 1.0)
    sched = LRScheduler(make_optimizer(torch), lrp.constant())
    with pytest.raises(ValueError, match="not an lrplugins run state"):
        sched.load_state_dict(other.state_dict())


# ------------------------------------------------------------------------------------------------
# Construction, import, docs
# ------------------------------------------------------------------------------------------------


def test_bad_arguments():
    torch = require("torch")
    from lrplugins.torch import LRScheduler

    opt = make_optimizer(torch)
    with pytest.raises(
        TypeError, match="schedule must be an lrplugins schedule or its config dict, got <function"
    ):
        LRScheduler(opt, lambda t: 1.0)  # type: ignore[arg-type]
    with pytest.raises(
        TypeError, match="plateau must be an lrplugins.Plateau, its config dict or None, got 0.1"
    ):
        LRScheduler(opt, lrp.constant(), 0.1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="is not an Optimizer"):
        LRScheduler(object(), lrp.constant())  # type: ignore[arg-type]


def test_repr():
    torch = require("torch")
    from lrplugins.torch import LRScheduler

    sched = LRScheduler(make_optimizer(torch), lrp.cosine(total_steps=10))
    assert repr(sched) == "LRScheduler(schedule=cosine(total_steps=10), plateau=None, step=0)"


def test_core_import_does_not_load_the_adapter_or_torch():
    code = "import sys, lrplugins; print('torch' in sys.modules, 'lrplugins.torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_docstring_examples_run():
    require("torch")
    import lrplugins.torch as module

    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_cooldown_before_the_run_and_before_a_resume_starts_at_its_first_update():
    import torch

    from lrplugins.torch import LRScheduler

    s = lrp.wsd(warmup_steps=2, decay_steps="25%")

    def trace(sched, opt, n):
        seen = []
        for _ in range(n):
            seen.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        return seen

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = LRScheduler(opt, s)
    sched.cooldown(4, shape="linear")  # unbound yet: pending
    sched.bind(total_steps=20)
    expected = s.bind(total_steps=20).cooldown(at=0, steps=4, shape="linear")
    assert trace(sched, opt, 6) == pytest.approx([0.1 * expected(u) for u in range(6)])

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    first = LRScheduler(opt, s).bind(total_steps=20)
    trace(first, opt, 8)
    state = first.state_dict()
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    resumed = LRScheduler(opt, s)
    resumed.cooldown(4, shape="linear")  # "cool down from this checkpoint"
    resumed.load_state_dict(state)
    expected = s.bind(total_steps=20).cooldown(at=8, steps=4, shape="linear")
    assert trace(resumed, opt, 6) == pytest.approx([0.1 * expected(u) for u in range(8, 14)])


@pytest.mark.parametrize("steps", [-5, True, None, "2 epochs"])
def test_cooldown_refuses_bad_steps_and_keeps_the_lr(steps):
    import torch

    from lrplugins.torch import LRScheduler

    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = LRScheduler(opt, lrp.constant()).bind(total_steps=10)
    with pytest.raises((TypeError, ValueError), match=r"cooldown\(\): steps must"):
        sched.cooldown(steps)
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == 0.1 and sched.run_state.events == []


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda p: __import__("torch").optim.Adagrad(p, lr=0.1), r"optimizer 0 \(Adagrad\)"),
        (lambda p: __import__("torch").optim.SGD(p, lr=0.1), r"optimizer 0 \(SGD\)"),
    ],
)
def test_momentum_refusals_name_the_optimizer_class(make, name):
    import torch

    from lrplugins.torch import LRScheduler

    opt = make([torch.nn.Parameter(torch.zeros(1))])
    with pytest.raises(ValueError, match=name):
        LRScheduler(opt, lrp.constant(), momentum=lrp.constant())


def test_a_typo_in_a_group_key_warns_listing_it():
    import torch

    from lrplugins.torch import LRScheduler

    backbone, head = torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD(
        [{"params": [backbone], "name": "backbone"}, {"params": [head], "name": "head"}], lr=0.1
    )
    with pytest.warns(UserWarning, match=r"\['bakbone'\] that match no parameter group"):
        LRScheduler(opt, {"bakbone": lrp.constant(), "*": lrp.linear(total_steps=10)})


def test_timm_style_lr_scale_groups_train_at_their_scaled_lr():
    import torch

    from lrplugins.torch import LRScheduler

    params = [torch.nn.Parameter(torch.zeros(1)) for _ in range(3)]
    opt = torch.optim.AdamW(
        [{"params": [p], "lr_scale": f} for p, f in zip(params, (0.25, 0.5, 1.0))], lr=1e-3
    )
    seen = []
    opt.register_step_pre_hook(lambda o, a, k: seen.append([g["lr"] for g in o.param_groups]))
    sched = LRScheduler(opt, lrp.linear(total_steps=4))
    for _ in range(2):
        sum(p.sum() for p in params).backward()
        opt.step()
        sched.step()
    assert seen == [[0.25e-3, 0.5e-3, 1e-3], [0.25e-3 * 0.75, 0.5e-3 * 0.75, 1e-3 * 0.75]]


def test_momentum_added_on_resume_is_scheduled_from_the_optimizers_value():
    import torch

    from lrplugins.torch import LRScheduler

    def sgd():
        return torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1, momentum=0.9)

    opt = sgd()
    first = LRScheduler(opt, lrp.constant()).bind(total_steps=10)
    for _ in range(4):
        opt.step()
        first.step()
    m = lrp.linear(final=0.5)
    opt = sgd()
    resumed = LRScheduler(opt, lrp.constant(), momentum=m)
    with pytest.warns(UserWarning, match="checkpoint has no momentum schedule"):
        resumed.load_state_dict(first.state_dict())
    opt.step()
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.9 * m.bind(total_steps=10)(4))


def test_a_cooldown_asked_after_the_last_step_applies_to_the_loaded_checkpoint():
    import torch

    from lrplugins.torch import LRScheduler

    s = lrp.wsd(warmup_steps=2, decay_steps="25%")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = LRScheduler(opt, s).bind(total_steps=12)
    states = {}
    for u in range(12):
        opt.step()
        sched.step()
        states[u + 1] = sched.state_dict()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the run has ended: nothing remains to warn about
        sched.cooldown(4, shape="linear")
    sched.load_state_dict(states[6])  # "cool down from this checkpoint"
    expected = s.bind(total_steps=12).cooldown(at=6, steps=4, shape="linear")
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * expected(6))
    opt.step()
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * expected(7))
