"""What a run schedules: ``schedule``, ``momentum`` and ``weight_decay`` as group specs.

A *spec* is ``{group key: schedule}``: one schedule under ``"*"``, or a schedule per parameter
group (a group's ``"name"``, its index, ``"*"`` for the rest). Parsing (objects or config dicts,
with one set of messages), the JSON form a checkpoint keeps, and the comparison a resume makes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Union

from .. import _validate as v
from .._schedules import Schedule, from_config

HYPERPARAMETERS = ("lr", "momentum", "weight_decay")
"""What a run schedules: the LR (``schedule=``), ``momentum=`` and ``weight_decay=``."""


SPEC_ARGS = {"lr": "schedule", "momentum": "momentum", "weight_decay": "weight_decay"}


GroupKey = Union[str, int]  # noqa: UP007 - a runtime alias, usable on Python 3.10
"""A parameter group's ``"name"``, its index, or ``"*"`` for every group no other key names."""


def parse_schedule(owner: str, name: str, value: Any) -> Schedule:
    if isinstance(value, dict):
        value = from_config(value)
    if not isinstance(value, Schedule):
        hint = ""
        if name in ("momentum", "weight_decay") and isinstance(value, (int, float)):
            hint = (
                f"; configure {name} on the optimizer and pass a schedule here (a multiplier of "
                "the configured value)"
            )
        raise TypeError(
            f"{owner}(): {name} must be an lrplugins schedule or its config dict{hint}, "
            f"got {value!r}"
        )
    return value


def parse_spec(owner: str, name: str, value: Any, per_group: bool) -> dict[GroupKey, Schedule]:
    """A schedule, its config, or a dict from group keys to either, as ``{key: schedule}``."""
    if isinstance(value, Mapping) and "kind" not in value:
        if not per_group:
            raise TypeError(
                f"{owner}(): {name} must be one schedule here (this optimizer has one "
                f"{'learning rate' if name == 'schedule' else name}), got a dict of "
                f"{len(value)} group schedule(s): {sorted(map(str, value))}"
            )
        if not value:
            raise ValueError(f"{owner}(): {name} is an empty dict; give at least one group key")
        out: dict[GroupKey, Schedule] = {}
        for key, s in value.items():
            if isinstance(key, bool) or not isinstance(key, (str, int)) or key == "":
                raise TypeError(
                    f"{owner}(): {name} keys must be group names (str), indices (int) or '*', "
                    f"got {key!r}"
                )
            out[key] = parse_schedule(owner, f"{name}[{key!r}]", s)
        return out
    return {"*": parse_schedule(owner, name, value)}


def spec_config(spec: dict[GroupKey, Schedule] | None) -> Any:
    """JSON form of a spec: one config, or ``{"groups": [[key, config], ...]}``; None if custom."""
    if spec is None:
        return None
    try:
        if list(spec) == ["*"]:
            return spec["*"].to_config()
        return {"groups": [[k, s.to_config()] for k, s in spec.items()]}
    except TypeError:  # custom(fn) somewhere: no config, the live spec is kept on load
        return None


def spec_from_config(config: Any) -> dict[GroupKey, Schedule]:
    if "groups" in config and "kind" not in config:
        return {k: from_config(c) for k, c in config["groups"]}
    return {"*": from_config(config)}


def same_spec(
    saved: dict[GroupKey, Schedule], live: dict[GroupKey, Schedule], loaded: dict[str, Any]
) -> bool:
    """Whether ``live`` is ``saved`` (or its unbound form, bound as the checkpoint was)."""
    if set(saved) != set(live):
        return False
    total, spe = loaded["total_steps"], loaded["steps_per_epoch"]
    return all(
        saved[k] == live[k]
        or saved[k] == live[k].bind(total_steps=total, steps_per_epoch=spe)
        or saved[k].bind(total_steps=total, steps_per_epoch=spe)
        == live[k].bind(total_steps=total, steps_per_epoch=spe)
        for k in saved
    )


def show(spec: dict[GroupKey, Schedule]) -> str:
    return repr(spec["*"]) if list(spec) == ["*"] else repr(spec)


def run_clock(owner: str, specs: Mapping[str, Mapping[GroupKey, Schedule]]) -> str:
    """The one clock of a run: the clock every schedule it uses (per group, momentum, weight
    decay) declares; a schedule whose durations fit every clock takes it. A mix is refused."""
    found: tuple[str, str] | None = None  # (argument, clock)
    for hyper, spec in specs.items():
        for key, s in spec.items():
            clock = s.declared_clock
            if clock is None:
                continue
            label = SPEC_ARGS[hyper] + ("" if key == "*" else f"[{key!r}]")
            if found is None:
                found = (label, clock)
            elif clock != found[1]:
                raise ValueError(
                    f"{owner}(): {found[0]} runs on the {found[1]} clock but {label} on the "
                    f"{clock} clock; every schedule of one run (per group, momentum, weight "
                    "decay) counts on one clock: write their durations in one unit"
                )
    return "steps" if found is None else found[1]


def own_total(specs: Mapping[str, Mapping[GroupKey, Schedule]], clock: str) -> int | None:
    """On the samples / tokens clock, the run's total in that unit: the ``total_steps`` some
    schedule of the run was given (``"300Btok"``); ``None`` on the steps clock or if none has one."""
    if clock == "steps":
        return None
    for spec in specs.values():
        for s in spec.values():
            total = getattr(s, "total_steps", None)
            if isinstance(total, str) and v.clock_of(total) == clock:
                return int(v.split_duration(total)[0])
    return None
