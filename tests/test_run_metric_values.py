"""Which monitored values the plateau takes: numbers (Python, numpy, 0-d arrays, one-element
tensors) are fed; strings, bytes and bools are refused with a TypeError naming the monitor, as
Plateau.update refuses them, and nothing in the run changes.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

import lrplugins as lrp
from conftest import require
from lrplugins._run import RunState

NOT_NUMBERS = [
    "1.0",
    b"2.0",
    bytearray(b"2.0"),
    "nan",
    True,
    False,
    np.bool_(True),
    np.array(False),
]


def fed_run() -> RunState:
    run = RunState("Owner", lrp.constant(), lrp.Plateau(factor=0.5, patience=0), "val_loss")
    run.begin(0, total_steps=10)
    run.step = 3
    run.observe(1.0)
    run.observe(2.0)  # a cut: scale 0.5
    return run


@pytest.mark.parametrize("value", NOT_NUMBERS, ids=repr)
def test_strings_bytes_and_bools_are_refused_naming_the_monitor_and_nothing_changes(value):
    run = fed_run()
    before = json.dumps(run.state_dict(), sort_keys=True)
    run.step = 7
    with pytest.raises(
        TypeError, match=r"Owner\(monitor='val_loss'\): the monitored value must be a single number"
    ):
        run.observe(value, at=9)
    run.step = 3
    assert json.dumps(run.state_dict(), sort_keys=True) == before
    assert run.plateau.scale == 0.5 and run.plateau.best == 1.0 and run.fed_at == 3


@pytest.mark.parametrize(
    "value",
    [3, 3.0, np.float32(3.0), np.float64(3.0), np.int64(3), np.array(3.0)],
    ids=repr,
)
def test_numbers_are_fed(value):
    run = fed_run()
    assert run.observe(value) is True  # worse than best 1.0 with patience 0: a second cut
    assert run.plateau.scale == 0.25


def test_torch_scheduler_refuses_a_string_or_a_bool_and_the_optimizer_keeps_its_lr():
    torch = require("torch")
    from lrplugins.torch import LRScheduler

    param = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([param], lr=1.0)
    applied: list[float] = []
    opt.register_step_pre_hook(lambda o, a, k: applied.append(o.param_groups[0]["lr"]))
    sched = LRScheduler(opt, lrp.constant(), plateau=lrp.Plateau(factor=0.5, patience=0))
    sched.bind(total_steps=10)

    def update() -> None:
        opt.zero_grad()
        (param.sum() * 0 + param.square().sum()).backward()
        opt.step()
        sched.step()

    update()
    sched.observe(1.0)
    for bad in ("1.0", b"2.0", True, "nan", torch.tensor(True), np.bool_(True)):
        with pytest.raises(TypeError, match=r"monitor=.*single number"):
            sched.observe(bad)
        update()
    assert sched.observe(torch.tensor([2.0])) == 0.5  # a one-element tensor is a number
    update()
    assert applied == [1.0] * 7 + [0.5]
