"""lrplugins.torch.LRScheduler in a plain PyTorch training loop.

A tiny float64 MLP on synthetic data, trained with plain SGD (no momentum, no weight decay), so the
LR an update used can be read back from the weights: ``lr = -(p_after - p_before) / grad``. That
measured LR, and the LR the optimizer held when its ``step()`` ran, are compared with
``base_lr * schedule(step) * scale``.
"""

from __future__ import annotations

import pytest

import lrplugins as lrp
from conftest import require

pytestmark = pytest.mark.slow

BASE_LRS = (0.05, 0.01)  # one group per layer


def make(torch, device, schedule, plateau=None):
    from lrplugins.torch import LRScheduler

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).to(
        device=device, dtype=torch.float64
    )
    opt = torch.optim.SGD(
        [
            {"params": model[0].parameters(), "lr": BASE_LRS[0]},
            {"params": model[2].parameters(), "lr": BASE_LRS[1]},
        ]
    )
    return model, opt, LRScheduler(opt, schedule, plateau)


def data(torch, device, steps):
    g = torch.Generator().manual_seed(1)
    xs = torch.randn(steps, 16, 4, generator=g, dtype=torch.float64)
    ys = xs.sum(-1, keepdim=True).sin()
    return xs.to(device), ys.to(device)


def train(torch, model, opt, sched, xs, ys, start, stop, metric=None, every=4):
    """Updates ``start..stop-1``; returns per update (held LRs, measured LRs)."""
    held: list[list[float]] = []
    hook = opt.register_step_pre_hook(
        lambda o, a, k: held.append([float(g["lr"]) for g in o.param_groups])
    )
    measured = []
    for t in range(start, stop):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(xs[t]), ys[t])
        loss.backward()
        # one weight entry per group whose gradient is not tiny, to measure the step exactly
        probes = []
        for group in opt.param_groups:
            p = group["params"][0]
            i = int(p.grad.abs().argmax())
            probes.append((p, i, float(p.detach().flatten()[i]), float(p.grad.flatten()[i])))
        opt.step()
        measured.append(
            [(before - float(p.detach().flatten()[i])) / grad for p, i, before, grad in probes]
        )
        sched.step()
        if metric is not None and (t + 1) % every == 0:
            sched.observe(metric(t + 1))
    hook.remove()
    return held, measured


def expected(schedule, scales, start, stop):
    return [[b * (schedule(t) * scales[t]) for b in BASE_LRS] for t in range(start, stop)]


def assert_lrs(got, want, rel):
    assert len(got) == len(want)
    for t, (g, w) in enumerate(zip(got, want)):
        assert g == pytest.approx(w, rel=rel, abs=1e-15), t


@pytest.mark.parametrize(
    "schedule",
    [
        lrp.cosine(total_steps=40, warmup_steps=5, final=0.05),
        lrp.wsd(total_steps=40, warmup_steps="10%", decay_steps="25%"),
        lrp.one_cycle(total_steps=40),
    ],
    ids=["cosine", "wsd", "one_cycle"],
)
def test_applied_lr_per_update_two_groups(device, schedule):
    torch = require("torch")
    model, opt, sched = make(torch, device, schedule)
    xs, ys = data(torch, device, 45)
    held, measured = train(torch, model, opt, sched, xs, ys, 0, 45)
    want = expected(schedule, [1.0] * 45, 0, 45)
    assert_lrs(held, want, rel=1e-12)
    assert_lrs(measured, want, rel=1e-6)  # recovered from float64 weights
    assert held[0] == [b * schedule(0) for b in BASE_LRS]  # the first update uses schedule(0)


def stalling_metric(step):
    """A validation loss that improves until step 12, then stalls (observed every 4 updates)."""
    return {4: 1.0, 8: 0.8, 12: 0.7}.get(step, 0.7 + 1e-6 * step)


def test_plateau_cuts_the_lr_at_the_right_update(device):
    torch = require("torch")
    schedule = lrp.linear(total_steps=48, warmup_steps=4, final=0.2)
    plateau = lrp.Plateau(factor=0.5, patience=1, cooldown=1)
    model, opt, sched = make(torch, device, schedule, plateau)
    xs, ys = data(torch, device, 48)
    held, measured = train(torch, model, opt, sched, xs, ys, 0, 48, metric=stalling_metric)
    # observations after updates 16, 20 are bad -> cut after update 20; 24 is cooldown;
    # 28, 32 bad -> cut after update 32; 36 cooldown; 40, 44 bad -> cut after update 44
    scales = [1.0] * 20 + [0.5] * 12 + [0.25] * 12 + [0.125] * 4
    want = expected(schedule, scales, 0, 48)
    assert_lrs(held, want, rel=1e-12)
    assert_lrs(measured, want, rel=1e-6)
    assert plateau.num_reductions == 3 and sched.scale == 0.125


def test_save_load_continue_equals_uninterrupted(device, tmp_path):
    torch = require("torch")
    schedule = lrp.cosine(total_steps=48, warmup_steps=4)

    def fresh():
        return make(torch, device, schedule, lrp.Plateau(factor=0.5, patience=1, cooldown=1))

    xs, ys = data(torch, device, 48)
    model, opt, sched = fresh()
    whole, _ = train(torch, model, opt, sched, xs, ys, 0, 48, metric=stalling_metric)
    final = [p.detach().clone() for p in model.parameters()]

    model, opt, sched = fresh()
    first, _ = train(torch, model, opt, sched, xs, ys, 0, 22, metric=stalling_metric)
    path = tmp_path / "ckpt.pt"
    torch.save(
        {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}, path
    )
    del model, opt, sched

    model, opt, sched = fresh()
    ckpt = torch.load(path, weights_only=True, map_location=device)
    model.load_state_dict(ckpt["model"])
    opt.load_state_dict(ckpt["opt"])
    sched.load_state_dict(ckpt["sched"])
    assert sched.last_epoch == 22 and sched.scale == 0.5
    second, _ = train(torch, model, opt, sched, xs, ys, 22, 48, metric=stalling_metric)

    assert first + second == whole  # the exact same LR at every update
    for a, b in zip(final, model.parameters()):
        assert torch.equal(a, b.detach())


def test_a_plateau_fed_before_its_sequential_lr_milestone_waits_for_it():
    # LRScheduler with a plateau as the second part of torch's SequentialLR, its metric fed after
    # every update from the start. Before the milestone the LR is the warmup part's and the
    # plateau's cuts wait (before: observe() wrote schedule(-1) and raised "step must be >= 0");
    # from the milestone on, the LR carries every cut. Expected values: the same warmup run with a
    # constant torch part, and torch's ReduceLROnPlateau fed the same metric.
    torch = require("torch")
    from torch.optim.lr_scheduler import LambdaLR, LinearLR, ReduceLROnPlateau, SequentialLR

    from lrplugins.torch import LRScheduler

    metric = [1.0, 1.0, 0.5, 0.6, 0.4, 0.45, 0.3]  # the 2nd is bad: a cut before the milestone

    def run(second):
        torch.manual_seed(0)
        model = torch.nn.Linear(4, 1)
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        seq = SequentialLR(opt, [LinearLR(opt, 0.1, 1.0, total_iters=3), second(opt)], [3])
        applied = []
        opt.register_step_pre_hook(lambda o, a, k: applied.append(o.param_groups[0]["lr"]))
        x = torch.randn(8, 4, generator=torch.Generator().manual_seed(1))
        for value in metric:
            model(x).pow(2).mean().backward()
            opt.step()
            opt.zero_grad()
            seq.step()
            if isinstance(seq._schedulers[1], LRScheduler):
                seq._schedulers[1].observe(value)
        return applied

    plateau = lrp.Plateau(factor=0.5, patience=0)
    got = run(lambda opt: LRScheduler(opt, lrp.constant(), plateau=plateau))
    warmup = run(lambda opt: LambdaLR(opt, lambda step: 1.0))
    rop_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    rop = ReduceLROnPlateau(rop_opt, factor=0.5, patience=0)
    scales = [1.0]  # scales[u]: after the metric of updates 0..u-1
    for value in metric:
        rop.step(value)
        scales.append(rop_opt.param_groups[0]["lr"])
    assert scales[2] < 1.0  # a cut after update 1, before the milestone (update 3)
    want = warmup[:3] + [0.1 * scales[u] for u in range(3, len(metric))]
    assert got == pytest.approx(want, rel=1e-12), (got, want)
