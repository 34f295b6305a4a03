"""The samples / tokens clock through the engine and the torch adapter: ``step(samples=n)`` /
``step(tokens=n)``, what is refused, resume, runtime cooldowns in the clock's unit, late groups."""

from __future__ import annotations

import json

import pytest

import lrplugins as lrp
from conftest import require
from lrplugins import RunState

torch = require("torch")
from lrplugins.torch import LRScheduler  # noqa: E402

BATCHES = [32, 32, 64, 64, 96, 128, 128, 128, 128, 128, 128, 128]  # a ramp, tokens per update


def make(schedule, lr=0.1, **kwargs):
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    return opt, LRScheduler(opt, schedule, **kwargs)


def run(opt, sched, batches, **kw):
    """The LR each update used (read by the optimizer at its step), stepping on the clock."""
    seen = []
    for n in batches:
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step(tokens=n, **kw)
    return seen


def before(batches):
    out, t = [], 0
    for n in batches:
        out.append(t)
        t += n
    return out


S = lrp.cosine(total_steps="1Ktok", warmup_steps="100tok", final=0.1)


def test_each_update_uses_the_schedule_at_the_tokens_consumed_before_it():
    opt, sched = make(S)
    got = run(opt, sched, BATCHES)
    assert got == pytest.approx([0.1 * S(t) for t in before(BATCHES)], rel=1e-12)
    assert sched.run_state.clock == "tokens" and sched.run_state.clock_value == sum(BATCHES)


def test_the_keyword_is_required_on_its_clock_and_refused_on_the_update_clock():
    opt, sched = make(S)
    with pytest.raises(TypeError, match=r"runs on the tokens clock: call step\(tokens=n\)"):
        sched.step()
    with pytest.raises(TypeError, match=r"got samples="):
        sched.step(samples=4)
    opt, sched = make(lrp.cosine(total_steps=10))
    with pytest.raises(ValueError, match=r"tokens= is for a schedule on the tokens clock"):
        sched.step(tokens=4)
    with pytest.raises(ValueError, match=r"must be an int >= 0, got -1"):
        make(S)[1].step(tokens=-1)


def test_a_resumed_scheduler_continues_exactly():
    opt, whole = make(S)
    expected = run(opt, whole, BATCHES)
    opt, first = make(S)
    head = run(opt, first, BATCHES[:5])
    state = json.loads(json.dumps(first.state_dict()))
    assert state["clock"] == {"unit": "tokens", "value": sum(BATCHES[:5])}
    opt, second = make(S)
    second.load_state_dict(state)
    assert head + run(opt, second, BATCHES[5:]) == pytest.approx(expected, rel=1e-12)


def test_a_runtime_cooldown_takes_its_length_in_the_clocks_unit():
    opt, sched = make(S)
    run(opt, sched, BATCHES[:4])
    with pytest.raises(ValueError, match=r"steps=8 is in optimizer steps .* e\.g\. '20Btok'"):
        sched.cooldown(8)
    sched.cooldown("200tok", shape="linear")
    at = sum(BATCHES[:4])
    got = run(opt, sched, BATCHES[4:])
    cooled = S.cooldown(at=f"{at}tok", steps="200tok", shape="linear")
    assert got == pytest.approx([0.1 * cooled(t) for t in before(BATCHES)[4:]], rel=1e-12)


def test_a_late_group_starts_its_clock_where_the_run_stands():
    late_schedule = lrp.linear(warmup_steps="10%")  # fits every clock: bound with what remains
    spec = {"*": lrp.linear(total_steps="1Ktok", warmup_steps="64tok"), "late": late_schedule}
    opt, sched = make(spec)
    run(opt, sched, BATCHES[:3])  # 128 tokens
    opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.2, "name": "late"})
    seen = []
    for n in BATCHES[3:]:
        opt.step()
        seen.append(opt.param_groups[1]["lr"])
        sched.step(tokens=n)
    own = late_schedule.bind(total_steps=f"{1000 - 128}tok")  # its clock: tokens since it joined
    assert seen == pytest.approx([0.2 * own(t - 128) for t in before(BATCHES)[3:]], rel=1e-12)
    assert seen[0] == 0.0 and max(seen) > 0.1


def test_every_schedule_of_a_run_shares_one_clock():
    with pytest.raises(
        ValueError, match=r"schedule runs on the tokens clock but momentum on the samples"
    ):
        RunState("Owner", S, momentum=lrp.linear(total_steps="1Msp"))
    # a schedule whose durations fit every clock takes the run's
    run_ = RunState("Owner", {"head": S, "*": lrp.linear(warmup_steps="10%")})
    run_.begin(0, total_steps=5)  # the trainer's update count is not the tokens total
    assert run_.total_steps == 1000 and run_.clock == "tokens"


def test_a_resume_onto_another_clock_says_the_checkpoints_is_used():
    opt, first = make(S)
    run(opt, first, BATCHES[:3])
    opt, other = make(lrp.cosine(total_steps=100))
    with pytest.warns(
        UserWarning, match="checkpoint's schedules run on the tokens clock, this run's"
    ):
        other.load_state_dict(first.state_dict())
    assert other.run_state.clock == "tokens"
    opt, unbound = make(lrp.cosine(warmup_steps="2Ktok"))
    with pytest.raises(lrp.UnboundScheduleError) as err:
        unbound.run_state.begin(0, total_steps=10, hint="Set max_steps.")
    assert "max_steps" not in str(err.value) and "total_steps in tokens" in str(err.value)
