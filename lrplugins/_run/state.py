"""The one checkpoint format every adapter writes: :data:`FORMAT`, checked in one place."""

from __future__ import annotations

import math
from typing import Any

FORMAT = "lrplugins.run/1"
"""The format tag of every state dict :meth:`RunState.state_dict` writes (all adapters)."""


STATE_KEYS = frozenset(
    {
        "format",
        "schedule",
        "momentum",
        "weight_decay",
        "total_steps",
        "steps_per_epoch",
        "plateau",
        "events",
        "groups",
        "adapter",
    }
)


OPTIONAL_KEYS = frozenset({"clock", "fed"})
"""Keys only some states have: ``"clock"`` (``{"unit": "samples" | "tokens", "value": n}``, the
samples / tokens consumed so far) on a samples / tokens run; ``"fed"`` (an int >= 0, where the
plateau was last fed: :attr:`RunState.fed_at`) once the plateau was fed."""

LEGACY_FED = ("fed", "fed_epoch")
"""The adapter extras that held ``"fed"`` in states written before the engine kept it (Hugging
Face: the update of the last evaluation fed; Lightning: its epoch; ``-1``: never fed)."""


def saved_fed(state: dict[str, Any]) -> int | None:
    """Where the plateau of a checked ``state`` was last fed (``None``: never), read from
    ``"fed"`` or, in a state written before that key, from the adapter's :data:`LEGACY_FED`."""
    if "fed" in state:
        return int(state["fed"])
    extras = state["adapter"] if isinstance(state["adapter"], dict) else {}
    for name in LEGACY_FED:
        old = extras.get(name)
        if isinstance(old, int) and not isinstance(old, bool):
            return old if old >= 0 else None
    return None


def check_state(owner: str, state: Any) -> None:
    """Raise naming what is wrong unless ``state`` is a :data:`FORMAT` state dict."""
    if not isinstance(state, dict):
        raise TypeError(f"{owner}: state must be a dict, got {state!r}")
    keys = set(state)
    if state.get("format") != FORMAT or not STATE_KEYS <= keys <= STATE_KEYS | OPTIONAL_KEYS:
        raise ValueError(
            f"{owner}: not an lrplugins run state (format {FORMAT!r}); got format "
            f"{state.get('format')!r}, missing keys {sorted(STATE_KEYS - keys)}, unknown keys "
            f"{sorted(keys - STATE_KEYS - OPTIONAL_KEYS)}"
        )
    for name in ("total_steps", "steps_per_epoch"):
        value = state[name]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"{owner}: {name} must be an int or None, got {value!r}")
    if not isinstance(state["events"], list) or not isinstance(state["groups"], dict):
        raise ValueError(  # noqa: TRY004 - a malformed checkpoint is a bad value, as above
            f"{owner}: events must be a list and groups a dict, got {state['events']!r} and "
            f"{state['groups']!r}"
        )
    for k, records in state["groups"].items():
        ok = str(k).isdigit() and isinstance(records, list)
        for r in records if ok else ():
            base = r.get("base") if isinstance(r, dict) else None
            ok = ok and isinstance(base, dict) and isinstance(r.get("join"), int)
            ok = ok and all(
                isinstance(x, (int, float)) and math.isfinite(x) for x in (base or {}).values()
            )
        if not ok:
            raise ValueError(
                f"{owner}: groups[{k!r}] must be a list of groups with finite base values, got "
                f"{records!r}"
            )
    fed = state.get("fed", 0)
    if isinstance(fed, bool) or not isinstance(fed, int) or fed < 0:
        raise ValueError(f"{owner}: fed must be an int >= 0, got {fed!r}")
    clock = state.get("clock")
    if clock is not None and not (
        isinstance(clock, dict)
        and clock.get("unit") in ("samples", "tokens")
        and isinstance(clock.get("value"), int)
        and not isinstance(clock.get("value"), bool)
        and clock["value"] >= 0
    ):
        raise ValueError(
            f"{owner}: clock must be {{'unit': 'samples' or 'tokens', 'value': an int >= 0}}, "
            f"got {clock!r}"
        )
