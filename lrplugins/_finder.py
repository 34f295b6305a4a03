"""The learning-rate range test, framework-free: the sweep, the record, the suggestion rules.

An LR range test trains for a few steps while the learning rate grows from ``min_lr`` to
``max_lr`` (one step per LR) and records the loss after each step. :class:`LRFinder` owns
everything that is not framework code: which LR each step uses, the smoothing of the recorded
losses, when to stop, and which LR to suggest. The entry points (``lrplugins.torch.find_lr``,
``lrplugins.lightning.find_lr``, ``lrplugins.keras.find_lr``, ``lrplugins.huggingface.find_lr``)
are thin loops around it::

    finder = LRFinder(min_lr=1e-6, max_lr=1.0, steps=50)
    finder.begin(base_lrs=[group["lr"] for group in optimizer.param_groups])
    for step in range(finder.steps):
        for group, lr in zip(optimizer.param_groups, finder.group_lrs(step)):
            group["lr"] = lr
        loss = train_one_step()
        if not finder.record(loss):
            break

One LR for all groups: every parameter group sweeps together and keeps its ratio to the
*reference group*, the first group whose configured LR is not 0. The record's ``lrs`` and the
suggestions are the reference group's LR; :attr:`LRFinder.suggested_lrs` gives every group's.

The rules, all computed with the LR on a log scale (``ln lr``), also for a linear sweep:

- ``"valley"``: fastai's rule as fastai ships it (on the smoothed losses, the first
  ``steps // 10`` and the last 5 points left out; in a linear sweep only the first
  ``min(10, steps // 10)``): the longest decreasing stretch, then the point
  halfway down its middle third.
- ``"steepest"``: where the smoothed loss falls fastest per unit of ``ln lr`` (same points).
- ``"minimum/10"``: the LR of the lowest smoothed loss, divided by 10 (same points).
- ``"knee"`` (the default): where the loss has done 90% of its falling. On a lag-free curve
  (the raw losses through a 5-point running median, which removes isolated spikes, then a
  centred Gaussian kernel in ``ln lr`` whose sigma is 2.5% of the sweep's span), take its
  lowest point (the *edge*, :meth:`LRFinder.edge`, where training stops improving) and the
  reference level ``ref`` (the median loss of the first ``min(10, steps // 10)`` steps); the knee
  is the smallest LR, walking down from the edge, whose loss is still within
  ``0.1 * (ref - lowest)`` of the lowest. The moving average the other rules share lags the raw
  losses by about ``1 / (1 - smooth)`` steps (50 at the default 0.98, half of a 100-step sweep),
  which moves their minimum and slopes to larger LRs than the ones that produced them; a centred
  curve has no lag, and the knee, unlike the minimum of a flat-bottomed curve, is well
  determined. Its suggestion is the peak LR to configure directly, with no divisor. It stays
  the default because no variant was clearly better on the tuning half of
  ``benchmarks/bench_lr_finder.py`` (the knee at 5-50% of the drop, the edge divided by 1-10,
  the steepest descent of either curve, geometric means of two rules). It is a reading of one
  curve, not a measured optimum (``benchmarks/RESULTS_lr_finder.md``, three seeds, against each
  task's best peak LR, on tasks that played no part in choosing it): on four tasks that see
  each sample once it is 0.21 decades off on average and 0.43 at worst, every training within
  3% of the best validation loss; on four small data sets trained for several epochs 0.45 and
  0.72 (too low with SGD); on four more tasks fixed before training 0.78 and 1.95 (1.8 decades
  too low on a residual MLP with LayerNorm and SGD). No rule or tool met 0.3 decades on the
  last two sets: treat the suggestion as the start of a short search when the run matters.

Example (a synthetic loss that falls from 1 to 0 between 1e-4 and 1e-2, then explodes):

>>> finder = LRFinder(min_lr=1e-6, max_lr=1.0, steps=61)
>>> def loss_at(lr):
...     return 1.0 / (1.0 + (lr / 1e-3) ** 2) + (lr / 0.05) ** 4
>>> for step in range(finder.steps):
...     if not finder.record(loss_at(finder.lr_at(step))):
...         break
>>> finder.stop_reason, len(finder.lrs)
('diverged', 51)
>>> sorted(finder.suggestions)
['knee', 'minimum/10', 'steepest', 'valley']
>>> 1e-3 < finder.suggestion < 1e-2
True
"""

from __future__ import annotations

import bisect
import json
import math
import os
from collections.abc import Sequence
from typing import Any, Literal

__all__ = ["DEFAULT_RULE", "RULES", "LRFinder", "plot_record", "record_report"]

FORMAT = "lrplugins.lr_finder/1"
DEFAULT_RULE = "knee"
RULES = ("valley", "steepest", "minimum/10", "knee")
MODES = ("exp", "linear")
STOP_REASONS = ("steps", "diverged", "non-finite")

# fastai's trimming of the recorded curve before its rules run: steps // 10 at the start (LRs so
# small that nothing happens yet) and 5 at the end (the blow-up).
_SKIP_END = 5
# The reference level and noise of the loss come from the first _WINDOW steps of the sweep (or
# the first tenth, if smaller); the divergence check starts after them.
_WINDOW = 10
# The divergence margin never drops below this many noise standard deviations (of the raw
# losses at the start), so a flat, noisy curve is not mistaken for a rising one.
_NOISE_MARGIN = 4.0
# A rise counts as divergence only when the median of the last _RECENT raw losses has risen too:
# the moving average keeps an isolated spike for dozens of steps, the median forgets it at once.
_RECENT = 7
# The lag-free curve of the default rule: running median width and kernel width (a fraction of
# the sweep's span in ln lr).
_MEDIAN_WIDTH = 5
_KERNEL_FRACTION = 0.025
# The knee: the loss within this fraction of its total drop from the lowest point.
_KNEE_FRACTION = 0.1
# No rule suggests from fewer finite losses than this past the start the rules leave out: a loss
# that turns NaN (or diverges) that early says the sweep started too high or the loss is broken.
_MIN_POINTS = 3


def _check_positive_float(owner: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{owner}: {name} must be a number, got {value!r}")
    value = float(value)
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{owner}: {name} must be a finite number > 0, got {value!r}")
    return value


def _finite(x: float) -> bool:
    return math.isfinite(x)


def _json_float(x: float) -> float | None:
    return x if math.isfinite(x) else None


# ----------------------------------------------------------------------------------------------
# The rules. Each takes the LRs and a loss curve (finite values only) and returns an index.
# ----------------------------------------------------------------------------------------------


def _gradient(xs: Sequence[float], ys: Sequence[float]) -> list[float]:
    """dy/dx with second-order central differences inside, one-sided at the ends (np.gradient)."""
    n = len(ys)
    if n < 2:
        return [0.0] * n
    out = [(ys[1] - ys[0]) / (xs[1] - xs[0])]
    for i in range(1, n - 1):
        h0, h1 = xs[i] - xs[i - 1], xs[i + 1] - xs[i]
        out.append(
            (h0 * h0 * ys[i + 1] - h1 * h1 * ys[i - 1] + (h1 * h1 - h0 * h0) * ys[i])
            / (h0 * h1 * (h0 + h1))
        )
    out.append((ys[-1] - ys[-2]) / (xs[-1] - xs[-2]))
    return out


def _valley_index(losses: Sequence[float]) -> int:
    """fastai's ``valley``: the longest decreasing subsequence, then 2/3 along its middle third.

    fastai's quadratic loop, computed in O(n log n) with the same result: ``lds[i]`` is the length
    of the longest strictly decreasing subsequence ending at ``i``; the valley ends at the first
    index with the largest ``lds`` and starts ``lds`` points before it. Where fastai's index
    would be negative (a valley of one or two points at the very start), it is 0.
    """
    tails: list[float] = []  # tails[k]: the largest last value of a decreasing run of length k+1
    lds = []
    for v in losses:
        k = bisect.bisect_left(tails, -v)
        if k == len(tails):
            tails.append(-v)
        else:
            tails[k] = -v
        lds.append(k + 1)
    max_end = max(range(len(lds)), key=lambda i: (lds[i], -i))
    max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    return max(0, max_start + int(sections) + int(sections / 2))


def _running_median(ys: Sequence[float], width: int) -> list[float]:
    half = width // 2
    out = []
    for i in range(len(ys)):
        window = sorted(ys[max(0, i - half) : i + half + 1])
        m = len(window)
        out.append(window[m // 2] if m % 2 else 0.5 * (window[m // 2 - 1] + window[m // 2]))
    return out


def _kernel_smooth(xs: Sequence[float], ys: Sequence[float], sigma: float) -> list[float]:
    out = []
    n = len(xs)
    for i in range(n):
        num = den = 0.0
        for j in range(n):
            d = (xs[j] - xs[i]) / sigma
            if d * d > 36.0:  # beyond 6 sigma the weight is below 1e-7
                continue
            w = math.exp(-0.5 * d * d)
            num += w * ys[j]
            den += w
        out.append(num / den)
    return out


def lag_free_curve(lrs: Sequence[float], losses: Sequence[float], span: float) -> list[float]:
    """The centred, spike-robust curve of the default rule (the finite prefix of ``losses``).

    ``span`` is the sweep's width in ``ln lr`` (``ln(max_lr / min_lr)``); the kernel's sigma is
    2.5% of it.
    """
    xs = [math.log(lr) for lr in lrs]
    sigma = max(_KERNEL_FRACTION * span, 1e-12)
    return _kernel_smooth(xs, _running_median(losses, _MEDIAN_WIDTH), sigma)


# ----------------------------------------------------------------------------------------------
# The finder
# ----------------------------------------------------------------------------------------------


class LRFinder:
    """The LR range test: the sweep, the record, the stop, the suggestions.

    Step ``i`` of ``steps`` uses the LR (of the reference group, see the module docs)

    - ``mode="exp"``: ``min_lr * (max_lr / min_lr) ** (i / (steps - 1))`` (log-spaced),
    - ``mode="linear"``: ``min_lr + (max_lr - min_lr) * i / (steps - 1)``,

    so the first step uses ``min_lr`` and the last ``max_lr``. After each step the entry point
    passes the loss to :meth:`record`, which keeps the bias-corrected moving average
    ``smoothed[n] = avg[n] / (1 - smooth ** (n + 1))`` with ``avg[n] = smooth * avg[n - 1] + (1 -
    smooth) * loss[n]`` (fastai's and Lightning's smoothing) and says whether to go on. The sweep
    stops after ``steps`` steps, at the first NaN or infinite loss, or on divergence: once the
    first ``min(10, steps // 10)`` steps have set a reference level ``ref`` (their median loss),
    with ``noise`` the standard deviation of the raw losses (estimated from the median jump
    between consecutive losses so far, which ignores spikes and trends), the smoothed loss rising
    above ``best + max(diverge * (ref - best), 4 * noise)``, ``best`` being the lowest smoothed
    loss since the end of those first steps, and the median of the last 7 raw losses above it
    too (so that one spike, which the moving average remembers for dozens of steps, does not end
    the sweep). The margin is a fraction of the drop the sweep has achieved, not a multiple of
    ``best``, so it works for negative losses (log-likelihoods) and for losses that end near 0.

    Args:
        min_lr: LR of the first step (the reference group's LR), > 0.
        max_lr: LR of the last step, > ``min_lr``.
        steps: number of steps (optimizer updates) in the sweep, >= 2.
        mode: ``"exp"`` (log-spaced LRs, the usual choice) or ``"linear"``.
        smooth: the moving average's ``beta`` in ``[0, 1)``; 0 records the raw losses.
        diverge: the fraction of the achieved drop that the smoothed loss may give back before
            the sweep stops, > 0; ``None`` never stops on divergence (only on NaN/inf or after
            ``steps``).
        rule: the rule behind :attr:`suggestion`, one of ``"knee"`` (the default),
            ``"valley"``, ``"steepest"``, ``"minimum/10"`` (see the module docs).

    Attributes (the record):
        lrs: the reference group's LR at each step taken.
        losses: the loss recorded at each step taken (a NaN/inf one included).
        smoothed: the bias-corrected moving average after each step (NaN from a non-finite
            loss on).
        base_lrs: each group's configured LR, as given to :meth:`begin`.
        stop_reason: ``None`` while the sweep runs; then ``"steps"``, ``"diverged"`` or
            ``"non-finite"``.

    >>> f = LRFinder(min_lr=1e-3, max_lr=1.0, steps=4)
    >>> [round(f.lr_at(i), 6) for i in range(4)]
    [0.001, 0.01, 0.1, 1.0]
    >>> f.begin(base_lrs=[0.1, 0.01])  # two groups, ratio 10
    >>> [round(lr, 6) for lr in f.group_lrs(3)]
    [1.0, 0.1]
    """

    def __init__(
        self,
        min_lr: float = 1e-7,
        max_lr: float = 10.0,
        steps: int = 100,
        *,
        mode: Literal["exp", "linear"] = "exp",
        smooth: float = 0.98,
        diverge: float | None = 0.5,
        rule: str = DEFAULT_RULE,
    ) -> None:
        owner = "LRFinder()"
        self.min_lr = _check_positive_float(owner, "min_lr", min_lr)
        self.max_lr = _check_positive_float(owner, "max_lr", max_lr)
        if not self.max_lr > self.min_lr:
            raise ValueError(f"{owner}: max_lr must be > min_lr ({min_lr!r}), got {max_lr!r}")
        if isinstance(steps, bool) or not isinstance(steps, int):
            raise TypeError(f"{owner}: steps must be an int, got {steps!r}")
        if steps < 2:
            raise ValueError(f"{owner}: steps must be >= 2, got {steps!r}")
        self.steps = steps
        if mode not in MODES:
            raise ValueError(f"{owner}: mode can be {' or '.join(MODES)}, got {mode!r}")
        self.mode: Literal["exp", "linear"] = mode
        if isinstance(smooth, bool) or not isinstance(smooth, (int, float)):
            raise TypeError(f"{owner}: smooth must be a number, got {smooth!r}")
        if not 0.0 <= smooth < 1.0:
            raise ValueError(f"{owner}: smooth must be in [0, 1), got {smooth!r}")
        self.smooth = float(smooth)
        self.diverge = None if diverge is None else _check_positive_float(owner, "diverge", diverge)
        if rule not in RULES:
            raise ValueError(f"{owner}: rule can be {', '.join(RULES)}, got {rule!r}")
        self.rule = rule
        self.begin()

    # -- the sweep ------------------------------------------------------------------------------

    def begin(self, base_lrs: Sequence[float] = (1.0,)) -> None:
        """Start a sweep (clearing any record) for groups configured with ``base_lrs``.

        The first group whose base LR is not 0 is the reference: it gets :meth:`lr_at`, and every
        group gets ``lr_at(i) * base / reference``, so groups keep their ratios (a group at 0
        stays at 0). When every base LR is 0, every group gets :meth:`lr_at`.
        """
        bases = []
        for i, b in enumerate(base_lrs):
            if isinstance(b, bool):
                raise TypeError(f"LRFinder.begin(): base_lrs[{i}] must be a number, got {b!r}")
            try:
                value = float(b)
            except (TypeError, ValueError):
                raise TypeError(
                    f"LRFinder.begin(): base_lrs[{i}] must be a number, got {b!r}"
                ) from None
            if not (value >= 0 and math.isfinite(value)):
                raise ValueError(
                    f"LRFinder.begin(): base_lrs[{i}] must be a finite number >= 0, got {b!r}"
                )
            bases.append(value)
        if not bases:
            raise ValueError("LRFinder.begin(): base_lrs is empty: there is no group to sweep")
        self.base_lrs: list[float] = bases
        ref = next((b for b in bases if b > 0), None)
        self._ratios = [1.0] * len(bases) if ref is None else [b / ref for b in bases]
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self.stop_reason: str | None = None
        self._avg = 0.0
        self._best = math.inf
        self._ref: float | None = None
        self._noise = 0.0
        self._jumps: list[float] = []
        self._cache: dict[str, float | None] | None = None

    def lr_at(self, step: int) -> float:
        """The reference group's LR at sweep step ``step`` (0-based, ``< steps``)."""
        if isinstance(step, bool) or not isinstance(step, int):
            raise TypeError(f"LRFinder.lr_at(): step must be an int, got {step!r}")
        if not 0 <= step < self.steps:
            raise ValueError(f"LRFinder.lr_at(): step must be in [0, {self.steps}), got {step}")
        t = step / (self.steps - 1)
        if self.mode == "exp":
            return self.min_lr * (self.max_lr / self.min_lr) ** t
        return self.min_lr + (self.max_lr - self.min_lr) * t

    def group_lrs(self, step: int) -> list[float]:
        """Every group's LR at sweep step ``step``: :meth:`lr_at` times the group's ratio."""
        lr = self.lr_at(step)
        return [lr * r for r in self._ratios]

    @property
    def done(self) -> bool:
        """Whether the sweep has stopped (see :attr:`stop_reason`)."""
        return self.stop_reason is not None

    def record(self, loss: float) -> bool:
        """Record the loss of the next step; return whether the sweep goes on.

        The step's LR is ``lr_at(len(lrs))``. Returns ``False`` (and sets :attr:`stop_reason`)
        after the last step, at a NaN or infinite loss, or on divergence.
        """
        if self.done:
            raise RuntimeError(
                f"LRFinder.record(): the sweep has already stopped ({self.stop_reason} after "
                f"{len(self.lrs)} steps); call begin() to start a new one"
            )
        if isinstance(loss, bool):
            raise TypeError(f"LRFinder.record(): loss must be a number, got {loss!r}")
        try:
            value = float(loss)
        except (TypeError, ValueError):
            raise TypeError(f"LRFinder.record(): loss must be a number, got {loss!r}") from None
        n = len(self.lrs)
        self.lrs.append(self.lr_at(n))
        self.losses.append(value)
        self._cache = None
        if not _finite(value):
            self.smoothed.append(math.nan)
            self.stop_reason = "non-finite"
            return False
        self._avg = self.smooth * self._avg + (1.0 - self.smooth) * value
        smoothed = self._avg / (1.0 - self.smooth ** (n + 1))
        self.smoothed.append(smoothed)
        window = self._window()
        if n + 1 >= window:  # before that the average is over too few losses to be a "best"
            self._best = min(self._best, smoothed)
        if n >= 1:
            bisect.insort(self._jumps, abs(value - self.losses[-2]))
        if n + 1 == window:
            self._ref = _median(sorted(self.losses[:window]))
        if n + 1 >= window and self._jumps:
            # sigma of the raw losses from their step-to-step jumps (robust to spikes and trend)
            self._noise = 1.4826 * _median(self._jumps) / math.sqrt(2.0)
        if self.diverge is not None and self._ref is not None and n + 1 > window:
            margin = max(self.diverge * (self._ref - self._best), _NOISE_MARGIN * self._noise)
            recent = _median(sorted(self.losses[-_RECENT:]))
            if smoothed > self._best + margin and recent > self._best + margin:
                self.stop_reason = "diverged"
                return False
        if n + 1 == self.steps:
            self.stop_reason = "steps"
            return False
        return True

    def _window(self) -> int:
        return max(1, min(_WINDOW, self.steps // 10))

    def _skip(self) -> int:
        """Points the rules leave out at the start: fastai's ``steps // 10`` for a log sweep;
        for a linear one, whose first tenth spans most of the log-LR range, ``min(10, steps //
        10)``."""
        return self.steps // 10 if self.mode == "exp" else self._window()

    # -- the suggestions ------------------------------------------------------------------------

    def _finite_prefix(self) -> int:
        for i, (loss, sm) in enumerate(zip(self.losses, self.smoothed)):
            if not (_finite(loss) and _finite(sm)):
                return i
        return len(self.losses)

    @property
    def suggestions(self) -> dict[str, float | None]:
        """Every rule's suggested LR for the reference group (``None`` where the record is too
        short for that rule: fewer than 2 usable points; and for every rule where fewer than 3
        finite losses follow the first ``steps // 10`` that the rules leave out)."""
        if self._cache is None:
            enough = self._finite_prefix() >= self._skip() + _MIN_POINTS
            self._cache = {name: self._suggest(name) if enough else None for name in RULES}
        return dict(self._cache)

    def _trimmed(self) -> tuple[list[float], list[float]]:
        """fastai's trimming: the first steps // 10 and the last 5 points, finite ones only."""
        end = min(len(self.lrs) - _SKIP_END, self._finite_prefix())
        start = self._skip()
        return self.lrs[start:end], self.smoothed[start:end]

    def _suggest(self, name: str) -> float | None:
        if name == "knee":
            return self.knee()
        lrs, smoothed = self._trimmed()
        if len(lrs) < 2:
            return None
        if name == "valley":
            return lrs[_valley_index(smoothed)]
        if name == "minimum/10":
            return lrs[min(range(len(smoothed)), key=smoothed.__getitem__)] / 10.0
        grads = _gradient([math.log(lr) for lr in lrs], smoothed)
        return lrs[min(range(len(grads)), key=grads.__getitem__)]  # "steepest"

    def lag_free(self) -> list[float]:
        """The lag-free curve behind the default rule, one value per finite recorded loss."""
        n = self._finite_prefix()
        span = math.log(self.max_lr / self.min_lr)
        return lag_free_curve(self.lrs[:n], self.losses[:n], span)

    def _lowest(self) -> tuple[list[float], int, int] | None:
        """The lag-free curve, the first point the rules use, and the index of its lowest."""
        curve = self.lag_free()
        if len(curve) < 3:
            return None
        start = min(self._skip(), len(curve) - 3)
        return curve, start, min(range(start, len(curve)), key=curve.__getitem__)

    def edge(self) -> float | None:
        """The LR at the lowest point of :meth:`lag_free`, where training stops improving
        (``None`` with fewer than 3 finite losses).

        The first ``steps // 10`` points are left out, as fastai leaves them out (in a linear
        sweep, ``min(10, steps // 10)``).
        """
        found = self._lowest()
        return None if found is None else self.lrs[found[2]]

    def knee(self) -> float | None:
        """The default rule: the smallest LR, walking down from :meth:`edge`, at which the
        lag-free loss is within 10% of its drop (from the reference level to the lowest) of the
        lowest (``None`` with fewer than 3 finite losses)."""
        found = self._lowest()
        if found is None:
            return None
        curve, start, i = found
        ref = self._ref if self._ref is not None else _median(sorted(self.losses[: i + 1]))
        threshold = curve[i] + _KNEE_FRACTION * max(ref - curve[i], 0.0)
        while i > start and curve[i - 1] <= threshold:
            i -= 1
        return self.lrs[i]

    @property
    def suggestion(self) -> float:
        """The suggested LR of the reference group, by :attr:`rule`: the LR to configure.

        Raises ``RuntimeError`` when the record is too short to suggest anything (the sweep
        stopped, at a NaN or infinite loss or on divergence, before 3 finite losses followed the
        first ``steps // 10``: lower ``min_lr`` or check the loss).
        """
        value = self.suggestions[self.rule]
        if value is None:
            finite = self._finite_prefix()
            bad = (
                f"; the loss was {self.losses[finite]} at step {finite + 1} "
                f"(LR {self.lrs[finite]:.3g})"
                if finite < len(self.losses)
                else ""
            )
            raise RuntimeError(
                f"LRFinder: no suggestion: the sweep recorded {len(self.lrs)} step(s) "
                f"({finite} with a finite loss, stop: {self.stop_reason}){bad}; a suggestion "
                f"needs {self._skip() + _MIN_POINTS} finite losses (the rules leave out the "
                f"first {self._skip()}): lower min_lr, raise steps, or check the loss"
            )
        return value

    @property
    def suggested_lrs(self) -> list[float]:
        """Every group's LR for :attr:`suggestion` (the groups keep their configured ratios)."""
        s = self.suggestion
        return [s * r for r in self._ratios]

    # -- data -----------------------------------------------------------------------------------

    def config(self) -> dict[str, Any]:
        """The constructor arguments, JSON-compatible: ``LRFinder(**finder.config())``."""
        return {
            "min_lr": self.min_lr,
            "max_lr": self.max_lr,
            "steps": self.steps,
            "mode": self.mode,
            "smooth": self.smooth,
            "diverge": self.diverge,
            "rule": self.rule,
        }

    def to_dict(self) -> dict[str, Any]:
        """The configuration, the record and the suggestions, JSON-compatible (NaN/inf as None).

        >>> f = LRFinder(min_lr=0.1, max_lr=1.0, steps=2)
        >>> f.record(1.0), f.record(0.5)
        (True, False)
        >>> d = f.to_dict()
        >>> d["losses"], d["stop_reason"], LRFinder.from_dict(d).losses
        ([1.0, 0.5], 'steps', [1.0, 0.5])
        """
        suggestions = self.suggestions
        return {
            "format": FORMAT,
            "config": self.config(),
            "base_lrs": list(self.base_lrs),
            "lrs": list(self.lrs),
            "losses": [_json_float(x) for x in self.losses],
            "smoothed": [_json_float(x) for x in self.smoothed],
            "stop_reason": self.stop_reason,
            "suggestions": suggestions,
            "suggestion": suggestions[self.rule],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LRFinder:
        """Rebuild a finder from :meth:`to_dict`'s output by replaying its losses."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            got = data.get("format") if isinstance(data, dict) else type(data).__name__
            raise ValueError(f"LRFinder.from_dict(): expected format {FORMAT!r}, got {got!r}")
        finder = cls(**data["config"])
        finder.begin(data["base_lrs"])
        for loss in data["losses"]:
            if finder.done:
                break
            finder.record(math.nan if loss is None else loss)
        return finder

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_dict` as JSON to ``path`` (for ``lrplugins lr-find PATH``)."""
        with open(path, "w", encoding="utf-8") as fh:
            json.dump(self.to_dict(), fh, indent=1, allow_nan=False)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LRFinder:
        """Read a record written by :meth:`save`."""
        with open(path, encoding="utf-8") as fh:
            return cls.from_dict(json.load(fh))

    def __repr__(self) -> str:
        state = self.stop_reason or "running"
        return (
            f"LRFinder(min_lr={self.min_lr!r}, max_lr={self.max_lr!r}, steps={self.steps}, "
            f"mode={self.mode!r}; {len(self.lrs)} steps recorded, {state})"
        )

    def summary(self) -> str:
        """A few lines: steps, stop reason, every rule's suggestion (the chosen one marked)."""
        head = (
            f"LR range test: {len(self.lrs)} of {self.steps} steps, "
            f"{self.min_lr:g} .. {self.max_lr:g} ({self.mode}), stop: {self.stop_reason}"
        )
        lines = [head]
        for name, value in self.suggestions.items():
            mark = " <- suggestion" if name == self.rule else ""
            shown = "n/a (too few points)" if value is None else f"{value:.3g}"
            lines.append(f"  {name:<11} {shown}{mark}")
        return "\n".join(lines)

    # -- the picture ----------------------------------------------------------------------------

    def plot(self, ax: Any = None, *, rules: bool = True) -> Any:
        """Plot the losses against the LR and mark the suggestion; returns the matplotlib Axes.

        Raw losses in light grey, the smoothed ones and the knee rule's lag-free curve on
        top, a red dot and line at :attr:`suggestion`; with ``rules=True`` the other rules'
        suggestions as small markers. The y-axis is cut a little above the starting loss so the
        blow-up does not flatten the curve. Needs matplotlib (``pip install 'lrplugins[plot]'``).
        """
        try:
            import matplotlib.pyplot as plt
        except ImportError:
            raise ImportError(
                "LRFinder.plot() needs matplotlib: pip install 'lrplugins[plot]'"
            ) from None
        if ax is None:
            _, ax = plt.subplots(figsize=(7, 4.2))
        n = self._finite_prefix()
        lrs, raw, sm = self.lrs[:n], self.losses[:n], self.smoothed[:n]
        ax.plot(lrs, raw, color="0.75", linewidth=0.9, label="loss")
        ax.plot(lrs, sm, color="tab:blue", linewidth=1.6, label=f"smoothed (beta={self.smooth})")
        lag_free = self.lag_free() if n >= 3 else sm
        if n >= 3:
            ax.plot(
                lrs,
                lag_free,
                color="tab:green",
                linewidth=1.2,
                linestyle="--",
                label="lag-free (knee rule)",
            )
        if self.mode == "exp":
            ax.set_xscale("log")
        finite = [y for y in raw + sm if _finite(y)]
        if finite:
            window = raw[: max(1, self._window())]
            top = max(max(window), max(sm[: max(1, len(sm) // 3)] or window))
            bottom = min(finite)
            pad = 0.1 * (top - bottom) if top > bottom else abs(top) * 0.1 or 1.0
            ax.set_ylim(bottom - pad, top + 2 * pad)
        markers = {"valley": "v", "steepest": "s", "minimum/10": "^", "knee": "o"}
        for name, value in self.suggestions.items():
            if value is None or (name != self.rule and not rules):
                continue
            # each mark sits on the curve its rule reads: the knee on the lag-free one
            y = _interp(lrs, lag_free if name == "knee" else sm, value)
            if name == self.rule:
                ax.axvline(value, color="tab:red", linewidth=1.0, alpha=0.6)
                ax.plot(
                    [value],
                    [y],
                    marker="o",
                    color="tab:red",
                    markersize=9,
                    label=f"suggestion {name}: {value:.2g}",
                    linestyle="none",
                )
            else:
                ax.plot(
                    [value],
                    [y],
                    marker=markers.get(name, "x"),
                    color="black",
                    markersize=6,
                    linestyle="none",
                    label=f"{name}: {value:.2g}",
                    fillstyle="none",
                )
        ax.set_xlabel("learning rate" + (" (log scale)" if self.mode == "exp" else ""))
        ax.set_ylabel("training loss")
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(fontsize="small")
        return ax


def _median(sorted_values: Sequence[float]) -> float:
    m = len(sorted_values)
    if m % 2:
        return sorted_values[m // 2]
    return 0.5 * (sorted_values[m // 2 - 1] + sorted_values[m // 2])


def _interp(lrs: Sequence[float], ys: Sequence[float], lr: float) -> float:
    """``ys`` at ``lr`` (linear in ln lr), clamped to the ends."""
    if not lrs:
        return math.nan
    if lr <= lrs[0]:
        return ys[0]
    for i in range(1, len(lrs)):
        if lr <= lrs[i]:
            t = (math.log(lr) - math.log(lrs[i - 1])) / (math.log(lrs[i]) - math.log(lrs[i - 1]))
            return ys[i - 1] + t * (ys[i] - ys[i - 1])
    return ys[-1]


def plot_record(
    path: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    title: str | None = None,
    dpi: int = 120,
) -> LRFinder:
    """Plot a record saved by :meth:`LRFinder.save` to the image ``out``; returns the finder.

    The ``lrplugins lr-find RECORD -o OUT`` command calls this.
    """
    finder = LRFinder.load(path)
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError("plot_record() needs matplotlib: pip install 'lrplugins[plot]'") from None
    fig, ax = plt.subplots(figsize=(7, 4.2))
    try:
        finder.plot(ax)
        if title:
            ax.set_title(title)
        fig.tight_layout()
        fig.savefig(out, dpi=dpi)
    finally:
        plt.close(fig)
    return finder


def record_report(
    path: str | os.PathLike[str], output: str | os.PathLike[str] | None = None
) -> str:
    """What ``lrplugins lr-find RECORD [-o OUTPUT]`` prints: the record's summary (steps, stop,
    every rule's suggestion), and ``wrote OUTPUT`` after plotting it there when given.

    Errors (a missing or malformed file, no matplotlib for ``output``) are ``OSError``,
    ``ValueError`` or ``ImportError`` with a one-line message.
    """
    try:
        finder = LRFinder.load(path)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not a JSON record: {exc}") from None
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not an LR range test record ({exc})") from None
    lines = [finder.summary()]
    if output is not None:
        plot_record(path, output)
        lines.append(f"wrote {output}")
    return "\n".join(lines)
