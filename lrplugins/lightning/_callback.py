"""The callback: :class:`LRSchedulerCallback` wires a Lightning ``Trainer``'s fit to a
:class:`lrplugins.RunState` (run lifecycle, plateau, cooldown, resume) and writes the schedule's
values into the optimizers' parameter groups."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import Callback
from lightning.pytorch.trainer.states import TrainerFn
from lightning.pytorch.utilities import rank_zero_warn
from lightning.pytorch.utilities.exceptions import MisconfigurationException
from typing_extensions import override

from .._param_groups import write as write_groups
from .._plateau import Plateau
from .._run import Profile, RunState, RunViews, UnknownClockError, adapter_run
from .._schedules import Schedule
from ._trainer import (
    _PACKAGES,
    _batches,
    _can_validate,
    _classes,
    _hint,
    _max_steps_binds,
    _run_length,
    _validates_after,
)

_SWA = _classes("StochasticWeightAveraging")
_BACKBONE = _classes("BackboneFinetuning")

if TYPE_CHECKING or len(_PACKAGES) == 1:
    _Callback = Callback
else:

    class _Callback(Callback, _PACKAGES[1].Callback):  # type: ignore[misc]
        """A callback of both packages, so ``pytorch_lightning.Trainer`` (and its LightningCLI)
        accept it as theirs."""


class LRSchedulerCallback(RunViews, _Callback):
    """Set each parameter group's LR (and momentum, weight decay) before every optimizer update.

    ``lr = base_lr * schedule(step) * plateau.scale`` with ``step = trainer.global_step`` (optimizer
    updates, so gradient accumulation is handled; with several optimizers in manual optimization,
    each counts its own). The behaviour it shares with every adapter (binding, horizon changes on
    resume, the metric rules, cooldowns, per-group schedules, the checkpoint format) is
    :class:`lrplugins.RunState`'s (the docs' run-state page). Lightning specifics:

    * the run length is ``trainer.estimated_stepping_batches``, read in ``on_train_start``;
    * the LR of the next update is written as soon as one is done, so ``LearningRateMonitor``
      (also ``log_momentum``, ``log_weight_decay``) logs what each update used, by group name;
    * the monitor is fed after each validation that logged it, or at the end of each training epoch
      for a training metric, averaged over ranks (a metric logged on some ranks only is an error);
    * the state is saved in checkpoints under :attr:`state_key` (``weights_only=True``-safe);
    * a second ``fit`` on the same Trainer (``trainer.fit_loop.max_epochs`` raised) continues the
      run from this callback's memory, a longer run being a horizon change as on resume; a
      :meth:`cooldown` asked for outside a fit (before it, also with ``ckpt_path``, or after one
      ended) starts at the next fit's first update;
    * other owners of the LR are refused at train start (a scheduler from
      ``configure_optimizers()``, ``StochasticWeightAveraging``, ``BackboneFinetuning``);
      Lightning's range test (``LearningRateFinder``, ``Tuner.lr_find``) runs beside it; an LR
      written into the groups during training (by the module, another callback) is replaced by the
      schedule's before the update, with a warning once per run;
    * its warnings are ``rank_zero_warn``'s, as Lightning's own: one per run, not one per process;
    * it is a ``pytorch_lightning`` callback too (the package's older name), when installed.

    On the samples or tokens clock (a schedule with ``"Nsp"`` / ``"Ntok"`` durations, e.g.
    ``lrplugins.wsd(total_steps="300Btok", warmup_steps="2Btok")``) the update's LR is
    ``base_lr * schedule(n)`` with ``n`` the samples (tokens) consumed by all ranks before it:
    ``count(batch)`` is taken at the end of every training batch, the micro-batches of one update
    (``accumulate_grad_batches``) are summed, then the ranks (one all-reduce per update with
    several processes), and the clock moves on after the update. The clock is saved in
    checkpoints; a resume continues it. With tensor (model) parallelism, where several ranks see
    the same batch, make ``count`` return this rank's share.

    Args:
        schedule: a schedule (multiplier of each group's base LR), its ``to_config()`` dict, or a
            dict from group names / indices / ``"*"`` to schedules.
        plateau: an optional :class:`lrplugins.Plateau` (or its config dict); needs ``monitor``.
        monitor: the logged metric fed to ``plateau``, e.g. ``"val_loss"``.
        momentum: schedule(s) multiplying each group's momentum (or ``betas[0]``).
        weight_decay: schedule(s) multiplying each group's ``weight_decay``.
        strict: a missing monitored metric raises (``True``) or warns once and is skipped.
        horizon: ``"stretch"`` or ``"rebind"``: what a resume with a new run length does.
        optimizers: index (or indices) into ``trainer.optimizers`` of the optimizers this callback
            drives; ``None`` drives all of them.
        log_lr: also ``pl_module.log`` the applied LR at each update, under ``"lr"`` (``"lr-{name}"``
            with ``name``), plus ``/opt{i}`` with several optimizers and ``/pg{j}`` with several
            groups.
        name: distinguishes the checkpoint state (and logged keys) of several instances.
        count: on the samples / tokens clock, ``count(batch) -> int``: the samples (tokens) in
            one training batch on this rank, an int >= 0 or a 0-d integer tensor (summed on the
            device, read once per update). Default on the samples clock: the batch's leading
            dimension (of the first tensor in it: a tensor, tuple/list or dict). Required on
            the tokens clock, e.g. ``count=lambda batch: batch["input_ids"].numel()`` (or
            ``batch["attention_mask"].sum()`` to leave out padding). Refused on the update clock.
            A strategy that pickles the callbacks (``"ddp_spawn"``) needs a module-level
            function rather than a lambda.

    >>> import lrplugins as lrp
    >>> cb = LRSchedulerCallback(
    ...     {"kind": "linear", "warmup_steps": "10%"},
    ...     plateau=lrp.Plateau(patience=2), monitor="val_loss", name="main",
    ... )
    >>> cb.schedule, cb.monitor
    (linear(warmup_steps='10%'), 'val_loss')
    """

    __module__ = "lrplugins.lightning"  # the public path, which pickles and saved configs record

    def __init__(
        self,
        schedule: Schedule | dict[str, Any],
        plateau: Plateau | dict[str, Any] | None = None,
        monitor: str | None = None,
        *,
        momentum: Schedule | dict[str, Any] | None = None,
        weight_decay: Schedule | dict[str, Any] | None = None,
        strict: bool = True,
        horizon: str = "stretch",
        optimizers: int | Sequence[int] | None = None,
        log_lr: bool = False,
        name: str | None = None,
        count: Callable[[Any], Any] | None = None,
    ) -> None:
        super().__init__()
        owner = type(self).__name__
        self._run = adapter_run(
            _PROFILE,
            owner,
            schedule,
            plateau,
            monitor,
            momentum=momentum,
            weight_decay=weight_decay,
            strict=strict,
            horizon=horizon,
        )
        if not isinstance(log_lr, bool):
            raise TypeError(f"{owner}(): log_lr must be a bool, got {log_lr!r}")
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{owner}(): name must be a str or None, got {name!r}")
        if count is not None and not callable(count):
            raise TypeError(
                f"{owner}(): count must be a callable, batch -> the samples (tokens) in it on "
                f"this rank, or None; got {count!r}"
            )
        self.count = count
        _check_count(owner, self._run, count, "")
        self.optimizers: tuple[int, ...] | None = _indices(owner, optimizers)
        self.log_lr = log_lr
        self.name = name
        # Lightning formats state_key around every hook call it profiles; build it once
        self._state_key = self._generate_state_key(
            name=name, monitor=monitor, optimizers=self.optimizers
        )
        self._trainer: pl.Trainer | None = None
        self._driven: tuple[int, ...] = ()
        self._counters: dict[int, int] | None = None  # manual optimization, several optimizers
        self._index: dict[int, int] = {}  # id(optimizer) -> index in trainer.optimizers
        self._log_keys: dict[int, list[str]] = {}
        self._loaded: dict[str, Any] | None = None  # adapter extras of a loaded checkpoint
        self._watched: dict[int, tuple[Any, Any]] = {}  # i -> (optimizer, its add_param_group)
        self._before: Any = None  # the monitored value when the current validation started
        self._validated_epoch = -1
        # where the monitor comes from: "validation" (a validation logged it, the sanity check
        # included) or "training" (fed at a training epoch's end); None: not seen yet
        self._metric_kind: str | None = None
        # samples / tokens clock: counts of the batches since the last update, on this rank
        self._counted = 0
        self._counted_tensors: list[torch.Tensor] = []
        self._bad_count = ""  # the first count of those batches that is negative
        self._stepped = False  # a driven optimizer stepped in the current batch
        self._run.on_change = self._changed

    # -- identity, views and state --------------------------------------------------------------
    @property
    @override
    def state_key(self) -> str:
        """Key of this callback's state in ``checkpoint["callbacks"]``; unique per configuration."""
        return self._state_key

    def _next_update(self) -> int | dict[int, int] | None:
        """The next update's index; each optimizer's own where they count separately."""
        trainer, counters = self._trainer, self._counters
        if trainer is None:
            return None
        return trainer.global_step if counters is None else dict(counters)

    @override
    def state_dict(self) -> dict[str, Any]:
        """The run state, with the per-optimizer counters of manual optimization."""
        counters = self._counters
        return self._run.state_dict(
            counters=None if counters is None else {str(i): n for i, n in counters.items()},
            step=self._run.step,  # tells a checkpoint of an earlier update from this state
            fed_in="batches",  # "fed" counts training batches (states without it: epochs)
            metric=self._metric_kind,
        )

    @override
    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the plateau and base LRs now; the schedule is taken over at train start.

        A state equal to this callback's own (the same update included) is nothing to restore:
        Lightning's range test (``LearningRateFinder``, ``Tuner.lr_find``) saves the callbacks'
        states before its sweep and loads them back after it, and the real fit that follows is
        not a resume.
        """
        if state_dict == self.state_dict():
            return
        self._loaded = self._run.load_state_dict(state_dict)

    # -- hooks ----------------------------------------------------------------------------------
    @override
    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Forget where the monitor came from in an earlier fit (the sanity check tells again)."""
        self._metric_kind = None

    @override
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Check the setup, begin the run, record base LRs and set the LR of the first update.

        The run is a resume (a checkpoint was loaded), fresh (update 0), a continuation (the same
        Trainer trains more: fit, raise ``max_epochs``, fit again) or a foreign resume (a
        checkpoint without this callback's state: the base LRs are the groups' ``initial_lr``).
        """
        owner = type(self).__name__
        run, loaded, self._loaded = self._run, self._loaded, None
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
        self._trainer, self._driven = trainer, driven
        self._index = {id(opt): i for i, opt in enumerate(opts)}
        self._check_conflicts(trainer, driven)
        if run.monitor is not None and run.monitor.startswith("val"):
            run.check_feedable(*_can_validate(trainer, pl_module))

        self._counters = self._start_counters(trainer, pl_module, driven, loaded)
        total, spe = _run_length(trainer)
        known = math.isfinite(total) and total >= 1  # -1: unsized loader, inf: endless run
        counters = self._counters
        hint = _hint(total, spe)
        if counters is not None and _max_steps_binds(trainer, spe):
            # global_step counts every optimizer's updates: max_steps says nothing of one's own
            known = False
            hint = (
                f"Trainer(max_steps={trainer.max_steps}) counts the updates of all "
                f"{len(opts)} optimizers of this manual optimization (Lightning's global_step), "
                "so how many of them optimizer "
                f"{', '.join(map(str, driven))} takes is not known: pass total_steps= to the "
                "schedule of each callback (e.g. max_steps // "
                f"{len(opts)} when every optimizer steps once per batch), or end the run with "
                "max_epochs instead."
            )
        step = trainer.global_step if counters is None else max(counters.values())
        try:  # Lightning counts no samples / tokens: a foreign resume on that clock is refused
            decision = run.begin(
                step,
                int(total) if known else None,
                spe,
                at=None if counters is None else dict(counters),
                hint=hint if run.clock == "steps" else "",  # else the total is its own
            )
        except UnknownClockError as exc:
            raise MisconfigurationException(f"{exc} (state key {self.state_key!r})") from None
        if run.clock != "steps" or self.count is not None:  # the checkpoint's clock may differ
            _check_count(owner, run, self.count, " (the checkpoint's)")
        self._counted, self._counted_tensors, self._bad_count = 0, [], ""
        self._stepped = False
        for i in driven:
            groups = opts[i].param_groups
            if decision == "foreign":  # resuming, but not from this callback's state
                base = self._foreign_base(i, groups, step)
                run.take_groups(i, groups, base_lrs=base, optimizer=opts[i])
            else:
                run.take_groups(i, groups, optimizer=opts[i])
        self._log_keys = {i: self._keys(len(opts), i, len(opts[i].param_groups)) for i in driven}
        self._validated_epoch = -1
        self._check_missed(trainer, pl_module, loaded)
        self._watch(trainer)
        self._apply_all(trainer)

    @override
    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: torch.optim.Optimizer
    ) -> None:
        """Set the LR of the update about to run (the authoritative write)."""
        i = self._find(trainer, optimizer)
        if i not in self._driven:
            return  # an optimizer driven by another callback (see ``optimizers``)
        step = trainer.global_step if self._counters is None else self._counters[i]
        # an LR written since (by the module, another callback) is replaced, warned once per run
        self._run.check_outside(i, trainer.optimizers[i].param_groups, step, stacklevel=4)
        lrs = self._apply(trainer.optimizers[i], i, step)
        self._stepped = True
        if self._counters is not None:
            self._counters[i] += 1
        if self.log_lr:
            if len(self._log_keys[i]) != len(lrs):  # a group added in training
                self._log_keys[i] = self._keys(len(trainer.optimizers), i, len(lrs))
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
        """Count the batch on the samples / tokens clock and, after an update, move the clock on;
        pre-set the LR of the next update, so monitors reading it at batch start see it."""
        if self._run.clock != "steps" and self._trainer is not None:
            self._count_batch(trainer, batch, batch_idx)
            if self._stepped:
                self._stepped = False
                self._run.advance(self._consumed(trainer))
        self._apply_all(trainer)

    @override
    def on_validation_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._run.monitor is not None:
            self._before = trainer.callback_metrics.get(self._run.monitor)

    @override
    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Feed a monitored metric that this validation logged (averaged over ranks); the sanity
        check feeds nothing, but a monitor it logged is a validation metric."""
        monitor = self._run.monitor
        if monitor is None or trainer.state.fn != TrainerFn.FITTING:
            return
        value = trainer.callback_metrics.get(monitor)
        fresh = value is not None and value is not self._before
        if fresh:
            self._metric_kind = "validation"
        if trainer.sanity_checking:
            return
        self._validated_epoch = trainer.current_epoch
        self._feed(trainer, value if fresh else None, final=False)

    @override
    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Feed a training metric (one validation does not log) with this epoch's value."""
        monitor, fed = self._run.monitor, self._run.fed_at
        progress = _batches(trainer)
        if monitor is None or (
            fed is not None and fed > progress.total.processed - progress.current.processed
        ):
            return  # fed in this epoch (by a validation)
        value = trainer.callback_metrics.get(monitor)
        if self._validated_epoch != trainer.current_epoch and (
            self._metric_kind == "validation"
            or (value is None and _can_validate(trainer, pl_module)[0])
        ):
            return  # a validation metric (a value left from an earlier one), no validation here
        if value is not None:
            self._metric_kind = "training"
        self._feed(trainer, value, final=True)

    @override
    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        """An interrupted fit leaves the callback inert (a later validate() changes nothing)."""
        self._end()

    @override
    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """The run ended: a :meth:`cooldown` from now on waits for the next fit."""
        self._end()

    @override
    def teardown(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """A checkpoint loaded by a fit that never trained does not leak into the next fit."""
        self._end()

    # -- internals ------------------------------------------------------------------------------
    def _foreign_base(self, i: int, groups: list[dict[str, Any]], step: int) -> list[float]:
        """Base LRs on a resume whose checkpoint holds no state of this callback.

        The restored ``lr`` is already scheduled, so it is never the base: a group's
        ``initial_lr`` (set by torch schedulers, restored with the optimizer) is; without it, the
        resume is refused rather than scheduling the LR twice.
        """
        if all("initial_lr" in g for g in groups):
            rank_zero_warn(
                f"{type(self).__name__}: resuming at update {step} from a checkpoint without "
                f"this callback's state (key {self.state_key!r}); the base LRs are the groups' "
                f"initial_lr {[float(g['initial_lr']) for g in groups]}."
            )
            return [float(g["initial_lr"]) for g in groups]
        raise MisconfigurationException(
            f"{type(self).__name__}: resuming at update {step} from a checkpoint that holds no "
            f"state of this callback (key {self.state_key!r}: was it renamed, or its monitor, "
            "plateau or optimizers changed, or added to this run later?). The optimizer's "
            "restored lr is already scheduled and cannot serve as the base LR. Resume with the "
            "callback that wrote the checkpoint, or give each param group its base LR as "
            f"'initial_lr' in configure_optimizers() (optimizer {i})."
        )

    def _check_missed(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, loaded: dict[str, Any] | None
    ) -> None:
        """On a resume, report the evaluation Lightning skipped (``check_missed_evaluation``).

        Positions are training batches done (``batch_progress.total.processed``): the plateau is
        fed at that count (:meth:`_feed`). A checkpoint written at a batch's end
        (``on_train_batch_end``, e.g. ``ModelCheckpoint(every_n_train_steps=...)``), before the
        validation due after that batch (mid-epoch or at the epoch's end) or before that epoch's
        end (a training metric): Lightning resumes after it and does not run it. A checkpoint
        written after the validation (``save_on_train_epoch_end=False``) or at the epoch's end
        misses nothing. Whether the monitor is a validation metric is where it was seen: the
        checkpoint's record, else this run's sanity check, else whether the run can validate.
        """
        run = self._run
        if loaded is not None:
            if loaded.get("metric") in ("validation", "training"):
                self._metric_kind = self._metric_kind or loaded["metric"]
            if loaded.get("fed_in") != "batches" and run.fed_at is not None:
                # a state written before: "fed" is the epoch whose end fed the plateau
                batches = trainer.num_training_batches
                run.fed_at = (run.fed_at + 1) * int(batches) if math.isfinite(batches) else None
        if run.monitor is None:
            return
        progress = _batches(trainer)
        done = progress.total.processed
        if done == 0 or progress.total.completed != done - 1:
            return  # not written at a batch's end: nothing was skipped
        last = bool(progress.is_last_batch)
        epoch = trainer.current_epoch - 1 if last else trainer.current_epoch
        in_epoch = progress.current.processed
        kind = self._metric_kind
        if kind is None:
            kind = "validation" if _can_validate(trainer, pl_module)[0] else "training"
        if kind == "training":
            due, what = last, f"the end of epoch {epoch} (the training metric's value)"
        else:
            due = _validates_after(trainer, epoch, in_epoch, done, last)
            what = (
                f"epoch {epoch}'s validation (after its last batch)"
                if last
                else f"the validation after batch {in_epoch} of epoch {epoch}"
            )
        run.check_missed_evaluation(
            done if due else None,
            done,
            unit="training batch",
            evaluation=what,
            fix="Save checkpoints at epochs' ends (ModelCheckpoint's default) to avoid it."
            if kind == "training"
            else "Save checkpoints after validation (ModelCheckpoint(save_on_train_epoch_end="
            "False)) to avoid it.",
        )

    def _feed(self, trainer: pl.Trainer, value: Any, *, final: bool) -> None:
        run = self._run
        strategy = trainer.strategy  # a value that is not one number: raised on every rank
        value = run.agree(
            value,
            trainer.world_size,
            lambda xs: strategy.reduce(
                torch.tensor(xs, dtype=torch.float64, device=strategy.root_device), reduce_op="sum"
            ).tolist(),
        )
        if value is None:
            if final:  # an epoch that should have had it
                run.metric(trainer.callback_metrics)
            return
        run.observe(value, at=_batches(trainer).total.processed)

    def _count_batch(self, trainer: pl.Trainer, batch: Any, batch_idx: int) -> None:
        """Add this rank's count of one training batch to those of the update in progress."""
        owner = type(self).__name__
        n = _leading(owner, batch) if self.count is None else self.count(batch)
        if isinstance(n, torch.Tensor):
            if n.ndim != 0 or n.is_floating_point() or n.is_complex() or n.dtype == torch.bool:
                raise TypeError(
                    f"{owner}: count(batch) must give the {self._run.clock} in the batch as an "
                    f"int >= 0 or a 0-d integer tensor; got a tensor of shape "
                    f"{tuple(n.shape)} and dtype {n.dtype} for batch {batch_idx}"
                )
            self._counted_tensors.append(n)
            return
        if isinstance(n, bool) or not isinstance(n, numbers.Integral):
            raise TypeError(
                f"{owner}: count(batch) must give the {self._run.clock} in the batch as an int "
                f">= 0 or a 0-d integer tensor; got {n!r} for batch {batch_idx}"
            )
        if n < 0 and not self._bad_count:
            self._bad_count = f"{int(n)} for batch {batch_idx}"
            if trainer.world_size == 1:
                self._consumed(trainer)  # raises
        self._counted += int(n)

    def _consumed(self, trainer: pl.Trainer) -> int:
        """The samples / tokens the update just taken consumed on all ranks (one all-reduce with
        several processes; one read of the device with tensor counts)."""
        local, tensors, bad = self._counted, self._counted_tensors, self._bad_count
        self._counted, self._counted_tensors, self._bad_count = 0, [], ""
        world = trainer.world_size
        if world == 1 and not tensors:
            n, negative = local, int(bool(bad))
        else:
            device = trainer.strategy.root_device
            total = torch.tensor([local, int(bool(bad))], dtype=torch.int64, device=device)
            if tensors:
                counts = torch.stack([t.to(device=device, dtype=torch.int64) for t in tensors])
                total += torch.stack([counts.sum(), (counts < 0).sum()])
            if world > 1:
                if torch.distributed.is_available() and torch.distributed.is_initialized():
                    torch.distributed.all_reduce(total)  # a sum, without reduce()'s barrier
                else:
                    total = trainer.strategy.reduce(total, reduce_op="sum")
            n, negative = (int(x) for x in total.tolist())
        if negative:
            where = bad or (
                "a negative tensor for a batch of this update" if tensors else "on another rank"
            )
            raise ValueError(
                f"{type(self).__name__}: count(batch) must give the {self._run.clock} in the "
                f"batch as an int >= 0, got {where}"
            )
        return n

    def _end(self) -> None:
        """The run ended, raised, or never began: stop writing, let the engine close it."""
        self._unwatch()
        self._trainer, self._driven = None, ()
        self._loaded = None
        self._run.end()

    def _start_counters(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        driven: tuple[int, ...],
        loaded: dict[str, Any] | None,
    ) -> dict[int, int] | None:
        """Each optimizer's own update count, in manual optimization with several optimizers
        (``trainer.global_step`` counts all their updates): the checkpoint's on resume, this
        callback's own when the same Trainer trains more, 0 for a new run; unknown (refused) on
        a resume from a checkpoint without this callback's state."""
        if pl_module.automatic_optimization or len(trainer.optimizers) <= 1:
            return None
        step = trainer.global_step
        if loaded is not None:
            saved = loaded.get("counters") or {}
        elif step > 0 and self._counters is not None:
            saved = {str(i): n for i, n in self._counters.items()}
        elif step > 0:
            raise MisconfigurationException(
                f"{type(self).__name__}: resuming at update {step} (Lightning's global step, "
                f"in manual optimization with {len(trainer.optimizers)} optimizers) from a "
                f"checkpoint that holds no state of this callback (key {self.state_key!r}): how "
                "many of those updates each optimizer took is not known, so neither is where "
                "its schedule stands. Resume with the callback that wrote the checkpoint."
            )
        else:
            saved = {}
        return {i: int(saved.get(str(i), 0)) for i in driven}

    def _watch(self, trainer: pl.Trainer) -> None:
        """Write a group's LR as soon as ``optimizer.add_param_group`` adds it.

        Whoever adds the group (``BaseFinetuning`` at epoch start, the module, a callback), its
        ``lr`` then holds the LR of its first update, so ``LearningRateMonitor`` logs that at the
        join update, in whatever order the callbacks run.
        """
        self._unwatch()
        for i in self._driven:
            opt = trainer.optimizers[i]
            add = opt.add_param_group

            def add_param_group(group: dict[str, Any], *, _i: int = i, _add: Any = add) -> None:
                _add(group)
                if self._trainer is not None and _i in self._driven:
                    self._apply(self._trainer.optimizers[_i], _i, self._step_of(self._trainer, _i))

            setattr(opt, "add_param_group", add_param_group)  # noqa: B010 - an instance attribute
            self._watched[i] = (opt, add_param_group)

    def _unwatch(self) -> None:
        for opt, wrapper in self._watched.values():
            if vars(opt).get("add_param_group") is wrapper:
                del opt.add_param_group
        self._watched = {}

    def _step_of(self, trainer: pl.Trainer, i: int) -> int:
        """The index of optimizer ``i``'s next update."""
        return trainer.global_step if self._counters is None else self._counters[i]

    def _changed(self) -> None:
        if self._trainer is not None and self._driven:
            self._apply_all(self._trainer)

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
            if isinstance(cb, _SWA):
                raise MisconfigurationException(
                    f"{owner}: StochasticWeightAveraging sets the learning rate too (its SWALR, "
                    "from swa_epoch_start on), and both would write it every update. Keep one: "
                    "for a constant SWA learning rate at the end, give this callback a schedule "
                    "that ends there (e.g. lrplugins.sequence), or remove this callback."
                )
            if isinstance(cb, _BACKBONE):
                raise MisconfigurationException(
                    f"{owner}: BackboneFinetuning sets the backbone's learning rate too (at every "
                    "epoch from unfreeze_backbone_at_epoch on), and both would write it. Keep one: "
                    "to unfreeze the backbone on a schedule of its own, add its parameter group "
                    "with a name when it unfreezes (a BaseFinetuning subclass calling "
                    "unfreeze_and_add_param_group, or optimizer.add_param_group({..., 'name': "
                    "'backbone'})) and give this callback a schedule per group, e.g. "
                    "schedule={'backbone': lrplugins.linear(warmup_steps=100), '*': "
                    "lrplugins.cosine()}: a group that joins during training runs its schedule "
                    "from its first update; or remove this callback."
                )
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

    def _apply(self, optimizer: Any, i: int, step: int) -> list[float]:
        run = self._run
        run.step = step
        return write_groups(run, i, run.now(step), optimizer.param_groups)

    def _apply_all(self, trainer: pl.Trainer) -> None:
        opts = trainer.optimizers
        for i in self._driven:
            self._apply(opts[i], i, self._step_of(trainer, i))


def _check_count(owner: str, run: RunState, count: Any, where: str) -> None:
    """``count`` fits the run's clock: required on the tokens clock, refused on the update clock."""
    if run.clock == "steps" and count is not None:
        raise ValueError(
            f"{owner}(): count= is for a schedule on the samples or tokens clock (durations in "
            f"'Nsp'/'Ntok'); {run.schedule!r}{where} counts optimizer updates: drop count="
        )
    if run.clock == "tokens" and count is None:
        raise TypeError(
            f"{owner}(): the schedule{where} runs on the tokens clock, and the tokens of a batch "
            "cannot be guessed: pass count=, the tokens in one training batch on this rank, "
            'e.g. count=lambda batch: batch["input_ids"].numel() (or '
            'batch["attention_mask"].sum() to leave out padding)'
        )


def _leading(owner: str, batch: Any) -> int:
    """The samples in ``batch``: the leading dimension of the first tensor in it (depth first
    through tuples, lists and dicts)."""
    pending = [batch]
    while pending:
        item = pending.pop(0)
        if isinstance(item, torch.Tensor):
            if item.ndim > 0:
                return int(item.shape[0])
            found = "its first tensor is 0-d"
            break
        if isinstance(item, Mapping):
            pending[:0] = list(item.values())
        elif isinstance(item, (tuple, list)):
            pending[:0] = list(item)
    else:
        found = "it holds no tensor"
    raise TypeError(
        f"{owner}: on the samples clock the default count is the leading dimension of the "
        f"batch's first tensor, and this batch ({type(batch).__name__}) has none ({found}): pass "
        "count=, the samples in one training batch on this rank, e.g. "
        "count=lambda batch: len(batch.ids)"
    )


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


def _rank_zero(message: str, stacklevel: int = 1) -> None:
    """The engine's warnings, on global rank 0 only (as Lightning's own): one per run."""
    rank_zero_warn(message, stacklevel=stacklevel + 4)


_rank_zero.__module__ = "lrplugins.lightning"  # where a pickled callback's engine finds it


_PROFILE = Profile(warn=_rank_zero)
