"""Schedules on the samples clock equal Megatron-LM's ``OptimizerParamScheduler`` in sample mode.

Megatron counts samples when a run is planned in samples (``--train-samples``,
``--lr-warmup-samples``, ``--lr-decay-samples``, ``--lr-wsd-decay-samples``): its training loop
calls ``opt_param_scheduler.step(increment=global_batch_size)`` after each update, with the global
batch of that update, which ``--rampup-batch-size`` ramps up
(``RampupBatchsizeNumMicroBatchesCalculator``). The LR an update uses is therefore the one set after
the previous updates, from the samples consumed before it: ``max_lr * s(samples before it)``.

This drives Megatron's own scheduler and batch calculator (megatron-core, CPU only, installed with
``--no-deps``) through a batch-size ramp and compares every update's LR / max_lr with the schedule
(1e-9 relative) in the warmup, the stable or decaying part and after the decay. Our side is the torch
adapter, ``LRScheduler(optimizer, schedule).step(samples=global_batch)``, its LR read from the
optimizer.
"""

from __future__ import annotations

import math

import pytest

import lrplugins as lrp
from conftest import require

require("megatron.core")
from megatron.core.num_microbatches_calculator import (
    RampupBatchsizeNumMicroBatchesCalculator,
)
from megatron.core.optimizer_param_scheduler import OptimizerParamScheduler

MAX_LR = 3e-4
# the ramp: 32 -> 512 samples per update in steps of 32 over the first 60,000 samples
START_BATCH, BATCH, INCREMENT, RAMP_SAMPLES = 32, 512, 32, 60_000
MICRO_BATCH, DATA_PARALLEL = 4, 8  # micro batch * data-parallel ranks divides every global batch
TRAIN, WARMUP, WSD_DECAY = 300_000, 20_000, 90_000  # samples
RUN_ON = 380_000  # samples: the comparison goes on after the decay ended


class _Optimizer:
    """What ``OptimizerParamScheduler`` reads and writes: the optimizer's parameter groups."""

    def __init__(self) -> None:
        self.param_groups = [{"lr": None, "weight_decay": None}]


class Clock:
    """Our side: ``lrplugins.torch.LRScheduler`` on a real torch optimizer, stepped with
    ``step(samples=n)`` after each update; the LR is read from the optimizer's param group."""

    def __init__(self, schedule: lrp.Schedule) -> None:
        torch = require("torch")
        from lrplugins.torch import LRScheduler

        assert schedule.clock == "samples"
        self.opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=MAX_LR)
        self.sched = LRScheduler(self.opt, schedule)

    def lr(self) -> float:
        return self.opt.param_groups[0]["lr"]

    def step(self, *, samples: int) -> None:
        self.opt.step()
        self.sched.step(samples=samples)


def _megatron(style: str, init_lr: float, min_lr: float, wsd_style: str | None = None):
    opt = _Optimizer()
    sched = OptimizerParamScheduler(
        opt,
        init_lr=init_lr,
        max_lr=MAX_LR,
        min_lr=min_lr,
        lr_warmup_steps=WARMUP,  # in sample mode these are the --lr-*-samples arguments
        lr_decay_steps=TRAIN,
        lr_decay_style=style,
        start_wd=0.1,
        end_wd=0.1,
        wd_incr_steps=TRAIN,
        wd_incr_style="constant",
        wsd_decay_steps=WSD_DECAY if style == "WSD" else None,
        lr_wsd_decay_style=wsd_style,
    )
    return opt, sched


CASES = {
    "cosine": (
        ("cosine", 0.1 * MAX_LR, 0.05 * MAX_LR, None),
        lrp.cosine(total_steps="300Ksp", warmup_steps="20Ksp", final=0.05, warmup_start=0.1),
    ),
    "linear": (
        ("linear", 0.2 * MAX_LR, 0.1 * MAX_LR, None),
        lrp.linear(total_steps="0.3Msp", warmup_steps="20000sp", final=0.1, warmup_start=0.2),
    ),
    "linear-to-zero": (
        ("linear", 0.0, 0.0, None),
        lrp.linear(total_steps="300Ksp", warmup_steps="20Ksp"),
    ),
    "wsd-1-sqrt": (
        ("WSD", 0.0, 0.1 * MAX_LR, "minus_sqrt"),
        lrp.wsd(total_steps="300Ksp", warmup_steps="20Ksp", decay_steps="30%", final=0.1,
                warmup_start=0.0),
    ),
    "wsd-linear": (
        ("WSD", 0.1 * MAX_LR, 0.1 * MAX_LR, "linear"),
        lrp.wsd(total_steps="300Ksp", warmup_steps="20Ksp", decay_steps="90Ksp", final=0.1,
                decay_shape="linear"),
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(CASES))
def test_samples_clock_equals_megatron_sample_mode_under_a_batch_ramp(case):
    (style, init_lr, min_lr, wsd_style), schedule = CASES[case]
    opt, megatron = _megatron(style, init_lr, min_lr, wsd_style)
    ours = Clock(schedule)
    batches = RampupBatchsizeNumMicroBatchesCalculator(
        global_batch_size=BATCH,
        micro_batch_size=MICRO_BATCH,
        data_parallel_size=DATA_PARALLEL,
        decrease_batch_size_if_needed=False,
        rank=0,
        start_global_batch_size=START_BATCH,
        batch_size_increment=INCREMENT,
        ramup_samples=RAMP_SAMPLES,
    )
    decay_start = TRAIN - WSD_DECAY if style == "WSD" else WARMUP
    seen = {"warmup": 0, "before decay": 0, "decay": 0, "after": 0}
    sizes = set()
    consumed = 0
    while consumed < RUN_ON:
        # Megatron's training loop: the batch of this update from the samples consumed so far
        batches.update(consumed, consistency_check=True)
        batch = batches.get_current_global_batch_size()
        sizes.add(batch)
        theirs, mine = opt.param_groups[0]["lr"], ours.lr()  # the LR this update uses
        expected = theirs / MAX_LR
        got = mine / MAX_LR
        if expected == 0.0:
            assert got == 0.0, (case, consumed)
        else:
            assert math.isclose(got, expected, rel_tol=1e-9, abs_tol=0.0), (case, consumed, got)
        phase = (
            "warmup" if consumed < WARMUP
            else "before decay" if consumed < decay_start
            else "decay" if consumed <= TRAIN
            else "after"
        )  # fmt: skip
        seen[phase] += 1
        consumed += batch
        megatron.step(increment=batch)
        ours.step(samples=batch)
    # the ramp really changed the batch, and every part of the schedule was compared
    assert min(sizes) == START_BATCH and max(sizes) == BATCH and len(sizes) > 10
    assert all(n >= 5 for name, n in seen.items() if name != "before decay"), seen
    if style == "WSD":
        assert seen["before decay"] >= 5, seen


def test_an_update_count_schedule_drifts_under_the_same_ramp():
    """Why the clock matters: the same cosine planned in updates (as if every batch were the full
    one) ends its decay far from where Megatron's does under the ramp."""
    (style, init_lr, min_lr, _), schedule = CASES["cosine"]
    in_updates = lrp.cosine(total_steps=TRAIN // BATCH, warmup_steps=WARMUP // BATCH,
                            final=0.05, warmup_start=0.1)  # fmt: skip
    opt, megatron = _megatron(style, init_lr, min_lr)
    batches = RampupBatchsizeNumMicroBatchesCalculator(
        BATCH, MICRO_BATCH, DATA_PARALLEL, False, 0, START_BATCH, INCREMENT, RAMP_SAMPLES
    )
    consumed = update = 0
    worst = 0.0
    while consumed < TRAIN:
        batches.update(consumed, consistency_check=True)
        batch = batches.get_current_global_batch_size()
        theirs = opt.param_groups[0]["lr"] / MAX_LR
        assert math.isclose(schedule(consumed), theirs, rel_tol=1e-9)
        worst = max(worst, abs(in_updates(update) - theirs))
        consumed += batch
        update += 1
        megatron.step(increment=batch)
    assert worst > 0.05
