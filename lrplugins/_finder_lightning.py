"""``lrplugins.lightning.find_lr``: the LR range test inside a Lightning ``Trainer``.

The sweep runs inside ``trainer.fit`` (so DDP, precision plugins, gradient accumulation and the
module's own ``training_step`` all work as in training), from a callback's ``on_fit_start``, the
way Lightning's own ``Tuner.lr_find`` does it: with the user's callbacks, loggers, LR schedulers
and validation set aside, then everything put back and the fit ended early.
"""

from __future__ import annotations

import copy
import math
from typing import Any, Literal

try:
    import lightning.pytorch as pl
    import torch
    from lightning.pytorch.callbacks import Callback
    from lightning.pytorch.utilities.exceptions import _TunerExitException
except ImportError as _exc:  # pragma: no cover - exercised in a subprocess without lightning
    raise ImportError(
        "lrplugins.lightning needs Lightning, which is not installed: "
        "pip install 'lrplugins[lightning]'"
    ) from _exc

from ._finder import DEFAULT_RULE, LRFinder
from ._finder_torch import (
    ModelSnapshot,
    OptimizerSnapshot,
    RNGSnapshot,
    ScalerSnapshot,
    base_lrs,
    loader_generators,
    progress_bar,
    set_lrs,
)

__all__ = ["find_lr"]


def find_lr(
    trainer: pl.Trainer,
    model: pl.LightningModule,
    train_dataloaders: Any = None,
    datamodule: pl.LightningDataModule | None = None,
    *,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    steps: int = 100,
    mode: Literal["exp", "linear"] = "exp",
    smooth: float = 0.98,
    diverge: float | None = 0.5,
    rule: str = DEFAULT_RULE,
    progress: bool | None = None,
) -> LRFinder:
    """Run an LR range test with ``trainer`` on ``model``; the next ``trainer.fit`` is unaffected.

    Call it where you would call ``trainer.fit`` (every DDP rank runs it), then fit as usual::

        finder = find_lr(trainer, model)
        model.hparams.lr = finder.suggestion   # or configure the schedule's peak with it
        trainer.fit(model)

    The sweep takes up to ``steps`` optimizer updates of the real training (the module's
    ``training_step``, the trainer's strategy, precision and ``accumulate_grad_batches``: one
    recorded point per update, its loss the mean over the accumulated batches and over the DDP
    ranks, so every rank stops at the same step and gets the same suggestion). Every parameter
    group of every optimizer sweeps together, keeping its ratio to the first group's configured
    LR (``initial_lr`` where a torch scheduler set one). During the sweep the trainer's
    callbacks, loggers, LR schedulers and validation are set aside and the data restarts when it
    runs out. Mixed precision is the trainer's precision plugin, as in the fit: each training
    step under its own autocast, and where the plugin has a ``GradScaler``, an update the scaler
    skips (inf or NaN gradients) made no step, so it is not recorded and its LR is tried again.
    Afterwards the module's parameters, buffers, gradients and train/eval flags, the
    optimizers' state, the scaler's state, the loops' progress, the callbacks and loggers, the
    trainer's ``callback_metrics``, ``logged_metrics`` and ``progress_bar_metrics`` (the sweep's
    logged values do not stay), and the random number generators (Python, numpy, torch
    CPU/CUDA, the loaders' own, and any ``torch.Generator`` the DataModule or the module keeps
    as an attribute) are restored, so ``find_lr(trainer, model); trainer.fit(model)`` trains
    exactly as ``trainer.fit(model)`` would. Other state the module keeps in attributes of its
    own during ``training_step`` is not restored.

    Args:
        trainer: the trainer that will fit ``model``.
        model: the LightningModule.
        train_dataloaders, datamodule: as for ``trainer.fit``.
        min_lr, max_lr, steps, mode, smooth, diverge, rule: see :class:`lrplugins.LRFinder`;
            ``steps`` counts optimizer updates.
        progress: show a tqdm bar on rank 0; by default when the trainer shows its progress
            bar.

    Returns:
        The :class:`lrplugins.LRFinder` record (the same on every rank).

    >>> import torch, lightning.pytorch as pl
    >>> from lrplugins.lightning import find_lr
    >>> class Net(pl.LightningModule):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.layer = torch.nn.Linear(4, 1)
    ...     def training_step(self, batch, batch_idx):
    ...         x, y = batch
    ...         return torch.nn.functional.mse_loss(self.layer(x), y)
    ...     def configure_optimizers(self):
    ...         return torch.optim.SGD(self.parameters(), lr=0.1)
    >>> _ = torch.manual_seed(0)
    >>> x = torch.randn(64, 4); y = x.sum(1, keepdim=True)
    >>> data = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=8)
    >>> trainer = pl.Trainer(max_epochs=1, logger=False, enable_progress_bar=False,
    ...                      enable_checkpointing=False, enable_model_summary=False)
    >>> finder = find_lr(trainer, Net(), data)
    >>> finder.stop_reason in ("diverged", "non-finite"), 0.01 < finder.suggestion < 1.0
    (True, True)
    """
    finder = LRFinder(min_lr, max_lr, steps, mode=mode, smooth=smooth, diverge=diverge, rule=rule)
    if not isinstance(trainer, pl.Trainer):
        raise TypeError(f"find_lr(): trainer must be a lightning Trainer, got {trainer!r}")
    t: Any = trainer  # Trainer's attributes are partly hidden from type checkers
    if t.fast_dev_run:
        raise ValueError(
            f"find_lr(): the trainer has fast_dev_run={t.fast_dev_run!r}, which runs too "
            "few steps for a range test; make the trainer without it"
        )
    show = trainer.progress_bar_callback is not None if progress is None else bool(progress)
    sweep = _Sweep(finder, show)
    rng = RNGSnapshot(
        _generators(train_dataloaders) + _owned_generators(datamodule) + _owned_generators(model)
    )
    t.callbacks = [sweep, *t.callbacks]
    try:
        trainer.fit(model, train_dataloaders=train_dataloaders, datamodule=datamodule)
    finally:
        t.callbacks = [cb for cb in t.callbacks if cb is not sweep]
        rng.restore()
    if not sweep.ran:
        raise RuntimeError(
            "find_lr(): trainer.fit ended before the range test could start "
            "(no training batches, or limit_train_batches=0?)"
        )
    if not finder.lrs:
        raise RuntimeError("find_lr(): the range test took no optimizer step")
    return finder


def _generators(data: Any) -> list[torch.Generator]:
    """The generators of the loaders in ``data`` (a loader, or a list, tuple or dict of them)."""
    return [g for d in _leaves(data) for g in loader_generators(d)]


def _leaves(data: Any) -> list[Any]:
    if isinstance(data, dict):
        return [x for v in data.values() for x in _leaves(v)]
    if isinstance(data, (list, tuple)):
        return [x for v in data for x in _leaves(v)]
    return [] if data is None else [data]


def _owned_generators(owner: Any) -> list[torch.Generator]:
    """The ``torch.Generator`` objects an object (a DataModule, a module) keeps as attributes:
    its ``setup`` and ``train_dataloader`` run again for the fit and may draw from them."""
    return [v for v in vars(owner).values() if isinstance(v, torch.Generator)] if owner else []


class _Sweep(Callback):
    """Runs the sweep from ``on_fit_start``, then ends the fit (Lightning's tuner exit)."""

    def __init__(self, finder: LRFinder, show: bool) -> None:
        self.finder = finder
        self.show = show
        self.ran = False
        self._micro: list[float] = []
        self._stepped = False
        self._updates: list[None] = []  # one per update the optimizers really made
        self._counted = False  # whether every optimizer reports its updates (a torch Optimizer)
        self._loaders: RNGSnapshot | None = None
        self._bar: Any = None

    # -- the sweep's own hooks ------------------------------------------------------------------

    def on_before_optimizer_step(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, optimizer: Any
    ) -> None:
        if not self.ran or self.finder.done:
            return
        step = len(self.finder.lrs)
        set_lrs(trainer.optimizers, self.finder.group_lrs(step))
        self._stepped = True

    def on_train_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
    ) -> None:
        if not self.ran or self.finder.done:
            return
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is None:
            if pl_module.automatic_optimization:
                return  # training_step returned None: Lightning skips the batch
            raise RuntimeError(
                "find_lr(): training_step returned no loss; with manual optimization it must "
                "return the loss (a tensor, or a dict with 'loss') for the range test to record"
            )
        value = float(loss.detach())
        if pl_module.automatic_optimization:
            value *= trainer.accumulate_grad_batches  # Lightning divided it for the backward
        self._micro.append(value)
        if not self._stepped:
            return
        self._stepped = False
        mean = sum(self._micro) / len(self._micro)
        self._micro = []
        t = torch.tensor([mean], dtype=torch.float64, device=pl_module.device)
        mean = float(trainer.strategy.reduce(t, reduce_op="mean").item())
        took = bool(self._updates) or not self._counted
        self._updates = []
        if not took and math.isfinite(mean):
            return  # the precision plugin's GradScaler skipped it: the same LR again
        go_on = self.finder.record(mean)
        if self._bar is not None:
            self._bar.update()
        if not go_on:
            trainer.should_stop = True

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # the loaders the sweep's fit made (a DataModule's, the module's own) are set up now,
        # before they are first iterated
        if self._loaders is None:
            self._loaders = RNGSnapshot(_generators(trainer.train_dataloader))

    # -- set aside, run, put back ---------------------------------------------------------------

    def on_fit_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        trainer_: Any = trainer  # Trainer's attributes are partly hidden from type checkers
        fit_loop = trainer.fit_loop
        epoch_loop = fit_loop.epoch_loop
        saved = {
            "callbacks": trainer_.callbacks,
            "loggers": trainer.loggers,
            "lr_scheduler_configs": trainer.strategy.lr_scheduler_configs,
            "loop": copy.deepcopy(fit_loop.state_dict()),
            "max_epochs": fit_loop.max_epochs,
            "min_epochs": fit_loop.min_epochs,
            "max_steps": epoch_loop.max_steps,
            "min_steps": epoch_loop.min_steps,
        }
        snapshots: list[Any] = [ModelSnapshot(pl_module), _MetricsSnapshot(trainer)]
        snapshots += [OptimizerSnapshot(opt) for opt in trainer.optimizers]
        scaler = getattr(trainer.precision_plugin, "scaler", None)
        if isinstance(scaler, torch.amp.GradScaler):
            snapshots.append(ScalerSnapshot(scaler))
        hooks = [
            opt.register_step_post_hook(lambda *_: self._updates.append(None))
            for opt in trainer.optimizers
            if isinstance(opt, torch.optim.Optimizer)
        ]
        self._counted = len(hooks) == len(trainer.optimizers)
        self.finder.begin(base_lrs(trainer.optimizers))
        self.ran = True
        trainer.strategy.lr_scheduler_configs = []
        trainer_.callbacks = [self]
        trainer.loggers = []
        fit_loop.max_epochs = -1  # the data restarts until the sweep ends
        fit_loop.min_epochs = 0
        epoch_loop.max_steps = -1
        epoch_loop.min_steps = None
        epoch_loop._should_check_val_fx = _never  # type: ignore[method-assign]  # no validation
        try:
            with progress_bar(
                self.show and trainer.is_global_zero, self.finder.steps, "LR range test"
            ) as bar:
                self._bar = bar
                fit_loop.run()
        finally:
            self._bar = None
            for hook in hooks:
                hook.remove()
            for snap in snapshots:
                snap.restore()
            if self._loaders is not None:
                self._loaders.restore()
            del epoch_loop._should_check_val_fx
            trainer_.callbacks = saved["callbacks"]
            trainer.loggers = saved["loggers"]
            trainer.strategy.lr_scheduler_configs = saved["lr_scheduler_configs"]
            fit_loop.max_epochs = saved["max_epochs"]
            fit_loop.min_epochs = saved["min_epochs"]
            epoch_loop.max_steps = saved["max_steps"]
            epoch_loop.min_steps = saved["min_steps"]
            fit_loop.load_state_dict(saved["loop"])
            fit_loop.restarting = False
            epoch_loop.restarting = False
            epoch_loop.val_loop._combined_loader = None
            fit_loop._combined_loader = None
            trainer.should_stop = False
        raise _TunerExitException()


def _never(*args: Any, **kwargs: Any) -> bool:
    return False


class _MetricsSnapshot:
    """The metrics the trainer keeps (``callback_metrics``, ``logged_metrics``,
    ``progress_bar_metrics``): the sweep's logged values must not stay in them."""

    def __init__(self, trainer: pl.Trainer) -> None:
        self.connector = trainer._logger_connector
        self.attrs = {k: copy.copy(v) for k, v in vars(self.connector).items()}

    def restore(self) -> None:
        current = vars(self.connector)
        current.clear()
        current.update({k: copy.copy(v) for k, v in self.attrs.items()})
