"""The README's migration rows that the parity tests don't already cover, checked against torch."""

from __future__ import annotations

import warnings

import pytest

import lrplugins as lrp
from conftest import require

BASE = 0.5


def torch_curve(make, steps):
    torch = require("torch")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=BASE)
    sched = make(torch.optim.lr_scheduler, opt)
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(steps):
            out.append(opt.param_groups[0]["lr"] / BASE)
            opt.step()
            sched.step()
    return out


@pytest.mark.parametrize(("n", "w", "start"), [(50, 10, 0.1), (20, 1, 0.5), (7, 3, 1 / 3)])
def test_sequential_linear_then_cosine_is_one_cosine(n, w, start):
    expected = torch_curve(
        lambda L, opt: L.SequentialLR(
            opt, [L.LinearLR(opt, start, 1.0, w), L.CosineAnnealingLR(opt, n - w)], [w]
        ),
        n + 1,
    )
    ours = lrp.cosine(total_steps=n, warmup_steps=w, warmup_start=start)
    assert ours.values(range(n + 1)) == pytest.approx(expected, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(("t_max", "eta_min"), [(10, 0.0), (33, 0.05), (100, 0.25)])
def test_cosine_annealing_lr_within_t_max(t_max, eta_min):
    expected = torch_curve(lambda L, opt: L.CosineAnnealingLR(opt, t_max, eta_min=eta_min), t_max + 1)
    ours = lrp.cosine(total_steps=t_max, final=eta_min / BASE)
    assert ours.values(range(t_max + 1)) == pytest.approx(expected, rel=1e-9, abs=1e-12)
