"""Does a ``torch.compile``d optimizer step recompile when momentum and weight decay are scheduled?

Each row trains the same tiny model for ``STEPS`` updates with ``step()`` compiled as torch's
"compiled optimizer with an LR scheduler" recipe does (``@torch.compile(fullgraph=False) def step():
opt.step()``; the forward and backward stay eager), and counts, per update, what dynamo did:

* **recompiles**: guard failures of already compiled frames (``torch._dynamo.utils.guard_failures``),
  with the updates they happened at;
* **graphs**: new graphs compiled (``counters["stats"]["unique_graphs"]``);
* **ops in graphs**: operations captured into graphs (``counters["stats"]["calls_captured"]``).
  0 means the optimizer's frame was skipped after a graph break and every update ran eagerly: no
  recompiles, but nothing compiled either.

The lrplugins rows schedule the LR (``one_cycle``), the momentum (``one_cycle_momentum``: Adam's
beta1) and the weight decay (``cosine``) with ``lrplugins.torch.LRScheduler``, which writes a tensor
hyperparameter in place (``fill_``) and replaces a float. The baseline rows are torch's own
``OneCycleLR(cycle_momentum=True)``, which writes floats (it replaces ``betas`` with a tuple of
floats even when they were tensors). Then, for the lrplugins configuration this file recommends,
the public check: after ``WARMUP`` updates, ``torch.compiler.set_stance("fail_on_recompile")``
for the rest of the run (an error on any recompile), and the weights against the same run
uncompiled.

The backend is ``eager`` by default: recompiles are decided by dynamo's guards before any backend
runs, so the counts are the same with ``inductor``, which only adds code generation time
(``--backend inductor`` runs it; on 2 CPU cores each inductor compile takes seconds to minutes).

Run: ``python benchmarks/bench_momentum_compile.py [--backend eager|aot_eager|inductor]``
(exit status 1 if the recommended configuration recompiles after warm-up or runs uncompiled).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch._dynamo
from torch._dynamo.utils import counters, guard_failures

import lrplugins as lrp
from lrplugins.torch import LRScheduler

STEPS = 50
WARMUP = 2  # updates allowed to compile: the first, and the first change of a float's value
MAX_LR, BETA1, WD = 0.01, 0.95, 0.01


def _model(device: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.Tanh(), torch.nn.Linear(64, 8)).to(
        device
    )


def _lrplugins(opt: torch.optim.Optimizer) -> Any:
    return LRScheduler(
        opt,
        lrp.one_cycle(STEPS),
        momentum=lrp.one_cycle_momentum(STEPS),
        weight_decay=lrp.cosine(STEPS, final=0.1),
    )


def _torch_one_cycle(opt: torch.optim.Optimizer) -> Any:
    return torch.optim.lr_scheduler.OneCycleLR(opt, MAX_LR, total_steps=STEPS)


def _adamw(device: str, tensors: tuple[str, ...], **kwargs: Any) -> Callable[[Any], Any]:
    """AdamW with the named hyperparameters (``lr``, ``betas``, ``weight_decay``) as tensors."""

    def t(x: float) -> Any:
        return torch.tensor(x, device=device)

    def make(params: Any) -> torch.optim.Optimizer:
        lr = t(MAX_LR) if "lr" in tensors else MAX_LR
        betas = (t(BETA1), t(0.999)) if "betas" in tensors else (BETA1, 0.999)
        wd = t(WD) if "weight_decay" in tensors else WD
        return torch.optim.AdamW(params, lr=lr, betas=betas, weight_decay=wd, **kwargs)

    return make


def _sgd(device: str, tensors: tuple[str, ...]) -> Callable[[Any], Any]:
    """SGD with momentum and the named hyperparameters (``lr``, ``momentum``, ...) as tensors."""

    def make(params: Any) -> torch.optim.Optimizer:
        def value(name: str, x: float) -> Any:
            return torch.tensor(x, device=device) if name in tensors else x

        return torch.optim.SGD(
            params,
            lr=value("lr", MAX_LR),
            momentum=value("momentum", BETA1),
            weight_decay=value("weight_decay", WD),
        )

    return make


def rows(device: str) -> dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]]:
    """name -> (optimizer factory, scheduler factory)."""
    return {
        "lrplugins, tensor lr + betas, float weight_decay (recommended)": (
            _adamw(device, ("lr", "betas")),
            _lrplugins,
        ),
        "lrplugins, tensor lr + betas + weight_decay": (
            _adamw(device, ("lr", "betas", "weight_decay")),
            _lrplugins,
        ),
        "lrplugins, tensor lr + betas + weight_decay, fused=True": (
            _adamw(device, ("lr", "betas", "weight_decay"), fused=True),
            _lrplugins,
        ),
        "lrplugins, float lr + betas + weight_decay": (_adamw(device, ()), _lrplugins),
        "lrplugins, SGD, tensor lr, float momentum + weight_decay": (
            _sgd(device, ("lr",)),
            _lrplugins,
        ),
        "lrplugins, SGD, tensor lr + momentum + weight_decay": (
            _sgd(device, ("lr", "momentum", "weight_decay")),
            _lrplugins,
        ),
        "torch OneCycleLR(cycle_momentum=True), float lr + betas": (
            _adamw(device, ()),
            _torch_one_cycle,
        ),
        "torch OneCycleLR(cycle_momentum=True), tensor lr + betas": (
            _adamw(device, ("lr", "betas")),
            _torch_one_cycle,
        ),
    }


RECOMMENDED = "lrplugins, tensor lr + betas, float weight_decay (recommended)"
BASELINE = "torch OneCycleLR(cycle_momentum=True), float lr + betas"


def _recompiles() -> int:
    return sum(len(v) for v in guard_failures.values())


def train(
    make_opt: Callable[[Any], Any],
    make_sched: Callable[[Any], Any],
    device: str,
    backend: str | None,
    fail_after: int | None = None,
) -> dict[str, Any]:
    """One run; ``backend=None`` runs uncompiled. Returns the counts and the final weights."""
    torch._dynamo.reset()
    counters.clear()
    guard_failures.clear()
    model = _model(device)
    opt = make_opt(model.parameters())
    sched = make_sched(opt)

    def step() -> None:
        opt.step()

    if backend is not None:
        step = torch.compile(step, fullgraph=False, backend=backend)
    g = torch.Generator().manual_seed(1)
    xs = torch.randn(STEPS, 16, 32, generator=g).to(device)
    recompiled_at, graphs_at, held = [], [], []
    start = time.perf_counter()
    try:
        for t in range(STEPS):
            opt.zero_grad()
            model(xs[t]).pow(2).mean().backward()
            group = opt.param_groups[0]
            beta1 = group["betas"][0] if "betas" in group else group["momentum"]
            held.append((float(group["lr"]), float(beta1), float(group["weight_decay"])))
            r0, g0 = _recompiles(), counters["stats"]["unique_graphs"]
            if t == fail_after:
                torch.compiler.set_stance("fail_on_recompile")
            step()
            sched.step()
            recompiled_at += [t] * (_recompiles() - r0)
            graphs_at += [t] * (counters["stats"]["unique_graphs"] - g0)
    finally:
        if fail_after is not None:
            torch.compiler.set_stance("default")
    return {
        "recompiled_at": recompiled_at,
        "graphs_at": graphs_at,
        "ops": counters["stats"]["calls_captured"],
        "seconds": time.perf_counter() - start,
        "weights": [p.detach().clone() for p in model.parameters()],
        "held": held,
    }


def _fail_on_recompile(
    make_opt: Callable[[Any], Any],
    make_sched: Callable[[Any], Any],
    device: str,
    backend: str,
    after: int,
) -> str:
    """Run with ``set_stance("fail_on_recompile")`` from update ``after`` on; say what happened."""
    try:
        train(make_opt, make_sched, device, backend, fail_after=after)
    except RuntimeError as exc:  # "Detected recompile when torch.compile stance is ..."
        return f"raised {type(exc).__name__}: {str(exc).splitlines()[0][:90]}"
    return f"no error from update {after} to {STEPS - 1}"


def _steps(at: list[int]) -> str:
    if not at:
        return "-"
    shown = ", ".join(map(str, at[:6])) + (", ..." if len(at) > 6 else "")
    return f"{len(at)} (at {shown})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", default="eager", help="torch.compile backend (default eager)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--rows", default="", help="only the rows whose name contains this")
    args = parser.parse_args()
    device, backend = args.device, args.backend
    warnings.filterwarnings("ignore", message=".*torch.jit.script_method.*")
    torch._logging.set_logs(graph_breaks=False, recompiles=False)

    print(
        f"python {platform.python_version()}, torch {torch.__version__}, device {device}, "
        f"backend {backend}, {STEPS} updates; recompile limit "
        f"{torch._dynamo.config.recompile_limit}\n"
    )
    print("| optimizer and scheduler | recompiles | after warm-up | graphs | ops in graphs | s |")
    print("|---|---|---|---|---|---|")
    results = {}
    for name, (make_opt, make_sched) in rows(device).items():
        if args.rows not in name and name != RECOMMENDED:
            continue
        r = train(make_opt, make_sched, device, backend)
        results[name] = r
        late = [t for t in r["recompiled_at"] if t >= WARMUP]
        print(
            f"| {name} | {_steps(r['recompiled_at'])} | {len(late)} | {_steps(r['graphs_at'])} "
            f"| {r['ops']} | {r['seconds']:.1f} |"
        )

    best = results[RECOMMENDED]
    held = best["held"]
    print(
        f"\nValues the recommended run's optimizer held (lr, beta1, weight_decay) at updates 0, "
        f"{STEPS // 4}, {STEPS // 2}, {STEPS - 1}: "
        + "; ".join(
            f"{tuple(round(x, 6) for x in held[t])}" for t in (0, STEPS // 4, STEPS // 2, STEPS - 1)
        )
    )
    make_opt, make_sched = rows(device)[RECOMMENDED]
    public = _fail_on_recompile(make_opt, make_sched, device, backend, WARMUP)
    ok_public = public.startswith("no error")
    control = _fail_on_recompile(*rows(device)[BASELINE], device, backend, 1)
    eager = train(make_opt, make_sched, device, None)
    diff = max(float((a - b).abs().max()) for a, b in zip(best["weights"], eager["weights"]))
    same_held = eager["held"] == best["held"]
    print(f'torch.compiler.set_stance("fail_on_recompile") from update {WARMUP} on: {public}')
    print(f"(the same check from update 1 on torch's float OneCycleLR, as a control: {control})")
    print(
        f"Compiled vs uncompiled run: same values held at every update: {same_held}; "
        f"max |weight difference| {diff:.2e}"
    )

    late = [t for t in best["recompiled_at"] if t >= WARMUP]
    ok = ok_public and not late and best["ops"] > 0 and same_held and diff < 1e-5
    baseline = results.get(BASELINE)
    print(
        f"\nVerdict: {'met' if ok else 'NOT MET'}: with lrplugins scheduling the LR, beta1 and the "
        f"weight decay, the compiled AdamW step recompiles {len(best['recompiled_at'])} time(s) "
        f"in {STEPS} updates ({len(late)} after update {WARMUP - 1}), with the optimizer's math in "
        f"the graph ({best['ops']} ops)"
        + (
            f"; torch's float OneCycleLR: {_steps(baseline['recompiled_at'])} recompile(s)."
            if baseline
            else "."
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
