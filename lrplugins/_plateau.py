"""The plateau monitor: a multiplier that shrinks when a monitored metric stops improving.

Standard library only. The decision rule is a pure function (:func:`_decide`) of the configuration,
the runtime state and one observation; :class:`Plateau` holds the state and validates everything
that comes in.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

from . import _validate as v

_OWNER = "Plateau"
_MODES = ("min", "max")
_THRESHOLD_MODES = ("rel", "abs")
_STATE_KEYS = ("scale", "best", "num_bad", "cooldown_left", "num_reductions")


class _Config(NamedTuple):
    mode: str
    factor: float
    patience: int
    threshold: float
    threshold_mode: str
    cooldown: int
    min_scale: float
    eps: float


class _State(NamedTuple):
    scale: float
    best: float | None  # None: nothing finite observed yet
    num_bad: int
    cooldown_left: int
    num_reductions: int


_FRESH = _State(1.0, None, 0, 0, 0)


def _improves(cfg: _Config, value: float, best: float | None) -> bool:
    """Whether ``value`` is a significant improvement on ``best`` (``value`` is finite).

    For a non-negative ``best`` this is exactly torch's ``ReduceLROnPlateau._is_better`` (same
    floating-point operations); for a negative ``best`` the relative margin is taken on
    ``abs(best)``, so the rule is symmetric in the sign of the metric.
    """
    if best is None:
        return True
    t = cfg.threshold
    if cfg.mode == "min":
        if cfg.threshold_mode == "rel":
            return value < best * ((1.0 - t) if best >= 0.0 else (1.0 + t))
        return value < best - t
    if cfg.threshold_mode == "rel":
        return value > best * ((t + 1.0) if best >= 0.0 else (1.0 - t))
    return value > best + t


def _decide(cfg: _Config, state: _State, value: float) -> _State:
    """The next state after observing ``value``: a pure function, the whole plateau rule.

    Follows torch's ``ReduceLROnPlateau.step`` order: update best / bad count, let a running
    cooldown swallow the bad count, then reduce once the bad count exceeds ``patience``.
    """
    scale, best, num_bad, cooldown_left, num_reductions = state
    if not math.isnan(value) and not math.isinf(value) and _improves(cfg, value, best):
        best = value
        num_bad = 0
    else:
        num_bad += 1
    if cooldown_left > 0:
        cooldown_left -= 1
        num_bad = 0  # bad observations during a cooldown do not count
    if num_bad > cfg.patience:
        new = max(scale * cfg.factor, cfg.min_scale)
        if scale - new > cfg.eps:
            scale = new
            num_reductions += 1
        cooldown_left = cfg.cooldown
        num_bad = 0
    return _State(scale, best, num_bad, cooldown_left, num_reductions)


def _observation(value: Any) -> float:
    """``value`` as a float: Python and numpy numbers, 0-d tensors; anything else is a TypeError."""
    if value.__class__ is float:
        return value  # type: ignore[no-any-return]
    if v.not_a_number(value) is not None or not hasattr(value, "__float__"):
        raise TypeError(f"Plateau.update(): value must be a number, got {value!r}")
    try:
        return float(value)
    except (TypeError, ValueError, RuntimeError) as exc:  # e.g. a tensor with several elements
        raise TypeError(
            f"Plateau.update(): value must be a single number, got {value!r} ({exc})"
        ) from None


class Plateau:
    """A learning-rate multiplier that drops by ``factor`` when a metric stops improving.

    ``scale`` starts at 1.0. Each :meth:`update` takes one observation of the monitored metric
    (typically a validation loss, once per evaluation). An observation *improves* when it beats
    ``best`` by more than the threshold::

        mode="min", threshold_mode="rel":  value < best - threshold * abs(best)
        mode="min", threshold_mode="abs":  value < best - threshold
        mode="max", threshold_mode="rel":  value > best + threshold * abs(best)
        mode="max", threshold_mode="abs":  value > best + threshold

    Otherwise it is *bad*. On the ``(patience + 1)``-th bad observation in a row the scale becomes
    ``max(scale * factor, min_scale)`` (skipped when that changes it by ``eps`` or less) and a
    cooldown of ``cooldown`` observations starts, during which bad observations are not counted.

    The adapters apply ``lr = base_lr * schedule(step) * plateau.scale`` to every parameter group,
    so a plateau composes with any schedule, warmup included.

    Compared with the neighbours:

    * **torch** ``ReduceLROnPlateau``: the same decisions. With a base LR of 1, ``min_lr=min_scale``
      and a positive metric the ``scale`` sequence equals its LR sequence exactly, and ``patience``
      has the same meaning. Unlike torch, the relative threshold is taken on ``abs(best)``, so
      negative metrics (log-likelihoods, rewards) plateau too; and a NaN or infinite observation
      always counts as bad, never becomes ``best`` and never makes the scale NaN (in torch a
      ``-inf`` loss becomes ``best`` forever).
    * **Keras** ``ReduceLROnPlateau`` (and fastai) reduce on the ``patience``-th bad observation in
      a row, one earlier than here: Keras ``patience=p`` is ``Plateau(patience=p - 1)``.

    Args:
        mode: ``"min"`` when lower is better (losses), ``"max"`` when higher is better (accuracy).
        factor: multiplier applied at each reduction, in (0, 1).
        patience: number of bad observations in a row that are tolerated (an int >= 0); the next
            one reduces.
        threshold: minimum improvement, >= 0: a fraction of ``abs(best)`` for ``"rel"`` (below 1),
            in the metric's own units for ``"abs"``.
        threshold_mode: ``"rel"`` or ``"abs"``.
        cooldown: number of observations after a reduction during which bad observations are
            ignored (an int >= 0).
        min_scale: lower bound of ``scale``, in [0, 1] (a multiplier of the base LR, like torch's
            ``min_lr`` with a base LR of 1).
        eps: a reduction that would change ``scale`` by ``eps`` or less is skipped (>= 0).

    Raises:
        ValueError / TypeError: on a bad argument, naming it and the value, e.g.
            ``Plateau(): factor must be in (0, 1), got 1.5``.

    Example:

    >>> import lrplugins as lrp
    >>> p = lrp.Plateau(factor=0.5, patience=1)
    >>> [p.update(loss) for loss in [1.0, 0.9, 0.95, 0.93, 0.92, 0.91]]
    [1.0, 1.0, 1.0, 0.5, 0.5, 0.25]
    >>> p.best, p.num_reductions
    (0.9, 2)
    """

    __slots__ = ("_cfg", "_state")

    def __init__(
        self,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_scale: float = 0.0,
        eps: float = 1e-8,
    ) -> None:
        v.choice(_OWNER, "mode", mode, _MODES)
        v.choice(_OWNER, "threshold_mode", threshold_mode, _THRESHOLD_MODES)
        factor_ = v.real(_OWNER, "factor", factor, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
        patience_ = v.integer(_OWNER, "patience", patience, lo=0)
        if threshold_mode == "rel":
            threshold_ = v.real(_OWNER, "threshold", threshold, lo=0.0, hi=1.0, hi_open=True)
        else:
            threshold_ = v.real(_OWNER, "threshold", threshold, lo=0.0)
        cooldown_ = v.integer(_OWNER, "cooldown", cooldown, lo=0)
        min_scale_ = v.real(_OWNER, "min_scale", min_scale, lo=0.0, hi=1.0)
        eps_ = v.real(_OWNER, "eps", eps, lo=0.0)
        self._cfg = _Config(
            mode, factor_, patience_, threshold_, threshold_mode, cooldown_, min_scale_, eps_
        )
        self._state = _FRESH

    # -- the monitor ------------------------------------------------------------------------------
    def update(self, value: Any) -> float:
        """Take one observation of the metric and return the new ``scale``.

        ``value`` may be a Python or numpy number or a 0-d tensor (anything ``float()`` accepts
        except strings and bools); NaN and infinities count as bad observations.
        """
        self._state = _decide(self._cfg, self._state, _observation(value))
        return self._state.scale

    @property
    def scale(self) -> float:
        """The current multiplier of the learning rate (1.0 until the first reduction)."""
        return self._state.scale

    @property
    def best(self) -> float | None:
        """The best finite observation so far (``None`` before the first one)."""
        return self._state.best

    @property
    def num_bad(self) -> int:
        """Bad observations in a row since the last improvement, reduction or cooldown."""
        return self._state.num_bad

    @property
    def cooldown_left(self) -> int:
        """Observations left in the current cooldown (0: not cooling down)."""
        return self._state.cooldown_left

    @property
    def num_reductions(self) -> int:
        """How many times ``scale`` has been reduced (reductions skipped by ``eps`` not counted)."""
        return self._state.num_reductions

    # -- configuration ----------------------------------------------------------------------------
    def to_config(self) -> dict[str, Any]:
        """The constructor arguments as a JSON-compatible dict (no runtime state).

        >>> import lrplugins as lrp
        >>> lrp.Plateau.from_config(lrp.Plateau(patience=3).to_config()).to_config()["patience"]
        3
        """
        return self._cfg._asdict()

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Plateau:
        """A fresh monitor (``scale`` 1.0) built from :meth:`to_config`'s dict."""
        if not isinstance(config, dict):
            raise TypeError(f"Plateau.from_config(): config must be a dict, got {config!r}")
        unknown = sorted(set(config) - set(_Config._fields))
        if unknown:
            raise ValueError(
                f"Plateau.from_config(): unknown key(s) {unknown}; allowed: {list(_Config._fields)}"
            )
        return cls(**config)

    # -- state ------------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The whole runtime state as a JSON-compatible dict (``json.dumps`` works strictly).

        Keys: ``scale``, ``best`` (``None`` before the first finite observation), ``num_bad``,
        ``cooldown_left``, ``num_reductions``. The configuration is not included: see
        :meth:`to_config`.
        """
        return self._state._asdict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore the state saved by :meth:`state_dict` (into a monitor with the same arguments).

        Every key must be present and valid; nothing changes if any check fails.
        """
        owner = "Plateau.load_state_dict"
        if not isinstance(state, dict):
            raise TypeError(f"{owner}(): state must be a dict, got {state!r}")
        keys = set(state)
        if keys != set(_STATE_KEYS):
            missing = sorted(set(_STATE_KEYS) - keys)
            unknown = sorted(keys - set(_STATE_KEYS))
            raise ValueError(
                f"{owner}(): state must have exactly the keys {list(_STATE_KEYS)}; "
                f"missing {missing}, unknown {unknown}"
            )
        scale = v.real(owner, "scale", state["scale"], lo=0.0, hi=1.0)
        best = state["best"]
        if best is not None:
            best = v.real(owner, "best", best)
        self._state = _State(
            scale,
            best,
            v.integer(owner, "num_bad", state["num_bad"]),
            v.integer(owner, "cooldown_left", state["cooldown_left"]),
            v.integer(owner, "num_reductions", state["num_reductions"]),
        )

    def __repr__(self) -> str:
        defaults = _DEFAULTS
        args = [f"{k}={val!r}" for k, val in self._cfg._asdict().items() if val != defaults[k]]
        state = ", ".join(f"{k}={val!r}" for k, val in self._state._asdict().items())
        return f"Plateau({', '.join(args)}) <{state}>"


_DEFAULTS = Plateau()._cfg._asdict()
