"""Events recorded during a run (runtime cooldowns, horizon changes) and the schedule in force.

The schedule in force for a group is a pure function of its configured schedule, the run length it
was bound with, the update it joined at and the run's events, replayed in order: so a resumed run
rebuilds exactly what the uninterrupted one had.
"""

from __future__ import annotations

import math
from typing import Any

from .. import _validate as v
from .._schedules import Schedule, constant


def in_force(
    schedule: Schedule,
    events: list[dict[str, Any]],
    *,
    hyper: str,
    total_steps: int | None,
    steps_per_epoch: int | None,
    join: int = 0,
    total: int | None = None,
    opt: int = 0,
) -> Schedule:
    """The schedule in force for ``hyper`` of a group of optimizer ``opt`` that joined at update
    ``join`` (with ``total`` the run length when it joined), given the run's ``events``.

    A group present from the start is bound with ``total_steps``; a late one with what remained,
    on its own clock. Horizon changes (``"stretch"``) move the rest of every schedule; a cooldown
    applies to the LR only (from the LR in force, the plateau scale baked in), and a stretch after
    a cooldown leaves the LR alone (a cooldown keeps its end).
    """
    length = total_steps if join == 0 or total is None else max(total - join, 1)
    s = schedule.bind(total_steps=length, steps_per_epoch=steps_per_epoch)
    cooled = False
    for event in events:
        ats = event.get("ats")
        at = (event["at"] if ats is None else ats.get(str(opt), event["at"])) - join
        if event["kind"] == "stretch":
            if at >= 0 and not (hyper == "lr" and cooled):
                s = stretched(s, at, event["total_steps"] - join)
        elif hyper == "lr":  # a cooldown, from the LR in force
            base = s if event["scale"] == 1.0 else s * event["scale"]
            steps = event["steps"] + min(at, 0)  # a group that joined during it: the rest
            s = base.cooldown(
                at=max(at, 0), steps=max(steps, 0), shape=event["shape"], final=event["final"]
            )
            cooled = True
    return s


def cooldown_length(owner: str, steps: int | str, total: int | None, spe: int | None) -> int:
    """A cooldown length in updates: an int as is, ``"N%"`` of ``total``, ``"Nep"`` epochs."""
    if isinstance(steps, int):
        return steps
    num, unit = v.split_duration(steps)
    per = total if unit == "%" else spe
    if per is None:
        need = "total_steps" if unit == "%" else "steps_per_epoch"
        raise ValueError(
            f"{owner}.cooldown(): steps={steps!r} needs the run's {need}, which this run "
            "does not know; give the length in updates (an int)"
        )
    return math.ceil(num * per / (100 if unit == "%" else 1))


def stretched(s: Schedule, at: int, total: int) -> Schedule:
    """``s.stretch(at, total)``, or ``s`` itself when it has no end to move (periodic or
    ever-decaying shapes do not depend on the run length) or is already in its last phase."""
    end = s.end
    if end is None or at >= end:
        return s
    return s.stretch(at=at, total_steps=total)


def cooldown_request(owner: str, steps: Any, shape: Any, final: Any) -> dict[str, Any]:
    """Check a runtime cooldown's arguments (naming the bad one); return them normalized."""
    steps = v.plain(steps)
    if isinstance(steps, bool) or not isinstance(steps, (int, str)):
        raise TypeError(
            f"{owner}(): steps must be a non-negative int (optimizer updates; 0: the final value "
            f"from the next update) or a duration string ('10%' of the run, '2ep'), got {steps!r}"
        )
    if isinstance(steps, int) and steps < 0:
        raise ValueError(
            f"{owner}(): steps must be >= 0 (0: the final value from the next update), "
            f"got {steps!r}"
        )
    if isinstance(steps, str):
        v.duration(owner, "steps", steps)
    constant().cooldown(at=0, steps=0, shape=shape, final=final)  # checks shape and final
    return {"steps": steps, "shape": v.plain(shape), "final": v.real(owner, "final", final)}
