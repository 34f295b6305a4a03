"""Keras 3 adapter: a compiled learning-rate schedule and a callback that drives it.

:class:`LearningRateSchedule` goes into an optimizer (``AdamW(learning_rate=LearningRateSchedule(
lrp.cosine(total_steps=10_000, warmup_steps=500), base_lr=3e-4))``): ``keras.ops`` from the core's
single formula, inside the compiled train step on every backend. :class:`LRSchedulerCallback` goes
into ``model.fit(callbacks=[...])``: it wires ``fit`` to a :class:`lrplugins.RunState` (binding,
plateau, cooldown, resume) and puts the schedule in force into the optimizer.
``import lrplugins.keras`` registers ``"lrplugins>LearningRateSchedule"``, so
``keras.models.load_model`` restores it without ``custom_objects``.

Keras internals relied on, each guarded by a scenario of ``integration/keras_scenarios.py``:
``optimizer._learning_rate`` (a schedule or a float, read without evaluating it; all); the
optimizer calls its schedule with ``_iterations``, the micro-batch counter (``accumulation``); it
reads ``beta_1`` / ``momentum`` / ``weight_decay`` when its step is traced, compares ``momentum``
with 0 (SGD, RMSprop), and is saved by class name and module (``momentum``);
``model.make_train_function(force=True)`` (``trace``, ``cooldown``); ``model.fit``'s arguments
``validation_data`` and ``callbacks``, read from its frame at train begin, as callbacks have no
public view of them (``no_validation``, ``errors``); on jax ``callback.model`` syncs the trainer's
state, so ``optimizer.iterations`` is read in hooks only (``cooldown``); ``LossScaleOptimizer.
inner_optimizer`` (``loss_scale``).

>>> import keras, lrplugins as lrp
>>> from lrplugins.keras import LearningRateSchedule
>>> lrs = LearningRateSchedule(lrp.linear(total_steps=4), base_lr=0.1)
>>> [round(float(lrs(u)), 6) for u in range(5)]
[0.1, 0.075, 0.05, 0.025, 0.0]
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from typing import Any

try:
    import keras
    from keras import ops
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        f"lrplugins.keras needs Keras 3 ({exc}); install it with: pip install 'lrplugins[keras]'"
    ) from exc

from ._compat import check_framework
from ._finder_keras import find_lr
from ._ops import ArrayOps
from ._plateau import Plateau
from ._run import RunState, RunViews
from ._schedules import Schedule, UnboundScheduleError, constant, from_config
from ._validate import integer, real

check_framework("lrplugins.keras")

__all__ = ["KERAS_OPS", "LRSchedulerCallback", "LearningRateSchedule", "find_lr"]

KERAS_OPS = ArrayOps(ops)
"""``schedule.evaluate(t, KERAS_OPS)`` evaluates a schedule on a float32 ``keras.ops`` tensor."""


def _compilable(owner: str, schedule: Any) -> Schedule:
    schedule = from_config(schedule) if isinstance(schedule, dict) else schedule
    if not isinstance(schedule, Schedule):
        raise TypeError(f"{owner}(): schedule must be an lrplugins schedule, got {schedule!r}")
    try:
        schedule.to_config()
    except TypeError as exc:  # custom(fn) anywhere inside: no graph form, no config
        raise TypeError(
            f"{owner}(): schedule {schedule!r} cannot run inside a Keras train step or be saved "
            f"with the model ({exc})"
        ) from None
    return schedule


@keras.saving.register_keras_serializable(package="lrplugins")
class LearningRateSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A Keras learning-rate schedule: ``lr = base_lr * schedule(u) * scale``.

    ``u = max(counter // gradient_accumulation_steps - offset, 0)``, where ``counter`` is what the
    optimizer passes: its micro-batch counter, so give the optimizer's
    ``gradient_accumulation_steps`` here too (:class:`LRSchedulerCallback` sets it), and ``u``
    counts real updates. Evaluated with ``keras.ops`` on a float32 step (jit-safe).

    Args:
        schedule: an lrplugins schedule (a multiplier of ``base_lr``) or its config dict; unbound
            only when :class:`LRSchedulerCallback` binds it. ``lrplugins.custom`` is refused.
        base_lr: the base learning rate (absolute, > 0).
        scale: a constant multiplier (>= 0): the plateau scale the callback keeps here.
        gradient_accumulation_steps: micro-batches per optimizer update (>= 1).
        offset: the optimizer update (``optimizer.iterations``) where ``u`` is 0 (the callback
            sets it when a new ``fit`` starts a new run on an optimizer that has already trained).

    The attributes are these arguments; the compiled step reads them when it is traced (the
    callback recompiles after changing them). ``get_config()`` holds all five.

    >>> import lrplugins as lrp
    >>> lrs = LearningRateSchedule(lrp.linear(total_steps=4), 0.1, gradient_accumulation_steps=2)
    >>> [round(float(lrs(c)), 6) for c in range(4)]  # micro-batches 0..3 = updates 0, 0, 1, 1
    [0.1, 0.1, 0.075, 0.075]
    >>> round(lrs.lr(1), 6), LearningRateSchedule.from_config(lrs.get_config()).lr(1) == lrs.lr(1)
    (0.075, True)
    """

    def __init__(
        self,
        schedule: Schedule | dict[str, Any],
        base_lr: float,
        scale: float = 1.0,
        *,
        gradient_accumulation_steps: int = 1,
        offset: int = 0,
    ) -> None:
        owner = "LearningRateSchedule"
        self.schedule = _compilable(owner, schedule)
        self.base_lr = real(owner, "base_lr", base_lr, lo=0.0, lo_open=True)
        self.scale = real(owner, "scale", scale, lo=0.0)
        k = integer(owner, "gradient_accumulation_steps", gradient_accumulation_steps, lo=1)
        self.gradient_accumulation_steps = k
        self.offset = integer(owner, "offset", offset, lo=-(2**62))

    def lr(self, update: int) -> float:
        """The LR of optimizer update ``update`` (``optimizer.iterations``) as a Python float."""
        return self.base_lr * self.schedule(max(update - self.offset, 0)) * self.scale

    def __call__(self, step: Any) -> Any:
        if not self.schedule.is_bound:
            raise UnboundScheduleError(
                f"LearningRateSchedule: schedule {self.schedule!r} is unbound (missing "
                f"{'; '.join(self.schedule.missing)}). Give it total_steps=... (and "
                "steps_per_epoch=... for 'Nep' durations), or pass "
                "lrplugins.keras.LRSchedulerCallback(...) to model.fit() to bind it from the run."
            )
        u, k = ops.convert_to_tensor(step), self.gradient_accumulation_steps
        u = ops.floor_divide(u, k) if k > 1 else u
        u = ops.maximum(u - self.offset, 0) if self.offset else u
        multiplier = self.schedule.evaluate(ops.cast(u, "float32"), KERAS_OPS)
        return ops.cast(multiplier, "float32") * (self.base_lr * self.scale)

    def get_config(self) -> dict[str, Any]:
        extra = {k: getattr(self, k) for k in _DEFAULTS}
        return {"schedule": self.schedule.to_config(), "base_lr": self.base_lr, **extra}

    def __repr__(self) -> str:
        extra = "".join(
            f", {k}={getattr(self, k)!r}" for k, v in _DEFAULTS.items() if getattr(self, k) != v
        )
        return f"LearningRateSchedule({self.schedule!r}, base_lr={self.base_lr!r}{extra})"


_DEFAULTS = {"scale": 1.0, "gradient_accumulation_steps": 1, "offset": 0}


# -- momentum and weight decay: values computed in the compiled step from the update counter ----
_ATTRS = {"momentum": ("beta_1", "momentum"), "weight_decay": ("weight_decay",)}
"""The optimizer attribute each scheduled hyperparameter drives (the first one it has)."""
_EAGER = keras.backend.backend() == "torch"  # torch runs the train step eagerly: a Python float
_DRIVERS = "_lrplugins_hypers"  # instance attribute: {attr: LearningRateSchedule} in force


def _hyper_attr(opt: Any, hyper: str) -> str:
    """The attribute of ``opt`` that ``hyper`` drives; refuses a missing or zero one."""
    name = type(opt).__name__
    for attr in _ATTRS[hyper]:
        if attr in vars(opt):
            value = vars(opt)[attr]
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value == 0:
                raise ValueError(
                    f"LRSchedulerCallback: {name} has {attr}={value!r}; {hyper}= multiplies the "
                    f"{attr} configured on the optimizer, so configure it as a float > 0 (e.g. "
                    f"{name}(..., {attr}={0.9 if hyper == 'momentum' else 0.01})) and pass a "
                    "schedule here"
                )
            return attr
    raise ValueError(
        f"LRSchedulerCallback: {name} has no {hyper} hyperparameter to schedule (momentum= "
        "drives beta_1 of the Adam family or momentum of SGD/RMSprop, weight_decay= the "
        f"optimizer's weight_decay); drop {hyper}= or use an optimizer that has it"
    )


class _Compared:
    """A traced value that compares as its configured base (``if self.momentum != 0`` in SGD and
    RMSprop) and converts to its tensor in ``ops`` (``__jax_array__``, ``__tf_tensor__``)."""

    def __init__(self, base: float, value: Any) -> None:
        self.base, self.value = base, value

    def __eq__(self, other: object) -> bool:
        return self.base == other

    def __ne__(self, other: object) -> bool:
        return self.base != other

    def __lt__(self, other: Any) -> bool:
        return bool(self.base < other)

    def __le__(self, other: Any) -> bool:
        return bool(self.base <= other)

    def __gt__(self, other: Any) -> bool:
        return bool(self.base > other)

    def __ge__(self, other: Any) -> bool:
        return bool(self.base >= other)

    def __bool__(self) -> bool:
        return bool(self.base)

    __hash__ = None  # type: ignore[assignment]

    def __jax_array__(self) -> Any:
        return self.value

    def __tf_tensor__(self, dtype: Any = None, name: Any = None) -> Any:
        import tensorflow as tf

        return tf.convert_to_tensor(self.value, dtype=dtype, name=name)

    def __mul__(self, other: Any) -> Any:
        return self.value * other

    def __rmul__(self, other: Any) -> Any:
        return other * self.value

    def __add__(self, other: Any) -> Any:
        return self.value + other

    def __radd__(self, other: Any) -> Any:
        return other + self.value

    def __sub__(self, other: Any) -> Any:
        return self.value - other

    def __rsub__(self, other: Any) -> Any:
        return other - self.value

    def __truediv__(self, other: Any) -> Any:
        return self.value / other

    def __rtruediv__(self, other: Any) -> Any:
        return other / self.value

    def __neg__(self) -> Any:
        return -self.value


class _Hyper:
    """The property that replaces ``beta_1`` / ``momentum`` / ``weight_decay`` on the optimizer's
    scheduled subclass: the configured value (kept in the instance) while nothing drives it, else
    ``base * schedule(u)`` from the optimizer's update counter, computed when the step is traced
    (a float on torch, whose train step runs eagerly)."""

    def __init__(self, attr: str) -> None:
        self.attr = attr

    def __get__(self, opt: Any, owner: Any = None) -> Any:
        if opt is None:
            return self
        state = vars(opt)
        if self.attr not in state:
            raise AttributeError(f"{type(opt).__name__!r} object has no attribute {self.attr!r}")
        base = state[self.attr]
        drive = (state.get(_DRIVERS) or {}).get(self.attr)
        if drive is None:
            return base
        if _EAGER:
            counter = int(ops.convert_to_numpy(opt._iterations))
            return drive.lr(counter // drive.gradient_accumulation_steps)
        value = drive(opt._iterations)
        return _Compared(base, value) if self.attr == "momentum" else value

    def __set__(self, opt: Any, value: Any) -> None:
        vars(opt)[self.attr] = value


_SUBCLASSES: dict[type, type] = {}


def _scheduled_class(cls: type) -> type:
    """``cls`` with the three hyperparameters as :class:`_Hyper` properties (one per class)."""
    if getattr(cls, "_lrplugins_base", None) is not None:
        return cls
    sub = _SUBCLASSES.get(cls)
    if sub is None:

        def get_config(self: Any) -> Any:  # the configured values, so save/load see a plain cls
            drivers = vars(self).pop(_DRIVERS, None)
            try:
                return cls.get_config(self)  # type: ignore[attr-defined]
            finally:
                if drivers is not None:
                    vars(self)[_DRIVERS] = drivers

        namespace: dict[str, Any] = {
            "__module__": cls.__module__,
            "__qualname__": cls.__qualname__,
            "__doc__": cls.__doc__,
            "_lrplugins_base": cls,
            "get_config": get_config,
            **{attr: _Hyper(attr) for attr in ("beta_1", "momentum", "weight_decay")},
        }
        sub = _SUBCLASSES[cls] = type(cls.__name__, (cls,), namespace)
    return sub


class LRSchedulerCallback(RunViews, keras.callbacks.Callback):
    """Drive the optimizer's LR from a schedule, a plateau and cooldowns during ``model.fit``.

    The LR of update ``u`` of the run is ``base_lr * schedule(u) * plateau.scale``, computed in the
    compiled step by the optimizer's :class:`LearningRateSchedule`: the callback puts one in
    (``base_lr`` = the optimizer's float LR) or drives the one it holds (``schedule=None``: with its
    schedule). Another Keras schedule, or another callback that sets the LR in the same ``fit``
    (``ReduceLROnPlateau``, ``LearningRateScheduler``), is refused. A change (plateau cut,
    cooldown) recompiles the train step once before the next update: no per-step cost.

    Runs: ``fit`` from epoch 0 starts a new run (``u`` from 0 although ``optimizer.iterations`` goes
    on, a fresh plateau, as Keras's ``ReduceLROnPlateau`` resets), also with this callback reused.
    ``fit(initial_epoch=e)`` continues: from the state given to :meth:`load_state_dict` or found
    in ``backup_dir``, else from this callback's previous ``fit``, else at ``u = e * steps // k``
    (warning when the optimizer is behind it: its state was not restored). The schedule is bound
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
    The optimizer gets a subclass of its own class whose attribute is ``base * schedule(u)`` from
    its update counter, read when the train step is traced (no retrace per step; a float per
    update on torch, whose train step runs eagerly); its ``get_config()`` reports the configured
    value, so ``model.save`` stores a plain optimizer: the schedules are restored through
    :meth:`state_dict` / ``backup_dir``, not ``load_model``. An optimizer without the attribute,
    or with it at 0 or ``None``, is refused. ``logs["momentum"]`` and ``logs["weight_decay"]``
    are the values of the epoch's last update.

    Views (``schedule``, ``bound_schedule``, ``plateau``, ``monitor``, ``run_state``) are
    :class:`lrplugins.RunState`'s, as in the other callbacks; ``lr_schedule`` is the optimizer's.

    Restarts: :meth:`state_dict` is the :class:`lrplugins.RunState` format (JSON); ``model.save``
    keeps the schedule in force (cooldown included), ``base_lr``, scale and offset. With
    ``backup_dir`` (a ``BackupAndRestore``'s directory) the state is written there at each epoch
    end (``lrplugins_lr_state.json``, removed when ``fit`` ends) and restored on resume.

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
        self._run = run = RunState(
            "LRSchedulerCallback",
            schedule,
            plateau,
            monitor,
            momentum=momentum,
            weight_decay=weight_decay,
            strict=strict,
            horizon=horizon,
            schedule_optional=True,
            per_group=False,
        )
        self._given = None if schedule is None else _compilable("LRSchedulerCallback", run.schedule)
        for hyper in run.scheduled[1:]:  # momentum, weight_decay: compilable too
            _compilable("LRSchedulerCallback", (run.spec(hyper) or {})["*"])
        run.on_change = self._mark
        self.backup_dir = None if backup_dir is None else os.fspath(backup_dir)
        self._lrs: LearningRateSchedule | None = None
        self._source = self._given  # the schedule a new run starts from
        self._loaded: dict[str, int] | None = None
        self._pending: list[tuple[Any, str, float]] = []
        self._in_fit = self._started = self._dirty = self._evaluated = self._late_check = False
        self._offset = self._epochs_done = 0
        self._hyper_opt: Any = None  # the optimizer whose momentum / weight decay this drives
        self._attrs: dict[str, str] = {}  # scheduled hyperparameter -> the optimizer's attribute

    @property
    def lr_schedule(self) -> LearningRateSchedule | None:
        """The optimizer's :class:`LearningRateSchedule` (``None`` until attached to a model)."""
        return self._lrs

    def cooldown(self, steps: int, shape: str = "1-sqrt", final: float = 0.0) -> None:
        """Start a cooldown at the next optimizer update, from the LR in force (plateau included).

        The multiplier decays to ``final`` over ``steps`` updates (``"1-sqrt"``, ``"linear"`` or
        ``"cosine"``), then holds it (:meth:`lrplugins.RunState.cooldown`: a second call restarts
        from the LR in force). Arguments are checked at once. During ``fit`` (another callback, a
        signal handler) it is recorded at the next batch begin (the next ``steps_per_execution``
        boundary); after a ``fit``, at once, in that run; before a ``fit``, at its first update.
        Saved by :meth:`state_dict`, ``backup_dir`` and ``model.save``.
        """
        run = self._run
        (run.active or constant()).cooldown(at=run.step, steps=steps, shape=shape, final=final)
        self._pending.append((steps, shape, final))  # checked above, recorded by _sync
        if not self._in_fit and run.active is not None:
            self._sync()

    def state_dict(self) -> dict[str, Any]:
        """The :meth:`lrplugins.RunState.state_dict` format, with step, epoch and offset."""
        return self._run.state_dict(
            step=self._run.step, epoch=self._epochs_done, offset=self._offset
        )

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output; the next ``fit`` continues from it."""
        extras = self._run.load_state_dict(state)
        self._loaded = {"step": int(extras.get("step", 0)), "epoch": int(extras.get("epoch", 0))}

    # -- hooks ----------------------------------------------------------------------------------
    def set_model(self, model: Any) -> None:
        super().set_model(model)  # install now, so BackupAndRestore and model.save see it
        if getattr(model, "optimizer", None) is not None:
            self._install(model.optimizer)

    def _install(self, opt: Any) -> LearningRateSchedule:
        opt = _inner(opt)
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
            self._lrs, self._source = current, self._given or current.schedule
        attrs = {hyper: _hyper_attr(opt, hyper) for hyper in self._run.scheduled[1:]}
        if not attrs:
            vars(opt).pop(_DRIVERS, None)  # another callback's schedules end with its runs
        elif opt is not self._hyper_opt:
            opt.__class__ = _scheduled_class(type(opt))
            vars(opt).pop(_DRIVERS, None)  # nothing in force until the run is bound
            self._hyper_opt = opt
        self._attrs = attrs
        return current

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        if self.model.optimizer is None:
            raise ValueError("LRSchedulerCallback: the model has no optimizer; compile it first")
        self._install(self.model.optimizer)
        self._in_fit, self._started, self._evaluated = True, False, False
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

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if not self._started:  # after every on_train_begin (BackupAndRestore restores there)
            self._start(epoch)
        self._sync()

    def _start(self, epoch: int) -> None:
        run, opt = self._run, _inner(self.model.optimizer)
        lrs = self._install(opt)
        if self.backup_dir is not None and epoch > 0:
            state = self._read_backup().get(str(epoch))
            if state is not None:
                self.load_state_dict(state)
            else:
                warnings.warn(
                    f"LRSchedulerCallback: fit() starts at epoch {epoch} but "
                    f"{self._backup_path()} has no state for it; the plateau starts fresh",
                    stacklevel=2,
                )
        loaded, self._loaded = self._loaded, None
        k = int(opt.gradient_accumulation_steps or 1)
        steps, epochs = self.params.get("steps"), self.params.get("epochs")
        it = int(ops.convert_to_numpy(opt.iterations))  # real updates (Keras divides by k)
        if loaded is None and epoch == 0:  # a new fit, not a resume: a new run
            run.start_fresh()
        if run.schedule is None or (loaded is None and epoch == 0):
            run.schedule = self._source
        if loaded is not None:
            u0, self._epochs_done = loaded["step"], loaded["epoch"]
        else:
            u0 = 0 if epoch == 0 else epoch * steps // k if steps else it - lrs.offset
            self._epochs_done = epoch
        if it < u0:
            warnings.warn(
                f"LRSchedulerCallback: fit() resumes at update {u0} (epoch {epoch}) but the "
                f"optimizer is at update {it}: its state was not restored (load_weights restores "
                f"weights only). The schedule continues at update {u0}.",
                stacklevel=2,
            )
        total = max(1, steps * epochs // k) if steps and epochs else None
        run.bind(total, max(1, steps // k) if steps else None, step=u0, hint=_hint(self.params))
        run.step, self._offset = u0, it - u0
        if u0 > 0 and lrs.scale != run.scale:
            warnings.warn(
                f"LRSchedulerCallback: the optimizer's LearningRateSchedule holds scale="
                f"{lrs.scale} from an earlier run, this run has {run.scale}; restore the callback "
                "(load_state_dict() or backup_dir=...) to continue its plateau.",
                stacklevel=2,
            )
        group = {"lr": lrs.base_lr, **{h: float(vars(opt)[a]) for h, a in self._attrs.items()}}
        lrs.base_lr = run.take_groups(0, [group])[0]["base"]["lr"]
        lrs.gradient_accumulation_steps = k
        self._started = self._dirty = True  # fit() compiled its train step before this hook

    def on_train_batch_begin(self, batch: int, logs: dict[str, Any] | None = None) -> None:
        if self._pending or self._dirty:
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
        if self.backup_dir is not None:
            self._write_backup()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        self._sync()
        self._in_fit = False
        if self.backup_dir is not None and os.path.exists(self._backup_path()):
            os.remove(self._backup_path())
        if self._late_check:  # fit's arguments were not found at train begin
            self._run.check_feedable(self._evaluated, _NO_VAL)

    def _mark(self) -> None:
        self._dirty = True  # RunState.on_change: may run in a signal handler, so no recompiling

    def _update(self) -> int:
        """The index of this run's next update (read in hooks only: jax syncs its state here)."""
        return int(ops.convert_to_numpy(self.model.optimizer.iterations)) - self._offset

    def _sync(self) -> None:
        """Record the requested cooldowns; put the schedule in force into the optimizer."""
        pending, self._pending = self._pending, []
        for steps, shape, final in pending:
            self._run.step = self._update()
            self._run.cooldown(steps, shape, final)
        lrs, active = self._lrs, self._run.active
        if self._dirty and lrs is not None and active is not None:
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
        vars(opt)[_DRIVERS] = {
            attr: LearningRateSchedule(
                run.active_for(hyper),
                base_lr=base[hyper],
                gradient_accumulation_steps=k,
                offset=self._offset,
            )
            for hyper, attr in self._attrs.items()
        }

    # -- BackupAndRestore companion file: keyed by the epoch fit() resumes at, two kept -------
    def _backup_path(self) -> str:
        return os.path.join(self.backup_dir or ".", "lrplugins_lr_state.json")

    def _read_backup(self) -> dict[str, Any]:
        try:
            with open(self._backup_path(), encoding="utf-8") as fh:
                return json.load(fh)
        except FileNotFoundError:
            return {}

    def _write_backup(self) -> None:
        saved = {**self._read_backup(), str(self._epochs_done): self.state_dict()}
        os.makedirs(self.backup_dir or ".", exist_ok=True)
        with open(self._backup_path() + ".tmp", "w", encoding="utf-8") as fh:
            json.dump({k: saved[k] for k in sorted(saved, key=int)[-2:]}, fh)
        os.replace(self._backup_path() + ".tmp", self._backup_path())


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
