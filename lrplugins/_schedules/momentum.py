"""The momentum counterparts of ``one_cycle`` and ``cyclic``, as multipliers of the configured value.

A momentum schedule is a multiplier of the momentum configured on the optimizer (SGD/RMSprop
``momentum``, the Adam family's first beta), which plays the part of torch's ``max_momentum``;
``low = base_momentum / max_momentum``. Pass one as ``momentum=`` to an adapter, next to the LR
schedule it mirrors.

Neither shape has a formula of its own. Each resolves its timing with the LR shape it mirrors (a
private subclass of it, so that errors name the momentum kind) and evaluates that shape's formula:

* ``one_cycle_momentum`` takes ``one_cycle``'s resolved phases (boundaries, lengths) and puts the
  momentum levels on them (``1 -> low -> 1``; with ``three_phase``, ``1 -> low -> 1 -> 1``), then runs
  ``one_cycle``'s interpolation: the LR's curve mirrored between ``low`` and 1, at the same steps;
* ``cyclic_momentum`` runs ``cyclic``'s wave with ``low = 0`` (the wave ``H(t)`` in [0, 1], with
  ``triangular2``/``exp_range`` damping) and returns ``1 - (1 - low) * H(t)``.

>>> import lrplugins as lrp
>>> lr, m = lrp.one_cycle(10, anneal="linear"), lrp.one_cycle_momentum(10, anneal="linear", low=0.8)
>>> [round(x, 3) for x in m.values(range(12))]
[1.0, 0.9, 0.8, 0.829, 0.857, 0.886, 0.914, 0.943, 0.971, 1.0, 1.0, 1.0]
>>> [ph.start for ph in m.phases()] == [ph.start for ph in lr.phases()]
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .. import _validate as v
from .base import Duration, Schedule, Unbound, register
from .leaves import cyclic, one_cycle

__all__ = ["cyclic_momentum", "one_cycle_momentum"]


@dataclass(frozen=True, repr=False)
class _OneCycleTiming(one_cycle):
    """``one_cycle``'s checks and phase timing, with errors that name ``one_cycle_momentum``."""

    kind = "one_cycle_momentum"


@dataclass(frozen=True, repr=False)
class _CyclicTiming(cyclic):
    """``cyclic``'s checks and wave, with errors that name ``cyclic_momentum``."""

    kind = "cyclic_momentum"


def _bound(timing: Schedule) -> Any:
    """The resolved numbers of ``timing``; ``Unbound`` naming what it lacks if it has none."""
    if not timing.is_bound:
        raise Unbound(list(timing.missing))
    return timing._p


@register("one_cycle_momentum")
@dataclass(frozen=True, repr=False)
class one_cycle_momentum(Schedule):
    """The 1cycle momentum: down from 1 to ``low`` while ``one_cycle``'s LR rises, back up as it falls.

    With ``one_cycle``'s phase ends ``e1 = pct_start * N - 1`` and ``e2 = 2 * pct_start * N - 2``
    (steps), and ``h(p) = (1 + cos(pi * p)) / 2`` (``anneal="cos"``) or ``1 - p`` (``"linear"``),
    where ``p`` is the progress through the phase:

    * ``t <= e1``: ``low + (1 - low) * h(t / e1)``, from 1 down to ``low``;
    * then up to 1 at ``N - 1``: ``1 + (low - 1) * h((t - e1) / (N - 1 - e1))``;
    * with ``three_phase``, up to 1 at ``e2`` instead, then 1 until ``N - 1`` (while the LR anneals);
    * 1 from ``N - 1`` on.

    Equals torch ``OneCycleLR(cycle_momentum=True, base_momentum=low * m, max_momentum=m)``'s
    momentum (SGD, RMSprop) or ``betas[0]`` (the Adam family) divided by ``m``, where ``m`` is the
    momentum configured on the optimizer (multiplier = momentum / max_momentum).

    Args:
        total_steps: run length N in optimizer steps (or ``"Nep"``, ``"Nsp"``, ``"Ntok"``), at
            least 2; the same N as the ``one_cycle`` LR schedule it accompanies.
        pct_start: fraction of the run spent with the momentum falling (the LR rising), in (0, 1)
            (below 0.5 with ``three_phase``).
        anneal: ``"cos"`` or ``"linear"`` interpolation within a phase.
        three_phase: the symmetric three-phase variant (momentum back at 1 when the LR is back at
            its start, then constant).
        low: the lowest multiplier, ``base_momentum / max_momentum``, in [0, 1] (torch's defaults
            0.85 / 0.95).
        steps_per_epoch: optimizer steps per epoch, for ``"Nep"`` durations.

    >>> import lrplugins as lrp
    >>> m = lrp.one_cycle_momentum(total_steps=100)
    >>> m(0), round(0.95 * m(29), 12), m(99), m(10**6)
    (1.0, 0.85, 1.0, 1.0)
    """

    _ends = True  # holds 1 from N - 1 on (so stretch() can move its end)

    total_steps: Duration | None = None
    pct_start: float = 0.3
    anneal: str = "cos"
    three_phase: bool = False
    low: float = 0.85 / 0.95
    steps_per_epoch: int | None = field(default=None, kw_only=True)

    def _check(self) -> None:
        v.real(self.kind, "low", self.low, lo=0.0, hi=1.0)
        # total_steps, pct_start, anneal and three_phase are checked by one_cycle's rules (below)

    def _resolve(self) -> Any:
        timing = _OneCycleTiming(
            self.total_steps,
            self.pct_start,
            anneal=self.anneal,
            three_phase=self.three_phase,
            steps_per_epoch=self.steps_per_epoch,
        )
        lr_phases, cos = _bound(timing)
        low = float(self.low)
        levels = ((1.0, low), (low, 1.0), (1.0, 1.0))  # (from, to) of each phase, as torch's
        phases = tuple(
            (begin, stop, length, a, b)
            for (begin, stop, length, _, _), (a, b) in zip(lr_phases, levels)
        )
        return ((phases, cos), timing)

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        return one_cycle._formula(t, p[0], xp)

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        timing = p[1]
        starts = [start for _, start in timing._phase_starts(timing._p)]
        names = ("fall", "rise", "constant") if self.three_phase else ("fall", "rise")
        return [*zip(names, starts), ("hold", starts[-1])]


@register("cyclic_momentum")
@dataclass(frozen=True, repr=False)
class cyclic_momentum(Schedule):
    """Cyclical momentum between ``low`` and 1: it falls while ``cyclic``'s LR rises, and back.

    ``1 - (1 - low) * H(t)``, where ``H`` is ``cyclic``'s wave from 0 to 1 (the LR multiplier
    ``cyclic(..., low=0)``): with cycle length ``C = up + down``, ``x = t / C - floor(t / C)``,
    ``H = x * C / up`` while ``x <= up / C``, then ``(1 - x) * C / down``; ``triangular2`` divides
    it by ``2 ** floor(t / C)``, ``exp_range`` multiplies it by ``gamma ** t``. Runs forever.

    Equals torch ``CyclicLR(cycle_momentum=True, base_momentum=low * m, max_momentum=m)``'s
    momentum (SGD, RMSprop) or ``betas[0]`` (the Adam family) divided by ``m``, the momentum
    configured on the optimizer.

    Args:
        step_size_up: length of the half-cycle where the momentum falls (the LR rises), in steps,
            ``"N%"``, ``"Nep"``, ``"Nsp"`` or ``"Ntok"``, at least 1.
        step_size_down: length of the other half-cycle (defaults to ``step_size_up``), at least 1.
        low: the lowest multiplier, ``base_momentum / max_momentum``, in [0, 1] (torch's defaults
            0.8 / 0.9).
        mode: ``"triangular"``, ``"triangular2"`` or ``"exp_range"``.
        gamma: amplitude decay per step for ``"exp_range"`` only, in (0, 1].
        total_steps: run length, only needed to resolve ``"N%"`` durations.
        steps_per_epoch: optimizer steps per epoch, for ``"Nep"`` durations.

    >>> import lrplugins as lrp
    >>> lrp.cyclic_momentum(2, low=0.5).values(range(6))
    [1.0, 0.75, 0.5, 0.75, 1.0, 0.75]
    """

    step_size_up: Duration
    step_size_down: Duration | None = None
    low: float = 0.8 / 0.9
    mode: str = "triangular"
    gamma: float = 1.0
    total_steps: Duration | None = field(default=None, kw_only=True)
    steps_per_epoch: int | None = field(default=None, kw_only=True)

    def _check(self) -> None:
        v.real(self.kind, "low", self.low, lo=0.0, hi=1.0)
        # the durations, mode and gamma are checked by cyclic's rules (below)

    def _resolve(self) -> Any:
        timing = _CyclicTiming(
            self.step_size_up,
            self.step_size_down,
            low=0.0,
            mode=self.mode,
            gamma=self.gamma,
            total_steps=self.total_steps,
            steps_per_epoch=self.steps_per_epoch,
        )
        return (_bound(timing), 1.0 - float(self.low), timing)

    @staticmethod
    def _formula(t: Any, p: Any, xp: Any) -> Any:
        wave, amplitude, _ = p
        return 1.0 - amplitude * cyclic._formula(t, wave, xp)

    def _phase_starts(self, p: Any) -> list[tuple[str, float]]:
        timing = p[2]
        mirror = {"up": "down", "down": "up"}
        out = []
        for name, start in timing._phase_starts(timing._p):
            head, _, last = name.rpartition(" ")
            out.append((f"{head} {mirror[last]}" if last in mirror else name, start))
        return out
