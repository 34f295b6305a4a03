"""The run-state engine: :class:`RunState` (the facade every adapter holds) and :class:`RunViews`.

The lifecycle an adapter reports (``begin``, the updates, the evaluations, ``end``) is written down
in ``docs/adapters.md``; the parts live beside this module: :mod:`.specs` (what is scheduled),
:mod:`.events` (cooldowns and horizon changes, the schedule in force), :mod:`.groups` (parameter
groups), :mod:`.metric` (the monitored metric) and :mod:`.state` (the checkpoint format).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from .. import _validate as v
from .._plateau import Plateau
from .._schedules import Schedule, UnboundScheduleError
from .events import cooldown_length, cooldown_request, in_force
from .groups import Groups
from .metric import MetricPolicy
from .specs import (
    HYPERPARAMETERS,
    SPEC_ARGS,
    GroupKey,
    own_total,
    parse_spec,
    run_clock,
    same_spec,
    show,
    spec_config,
    spec_from_config,
)
from .state import FORMAT, check_state, saved_fed

HORIZONS = ("stretch", "rebind")


class UnknownClockError(ValueError):
    """A run on the samples / tokens clock resumes from a checkpoint without its state, and the
    framework does not count them: where the schedule stands is not known (:meth:`RunState.begin`
    refuses it)."""


@dataclass(frozen=True)
class Profile:
    """What differs between adapters' constructors (not part of the public :class:`RunState`).

    Attributes:
        example_metric: the metric named in the message for ``plateau`` without ``monitor``.
        schedule_optional: ``schedule=None`` is accepted (the Keras callback takes the
            optimizer's).
        monitor_required: a plateau needs a monitor (``False`` for the plain torch scheduler,
            whose caller feeds the plateau with ``observe(value)``).
        per_group: dicts of group schedules are accepted (``False``: one LR per optimizer).
        warn: where every warning of the engine goes, called as ``warn(message, stacklevel=n)``
            with ``n`` counted as :func:`warnings.warn` counts it from the sink's caller
            (Lightning's ``rank_zero_warn``: one warning per run, not one per process).
    """

    example_metric: str = "val_loss"
    schedule_optional: bool = False
    monitor_required: bool = True
    per_group: bool = True
    warn: Callable[..., None] = warnings.warn


class RunState(Groups, MetricPolicy):
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
            or a dict from group keys to schedules. A group takes the key of its ``"name"``,
            else its index, else the first glob pattern that matches its name (``"layer_1*"``),
            else ``"*"`` (the rest). A key that matches no group at the start while some group
            falls back to ``"*"`` warns once (it still applies to a group that joins later).
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

    Raises:
        TypeError / ValueError: a bad argument, named with its value.
    """

    _profile: ClassVar[Profile] = Profile()

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
    ) -> None:
        profile = self._profile
        per_group = profile.per_group
        self.owner = owner
        self._per_group = per_group
        self._specs: dict[str, dict[GroupKey, Schedule]] = {}
        if schedule is not None or not profile.schedule_optional:
            self._specs["lr"] = parse_spec(owner, "schedule", schedule, per_group)
        for name, value in (("momentum", momentum), ("weight_decay", weight_decay)):
            if value is not None:
                self._specs[name] = parse_spec(owner, name, value, per_group)
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
        if plateau is not None and monitor is None and profile.monitor_required:
            raise ValueError(
                f"{owner}(): plateau needs monitor, the metric to feed it (e.g. "
                f"{profile.example_metric!r}), got monitor=None"
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
        # what this run state was given: a new run starts from it, a resume is compared with it
        self._configured = dict(self._specs)
        self._own_plateau = plateau
        self.monitor: str | None = monitor
        self.strict = strict
        self.horizon = horizon
        self._fresh_plateau = None if plateau is None else plateau.state_dict()
        self.on_change: Callable[[], None] | None = None
        self._loaded: dict[str, Any] | None = None
        # cooldowns requested while no run is in progress: applied by the next begin()
        self._pending: list[dict[str, Any]] = []
        self.clock = run_clock(owner, self._specs)
        """``"steps"``, ``"samples"`` or ``"tokens"``: what every count of this run is in."""
        self._reset_runtime()

    def _reset_runtime(self) -> None:
        self.step = 0  # the index of the next update, as last reported by the adapter
        self.clock_value = 0  # samples / tokens consumed before the next update (those clocks)
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
        # where the plateau was last fed (observe's ``at``, by default the next update's index)
        self.fed_at: int | None = None
        self._resumed = False  # the last begin() took over a checkpoint
        self._keys_checked = False  # the "key that matches no group" warning, at the first update
        self._optimizers: dict[int, str] = {}  # optimizer key -> its class name, for messages
        self.in_progress = False  # between begin() and end()
        self._written: dict[int, list[float]] = {}  # optimizer key -> the LRs last written
        self._warned_outside = False  # check_outside warns once per run

    def start_fresh(self) -> None:
        """Forget the runtime state of a previous run (a new ``fit``/``train``, not a resume): its
        events, groups and plateau state, and the schedules and plateau a checkpoint it resumed
        from brought (the configured ones are back)."""
        self._restore_configured()
        self._reset_runtime()
        if self._loaded is None:
            self.plateau = self._own_plateau
            if self.plateau is not None and self._fresh_plateau is not None:
                self.plateau.load_state_dict(self._fresh_plateau)

    def _restore_configured(self) -> None:
        """The schedules this run state was given (a checkpoint's replaced them on resume)."""
        self._specs = dict(self._configured)
        self.clock = run_clock(self.owner, self._specs)
        self._invalidate()

    def forget_checkpoint(self) -> None:
        """Drop a loaded checkpoint that no run took over (a fit that never started training)."""
        self._loaded = None

    def begin(
        self,
        step: int,
        total_steps: int | None = None,
        steps_per_epoch: int | None = None,
        *,
        at: Mapping[int, int] | None = None,
        hint: str = "",
        clock: int | None = None,
    ) -> str:
        """Training begins at update ``step``: decide what kind of run this is, bind, apply what
        was pending. Returns the decision:

        - ``"resume"``: a checkpoint was loaded (:meth:`load_state_dict`): its schedules, run
          length and events are taken over (a changed ``total_steps`` is a horizon change);
        - ``"fresh"``: ``step == 0`` and nothing loaded: a new run from the configured schedules
          and plateau (a reused adapter forgets the previous run's events, groups and plateau
          state, and what a checkpoint it resumed from brought);
        - ``"continue"``: nothing loaded, but this run state ran the updates before ``step`` in
          memory (the same trainer trains more): kept as it is, a changed length as on resume;
        - ``"foreign"``: ``step > 0`` with no state of this run (a checkpoint written without
          it): a new run state that starts at ``step``, as a fresh one; the adapter decides the
          base values.

        ``total_steps`` / ``steps_per_epoch`` are what the trainer knows (``None``: unknown);
        ``hint`` is appended to the error when a schedule still cannot be bound. Cooldowns
        requested while no run was in progress start at ``step`` (``at``: each optimizer's own
        next update, where they count separately).

        ``clock`` is the framework's own count of the samples / tokens consumed before update
        ``step`` (``None``: it keeps none), read on a samples / tokens clock only: a fresh or
        foreign run starts its clock there; a resumed or continued run goes on from its own count
        (the one the run that saved it had), with a warning when the framework's differs. A
        foreign resume on such a clock without the framework's count is refused: where the
        schedule stands is not known.
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
        unit = run_clock(self.owner, self._configured)  # a foreign run's: the configured one
        if decision == "foreign" and unit != "steps" and clock is None:
            raise UnknownClockError(
                f"{self.owner}: resuming at update {step} from a checkpoint that holds no state "
                f"of this run: the {unit} consumed before it are not known, so neither is "
                f"where the {unit} schedule stands. Resume with the run state that wrote the "
                "checkpoint."
            )
        if decision in ("fresh", "foreign"):
            self.start_fresh()
        elif decision == "resume":  # the checkpoint's schedules are compared with the configured
            self._restore_configured()
        self._resumed = decision == "resume"
        self.bind(total_steps, steps_per_epoch, step=step, hint=hint)
        self.step = step
        if self.clock != "steps" and clock is not None:  # (the checkpoint's clock, on resume)
            self._start_clock(decision, step, int(clock))
        pending, self._pending = self._pending, []
        for request in pending:
            self._add_cooldown(request, step if at is None else at, notify=False)
        return decision

    def _start_clock(self, decision: str, step: int, counted: int) -> None:
        """Set the samples / tokens clock from the framework's count at :meth:`begin`."""
        if decision in ("fresh", "foreign"):
            self.clock_value = counted
            self._cache_step = -1
        elif counted != self.clock_value:
            self._warn(
                f"{self.owner}: the schedule's clock stands at {self.clock_value} {self.clock} but "
                f"the trainer counted {counted} before update {step}; the schedule goes on from "
                f"its own count ({self.clock_value}), as the run that saved it, adding the "
                f"{self.clock} the trainer counts from here.",
                stacklevel=4,
            )

    def end(self) -> None:
        """The run ended (or raised). A checkpoint loaded for a run that never began is dropped;
        a :meth:`cooldown` from now on waits for the next run."""
        if self._loaded is not None:
            self._loaded = None
            self.start_fresh()
        self.in_progress = False

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
        """Configure the LR schedule a new run starts from, for an adapter that learns it late
        (the Keras callback given none takes its optimizer's); in force at once while there is
        none, else from the next fresh or foreign run (a resume compares the checkpoint's with
        it)."""
        spec = parse_spec(self.owner, "schedule", value, self._per_group)
        self._configured["lr"] = spec
        if "lr" not in self._specs:
            self._specs["lr"] = spec
            self.clock = run_clock(self.owner, self._specs)
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
        if self.clock != "steps":  # the trainer counts updates: the run's total is its own
            total_steps, steps_per_epoch = own_total(self._specs, self.clock), None
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
                total = self.total_steps
                bound = s.bind(
                    total_steps=None if total is None else v.count_on(self.clock, total),
                    steps_per_epoch=self.steps_per_epoch,
                )
                if not bound.is_bound:
                    name = SPEC_ARGS[hyper] + ("" if key == "*" else f"[{key!r}]")
                    raise UnboundScheduleError(
                        f"{self.owner}: cannot bind {name}={s!r}: missing "
                        f"{'; '.join(bound.missing)}."
                        # the trainer's hint is about update counts: not for a samples/tokens run
                        + (f" {hint}" if hint and self.clock == "steps" else "")
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
            config = loaded[SPEC_ARGS[hyper]]
            live = self._specs.get(hyper)
            if config is None:
                if live is not None and spec_config(live) is not None:
                    self._warn(
                        f"{self.owner}: the checkpoint has no {SPEC_ARGS[hyper]} schedule, this "
                        f"run has {spec_config(live)}; this run's is used.",
                        stacklevel=4,
                    )
                continue
            saved = spec_from_config(config)
            if live is None and hyper != "lr":
                self._warn(
                    f"{self.owner}: the checkpoint schedules {SPEC_ARGS[hyper]} {show(saved)}, "
                    f"this run was given no {SPEC_ARGS[hyper]}=; the checkpoint's is used (the "
                    "checkpoint wins, as for every argument). Start a fresh run to stop "
                    "scheduling it.",
                    stacklevel=4,
                )
            elif live is not None and not same_spec(saved, live, loaded):
                self._warn(
                    f"{self.owner}: the checkpoint was saved with {SPEC_ARGS[hyper]} "
                    f"{show(saved)}, this run was given {show(live)}; the checkpoint's is "
                    "used (as torch schedulers restore their arguments). Start a fresh run to "
                    "change it.",
                    stacklevel=4,
                )
            self._specs[hyper] = saved
        clock, self.clock = self.clock, run_clock(self.owner, self._specs)
        if clock != self.clock:
            self._warn(
                f"{self.owner}: the checkpoint's schedules run on the {self.clock} clock, this "
                f"run's on the {clock} clock; the checkpoint's clock is used (its schedules win). "
                "Start a fresh run to change the clock.",
                stacklevel=4,
            )
        self.total_steps = loaded["total_steps"]
        self.steps_per_epoch = loaded["steps_per_epoch"]
        self.events = [dict(e) for e in loaded["events"]]
        self._baked = any(e["kind"] == "cooldown" for e in self.events)

    @property
    def binds_alone(self) -> bool:
        """Whether every schedule binds without the trainer's run length: from its own durations,
        or on the samples / tokens clock from the total some schedule of the run was given."""
        total = own_total(self._specs, self.clock)
        arg = None if total is None else v.count_on(self.clock, total)
        return all(
            s.bind(total_steps=arg).is_bound for sp in self._specs.values() for s in sp.values()
        )

    def now(self, step: int) -> int:
        """The clock value of update ``step``, for :meth:`lrs` / :meth:`values` /
        :meth:`multiplier`: ``step`` itself on the steps clock, the samples / tokens consumed
        before the next update (:attr:`clock_value`) otherwise."""
        return step if self.clock == "steps" else self.clock_value

    def advance(self, count: int) -> None:
        """The update just taken consumed ``count`` samples / tokens (all ranks together): move
        the samples / tokens clock on. Refused on the steps clock (it counts updates)."""
        count = v.plain(count)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(
                f"{self.owner}: the {self.clock} an update consumed must be an int >= 0, "
                f"got {count!r}"
            )
        if self.clock == "steps":
            raise ValueError(
                f"{self.owner}: this run counts optimizer updates (its schedules have no "
                "samples/tokens durations); a count of samples or tokens has no meaning here"
            )
        if count:
            self.clock_value += count
            self._cache_step = -1

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
            self._warn(
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
                self._warn(
                    f"{self.owner}: the run length changed from {old} to {new} updates, but the "
                    f"schedule already ended (at update {max(e or 0 for e in ends)}, before the "
                    f"resume at update {step}): the LR holds its final value until update {new}; "
                    "nothing is stretched (horizon='rebind' binds the schedules again for "
                    f"{new} updates instead).",
                    stacklevel=4,
                )
                self._invalidate()
                return
            self._warn(
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
        update ``join`` (memoized :func:`~lrplugins._run.events.in_force`)."""
        memo = (hyper, key, join, total, opt if self._per_opt else 0)
        built = self._built.get(memo)
        if built is None:
            built = self._built[memo] = in_force(
                self._specs[hyper][key],
                self.events,
                hyper=hyper,
                total_steps=self.total_steps,
                steps_per_epoch=self.steps_per_epoch,
                join=join,
                total=total,
                opt=opt,
                clock=self.clock,
            )
        return built

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
            final: the multiplier reached at the end (finite, >= 0); one above the multiplier in
                force there raises the LR, with a warning.
            at: the index of the next update (default :attr:`step`), or a dict from optimizer key
                to its own next update where optimizers count separately: each starts there.

        While no run is in progress (before :meth:`begin`, after :meth:`end`) the request is
        checked at once and kept: it starts at the first update of the next run, fresh or resumed.

        Raises:
            TypeError / ValueError: a bad argument, named with its value (nothing is recorded).
        """
        request = cooldown_request(f"{self.owner}.cooldown", steps, shape, final, self.clock)
        if not self.in_progress:
            self._pending.append(request)
            return
        self._add_cooldown(request, self.step if at is None else at)

    def check_cooldown(
        self, steps: int | str, shape: str = "1-sqrt", final: float = 0.0
    ) -> dict[str, Any]:
        """Check :meth:`cooldown`'s arguments for this run's clock, recording nothing (for an
        adapter that records the request later); returns them normalized."""
        return cooldown_request(f"{self.owner}.cooldown", steps, shape, final, self.clock)

    def _add_cooldown(
        self, request: dict[str, Any], at: int | Mapping[int, int], *, notify: bool = True
    ) -> None:
        if self.clock != "steps":  # from the samples / tokens consumed so far
            at = self.clock_value
        ats = {int(k): int(n) for k, n in at.items()} if isinstance(at, Mapping) else {}
        first = min(ats.values()) if ats else int(at)  # type: ignore[arg-type]
        event: dict[str, Any] = {
            "kind": "cooldown",
            "at": first,
            "steps": cooldown_length(
                self.owner, request["steps"], self.current_total, self.steps_per_epoch, self.clock
            ),
            "shape": request["shape"],
            "final": request["final"],
            "scale": self.scale,
        }
        if ats and set(ats.values()) != {first}:
            event["ats"] = {str(k): n for k, n in ats.items()}
        self._check_event(event)
        total = self.current_total
        last = max(ats.values()) if ats else first
        if total is not None and last < total < last + event["steps"]:  # (ended: nothing remains)
            self._warn(
                f"{self.owner}.cooldown(): steps={request['steps']!r} ({event['steps']} updates) "
                f"from update {last} ends at update {last + event['steps']}, after the run's "
                f"last update ({total - 1}, total_steps={total}): the run ends before the LR "
                "reaches final.",
                stacklevel=4,
            )
        rising = self._rising(event)
        if rising:
            self._warn(
                f"{self.owner}.cooldown(): final={event['final']:g} is above the LR multiplier in "
                f"force at update {first} ({'; '.join(rising)}): the LR rises to final over "
                f"{event['steps']} updates instead of decaying. For a decay, pass a final below it "
                "(the default is 0).",
                stacklevel=4,
            )
        self.events.append(event)
        self._baked = True
        self._invalidate()
        if notify:  # begin() applies pending ones before the adapter writes the first values
            self._changed()

    def _rising(self, event: dict[str, Any]) -> list[str]:
        """Where a cooldown would raise the LR: each group (or, with none registered yet, the
        run) whose LR multiplier at the cooldown's start is below its ``final``."""
        final = event["final"]
        if final == 0:
            return []
        below = []
        for opt, records in self.groups.items():
            at = int(event.get("ats", {}).get(str(opt), event["at"]))
            for i, record in enumerate(records):
                m = self.group_multiplier(record, at, opt)
                if final > m + 1e-12:
                    below.append(f"group {record['name'] or i}: {m:.3g}")
        if not self.groups and self.active is not None:
            m = self.multiplier(event["at"])
            if final > m + 1e-12:
                below.append(f"{m:.3g}")
        return below

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

    def _warn(self, message: str, stacklevel: int = 2) -> None:
        """Warn through the adapter's sink (:attr:`Profile.warn`); ``stacklevel`` as
        :func:`warnings.warn` counts it from the caller."""
        self._profile.warn(message, stacklevel=stacklevel + 1)

    def _changed(self) -> None:
        if self.on_change is not None:
            self.on_change()

    def state_dict(self, **adapter: Any) -> dict[str, Any]:
        """The run's state as JSON-compatible values, tagged :data:`FORMAT`.

        ``adapter`` holds the adapter's own JSON-compatible extras (e.g. per-optimizer counters).
        """
        plateau = self.plateau
        clock = (
            {}
            if self.clock == "steps"
            else {"clock": {"unit": self.clock, "value": self.clock_value}}
        )
        fed = {} if self.fed_at is None else {"fed": self.fed_at}
        return {
            **clock,
            **fed,
            "format": FORMAT,
            "schedule": spec_config(self._specs.get("lr")),
            "momentum": spec_config(self._specs.get("momentum")),
            "weight_decay": spec_config(self._specs.get("weight_decay")),
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
        # a cooldown asked for in this run that no update has used yet is kept for the loaded run
        now = self.step if self.clock == "steps" else self.clock_value
        self._pending += [
            {"steps": e["steps"], "shape": e["shape"], "final": e["final"]}
            for e in self.events
            if self.in_progress and e["kind"] == "cooldown" and e["at"] >= now
        ]
        saved_plateau = state["plateau"]
        if saved_plateau is None:
            if self.plateau is not None:
                self._warn(
                    f"{owner}: the checkpoint has no plateau, this run has {self.plateau!r}; it "
                    "starts fresh.",
                    stacklevel=2,
                )
        elif self.plateau is None:
            self._warn(
                f"{owner}: the checkpoint holds plateau state (scale "
                f"{saved_plateau['state'].get('scale')}) but this run has no plateau; the "
                "saved scale is dropped.",
                stacklevel=2,
            )
        else:
            cfg = saved_plateau["config"]
            if cfg != self.plateau.to_config():
                self._warn(
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
        clock = state.get("clock")
        self.clock_value = 0 if clock is None else int(clock["value"])
        self.fed_at = saved_fed(state)
        return dict(state["adapter"])


def adapter_run(profile: Profile, owner: str, schedule: Any, *args: Any, **kwargs: Any) -> RunState:
    """A :class:`RunState` built with an adapter's :class:`Profile` (the public constructor has
    none: users of ``RunState`` get the default one)."""
    run = RunState.__new__(RunState)
    run._profile = profile  # type: ignore[misc]
    run.__init__(owner, schedule, *args, **kwargs)  # type: ignore[misc]
    return run


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
