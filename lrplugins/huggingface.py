"""Hugging Face adapter: a ``transformers.Trainer`` callback that owns the learning rate.

``Trainer(..., callbacks=[LRSchedulerCallback(schedule)])`` is all it takes, whatever
``lr_scheduler_type`` says; the run state lives in the core (:class:`lrplugins.RunState`), this
module reads the step and metrics from the Trainer and writes the values back.

>>> import lrplugins as lrp
>>> from lrplugins.huggingface import LRSchedulerCallback
>>> cb = LRSchedulerCallback(lrp.wsd(decay_steps="20%"), plateau=lrp.Plateau(patience=3),
...                          monitor="eval_loss")
>>> cb.schedule, cb.monitor
(wsd(), 'eval_loss')

The other way in is the scheduler form of the same schedules, for a bound schedule and no plateau:
``Trainer(optimizers=(opt, lrplugins.torch.LRScheduler(opt, schedule)))``.
"""

from __future__ import annotations

import math
import sys
import warnings
import weakref
from typing import Any

try:
    import torch
    import transformers
    from torch.optim.lr_scheduler import LambdaLR
    from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
except ImportError as exc:  # pragma: no cover - exercised in a subprocess by the tests
    raise ImportError(
        f"lrplugins.huggingface needs transformers, accelerate and torch ({exc}); install them with: "
        "pip install 'lrplugins[huggingface]'"
    ) from exc

from ._compat import check_framework, parse_version
from ._finder_huggingface import find_lr
from ._param_groups import write as write_groups
from ._plateau import Plateau
from ._run import FORMAT, Profile, RunState, RunViews, adapter_run
from ._schedules import Schedule

check_framework("lrplugins.huggingface")

__all__ = ["LRSchedulerCallback", "find_lr"]

_STATE_KEY = "lrplugins"
# transformers < 4.51 logs get_last_lr() after lr_scheduler.step(): the next update's LR
_LOGS_AFTER_SCHEDULER_STEP = parse_version(transformers.__version__) < (4, 51)


class _Multiplier:
    """The ``lr_lambda`` of group ``index`` in the Trainer's ``LambdaLR``: its LR multiplier.

    ``LambdaLR.state_dict()`` saves the ``__dict__`` of a callable object (and only that), and
    ``load_state_dict()`` writes it back into whatever lambdas the new scheduler has. So the
    ``__dict__`` of group 0's lambda holds one JSON-compatible record, the run state
    (:meth:`RunState.state_dict`, with the update of the last evaluation fed to the plateau),
    refreshed whenever it changes, and the live run sits in a slot.
    ``scheduler.pt`` therefore loads with ``torch.load(weights_only=True)``.
    """

    __slots__ = ("__dict__", "index", "run")

    def __init__(self, run: RunState, index: int) -> None:
        self.run, self.index = run, index

    def __call__(self, step: int) -> float:
        run = self.run
        return run.group_multiplier(run.groups[0][self.index], run.now(step))

    def refresh(self, record: dict[str, Any]) -> None:
        self.__dict__[_STATE_KEY] = record


class _Lambdas(list):  # type: ignore[type-arg]
    """The ``LambdaLR``'s ``lr_lambdas``: reading it (``get_lr`` iterates it, ``state_dict`` takes
    its length) first gives a group added since (``add_param_group``) its multiplier and base LR,
    so the scheduler steps and saves also when a group was added after ``optimizer.step()``."""

    def __init__(self, owner: LRSchedulerCallback, items: Any) -> None:
        super().__init__(items)
        self.owner = owner  # the callback whose run these lambdas are
        self._join = owner._join

    def __iter__(self) -> Any:
        self._join()
        return super().__iter__()

    def __len__(self) -> int:
        self._join()
        return super().__len__()


class LRSchedulerCallback(RunViews, TrainerCallback):
    """Drive every parameter group's LR (and momentum, weight decay) from a schedule.

    ``lr = base_lr * schedule(step) * plateau.scale`` with ``step`` the optimizer updates taken
    (``gradient_accumulation_steps`` is handled), or the tokens seen (below). The behaviour every
    adapter shares (binding, horizon changes on resume, the metric rules, cooldowns, per-group
    schedules) is :class:`lrplugins.RunState`'s (the docs' run-state page). Hugging Face specifics:

    * at ``on_train_begin`` the Trainer's own ``LambdaLR`` (any ``lr_scheduler_type`` but
      ``"reduce_lr_on_plateau"``/``"greedy"``) gets this run as its ``lr_lambdas``, so the Trainer
      steps and checkpoints it and logs ``learning_rate`` = the LR each update used; its
      ``warmup_steps``, ``lr_scheduler_type`` and ``lr_scheduler_kwargs`` are not used (one warning
      says so; put the warmup in the schedule); a scheduler given to the Trainer
      (``optimizers=(opt, scheduler)``, seen when this callback is in ``Trainer(callbacks=...)``;
      any that no ``lr_scheduler_type`` builds otherwise) and a second callback of this class are
      refused at ``on_train_begin``: both would set the LR (pass ``optimizers=(opt, None)``);
      an LR written into the optimizer's groups by anything else during training (another
      callback, the training step) is replaced by the schedule's before the next update, with a
      warning once per run;
    * the run length is ``state.max_steps``;
    * a schedule in tokens (``"Ntok"`` durations, ``total_steps="300Btok"``) runs on the Trainer's
      own ``state.num_input_tokens_seen`` (summed over processes, padding included unless
      ``include_num_input_tokens_seen="non_padding"``): update ``k`` gets
      ``base_lr * schedule(tokens seen before k)``; it needs
      ``TrainingArguments(include_num_input_tokens_seen=True)`` (refused at train begin without
      it); a resume goes on from the clock saved with the run state (a warning if the Trainer's
      count differs). A schedule in samples (``"Nsp"``) is refused: the Trainer counts none;
    * ``monitor`` is an evaluation metric, with or without the ``eval_`` prefix; with several eval
      datasets name one by its full key (``"eval_val_hard_loss"``): the other datasets'
      evaluations are skipped, and it is missing only when no dataset of the round has it;
      ``eval_on_start`` and ``trainer.evaluate()`` outside training are not fed; the Trainer
      gathers eval losses over processes, and process 0's value is broadcast, so every process
      decides alike;
    * the run state travels in ``scheduler.pt`` (``weights_only=True``-safe), so
      ``train(resume_from_checkpoint=...)`` continues exactly with nothing to set;
      ``cb.cooldown(n)`` before it cools down from that checkpoint (from the first resumed update);
      a resume at an epoch's last update saved before that epoch's evaluation warns that the
      plateau missed it;
    * a group added during ``train()`` (``optimizer.add_param_group``, from any callback hook)
      runs its schedule on its own clock from the first update it takes part in;
    * group LRs (when the groups are configured differently), momentum and weight decay are logged
      next to ``learning_rate``.

    Args:
        schedule: a schedule (multiplier of each group's base LR), its ``to_config()`` dict, or a
            dict from group names / indices / ``"*"`` to schedules.
        plateau: an optional :class:`lrplugins.Plateau` (or its config dict); needs ``monitor``.
        monitor: the evaluation metric fed to ``plateau``, e.g. ``"eval_loss"`` (or ``"loss"``).
        momentum: schedule(s) multiplying each group's momentum (or ``betas[0]``).
        weight_decay: schedule(s) multiplying each group's ``weight_decay``.
        strict: a missing monitored metric raises (``True``) or warns once and is skipped.
        horizon: ``"stretch"`` or ``"rebind"``: what a resume with a new run length does.

    >>> import lrplugins as lrp
    >>> cb = LRSchedulerCallback({"kind": "cosine", "warmup_steps": "10%"},
    ...                          plateau={"patience": 2, "factor": 0.5}, monitor="loss")
    >>> cb.schedule, cb.plateau.scale, cb.bound_schedule
    (cosine(warmup_steps='10%'), 1.0, None)
    """

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
    ) -> None:
        self._run = adapter_run(
            _PROFILE,
            type(self).__name__,
            schedule,
            plateau,
            monitor,
            momentum=momentum,
            weight_decay=weight_decay,
            strict=strict,
            horizon=horizon,
        )
        self._run.on_change = self._apply
        # runtime, set in on_train_begin
        self._scheduler: LambdaLR | None = None
        self._mult: _Multiplier | None = None
        self._begin_step = 0
        self._hook: Any = None  # the raw optimizer's step pre-hook
        # the schedulers given to a Trainer this callback was passed to (optimizers=(opt, sched)),
        # seen at on_init_end: the Trainer creates its own only when given none
        self._given: weakref.WeakSet[Any] = weakref.WeakSet()
        # the tokens clock: the Trainer's num_input_tokens_seen when last read, and the clock
        # value of the update last taken (what its logged values were computed at)
        self._seen = 0
        self._taken = 0
        # the evaluation round (every eval dataset at one global step) under way: its step, and
        # the metrics of its datasets so far, None once one of them fed the plateau
        self._round: tuple[int, dict[str, Any] | None] | None = None

    def _next_update(self) -> int | None:
        return None if self._scheduler is None else self._scheduler.last_epoch

    def cooldown(self, steps: int | str, shape: str = "1-sqrt", final: float = 0.0) -> None:
        """Start a cooldown at the next optimizer update, from the LR in force; asked for while no
        ``train()`` runs (before it, after it ended or raised) it starts at the first update of
        the next one. See :meth:`lrplugins.RunState.cooldown`."""
        if self._scheduler is not None and not _training():
            self._stop()  # the train() this callback was in raised (the Trainer has no hook then)
        super().cooldown(steps, shape, final)

    # -- hooks ----------------------------------------------------------------------------------
    def on_init_end(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        lr_scheduler: Any = None,
        **kwargs: Any,
    ) -> None:
        """Note the scheduler the Trainer was given (``optimizers=(opt, scheduler)``), if any: at
        train begin it is refused, not replaced as the one the Trainer creates."""
        if lr_scheduler is not None:
            try:
                self._given.add(lr_scheduler)
            except TypeError:  # not weakly referenceable: told apart at train begin by its type
                pass

    def on_train_begin(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        lr_scheduler: Any = None,
        train_dataloader: Any = None,
        **kwargs: Any,
    ) -> None:
        """Bind the schedule, take over the Trainer's scheduler and set the first update's LR."""
        owner = type(self).__name__
        run = self._run
        sched = _check_scheduler(owner, lr_scheduler, args, lr_scheduler in self._given)
        other = getattr(sched.lr_lambdas, "owner", None)
        if other is not None and other is not self and other._scheduler is sched:
            raise ValueError(
                f"{owner}: a second {owner} in this Trainer; both would set the learning rate. "
                "Keep one (a schedule per parameter group goes in one callback: "
                "schedule={'head': ..., '*': ...})."
            )
        _check_clock(owner, run.clock, args)
        _warn_overridden(owner, args)
        run.check_feedable(
            str(args.eval_strategy) not in ("no", "IntervalStrategy.NO"), "eval_strategy='no'"
        )

        spe = None
        if train_dataloader is not None:
            try:
                batches = len(train_dataloader)
            except TypeError:  # an IterableDataset: no epochs to speak of
                batches = 0
            if batches > 0:
                spe = max(math.ceil(batches / args.gradient_accumulation_steps), 1)
        total = state.max_steps if state.max_steps and state.max_steps > 0 else None

        saved = _take_saved(sched)
        self._round = None
        if state.global_step > 0 and saved is not None:
            run.load_state_dict(saved)
        # fresh, resume or foreign (a second train() on the same Trainer starts at step 0); a
        # cooldown asked for while no train() was in progress starts at this first update
        # on the tokens clock it starts at (fresh, foreign) or is checked against (resume) the
        # Trainer's count
        seen = int(state.num_input_tokens_seen)
        decision = run.begin(state.global_step, total, spe, hint=_hint(spe, run.clock), clock=seen)
        try:  # the checkpoint's schedules replace the live ones: their clock too
            _check_clock(owner, run.clock, args)
        except ValueError:
            run.end()
            raise
        self._seen, self._taken = seen, run.clock_value
        step, epoch = state.global_step, _ended_epoch(args, state.global_step, spe)
        run.check_missed_evaluation(  # a resume there skips that epoch's evaluation
            None if epoch is None else step,
            step,
            evaluation=f"epoch {epoch}'s evaluation",
            fix="Save checkpoints after the evaluation (save_strategy='epoch' with "
            "eval_strategy='epoch') to avoid it.",
        )
        if decision == "foreign":
            where = (
                "the saved step"
                if run.clock == "steps"
                else f"the Trainer's num_input_tokens_seen ({run.clock_value})"
            )
            warnings.warn(
                f"{owner}: resuming at step {state.global_step} from a checkpoint whose "
                f"scheduler state was not written by this callback; the schedule continues from "
                f"{where}, the plateau (if any) starts from scratch.",
                stacklevel=2,
            )
        raw = getattr(sched.optimizer, "optimizer", sched.optimizer)  # inside accelerate's wrapper
        configured = [
            float(g.get("initial_lr", b)) for g, b in zip(raw.param_groups, sched.base_lrs)
        ]
        records = run.take_groups(0, raw.param_groups, base_lrs=configured, optimizer=raw)
        # the LambdaLR multiplies base_lrs: the engine's bases (timm's lr_scale applied once)
        sched.base_lrs = [r["base"]["lr"] for r in records]
        lambdas = _Lambdas(self, (_Multiplier(run, i) for i in range(len(sched.base_lrs))))
        self._mult = lambdas[0]
        sched.lr_lambdas = lambdas
        self._scheduler = sched
        self._begin_step = state.global_step
        if self._hook is not None:
            self._hook.remove()
        # a group added right before an update (another callback's on_step_begin or
        # on_pre_optimizer_step) takes part in it at its s(0)
        self._hook = raw.register_step_pre_hook(self._before_update)
        self._apply()

    def on_optimizer_step(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """On the tokens clock, move it on by the tokens the Trainer counted for the update just
        taken (all processes), before the scheduler computes the next update's LR."""
        run, mult = self._run, self._mult
        if mult is None or run.clock != "tokens":
            return
        seen = int(state.num_input_tokens_seen)
        if seen == 0:
            raise RuntimeError(
                f"{type(self).__name__}: the Trainer counted no input tokens for update "
                f"{state.global_step}, so a schedule in tokens cannot move: its inputs have no "
                "key named by the model's main_input_name (default 'input_ids'; the Trainer "
                "logged a warning). Set model.main_input_name, or name the tokens 'input_ids'."
            )
        self._taken = run.clock_value
        run.advance(seen - self._seen)
        self._seen = seen
        mult.refresh(self._record())  # the clock, as scheduler.pt saves it

    def on_evaluate(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        metrics: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Feed the monitored metric to the plateau; a reduction applies to the very next update."""
        if not _inside_train():  # trainer.evaluate() outside train(), even after a crash
            return
        if self.plateau is None or self._mult is None or state.global_step == self._begin_step:
            return  # no plateau, not training (trainer.evaluate()), or eval_on_start
        metrics = metrics or {}
        if self._round is not None and self._round[0] != state.global_step:
            self._settle()
        step, seen = self._round or (state.global_step, {})
        key = next((k for k in self._keys() if k in metrics), None)
        if key is None:  # another dataset of the round may hold it
            if seen is not None:
                seen.update(metrics)
            self._round = (step, seen)
            return
        self._round = (step, None)
        # the engine refuses a value that is not a single number, naming the monitor
        self._run.observe(_same_on_all_ranks(metrics[key], args), at=state.global_step)
        self._mult.refresh(self._record())

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        """Log each group's LR under its name, and momentum / weight decay, next to
        ``learning_rate`` (the values of the update just taken)."""
        sched = self._scheduler
        if sched is None or logs is None or "learning_rate" not in logs:
            return
        extra = _named_values(
            self._run, self._last(state.global_step), sched.optimizer.param_groups
        )
        logs.update(extra)
        last = state.log_history[-1] if state.log_history else {}
        if extra and last.get("step") == state.global_step and "learning_rate" in last:
            last.update(extra)  # the Trainer appended a copy of logs before calling on_log

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Stop feeding the plateau (a later ``trainer.evaluate()`` leaves it alone); a cooldown
        asked for from now on waits for the next ``train()``."""
        self._settle()
        self._stop()

    def _stop(self) -> None:
        """The run ended: the engine is told, and the Trainer's scheduler and optimizer let go."""
        self._run.end()
        self._mult = None
        self._scheduler = None
        if self._hook is not None:
            self._hook.remove()
            self._hook = None

    # -- internals ------------------------------------------------------------------------------
    def _apply(self) -> None:
        """Write ``base_lr * multiplier(last_epoch)`` into the groups and ``get_last_lr()``."""
        sched, mult = self._scheduler, self._mult
        if sched is None or mult is None:
            return
        mult.refresh(self._record())
        t = self._run.now(sched.last_epoch)
        lrs: list[Any] = write_groups(self._run, 0, t, sched.optimizer.param_groups)
        sched._last_lr = lrs  # what get_last_lr() returns, i.e. what the Trainer logs

    def on_pre_optimizer_step(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """A group added since the last update (e.g. at ``on_step_begin``) joins now, so that
        every step pre-hook of the optimizer already sees its LR; the pre-hook below catches a
        group added later still. An LR written since the scheduler set it (another callback, the
        training step) is replaced by the schedule's now, with a warning once per run."""
        sched = self._scheduler
        if sched is not None and self._run.check_outside(
            0, sched.optimizer.param_groups, state.global_step
        ):
            self._apply()
        self._before_update()

    def _before_update(self, *hook_args: Any) -> None:
        """Also the raw optimizer's step pre-hook: a group added since the last update joins now,
        and the groups get this update's values."""
        sched = self._scheduler
        if sched is not None and len(sched.optimizer.param_groups) != len(sched.base_lrs):
            self._join()
            self._apply()

    def _join(self) -> None:
        """Give every group added since (``add_param_group``) its multiplier and base LR in the
        ``LambdaLR``; the run state records it as joining at the next update, on its own clock."""
        sched = self._scheduler
        if sched is None:
            return
        groups = sched.optimizer.param_groups
        if len(groups) == len(sched.base_lrs):
            return
        # records the new groups (join = this update)
        self._run.lrs(0, self._run.now(sched.last_epoch), groups)
        records = self._run.groups[0]
        for i in range(len(sched.base_lrs), len(groups)):
            sched.lr_lambdas.append(_Multiplier(self._run, i))
            sched.base_lrs.append(records[i]["base"]["lr"])

    def on_step_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """Write momentum / weight decay for the update about to run (the LambdaLR sets the LR)."""
        self._settle()
        sched = self._scheduler
        if sched is not None and len(self._run.scheduled) > 1:
            self._run.step = state.global_step
            t = self._run.now(state.global_step)
            write_groups(self._run, 0, t, sched.optimizer.param_groups)

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """transformers < 4.51 reads the LR it logs after the scheduler stepped: until the next
        update, ``get_last_lr()`` returns the LRs of the update just taken (the groups already
        hold the next update's), so the logged ``learning_rate`` is the applied one."""
        sched = self._scheduler
        if sched is not None:  # the LambdaLR just set the next update's LRs (tensors: not read)
            lrs = [g["lr"] for g in sched.optimizer.param_groups]
            self._run.mark_written(0, None if any(hasattr(x, "fill_") for x in lrs) else lrs)
        if _LOGS_AFTER_SCHEDULER_STEP and sched is not None and sched.last_epoch > self._begin_step:
            groups = sched.optimizer.param_groups
            last: list[Any] = self._run.lrs(0, self._last(sched.last_epoch), groups)
            sched._last_lr = last

    def on_epoch_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        """An evaluation round at the last update of the epoch is over (the epoch's own comes
        next, as a round of its own)."""
        self._settle()

    def _last(self, step: int) -> int:
        """The clock value of the update just taken, ``step`` being the index of the next one."""
        return step - 1 if self._run.clock == "steps" else self._taken

    def _keys(self) -> tuple[str, ...]:
        """The keys the monitor may have in the metrics: as given, and with the ``eval_`` prefix."""
        monitor = str(self.monitor)  # set whenever plateau is (checked in __init__)
        return (monitor,) if monitor.startswith("eval_") else (monitor, f"eval_{monitor}")

    def _settle(self) -> None:
        """End the evaluation round under way: if none of its datasets held the monitor, that is a
        missing metric (raised, or warned once with ``strict=False``), as the Trainer's own
        ``metric_for_best_model`` is looked up in the metrics of all eval datasets together."""
        round_, self._round = self._round, None
        if round_ is None or round_[1] is None:
            return
        seen = round_[1]
        hint = ""
        prefixes = [k[: -len("_runtime")] for k in seen if k.endswith("_runtime")]
        if prefixes != ["eval"]:  # several eval datasets: the monitor names none of them
            rest = self._keys()[-1][len("eval_") :]
            example = next((f"{p}_{rest}" for p in prefixes if f"{p}_{rest}" in seen), None)
            hint = (
                "With several eval datasets, name the one to monitor by its full key, e.g. "
                f"{example or prefixes[0] + '_loss'!r}."
            )
        self._run.metric(seen, aliases=self._keys(), hint=hint)

    def _record(self) -> dict[str, Any]:
        """What ``scheduler.pt`` keeps: the run state (where the plateau was last fed included)."""
        return self._run.state_dict()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(schedule={self.schedule!r}, plateau={self.plateau!r}, "
            f"monitor={self.monitor!r})"
        )


def _check_scheduler(
    owner: str, lr_scheduler: Any, args: TrainingArguments, given: bool
) -> LambdaLR:
    """The Trainer's own ``LambdaLR``, which the callback takes over; refuse any other scheduler:
    one the user gave the Trainer (``given``, or not of a kind ``lr_scheduler_type`` builds) would
    be thrown away, and ``"reduce_lr_on_plateau"`` / ``"greedy"`` build no ``LambdaLR``."""
    if lr_scheduler is None:
        raise RuntimeError(f"{owner}: on_train_begin got no lr_scheduler from the Trainer.")
    kind = type(lr_scheduler).__name__
    if type(lr_scheduler).__module__ == "lrplugins.torch":
        raise ValueError(
            f"{owner}: the Trainer was given lrplugins.torch.LRScheduler as its scheduler, and both "
            "would set the learning rate. Keep one: Trainer(optimizers=(opt, None)) with this "
            "callback, or the scheduler without the callback."
        )
    builder = getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type)
    keep = (
        "Keep one: Trainer(optimizers=(opt, None)) with this callback (put the warmup and decay "
        "in its schedule), or the scheduler without the callback."
    )
    if given:
        raise ValueError(
            f"{owner}: the Trainer was given its own scheduler ({kind}) in "
            "Trainer(optimizers=(opt, scheduler)), and this callback sets the learning rate too: "
            f"that scheduler would be thrown away. {keep}"
        )
    if not isinstance(lr_scheduler, LambdaLR) and builder not in ("reduce_lr_on_plateau", "greedy"):
        raise ValueError(
            f"{owner}: the Trainer's scheduler is a {kind}, which lr_scheduler_type={builder!r} "
            "does not build: it was passed in Trainer(optimizers=(opt, scheduler)) or made by an "
            f"overridden create_scheduler(), and this callback sets the learning rate too. {keep}"
        )
    if isinstance(lr_scheduler, LambdaLR):
        return lr_scheduler
    raise ValueError(
        f"{owner}: the Trainer's scheduler is a {kind}, which this callback cannot drive (it takes "
        "over the LambdaLR that every lr_scheduler_type builds except 'reduce_lr_on_plateau' and "
        "'greedy'). Leave lr_scheduler_type at its default and pass plateau=lrplugins.Plateau(...), "
        f"monitor=... to the callback instead; got lr_scheduler_type={builder!r}."
    )


def _ended_epoch(args: TrainingArguments, step: int, spe: int | None) -> int | None:
    """The epoch (counted from 1) that update ``step`` ends, when it is evaluated at its end
    (``eval_strategy="epoch"``), else ``None``. That evaluation comes after the checkpoint
    ``save_strategy="steps"`` writes at the update: a Trainer resumed from it does not run it."""
    strategy = getattr(args.eval_strategy, "value", args.eval_strategy)
    if strategy != "epoch" or not spe or step <= 0 or step % spe:
        return None
    return step // spe


def _take_saved(sched: LambdaLR) -> dict[str, Any] | None:
    """Pop this callback's record from the lambdas that ``load_state_dict`` wrote it into."""
    saved = None
    for fn in sched.lr_lambdas:
        d = getattr(fn, "__dict__", None)
        if isinstance(d, dict) and _STATE_KEY in d:
            record = d.pop(_STATE_KEY)  # also cleans module-level functions it was written into
            if isinstance(record, dict) and record.get("format") == FORMAT:
                saved = record
    return saved


def _same_on_all_ranks(value: Any, args: TrainingArguments) -> Any:
    """Process 0's value on every process (the Trainer's metrics already agree; this makes sure).

    Only a single number is broadcast; anything else is returned as it is, for
    :meth:`RunState.observe` to refuse naming the monitor (every process holds the same value).
    """
    dist = torch.distributed
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() < 2:
        return value
    try:
        value = float(value)
    except (TypeError, ValueError, RuntimeError):
        return value
    device = args.device if dist.get_backend() != "gloo" else torch.device("cpu")
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.broadcast(t, src=0)
    return float(t.item())


def _named_values(run: RunState, step: int, groups: list[dict[str, Any]]) -> dict[str, float]:
    """``momentum`` and ``weight_decay`` of ``step``, or ``<key>/<group name>`` for each group
    when the groups are configured differently (``learning_rate/head``, ``weight_decay/pg1``)."""
    records = run.groups[0]
    names = [r["name"] or f"pg{i}" for i, r in enumerate(records)]
    out: dict[str, float] = {}
    for hyper in run.scheduled:
        values = run.lrs(0, step, groups) if hyper == "lr" else run.values(hyper, 0, step)
        key = "learning_rate" if hyper == "lr" else hyper
        if len({(r["base"][hyper], r["keys"][hyper], r["join"]) for r in records}) > 1:
            # the groups are configured differently: one entry per group, by name
            out.update({f"{key}/{name}": v for name, v in zip(names, values)})
        elif hyper != "lr":
            out[key] = values[0]
    return out


def _inside_train() -> bool:
    """Whether this evaluation runs inside ``train()`` (from ``Trainer._maybe_log_save_evaluate``).

    An evaluation started by the user, also after a ``train()`` that raised, is not one: the
    callback neither feeds the plateau nor writes the LR then. Private: docs/internals.md.
    """
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name == "_maybe_log_save_evaluate":
            return True
        frame = frame.f_back  # type: ignore[assignment]
    return False


def _training() -> bool:
    """Whether a thread is inside ``Trainer._inner_training_loop`` (a ``train()`` under way).

    After a ``train()`` that raised, none is: the callback never got ``on_train_end`` (the Trainer
    has no exception hook). Private: docs/internals.md.
    """
    for frame in sys._current_frames().values():
        while frame is not None:
            if frame.f_code.co_name == "_inner_training_loop":
                return True
            frame = frame.f_back  # type: ignore[assignment]
    return False


def _warn_overridden(owner: str, args: TrainingArguments) -> None:
    """Say once that the Trainer's own scheduler settings are not used."""
    overridden = []
    kind = getattr(args.lr_scheduler_type, "value", args.lr_scheduler_type)
    if kind not in ("linear", None):
        overridden.append(f"lr_scheduler_type={kind!r}")
    for name in ("warmup_steps", "warmup_ratio"):
        value = getattr(args, name, None)
        if value:
            overridden.append(f"{name}={value!r}")
    if getattr(args, "lr_scheduler_kwargs", None):
        overridden.append(f"lr_scheduler_kwargs={args.lr_scheduler_kwargs!r}")
    if overridden:
        warnings.warn(
            f"{owner}: the learning rate follows this callback's schedule; the Trainer's "
            f"{', '.join(overridden)} {'is' if len(overridden) == 1 else 'are'} not used (put a "
            "warmup in the schedule).",
            stacklevel=3,
        )


def _check_clock(owner: str, clock: str, args: TrainingArguments) -> None:
    """Refuse the samples clock (the Trainer counts no samples), and the tokens clock when the
    Trainer does not count tokens."""
    if clock == "samples":
        raise ValueError(
            f"{owner}: the schedule runs on the samples clock ('Nsp' durations), but the Trainer "
            "counts no samples. Write its durations in tokens ('2Btok', read from the Trainer's "
            "num_input_tokens_seen) or in optimizer updates (ints, 'Nep', 'N%'), or count samples "
            "in a plain torch loop with lrplugins.torch.LRScheduler.step(samples=n)."
        )
    value = getattr(args, "include_num_input_tokens_seen", None)
    if clock == "tokens" and value in (False, None, "no"):
        raise ValueError(
            f"{owner}: the schedule runs on the tokens clock ('Ntok' durations), read from the "
            "Trainer's state.num_input_tokens_seen, which the Trainer counts only with "
            "TrainingArguments(include_num_input_tokens_seen=True); got "
            f"include_num_input_tokens_seen={value!r}."
        )


def _hint(spe: int | None, clock: str = "steps") -> str:
    if clock != "steps":  # the engine's message shows the total to give; max_steps cannot
        return ""
    hints = ["Set TrainingArguments(max_steps=N) or pass total_steps=N to the schedule."]
    if spe is None:
        hints.append(
            "An 'Nep' duration needs the number of batches per epoch: give the train dataset a "
            "__len__, or use step counts instead of epochs."
        )
    return " ".join(hints)


_PROFILE = Profile(example_metric="eval_loss")
