"""Momentum and weight decay schedules through ``lrplugins.torch.LRScheduler``.

A tiny float64 MLP on synthetic data. What an update used is recorded in an optimizer step
pre-hook (registered after the scheduler's, so it sees what ``optimizer.step()`` reads), and where
it can be, measured from the weights:

* one-cycle end to end: ``LRScheduler(opt, one_cycle(N), momentum=one_cycle_momentum(N))`` holds the
  LR and momentum (SGD) or beta1 (AdamW) of torch's ``OneCycleLR(opt, max_lr, total_steps=N)`` at
  every update, and trains the same weights;
* ``weight_decay=``: with zero gradients an update only decays, ``p <- p * (1 - lr * wd)`` for SGD
  and AdamW alike, so ``wd = (1 - p_after / p_before) / lr`` is read back from the weights; a
  no-decay group (``weight_decay=0``) stays at 0 and its weights do not move;
* resume mid-run through ``torch.save`` / ``torch.load(weights_only=True)``: identical LR, momentum
  and weight decay sequences, and identical weights;
* tensor hyperparameters (fused AdamW on any device, capturable Adam where there is a GPU, SGD with
  tensor ``lr``/``momentum``/``weight_decay``) are written in place: the tensor objects stay the
  same, their values change, and the weights equal a run with float hyperparameters.
"""

from __future__ import annotations

from typing import Any

import pytest

import lrplugins as lrp
from conftest import require

pytestmark = pytest.mark.slow

torch = require("torch")

from lrplugins.torch import LRScheduler  # after require(): skips the module without torch

N = 60
MAX_LR = 0.05
REL = 1e-12


def make_model(device: str):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).to(
        device=device, dtype=torch.float64
    )


def data(device: str, steps: int = N):
    g = torch.Generator().manual_seed(1)
    xs = torch.randn(steps, 16, 4, generator=g, dtype=torch.float64)
    return xs.to(device), xs.sum(-1, keepdim=True).sin().to(device)


def momentum_of(group: dict[str, Any]) -> float:
    return float(group["momentum"] if "momentum" in group else group["betas"][0])


def record(opt) -> list[list[tuple[float, float, float]]]:
    """Per update, per group: (lr, momentum or beta1, weight_decay) as ``step()`` reads them."""
    held: list[list[tuple[float, float, float]]] = []
    opt.register_step_pre_hook(
        lambda o, a, k: held.append(
            [(float(g["lr"]), momentum_of(g), float(g["weight_decay"])) for g in o.param_groups]
        )
    )
    return held


def train(model, opt, sched, xs, ys, start: int, stop: int) -> None:
    for t in range(start, stop):
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(xs[t]), ys[t]).backward()
        opt.step()
        sched.step()


def weights(model) -> list[Any]:
    return [p.detach().clone() for p in model.parameters()]


def assert_close_seq(got, expected, what: str, rel: float = REL) -> None:
    assert len(got) == len(expected), what
    for t, (a, b) in enumerate(zip(got, expected)):
        assert a == pytest.approx(b, rel=rel, abs=1e-15), f"{what} at update {t}: {a!r} vs {b!r}"


def make_optimizer(name: str, params, **kwargs):
    if name == "SGD":
        return torch.optim.SGD(params, lr=MAX_LR, momentum=0.95, **kwargs)
    return torch.optim.AdamW(params, lr=MAX_LR, betas=(0.95, 0.999), **kwargs)


# ------------------------------------------------------------------------------------------------
# one-cycle end to end, against torch OneCycleLR(cycle_momentum=True)
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", ["SGD", "AdamW"])
def test_one_cycle_with_its_momentum_equals_torch_one_cycle(optimizer, device):
    xs, ys = data(device)
    runs = {}
    for who in ("torch", "lrplugins"):
        model = make_model(device)
        opt = make_optimizer(optimizer, model.parameters())
        if who == "torch":
            sched = torch.optim.lr_scheduler.OneCycleLR(opt, MAX_LR, total_steps=N)
        else:
            sched = LRScheduler(opt, lrp.one_cycle(N), momentum=lrp.one_cycle_momentum(N))
        held = record(opt)
        train(model, opt, sched, xs, ys, 0, N)
        runs[who] = (held, weights(model))
    (theirs, w_theirs), (ours, w_ours) = runs["torch"], runs["lrplugins"]
    assert len(ours) == N
    assert_close_seq([h[0][0] for h in ours], [h[0][0] for h in theirs], "lr")
    assert_close_seq([h[0][1] for h in ours], [h[0][1] for h in theirs], "momentum/beta1")
    # it does cycle: 0.95 at the ends, 0.85 at the peak of the LR
    moms = [h[0][1] for h in ours]
    assert moms[0] == 0.95 and min(moms) == pytest.approx(0.85, rel=1e-12) and moms[-1] == 0.95
    for a, b in zip(w_ours, w_theirs):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------------------------------------
# weight decay: measured from the weights, a no-decay group stays at 0
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", ["SGD", "AdamW"])
def test_weight_decay_schedule_is_the_decay_applied(optimizer, device):
    model = make_model(device)
    decay, no_decay = [model[0].weight, model[2].weight], [model[0].bias, model[2].bias]
    groups = [{"params": decay, "weight_decay": 0.1}, {"params": no_decay, "weight_decay": 0.0}]
    cls = torch.optim.SGD if optimizer == "SGD" else torch.optim.AdamW
    opt = cls(groups, lr=0.5)  # plain SGD: with zero gradients an update only decays
    lr_s = lrp.linear(N, final=0.5)
    wd_s = lrp.cosine(N, warmup_steps=5, warmup_start=0.2, final=0.1)
    sched = LRScheduler(opt, lr_s, weight_decay=wd_s)
    held = record(opt)
    measured = []
    for _ in range(N):
        for p in model.parameters():
            p.grad = torch.zeros_like(p)  # zeros, not None: the optimizer still takes the step
        before = weights(model)
        opt.step()
        sched.step()
        after = weights(model)
        lr = held[-1][0][0]
        ratio = after[0] / before[0]  # model[0].weight, in the decaying group
        measured.append(float(((1 - ratio) / lr).mean()))
        assert float(((1 - ratio) / lr).std()) < 1e-12  # the same decay for every entry
        assert torch.equal(after[1], before[1]) and torch.equal(after[3], before[3])  # biases
    expected = [0.1 * wd_s(t) for t in range(N)]
    assert_close_seq(measured, expected, "weight decay measured from the weights", rel=1e-9)
    assert_close_seq([h[0][2] for h in held], expected, "weight decay held by the group")
    assert_close_seq([h[0][0] for h in held], [0.5 * lr_s(t) for t in range(N)], "lr")
    assert {h[1][2] for h in held} == {0.0}  # the no-decay group stays at 0
    assert max(measured) / min(measured) > 4  # it is scheduled: 0.02 -> 0.1 -> 0.01


def test_every_group_at_zero_or_no_such_hyperparameter_is_refused(device):
    params = list(make_model(device).parameters())
    with pytest.raises(ValueError, match=r"has weight_decay=0.*configure weight_decay"):
        LRScheduler(
            torch.optim.AdamW(params, weight_decay=0.0), lrp.constant(), weight_decay=lrp.linear(10)
        )
    with pytest.raises(ValueError, match=r"has no momentum hyperparameter"):
        LRScheduler(
            torch.optim.Adagrad(params), lrp.constant(), momentum=lrp.one_cycle_momentum(10)
        )
    sgd = torch.optim.SGD(params, lr=0.1, momentum=0.9)
    with pytest.raises(TypeError, match=r"momentum"):
        LRScheduler(sgd, lrp.constant(), momentum=0.9)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------
# resume mid-run
# ------------------------------------------------------------------------------------------------


def _resumable(optimizer: str, device: str):
    model = make_model(device)
    opt = make_optimizer(optimizer, model.parameters(), weight_decay=1e-2)
    return model, opt


def _scheduler(opt):
    return LRScheduler(
        opt,
        lrp.one_cycle(N),
        momentum=lrp.one_cycle_momentum(N),
        weight_decay=lrp.cosine(N, final=0.1),
    )


@pytest.mark.parametrize("order", ["scheduler first", "optimizer state first"])
@pytest.mark.parametrize("optimizer", ["SGD", "AdamW"])
def test_resume_mid_run_continues_identically(optimizer, order, device, tmp_path):
    xs, ys = data(device)
    k = 23

    model, opt = _resumable(optimizer, device)
    sched = _scheduler(opt)
    whole = record(opt)
    train(model, opt, sched, xs, ys, 0, N)
    w_whole = weights(model)

    model, opt = _resumable(optimizer, device)
    sched = _scheduler(opt)
    first = record(opt)
    train(model, opt, sched, xs, ys, 0, k)
    path = tmp_path / "ckpt.pt"
    torch.save(
        {"model": model.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict()}, path
    )
    del model, opt, sched

    ckpt = torch.load(path, weights_only=True)
    model, opt = _resumable(optimizer, device)
    model.load_state_dict(ckpt["model"])
    if order == "scheduler first":  # built on the fresh optimizer, then both restored
        sched = _scheduler(opt)
        opt.load_state_dict(ckpt["opt"])
    else:  # built on the restored optimizer, whose groups hold step k's values
        opt.load_state_dict(ckpt["opt"])
        sched = _scheduler(opt)
    sched.load_state_dict(ckpt["sched"])
    rest = record(opt)
    train(model, opt, sched, xs, ys, k, N)

    assert first + rest == whole  # lr, momentum/beta1 and weight decay, exactly
    for a, b in zip(weights(model), w_whole):
        assert torch.equal(a, b)


# ------------------------------------------------------------------------------------------------
# tensor hyperparameters are written in place
# ------------------------------------------------------------------------------------------------


def _tensor_cases(device: str) -> dict[str, Any]:
    def t(x: float):
        return torch.tensor(x, dtype=torch.float64, device=device)

    cases = {
        "AdamW fused": lambda ps: torch.optim.AdamW(
            ps, lr=t(MAX_LR), betas=(t(0.95), t(0.999)), weight_decay=t(0.01), fused=True
        ),
        "SGD tensors": lambda ps: torch.optim.SGD(
            ps, lr=t(MAX_LR), momentum=t(0.95), weight_decay=t(0.01), foreach=False
        ),
    }
    if device == "cuda":  # capturable needs a GPU
        cases["Adam capturable"] = lambda ps: torch.optim.Adam(
            ps, lr=t(MAX_LR), betas=(t(0.95), t(0.999)), weight_decay=t(0.01), capturable=True
        )
    return cases


def _float_twin(name: str, params):
    """The same optimizer with float hyperparameters and the default implementation."""
    if name.startswith("SGD"):
        return torch.optim.SGD(params, lr=MAX_LR, momentum=0.95, weight_decay=0.01)
    cls = torch.optim.AdamW if name.startswith("AdamW") else torch.optim.Adam
    return cls(params, lr=MAX_LR, betas=(0.95, 0.999), weight_decay=0.01)


def _hyper_objects(group: dict[str, Any]) -> tuple[Any, Any, Any]:
    """The objects holding lr, momentum (or beta1) and weight_decay in ``group``."""
    m = group["betas"][0] if "betas" in group else group["momentum"]
    return group["lr"], m, group["weight_decay"]


def record_objects(opt) -> list[tuple[Any, Any, Any]]:
    """Per update: the objects holding the first group's hyperparameters when ``step()`` runs."""
    seen: list[tuple[Any, Any, Any]] = []
    opt.register_step_pre_hook(lambda o, a, k: seen.append(_hyper_objects(o.param_groups[0])))
    return seen


def _flat(held: list[list[tuple[float, float, float]]]) -> list[float]:
    return [x for update in held for group in update for x in group]


@pytest.mark.parametrize("case", ["AdamW fused", "SGD tensors", "Adam capturable"])
def test_tensor_hyperparameters_are_written_in_place(case, device):
    cases = _tensor_cases(device)
    if case not in cases:
        pytest.skip(f"{case} needs a GPU (torch: capturable params must be on cuda, xla, ...)")
    xs, ys = data(device)
    wd_s = lrp.linear(N, final=0.2)
    out = {}
    for kind in ("tensor", "float"):
        model = make_model(device)
        opt = (
            cases[case](model.parameters())
            if kind == "tensor"
            else _float_twin(case, model.parameters())
        )
        sched = LRScheduler(
            opt, lrp.one_cycle(N), momentum=lrp.one_cycle_momentum(N), weight_decay=wd_s
        )
        objects = _hyper_objects(opt.param_groups[0])
        held = record(opt)
        seen = record_objects(opt)
        train(model, opt, sched, xs, ys, 0, N)
        if kind == "tensor":
            assert all(torch.is_tensor(x) for x in objects)
            # the very same tensor objects at every update
            assert all(all(x is y for x, y in zip(now, objects)) for now in seen) and len(seen) == N
        out[kind] = (held, weights(model))
    held = out["tensor"][0]
    lr_s, m_s = lrp.one_cycle(N), lrp.one_cycle_momentum(N)
    assert_close_seq([h[0][0] for h in held], [MAX_LR * lr_s(t) for t in range(N)], "lr")
    assert_close_seq([h[0][1] for h in held], [0.95 * m_s(t) for t in range(N)], "momentum")
    assert_close_seq([h[0][2] for h in held], [0.01 * wd_s(t) for t in range(N)], "weight_decay")
    assert_close_seq(_flat(out["tensor"][0]), _flat(out["float"][0]), "tensor vs float groups")
    for a, b in zip(out["tensor"][1], out["float"][1]):  # and the optimizer used it
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
