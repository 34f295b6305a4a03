"""Spread over repeats and the verdict against a target, shared by the benchmark scripts.

Every benchmark times ours and the framework's own scheduler in turns within each repeat, so each
repeat gives one *paired* ratio (ours / theirs, measured seconds apart under the same load). The
verdict reads those ratios, not a hand-picked best run:

- ``met``: the ratio is within the target in every repeat;
- ``met at the median``: the median ratio is within the target, some repeats are not;
- ``not met at the median, within the spread``: the median misses, some repeats are within;
- ``NOT met``: no repeat is within the target.

Standard library only; the scripts import it as ``from spread import ...`` (Python puts the
script's folder first on ``sys.path``).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence


def summary(xs: Sequence[float], scale: float = 1.0, digits: int = 2) -> str:
    """``median (min–max)`` of ``xs`` times ``scale``."""
    lo, med, hi = min(xs) * scale, statistics.median(xs) * scale, max(xs) * scale
    return f"{med:.{digits}f} ({lo:.{digits}f}–{hi:.{digits}f})"


def ratios(ours: Sequence[float], theirs: Sequence[float]) -> list[float]:
    """Paired ratios ``ours[i] / theirs[i]``, one per repeat."""
    if len(ours) != len(theirs):
        raise ValueError(f"unpaired repeats: {len(ours)} vs {len(theirs)}")
    return [a / b for a, b in zip(ours, theirs)]


def verdict(rs: Sequence[float], limit: float) -> tuple[str, bool]:
    """(words, met at the median) for paired ratios ``rs`` against ``ratio <= limit``."""
    within = sum(r <= limit for r in rs)
    med = statistics.median(rs)
    if within == len(rs):
        return "met", True
    if med <= limit:
        return f"met at the median ({within} of {len(rs)} repeats within)", True
    if within:
        return f"not met at the median, within the spread ({within} of {len(rs)} within)", False
    return "NOT met (no repeat within)", False


def verdict_line(label: str, rs: Sequence[float], limit: float) -> tuple[str, bool]:
    """One printed line: the target, the paired ratios' median (min–max) and the verdict."""
    words, ok = verdict(rs, limit)
    return f"- {label} <= {limit:g}x: {summary(rs)}x -> **{words}**", ok
