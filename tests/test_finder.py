"""The framework-free LR range test (``lrplugins._finder``) on synthetic curves with known answers.

Each synthetic loss is a function of the LR alone, so the LR at which it is lowest (the *edge*)
and the LR at which it has done 90% of its falling (the *knee*, the default rule) are known by a
fine search; noise, a constant shift (negative losses), a scale,
an early spike and a NaN tail are laid on top.
"""

from __future__ import annotations

import doctest
import json
import math
import random
import subprocess
import sys
from collections.abc import Callable

import pytest

from lrplugins import _finder
from lrplugins._finder import RULES, LRFinder, plot_record, record_report


def bowl(lr: float) -> float:
    """Falls from 1 to 0 around 1e-3, explodes from ~0.02 on; lowest near 7.3e-3."""
    return 1.0 / (1.0 + (lr / 1e-3) ** 2) + (lr / 0.05) ** 4


def true_edge(f: Callable[[float], float], lo: float = 1e-6, hi: float = 1.0) -> float:
    xs = [lo * (hi / lo) ** (i / 20000) for i in range(20001)]
    return min(xs, key=f)


def true_knee(f: Callable[[float], float], lo: float = 1e-6, hi: float = 1.0) -> float:
    xs = [lo * (hi / lo) ** (i / 20000) for i in range(20001)]
    edge = true_edge(f, lo, hi)
    low, ref = f(edge), f(lo)
    return next(x for x in xs if x <= edge and f(x) <= low + 0.1 * (ref - low))


def sweep(
    f: Callable[[float], float],
    *,
    noise: float = 0.0,
    seed: int = 0,
    spike: dict[int, float] | None = None,
    nan_from: int | None = None,
    **kw: object,
) -> LRFinder:
    kw = {"min_lr": 1e-6, "max_lr": 1.0, "steps": 100, **kw}
    finder = LRFinder(**kw)  # type: ignore[arg-type]
    rng = random.Random(seed)
    for i in range(finder.steps):
        loss = f(finder.lr_at(i)) + noise * rng.gauss(0.0, 1.0)
        if spike and i in spike:
            loss += spike[i]
        if nan_from is not None and i >= nan_from:
            loss = math.nan
        if not finder.record(loss):
            break
    return finder


def decades(a: float, b: float) -> float:
    return abs(math.log10(a / b))


# ------------------------------------------------------------------------------------------------
# The sweep and the record
# ------------------------------------------------------------------------------------------------


def test_exp_sweep_goes_from_min_to_max_log_spaced() -> None:
    f = LRFinder(min_lr=1e-5, max_lr=1e-1, steps=5)
    assert [f.lr_at(i) for i in range(5)] == pytest.approx(
        [1e-5, 1e-4, 1e-3, 1e-2, 1e-1], rel=1e-12
    )


def test_linear_sweep() -> None:
    f = LRFinder(min_lr=0.1, max_lr=0.5, steps=5, mode="linear")
    assert [f.lr_at(i) for i in range(5)] == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5], rel=1e-12)


def test_smoothed_is_the_bias_corrected_moving_average() -> None:
    rng = random.Random(1)
    losses = [rng.uniform(1, 2) for _ in range(30)]
    f = LRFinder(steps=30, smooth=0.9, diverge=None)
    for x in losses:
        f.record(x)
    avg, want = 0.0, []
    for n, x in enumerate(losses):
        avg = 0.9 * avg + 0.1 * x
        want.append(avg / (1 - 0.9 ** (n + 1)))
    assert f.smoothed == pytest.approx(want, rel=1e-12)
    assert f.losses == losses
    assert f.lrs == [f.lr_at(i) for i in range(30)]
    assert f.stop_reason == "steps" and f.done


def test_smooth_zero_records_the_raw_losses() -> None:
    f = LRFinder(steps=4, smooth=0.0, diverge=None)
    for x in (3.0, 1.0, 2.0, 5.0):
        f.record(x)
    assert f.smoothed == [3.0, 1.0, 2.0, 5.0]


def test_record_says_when_to_stop_and_refuses_more() -> None:
    f = LRFinder(steps=3, diverge=None)
    assert [f.record(1.0), f.record(1.0), f.record(1.0)] == [True, True, False]
    with pytest.raises(RuntimeError, match="already stopped"):
        f.record(1.0)
    f.begin()  # a new sweep
    assert f.lrs == [] and not f.done and f.record(1.0)


def test_groups_keep_their_ratio_and_zero_stays_zero() -> None:
    f = LRFinder(min_lr=1e-4, max_lr=1.0, steps=5)
    f.begin([0.0, 2e-3, 1e-3, 0.0])  # the reference is the first non-zero group
    for i in range(5):
        lrs = f.group_lrs(i)
        assert lrs[1] == pytest.approx(f.lr_at(i), rel=1e-15)
        assert lrs[2] == pytest.approx(f.lr_at(i) / 2, rel=1e-15)
        assert lrs[0] == lrs[3] == 0.0
    for x in bowl_series(5):
        if not f.record(x):
            break
    sugg = f.suggestion
    assert f.suggested_lrs == pytest.approx([0.0, sugg, sugg / 2, 0.0], rel=1e-15)
    f.begin([0.0, 0.0])
    assert f.group_lrs(2) == [f.lr_at(2)] * 2


def bowl_series(n: int) -> list[float]:
    return [1.0, 0.8, 0.5, 0.4, 0.45][:n]


# ------------------------------------------------------------------------------------------------
# Known answers
# ------------------------------------------------------------------------------------------------


def test_clean_curve_edge_and_rules() -> None:
    f = sweep(bowl)
    assert f.stop_reason == "diverged"
    assert f.lrs[-1] > true_edge(bowl)  # it stops past the minimum, never before
    assert decades(f.edge(), true_edge(bowl)) < 0.1
    assert decades(f.knee(), true_knee(bowl)) < 0.1
    assert 2.5e-3 < true_knee(bowl) < 3.5e-3  # 1/(1+(lr/a)^2) = 0.1 at lr = 3a
    s = f.suggestions
    assert set(s) == set(RULES)
    assert s["knee"] == f.knee() and f.suggestion == s["knee"]
    # minimum/10 and steepest, recomputed from the record by hand (fastai's trimming)
    lrs, sm = f.lrs[10:-5], f.smoothed[10:-5]
    assert s["minimum/10"] == pytest.approx(lrs[sm.index(min(sm))] / 10, rel=1e-15)
    x = [math.log(v) for v in lrs]
    grads = [(sm[i + 1] - sm[i - 1]) / (x[i + 1] - x[i - 1]) for i in range(1, len(sm) - 1)]
    assert s["steepest"] == lrs[1 + grads.index(min(grads))]
    # the steepest fall of 1/(1+(lr/a)^2) in ln lr is at lr = a, but the moving average lags
    assert 1e-3 <= s["steepest"] < 1e-2


@pytest.mark.parametrize("seed", range(12))
def test_noisy_curve_edge_within_a_third_of_a_decade(seed: int) -> None:
    """Noise of 5% of the drop; the bowl is flat near its bottom (7e-3 .. 2e-2 are within 0.02
    of the lowest loss), so a third of a decade is the resolution the data allow."""
    f = sweep(bowl, noise=0.05, seed=seed)
    assert f.stop_reason == "diverged"
    assert f.lrs[-1] > true_edge(bowl)  # noise never stops the sweep early (seed 10 once did)
    assert decades(f.edge(), true_edge(bowl)) < 0.3
    assert decades(f.knee(), true_knee(bowl)) < 0.2  # the knee is on the steep side: sharper


@pytest.mark.parametrize(("shift", "scale"), [(-10.0, 1.0), (-1e4, 1.0), (0.0, 1e3), (5.0, 1e-3)])
def test_negative_and_rescaled_losses_change_nothing(shift: float, scale: float) -> None:
    """Stop and suggestions are invariant to ``loss -> scale * loss + shift``: a negative loss
    (a log-likelihood) stops where its positive twin does, unlike a ``k * best`` rule."""
    ref = sweep(bowl, noise=0.02, seed=3)
    moved = sweep(lambda lr: scale * bowl(lr) + shift, noise=0.02 * scale, seed=3)
    assert moved.stop_reason == ref.stop_reason == "diverged"
    assert len(moved.lrs) == len(ref.lrs)
    for name in RULES:
        assert moved.suggestions[name] == pytest.approx(ref.suggestions[name], rel=1e-9), name


def test_all_negative_loss_stops_on_divergence() -> None:
    f = sweep(lambda lr: -5.0 + bowl(lr))
    assert all(x < 0 for x in f.losses[:50])
    assert f.stop_reason == "diverged"
    assert decades(f.edge(), true_edge(bowl)) < 0.1


def test_early_spike_does_not_stop_the_sweep_or_move_the_edge() -> None:
    spiked = sweep(bowl, noise=0.02, seed=4, spike={12: 50.0, 13: 30.0})
    clean = sweep(bowl, noise=0.02, seed=4)
    assert spiked.stop_reason == "diverged"
    assert spiked.lrs[-1] > true_edge(bowl)
    assert spiked.edge() == clean.edge()
    assert spiked.knee() == clean.knee()


def test_nan_tail_stops_and_suggests_from_the_finite_part() -> None:
    f = sweep(bowl, nan_from=80, diverge=None)
    assert f.stop_reason == "non-finite"
    assert len(f.lrs) == 81 and math.isnan(f.losses[-1]) and math.isnan(f.smoothed[-1])
    assert all(v is not None and math.isfinite(v) for v in f.suggestions.values())
    assert decades(f.edge(), true_edge(bowl)) < 0.1
    d = f.to_dict()
    assert d["losses"][-1] is None and d["smoothed"][-1] is None
    json.dumps(d, allow_nan=False)


def test_infinite_loss_stops_too() -> None:
    f = LRFinder(steps=10)
    assert f.record(1.0) and not f.record(math.inf)
    assert f.stop_reason == "non-finite"


def test_diverge_none_runs_every_step() -> None:
    f = sweep(bowl, diverge=None, max_lr=0.2)
    assert f.stop_reason == "steps" and len(f.lrs) == 100
    assert f.lrs[-1] == pytest.approx(0.2, rel=1e-12)


def test_a_smaller_diverge_stops_earlier() -> None:
    steps = [len(sweep(bowl, diverge=d).lrs) for d in (0.1, 0.5, 2.0)]
    assert steps[0] < steps[1] < steps[2]


def test_linear_mode_rules_work_in_log_lr() -> None:
    """A loss that falls as a function of ln lr: steepest (in ln lr) is at its centre, 0.05.

    In linear LR the steepest point would be at the smallest LR of the fall, far below."""

    def fall(lr: float) -> float:
        return -math.tanh(3 * (math.log(lr) - math.log(0.05))) + (lr / 0.4) ** 6

    f = sweep(fall, min_lr=0.001, max_lr=1.0, steps=400, mode="linear", smooth=0.0)
    assert f.mode == "linear"
    assert f.lrs[1] - f.lrs[0] == pytest.approx(f.lrs[2] - f.lrs[1], rel=1e-9)
    assert decades(f.suggestions["steepest"], 0.05) < 0.03
    assert decades(f.edge(), true_edge(fall, 1e-3, 1.0)) < 0.05
    assert decades(f.knee(), true_knee(fall, 1e-3, 1.0)) < 0.05


def fastai_valley(losses: list[float]) -> int:
    """fastai 2.8's ``valley`` loop, verbatim but for the returned index."""
    n = len(losses)
    max_start, max_end = 0, 0
    lds = [1] * n
    for i in range(1, n):
        for j in range(i):
            if (losses[i] < losses[j]) and (lds[i] < lds[j] + 1):
                lds[i] = lds[j] + 1
            if lds[max_end] < lds[i]:
                max_end = i
                max_start = max_end - lds[max_end]
    sections = (max_end - max_start) / 3
    return max_start + int(sections) + int(sections / 2)


@pytest.mark.parametrize("seed", range(30))
def test_valley_is_fastais(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(3, 80)
    losses = [round(rng.uniform(0, 1), rng.choice([1, 3])) for _ in range(n)]  # with ties
    want = fastai_valley(losses)
    assert _finder._valley_index(losses) == max(0, want)


def test_valley_in_the_record_uses_fastais_trimming() -> None:
    f = sweep(bowl, noise=0.01, seed=2)
    sm = f.smoothed[10:-5]
    assert f.suggestions["valley"] == f.lrs[10 + fastai_valley(sm)]


def test_too_short_a_record_has_no_suggestion() -> None:
    f = LRFinder(steps=100)
    f.record(1.0)
    f.record(math.nan)
    assert all(v is None for v in f.suggestions.values())
    with pytest.raises(RuntimeError, match=r"no suggestion: the sweep recorded 2 step\(s\)"):
        _ = f.suggestion


@pytest.mark.parametrize("steps", [20, 100])
def test_a_loss_that_turns_nan_early_is_refused(steps: int) -> None:
    """Three finite losses, then NaN: no rule may suggest from the start of the sweep alone."""
    f = sweep(bowl, nan_from=3, steps=steps)
    assert f.stop_reason == "non-finite" and len(f.lrs) == 4
    assert all(v is None for v in f.suggestions.values())
    assert f.to_dict()["suggestion"] is None
    with pytest.raises(RuntimeError, match=r"3 with a finite loss.*the loss was nan at step 4"):
        _ = f.suggestion
    # past the start the rules leave out (steps // 10), a few finite losses are enough
    g = sweep(bowl, nan_from=steps // 10 + 3, steps=steps)
    assert g.suggestion == g.suggestions["knee"] is not None


@pytest.mark.parametrize("rule", RULES)
def test_rule_picks_the_suggestion(rule: str) -> None:
    ref = sweep(bowl, noise=0.01)
    f = sweep(bowl, noise=0.01, rule=rule)
    assert f.suggestion == ref.suggestions[rule]
    assert f.to_dict()["suggestion"] == ref.suggestions[rule]


# ------------------------------------------------------------------------------------------------
# Arguments
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "exc", "message"),
    [
        ({"min_lr": 0}, ValueError, "min_lr must be a finite number > 0, got 0"),
        ({"min_lr": "1e-3"}, TypeError, "min_lr must be a number, got '1e-3'"),
        ({"max_lr": math.inf}, ValueError, "max_lr must be a finite number > 0, got inf"),
        ({"min_lr": 1.0, "max_lr": 0.5}, ValueError, r"max_lr must be > min_lr \(1.0\), got 0.5"),
        ({"steps": 1}, ValueError, "steps must be >= 2, got 1"),
        ({"steps": 10.0}, TypeError, "steps must be an int, got 10.0"),
        ({"steps": True}, TypeError, "steps must be an int, got True"),
        ({"mode": "log"}, ValueError, "mode can be exp or linear, got 'log'"),
        ({"smooth": 1.0}, ValueError, r"smooth must be in \[0, 1\), got 1.0"),
        ({"diverge": 0}, ValueError, "diverge must be a finite number > 0, got 0"),
        ({"rule": "fastai"}, ValueError, "rule can be valley, steepest, minimum/10, knee, got"),
    ],
)
def test_bad_arguments_are_named(kwargs: dict, exc: type, message: str) -> None:
    with pytest.raises(exc, match=r"LRFinder\(\): " + message):
        LRFinder(**kwargs)


def test_bad_drive_calls_are_named() -> None:
    f = LRFinder(steps=5)
    with pytest.raises(ValueError, match=r"lr_at\(\): step must be in \[0, 5\), got 5"):
        f.lr_at(5)
    with pytest.raises(TypeError, match=r"record\(\): loss must be a number, got 'x'"):
        f.record("x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"base_lrs\[1\] must be a finite number >= 0, got -1"):
        f.begin([1.0, -1])
    with pytest.raises(ValueError, match="base_lrs is empty"):
        f.begin([])


# ------------------------------------------------------------------------------------------------
# The record as data and as a picture
# ------------------------------------------------------------------------------------------------


def test_dict_json_round_trip(tmp_path) -> None:
    f = sweep(bowl, noise=0.03, seed=7, rule="valley", diverge=0.3)
    f2 = LRFinder.from_dict(json.loads(json.dumps(f.to_dict(), allow_nan=False)))
    assert f2.to_dict() == f.to_dict()
    f.save(tmp_path / "r.json")
    f3 = LRFinder.load(tmp_path / "r.json")
    assert (f3.lrs, f3.losses, f3.smoothed, f3.stop_reason) == (
        f.lrs,
        f.losses,
        f.smoothed,
        f.stop_reason,
    )
    assert f3.suggestions == f.suggestions and f3.rule == "valley"
    assert LRFinder(**f.config()).config() == f.config()
    with pytest.raises(ValueError, match="expected format 'lrplugins.lr_finder/1', got None"):
        LRFinder.from_dict({"lrs": []})


def test_summary_and_repr() -> None:
    f = sweep(bowl)
    text = f.summary()
    assert "stop: diverged" in text and "knee" in text and "<- suggestion" in text
    assert "steps recorded, diverged" in repr(f)


def test_plot_marks_the_suggestion(tmp_path) -> None:
    from conftest import require

    require("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    f = sweep(bowl, noise=0.02)
    ax = f.plot()
    labels = [line.get_label() for line in ax.get_lines()]
    assert any(lbl.startswith("suggestion knee") for lbl in labels)
    assert ax.get_xscale() == "log"
    plt.close("all")
    f.save(tmp_path / "r.json")
    out = tmp_path / "r.png"
    back = plot_record(tmp_path / "r.json", out, title="bowl")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert back.suggestion == f.suggestion
    text = record_report(tmp_path / "r.json", tmp_path / "cli.png")
    assert text.endswith(f"wrote {tmp_path / 'cli.png'}") and (tmp_path / "cli.png").exists()


def test_record_report_for_the_cli(tmp_path) -> None:
    f = sweep(bowl, noise=0.02)
    f.save(tmp_path / "r.json")
    text = record_report(tmp_path / "r.json")
    assert text == f.summary()
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ValueError, match="not a JSON record"):
        record_report(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"format": "lrplugins.lr_finder/1"}')
    with pytest.raises(ValueError, match="not an LR range test record"):
        record_report(tmp_path / "other.json")
    with pytest.raises(OSError):
        record_report(tmp_path / "missing.json")


def test_docstring_examples() -> None:
    result = doctest.testmod(_finder, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_the_core_finder_imports_no_framework() -> None:
    code = (
        "import sys, lrplugins._finder\n"
        "print([m for m in ('numpy', 'torch', 'keras', 'tensorflow', 'jax', 'matplotlib')"
        " if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
