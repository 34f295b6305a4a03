"""Keras 3 adapter: a compiled learning-rate schedule and a callback that drives it.

:class:`LearningRateSchedule` goes into an optimizer (``AdamW(learning_rate=LearningRateSchedule(
lrp.cosine(total_steps=10_000, warmup_steps=500), base_lr=3e-4))``): ``keras.ops`` from the core's
single formula, inside the compiled train step on every backend. :class:`LRSchedulerCallback` goes
into ``model.fit(callbacks=[...])``: it wires ``fit`` to a :class:`lrplugins.RunState` (the run's
lifecycle, plateau, cooldown, resume) and puts the schedule in force into the optimizer.
``import lrplugins.keras`` registers ``"lrplugins>LearningRateSchedule"``, so
``keras.models.load_model`` restores it without ``custom_objects``.

Modules, one job each: ``_schedule`` (the compiled :class:`LearningRateSchedule`), ``_hypers``
(momentum and weight decay computed in the compiled step; the optimizer's ``learning_rate``
settable again), ``_resume`` (where a ``fit`` enters its run: a pure function), ``_callback``
(:class:`LRSchedulerCallback`: the ``fit`` hooks).

Keras internals relied on, each guarded by a scenario of ``integration/keras_scenarios.py``:
``optimizer._learning_rate`` (a schedule or a float, read without evaluating it; all); the
optimizer calls its schedule with ``_iterations``, the micro-batch counter (``accumulation``); it
reads ``beta_1`` / ``momentum`` / ``weight_decay`` when its step is traced, compares ``momentum``
with 0 (SGD, RMSprop), and is saved by class name and module (``momentum``); its
``learning_rate`` setter refuses a number while it holds a schedule (``new_base_lr``);
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

try:
    import keras  # noqa: F401 - checked here, used by the modules below
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        f"lrplugins.keras needs Keras 3 ({exc}); install it with: pip install 'lrplugins[keras]'"
    ) from exc

from .._compat import check_framework

check_framework("lrplugins.keras")

from .._finder_keras import find_lr
from ._callback import LRSchedulerCallback
from ._schedule import KERAS_OPS, LearningRateSchedule

__all__ = ["KERAS_OPS", "LRSchedulerCallback", "LearningRateSchedule", "find_lr"]
