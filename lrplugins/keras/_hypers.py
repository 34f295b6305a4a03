"""The in-graph hyperparameters: the optimizer's ``beta_1`` / ``momentum`` / ``weight_decay`` computed
in the compiled step from its update counter, and its ``learning_rate`` settable again.

:func:`_scheduled_class` gives an optimizer a subclass of its own class (same name, module and
config, so ``model.save`` stores a plain optimizer) where

* each of the three hyperparameters is a :class:`_Hyper` property: the configured value while
  nothing drives it, else ``base * schedule(u)`` of the :class:`~._schedule.LearningRateSchedule`
  put in ``vars(opt)[_DRIVERS]``, read when the train step is traced;
* ``learning_rate = x`` (a number) on an optimizer that holds a ``LearningRateSchedule`` sets its
  ``base_lr``: the base of the next run (Keras itself refuses any float on a schedule: "not
  settable"); during a ``fit`` it is refused, as the compiled step holds the base in force.
"""

from __future__ import annotations

import sys
from typing import Any

import keras
from keras import ops

from .._validate import real
from ._schedule import LearningRateSchedule

ATTRS = {"momentum": ("beta_1", "momentum"), "weight_decay": ("weight_decay",)}
"""The optimizer attribute each scheduled hyperparameter drives (the first one it has)."""
_EAGER = keras.backend.backend() == "torch"  # torch runs the train step eagerly: a Python float
_DRIVERS = "_lrplugins_hypers"  # instance attribute: {attr: LearningRateSchedule} in force


def _hyper_attr(opt: Any, hyper: str) -> str:
    """The attribute of ``opt`` that ``hyper`` drives; refuses a missing or zero one."""
    name = type(opt).__name__
    for attr in ATTRS[hyper]:
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


def set_drivers(opt: Any, drivers: dict[str, LearningRateSchedule] | None) -> None:
    """Put ``{attr: schedule}`` in force on ``opt`` (``None``: the configured values again)."""
    if drivers:
        vars(opt)[_DRIVERS] = drivers
    else:
        vars(opt).pop(_DRIVERS, None)


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
        if self.attr not in state:  # the optimizer's own class attribute or property, if any
            inherited = getattr(type(opt)._lrplugins_base, self.attr, _MISSING)
            if inherited is _MISSING:
                raise AttributeError(
                    f"{type(opt).__name__!r} object has no attribute {self.attr!r}"
                )
            get = getattr(type(inherited), "__get__", None)
            return inherited if get is None else get(inherited, opt, type(opt))
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
        inherited: Any = getattr(type(opt)._lrplugins_base, self.attr, None)
        if hasattr(type(inherited), "__set__"):  # a property of the optimizer's own class
            inherited.__set__(opt, value)
        else:
            vars(opt)[self.attr] = value


_MISSING = object()


def _fit_running() -> bool:
    """Whether a ``Model.fit`` is on this thread's stack (a setter called from a callback)."""
    frame = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name == "fit" and isinstance(frame.f_locals.get("self"), keras.Model):
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def _set_learning_rate(opt: Any, value: Any, base: type) -> None:
    """``opt.learning_rate = value``: a number sets the base of the optimizer's lrplugins
    ``LearningRateSchedule`` (outside ``fit``); anything else goes to Keras's own setter."""
    current = vars(opt).get("_learning_rate")
    is_schedule = isinstance(value, keras.optimizers.schedules.LearningRateSchedule)
    if not isinstance(current, LearningRateSchedule) or is_schedule or callable(value):
        base.learning_rate.__set__(opt, value)  # type: ignore[attr-defined]
        return
    if _fit_running():
        raise TypeError(
            f"{type(opt).__name__}.learning_rate = {value!r} during fit(): the learning rate comes "
            "from an lrplugins LearningRateSchedule compiled into the train step "
            "(LRSchedulerCallback); set a new base LR before or after fit(), where it becomes the "
            "base of the next run, or use the callback's plateau= / cooldown() to change it "
            "during the run"
        )
    if isinstance(value, keras.Variable) or ops.is_tensor(value):
        value = ops.convert_to_numpy(value)
    current.base_lr = real(
        f"{type(opt).__name__}.learning_rate", "learning_rate", value, lo=0.0, lo_open=True
    )


_SUBCLASSES: dict[type, type] = {}


def _scheduled_class(cls: type) -> type:
    """``cls`` with the three hyperparameters as :class:`_Hyper` properties and a settable
    ``learning_rate`` (one subclass per class)."""
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

        def get_lr(self: Any) -> Any:
            return cls.learning_rate.__get__(self, type(self))  # type: ignore[attr-defined]

        def set_lr(self: Any, value: Any) -> None:
            _set_learning_rate(self, value, cls)

        namespace: dict[str, Any] = {
            "__module__": cls.__module__,
            "__qualname__": cls.__qualname__,
            "__doc__": cls.__doc__,
            "_lrplugins_base": cls,
            "get_config": get_config,
            "learning_rate": property(get_lr, set_lr),
            **{attr: _Hyper(attr) for attr in ("beta_1", "momentum", "weight_decay")},
        }
        sub = _SUBCLASSES[cls] = type(cls.__name__, (cls,), namespace)
    return sub


def adopt(opt: Any) -> None:
    """Give ``opt`` its scheduled subclass (nothing driven until :func:`set_drivers`)."""
    if getattr(type(opt), "_lrplugins_base", None) is None:
        opt.__class__ = _scheduled_class(type(opt))
        set_drivers(opt, None)
