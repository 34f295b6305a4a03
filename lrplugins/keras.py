"""Keras 3 adapter: a compiled learning-rate schedule and a callback that drives it.

Two ways in, on every Keras backend (tensorflow, jax, torch):

* :class:`LearningRateSchedule` goes straight into an optimizer::

      opt = keras.optimizers.AdamW(learning_rate=LearningRateSchedule(
          lrp.cosine(total_steps=10_000, warmup_steps=500), base_lr=3e-4))

  The LR of update ``u`` is ``base_lr * schedule(u) * scale``, computed with ``keras.ops`` inside the
  compiled train step from the core's single formula (no Python ``if`` on the step, so jax can trace
  it; traced once, never per step). ``u`` counts real optimizer updates: under
  ``gradient_accumulation_steps=k`` the optimizer hands the schedule its micro-batch counter, which
  is divided by ``k`` (floor).

* :class:`LRSchedulerCallback` goes into ``model.fit(callbacks=[...])``: it binds an unbound schedule
  from the run (``"5%"``, ``"2ep"``, ``total_steps=None``), feeds a :class:`lrplugins.Plateau` the
  monitored metric at each epoch end and writes ``learning_rate`` into the epoch logs (so History,
  CSVLogger and TensorBoard see the LR actually applied).

``import lrplugins.keras`` registers :class:`LearningRateSchedule` with Keras
(``"lrplugins>LearningRateSchedule"``), so ``keras.models.load_model("m.keras")`` restores it without
``custom_objects`` once this module has been imported.

>>> import keras, lrplugins as lrp
>>> from lrplugins.keras import LearningRateSchedule
>>> lrs = LearningRateSchedule(lrp.linear(total_steps=4), base_lr=0.1)
>>> [round(float(lrs(u)), 6) for u in range(5)]
[0.1, 0.075, 0.05, 0.025, 0.0]
"""

from __future__ import annotations

import json
import math
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

if not str(getattr(keras, "__version__", "0")).startswith("3"):  # pragma: no cover
    raise ImportError(
        f"lrplugins.keras needs Keras 3, found keras {keras.__version__}; "
        "install it with: pip install 'lrplugins[keras]'"
    )

from ._ops import ArrayOps
from ._plateau import Plateau
from ._schedules import Schedule, UnboundScheduleError, from_config

__all__ = ["KERAS_OPS", "LRSchedulerCallback", "LearningRateSchedule"]

_BaseOptimizer = keras.optimizers.Optimizer
_STATE_VERSION = 1


KERAS_OPS = ArrayOps(ops)
"""``schedule.evaluate(t, KERAS_OPS)`` evaluates a schedule on a float32 ``keras.ops`` tensor."""


def _check_schedule(owner: str, schedule: Any) -> Schedule:
    if not isinstance(schedule, Schedule):
        raise TypeError(
            f"{owner}: schedule must be an lrplugins schedule (e.g. lrplugins.cosine(...)), "
            f"got {schedule!r}"
        )
    try:
        schedule.to_config()
    except TypeError as exc:  # custom(fn) anywhere inside: no graph form, no config
        raise TypeError(
            f"{owner}: schedule {schedule!r} cannot run inside a Keras train step or be saved "
            f"with the model ({exc})"
        ) from None
    return schedule


def _real(owner: str, name: str, value: Any, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{owner}: {name} must be a number, got {value!r}")
    x = float(value)
    if not math.isfinite(x) or x < 0.0 or (positive and x == 0.0):
        rule = "> 0" if positive else ">= 0"
        raise ValueError(f"{owner}: {name} must be a finite number {rule}, got {value!r}")
    return x


def _calling_optimizer() -> Any:
    """The Keras optimizer that is asking for its learning rate, if any (see ``__call__``)."""
    frame: Any = sys._getframe(2)
    for _ in range(3):
        if frame is None:
            return None
        owner = frame.f_locals.get("self")
        if isinstance(owner, _BaseOptimizer):
            return owner
        frame = frame.f_back
    return None


@keras.saving.register_keras_serializable(package="lrplugins")
class LearningRateSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A Keras learning-rate schedule: ``lr(u) = base_lr * schedule(u) * scale``.

    ``u`` is the number of optimizer updates already taken (0 for the first). Keras optimizers pass
    their iteration counter, which under ``gradient_accumulation_steps=k`` counts micro-batches;
    the schedule reads ``k`` from the optimizer that calls it and uses ``u = counter // k``, so the
    schedule advances once per real update (Keras's own schedules advance per micro-batch). Called
    directly, ``lrs(u)`` is the LR of update ``u``.

    The value is computed with ``keras.ops`` from the core formula (``schedule.evaluate``) on a
    float32 step, so it matches ``base_lr * schedule(u) * scale`` to float32 precision, runs inside
    jit/tf.function graphs, and is traced once per compiled train function.

    Args:
        schedule: an lrplugins schedule (a multiplier of ``base_lr``). It may be unbound if an
            :class:`LRSchedulerCallback` binds it from the run; evaluating it unbound raises
            :class:`lrplugins.UnboundScheduleError`. ``lrplugins.custom(fn)`` is refused (a Python
            callable cannot be compiled or saved).
        base_lr: the base learning rate (an absolute LR, > 0).
        scale: a constant multiplier (>= 0), the plateau multiplier that
            :class:`LRSchedulerCallback` keeps here so that it is saved with the model. It is baked
            into the compiled train step: change it only through the callback (which recompiles).

    ``get_config()`` holds ``schedule.to_config()``, ``base_lr`` and ``scale``; the class is
    registered as ``"lrplugins>LearningRateSchedule"``, so ``model.save`` / ``keras.models.load_model``
    restore it with no ``custom_objects`` once ``lrplugins.keras`` is imported.

    >>> import lrplugins as lrp
    >>> lrs = LearningRateSchedule(lrp.cosine(total_steps=100, warmup_steps=10), base_lr=0.5)
    >>> round(float(lrs(5)), 6), round(float(lrs(10)), 6)
    (0.25, 0.5)
    >>> LearningRateSchedule.from_config(lrs.get_config()).get_config() == lrs.get_config()
    True
    """

    def __init__(self, schedule: Schedule, base_lr: float, scale: float = 1.0) -> None:
        owner = "LearningRateSchedule()"
        self._schedule = _check_schedule(owner, schedule)
        self._base_lr = _real(owner, "base_lr", base_lr, positive=True)
        self._scale = _real(owner, "scale", scale)

    # -- read-only views ------------------------------------------------------------------------
    @property
    def schedule(self) -> Schedule:
        """The lrplugins schedule (the multiplier of ``base_lr``)."""
        return self._schedule

    @property
    def base_lr(self) -> float:
        """The base learning rate."""
        return self._base_lr

    @property
    def scale(self) -> float:
        """The constant (plateau) multiplier baked into the compiled step."""
        return self._scale

    def lr(self, update: int) -> float:
        """The LR of optimizer update ``update`` as a Python float (the core's scalar path)."""
        return self._base_lr * self._schedule(update) * self._scale

    # -- Keras protocol -------------------------------------------------------------------------
    def __call__(self, step: Any) -> Any:
        """The LR for the optimizer counter ``step`` (a Keras variable, tensor or int)."""
        if not self._schedule.is_bound:
            raise UnboundScheduleError(
                f"LearningRateSchedule: schedule {self._schedule!r} is unbound (missing "
                f"{'; '.join(self._schedule.missing)}). Give it total_steps=... (and "
                "steps_per_epoch=... for 'Nep' durations), or pass "
                "lrplugins.keras.LRSchedulerCallback(...) to model.fit() to bind it from the run."
            )
        opt = _calling_optimizer()
        k = int(getattr(opt, "gradient_accumulation_steps", None) or 1)
        step = ops.convert_to_tensor(step)
        if k > 1:
            step = ops.floor_divide(step, k)
        t = ops.cast(step, "float32")
        multiplier = self._schedule.evaluate(t, KERAS_OPS)
        return ops.cast(multiplier, "float32") * (self._base_lr * self._scale)

    def get_config(self) -> dict[str, Any]:
        return {
            "schedule": self._schedule.to_config(),
            "base_lr": self._base_lr,
            "scale": self._scale,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> LearningRateSchedule:
        config = dict(config)
        config["schedule"] = from_config(config["schedule"])
        return cls(**config)

    def __repr__(self) -> str:
        scale = "" if self._scale == 1.0 else f", scale={self._scale!r}"
        return f"LearningRateSchedule({self._schedule!r}, base_lr={self._base_lr!r}{scale})"

    def _set(self, schedule: Schedule, scale: float) -> None:
        """Replace the schedule / scale (the callback recompiles the train step right after)."""
        self._schedule = schedule
        self._scale = scale


class LRSchedulerCallback(keras.callbacks.Callback):
    """Drive the optimizer's LR from a schedule (and a plateau monitor) during ``model.fit``.

    The LR of update ``u`` is ``base_lr * schedule(u) * plateau.scale``, computed inside the compiled
    train step by a :class:`LearningRateSchedule` that the callback puts into the optimizer:

    * optimizer with a float ``learning_rate``: ``base_lr`` is that float, and the optimizer's
      ``learning_rate`` becomes ``LearningRateSchedule(schedule, base_lr)`` (done in ``set_model``,
      before any ``on_train_begin``, so ``BackupAndRestore`` and ``model.save`` see the final set of
      optimizer variables whatever the order of the callbacks);
    * optimizer that already holds a :class:`LearningRateSchedule` (built by you, or loaded with the
      model): the callback drives that one (its ``base_lr``); with ``schedule=None`` it keeps its
      schedule and only binds it and applies the plateau;
    * any other Keras schedule or callable: refused with a ``TypeError`` (there is no exact way to
      combine it with a plateau, and Keras's ``ReduceLROnPlateau`` raises on it too).

    Binding: in ``on_train_begin`` an unbound schedule gets
    ``total_steps = epochs * steps // k`` and ``steps_per_epoch = steps // k`` from ``self.params``
    (``steps`` = batches per epoch, ``k`` = the optimizer's ``gradient_accumulation_steps``). The run
    length covers epochs ``0..epochs`` even when ``initial_epoch > 0``, so a resumed run binds the
    same schedule as the uninterrupted one. Without a known ``steps`` (a generator with no length),
    a schedule that needs it raises :class:`lrplugins.UnboundScheduleError` saying what to pass.

    Plateau: at each epoch end ``logs[monitor]`` goes to ``plateau.update``; when the scale changes
    the train step is recompiled once (``model.make_train_function(force=True)``), so the next
    update uses it on every backend (no per-step cost, no stale LR under jax's jit). A missing
    metric raises a ``KeyError`` listing the logged ones, except a ``val_*`` metric in an epoch
    without validation (``validation_freq > 1``), which is skipped. NaN counts as not improving.

    Patience follows torch (and the rest of lrplugins): the cut comes on the ``patience + 1``-th bad
    epoch in a row. Keras's ``ReduceLROnPlateau(patience=p)`` cuts on the ``p``-th; use
    ``Plateau(patience=p - 1)`` to reproduce it.

    Logging: ``logs["learning_rate"]`` at each epoch end is the LR applied by the epoch's last
    update (before that epoch's plateau decision), so History shows the LR actually used.

    Restarts: ``state_dict()`` / ``load_state_dict()`` hold the plateau state and the step
    (JSON-compatible). ``model.save`` keeps the bound schedule, ``base_lr`` and the current scale in
    the optimizer's config and the step in ``optimizer.iterations``; the plateau's counters (best
    value, bad epochs, cooldown) live only in the callback. With ``backup_dir`` set to the
    directory of a ``keras.callbacks.BackupAndRestore``, the callback writes its state there at each
    epoch end and restores it when ``fit`` resumes, so a restarted run continues exactly.

    Args:
        schedule: the schedule (a multiplier of the base LR), or ``None`` to use the schedule of the
            optimizer's :class:`LearningRateSchedule`.
        plateau: an optional :class:`lrplugins.Plateau`; needs ``monitor``.
        monitor: the logged metric fed to ``plateau`` at each epoch end, e.g. ``"val_loss"``.
        backup_dir: a directory for the callback's state, normally the ``backup_dir`` of a
            ``BackupAndRestore`` in the same ``fit`` (the file is ``lrplugins_lr_state.json``; it is
            deleted when ``fit`` ends normally, as ``BackupAndRestore`` deletes its own).

    >>> import lrplugins as lrp
    >>> cb = LRSchedulerCallback(lrp.cosine(warmup_steps="5%"), plateau=lrp.Plateau(patience=2),
    ...                          monitor="val_loss")
    >>> cb.state_dict()["plateau"]["scale"]
    1.0
    """

    def __init__(
        self,
        schedule: Schedule | None = None,
        plateau: Plateau | None = None,
        monitor: str | None = None,
        *,
        backup_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        super().__init__()
        owner = "LRSchedulerCallback()"
        if schedule is not None:
            _check_schedule(owner, schedule)
        if plateau is not None and not isinstance(plateau, Plateau):
            raise TypeError(f"{owner}: plateau must be an lrplugins.Plateau, got {plateau!r}")
        if monitor is not None and not isinstance(monitor, str):
            raise TypeError(f"{owner}: monitor must be a metric name (str), got {monitor!r}")
        if (plateau is None) != (monitor is None):
            raise ValueError(
                f"{owner}: plateau and monitor go together, got plateau={plateau!r}, "
                f"monitor={monitor!r}"
            )
        self.schedule = schedule
        self.plateau = plateau
        self.monitor = monitor
        self.backup_dir = None if backup_dir is None else os.fspath(backup_dir)
        self._lrs: LearningRateSchedule | None = None
        self._step = 0  # optimizer updates taken, as of the last epoch end
        self._epochs_done = 0  # epochs completed, as of the last epoch end
        self._resume_checked = False

    @property
    def lr_schedule(self) -> LearningRateSchedule | None:
        """The :class:`LearningRateSchedule` this callback drives (``None`` until attached to a
        compiled model); ``cb.lr_schedule.lr(step)`` is the LR of update ``step``."""
        return self._lrs

    # -- state ----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The callback's runtime state, JSON-compatible: plateau state, step and epoch."""
        return {
            "version": _STATE_VERSION,
            "plateau": None if self.plateau is None else self.plateau.state_dict(),
            "step": self._step,
            "epoch": self._epochs_done,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`state_dict` returned (before ``fit``, or from ``on_train_begin``)."""
        if not isinstance(state, dict) or state.get("version") != _STATE_VERSION:
            raise ValueError(
                f"LRSchedulerCallback.load_state_dict(): expected a state of version "
                f"{_STATE_VERSION}, got {state!r}"
            )
        saved = state["plateau"]
        if (saved is None) != (self.plateau is None):
            raise ValueError(
                "LRSchedulerCallback.load_state_dict(): the state was saved "
                f"{'without' if saved is None else 'with'} a plateau, but this callback has "
                f"plateau={self.plateau!r}"
            )
        if self.plateau is not None:
            self.plateau.load_state_dict(saved)
        self._step = int(state["step"])
        self._epochs_done = int(state["epoch"])
        if self._lrs is not None and self.plateau is not None:
            self._apply(self._lrs.schedule, self.plateau.scale)

    # -- wiring -------------------------------------------------------------------------------
    def set_model(self, model: Any) -> None:
        super().set_model(model)
        if getattr(model, "optimizer", None) is not None:
            self._install(model.optimizer)

    def _install(self, opt: Any) -> LearningRateSchedule:
        """Make ``opt`` hold a :class:`LearningRateSchedule` (idempotent)."""
        current = opt._learning_rate
        if isinstance(current, LearningRateSchedule):
            self._lrs = current
            return current
        if isinstance(current, keras.Variable):
            if self.schedule is None:
                raise ValueError(
                    "LRSchedulerCallback(schedule=None) drives the optimizer's "
                    "lrplugins.keras.LearningRateSchedule, but the optimizer has the float "
                    f"learning_rate {float(ops.convert_to_numpy(current))}; pass a schedule"
                )
            # the variable is float32: take the shortest decimal that round-trips (0.05, not
            # 0.05000000074505806), which is the value the user configured
            base_lr = float(str(ops.convert_to_numpy(current).astype("float32")))
            lrs = LearningRateSchedule(self.schedule, base_lr=base_lr)
            opt.learning_rate = lrs  # Keras untracks the float LR variable here
            self._lrs = lrs
            return lrs
        raise TypeError(
            f"LRSchedulerCallback: the optimizer's learning_rate is {current!r}; it must be a "
            "float or an lrplugins.keras.LearningRateSchedule (another Keras schedule or callable "
            "cannot be combined with this callback: pass its base LR as a float instead)"
        )

    def _apply(self, schedule: Schedule, scale: float) -> None:
        """Put schedule and scale into the optimizer and recompile the train step if they changed."""
        lrs = self._require_lrs()
        if schedule is lrs.schedule and scale == lrs.scale:
            return
        lrs._set(schedule, scale)
        if self._model is not None:
            self.model.make_train_function(force=True)

    def _require_lrs(self) -> LearningRateSchedule:
        if self._lrs is None:
            raise RuntimeError(
                "LRSchedulerCallback: not attached to a compiled model yet (pass it to model.fit)"
            )
        return self._lrs

    # -- hooks --------------------------------------------------------------------------------
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        model = self.model
        if model.optimizer is None:
            raise ValueError("LRSchedulerCallback: the model has no optimizer; compile it first")
        lrs = self._install(model.optimizer)
        schedule = self.schedule if self.schedule is not None else lrs.schedule
        if not schedule.is_bound:
            schedule = self._bind(schedule, model.optimizer)
        if self.plateau is not None:
            if lrs.scale != self.plateau.scale and self.plateau.num_reductions == 0:
                warnings.warn(
                    f"LRSchedulerCallback: the optimizer's LearningRateSchedule holds "
                    f"scale={lrs.scale} from an earlier run but the plateau is fresh "
                    f"(scale={self.plateau.scale}); restore the callback with load_state_dict() "
                    "(or backup_dir=...) to continue the plateau. Using the plateau's scale.",
                    stacklevel=2,
                )
            scale = self.plateau.scale
        else:
            scale = lrs.scale
        self._resume_checked = False
        # Always recompile: fit() built its train function before this hook ran, and a graph
        # compiled earlier (a previous fit) may hold an older schedule or scale.
        lrs._set(schedule, scale)
        model.make_train_function(force=True)

    def _bind(self, schedule: Schedule, opt: Any) -> Schedule:
        k = int(getattr(opt, "gradient_accumulation_steps", None) or 1)
        steps = self.params.get("steps")
        epochs = self.params.get("epochs")
        total = spe = None
        if steps:
            spe = max(1, int(steps) // k)
            if epochs:
                total = max(1, int(steps) * int(epochs) // k)
        bound = schedule.bind(total_steps=total, steps_per_epoch=spe)
        if not bound.is_bound:
            raise UnboundScheduleError(
                f"LRSchedulerCallback: cannot bind {schedule!r}: it needs "
                f"{'; '.join(bound.missing)}, but model.fit() does not know the number of batches "
                f"per epoch (params={self.params!r}). Pass steps_per_epoch=... to model.fit(), "
                "use a dataset with a length, or give the schedule total_steps=... itself."
            )
        return bound

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        if self._resume_checked:
            return
        self._resume_checked = True  # once per fit, after every callback's on_train_begin
        if self.backup_dir is not None and epoch > 0:
            state = self._read_backup().get(str(epoch))
            if state is None:
                warnings.warn(
                    f"LRSchedulerCallback: fit() starts at epoch {epoch} but "
                    f"{self._backup_path()} has no state for it; the plateau starts fresh",
                    stacklevel=2,
                )
            else:
                self.load_state_dict(state)
        step = int(ops.convert_to_numpy(self.model.optimizer.iterations))
        if step < self._step:
            warnings.warn(
                f"LRSchedulerCallback: the optimizer is at update {step} but this callback's state "
                f"was saved at update {self._step}: the optimizer's state was not restored, so the "
                f"schedule restarts from update {step}",
                stacklevel=2,
            )

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        model = self.model
        lrs = self._require_lrs()
        step = int(ops.convert_to_numpy(model.optimizer.iterations))
        if logs is not None:
            logs["learning_rate"] = lrs.lr(max(step - 1, 0))
        self._step = step
        self._epochs_done = epoch + 1
        if self.plateau is not None and self.monitor is not None:
            logs = logs or {}
            if self.monitor in logs:
                scale = self.plateau.update(logs[self.monitor])
                self._apply(lrs.schedule, scale)
            elif not (self.monitor.startswith("val_") and not any(k.startswith("val_") for k in logs)):
                raise KeyError(
                    f"LRSchedulerCallback: monitor={self.monitor!r} is not in the epoch logs; "
                    f"available: {sorted(k for k in logs if k != 'learning_rate')}"
                )
        if self.backup_dir is not None:
            self._write_backup()

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        if self.backup_dir is not None and os.path.exists(self._backup_path()):
            os.remove(self._backup_path())

    # -- BackupAndRestore companion file --------------------------------------------------------
    def _backup_path(self) -> str:
        return os.path.join(self.backup_dir or ".", "lrplugins_lr_state.json")

    def _read_backup(self) -> dict[str, Any]:
        try:
            with open(self._backup_path(), encoding="utf-8") as fh:
                return json.load(fh)  # type: ignore[no-any-return]
        except FileNotFoundError:
            return {}

    def _write_backup(self) -> None:
        # keyed by the epoch fit() resumes at, the two latest kept (BackupAndRestore may restore the
        # previous checkpoint, or a mid-epoch one that reruns the current epoch)
        saved = self._read_backup()
        saved[str(self._epochs_done)] = self.state_dict()
        keep = sorted(saved, key=int)[-2:]
        os.makedirs(self.backup_dir, exist_ok=True)  # type: ignore[arg-type]
        tmp = self._backup_path() + ".tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({k: saved[k] for k in keep}, fh)
        os.replace(tmp, self._backup_path())
