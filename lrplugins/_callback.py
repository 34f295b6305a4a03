"""Argument checks shared by the trainer callbacks (Lightning, Hugging Face)."""

from __future__ import annotations

from typing import Any

from ._plateau import Plateau
from ._schedules import Schedule, from_config


def callback_args(
    owner: str, schedule: Any, plateau: Any, monitor: Any, *, example_metric: str
) -> tuple[Schedule, Plateau | None, str | None]:
    """Validate ``(schedule, plateau, monitor)``; schedules and plateaus may be config dicts.

    A plateau needs a monitor and a monitor needs a plateau, so no argument is silently unused.
    """
    if isinstance(schedule, dict):
        schedule = from_config(schedule)
    if not isinstance(schedule, Schedule):
        raise TypeError(
            f"{owner}(): schedule must be a lrplugins schedule or its config dict, got {schedule!r}"
        )
    if isinstance(plateau, dict):
        plateau = Plateau.from_config(plateau)
    if plateau is not None and not isinstance(plateau, Plateau):
        raise TypeError(f"{owner}(): plateau must be a lrplugins.Plateau or None, got {plateau!r}")
    if monitor is not None and not (isinstance(monitor, str) and monitor):
        raise TypeError(f"{owner}(): monitor must be a metric name (str) or None, got {monitor!r}")
    if plateau is not None and monitor is None:
        raise ValueError(
            f"{owner}(): plateau needs monitor, the metric to feed it (e.g. {example_metric!r}), "
            "got monitor=None"
        )
    if monitor is not None and plateau is None:
        raise ValueError(
            f"{owner}(): monitor={monitor!r} is only read with a plateau; pass "
            "plateau=lrplugins.Plateau(...) or drop monitor"
        )
    return schedule, plateau, monitor
