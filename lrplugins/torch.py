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
    from torch.optim import Optimizer
    from torch.optim.lr_scheduler import LRScheduler as _TorchLRScheduler
except ImportError as _exc:  # pragma: no cover - exercised in a subprocess without torch
    raise ImportError(
        "lrplugins.torch needs PyTorch, which is not installed: pip install 'lrplugins[torch]'"
    ) from _exc

from ._compat import check_framework
from ._finder_torch import find_lr
from ._layer_decay import layer_decay_groups
from ._param_groups import write as write_groups
from ._plateau import Plateau
from ._run import Profile, RunState, adapter_run, check_state
from ._schedules import Schedule, UnboundScheduleError

check_framework("lrplugins.torch")

__all__ = ["LRScheduler", "find_lr", "layer_decay_groups"]


class LRScheduler(_TorchLRScheduler):
    """Sets every parameter group's LR to ``base_lr * schedule(step) * plateau.scale``.

    ``step`` is the number of :meth:`step` calls so far, i.e. optimizer updates already taken: call
    ``scheduler.step()`` once after each ``optimizer.step()``. The LR is closed-form, a function of
    the schedule, the step, the base LR and the plateau scale only, so an outside write to
    ``param_groups`` (another scheduler stepped beside this one, e.g. torch's
    ``ReduceLROnPlateau``, or the loop) does not carry forward: the update right after it uses it,
    and the next :meth:`step` puts the schedule's LR back, with a warning once per run (a scheduler
    you stop stepping, e.g. to hand over to ``SWALR``, writes nothing more). Construction already
    sets ``schedule(0)``, the value the first update uses.

    Each group keeps its own base LR (its ``initial_lr``, the ``lr`` it had when the first scheduler
    was attached), so groups with different LRs follow the same shape. A group added later with
    ``optimizer.add_param_group`` (e.g. by Lightning's ``BaseFinetuning``) takes its ``lr`` at the
    next :meth:`step` as its base LR.

    Args:
        optimizer: the optimizer whose ``param_groups`` this scheduler owns.
        schedule: an ``lrplugins`` schedule (multiplier of the base LR) or its config dict. It may
            be unbound (e.g. ``cosine()`` with no ``total_steps``): the groups then keep their base
            LR until :meth:`bind` is called, and :meth:`step` raises
            :class:`lrplugins.UnboundScheduleError`. Handed to Lightning (from
            ``configure_optimizers``) or to the Hugging Face ``Trainer``, it must be bound first:
            they step it but do not bind it (e.g.
            ``bind(total_steps=self.trainer.estimated_stepping_batches)`` in Lightning).
        plateau: an optional :class:`lrplugins.Plateau` (or its config dict); feed it with
            :meth:`observe`.
        horizon: what :meth:`bind` does once the run has started (or after a resume) when the
            total differs from the one bound before: ``"stretch"`` the rest of the schedule to the
            new total, continuous at the current step, or ``"rebind"`` it from the new total.

    The run state (bound schedule, plateau, cooldowns, base LRs) is a :class:`lrplugins.RunState`,
    the engine every lrplugins adapter shares.

    Checkpoints: :meth:`state_dict` holds only JSON-compatible values (the run state, format
    ``"lrplugins.run/1"``, with the step), so it loads with ``torch.load(..., weights_only=True)``
    as Lightning and transformers do. :meth:`load_state_dict` restores it (the checkpoint's schedule
    and plateau replace the ones passed to the constructor, as torch schedulers' hyper-parameters
    do, with a warning when they differ) and rewrites the groups' LRs. A :func:`lrplugins.custom`
    schedule has no config: its state omits it, and loading keeps the live schedule.

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
        self,
        optimizer: Optimizer,
        schedule: Schedule | dict[str, Any],
        plateau: Plateau | dict[str, Any] | None = None,
        *,
        momentum: Schedule | dict[str, Any] | None = None,
        weight_decay: Schedule | dict[str, Any] | None = None,
        horizon: str = "stretch",
    ) -> None:
        self._run = adapter_run(
            _PROFILE,
            "LRScheduler",
            schedule,
            plateau,
            momentum=momentum,
            weight_decay=weight_decay,
            horizon=horizon,
        )
        self._run.on_change = self._apply
        # torch's constructor records initial_lr / base_lrs, wraps optimizer.step (to warn when the
        # scheduler is stepped first) and makes the initial step(), which lands in _initial_step.
        super().__init__(optimizer, last_epoch=-1)
        # a group added right before an update (add_param_group) takes part in it at its s(0)
        optimizer.register_step_pre_hook(self._adopt_before_step)

    def _adopt_before_step(self, optimizer: Optimizer, args: Any, kwargs: Any) -> None:
        if len(optimizer.param_groups) != len(self.base_lrs) and self._run.is_bound:
            self._apply()

    def _initial_step(self) -> None:
        # Replaces torch's initial step(): step count 0, LR = schedule(0) where it can be computed.
        # Base LRs are kept as floats (also for tensor LRs), so get_last_lr() and the state are.
        groups = self.optimizer.param_groups
        self._run.take_groups(
            0, groups, base_lrs=[float(b) for b in self.base_lrs], optimizer=self.optimizer
        )
        self._sync_base_lrs()
        self._step_count = 1
        self.last_epoch = 0
        self._last_lr = [float(g["lr"]) for g in groups]
        if self._run.binds_alone:
            self._begin(None, None)
            self._apply()

    # -- the schedule -----------------------------------------------------------------------------
    @property
    def schedule(self) -> Schedule:
        """The schedule in force: bound once :meth:`bind` has run, with any cooldown applied."""
        return self._run.active or self._run.schedule  # type: ignore[return-value]

    @property
    def plateau(self) -> Plateau | None:
        """The plateau monitor, or ``None``."""
        return self._run.plateau

    @property
    def scale(self) -> float:
        """The plateau's current scale (1.0 without a plateau, or once a cooldown started)."""
        return self._run.scale

    @property
    def run_state(self) -> RunState:
        """The :class:`lrplugins.RunState` behind this scheduler."""
        return self._run

    def bind(
        self, total_steps: int | None = None, steps_per_epoch: int | None = None
    ) -> LRScheduler:
        """Bind the schedule (``schedule.bind``: values it already has are kept) and apply it now.

        Rewrites the groups' LRs for the current step, so the next update uses the bound schedule.
        Once the run has started, a different ``total_steps`` is handled as ``horizon`` says.
        Returns ``self``.

        Args:
            total_steps: total number of optimizer updates of the run.
            steps_per_epoch: optimizer updates per epoch (for ``"Nep"`` durations).
        """
        if self._run.in_progress:  # bound before: a horizon change
            self._run.bind(total_steps, steps_per_epoch, step=self.last_epoch, hint=_BIND_HINT)
        else:
            self._begin(total_steps, steps_per_epoch)
        self._apply()
        return self

    def _begin(self, total_steps: int | None, steps_per_epoch: int | None) -> None:
        """The run begins (or resumes) at ``last_epoch``: the engine decides; a new run registers
        the groups again."""
        run = self._run
        run.begin(self.last_epoch, total_steps, steps_per_epoch, hint=_BIND_HINT)
        if 0 not in run.groups:
            groups = self.optimizer.param_groups
            run.take_groups(0, groups, base_lrs=self._configured(), optimizer=self.optimizer)

    def _configured(self) -> list[float]:
        """The groups' configured LRs (torch keeps them as ``initial_lr``)."""
        return [float(g.get("initial_lr", g["lr"])) for g in self.optimizer.param_groups]

    def observe(self, value: Any) -> float:
        """Feed one observation of the monitored metric to the plateau; return the new scale.

        A reduction is written to the groups at once, so the very next update uses it. As a later
        part of ``torch.optim.lr_scheduler.SequentialLR``, before its milestone (the LR is another
        part's), the observation counts and a reduction waits: the first LR this scheduler writes,
        at the milestone, has it.
        """
        if self._run.plateau is None:
            raise RuntimeError(
                "LRScheduler.observe(): this scheduler has no plateau; pass "
                "plateau=lrplugins.Plateau(...) to the constructor"
            )
        self._run.observe(value)
        return self._run.plateau.scale

    def cooldown(self, steps: int | str, shape: str = "1-sqrt", final: float = 0.0) -> None:
        """Start a cooldown at the next update, from the LR in force (plateau scale included).

        The multiplier decays to ``final`` over ``steps`` updates (a non-negative int, ``0``
        for the final value at once, or ``"2ep"`` / ``"10%"``; ``shape``: ``"1-sqrt"``,
        ``"linear"`` or ``"cosine"``) and holds it; see :meth:`lrplugins.RunState.cooldown`. It is
        saved by :meth:`state_dict`. Safe to call from a signal handler between updates. Called
        before the schedule is bound (or before :meth:`load_state_dict`), it starts at the first
        update of the run that begins then.
        """
        self._run.cooldown(steps, shape, final, at=max(self.last_epoch, 0))

    # -- torch's scheduler protocol ---------------------------------------------------------------
    def step(
        self, epoch: int | None = None, *, samples: int | None = None, tokens: int | None = None
    ) -> None:
        """Advance one optimizer update and set the LRs for the next one.

        On the samples or tokens clock (a schedule with ``"Nsp"`` / ``"Ntok"`` durations) pass
        what the update just consumed on all ranks together: ``step(samples=global_batch)`` or
        ``step(tokens=n)``; the next update's LR is ``base * s(samples or tokens so far)``, exactly
        as Megatron-LM's scheduler in sample mode. On the update clock these keywords are refused.
        ``epoch`` (deprecated in torch) jumps to that step instead, with torch's warning.

        Raises:
            TypeError: on a samples/tokens clock without its keyword (or with the other one).
            ValueError: ``samples=``/``tokens=`` on the update clock, or a negative count.
        """
        self._count(samples, tokens)
        if epoch is not None:
            from torch.optim.lr_scheduler import EPOCH_DEPRECATION_WARNING

            warnings.warn(EPOCH_DEPRECATION_WARNING, UserWarning, stacklevel=2)
            t = int(epoch)
        else:
            t = self.last_epoch + 1
            if t > 0:  # an LR written since the last step() (another scheduler, the loop)
                self._run.check_outside(0, self.optimizer.param_groups, t)
        self._apply(t)  # raises (changing nothing) while the schedule is unbound
        if self._step_count == 1:
            self._check_order()
        self.last_epoch = t
        self._step_count += 1

    def _update_lr(self, epoch: int | None = None) -> None:
        # torch's SequentialLR hands over at a milestone with _update_lr(0) (older torch: step(0)):
        # through the one writer, so momentum / weight decay schedules apply from there too
        t = self.last_epoch + 1 if epoch is None else int(epoch)
        self._apply(t)
        self.last_epoch = t

    def _apply(self, step: int | None = None) -> None:
        """Write ``base_lr * schedule(step) * scale`` into every group (default: ``last_epoch``)."""
        t = self.last_epoch if step is None else step
        if t < 0:  # a later part of SequentialLR before its milestone: the LR is not ours yet
            return
        groups = self.optimizer.param_groups
        self._check_bound()
        lrs: list[Any] = write_groups(self._run, 0, self._run.now(t), groups)
        self._run.step = t
        if len(lrs) != len(self.base_lrs):  # a group joined (add_param_group)
            self._sync_base_lrs()
        self._last_lr = lrs

    def _count(self, samples: int | None, tokens: int | None) -> None:
        """Move the samples / tokens clock on by what the update consumed (checked first)."""
        clock = self._run.clock
        if clock == "steps" and samples is None and tokens is None:
            return  # the per-update path of the update clock: nothing to count
        given = {"samples": samples, "tokens": tokens}
        named = [k for k, n in given.items() if n is not None]
        if clock == "steps":
            if named:
                raise ValueError(
                    f"LRScheduler.step(): {named[0]}= is for a schedule on the {named[0]} clock "
                    f"(durations in 'Nsp'/'Ntok'); {self._run.schedule!r} counts optimizer "
                    "updates: call step()"
                )
            return
        if named != [clock]:
            raise TypeError(
                f"LRScheduler.step(): the schedule runs on the {clock} clock: call "
                f"step({clock}=n) with the {clock} the update just consumed on all ranks "
                f"together" + (f", got {', '.join(k + '=' for k in named)}" if named else "")
            )
        self._check_bound()  # raises, changing nothing, while unbound
        self._run.advance(given[clock])  # type: ignore[arg-type]

    def _check_bound(self) -> None:
        if not self._run.is_bound:
            missing = sorted({m for sp in _specs(self._run) for s in sp for m in s.missing})
            raise UnboundScheduleError(
                f"lrplugins.torch.LRScheduler: {self._run.schedule!r} is unbound (missing "
                f"{'; '.join(missing)}). {_BIND_HINT}"
            )

    def _sync_base_lrs(self) -> None:
        """torch's ``base_lrs``: the run's base LR of each group (floats, also for tensor LRs)."""
        bases: list[Any] = [float(r["base"]["lr"]) for r in self._run.groups[0]]
        self.base_lrs = bases

    def _check_order(self) -> None:
        # torch's check, kept cheap: it only runs on the first step() call.
        if not hasattr(self.optimizer.step, "_wrapped_by_lr_sched"):
            warnings.warn(
                "Seems like `optimizer.step()` has been overridden after learning rate scheduler "
                "initialization. Please, make sure to call `optimizer.step()` before "
                "`lr_scheduler.step()`.",
                UserWarning,
                stacklevel=3,
            )
        elif not getattr(self.optimizer, "_opt_called", False):
            warnings.warn(
                "Detected call of `lr_scheduler.step()` before `optimizer.step()`: the first "
                "update would skip schedule(0). Call `optimizer.step()` before "
                "`lr_scheduler.step()`.",
                UserWarning,
                stacklevel=3,
            )

    def get_lr(self) -> list[float]:  # type: ignore[override]
        """The LRs for the current step (closed form; same as :meth:`get_last_lr` once applied)."""
        return self._run.lrs(0, self._run.now(self.last_epoch), self.optimizer.param_groups)

    _get_closed_form_lr = get_lr

    def get_last_lr(self) -> list[float]:  # type: ignore[override]
        """The LRs now in the groups: the ones the most recent (and the next) update uses."""
        return [float(x) for x in self._last_lr]

    # -- checkpoints ------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The run state (:meth:`lrplugins.RunState.state_dict`) with the step, JSON-compatible."""
        return self._run.state_dict(
            last_epoch=int(self.last_epoch),
            step_count=int(self._step_count),
            last_lr=[float(x) for x in self._last_lr],
        )

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s output and rewrite the groups' LRs for the restored step.

        The checkpoint's schedule (unless it was a ``custom`` one) and plateau replace the live
        ones (a warning names what differed); a live plateau with the same config is updated in
        place. Nothing changes if the state is refused.
        """
        run = self._run
        check_state("LRScheduler.load_state_dict()", state_dict)
        n_groups = len(self.optimizer.param_groups)
        saved = state_dict["groups"].get("0")
        if saved is not None and len(saved) != n_groups:
            raise ValueError(
                f"LRScheduler.load_state_dict(): the checkpoint has {len(saved)} parameter "
                f"group(s), the optimizer has {n_groups}"
            )
        extra = run.load_state_dict(state_dict)
        if saved is None:
            run.take_groups(
                0,
                self.optimizer.param_groups,
                base_lrs=[float(b) for b in self.base_lrs],
                optimizer=self.optimizer,
            )
        self._sync_base_lrs()
        self.last_epoch = int(extra.get("last_epoch", 0))
        self._step_count = int(extra.get("step_count", 1))
        try:
            run.begin(self.last_epoch, state_dict["total_steps"], state_dict["steps_per_epoch"])
            groups = self.optimizer.param_groups  # hyperparameters scheduled since: their bases
            run.take_groups(0, groups, base_lrs=self._configured(), optimizer=self.optimizer)
        except UnboundScheduleError:  # stays unbound: bind() later
            self._last_lr = [float(x) for x in extra.get("last_lr", self._last_lr)]
        else:
            self._apply()

    def __repr__(self) -> str:
        return (
            f"LRScheduler(schedule={self.schedule!r}, plateau={self.plateau!r}, "
            f"step={self.last_epoch})"
        )


def _specs(run: RunState) -> list[list[Schedule]]:
    return [list(spec.values()) for h in run.scheduled if (spec := run.spec(h)) is not None]


_BIND_HINT = "With the plain scheduler, call scheduler.bind(total_steps=...) before training."


_PROFILE = Profile(monitor_required=False)  # fed by observe(value)
