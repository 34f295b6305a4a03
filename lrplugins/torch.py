"""PyTorch adapter: a closed-form ``torch.optim.lr_scheduler.LRScheduler`` driven by a schedule.

>>> import torch, lrplugins as lrp
>>> from lrplugins.torch import LRScheduler
>>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=0.1)
>>> sched = LRScheduler(opt, lrp.linear(total_steps=4, warmup_steps=2))
>>> lrs = []
>>> for _ in range(5):
...     lrs.append(opt.param_groups[0]["lr"])  # the LR this update uses
...     opt.step()
...     sched.step()
>>> [round(lr, 6) for lr in lrs]
[0.0, 0.05, 0.1, 0.05, 0.0]
"""

from __future__ import annotations

import warnings
from typing import Any

try:
    import torch
    from torch.optim import Optimizer
    from torch.optim.lr_scheduler import LRScheduler as _TorchLRScheduler
except ImportError as _exc:  # pragma: no cover - exercised in a subprocess without torch
    raise ImportError(
        "lrplugins.torch needs PyTorch, which is not installed: pip install 'lrplugins[torch]'"
    ) from _exc

from ._plateau import Plateau
from ._schedules import Schedule, UnboundScheduleError, from_config

__all__ = ["LRScheduler"]

_FORMAT = "lrplugins.torch.LRScheduler/1"
_STATE_KEYS = frozenset(
    {"format", "schedule", "last_epoch", "_step_count", "base_lrs", "last_lr", "plateau"}
)


class LRScheduler(_TorchLRScheduler):
    """Sets every parameter group's LR to ``base_lr * schedule(step) * plateau.scale``.

    ``step`` is the number of :meth:`step` calls so far, i.e. optimizer updates already taken: call
    ``scheduler.step()`` once after each ``optimizer.step()``. The LR is closed-form, a function of
    the schedule, the step, the base LR and the plateau scale only, so an outside write to
    ``param_groups`` does not carry forward. Construction already sets ``schedule(0)``, the value
    the first update uses.

    Each group keeps its own base LR (its ``initial_lr``, the ``lr`` it had when the first scheduler
    was attached), so groups with different LRs follow the same shape. A group added later with
    ``optimizer.add_param_group`` (e.g. by Lightning's ``BaseFinetuning``) takes its ``lr`` at the
    next :meth:`step` as its base LR.

    Args:
        optimizer: the optimizer whose ``param_groups`` this scheduler owns.
        schedule: an ``lrplugins`` schedule (multiplier of the base LR). It may be unbound (e.g.
            ``cosine()`` with no ``total_steps``): the groups then keep their base LR until
            :meth:`bind` is called, and :meth:`step` raises :class:`lrplugins.UnboundScheduleError`.
            The Lightning and Hugging Face adapters bind it from the trainer.
        plateau: an optional :class:`lrplugins.Plateau`; feed it with :meth:`observe`.

    Checkpoints: :meth:`state_dict` holds only JSON-compatible values (the schedule's config, the
    step, the base LRs, the plateau's config and state), so it loads with
    ``torch.load(..., weights_only=True)`` as Lightning and transformers do. :meth:`load_state_dict`
    restores them (the checkpoint's schedule and plateau replace the ones passed to the
    constructor, as torch schedulers' hyper-parameters do) and rewrites the groups' LRs. A
    :func:`lrplugins.custom` schedule has no config: its state omits it, and loading keeps the live
    schedule.

    Example (a plateau on top of a warmup):

    >>> import torch, lrplugins as lrp
    >>> from lrplugins.torch import LRScheduler
    >>> opt = torch.optim.SGD(torch.nn.Linear(2, 1).parameters(), lr=1.0)
    >>> sched = LRScheduler(opt, lrp.constant(warmup_steps=2), plateau=lrp.Plateau(patience=0))
    >>> opt.step(); sched.step(); sched.get_last_lr()
    [0.5]
    >>> sched.observe(1.0), sched.observe(1.0)  # the second one is bad: scale 0.1, at once
    (1.0, 0.1)
    >>> sched.get_last_lr()
    [0.05]
    """

    def __init__(
        self, optimizer: Optimizer, schedule: Schedule, plateau: Plateau | None = None
    ) -> None:
        if not isinstance(schedule, Schedule):
            raise TypeError(
                f"LRScheduler(): schedule must be an lrplugins schedule, got {schedule!r}"
            )
        if plateau is not None and not isinstance(plateau, Plateau):
            raise TypeError(
                f"LRScheduler(): plateau must be an lrplugins.Plateau or None, got {plateau!r}"
            )
        self._schedule = schedule
        self._plateau = plateau
        # torch's constructor records initial_lr / base_lrs, wraps optimizer.step (to warn when the
        # scheduler is stepped first) and makes the initial step(), which lands in _initial_step.
        super().__init__(optimizer, last_epoch=-1)

    def _initial_step(self) -> None:
        # Replaces torch's initial step(): step count 0, LR = schedule(0) where it can be computed.
        # Base LRs are kept as floats (also for tensor LRs), so get_last_lr() and the state are.
        floats: list[Any] = [float(b) for b in self.base_lrs]
        self.base_lrs = floats
        self._step_count = 1
        self.last_epoch = 0
        if self._schedule.is_bound:
            self._apply()
        else:
            self._last_lr = [float(g["lr"]) for g in self.optimizer.param_groups]

    # -- the schedule -----------------------------------------------------------------------------
    @property
    def schedule(self) -> Schedule:
        """The schedule in use (a bound copy once :meth:`bind` has run)."""
        return self._schedule

    @property
    def plateau(self) -> Plateau | None:
        """The plateau monitor, or ``None``."""
        return self._plateau

    @property
    def scale(self) -> float:
        """The plateau's current scale (1.0 without a plateau)."""
        return 1.0 if self._plateau is None else self._plateau.scale

    def bind(
        self, total_steps: int | None = None, steps_per_epoch: int | None = None
    ) -> LRScheduler:
        """Bind the schedule (``schedule.bind``: values it already has are kept) and apply it now.

        Rewrites the groups' LRs for the current step, so the next update uses the bound schedule.
        Returns ``self``.

        Args:
            total_steps: total number of optimizer updates of the run.
            steps_per_epoch: optimizer updates per epoch (for ``"Nep"`` durations).
        """
        self._schedule = self._schedule.bind(
            total_steps=total_steps, steps_per_epoch=steps_per_epoch
        )
        if self._schedule.is_bound:
            self._apply()
        return self

    def observe(self, value: Any) -> float:
        """Feed one observation of the monitored metric to the plateau; return the new scale.

        A reduction is written to the groups at once, so the very next update uses it.
        """
        if self._plateau is None:
            raise RuntimeError(
                "LRScheduler.observe(): this scheduler has no plateau; pass "
                "plateau=lrplugins.Plateau(...) to the constructor"
            )
        old = self._plateau.scale
        new = self._plateau.update(value)
        if new != old and self._schedule.is_bound:
            self._apply()
        return new

    # -- torch's scheduler protocol ---------------------------------------------------------------
    def step(self, epoch: int | None = None) -> None:
        """Advance one optimizer update and set the LRs for the next one.

        ``epoch`` (deprecated in torch) jumps to that step instead, with torch's warning.
        """
        if epoch is not None or self._step_count == 1:
            self._step_slow(epoch)
            return
        # The hot path, inlined: one schedule call, one multiply and one store per group. The
        # counters move only once the value is known, so a failed step() changes nothing.
        t = self.last_epoch + 1
        try:
            m = self._schedule(t)
        except UnboundScheduleError as exc:
            raise self._unbound(exc) from None
        self.last_epoch = t
        self._step_count += 1
        if self._plateau is not None:
            m *= self._plateau.scale
        groups = self.optimizer.param_groups
        if len(groups) != len(self.base_lrs):
            self._adopt_new_groups()
        lrs: list[Any] = []
        for group, base in zip(groups, self.base_lrs):
            lr = float(base) * m
            if group["lr"].__class__ is float:
                group["lr"] = lr
            else:
                self._store(group, lr)
            lrs.append(lr)
        self._last_lr = lrs

    def _step_slow(self, epoch: int | None) -> None:
        if epoch is None:
            t = self.last_epoch + 1
        else:
            from torch.optim.lr_scheduler import EPOCH_DEPRECATION_WARNING

            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=3)
            t = int(epoch)
        self._apply(t)  # raises (changing nothing) while the schedule is unbound
        if self._step_count == 1:
            self._check_order()
        self.last_epoch = t
        self._step_count += 1

    def _apply(self, step: int | None = None) -> None:
        """Write ``base_lr * schedule(step) * scale`` into every group (default: ``last_epoch``)."""
        try:
            m = self._schedule(self.last_epoch if step is None else step)
        except UnboundScheduleError as exc:
            raise self._unbound(exc) from None
        if self._plateau is not None:
            m *= self._plateau.scale
        if len(self.optimizer.param_groups) != len(self.base_lrs):
            self._adopt_new_groups()
        lrs: list[Any] = [base * m for base in self.base_lrs]
        for group, lr in zip(self.optimizer.param_groups, lrs):
            self._store(group, lr)
        self._last_lr = lrs

    def _adopt_new_groups(self) -> None:
        """Give groups added after construction (``add_param_group``) their ``lr`` as base LR."""
        groups = self.optimizer.param_groups
        if len(groups) < len(self.base_lrs):
            raise ValueError(
                f"LRScheduler: the optimizer has {len(groups)} parameter group(s), fewer than the "
                f"{len(self.base_lrs)} this scheduler was built with; groups cannot be removed"
            )
        for group in groups[len(self.base_lrs) :]:
            group.setdefault("initial_lr", float(group["lr"]))
            self.base_lrs.append(float(group["initial_lr"]))

    @staticmethod
    def _store(group: dict[str, Any], lr: float) -> None:
        if isinstance(group["lr"], torch.Tensor):  # tensor LRs (capturable / fused optimizers)
            group["lr"].fill_(lr)
        else:
            group["lr"] = lr

    @staticmethod
    def _unbound(exc: UnboundScheduleError) -> UnboundScheduleError:
        return UnboundScheduleError(
            f"lrplugins.torch.LRScheduler: {exc} With the plain scheduler, call "
            "scheduler.bind(total_steps=...) before training."
        )

    def _check_order(self) -> None:
        # torch's check, kept cheap: it only runs on the first step() call.
        if not hasattr(self.optimizer.step, "_wrapped_by_lr_sched"):
            warnings.warn(
                "Seems like `optimizer.step()` has been overridden after learning rate scheduler "
                "initialization. Please, make sure to call `optimizer.step()` before "
                "`lr_scheduler.step()`.",
                UserWarning,
                stacklevel=4,
            )
        elif not getattr(self.optimizer, "_opt_called", False):
            warnings.warn(
                "Detected call of `lr_scheduler.step()` before `optimizer.step()`: the first "
                "update would skip schedule(0). Call `optimizer.step()` before "
                "`lr_scheduler.step()`.",
                UserWarning,
                stacklevel=4,
            )

    def get_lr(self) -> list[float]:  # type: ignore[override]
        """The LRs for the current step (closed form; same as :meth:`get_last_lr` once applied)."""
        m = self._schedule(self.last_epoch) * self.scale
        return [float(b) * m for b in self.base_lrs]

    _get_closed_form_lr = get_lr

    def get_last_lr(self) -> list[float]:  # type: ignore[override]
        """The LRs now in the groups: the ones the most recent (and the next) update uses."""
        return [float(x) for x in self._last_lr]

    # -- checkpoints ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """A JSON-compatible dict: schedule config, step, base LRs, last LRs, plateau config+state.

        ``schedule`` is ``None`` for a :func:`lrplugins.custom` schedule (it has no config).
        """
        try:
            schedule_cfg = self._schedule.to_config()
        except TypeError:  # custom(fn): no config, the live schedule is kept on load
            schedule_cfg = None
        plateau = self._plateau
        return {
            "format": _FORMAT,
            "schedule": schedule_cfg,
            "last_epoch": int(self.last_epoch),
            "_step_count": int(self._step_count),
            "base_lrs": [float(b) for b in self.base_lrs],
            "last_lr": [float(x) for x in self._last_lr],
            "plateau": None
            if plateau is None
            else {"config": plateau.to_config(), "state": plateau.state_dict()},
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output and rewrite the groups' LRs for the restored step.

        The checkpoint's schedule (unless it was a ``custom`` one) and plateau replace the live
        ones; a live plateau with the same config is updated in place.
        """
        owner = "LRScheduler.load_state_dict()"
        if not isinstance(state_dict, dict):
            raise TypeError(f"{owner}: state_dict must be a dict, got {state_dict!r}")
        keys = set(state_dict)
        if keys != _STATE_KEYS or state_dict["format"] != _FORMAT:
            raise ValueError(
                f"{owner}: not a state_dict of lrplugins.torch.LRScheduler (format {_FORMAT!r}); "
                f"missing keys {sorted(_STATE_KEYS - keys)}, unknown keys {sorted(keys - _STATE_KEYS)}"
                + (f", format {state_dict.get('format')!r}" if "format" in keys else "")
            )
        base_lrs: list[Any] = [float(b) for b in state_dict["base_lrs"]]
        if len(base_lrs) != len(self.optimizer.param_groups):
            raise ValueError(
                f"{owner}: the checkpoint has {len(base_lrs)} parameter group(s), the optimizer "
                f"has {len(self.optimizer.param_groups)}"
            )
        schedule = self._schedule
        if state_dict["schedule"] is not None:
            schedule = from_config(state_dict["schedule"])
        plateau_sd = state_dict["plateau"]
        plateau = None
        if plateau_sd is not None:
            cfg = plateau_sd["config"]
            if self._plateau is not None and self._plateau.to_config() == cfg:
                plateau = self._plateau
            else:
                plateau = Plateau.from_config(cfg)
            plateau.load_state_dict(plateau_sd["state"])
        self._schedule = schedule
        self._plateau = plateau
        self.base_lrs = base_lrs
        self.last_epoch = int(state_dict["last_epoch"])
        self._step_count = int(state_dict["_step_count"])
        if schedule.is_bound:
            self._apply()
        else:
            self._last_lr = [float(x) for x in state_dict["last_lr"]]

    def __repr__(self) -> str:
        return (
            f"LRScheduler(schedule={self._schedule!r}, plateau={self._plateau!r}, "
            f"step={self.last_epoch})"
        )
