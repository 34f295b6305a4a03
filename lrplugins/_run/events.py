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
    clock: str = "steps",
) -> Schedule:
    """The schedule in force for ``hyper`` of a group of optimizer ``opt`` that joined at update
    ``join`` (with ``total`` the run length when it joined), given the run's ``events``.

    A group present from the start is bound with ``total_steps``; a late one with what remained,
    on its own clock. Every count (``total_steps``, ``join``, event positions and lengths) is a
    value of the run's ``clock``: updates, or samples / tokens consumed. Horizon changes (``"stretch"``) move the rest of every schedule; a cooldown
    applies to the LR only (from the LR in force, the plateau scale baked in), and a stretch after
    a cooldown leaves the LR alone (a cooldown keeps its end).
    """
    length = total_steps if join == 0 or total is None else max(total - join, 1)
    s = schedule.bind(
        total_steps=None if length is None else v.count_on(clock, length),
        steps_per_epoch=steps_per_epoch if clock == "steps" else None,
    )
    cooled = False
    for event in events:
        ats = event.get("ats")
        at = (event["at"] if ats is None else ats.get(str(opt), event["at"])) - join
        if event["kind"] == "stretch":
            if at >= 0 and not (hyper == "lr" and cooled):
                s = stretched(s, at, event["total_steps"] - join, clock)
        elif hyper == "lr":  # a cooldown, from the LR in force
            base = s if event["scale"] == 1.0 else s * event["scale"]
            steps = event["steps"] + min(at, 0)  # a group that joined during it: the rest
            s = base.cooldown(
                at=v.count_on(clock, max(at, 0)),
                steps=v.count_on(clock, max(steps, 0)),
                shape=event["shape"],
                final=event["final"],
            )
            cooled = True
    return s


def cooldown_length(
    owner: str, steps: int | str, total: int | None, spe: int | None, clock: str = "steps"
) -> int:
    """A cooldown length on the run's ``clock``: an int as is, ``"N%"`` of ``total``, ``"Nep"``
    epochs, ``"Nsp"`` / ``"Ntok"`` samples / tokens (rounded up)."""
    if isinstance(steps, int):
        return steps
    num, unit = v.split_duration(steps)
    if unit in ("sp", "tok"):
        return math.ceil(num)
    per = total if unit == "%" else spe
    if per is None:
        need = "total_steps" if unit == "%" else "steps_per_epoch"
        raise ValueError(
            f"{owner}.cooldown(): steps={steps!r} needs the run's {need}, which this run "
            "does not know; give the length in updates (an int)"
        )
    return math.ceil(num * per / (100 if unit == "%" else 1))


def stretched(s: Schedule, at: int, total: int, clock: str = "steps") -> Schedule:
    """``s.stretch(at, total)``, or ``s`` itself when it has no end to move (periodic or
    ever-decaying shapes do not depend on the run length) or is already in its last phase."""
    end = s.end
    if end is None or at >= end:
        return s
    return s.stretch(at=v.count_on(clock, at), total_steps=v.count_on(clock, total))


def cooldown_request(
    owner: str, steps: Any, shape: Any, final: Any, clock: str = "steps"
) -> dict[str, Any]:
    """Check a runtime cooldown's arguments (naming the bad one) for a run on ``clock``; return
    them normalized. On the samples / tokens clock the length is a string in that unit (an int
    would read as updates); ``0`` and ``"N%"`` fit every clock."""
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
    declared = v.clock_of(steps) if not isinstance(steps, bool) else None
    if declared is not None and declared != clock:
        example = {"samples": "'20Msp'", "tokens": "'20Btok'"}.get(clock, "an int of updates")
        raise ValueError(
            f"{owner}(): steps={steps!r} is in {v.unit_name(steps)} but this run runs on the "
            f"{clock} clock; give the length in its unit, e.g. {example} (or 'N%' of the run)"
        )
    constant().cooldown(at=0, steps=0, shape=shape, final=final)  # checks shape and final
    return {"steps": steps, "shape": v.plain(shape), "final": v.real(owner, "final", final)}
