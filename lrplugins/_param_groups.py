"""Writing a run's values into torch-style ``param_groups`` (torch, Lightning, Hugging Face).

Duck-typed (no torch import): a value held as a tensor (capturable or fused optimizers, a compiled
optimizer step) is written in place with ``fill_``, so nothing that captured it sees a new object;
a float is replaced. ``momentum`` goes to the group's ``momentum`` (SGD, RMSprop) or the first of
its ``betas`` (the Adam family), as torch's ``OneCycleLR(cycle_momentum=True)`` does.
"""

from __future__ import annotations

from typing import Any

from ._run import RunState


def _store(group: dict[str, Any], name: str, value: float) -> None:
    current = group[name]
    if current.__class__ is float or not hasattr(current, "fill_"):
        group[name] = value
    else:
        current.fill_(value)


def write(run: RunState, key: int, step: int, groups: list[dict[str, Any]]) -> list[float]:
    """Write the values of update ``step`` into optimizer ``key``'s ``groups``; return the LRs."""
    lrs = run.lrs(key, step, groups)
    floats = True
    for group, lr in zip(groups, lrs):  # the per-update path: _store inlined
        current = group["lr"]
        if current.__class__ is float or not hasattr(current, "fill_"):
            group["lr"] = lr
        else:
            current.fill_(lr)
            floats = False
    run.mark_written(key, lrs if floats else None)
    scheduled = run.scheduled
    if len(scheduled) == 1:
        return lrs
    for hyper in scheduled[1:]:
        for group, value in zip(groups, run.values(hyper, key, step)):
            if hyper == "momentum" and "momentum" not in group:
                betas = group["betas"]
                if hasattr(betas[0], "fill_"):
                    betas[0].fill_(value)
                else:
                    group["betas"] = (value, *betas[1:])
            else:
                _store(group, hyper, value)
    return lrs
