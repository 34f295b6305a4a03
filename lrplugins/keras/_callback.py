"""The callback: :class:`LRSchedulerCallback` wires ``model.fit`` to a :class:`lrplugins.RunState`
(run lifecycle, plateau, cooldown, resume) and puts the schedule in force into the optimizer's
:class:`~._schedule.LearningRateSchedule`, recompiling the train step when it changes."""

from __future__ import annotations

import json
import os
import sys
import warnings
from typing import Any

import keras
from keras import ops

from .._plateau import Plateau
from .._run import Profile, RunViews, adapter_run
from .._schedules import Schedule
from . import _hypers
from ._resume import resume_point
from ._schedule import LearningRateSchedule, clock_refused, compilable


class LRSchedulerCallback(RunViews, keras.callbacks.Callback):
    """Drive the optimizer's LR from a schedule, a plateau and cooldowns during ``model.fit``.

    The LR of update ``u`` of the run is ``base_lr * schedule(u) * plateau.scale``, computed in the
    compiled step by the optimizer's :class:`LearningRateSchedule`: the callback puts one in
    (``base_lr`` = the optimizer's float LR) or drives the one it holds (``schedule=None``: with its
    schedule). Another Keras schedule, or another callback that sets the LR in the same ``fit``
    (``ReduceLROnPlateau``, ``LearningRateScheduler``), is refused. A change (plateau cut,
    cooldown) recompiles the train step once before the next update: no per-step cost.

    Base LR: the optimizer's float LR when the callback first drives it; after a ``fit``,
    ``optimizer.learning_rate = x`` sets the base of the next run (a new callback reads it too);
    during a ``fit`` that is refused.

    Runs: ``fit`` from epoch 0 starts a new run (``u`` from 0 although ``optimizer.iterations`` goes
    on, a fresh plateau, as Keras's ``ReduceLROnPlateau`` resets), also with this callback reused.
    ``fit(initial_epoch=e)`` continues: from the state given to :meth:`load_state_dict` or found
    in ``backup_dir``, else where this callback's previous ``fit`` on this optimizer left the run
    (when it ended at epoch ``e`` and the optimizer has not moved since: exact, also after updates
    a loss-scale overflow skipped), else at ``u = e * steps // k`` (warning when the optimizer is
    behind it: its state was not restored). The schedule is bound
    to ``epochs * steps // k`` updates (``steps`` per epoch, ``k`` the optimizer's
    ``gradient_accumulation_steps``); a continued run with another total is stretched to it
    (``horizon="stretch"``, one warning naming both totals) or bound again (``"rebind"``).

    Monitor: ``logs[monitor]`` feeds the plateau at each epoch end (``"loss"``: the epoch that just
    ended). A ``val_*`` monitor in a ``fit`` without ``validation_data=``/``validation_split=``
    raises at train begin (``strict=False``: warns); epochs skipped by ``validation_freq`` are
    skipped. A monitor missing from epoch logs that should hold it raises
    :class:`~lrplugins._run.MissingMetricError` listing them (``strict=False``: warns once).
    Patience follows torch: Keras's ``ReduceLROnPlateau(patience=p)`` is ``Plateau(patience=p-1)``.
    ``logs["learning_rate"]`` is the LR of the epoch's last update.

    Momentum and weight decay: ``momentum=`` / ``weight_decay=`` multiply the value configured on
    the optimizer (``beta_1`` of Adam, AdamW, Adamax, Nadam, Lion, Lamb; ``momentum`` of SGD and
    RMSprop; ``weight_decay``) at the same update index as the LR; the plateau scales the LR only.
    The optimizer the callback drives gets a subclass of its own class (same name and module; its
    ``learning_rate`` settable as above) whose attribute is ``base * schedule(u)`` from its update
    counter, read when the train step is traced (no retrace per step; a float per update on
    torch, whose train step runs eagerly); its ``get_config()`` reports the configured value, so
    ``model.save`` stores a plain optimizer: the schedules are restored through
    :meth:`state_dict` / ``backup_dir``, not ``load_model`` (a restored state's schedules go on,
    with a warning, when this callback was given none). An optimizer without the attribute, or
    with it at 0 or ``None``, is refused. ``logs["momentum"]`` and ``logs["weight_decay"]`` are
    the values of the epoch's last update.

    Views (``schedule``, ``bound_schedule``, ``plateau``, ``monitor``, ``run_state``) are
    :class:`lrplugins.RunState`'s, as in the other callbacks; ``lr_schedule`` is the optimizer's.

    Restarts: :meth:`state_dict` is the :class:`lrplugins.RunState` format (JSON); ``model.save``
    keeps the schedule in force (cooldown included), ``base_lr``, scale and offset. With
    ``backup_dir`` (a ``BackupAndRestore``'s directory) the state is written there at each epoch
    end (``lrplugins_lr_state.json``, removed when ``fit`` ends) and restored on resume; a
    :meth:`cooldown` asked for in another callback's ``on_epoch_end``, before or after this one,
    is in that epoch's state.

    Args:
        schedule: a schedule or its config dict, or ``None`` (the optimizer's schedule).
        plateau: a :class:`lrplugins.Plateau` or its config dict; needs ``monitor``.
        monitor: the logged metric fed to ``plateau``, e.g. ``"val_loss"``.
        strict: a monitor never fed, or missing, raises (``True``) or warns (``False``).
        horizon: ``"stretch"`` or ``"rebind"``: a continued run with another total.
        backup_dir: the directory of a ``keras.callbacks.BackupAndRestore`` in the same ``fit``.
        momentum: a schedule (or its config dict) multiplying the optimizer's ``beta_1`` or
            ``momentum``; a plain number is refused (configure it on the optimizer).
        weight_decay: a schedule (or its config dict) multiplying the optimizer's ``weight_decay``.

    >>> import lrplugins as lrp
    >>> cb = LRSchedulerCallback({"kind": "cosine", "warmup_steps": "5%"}, lrp.Plateau(), "val_loss")
    >>> cb.state_dict()["plateau"]["state"]["scale"]
    1.0
    """

    __module__ = "lrplugins.keras"  # the public path

    def __init__(
        self,
        schedule: Schedule | dict[str, Any] | None,
        plateau: Plateau | dict[str, Any] | None = None,
        monitor: str | None = None,
        *,
        strict: bool = True,
        horizon: str = "stretch",
        backup_dir: str | os.PathLike[str] | None = None,
        momentum: Schedule | dict[str, Any] | None = None,
        weight_decay: Schedule | dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self._run = run = adapter_run(
            _PROFILE,
            "LRSchedulerCallback",
            schedule,
            plateau,
            monitor,
            momentum=momentum,
            weight_decay=weight_decay,
            strict=strict,
            horizon=horizon,
        )
        self._given = None if schedule is None else compilable("LRSchedulerCallback", run.schedule)
        for hyper in run.scheduled[1:]:  # momentum, weight_decay: compilable too
            compilable("LRSchedulerCallback", (run.spec(hyper) or {})["*"], hyper)
        run.on_change = self._mark
        self.backup_dir = None if backup_dir is None else os.fspath(backup_dir)
        self._lrs: LearningRateSchedule | None = None
        self._loaded: dict[str, int] | None = None
        # cooldowns asked for during a fit between two hooks (another callback's batch hook, a
        # signal handler): recorded at this callback's next hook, where optimizer.iterations is
        # read (on jax only hooks see the trainer's state)
        self._deferred: list[tuple[Any, str, float]] = []
        self._boundary: int | None = None  # between an epoch end and the next: the next update
        self._started = self._dirty = self._evaluated = self._late_check = False
        self._offset = self._epochs_done = 0
        self._hyper_opt: Any = None  # the optimizer whose momentum / weight decay this drives
        self._attrs: dict[str, str] = {}  # scheduled hyperparameter -> the optimizer's attribute
        # where this callback's last fit left the run at its last epoch end: (epochs done, the
        # optimizer's iterations, the run's next update, the optimizer's LearningRateSchedule)
        self._left: tuple[int, int, int, LearningRateSchedule] | None = None

    @property
    def lr_schedule(self) -> LearningRateSchedule | None:
        """The optimizer's :class:`LearningRateSchedule` (``None`` until attached to a model)."""
        return self._lrs

    def cooldown(self, steps: int | str, shape: str = "1-sqrt", final: float = 0.0) -> None:
        """Start a cooldown at the next optimizer update, from the LR in force (plateau included).

        The multiplier decays to ``final`` over ``steps`` updates (an int >= 0, ``0``: ``final``
        from the next update, or a duration string such as ``"2ep"`` or ``"10%"``; ``shape``:
        ``"1-sqrt"``, ``"linear"`` or ``"cosine"``), then holds it
        (:meth:`lrplugins.RunState.cooldown`: a second call restarts from the LR in force).
        Arguments are checked at once. During ``fit``: from another callback's epoch hooks it is
        recorded at once (at an epoch end, in that epoch's ``backup_dir`` state); from a batch
        hook or a signal handler, at this callback's next hook (the next ``steps_per_execution``
        boundary). Before a ``fit``, or after one ended, it is pending: it starts at the first
        update of the next ``fit``, a new run or a resumed one ("cool down from this
        checkpoint": ``cb.cooldown(n)``, then the resuming ``fit``). Saved by
        :meth:`state_dict`, ``backup_dir`` and ``model.save``.
        """
        run = self._run
        if not run.in_progress:
            run.cooldown(steps, shape, final)  # pending until the next run begins
        elif self._boundary is not None:
            run.cooldown(steps, shape, final, at=self._boundary)
            if self.backup_dir is not None:
                self._write_backup()  # this epoch's state, already written, now with it
        else:
            self._run.check_cooldown(steps, shape, final)
            self._deferred.append((steps, shape, final))

    def state_dict(self) -> dict[str, Any]:
        """The :meth:`lrplugins.RunState.state_dict` format, with step, epoch and offset."""
        return self._run.state_dict(
            step=self._run.step, epoch=self._epochs_done, offset=self._offset
        )

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output; the next ``fit`` continues from it."""
        self._end_stale_run()
        self._load(state)

    def _load(self, state: dict[str, Any]) -> None:
        clock = state.get("clock") if isinstance(state, dict) else None
        if isinstance(clock, dict):  # saved by another adapter's run on a samples / tokens clock
            raise clock_refused(
                "LRSchedulerCallback.load_state_dict()",
                "the state's schedule",
                str(clock.get("unit")),
            )
        extras = self._run.load_state_dict(state)
        self._loaded = {"step": int(extras.get("step", 0)), "epoch": int(extras.get("epoch", 0))}

    # -- hooks ----------------------------------------------------------------------------------
    def set_model(self, model: Any) -> None:
        super().set_model(model)  # install now, so BackupAndRestore and model.save see it
        if getattr(model, "optimizer", None) is not None:
            self._install(model.optimizer)

    def _install(self, opt: Any) -> LearningRateSchedule:
        opt = _inner(opt)
        multi = getattr(keras.optimizers, "MultiOptimizer", None)  # Keras 3.15+
        if multi is not None and isinstance(opt, multi):
            raise TypeError(
                "LRSchedulerCallback: keras.optimizers.MultiOptimizer is not supported: each of "
                "its sub-optimizers has its own learning rate and update counter. Give each "
                "sub-optimizer its own lrplugins.keras.LearningRateSchedule(schedule, base_lr=...) "
                "as learning_rate (no plateau or runtime cooldown then), or compile the model with "
                "one optimizer."
            )
        current = opt._learning_rate
        if isinstance(current, keras.Variable) and self._given is not None:
            # float32: the shortest decimal that round-trips (0.05, not 0.0500000007)
            base_lr = float(str(ops.convert_to_numpy(current).astype("float32")))
            current = opt.learning_rate = LearningRateSchedule(self._given, base_lr=base_lr)
        elif not isinstance(current, LearningRateSchedule):
            raise TypeError(
                f"LRSchedulerCallback: the optimizer's learning_rate is {current!r}; it must be a "
                "float (with a schedule given here) or an lrplugins.keras.LearningRateSchedule; "
                "another Keras schedule cannot be combined with this callback"
            )
        if current is not self._lrs:
            self._lrs = current
            if self._given is None:  # its schedule is the configured one (a new run starts there)
                self._run.schedule = current.schedule
        _hypers.adopt(opt)  # learning_rate settable again after fit; momentum/decay drivable
        self._find_hypers(opt)
        return current

    def _find_hypers(self, opt: Any) -> None:
        """The optimizer attributes of the scheduled momentum / weight decay (refusing missing
        ones); called again once the run began, as a resumed checkpoint may schedule them."""
        attrs = {hyper: _hypers._hyper_attr(opt, hyper) for hyper in self._run.scheduled[1:]}
        if not attrs or opt is not self._hyper_opt:
            _hypers.set_drivers(opt, None)  # another callback's drivers end with its runs
        self._hyper_opt = opt if attrs else None
        self._attrs = attrs

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.model.optimizer is None:
            raise ValueError("LRSchedulerCallback: the model has no optimizer; compile it first")
        self._end_stale_run()
        self._install(self.model.optimizer)
        self._started = self._evaluated = False
        fit = _fit_locals(self.model)
        for other in getattr(fit and fit.get("callbacks"), "callbacks", []):
            if other is not self and isinstance(other, _LR_OWNERS):
                raise ValueError(
                    f"LRSchedulerCallback: {type(other).__name__} in the same fit() also sets the "
                    "learning rate; keep one (for a plateau on top of the schedule, pass "
                    "plateau=lrplugins.Plateau(...) and monitor=... to this callback)"
                )
        self._late_check = fit is None and (self._run.monitor or "").startswith("val_")
        if fit is not None and fit["validation_data"] is None:
            self._run.check_feedable(not (self._run.monitor or "").startswith("val_"), _NO_VAL)

    def _end_stale_run(self) -> None:
        """End the run of a ``fit`` that raised (Keras calls no hook then); cooldowns asked for
        since are pending for the next run."""
        run = self._run
        if run.in_progress:
            run.end()
        self._boundary = None
        deferred, self._deferred = self._deferred, []
        for steps, shape, final in deferred:
            run.cooldown(steps, shape, final)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self._boundary = None
        if not self._started:  # after every on_train_begin (BackupAndRestore restores there)
            self._start(epoch)
        self._sync()

    def _start(self, epoch: int) -> None:
        run, opt = self._run, _inner(self.model.optimizer)
        lrs = self._install(opt)
        if self.backup_dir is not None and epoch > 0:
            state = self._read_backup().get(str(epoch))
            if state is not None:
                self._load(state)
            else:
                warnings.warn(
                    f"LRSchedulerCallback: fit() starts at epoch {epoch} but "
                    f"{self._backup_path()} has no state for it; the plateau starts fresh",
                    stacklevel=2,
                )
        loaded, self._loaded = self._loaded, None
        k = int(opt.gradient_accumulation_steps or 1)
        left, self._left = self._left, None
        point = resume_point(
            epoch=epoch,
            steps=self.params.get("steps"),
            epochs=self.params.get("epochs"),
            accumulation=k,
            iterations=int(ops.convert_to_numpy(opt.iterations)),  # real updates
            loaded=loaded,
            previous_offset=lrs.offset,
            left=None
            if left is None or left[3] is not lrs
            else {"epoch": left[0], "iterations": left[1], "step": left[2]},
        )
        if point.warning is not None:
            warnings.warn(f"LRSchedulerCallback: {point.warning}", stacklevel=2)
        decision = run.begin(
            point.update, point.total_steps, point.steps_per_epoch, hint=_hint(self.params)
        )
        self._offset, self._epochs_done = point.offset, point.epochs_done
        self._find_hypers(opt)  # a checkpoint's momentum / weight decay go on without ours
        if decision == "foreign" and lrs.scale != run.scale:
            warnings.warn(
                f"LRSchedulerCallback: the optimizer's LearningRateSchedule holds scale="
                f"{lrs.scale} from an earlier run, this run has {run.scale}; restore the callback "
                "(load_state_dict() or backup_dir=...) to continue its plateau.",
                stacklevel=2,
            )
        group = {"lr": lrs.base_lr, **{h: float(vars(opt)[a]) for h, a in self._attrs.items()}}
        lrs.base_lr = run.take_groups(0, [group], optimizer=opt)[0]["base"]["lr"]
        lrs.gradient_accumulation_steps = k
        self._started = self._dirty = True  # fit() compiled its train step before this hook

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._deferred or self._dirty:
            self._sync()

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        run, lrs = self._run, self._lrs
        self._sync()  # a cooldown asked for during the epoch is recorded before the state is saved
        run.step = self._update()
        metrics = {k: v for k, v in (logs or {}).items() if k not in _LOGGED}
        if logs is not None and lrs is not None:
            logs["learning_rate"] = lrs.base_lr * run.multiplier(max(run.step - 1, 0))
            for hyper in self._attrs:
                logs[hyper] = run.values(hyper, 0, max(run.step - 1, 0))[0]
        evaluated = any(k.startswith("val_") for k in metrics)
        self._evaluated |= evaluated
        if run.monitor is not None and (evaluated or not run.monitor.startswith("val_")):
            run.observe_metrics(metrics)
            self._sync()
        self._epochs_done = epoch + 1
        if lrs is not None:
            self._left = (self._epochs_done, run.step + self._offset, run.step, lrs)
        self._boundary = run.step  # until the next epoch begins: cooldowns are recorded at once
        if self.backup_dir is not None:
            self._write_backup()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._sync()
        if self._run.in_progress:
            self._run.end()
        self._boundary = None
        if self.backup_dir is not None and os.path.exists(self._backup_path()):
            os.remove(self._backup_path())
        if self._late_check:  # fit's arguments were not found at train begin
            self._run.check_feedable(self._evaluated, _NO_VAL)

    def _mark(self) -> None:
        self._dirty = True  # RunState.on_change: may run in a signal handler, so no recompiling

    def _update(self) -> int:
        """The index of this run's next update (read in hooks only: jax syncs its state here).

        The inner optimizer's count: a mixed-precision ``LossScaleOptimizer``'s own
        ``iterations`` stays 0 on Keras 3.7 (later versions mirror the inner one)."""
        return int(ops.convert_to_numpy(_inner(self.model.optimizer).iterations)) - self._offset

    def _sync(self) -> None:
        """Record the deferred cooldowns; put the schedule in force into the optimizer."""
        deferred, self._deferred = self._deferred, []
        if deferred:
            at = self._update() if self._run.in_progress else None
            for steps, shape, final in deferred:
                self._run.cooldown(steps, shape, final, at=at)
        lrs, active = self._lrs, self._run.active
        if self._dirty and lrs is not None and active is not None and self._run.in_progress:
            self._dirty = False
            lrs.schedule, lrs.scale, lrs.offset = active, self._run.scale, self._offset
            self._drive(lrs.gradient_accumulation_steps)
            self.model.make_train_function(force=True)

    def _drive(self, k: int) -> None:
        """Put the momentum / weight decay schedules in force (read when the step is traced)."""
        opt, run = self._hyper_opt, self._run
        if opt is None or not self._attrs or not run.groups:
            return
        base = run.groups[0][0]["base"]
        _hypers.set_drivers(
            opt,
            {
                attr: LearningRateSchedule(
                    run.active_for(hyper),
                    base_lr=base[hyper],
                    gradient_accumulation_steps=k,
                    offset=self._offset,
                )
                for hyper, attr in self._attrs.items()
            },
        )

    # -- BackupAndRestore companion file: keyed by the epoch fit() resumes at, two kept -------
    def _backup_path(self) -> str:
        return os.path.join(self.backup_dir or ".", "lrplugins_lr_state.json")

    def _read_backup(self) -> dict[str, Any]:
        try:
            with open(self._backup_path(), encoding="utf-8") as fh:
                return json.load(fh)  # type: ignore[no-any-return]
        except FileNotFoundError:
            return {}

    def _write_backup(self) -> None:
        saved = {**self._read_backup(), str(self._epochs_done): self.state_dict()}
        os.makedirs(self.backup_dir or ".", exist_ok=True)
        with open(self._backup_path() + ".tmp", "w", encoding="utf-8") as fh:
            json.dump({k: saved[k] for k in sorted(saved, key=int)[-2:]}, fh)
        os.replace(self._backup_path() + ".tmp", self._backup_path())


_PROFILE = Profile(schedule_optional=True, per_group=False)  # one LR per optimizer
_NO_VAL = "model.fit() got no validation_data= and no validation_split="
_LOGGED = ("learning_rate", "momentum", "weight_decay")  # written by this callback, not metrics
_LR_OWNERS = (
    keras.callbacks.ReduceLROnPlateau,
    keras.callbacks.LearningRateScheduler,
    LRSchedulerCallback,
)


def _fit_locals(model: Any) -> dict[str, Any] | None:
    """The arguments of the running ``model.fit`` (after its validation split), if found."""
    frame = sys._getframe(1)
    while frame is not None:
        local = frame.f_locals if frame.f_code.co_name == "fit" else {}
        if local.get("self") is model and "validation_data" in local:
            return local
        frame = frame.f_back  # type: ignore[assignment]
    return None


def _inner(opt: Any) -> Any:
    """The optimizer that owns the LR (the inner one of a mixed-precision LossScaleOptimizer)."""
    return getattr(opt, "inner_optimizer", opt)


def _hint(params: dict[str, Any]) -> str:
    return (
        f"model.fit() does not know the number of batches per epoch (params={params!r}). Pass "
        "steps_per_epoch=... to model.fit(), use a dataset with a length, or give the schedule "
        "total_steps=... itself."
    )
