"""Facts read off a Lightning ``Trainer``: the run length, whether and when it validates, the
training batches' progress; and the installed packages (``lightning.pytorch`` and, when installed,
``pytorch_lightning``) whose classes it may hold."""

from __future__ import annotations

import math
from typing import Any

import lightning.pytorch as pl
from lightning.pytorch.utilities.model_helpers import is_overridden

from .._compat import SUPPORTED, parse_version


def _older_package() -> Any:
    """``pytorch_lightning`` (the package's older name, its own classes) at a supported version,
    or ``None`` when it is not installed."""
    try:
        import pytorch_lightning
    except ImportError:
        return None
    version = str(getattr(pytorch_lightning, "__version__", "0"))
    try:
        ok = parse_version(version) >= parse_version(SUPPORTED["lrplugins.lightning"][2])
    except ValueError:
        ok = False
    return pytorch_lightning if ok else None


_PACKAGES: tuple[Any, ...] = tuple(p for p in (pl, _older_package()) if p is not None)


def _classes(name: str) -> tuple[type, ...]:
    """The callback class ``name`` of each installed package (``lightning.pytorch`` first)."""
    return tuple(getattr(p.callbacks, name) for p in _PACKAGES)


_ACCUMULATE = _classes("GradientAccumulationScheduler")


def _run_length(trainer: pl.Trainer) -> tuple[float, int | None]:
    """Total optimizer updates and updates per epoch, as this rank counts them.

    With a ``GradientAccumulationScheduler`` the accumulation changes by epoch, so the total is
    summed epoch by epoch (Lightning's ``estimated_stepping_batches`` assumes one factor), and
    updates per epoch are those of the first epoch.
    """
    total: float = trainer.estimated_stepping_batches
    batches = trainer.num_training_batches
    if batches == float("inf") or batches <= 0:
        return total, None
    accumulate: Any = next(
        (cb for cb in trainer.callbacks if isinstance(cb, _ACCUMULATE)),  # type: ignore[attr-defined]
        None,
    )
    if accumulate is None:
        return total, math.ceil(batches / trainer.accumulate_grad_batches)
    epochs = trainer.max_epochs
    if epochs is not None and epochs > 0:
        per = [
            math.ceil(batches / accumulate.get_accumulate_grad_batches(e)) for e in range(epochs)
        ]
        total = sum(per)
        if trainer.max_steps is not None and trainer.max_steps > 0:
            total = min(total, trainer.max_steps)
    return total, math.ceil(batches / accumulate.get_accumulate_grad_batches(0))


def _hint(total: Any, spe: int | None) -> str:
    """What to set when the run length (``total``) or the updates per epoch (``spe``) is unknown."""
    hints = [
        (
            f"If the trainer cannot tell the run length (estimated_stepping_batches={total!r}): "
            "set Trainer(max_steps=N), give the train dataloader a __len__ and a finite "
            "max_epochs, or pass total_steps=N to the schedule."
        )
    ]
    if spe is None:
        hints.append(
            "An 'Nep' duration needs the number of batches per epoch: give the train dataloader a "
            "__len__ (or limit_train_batches=N), or use step counts instead of epochs."
        )
    return " ".join(hints)


def _can_validate(trainer: pl.Trainer, pl_module: pl.LightningModule) -> tuple[bool, str]:
    """Whether this run can ever validate, and the setting that prevents it."""
    if trainer.limit_val_batches == 0:
        return False, "Trainer(limit_val_batches=0)"
    parent = next(
        (p.LightningModule for p in _PACKAGES if isinstance(pl_module, p.LightningModule)), None
    )
    if not is_overridden("validation_step", pl_module, parent):
        return False, "the LightningModule has no validation_step"
    # private: where fit() keeps the val_dataloaders it was given (docs/internals.md)
    val_loop = getattr(getattr(trainer.fit_loop, "epoch_loop", None), "val_loop", None)
    source = getattr(val_loop, "_data_source", None)
    if source is not None and (source.instance is None or not source.is_defined()):
        return False, "no validation dataloader: pass val_dataloaders to fit() or define one"
    return True, ""


def _batches(trainer: pl.Trainer) -> Any:
    """The training batches' progress (totals over the run, and the current epoch's)."""
    return trainer.fit_loop.epoch_loop.batch_progress


def _validates_after(trainer: pl.Trainer, epoch: int, in_epoch: int, done: int, last: bool) -> bool:
    """Whether Lightning validates after batch ``in_epoch`` (1-based) of ``epoch``, ``done``
    batches into the run (``last``: the epoch's last batch); its ``_should_check_val_fx`` rule.

    A time-based ``val_check_interval`` (Lightning >= 2.6) cannot be told from the batches:
    ``False``, not checked.
    """
    every = trainer.check_val_every_n_epoch
    if not trainer.enable_validation or (every is not None and (epoch + 1) % every != 0):
        return False
    if getattr(trainer, "_val_check_time_interval", None) is not None:
        return False
    check = trainer.val_check_batch
    if check is None or check == float("inf"):
        return last
    limit = trainer.limit_train_batches
    if isinstance(limit, int) and trainer.num_training_batches == float("inf"):
        return in_epoch % limit == 0
    return (done if every is None else in_epoch) % int(check) == 0


def _max_steps_binds(trainer: pl.Trainer, spe: int | None) -> bool:
    """Whether ``max_steps`` may end a manual-optimization run of several optimizers before its
    epochs do: ``global_step`` counts all the optimizers' updates, so even one update per batch
    each reaches it ``len(optimizers)`` times sooner than ``estimated_stepping_batches`` assumes."""
    max_steps = trainer.max_steps
    if max_steps is None or max_steps < 0:
        return False
    epochs = trainer.max_epochs
    if spe is None or epochs is None or epochs < 0:
        return True
    return max_steps < len(trainer.optimizers) * spe * epochs
