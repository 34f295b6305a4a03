"""The compiled schedule: :class:`LearningRateSchedule`, a Keras learning-rate schedule that
evaluates an lrplugins schedule with ``keras.ops`` inside the optimizer's train step."""

from __future__ import annotations

from typing import Any

import keras
from keras import ops

from .._ops import ArrayOps
from .._schedules import Schedule, UnboundScheduleError, from_config
from .._validate import integer, real

KERAS_OPS = ArrayOps(ops)
"""``schedule.evaluate(t, KERAS_OPS)`` evaluates a schedule on a float32 ``keras.ops`` tensor."""


def compilable(owner: str, schedule: Any, name: str = "schedule") -> Schedule:
    """``schedule`` (or its config dict, the argument ``name``) as a schedule that has a graph form
    and a config, on the update clock."""
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
    if schedule.clock != "steps":
        raise clock_refused(f"{owner}()", f"{name} {schedule!r}", schedule.clock)
    return schedule


def clock_refused(owner: str, what: str, clock: str) -> ValueError:
    """The refusal of a samples / tokens schedule: Keras's schedule sees only the update count."""
    unit = "Nsp" if clock == "samples" else "Ntok"
    return ValueError(
        f"{owner}: {what} runs on the {clock} clock ('{unit}' durations), but a Keras learning "
        f"rate schedule sees only the optimizer's update count, never the {clock} an update "
        "consumed. Write its durations in optimizer updates (ints, 'Nep' or 'N%'; with a fixed "
        f"batch, {clock} / {clock} per update), or count {clock} in a plain torch loop with "
        f"lrplugins.torch.LRScheduler.step({clock}=n)."
    )


@keras.saving.register_keras_serializable(package="lrplugins")
class LearningRateSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A Keras learning-rate schedule: ``lr = base_lr * schedule(u) * scale``.

    ``u = max(counter // gradient_accumulation_steps - offset, 0)``, where ``counter`` is what the
    optimizer passes: its micro-batch counter, so give the optimizer's
    ``gradient_accumulation_steps`` here too (:class:`LRSchedulerCallback` sets it), and ``u``
    counts real updates. Evaluated with ``keras.ops`` on a float32 step (jit-safe).

    Args:
        schedule: an lrplugins schedule (a multiplier of ``base_lr``) or its config dict; unbound
            only when :class:`LRSchedulerCallback` binds it. ``lrplugins.custom`` is refused, and
            so is a schedule in samples or tokens (``"512sp"``, ``"2Btok"``): the optimizer
            passes only its update count.
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

    __module__ = "lrplugins.keras"  # the public path, which saved models record

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
        self.schedule = compilable(owner, schedule)
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
