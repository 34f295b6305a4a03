"""The run-state engine: everything a training run knows about its hyperparameters, kept once.

Every adapter (``lrplugins.torch``, Lightning, Keras, Hugging Face) holds one :class:`RunState` and
only wires its framework to it: it reports the update index, the run length, the parameter groups
and the metrics, and writes back the values the run state computes. The policies live here, once:

* the constructor surface: ``schedule`` (and ``momentum``, ``weight_decay``) and ``plateau`` as
  objects or config dicts, a schedule per parameter group, ``monitor`` paired with ``plateau``,
  ``strict`` and ``horizon``, checked with one set of messages;
* binding an unbound schedule from the run (a group that joins later is bound with the run length
  that remains, on its own clock), and what a resume does when the run length changed
  (``horizon="stretch"``: the rest of the schedule is stretched to the new total, continuous at the
  resume step; ``horizon="rebind"``: the schedule is bound again from the new total);
* the plateau and the "which metric, and is it missing" rule (``strict``), NaN never reaching the LR;
* events recorded during the run (a runtime :meth:`RunState.cooldown`, a horizon change), replayed
  on resume;
* the parameter groups (base values, names, the update each one joined at), and the one
  checkpoint format (:data:`FORMAT`), built and checked here.

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
from typing import Any, Union

from . import _validate as v
from ._plateau import Plateau
from ._schedules import Schedule, UnboundScheduleError, constant, from_config

__all__ = ["FORMAT", "HORIZONS", "HYPERPARAMETERS", "MissingMetricError", "RunState", "RunViews"]

FORMAT = "lrplugins.run/1"
"""The format tag of every state dict :meth:`RunState.state_dict` writes (all adapters)."""

HORIZONS = ("stretch", "rebind")
HYPERPARAMETERS = ("lr", "momentum", "weight_decay")
"""What a run schedules: the LR (``schedule=``), ``momentum=`` and ``weight_decay=``."""

GroupKey = Union[str, int]  # noqa: UP007 - a runtime alias, usable on Python 3.10
"""A parameter group's ``"name"``, its index, or ``"*"`` for every group no other key names."""

_STATE_KEYS = frozenset(
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
_SPEC_ARGS = {"lr": "schedule", "momentum": "momentum", "weight_decay": "weight_decay"}


class MissingMetricError(KeyError, RuntimeError):
    """The monitored metric is not in an evaluation that should hold it (``strict=True``).

    A ``KeyError`` (a name looked up in the metrics) and a ``RuntimeError`` (as Lightning's own
    callbacks raise for a missing monitor), so either ``except`` catches it.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def _schedule(owner: str, name: str, value: Any) -> Schedule:
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


def _spec(owner: str, name: str, value: Any, per_group: bool) -> dict[GroupKey, Schedule]:
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
            out[key] = _schedule(owner, f"{name}[{key!r}]", s)
        return out
    return {"*": _schedule(owner, name, value)}


def _spec_config(spec: dict[GroupKey, Schedule] | None) -> Any:
    """JSON form of a spec: one config, or ``{"groups": [[key, config], ...]}``; None if custom."""
    if spec is None:
        return None
    try:
        if list(spec) == ["*"]:
            return spec["*"].to_config()
        return {"groups": [[k, s.to_config()] for k, s in spec.items()]}
    except TypeError:  # custom(fn) somewhere: no config, the live spec is kept on load
        return None


def _spec_from_config(config: Any) -> dict[GroupKey, Schedule]:
    if "groups" in config and "kind" not in config:
        return {k: from_config(c) for k, c in config["groups"]}
    return {"*": from_config(config)}


class RunState:
    """The state of one training run's hyperparameters: schedules, plateau, events, groups.

    The LR of parameter group ``g`` at update ``u`` (the number of updates already taken, 0 for
    the first) is ``base_lr[g] * s_g(u - join[g]) * plateau.scale``, where ``s_g`` is the group's
    schedule (bound, with the run's recorded events applied) and ``join[g]`` the update the group
    first took part in (0 for the groups present at train start). ``momentum`` and
    ``weight_decay`` schedules multiply the configured values the same way, without the plateau.
    A :meth:`cooldown` bakes the plateau scale in force into the LR schedules, so the plateau stops
    scaling from then on.

    Args:
        owner: the name used in messages (e.g. ``"LRSchedulerCallback"``).
        schedule: a schedule or its ``to_config()`` dict (a multiplier of each group's base LR),
            or a dict from group keys (a group's ``"name"``, its index, ``"*"`` for the rest) to
            schedules; ``None`` only with ``schedule_optional=True``.
        plateau: an optional :class:`lrplugins.Plateau` or its config dict; needs ``monitor``.
        monitor: the metric fed to ``plateau``; needs ``plateau``.
        momentum: optional schedule(s) multiplying each group's configured momentum (SGD/RMSprop
            ``momentum``, the Adam family's ``betas[0]``), like ``schedule``.
        weight_decay: optional schedule(s) multiplying each group's configured ``weight_decay``.
        strict: when an evaluation that should hold ``monitor`` does not, raise (``True``) or warn
            once and skip it (``False``).
        horizon: what a resume does when the run length differs from the checkpoint's:
            ``"stretch"`` (the rest of the schedule is stretched or squeezed to the new total,
            continuous at the resume step) or ``"rebind"`` (bound again from the new total).
        example_metric: the metric name used in the message for ``plateau`` without ``monitor``.
        schedule_optional: accept ``schedule=None`` (the Keras callback takes the optimizer's).
        monitor_required: a plateau needs a monitor (``False`` for the plain torch scheduler, whose
            caller feeds the plateau with ``observe(value)``).
        per_group: accept dicts of group schedules (``False``: one LR per optimizer, Keras).

    Raises:
        TypeError / ValueError: a bad argument, named with its value.
    """

    def __init__(
        self,
        owner: str,
        schedule: Any,
        plateau: Plateau | dict[str, Any] | None = None,
        monitor: str | None = None,
        *,
        momentum: Any = None,
        weight_decay: Any = None,
        strict: bool = True,
        horizon: str = "stretch",
        example_metric: str = "val_loss",
        schedule_optional: bool = False,
        monitor_required: bool = True,
        per_group: bool = True,
    ) -> None:
        self.owner = owner
        self._per_group = per_group
        self._specs: dict[str, dict[GroupKey, Schedule]] = {}
        if schedule is not None or not schedule_optional:
            self._specs["lr"] = _spec(owner, "schedule", schedule, per_group)
        for name, value in (("momentum", momentum), ("weight_decay", weight_decay)):
            if value is not None:
                self._specs[name] = _spec(owner, name, value, per_group)
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
        self.plateau: Plateau | None = plateau
        self.monitor: str | None = monitor
        self.strict = strict
        self.horizon = horizon
        self._fresh_plateau = None if plateau is None else plateau.state_dict()
        self.on_change: Callable[[], None] | None = None
        self._loaded: dict[str, Any] | None = None
        # cooldowns requested while no run is in progress: applied by the next begin()
        self._pending: list[dict[str, Any]] = []
        self._reset_runtime()

    def _reset_runtime(self) -> None:
        self.step = 0  # the index of the next update, as last reported by the adapter
        self.total_steps: int | None = None  # the run length the schedules were first bound with
        self.steps_per_epoch: int | None = None
        self.events: list[dict[str, Any]] = []
        self.groups: dict[int, list[dict[str, Any]]] = {}  # optimizer key -> its groups
        self._bound = False
        self._baked = False  # a cooldown baked the plateau scale into the LR schedules
        self._built: dict[tuple[str, GroupKey, int, int | None, int], Schedule] = {}
        # optimizer key -> its base LRs when all its groups are on the "*" clock 0, else []
        self._uniform: dict[int, list[float]] = {}
        self._fast: Schedule | None = None  # active, cached for the per-update path
        self._per_opt = False  # an event starts at a different update for each optimizer
        self._cache_step, self._cache_value = -1, 0.0
        self._scheduled = tuple(h for h in HYPERPARAMETERS if h in self._specs)
        self._warned_missing = False
        self._keys_checked = False  # the "key that matches no group" warning, at the first update
        self._optimizers: dict[int, str] = {}  # optimizer key -> its class name, for messages
        self.in_progress = False  # between begin() and end()

    def start_fresh(self) -> None:
        """Forget the runtime state of a previous run (a new ``fit``/``train``, not a resume)."""
        self._reset_runtime()
        if self.plateau is not None and self._fresh_plateau is not None and self._loaded is None:
            self.plateau.load_state_dict(self._fresh_plateau)

    def forget_checkpoint(self) -> None:
        """Drop a loaded checkpoint that no run took over (a fit that never started training)."""
        self._loaded = None

    # -- the lifecycle: what an adapter reports (see docs/adapters.md) ---------------------------
    def begin(
        self,
        step: int,
        total_steps: int | None = None,
        steps_per_epoch: int | None = None,
        *,
        at: Mapping[int, int] | None = None,
        hint: str = "",
    ) -> str:
        """Training begins at update ``step``: decide what kind of run this is, bind, apply what
        was pending. Returns the decision:

        - ``"resume"``: a checkpoint was loaded (:meth:`load_state_dict`): its schedules, run
          length and events are taken over (a changed ``total_steps`` is a horizon change);
        - ``"fresh"``: ``step == 0`` and nothing loaded: a new run (a reused adapter forgets the
          previous run's events, groups and plateau);
        - ``"continue"``: nothing loaded, but this run state ran the updates before ``step`` in
          memory (the same trainer trains more): kept as it is, a changed length as on resume;
        - ``"foreign"``: ``step > 0`` with no state of this run (a checkpoint written without
          it): a new run state that starts at ``step``; the adapter decides the base values.

        ``total_steps`` / ``steps_per_epoch`` are what the trainer knows (``None``: unknown);
        ``hint`` is appended to the error when a schedule still cannot be bound. Cooldowns
        requested while no run was in progress start at ``step`` (``at``: each optimizer's own
        next update, where they count separately).
        """
        step = int(step)
        if self._loaded is not None:
            decision = "resume"
        elif step == 0:
            decision = "fresh"
        elif self._bound and step - 1 <= self.step <= step:  # its last update was step - 1
            decision = "continue"
        else:
            decision = "foreign"
        if decision in ("fresh", "foreign"):
            self.start_fresh()
        self.bind(total_steps, steps_per_epoch, step=step, hint=hint)
        self.step = step
        pending, self._pending = self._pending, []
        for request in pending:
            self._add_cooldown(request, step if at is None else at, notify=False)
        return decision

    def end(self) -> None:
        """The run ended (or raised). A checkpoint loaded for a run that never began is dropped;
        a :meth:`cooldown` from now on waits for the next run."""
        if self._loaded is not None:
            self._loaded = None
            self.start_fresh()
        self.in_progress = False

    # -- schedules --------------------------------------------------------------------------------
    @property
    def schedule(self) -> Schedule | dict[GroupKey, Schedule] | None:
        """The LR schedule as configured (a dict for per-group schedules; the checkpoint's after a
        resume)."""
        spec = self._specs.get("lr")
        if spec is None:
            return None
        return spec["*"] if list(spec) == ["*"] else dict(spec)

    @schedule.setter
    def schedule(self, value: Any) -> None:
        self._specs["lr"] = _spec(self.owner, "schedule", value, self._per_group)
        self._invalidate()

    def spec(self, hyper: str) -> dict[GroupKey, Schedule] | None:
        """The schedules of ``hyper`` (``"lr"``, ``"momentum"``, ``"weight_decay"``) by group key."""
        return self._specs.get(hyper)

    @property
    def scheduled(self) -> tuple[str, ...]:
        """The hyperparameters this run schedules, ``"lr"`` first."""
        return self._scheduled

    @property
    def is_bound(self) -> bool:
        """Whether :meth:`bind` has run, so values can be computed."""
        return self._bound

    @property
    def current_total(self) -> int | None:
        """The run length in force: the last horizon change's, or the one first bound with."""
        for event in reversed(self.events):
            if event["kind"] == "stretch":
                return int(event["total_steps"])
        return self.total_steps

    @property
    def active(self) -> Schedule | None:
        """The LR schedule in force for the groups present from the start (key ``"*"``)."""
        spec = self._specs.get("lr")
        if not self._bound or spec is None or "*" not in spec:
            return None
        return self._build("lr", "*", 0, None)

    def active_for(self, hyper: str) -> Schedule:
        """The schedule in force for ``hyper`` (``"lr"``, ``"momentum"``, ``"weight_decay"``) of
        the groups present from the start (key ``"*"``); the run must be bound."""
        return self._build(hyper, "*", 0, None)

    @property
    def scale(self) -> float:
        """The factor applied on top of the LR schedules (the plateau scale until a cooldown)."""
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
    ) -> Schedule | None:
        """Bind the schedules from the run; return the LR schedule in force (:attr:`active`).

        ``total_steps`` / ``steps_per_epoch`` are what the trainer knows (``None``: unknown); a
        value a schedule already has wins. ``step`` is the update the run (re)starts at. After a
        :meth:`load_state_dict` (or when binding again once the run has started), the run length
        the schedules were bound with is kept, and a different ``total_steps`` is handled as
        ``horizon`` says, with one warning naming both totals.

        Raises:
            UnboundScheduleError: a schedule still misses something; ``hint`` is appended.
            ValueError: resuming with a total the run has already passed.
        """
        if "lr" not in self._specs:
            raise RuntimeError(f"{self.owner}: no schedule to bind")
        loaded, self._loaded = self._loaded, None
        if loaded is not None:
            self._take_over(loaded)
            previous_total = self.current_total
        elif step > 0 and self._bound:
            previous_total = self.current_total
        else:
            self.total_steps, self.steps_per_epoch = total_steps, steps_per_epoch
            self.events = []
            previous_total = None
        for hyper, spec in self._specs.items():
            for key, s in spec.items():
                bound = s.bind(total_steps=self.total_steps, steps_per_epoch=self.steps_per_epoch)
                if not bound.is_bound:
                    name = _SPEC_ARGS[hyper] + ("" if key == "*" else f"[{key!r}]")
                    raise UnboundScheduleError(
                        f"{self.owner}: cannot bind {name}={s!r}: missing "
                        f"{'; '.join(bound.missing)}." + (f" {hint}" if hint else "")
                    )
        self._bound = self.in_progress = True
        self._invalidate()
        if previous_total is not None and total_steps is not None and total_steps != previous_total:
            self._new_horizon(previous_total, total_steps, step)
        for opt, records in self.groups.items():  # build now: a bad event fails here, not later
            for r in records:
                for hyper in self.scheduled:
                    if hyper in r["keys"]:  # else: added on resume, filled by take_groups
                        self._of(hyper, r, opt)
        return self.active

    def _take_over(self, loaded: dict[str, Any]) -> None:
        """Take the checkpoint's schedules (warning when they differ), run length and events."""
        for hyper in HYPERPARAMETERS:
            config = loaded[_SPEC_ARGS[hyper]]
            live = self._specs.get(hyper)
            if config is None:
                if live is not None and _spec_config(live) is not None:
                    warnings.warn(
                        f"{self.owner}: the checkpoint has no {_SPEC_ARGS[hyper]} schedule, this "
                        f"run has {_spec_config(live)}; this run's is used.",
                        stacklevel=4,
                    )
                continue
            saved = _spec_from_config(config)
            if live is None and hyper != "lr":
                warnings.warn(
                    f"{self.owner}: the checkpoint schedules {_SPEC_ARGS[hyper]} {_show(saved)}, "
                    f"this run was given no {_SPEC_ARGS[hyper]}=; the checkpoint's is used (the "
                    "checkpoint wins, as for every argument). Start a fresh run to stop "
                    "scheduling it.",
                    stacklevel=4,
                )
            elif live is not None and not _same_spec(saved, live, loaded):
                warnings.warn(
                    f"{self.owner}: the checkpoint was saved with {_SPEC_ARGS[hyper]} "
                    f"{_show(saved)}, this run was given {_show(live)}; the checkpoint's is "
                    "used (as torch schedulers restore their arguments). Start a fresh run to "
                    "change it.",
                    stacklevel=4,
                )
            self._specs[hyper] = saved
        self.total_steps = loaded["total_steps"]
        self.steps_per_epoch = loaded["steps_per_epoch"]
        self.events = [dict(e) for e in loaded["events"]]
        self._baked = any(e["kind"] == "cooldown" for e in self.events)

    def _new_horizon(self, old: int, new: int, step: int) -> None:
        if new <= step:
            raise ValueError(
                f"{self.owner}: the run resumes at update {step} but now has total_steps={new} "
                f"(the schedules were bound for total_steps={old}): the new total is already "
                "passed. Raise max_steps / epochs, or start a fresh run."
            )
        depends = any(
            s.bind(total_steps=old, steps_per_epoch=self.steps_per_epoch)
            != s.bind(total_steps=new, steps_per_epoch=self.steps_per_epoch)
            for spec in self._specs.values()
            for s in spec.values()
        )
        if not depends:
            return  # every schedule has its own length: nothing to change
        if self.horizon == "rebind":
            warnings.warn(
                f"{self.owner}: the run length changed from {old} to {new} updates; "
                f"horizon='rebind' binds the schedules again for {new} updates (the LR may jump "
                f"at update {step}).",
                stacklevel=4,
            )
            self.total_steps = new
            self.events = [e for e in self.events if e["kind"] != "stretch"]
            for records in self.groups.values():  # groups that joined late: their rest too
                for r in records:
                    if r["join"]:
                        r["total"] = new
        else:
            ends = [b.end for b in self._in_force()]
            event = {"kind": "stretch", "at": int(step), "total_steps": int(new)}
            self._check_event(event)
            self.events.append(event)
            if all(e is not None and e <= step for e in ends):
                warnings.warn(
                    f"{self.owner}: the run length changed from {old} to {new} updates, but the "
                    f"schedule already ended (at update {max(e or 0 for e in ends)}, before the "
                    f"resume at update {step}): the LR holds its final value until update {new}; "
                    "nothing is stretched (horizon='rebind' binds the schedules again for "
                    f"{new} updates instead).",
                    stacklevel=4,
                )
                self._invalidate()
                return
            warnings.warn(
                f"{self.owner}: the run length changed from {old} to {new} updates; the rest of "
                f"the schedule is {'stretched' if new > old else 'squeezed'} from update {step} "
                f"to end at update {new} (horizon='stretch'; horizon='rebind' binds it again "
                "instead).",
                stacklevel=4,
            )
        self._invalidate()

    def _in_force(self) -> list[Schedule]:
        """Every schedule in force now: each spec key from the start, each late group's own."""
        built = [self._build(h, k, 0, None) for h, spec in self._specs.items() for k in spec]
        for opt, records in self.groups.items():
            built += [self._of(h, r, opt) for r in records if r["join"] for h in r["keys"]]
        return built

    def _invalidate(self) -> None:
        """Forget every built schedule and cached value (after a bind, an event, a new spec)."""
        self._built.clear()
        self._fast = None
        self._cache_step = -1
        self._scheduled = tuple(h for h in HYPERPARAMETERS if h in self._specs)
        self._per_opt = any("ats" in e for e in self.events)

    def _build(
        self, hyper: str, key: GroupKey, join: int, total: int | None, opt: int = 0
    ) -> Schedule:
        """The schedule in force for a group of optimizer ``opt`` with ``key`` that joined at
        update ``join``."""
        memo = (hyper, key, join, total, opt if self._per_opt else 0)
        built = self._built.get(memo)
        if built is not None:
            return built
        length = self.total_steps if join == 0 or total is None else max(total - join, 1)
        s = self._specs[hyper][key].bind(total_steps=length, steps_per_epoch=self.steps_per_epoch)
        cooled = False
        for event in self.events:
            ats = event.get("ats")
            at = (event["at"] if ats is None else ats.get(str(opt), event["at"])) - join
            if event["kind"] == "stretch":
                if at >= 0 and not (hyper == "lr" and cooled):
                    s = _stretch(s, at, event["total_steps"] - join)
            elif hyper == "lr":  # a cooldown, from the LR in force
                base = s if event["scale"] == 1.0 else s * event["scale"]
                steps = event["steps"] + min(at, 0)  # a group that joined during it: the rest
                s = base.cooldown(
                    at=max(at, 0), steps=max(steps, 0), shape=event["shape"], final=event["final"]
                )
                cooled = True
        self._built[memo] = s
        return s

    # -- values -----------------------------------------------------------------------------------
    def multiplier(self, step: int) -> float:
        """``active(step) * scale``: the LR multiplier of the groups present from the start."""
        if step != self._cache_step:
            active = self._fast or self.active
            if active is None:
                raise UnboundScheduleError(
                    f"{self.owner}: the schedule is not bound yet (it is bound when training "
                    "starts)."
                )
            self._fast = active
            self._cache_step, self._cache_value = step, active(step)
        plateau = self.plateau
        if plateau is None or self._baked:
            return self._cache_value
        return self._cache_value * plateau.scale

    def take_groups(
        self,
        key: int,
        groups: list[dict[str, Any]],
        *,
        base_lrs: list[float] | None = None,
        optimizer: Any = None,
    ) -> list[dict[str, Any]]:
        """Register optimizer ``key``'s parameter groups (the checkpoint's, when resuming).

        Each group's base values are its configured ``lr`` (or ``base_lrs``), momentum
        (``momentum`` or ``betas[0]``) and ``weight_decay``, for what this run schedules. A group
        no schedule key matches, or a hyperparameter the optimizer lacks, is refused (naming
        ``optimizer``'s class). On resume the checkpoint's groups are kept; a hyperparameter
        scheduled since (``momentum=`` added) takes its base from ``groups``.
        """
        if optimizer is not None:
            self._optimizers[key] = type(optimizer).__name__
        saved = self.groups.get(key)
        if saved is not None:
            if len(saved) != len(groups):
                raise ValueError(
                    f"{self.owner}: the checkpoint has {len(saved)} parameter group(s) for "
                    f"optimizer {key}, but it now has {len(groups)}; got base_lrs="
                    f"{[g['base']['lr'] for g in saved]}"
                )
            added = [h for h in self.scheduled if any(h not in r["keys"] for r in saved)]
            for i, r in enumerate(saved):
                for hyper in added:
                    r["keys"][hyper] = self._match(key, i, r["name"])[hyper]
                    if hyper != "lr":
                        r["base"][hyper] = self._base(key, i, groups[i], hyper)
            if added:
                self._check_hyper_present(key, saved)
            return saved
        bases = base_lrs if base_lrs is not None else [float(g["lr"]) for g in groups]
        records = [self._record(key, i, g, bases[i], 0) for i, g in enumerate(groups)]
        self._check_hyper_present(key, records)
        self.groups[key] = records
        return records

    def _record(
        self, key: int, index: int, group: dict[str, Any], lr: float, join: int
    ) -> dict[str, Any]:
        name = group.get("name")
        base = {"lr": float(lr)}
        for hyper in self.scheduled[1:]:
            base[hyper] = self._base(key, index, group, hyper)
        record = {
            "name": name if isinstance(name, str) else None,
            "join": int(join),
            "total": self.current_total if join else None,
            "base": base,
            "keys": self._match(key, index, name if isinstance(name, str) else None),
        }
        return record

    def _base(self, key: int, index: int, group: Mapping[str, Any], hyper: str) -> float:
        """The configured ``hyper`` of a group, or a refusal naming the optimizer."""
        value = _read(group, hyper)
        if value is None:
            raise ValueError(
                f"{self.owner}: {_SPEC_ARGS[hyper]}= cannot be scheduled on "
                f"{self._optimizer(key)}: its parameter group {index} has no {hyper} "
                f"hyperparameter (keys: {sorted(k for k in group if k != 'params')}); drop "
                f"{_SPEC_ARGS[hyper]}= or use an optimizer that has it"
            )
        return value

    def _optimizer(self, key: int) -> str:
        name = self._optimizers.get(key)
        return f"optimizer {key}" + (f" ({name})" if name else "")

    def _warn_unmatched_keys(self) -> None:
        """Warn once when a group key matches no group while some group falls back to ``"*"``."""
        self._keys_checked = True
        records = [r for rs in self.groups.values() for r in rs]
        for hyper, spec in self._specs.items():
            used = {r["keys"].get(hyper) for r in records}
            unmatched = [k for k in spec if k != "*" and k not in used]
            if unmatched and "*" in used:
                names = [r["name"] for r in records]
                warnings.warn(
                    f"{self.owner}: {_SPEC_ARGS[hyper]} has key(s) {unmatched} that match no "
                    f"parameter group (groups: names {names}, indices 0-{len(records) - 1}), "
                    "while some group falls back to '*'; a typo would train that group on the "
                    "'*' schedule. Such a key still applies to a group of that name that joins "
                    "later.",
                    stacklevel=4,
                )

    def _match(self, key: int, index: int, name: str | None) -> dict[str, GroupKey]:
        """The spec key of group ``index`` (its name, its index, or ``"*"``) in every spec."""
        keys: dict[str, GroupKey] = {}
        for hyper, spec in self._specs.items():
            k = name if name is not None and name in spec else index if index in spec else "*"
            if k not in spec:
                raise ValueError(
                    f"{self.owner}: parameter group {index} (name {name!r}) of optimizer {key} "
                    f"matches no key of {_SPEC_ARGS[hyper]} ({sorted(map(str, spec))}); add its "
                    "name, its index or '*'."
                )
            keys[hyper] = k
        return keys

    def _check_hyper_present(self, key: int, records: list[dict[str, Any]]) -> None:
        for hyper in self.scheduled[1:]:
            if records and all(r["base"][hyper] == 0.0 for r in records):
                raise ValueError(
                    f"{self.owner}: every parameter group of {self._optimizer(key)} has "
                    f"{hyper}=0, so there is nothing for {_SPEC_ARGS[hyper]}= to scale; configure "
                    f"{hyper} on the optimizer (the schedule multiplies it)"
                )

    def _adopt(self, key: int, groups: list[dict[str, Any]], step: int) -> list[dict[str, Any]]:
        records = self.groups[key]
        if len(groups) < len(records):
            raise ValueError(
                f"{self.owner}: optimizer {key} has {len(groups)} parameter group(s), fewer "
                f"than the {len(records)} recorded; groups cannot be removed"
            )
        for i in range(len(records), len(groups)):
            g = groups[i]
            lr = float(g.get("initial_lr", g["lr"]))
            records.append(self._record(key, i, g, lr, step))
        self._uniform.pop(key, None)
        return records

    def _of(self, hyper: str, record: dict[str, Any], opt: int = 0) -> Schedule:
        """The schedule in force for ``hyper`` of a group ``record`` of optimizer ``opt``."""
        return self._build(hyper, record["keys"][hyper], record["join"], record["total"], opt)

    def lrs(self, key: int, step: int, groups: list[dict[str, Any]]) -> list[float]:
        """The LR of each of ``groups`` (optimizer ``key``'s param groups) at update ``step``.

        A group added since :meth:`take_groups` (``add_param_group``) joins now: its base LR is
        its current ``lr``, and its schedule runs on its own clock from this update.
        """
        records = self.groups[key]
        if len(groups) != len(records):
            records = self._adopt(key, groups, step)
        bases = self._uniform.get(key)
        if bases is None:  # every group on the "*" schedule from update 0: one multiplier
            uniform = all(r["join"] == 0 and r["keys"]["lr"] == "*" for r in records)
            bases = self._uniform[key] = [r["base"]["lr"] for r in records] if uniform else []
        if not self._keys_checked:
            self._warn_unmatched_keys()
        if bases and not (key and self._per_opt):
            m = self.multiplier(step)
            return [b * m for b in bases]
        return [r["base"]["lr"] * self.group_multiplier(r, step, key) for r in records]

    def group_multiplier(self, record: dict[str, Any], step: int, opt: int = 0) -> float:
        """The LR multiplier of the group ``record`` (an entry of :attr:`groups`) of optimizer
        ``opt`` at ``step``."""
        return self._of("lr", record, opt)(max(step - record["join"], 0)) * self.scale

    def values(self, hyper: str, key: int, step: int) -> list[float]:
        """The value of ``hyper`` (``"momentum"``, ``"weight_decay"``) for each group of ``key``."""
        return [
            r["base"][hyper] * self._of(hyper, r, key)(max(step - r["join"], 0))
            for r in self.groups[key]
        ]

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

        Missing: raises :class:`MissingMetricError` listing the available metrics when ``strict``,
        else warns once and returns ``None`` (the evaluation is skipped).
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

    def agree(
        self, value: Any, world_size: int, allreduce_sum: Callable[[list[float]], list[float]]
    ) -> float | None:
        """The one cross-rank rule: every rank decides from the mean of the ranks' values.

        ``value`` is this rank's observation (``None``: not logged here); ``allreduce_sum`` sums
        a list of floats over the ranks (a collective every rank calls). A metric logged on some
        ranks only is an error on every rank, never a hang. Returns ``None`` when no rank has it.
        """
        if world_size <= 1:
            return None if value is None else float(value)
        present = value is not None
        count, total = allreduce_sum([float(present), float(value) if present else 0.0])
        if 0 < count < world_size:
            raise RuntimeError(
                f"{self.owner}(monitor={self.monitor!r}): the metric was logged on {int(count)} of "
                f"{world_size} ranks; every rank must decide from the same value: log it on every "
                "rank (Lightning: self.log(..., sync_dist=True))."
            )
        return None if count == 0 else total / count

    # -- events -----------------------------------------------------------------------------------
    def cooldown(
        self,
        steps: int | str,
        shape: str = "1-sqrt",
        final: float = 0.0,
        *,
        at: int | Mapping[int, int] | None = None,
    ) -> None:
        """Start a cooldown at the next update from the LR in force; pending while no run is.

        From update ``at`` each group's LR multiplier decays from its value there (plateau scale
        included) to ``final`` over ``steps`` updates, with ``shape`` as in
        :meth:`lrplugins.Schedule.cooldown`, then holds ``final``; the plateau stops scaling the
        LR. A second call starts a new cooldown from the multiplier in force at that point; a call
        after the schedule ended decays from its final value. A cooldown keeps its end when the
        run length changes later.

        Args:
            steps: the length in optimizer updates (a non-negative int; ``0``: the final value
                from the next update), or a duration string: ``"N%"`` of the run's length,
                ``"Nep"`` epochs. A cooldown longer than what remains of the run warns.
            shape: ``"1-sqrt"``, ``"linear"`` or ``"cosine"``.
            final: the multiplier reached at the end (finite, >= 0).
            at: the index of the next update (default :attr:`step`), or a dict from optimizer key
                to its own next update where optimizers count separately: each starts there.

        While no run is in progress (before :meth:`begin`, after :meth:`end`) the request is
        checked at once and kept: it starts at the first update of the next run, fresh or resumed.

        Raises:
            TypeError / ValueError: a bad argument, named with its value (nothing is recorded).
        """
        request = _cooldown_request(f"{self.owner}.cooldown", steps, shape, final)
        if not self.in_progress:
            self._pending.append(request)
            return
        self._add_cooldown(request, self.step if at is None else at)

    def _add_cooldown(
        self, request: dict[str, Any], at: int | Mapping[int, int], *, notify: bool = True
    ) -> None:
        ats = {int(k): int(n) for k, n in at.items()} if isinstance(at, Mapping) else {}
        first = min(ats.values()) if ats else int(at)  # type: ignore[arg-type]
        event: dict[str, Any] = {
            "kind": "cooldown",
            "at": first,
            "steps": self._updates(request["steps"]),
            "shape": request["shape"],
            "final": request["final"],
            "scale": self.scale,
        }
        if ats and set(ats.values()) != {first}:
            event["ats"] = {str(k): n for k, n in ats.items()}
        self._check_event(event)
        total = self.current_total
        last = max(ats.values()) if ats else first
        if total is not None and last + event["steps"] > total:
            warnings.warn(
                f"{self.owner}.cooldown(): steps={request['steps']!r} ({event['steps']} updates) "
                f"from update {last} ends at update {last + event['steps']}, after the run's "
                f"last update ({total - 1}, total_steps={total}): the run ends before the LR "
                "reaches final.",
                stacklevel=4,
            )
        self.events.append(event)
        self._baked = True
        self._invalidate()
        if notify:  # begin() applies pending ones before the adapter writes the first values
            self._changed()

    def _updates(self, steps: int | str) -> int:
        """A cooldown length in updates (``"N%"`` of the run in force, ``"Nep"`` epochs)."""
        if isinstance(steps, int):
            return steps
        num, unit = v.split_duration(steps)
        per = self.current_total if unit == "%" else self.steps_per_epoch
        if per is None:
            need = "total_steps" if unit == "%" else "steps_per_epoch"
            raise ValueError(
                f"{self.owner}.cooldown(): steps={steps!r} needs the run's {need}, which this run "
                "does not know; give the length in updates (an int)"
            )
        return math.ceil(num * per / (100 if unit == "%" else 1))

    def _check_event(self, event: dict[str, Any]) -> None:
        """Build every schedule with ``event`` added; raise (changing nothing) if one refuses."""
        saved_events, saved_built, saved_per_opt = self.events, self._built, self._per_opt
        self.events, self._built = [*saved_events, event], {}
        self._per_opt = saved_per_opt or "ats" in event
        try:
            for hyper, spec in self._specs.items():
                for k in spec:
                    self._build(hyper, k, 0, None)
            for opt, records in self.groups.items():
                for record in records:
                    for hyper in self.scheduled:
                        if hyper in record["keys"]:
                            self._of(hyper, record, opt)
        finally:
            self.events, self._built, self._per_opt = saved_events, saved_built, saved_per_opt

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
            "schedule": _spec_config(self._specs.get("lr")),
            "momentum": _spec_config(self._specs.get("momentum")),
            "weight_decay": _spec_config(self._specs.get("weight_decay")),
            "total_steps": self.total_steps,
            "steps_per_epoch": self.steps_per_epoch,
            "plateau": None
            if plateau is None
            else {"config": plateau.to_config(), "state": plateau.state_dict()},
            "events": [dict(e) for e in self.events],
            "groups": {
                str(k): [{**r, "base": dict(r["base"])} for r in rs]
                for k, rs in self.groups.items()
            },
            "adapter": dict(adapter),
        }

    def load_state_dict(self, state: Any) -> dict[str, Any]:
        """Check and restore :meth:`state_dict`'s output; return its ``adapter`` extras.

        The plateau (config and state) and the parameter groups are restored at once; the
        schedules, the run length and the events are taken over by the next :meth:`bind` (which
        knows the new run length). The checkpoint's schedules and plateau replace the live ones,
        with a warning when they differ.
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
        elif self.plateau is None:
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
        self._reset_runtime()
        self.groups = {
            int(k): [{**r, "base": dict(r["base"])} for r in rs]
            for k, rs in state["groups"].items()
        }
        self._loaded = state
        return dict(state["adapter"])


class RunViews:
    """The views every adapter gives of its :class:`RunState` (``self._run``), and ``cooldown``."""

    _run: RunState

    @property
    def schedule(self) -> Any:
        """The LR schedule as configured (a dict for per-group schedules; the checkpoint's after a
        resume)."""
        return self._run.schedule

    @property
    def plateau(self) -> Plateau | None:
        """The plateau monitor, or ``None``."""
        return self._run.plateau

    @property
    def monitor(self) -> str | None:
        """The metric fed to the plateau."""
        return self._run.monitor

    @property
    def bound_schedule(self) -> Schedule | None:
        """The LR schedule in force, bound when training starts (``None`` before)."""
        return self._run.active

    @property
    def run_state(self) -> RunState:
        """The :class:`lrplugins.RunState` behind this adapter."""
        return self._run

    def cooldown(self, steps: int | str, shape: str = "1-sqrt", final: float = 0.0) -> None:
        """Start a cooldown at the next optimizer update, from the LR in force.

        The multiplier decays to ``final`` over ``steps`` updates (a non-negative int, ``0`` for
        the final value at once, or a duration string such as ``"2ep"`` or ``"10%"``; ``shape``:
        ``"1-sqrt"``, ``"linear"`` or ``"cosine"``) and holds it; the plateau stops scaling the
        LR. Callable from another callback, between batches or from a signal handler; saved in
        checkpoints. Called while no run is in progress (before training, after it ended) it
        starts at the first update of the next run, fresh or resumed: "cool down from this
        checkpoint" is ``cooldown(n)`` then a resume. See :meth:`lrplugins.RunState.cooldown`.
        """
        self._run.cooldown(steps, shape, final, at=self._next_update())

    def _next_update(self) -> int | dict[int, int] | None:
        """The index of the next optimizer update (per optimizer where they count separately),
        where the adapter knows it."""
        return None


def _read(group: Mapping[str, Any], hyper: str) -> float | None:
    """A group's configured ``momentum`` (or ``betas[0]``) or ``weight_decay``; None if absent."""
    if hyper == "momentum":
        if "momentum" in group:
            return float(group["momentum"])
        if "betas" in group:
            return float(group["betas"][0])
        return None
    return float(group[hyper]) if hyper in group else None


def _stretch(s: Schedule, at: int, total: int) -> Schedule:
    """``s.stretch(at, total)``, or ``s`` itself when it has no end to move (periodic or
    ever-decaying shapes do not depend on the run length) or is already in its last phase."""
    end = s.end
    if end is None or at >= end:
        return s
    return s.stretch(at=at, total_steps=total)


def _cooldown_request(owner: str, steps: Any, shape: Any, final: Any) -> dict[str, Any]:
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


def _same_spec(
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


def _show(spec: dict[GroupKey, Schedule]) -> str:
    return repr(spec["*"]) if list(spec) == ["*"] else repr(spec)


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
