"""The monitored metric: which value counts, when it is missing, and one value for every rank."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .._validate import not_a_number

if TYPE_CHECKING:
    from .._plateau import Plateau


class MissingMetricError(KeyError, RuntimeError):
    """The monitored metric is not in an evaluation that should hold it (``strict=True``).

    A ``KeyError`` (a name looked up in the metrics) and a ``RuntimeError`` (as Lightning's own
    callbacks raise for a missing monitor), so either ``except`` catches it.
    """

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class MetricPolicy:
    """The metric rules of :class:`lrplugins.RunState` (a part of it, not used alone)."""

    owner: str
    monitor: str | None
    strict: bool
    plateau: Plateau | None
    step: int
    fed_at: int | None
    _resumed: bool
    _warned_missing: bool
    _baked: bool

    def _changed(self) -> None:  # pragma: no cover - RunState's
        raise NotImplementedError

    def _warn(self, message: str, stacklevel: int = 2) -> None:  # pragma: no cover - RunState's
        raise NotImplementedError

    def check_feedable(self, can_evaluate: bool, setting: str) -> None:
        """At train start: a monitor that can never be fed raises (strict) or warns.

        ``setting`` names what to change, e.g. ``"eval_strategy='no'"``.
        """
        if self.monitor is None or can_evaluate:
            return
        message = (
            f"{self.owner}(monitor={self.monitor!r}): this run never evaluates ({setting}), so the "
            "plateau would never be fed and never cut the LR. Enable evaluation, or drop "
            "plateau and monitor."
        )
        if self.strict:
            raise ValueError(message + " (strict=False turns this into a warning.)")
        self._warn(message, stacklevel=3)

    def metric(
        self, metrics: Mapping[str, Any], *, aliases: tuple[str, ...] = (), hint: str = ""
    ) -> Any:
        """The monitored value in ``metrics`` (``monitor`` or one of ``aliases``), or ``None``.

        Missing: raises :class:`MissingMetricError` listing the available metrics when ``strict``,
        else warns once and returns ``None`` (the evaluation is skipped).
        """
        monitor = self.monitor
        if monitor is None:
            return None
        for key in (monitor, *aliases):
            if key in metrics:
                return metrics[key]
        available = sorted(str(k) for k in metrics) or "none"
        message = (
            f"{self.owner}(monitor={monitor!r}): no such metric in this evaluation; available "
            f"metrics: {available}." + (f" {hint}" if hint else "")
        )
        if self.strict:
            raise MissingMetricError(
                message + " (strict=False skips such evaluations with a warning.)"
            )
        if not self._warned_missing:
            self._warned_missing = True
            self._warn(message + " Skipped (strict=False); warned once.", stacklevel=3)
        return None

    def observe(self, value: Any, *, at: int | None = None) -> bool:
        """Feed one observation of the monitored metric to the plateau; True if the scale changed.

        NaN and infinities count as bad observations and never reach the LR. A value that is not
        a single number raises ``TypeError`` naming the monitor. Where it was fed is kept in
        :attr:`fed_at` (and in checkpoints): ``at``, the adapter's own position of this
        evaluation (Lightning: the epoch), or by default :attr:`step`, the index of the next
        update (see :meth:`check_missed_evaluation`).
        """
        plateau = self.plateau
        if plateau is None:
            raise RuntimeError(
                f"{self.owner}: there is no plateau to feed; pass plateau=lrplugins.Plateau(...)"
            )
        value = self.number(value)
        old = plateau.scale
        plateau.update(value)
        self.fed_at = self.step if at is None else int(at)
        changed = plateau.scale != old and not self._baked
        if changed:
            self._changed()
        return changed

    def check_missed_evaluation(
        self,
        due: int | None,
        now: int,
        *,
        unit: str = "update",
        evaluation: str = "",
        fix: str = "",
    ) -> bool:
        """On a resume: warn when the plateau missed the evaluation due at ``due``; True if so.

        A checkpoint written after an epoch's last update but before that epoch's evaluation
        resumes after it: the framework does not run that evaluation again, so the plateau
        misses one value and the LR may differ from an uninterrupted run's. The adapter says
        where that evaluation falls (the framework's rules); the engine decides: when the run
        was resumed from a checkpoint (:meth:`begin` answered ``"resume"``) with a monitor, and
        the plateau was last fed (:attr:`fed_at`) before ``due``, or never, it warns once.

        Args:
            due: where the last evaluation that should have fed the plateau before the resume
                falls, in the unit :meth:`observe` records (``at``); ``None``: none was due.
            now: where the run resumes, in the same unit.
            unit: the name of that unit in the message (``"update"``, ``"epoch"``).
            evaluation: the skipped evaluation in the framework's words (``"epoch 1's
                validation"``); default ``"the evaluation at <unit> <due>"``.
            fix: the advice that avoids it, naming the framework's setting.

        >>> import warnings, lrplugins as lrp
        >>> run = lrp.RunState("Demo", lrp.constant(), lrp.Plateau(), "val_loss")
        >>> run.begin(0, total_steps=16)
        'fresh'
        >>> run.observe(1.0, at=4)  # the evaluation after update 4 (the 4th)
        False
        >>> resumed = lrp.RunState("Demo", lrp.constant(), lrp.Plateau(), "val_loss")
        >>> _ = resumed.load_state_dict(run.state_dict())  # written after update 8, before its
        >>> resumed.begin(8, total_steps=16)  # evaluation
        'resume'
        >>> with warnings.catch_warnings(record=True) as caught:
        ...     warnings.simplefilter("always")
        ...     resumed.check_missed_evaluation(8, 8, fix="Save after the evaluation.")
        True
        >>> print(caught[0].message)  # doctest: +NORMALIZE_WHITESPACE
        Demo(monitor='val_loss'): the plateau was last fed at update 4 and the run resumes at
        update 8: the checkpoint was written before the evaluation at update 8, which the resumed
        run does not repeat, so the plateau missed one value and the LR may differ from an
        uninterrupted run's. Save after the evaluation.
        """
        if not self._resumed or self.monitor is None or self.plateau is None or due is None:
            return False
        fed = self.fed_at
        if fed is not None and fed >= due:
            return False
        last = "was never fed" if fed is None else f"was last fed at {unit} {fed}"
        message = (
            f"{self.owner}(monitor={self.monitor!r}): the plateau {last} and the run resumes at "
            f"{unit} {now}: the checkpoint was written before "
            f"{evaluation or f'the evaluation at {unit} {due}'}, which the resumed run does not "
            "repeat, so the plateau missed one value and the LR may differ from an uninterrupted "
            "run's."
        )
        self._warn(message + (f" {fix}" if fix else ""), stacklevel=3)
        return True

    def number(self, value: Any) -> float:
        """``value`` as the one number the plateau takes (a Python or numpy number, a 0-d array,
        a one-element tensor), or a ``TypeError`` naming the monitor. Strings, bytes and bools
        (``True``, ``numpy.bool_``, a boolean array or tensor) are not numbers here, although
        ``float()`` takes them: a logged ``"0.5"`` or a flag fed by mistake is refused, as
        :meth:`Plateau.update <lrplugins.Plateau.update>` refuses it. Checks only: adapters call
        it before a collective."""
        reason = not_a_number(value)
        if reason is None:
            try:
                return float(value)
            except (TypeError, ValueError, RuntimeError) as exc:
                reason = str(exc)
        raise TypeError(
            f"{self.owner}(monitor={self.monitor!r}): the monitored value must be a single "
            f"number, got {value!r} ({reason})"
        )

    def observe_metrics(self, metrics: Mapping[str, Any], *, aliases: tuple[str, ...] = ()) -> bool:
        """:meth:`metric` then :meth:`observe`; False when the metric was skipped."""
        value = self.metric(metrics, aliases=aliases)
        return False if value is None else self.observe(value)

    def agree(
        self, value: Any, world_size: int, allreduce_sum: Callable[[list[float]], list[float]]
    ) -> float | None:
        """The one cross-rank rule: every rank decides from the mean of the ranks' values.

        ``value`` is this rank's observation (``None``: not logged here); ``allreduce_sum`` sums
        a list of floats over the ranks (a collective every rank calls). A metric logged on some
        ranks only is an error on every rank, never a hang. Returns ``None`` when no rank has it.
        """
        present = value is not None
        bad: TypeError | None = None
        number = 0.0
        if present:
            try:
                number = self.number(value)
            except TypeError as exc:  # raised on every rank, after the collective: no hang
                bad = exc
        if world_size <= 1:
            if bad is not None:
                raise bad
            return number if present else None
        count, total, n_bad = allreduce_sum([float(present), number, float(bad is not None)])
        if n_bad:
            raise bad or TypeError(
                f"{self.owner}(monitor={self.monitor!r}): the monitored value is not a single "
                f"number on {int(n_bad)} of {world_size} ranks"
            )
        if 0 < count < world_size:
            raise RuntimeError(
                f"{self.owner}(monitor={self.monitor!r}): the metric was logged on {int(count)} of "
                f"{world_size} ranks; every rank must decide from the same value: log it on every "
                "rank (Lightning: self.log(..., sync_dist=True))."
            )
        return None if count == 0 else total / count
