"""Where a Keras ``fit`` enters its run: a pure function of what the callback sees when the first
epoch begins. Standard library only (the unit tests load this file without Keras).

>>> p = resume_point(epoch=2, steps=6, epochs=5, accumulation=1, iterations=12)
>>> p.update, p.offset, p.total_steps, p.steps_per_epoch, p.warning
(12, 0, 30, 6, None)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class ResumePoint:
    """Where a ``fit`` starts, in optimizer updates of the run.

    Attributes:
        update: the index of the run's next update (0: a new run).
        offset: ``optimizer.iterations - update``: the optimizer's updates before this run (the
            ``LearningRateSchedule`` subtracts it from the optimizer's counter).
        epochs_done: the run's epochs already taken (the key of the next backup).
        total_steps: the run length in updates, ``epochs * steps // accumulation`` (``None``:
            unknown, ``steps`` is not known).
        steps_per_epoch: updates per epoch, ``steps // accumulation`` (``None``: unknown).
        warning: why the optimizer is behind ``update`` (its state was not restored), or
            ``None``.
    """

    update: int
    offset: int
    epochs_done: int
    total_steps: int | None
    steps_per_epoch: int | None
    warning: str | None


def resume_point(
    *,
    epoch: int,
    steps: int | None,
    epochs: int | None,
    accumulation: int,
    iterations: int,
    loaded: Mapping[str, int] | None = None,
    previous_offset: int = 0,
    left: Mapping[str, int] | None = None,
) -> ResumePoint:
    """The update a ``fit`` that starts at epoch ``epoch`` resumes its run at.

    * a loaded state (``load_state_dict`` or the ``BackupAndRestore`` companion file):
      ``loaded["step"]``, ``loaded["epoch"]`` epochs done;
    * else epoch 0: update 0, a new run;
    * else where the callback's previous ``fit`` on this optimizer left the run (``left``), when
      that fit ended at epoch ``e`` and the optimizer has not moved since: ``left["step"]``, exact
      also when updates were skipped (a mixed-precision loss-scale overflow takes none);
    * else (``fit(initial_epoch=e)``, or ``BackupAndRestore`` with no state of ours):
      ``e * steps // accumulation``, or, when ``steps`` (batches per epoch) is unknown, where the
      optimizer's counter is minus the previous run's ``previous_offset``.

    Args:
        epoch: the epoch ``fit`` starts at (``initial_epoch``, or the one ``BackupAndRestore``
            restored).
        steps: batches per epoch (Keras ``params["steps"]``; ``None``: unknown).
        epochs: the epochs of the ``fit`` (``params["epochs"]``; ``None``: unknown).
        accumulation: micro-batches per update (the optimizer's ``gradient_accumulation_steps``).
        iterations: the optimizer's update counter (``optimizer.iterations``, real updates).
        loaded: ``{"step": update, "epoch": epochs done}`` of a loaded state, or ``None``.
        previous_offset: the ``offset`` of the optimizer's ``LearningRateSchedule``.
        left: where the callback's previous ``fit`` on this optimizer left the run, ``{"epoch":
            epochs done, "iterations": the optimizer's counter, "step": the run's next update}``
            at its last epoch end, or ``None``.

    The warning says when the optimizer is behind the update the run resumes at: its state was
    not restored (``load_weights`` restores weights only); the schedule continues at ``update``.

    >>> resume_point(epoch=1, steps=6, epochs=3, accumulation=1, iterations=0).warning[:40]
    'fit() resumes at update 6 (epoch 1) but '
    >>> resume_point(epoch=0, steps=8, epochs=2, accumulation=2, iterations=40).offset
    40
    >>> left = {"epoch": 2, "iterations": 10, "step": 10}  # 6 of 16 updates skipped
    >>> p = resume_point(epoch=2, steps=8, epochs=4, accumulation=1, iterations=10, left=left)
    >>> p.update, p.offset, p.warning
    (10, 0, None)
    """
    if loaded is not None:
        update, done = int(loaded["step"]), int(loaded["epoch"])
    elif epoch == 0:
        update, done = 0, 0
    elif left is not None and left["epoch"] == epoch and left["iterations"] == iterations:
        update, done = int(left["step"]), epoch
    elif steps:
        update, done = epoch * steps // accumulation, epoch
    else:
        update, done = max(iterations - previous_offset, 0), epoch
    warning = None
    if iterations < update:
        warning = (
            f"fit() resumes at update {update} (epoch {epoch}) but the optimizer is at update "
            f"{iterations}: its state was not restored (load_weights restores weights only). The "
            f"schedule continues at update {update}."
        )
    total = max(1, steps * epochs // accumulation) if steps and epochs else None
    per_epoch = max(1, steps // accumulation) if steps else None
    return ResumePoint(update, iterations - update, done, total, per_epoch, warning)
