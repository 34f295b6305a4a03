"""The run-state engine: everything a training run knows about its learning rate, kept once.

Every adapter (``lrplugins.torch``, Lightning, Keras, Hugging Face) holds one :class:`RunState` and
only wires its framework to it: it reports the update index, the run length and the metrics, and
writes back the values the run state computes. The policies live here, once:

* the constructor surface: ``schedule`` and ``plateau`` as objects or config dicts, ``monitor``
  paired with ``plateau``, ``strict`` and ``horizon`` checked with one set of messages;
* binding an unbound schedule from the run, and what a resume does when the run length changed
  (``horizon="stretch"``: the rest of the schedule is stretched to the new total, continuous at the
  resume step; ``horizon="rebind"``: the schedule is bound again from the new total);
* the plateau and the "which metric, and is it missing" rule (``strict``), NaN never reaching the LR;
* events recorded during the run (a runtime :meth:`RunState.cooldown`), replayed on resume;
* per-group base values, and the one checkpoint format (:data:`FORMAT`), built and checked here.

Standard library only.

>>> import lrplugins as lrp
>>> run = lrp.RunState("demo", lrp.cosine(warmup_steps=2), lrp.Plateau(patience=0), "val_loss")
>>> run.bind(total_steps=10)
cosine(total_steps=10, warmup_steps=2)
>>> run.multiplier(1), run.multiplier(2)
(0.5, 1.0)
>>> run.observe_metrics({"val_loss": 1.0}), run.observe_metrics({"val_loss": 2.0})
(False, True)
>>> run.multiplier(2)
0.1
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any

from ._plateau import Plateau
from ._schedules import Schedule, UnboundScheduleError, from_config

__all__ = ["FORMAT", "HORIZONS", "MissingMetricError", "RunState"]

FORMAT = "lrplugins.run/1"
"""The format tag of every state dict :meth:`RunState.state_dict` writes (all adapters)."""

HORIZONS = ("stretch", "rebind")
_STATE_KEYS = frozenset(
    {
        "format",
        "schedule",
        "bound",
        "total_steps",
        "steps_per_epoch",
        "plateau",
        "events",
        "base_lrs",
        "adapter",
    }
)
_COOLDOWN_SHAPES = ("linear", "cosine", "1-sqrt")


class MissingMetricError(KeyError, RuntimeError):
    """The monitored metric is not in an evaluation that should hold it (``strict=True``).

    A ``KeyError`` (a name looked up in the metrics) and a ``RuntimeError`` (as Lightning's own
    callbacks raise for a missing monitor), so either ``except`` catches it.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _config_or_none(schedule: Schedule | None) -> dict[str, Any] | None:
    """The schedule's config, ``None`` for ``custom(fn)`` (no config) or no schedule."""
    if schedule is None:
        return None
    try:
        return schedule.to_config()
    except TypeError:
        return None


class RunState:
    """The state of one training run's learning rate: schedule, plateau, events, base LRs.

    The LR of parameter group ``g`` of optimizer ``k`` at update ``u`` (the number of updates
    already taken, 0 for the first) is ``base_lrs[k][g] * multiplier(u)``, with
    ``multiplier(u) = active(u) * plateau.scale``; ``active`` is the bound schedule with the
    run's recorded events applied (a :meth:`cooldown` bakes the plateau scale in force into the
    schedule, so the plateau stops scaling from then on).

    Args:
        owner: the name used in messages (e.g. ``"LRSchedulerCallback"``).
        schedule: a schedule or its ``to_config()`` dict (a multiplier of each group's base LR);
            ``None`` only with ``schedule_optional=True`` (the Keras callback takes the optimizer's).
        plateau: an optional :class:`lrplugins.Plateau` or its config dict; needs ``monitor``.
        monitor: the metric fed to ``plateau``; needs ``plateau``.
        strict: when an evaluation that should hold ``monitor`` does not, raise (``True``) or warn
            once and skip it (``False``).
        horizon: what a resume does when the run length differs from the checkpoint's:
            ``"stretch"`` (the rest of the schedule is stretched or squeezed to the new total,
            continuous at the resume step) or ``"rebind"`` (bound again from the new total).
        example_metric: the metric name used in the message for ``plateau`` without ``monitor``.
        schedule_optional: accept ``schedule=None``.
        monitor_required: a plateau needs a monitor (``False`` for the plain torch scheduler, whose
            caller feeds the plateau with ``observe(value)``).

    Raises:
        TypeError / ValueError: a bad argument, named with its value.
    """

    def __init__(
        self,
        owner: str,
        schedule: Schedule | dict[str, Any] | None,
        plateau: Plateau | dict[str, Any] | None = None,
        monitor: str | None = None,
        *,
        strict: bool = True,
        horizon: str = "stretch",
        example_metric: str = "val_loss",
        schedule_optional: bool = False,
        monitor_required: bool = True,
    ) -> None:
        self.owner = owner
        if isinstance(schedule, dict):
            schedule = from_config(schedule)
        if not (isinstance(schedule, Schedule) or (schedule is None and schedule_optional)):
            raise TypeError(
                f"{owner}(): schedule must be an lrplugins schedule or its config dict, "
                f"got {schedule!r}"
            )
        if isinstance(plateau, dict):
            plateau = Plateau.from_config(plateau)
        if plateau is not None and not isinstance(plateau, Plateau):
            raise TypeError(
                f"{owner}(): plateau must be an lrplugins.Plateau, its config dict or None, "
                f"got {plateau!r}"
            )
        if monitor is not None and not (isinstance(monitor, str) and monitor.strip()):
            raise (TypeError if not isinstance(monitor, str) else ValueError)(
                f"{owner}(): monitor must be a metric name (a non-empty str) or None, "
                f"got {monitor!r}"
            )
        if plateau is not None and monitor is None and monitor_required:
            raise ValueError(
                f"{owner}(): plateau needs monitor, the metric to feed it (e.g. "
                f"{example_metric!r}), got monitor=None"
            )
        if monitor is not None and plateau is None:
            raise ValueError(
                f"{owner}(): monitor={monitor!r} is only read with a plateau; pass "
                "plateau=lrplugins.Plateau(...) or drop monitor"
            )
        if not isinstance(strict, bool):
            raise TypeError(f"{owner}(): strict must be True or False, got {strict!r}")
        if horizon not in HORIZONS:
            raise ValueError(
                f"{owner}(): horizon must be one of {', '.join(map(repr, HORIZONS))}, "
                f"got {horizon!r}"
            )
        self.schedule: Schedule | None = schedule
        self.plateau: Plateau | None = plateau
        self.monitor: str | None = monitor
        self.strict = strict
        self.horizon = horizon
        self._fresh_plateau = None if plateau is None else plateau.state_dict()
        self.on_change: Callable[[], None] | None = None
        self._reset_runtime()

    def _reset_runtime(self) -> None:
        self.step = 0  # the index of the next update, as last reported by the adapter
        self.total_steps: int | None = None
        self.steps_per_epoch: int | None = None
        self.bound: Schedule | None = None  # bound from the run, before events
        self.events: list[dict[str, Any]] = []
        self.base_lrs: dict[int, list[float]] = {}
        self.adapter_state: dict[str, Any] = {}
        self._active: Schedule | None = None
        self._baked = False  # a cooldown baked the plateau scale into the schedule
        self._cache = (-1, 0.0)
        self._loaded: dict[str, Any] | None = None
        self._warned_missing = False

    def start_fresh(self) -> None:
        """Forget the runtime state of a previous run (a new ``fit``/``train``, not a resume)."""
        pending = self._loaded
        self._reset_runtime()
        self._loaded = pending
        if self.plateau is not None and self._fresh_plateau is not None and pending is None:
            self.plateau.load_state_dict(self._fresh_plateau)

    # -- the schedule -----------------------------------------------------------------------------
    @property
    def active(self) -> Schedule | None:
        """The schedule in force: the bound schedule with the recorded events applied."""
        return self._active

    @property
    def scale(self) -> float:
        """The factor applied on top of :attr:`active` (the plateau scale until a cooldown)."""
        if self.plateau is None or self._baked:
            return 1.0
        return self.plateau.scale

    def bind(
        self,
        total_steps: int | None = None,
        steps_per_epoch: int | None = None,
        *,
        step: int = 0,
        hint: str = "",
    ) -> Schedule:
        """Bind the schedule from the run and return the schedule in force.

        ``total_steps`` / ``steps_per_epoch`` are what the trainer knows (``None``: unknown); a
        value the schedule already has wins. ``step`` is the update the run (re)starts at. After a
        :meth:`load_state_dict`, the checkpoint's schedule is used, and a different
        ``total_steps`` is handled as ``horizon`` says (one warning naming both totals).

        Raises:
            UnboundScheduleError: the schedule still misses something; ``hint`` is appended.
            ValueError: resuming with a total the run has already passed.
        """
        loaded, self._loaded = self._loaded, None
        schedule = self.schedule
        if schedule is None:
            raise RuntimeError(f"{self.owner}: no schedule to bind")
        previous: Schedule | None = self.bound if step > 0 else None
        previous_total = self.total_steps
        events = self.events if step > 0 else []
        if loaded is not None:
            if loaded["schedule"] is not None:
                saved = from_config(loaded["schedule"])
                if saved != schedule and saved != schedule.bind(
                    total_steps=getattr(saved, "total_steps", None) or loaded["total_steps"],
                    steps_per_epoch=getattr(saved, "steps_per_epoch", None)
                    or loaded["steps_per_epoch"],
                ):
                    warnings.warn(
                        f"{self.owner}: the checkpoint was saved with schedule {saved!r}, this run "
                        f"was given {schedule!r}; the checkpoint's schedule is used (as torch "
                        "schedulers restore their arguments). Start a fresh run to change it.",
                        stacklevel=3,
                    )
                self.schedule = schedule = saved
            previous = None if loaded["bound"] is None else from_config(loaded["bound"])
            previous_total = loaded["total_steps"]
            events = loaded["events"]
        bound = schedule.bind(total_steps=total_steps, steps_per_epoch=steps_per_epoch)
        if not bound.is_bound:
            raise UnboundScheduleError(
                f"{self.owner}: cannot bind {schedule!r}: missing {'; '.join(bound.missing)}."
                + (f" {hint}" if hint else "")
            )
        if previous is not None:
            changed = (
                bound != previous
                and previous_total is not None
                and total_steps is not None
                and previous_total != total_steps
            )
            bound = (
                self._new_horizon(previous, bound, previous_total, total_steps, step)  # type: ignore[arg-type]
                if changed
                else previous
            )
        self.total_steps = total_steps if total_steps is not None else previous_total
        self.steps_per_epoch = steps_per_epoch
        self.bound = bound
        events, self.events = list(events), []
        self._baked = False
        self._set_active(bound)
        for event in events:
            self._replay(event)
        return self._active  # type: ignore[return-value]

    def _new_horizon(
        self, saved: Schedule, rebound: Schedule, old: int, new: int, step: int
    ) -> Schedule:
        if new <= step:
            raise ValueError(
                f"{self.owner}: the run resumes at update {step} but now has total_steps={new} "
                f"(the checkpoint was bound with total_steps={old}): the new total is already "
                "passed. Raise max_steps / epochs, or start a fresh run."
            )
        if self.horizon == "rebind":
            warnings.warn(
                f"{self.owner}: the run length changed from {old} to {new} updates; "
                f"horizon='rebind' binds the schedule again for {new} updates (the LR "
                f"may jump at update {step}).",
                stacklevel=4,
            )
            return rebound
        try:
            stretched = saved.stretch(at=step, total_steps=new)
        except ValueError as exc:
            if step >= saved.phases()[-1].start:
                return saved  # already in its last phase: nothing left to stretch
            raise ValueError(
                f"{self.owner}: the run length changed from {old} to {new} updates, and the rest "
                f"of the schedule cannot be stretched from update {step} ({exc}). Pass "
                "horizon='rebind' to bind it again from the new total."
            ) from None
        warnings.warn(
            f"{self.owner}: the run length changed from {old} to {new} updates; the rest of the "
            f"schedule is {'stretched' if new > old else 'squeezed'} "
            f"from update {step} to end at update {new} (horizon='stretch'; "
            "horizon='rebind' binds it again instead).",
            stacklevel=4,
        )
        return stretched

    def _set_active(self, schedule: Schedule) -> None:
        self._active = schedule
        self._cache = (-1, 0.0)

    def multiplier(self, step: int) -> float:
        """``active(step) * scale``: the multiplier of every base LR at update ``step``."""
        cached, value = self._cache
        if step != cached:
            active = self._active
            if active is None:
                raise UnboundScheduleError(
                    f"{self.owner}: the schedule is not bound yet (it is bound when training "
                    "starts)."
                )
            value = active(step)
            self._cache = (step, value)
        if self.plateau is None or self._baked:
            return value
        return value * self.plateau.scale

    # -- base LRs ---------------------------------------------------------------------------------
    def take_base_lrs(self, key: int, current: list[float]) -> list[float]:
        """The base LRs of optimizer ``key``: the checkpoint's when resuming, else ``current``."""
        saved = self.base_lrs.get(key)
        if saved is not None:
            if len(saved) != len(current):
                raise ValueError(
                    f"{self.owner}: the checkpoint has base LRs for {len(saved)} parameter "
                    f"group(s) of optimizer {key}, but it now has {len(current)}; got "
                    f"base_lrs={saved}"
                )
            return saved
        self.base_lrs[key] = [float(x) for x in current]
        return self.base_lrs[key]

    def lrs(self, key: int, step: int, groups: list[dict[str, Any]]) -> list[float]:
        """The LR of each of ``groups`` (optimizer ``key``'s param groups) at update ``step``.

        A group added since the base LRs were taken (``add_param_group``) takes its current ``lr``
        as its base LR; fewer groups than recorded is an error.
        """
        bases = self.base_lrs[key]
        if len(groups) != len(bases):
            if len(groups) < len(bases):
                raise ValueError(
                    f"{self.owner}: optimizer {key} has {len(groups)} parameter group(s), fewer "
                    f"than the {len(bases)} recorded; groups cannot be removed"
                )
            for group in groups[len(bases) :]:
                bases.append(float(group.get("initial_lr", group["lr"])))
        m = self.multiplier(step)
        return [base * m for base in bases]

    # -- the plateau and the monitored metric -----------------------------------------------------
    def check_feedable(self, can_evaluate: bool, setting: str) -> None:
        """At train start: a monitor that can never be fed raises (strict) or warns.

        ``setting`` names what to change, e.g. ``"eval_strategy='no'"``.
        """
        if self.monitor is None or can_evaluate:
            return
        message = (
            f"{self.owner}(monitor={self.monitor!r}): this run never evaluates ({setting}), so the "
            "plateau would never be fed and never cut the LR. Enable evaluation, or drop "
            "plateau and monitor."
        )
        if self.strict:
            raise ValueError(message + " (strict=False turns this into a warning.)")
        warnings.warn(message, stacklevel=3)

    def metric(
        self, metrics: Mapping[str, Any], *, aliases: tuple[str, ...] = (), hint: str = ""
    ) -> Any:
        """The monitored value in ``metrics`` (``monitor`` or one of ``aliases``), or ``None``.

        Missing: raises :class:`MissingMetricError` listing the available metrics when ``strict``, else warns once
        and returns ``None`` (the evaluation is skipped).
        """
        monitor = self.monitor
        if monitor is None:
            return None
        for key in (monitor, *aliases):
            if key in metrics:
                return metrics[key]
        available = sorted(str(k) for k in metrics) or "none"
        message = (
            f"{self.owner}(monitor={monitor!r}): no such metric in this evaluation; available "
            f"metrics: {available}." + (f" {hint}" if hint else "")
        )
        if self.strict:
            raise MissingMetricError(
                message + " (strict=False skips such evaluations with a warning.)"
            )
        if not self._warned_missing:
            self._warned_missing = True
            warnings.warn(message + " Skipped (strict=False); warned once.", stacklevel=3)
        return None

    def observe(self, value: Any) -> bool:
        """Feed one observation of the monitored metric to the plateau; True if the scale changed.

        NaN and infinities count as bad observations and never reach the LR. A value that is not
        a single number raises ``TypeError`` naming the monitor.
        """
        plateau = self.plateau
        if plateau is None:
            raise RuntimeError(
                f"{self.owner}: there is no plateau to feed; pass plateau=lrplugins.Plateau(...)"
            )
        try:
            value = float(value)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(
                f"{self.owner}(monitor={self.monitor!r}): the monitored value must be a single "
                f"number, got {value!r} ({exc})"
            ) from None
        old = plateau.scale
        plateau.update(value)
        changed = plateau.scale != old and not self._baked
        if changed:
            self._changed()
        return changed

    def observe_metrics(self, metrics: Mapping[str, Any], *, aliases: tuple[str, ...] = ()) -> bool:
        """:meth:`metric` then :meth:`observe`; False when the metric was skipped."""
        value = self.metric(metrics, aliases=aliases)
        return False if value is None else self.observe(value)

    # -- events -----------------------------------------------------------------------------------
    def cooldown(self, steps: int, shape: str = "1-sqrt", final: float = 0.0) -> None:
        """Start a cooldown at the next update (:attr:`step`) from the multiplier in force.

        From update ``at = step`` the multiplier decays from ``multiplier(at)`` (plateau scale
        included) to ``final`` over ``steps`` updates, with ``shape`` as in
        :meth:`lrplugins.Schedule.cooldown`, then holds ``final``. The plateau stops scaling the
        LR. A second call starts a new cooldown from the multiplier in force at that point; a call
        after the schedule ended decays from its final value.
        """
        if self._active is None:
            raise RuntimeError(
                f"{self.owner}.cooldown(): the schedule is not bound yet; call it once training "
                "has started"
            )
        event = {"at": int(self.step), "steps": steps, "shape": shape, "final": final}
        self._replay(event)  # validates (the schedule's cooldown() names bad arguments)
        self._changed()

    def _replay(self, event: dict[str, Any]) -> None:
        active = self._active
        scale = event.get("scale", self.scale)
        base = active if scale == 1.0 else active * scale  # type: ignore[operator]
        cooled = base.cooldown(  # type: ignore[union-attr]
            at=event["at"], steps=event["steps"], shape=event["shape"], final=event["final"]
        )
        self._set_active(cooled)
        self._baked = True
        self.events.append({**event, "scale": scale})

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    # -- checkpoints ------------------------------------------------------------------------------
    def state_dict(self, **adapter: Any) -> dict[str, Any]:
        """The run's state as JSON-compatible values, tagged :data:`FORMAT`.

        ``adapter`` holds the adapter's own JSON-compatible extras (e.g. per-optimizer counters).
        """
        plateau = self.plateau
        return {
            "format": FORMAT,
            "schedule": _config_or_none(self.schedule),
            "bound": _config_or_none(self.bound),
            "total_steps": self.total_steps,
            "steps_per_epoch": self.steps_per_epoch,
            "plateau": None
            if plateau is None
            else {"config": plateau.to_config(), "state": plateau.state_dict()},
            "events": [dict(e) for e in self.events],
            "base_lrs": {str(k): list(v) for k, v in self.base_lrs.items()},
            "adapter": dict(adapter),
        }

    def load_state_dict(self, state: Any) -> dict[str, Any]:
        """Check and restore :meth:`state_dict`'s output; return its ``adapter`` extras.

        The plateau (config and state) and the base LRs are restored at once; the schedule, its
        run length and the events are taken over by the next :meth:`bind` (which knows the new run
        length). The checkpoint's schedule and plateau replace the live ones, with a warning when
        they differ.
        """
        owner = f"{self.owner}.load_state_dict()"
        check_state(owner, state)
        saved_plateau = state["plateau"]
        if saved_plateau is None:
            if self.plateau is not None:
                warnings.warn(
                    f"{owner}: the checkpoint has no plateau, this run has {self.plateau!r}; it "
                    "starts fresh.",
                    stacklevel=2,
                )
        else:
            if self.plateau is None:
                warnings.warn(
                    f"{owner}: the checkpoint holds plateau state (scale "
                    f"{saved_plateau['state'].get('scale')}) but this run has no plateau; the "
                    "saved scale is dropped.",
                    stacklevel=2,
                )
            else:
                cfg = saved_plateau["config"]
                if cfg != self.plateau.to_config():
                    warnings.warn(
                        f"{owner}: the checkpoint's plateau has config {cfg}, this run's has "
                        f"{self.plateau.to_config()}; the checkpoint's is used.",
                        stacklevel=2,
                    )
                    self.plateau = Plateau.from_config(cfg)
                self.plateau.load_state_dict(saved_plateau["state"])
        self.base_lrs = {int(k): [float(x) for x in v] for k, v in state["base_lrs"].items()}
        self._loaded = state
        self._baked = False
        return dict(state["adapter"])


def check_state(owner: str, state: Any) -> None:
    """Raise naming what is wrong unless ``state`` is a :data:`FORMAT` state dict."""
    if not isinstance(state, dict):
        raise TypeError(f"{owner}: state must be a dict, got {state!r}")
    keys = set(state)
    if state.get("format") != FORMAT or keys != _STATE_KEYS:
        raise ValueError(
            f"{owner}: not an lrplugins run state (format {FORMAT!r}); got format "
            f"{state.get('format')!r}, missing keys {sorted(_STATE_KEYS - keys)}, unknown keys "
            f"{sorted(keys - _STATE_KEYS)}"
        )
    for name in ("total_steps", "steps_per_epoch"):
        value = state[name]
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"{owner}: {name} must be an int or None, got {value!r}")
    if not isinstance(state["events"], list) or not isinstance(state["base_lrs"], dict):
        raise ValueError(  # noqa: TRY004 - a malformed checkpoint is a bad value, as above
            f"{owner}: events must be a list and base_lrs a dict, got {state['events']!r} and "
            f"{state['base_lrs']!r}"
        )
    for k, lrs in state["base_lrs"].items():
        if not str(k).isdigit() or not all(
            isinstance(x, (int, float)) and math.isfinite(x) for x in lrs
        ):
            raise ValueError(f"{owner}: base_lrs[{k!r}] must be finite numbers, got {lrs!r}")
