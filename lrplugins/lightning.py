"""Lightning adapter: a callback that drives the optimizers' learning rates from a schedule.

``Trainer(callbacks=[LRSchedulerCallback(schedule)])`` is all it takes. Before every optimizer
update the callback sets each parameter group's learning rate to

    lr = group_base_lr * schedule(step) * plateau.scale

where ``group_base_lr`` is the ``lr`` the group was configured with (recorded once, at train start,
and saved in checkpoints), ``step`` is ``trainer.global_step`` (the number of optimizer updates
already taken, so gradient accumulation is handled) and ``plateau.scale`` is 1 without a plateau
monitor. The schedule math and the plateau decisions live in the core (:mod:`lrplugins`); this module
only reads the step and the metric from Lightning and writes the learning rate back.

>>> import lrplugins as lrp
>>> from lrplugins.lightning import LRSchedulerCallback
>>> cb = LRSchedulerCallback(lrp.cosine(warmup_steps="5%", final=0.1))
>>> cb.schedule
cosine(warmup_steps='5%', final=0.1)
>>> cb.state_key
"LRSchedulerCallback{'name': None, 'monitor': None, 'optimizers': None}"
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

try:
    import lightning.pytorch as pl
    import torch
    from lightning.pytorch.callbacks import Callback
    from lightning.pytorch.trainer.states import TrainerFn
    from lightning.pytorch.utilities import rank_zero_warn
    from lightning.pytorch.utilities.exceptions import MisconfigurationException
    from typing_extensions import override
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        f"lrplugins.lightning needs Lightning 2.x ({exc}); install it with: "
        "pip install 'lrplugins[lightning]'"
    ) from exc

from ._callback import callback_args
from ._plateau import Plateau
from ._schedules import Schedule, UnboundScheduleError

__all__ = ["LRSchedulerCallback"]

_STATE_VERSION = 1


class LRSchedulerCallback(Callback):
    """Set each parameter group's LR to ``base_lr * schedule(step) * plateau.scale`` every update.

    Binding: an unbound schedule (``total_steps=None``, ``"5%"``, ``"2ep"``) is bound in
    ``on_train_start`` from ``trainer.estimated_stepping_batches`` (total optimizer updates, per
    rank) and ``ceil(trainer.num_training_batches / accumulate_grad_batches)`` (updates per epoch).
    A ``total_steps`` or ``steps_per_epoch`` given to the schedule itself always wins.

    Logging: the LR for the next update is written as soon as the previous one is done (and at train
    start, and after each plateau decision), so Lightning's ``LearningRateMonitor`` logs the LR that
    the step it reports actually uses, whatever the order of the callbacks.

    Plateau: with ``plateau`` and ``monitor``, the value of ``trainer.callback_metrics[monitor]`` is
    fed to ``plateau.update`` at every validation end of ``fit`` (never during the sanity check).
    Under a distributed strategy the value is first averaged over ranks
    (``trainer.strategy.reduce``), so every rank takes the same decision.

    Manual optimization: with one optimizer, ``step`` is ``trainer.global_step``. With several,
    Lightning's ``global_step`` counts the updates of all of them, so each optimizer instead gets
    its own update counter (saved in checkpoints). The run length Lightning estimates is then the
    number of training batches: if an optimizer steps more (or less) than once per batch, give
    its schedule ``total_steps`` explicitly. Use ``optimizers=`` and one callback per optimizer to
    give optimizers different schedules.

    Checkpoints: the recorded base LRs, the per-optimizer counters and ``plateau.state_dict()`` are
    saved under :attr:`state_key` as plain lists, dicts and floats (loadable with
    ``torch.load(weights_only=True)``); ``fit(ckpt_path=...)`` continues the exact LR sequence.

    Args:
        schedule: a schedule (multiplier of each group's base LR), or its ``to_config()`` dict.
        plateau: an optional :class:`lrplugins.Plateau` (or its ``to_config()`` dict) whose
            ``scale`` multiplies the schedule; needs ``monitor``.
        monitor: the logged metric fed to ``plateau`` at each validation end, e.g. ``"val_loss"``.
        optimizers: index (or indices) into ``trainer.optimizers`` of the optimizers this callback
            drives; ``None`` drives all of them.
        log_lr: also log the applied LR with ``pl_module.log`` at each update, under ``"lr"``
            (``"lr-{name}"`` when ``name`` is set), with ``/opt{i}`` added when the trainer has
            several optimizers and ``/pg{j}`` when an optimizer has several parameter groups.
        name: distinguishes the checkpoint state (and logged keys) of several instances.

    Raises:
        TypeError: ``schedule`` is not a schedule or config dict, ``plateau`` is not a Plateau.
        ValueError: ``plateau`` without ``monitor`` or the reverse; a bad ``optimizers`` index.

    >>> import lrplugins as lrp
    >>> cb = LRSchedulerCallback(
    ...     {"kind": "linear", "warmup_steps": "10%"},
    ...     plateau=lrp.Plateau(patience=2), monitor="val_loss", name="main",
    ... )
    >>> cb.schedule, cb.monitor
    (linear(warmup_steps='10%'), 'val_loss')
    """

    def __init__(
        self,
        schedule: Schedule | dict[str, Any],
        plateau: Plateau | dict[str, Any] | None = None,
        monitor: str | None = None,
        *,
        optimizers: int | Sequence[int] | None = None,
        log_lr: bool = False,
        name: str | None = None,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        schedule, plateau, monitor = callback_args(
            owner, schedule, plateau, monitor, example_metric="val_loss"
        )
        if not isinstance(log_lr, bool):
            raise TypeError(f"{owner}(): log_lr must be a bool, got {log_lr!r}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{owner}(): name must be a str or None, got {name!r}")
        self.schedule: Schedule = schedule
        self.plateau = plateau
        self.monitor = monitor
        self.optimizers: tuple[int, ...] | None = _indices(owner, optimizers)
        self.log_lr = log_lr
        self.name = name
        # Lightning formats state_key around every hook call it profiles; build it once
        self._state_key = self._generate_state_key(
            name=name, monitor=monitor, optimizers=self.optimizers
        )
        # runtime state, set up in on_train_start
        self._bound: Schedule | None = None
        self._driven: tuple[int, ...] = ()
        self._base_lrs: dict[int, list[float]] = {}
        self._counters: dict[int, int] | None = None  # manual optimization with several optimizers
        self._index: dict[int, int] = {}  # id(optimizer) -> index in trainer.optimizers
        self._log_keys: dict[int, list[str]] = {}
        self._n_optimizers = 0
        self._loaded: dict[str, Any] | None = None
        self._cache: tuple[int, float] = (-1, 0.0)  # (step, schedule(step))

    # -- identity and state ---------------------------------------------------------------------
    @property
    @override
    def state_key(self) -> str:
        """Key of this callback's state in ``checkpoint["callbacks"]``; unique per configuration."""
        return self._state_key

    @property
    def bound_schedule(self) -> Schedule | None:
        """The schedule bound from the trainer at train start (``None`` before training)."""
        return self._bound

    @override
    def state_dict(self) -> dict[str, Any]:
        """Base LRs, per-optimizer counters and plateau state, as JSON-compatible values."""
        bound = self._bound
        return {
            "version": _STATE_VERSION,
            "base_lrs": {str(i): list(lrs) for i, lrs in self._base_lrs.items()},
            "counters": None
            if self._counters is None
            else {str(i): n for i, n in self._counters.items()},
            "plateau": None if self.plateau is None else self.plateau.state_dict(),
            "total_steps": getattr(bound, "total_steps", None),
            "steps_per_epoch": getattr(bound, "steps_per_epoch", None),
        }

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the plateau now; base LRs and counters are taken over at train start."""
        self._loaded = dict(state_dict)
        saved_plateau = state_dict.get("plateau")
        if self.plateau is not None and saved_plateau is not None:
            self.plateau.load_state_dict(saved_plateau)
        elif saved_plateau is not None:
            rank_zero_warn(
                f"{type(self).__name__}: the checkpoint holds plateau state but this callback has "
                "no plateau; the saved plateau scale is dropped."
            )

    # -- hooks ----------------------------------------------------------------------------------
    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Check the setup, bind the schedule, record base LRs and set the LR of the first update."""
        owner = type(self).__name__
        opts = trainer.optimizers
        if not opts:
            raise MisconfigurationException(f"{owner}: the trainer has no optimizer to drive.")
        driven = tuple(range(len(opts))) if self.optimizers is None else self.optimizers
        for i in driven:
            if i >= len(opts):
                raise ValueError(
                    f"{owner}(): optimizers has index {i}, but the trainer has only "
                    f"{len(opts)} optimizer(s); got optimizers={self.optimizers!r}"
                )
        self._driven = driven
        self._index = {id(opt): i for i, opt in enumerate(opts)}
        self._check_conflicts(trainer, driven)

        # Bind: total updates and updates per epoch, as Lightning counts them on this rank.
        total = trainer.estimated_stepping_batches
        batches = trainer.num_training_batches
        spe = None
        if batches != float("inf") and batches > 0:
            spe = math.ceil(batches / trainer.accumulate_grad_batches)
        known = math.isfinite(total) and total >= 1  # -1: unsized loader, inf: endless run
        bound = self.schedule.bind(total_steps=int(total) if known else None, steps_per_epoch=spe)
        if not bound.is_bound:
            raise UnboundScheduleError(_unbound_message(owner, self.schedule, bound, total, spe))
        self._bound = bound
        self._cache = (-1, 0.0)

        loaded, self._loaded = self._loaded, None
        if loaded is not None:
            for key in ("total_steps", "steps_per_epoch"):
                old, new = loaded.get(key), getattr(bound, key, None)
                if old is not None and new is not None and old != new:
                    rank_zero_warn(
                        f"{owner}: the schedule was bound with {key}={old} when the checkpoint was "
                        f"saved, and is now bound with {key}={new} from the trainer; the LR "
                        "sequence after the resume follows the new value."
                    )
        self._base_lrs = self._take_base_lrs(owner, opts, driven, loaded)

        manual = not pl_module.automatic_optimization
        if manual and len(opts) > 1:
            saved = (loaded or {}).get("counters") or {}
            self._counters = {i: int(saved.get(str(i), 0)) for i in driven}
        else:
            self._counters = None

        self._n_optimizers = len(opts)
        self._log_keys = {i: self._keys(len(opts), i, len(opts[i].param_groups)) for i in driven}
        self._apply_all(trainer)

    @override
    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        """Set the LR of the update about to run (the authoritative write)."""
        i = self._find(trainer, optimizer)
        if i not in self._base_lrs:
            return  # an optimizer driven by another callback (see ``optimizers``)
        step = trainer.global_step if self._counters is None else self._counters[i]
        lrs = self._apply(trainer.optimizers[i], i, step)
        if self._counters is not None:
            self._counters[i] += 1
        if self.log_lr:
            for key, lr in zip(self._log_keys[i], lrs):
                # a float64 tensor, so the logged value is the applied one, not its float32 rounding
                pl_module.log(
                    key, torch.tensor(lr, dtype=torch.float64), on_step=True, on_epoch=False
                )

    @override
    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        """Pre-set the LR of the next update, so monitors reading it at batch start see it."""
        self._apply_all(trainer)

    @override
    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Feed the monitored metric (averaged over ranks) to the plateau, then update the LR."""
        if self.plateau is None or trainer.sanity_checking or trainer.state.fn != TrainerFn.FITTING:
            return
        metrics = trainer.callback_metrics
        if self.monitor not in metrics:
            raise RuntimeError(
                f"{type(self).__name__}(monitor={self.monitor!r}): no such metric at validation "
                f"end; available metrics: {sorted(metrics) or 'none'}. Log it in validation_step "
                f"with self.log({self.monitor!r}, value)."
            )
        value = torch.as_tensor(metrics[self.monitor], dtype=torch.float64).detach()
        if trainer.world_size > 1:
            value = trainer.strategy.reduce(
                value.to(trainer.strategy.root_device), reduce_op="mean"
            )
        self.plateau.update(float(value))
        if self._base_lrs:
            self._apply_all(trainer)

    # -- internals ------------------------------------------------------------------------------
    def _check_conflicts(self, trainer: pl.Trainer, driven: tuple[int, ...]) -> None:
        owner = type(self).__name__
        mine = {id(trainer.optimizers[i]) for i in driven}
        for config in trainer.lr_scheduler_configs:
            sched = config.scheduler
            if id(getattr(sched, "optimizer", None)) in mine:
                raise MisconfigurationException(
                    f"{owner}: configure_optimizers() also returned the LR scheduler "
                    f"{type(sched).__name__} for optimizer {self._index[id(sched.optimizer)]}, and "
                    "both would set the same learning rate every step. Keep one of them: remove the "
                    "scheduler from configure_optimizers(), or remove this callback (lrplugins."
                    "torch.LRScheduler is the scheduler form of the same schedules)."
                )
        for cb in trainer.callbacks:  # type: ignore[attr-defined]
            if cb is self or not isinstance(cb, LRSchedulerCallback):
                continue
            theirs = set(range(len(trainer.optimizers)) if cb.optimizers is None else cb.optimizers)
            both = sorted(theirs & set(driven))
            if both:
                raise MisconfigurationException(
                    f"{owner}: two LRSchedulerCallbacks (state keys {self.state_key!r} and "
                    f"{cb.state_key!r}) drive optimizer(s) {both}; give each a disjoint "
                    "optimizers=... or keep one."
                )

    def _take_base_lrs(
        self, owner: str, opts: list[Any], driven: tuple[int, ...], loaded: dict[str, Any] | None
    ) -> dict[int, list[float]]:
        saved = (loaded or {}).get("base_lrs") or {}
        out: dict[int, list[float]] = {}
        for i in driven:
            groups = opts[i].param_groups
            # resuming: the optimizer's lr is already scaled, so take the saved base
            if str(i) in saved:
                lrs = [float(x) for x in saved[str(i)]]
                if len(lrs) != len(groups):
                    raise ValueError(
                        f"{owner}: the checkpoint has base LRs for {len(lrs)} parameter group(s) of "
                        f"optimizer {i}, but it now has {len(groups)}; got base_lrs={lrs}"
                    )
            else:
                lrs = [float(g["lr"]) for g in groups]
            out[i] = lrs
        return out

    def _find(self, trainer: pl.Trainer, optimizer: Any) -> int:
        i = self._index.get(id(optimizer))
        if i is not None:
            return i
        for j, opt in enumerate(trainer.optimizers):  # a wrapper sharing the groups
            if getattr(optimizer, "param_groups", None) is opt.param_groups:
                self._index[id(optimizer)] = j
                return j
        raise RuntimeError(
            f"{type(self).__name__}: an optimizer that is not in trainer.optimizers stepped "
            f"({type(optimizer).__name__}); cannot tell which learning rate to set."
        )

    def _keys(self, n_optimizers: int, i: int, n_groups: int) -> list[str]:
        """The keys ``log_lr`` logs optimizer ``i``'s groups under."""
        base = "lr" if self.name is None else f"lr-{self.name}"
        if n_optimizers > 1:
            base = f"{base}/opt{i}"
        return [base] if n_groups == 1 else [f"{base}/pg{j}" for j in range(n_groups)]

    def _multiplier(self, step: int) -> float:
        cached_step, value = self._cache
        if step != cached_step:
            value = self._bound(step)  # type: ignore[misc] # bound in on_train_start
            self._cache = (step, value)
        return value

    def _apply(self, optimizer: Any, i: int, step: int) -> list[float]:
        mult = self._multiplier(step)
        scale = 1.0 if self.plateau is None else self.plateau.scale
        groups, bases = optimizer.param_groups, self._base_lrs[i]
        if len(groups) > len(
            bases
        ):  # a group added in training (BaseFinetuning): its lr is its base
            bases.extend(float(g["lr"]) for g in groups[len(bases) :])
            if self.log_lr:
                self._log_keys[i] = self._keys(self._n_optimizers, i, len(groups))
        lrs = []
        for group, base in zip(groups, bases):
            lr = base * mult * scale
            if isinstance(group["lr"], torch.Tensor):
                group["lr"].fill_(lr)
            else:
                group["lr"] = lr
            lrs.append(lr)
        return lrs

    def _apply_all(self, trainer: pl.Trainer) -> None:
        opts = trainer.optimizers
        for i in self._driven:
            step = trainer.global_step if self._counters is None else self._counters[i]
            self._apply(opts[i], i, step)


def _indices(owner: str, value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, int) and not isinstance(value, bool) else value
    try:
        out = tuple(items)
    except TypeError:
        raise TypeError(
            f"{owner}(): optimizers must be an int, a list of ints or None, got {value!r}"
        ) from None
    if not out or any(not isinstance(i, int) or isinstance(i, bool) or i < 0 for i in out):
        raise ValueError(
            f"{owner}(): optimizers must be indices >= 0 into trainer.optimizers, got {value!r}"
        )
    if len(set(out)) != len(out):
        raise ValueError(f"{owner}(): optimizers has a repeated index, got {value!r}")
    return out


def _unbound_message(
    owner: str, schedule: Schedule, bound: Schedule, total: Any, spe: int | None
) -> str:
    missing = "; ".join(bound.missing)
    hints = []
    if any(m.startswith("total_steps") or "total_steps" in m for m in bound.missing):
        hints.append(
            f"the trainer cannot tell the run length (estimated_stepping_batches={total!r}): set "
            "Trainer(max_steps=N), give the train dataloader a __len__ and a finite max_epochs, or "
            "pass total_steps=N to the schedule"
        )
    if any("steps_per_epoch" in m for m in bound.missing) and spe is None:
        hints.append(
            "an 'Nep' duration needs the number of batches per epoch: give the train dataloader a "
            "__len__ (or limit_train_batches=N), or use step counts instead of epochs"
        )
    return f"{owner}: cannot bind {schedule!r}: missing {missing}. " + "; ".join(hints) + "."
