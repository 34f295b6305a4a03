"""The ``lrplugins`` command line: look at a schedule before spending compute on it.

    lrplugins show 'cosine(warmup_steps="5%", final=0.1)' --total-steps 10000 --base-lr 3e-4
    lrplugins plot 'cosine(warmup_steps="5%")' 'wsd(decay_steps="20%")' --total-steps 10000 -o lr.png

A SPEC is a JSON/YAML config file (from ``schedule.to_config()``) or an inline expression built from
catalog calls, literals and ``*`` (parsed safely, never evaluated). Errors are one line on stderr and
a non-zero exit status: 2 for a malformed command line, 1 for a bad spec or value.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from ._finder import record_report
from ._schedules import Schedule, UnboundScheduleError
from .spec import parse_spec

_BLOCKS = " ▁▂▃▄▅▆▇█"


class CLIError(Exception):
    """An error to report as one line, with exit status 1."""


def _bound(spec: str, total: int | None, spe: int | None) -> tuple[Schedule, int]:
    try:
        schedule = parse_spec(spec)
    except (ValueError, TypeError, OSError, ImportError) as exc:
        raise CLIError(str(exc)) from None
    try:
        schedule = schedule.bind(total_steps=total, steps_per_epoch=spe)
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from None
    if not schedule.is_bound:
        needs = "; ".join(schedule.missing)
        flags = "--total-steps" if "total_steps" in needs else "--steps-per-epoch"
        raise CLIError(f"{spec}: missing {needs}; pass {flags}")
    horizon = total
    if horizon is None:
        own: Any = None
        inner: Any = schedule
        while own is None and inner is not None:  # a cooldown or a scale: its schedule's length
            own, inner = getattr(inner, "total_steps", None), getattr(inner, "schedule", None)
        if not isinstance(own, int):
            raise CLIError(f"{spec}: pass --total-steps to choose how many steps to show")
        horizon = own
    return schedule, horizon


def _fmt(x: float) -> str:
    return f"{x:.6g}"


def chart(values: Sequence[float], *, width: int = 64, height: int = 10, label: str = "") -> str:
    """A terminal column chart of ``values`` (already sampled to ``width`` columns)."""
    top = max(values) if values else 0.0
    top = top if top > 0 else 1.0
    eighths = [round(v / top * height * 8) for v in values]
    pad = len(_fmt(top))
    rows = []
    for r in range(height, 0, -1):
        line = "".join(_BLOCKS[min(8, max(0, e - (r - 1) * 8))] for e in eighths)
        tick = _fmt(top) if r == height else ("0" if r == 1 else "")
        rows.append(f"{tick:>{pad}} |{line}")
    rows.append(" " * (pad + 1) + "+" + "-" * len(values))
    if label:
        rows.append(" " * (pad + 2) + label)
    return "\n".join(rows)


def show(spec: str, total: int | None, spe: int | None, base_lr: float | None, width: int) -> str:
    schedule, horizon = _bound(spec, total, spe)
    k = 1.0 if base_lr is None else base_lr
    unit = "multiplier" if base_lr is None else "learning rate"
    lines = [repr(schedule), f"steps 0..{horizon - 1} shown; values are the {unit}", ""]
    header = ("phase", "steps", "start", "end")
    table = []
    edges = set()
    for ph in schedule.phases():
        if ph.start >= horizon:
            break
        last = (ph.end if ph.end is not None else horizon) - 1
        last = min(last, horizon - 1)
        edges |= {ph.start, last}
        table.append(
            (ph.name, f"{ph.start}..{last}", _fmt(k * schedule(ph.start)), _fmt(k * schedule(last)))
        )
    widths = [max(len(str(row[i])) for row in [header, *table]) for i in range(4)]
    for row in [header, *table]:
        lines.append("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())
    samples = [min(horizon - 1, round(i * (horizon - 1) / max(width - 1, 1))) for i in range(width)]
    vals = [k * x for x in schedule.values(samples)]
    candidates = sorted(edges | set(samples))  # peaks sit on phase edges for the catalog shapes
    peak_step = max(candidates, key=schedule)
    lines += [
        "",
        (
            f"start {_fmt(vals[0])}, peak {_fmt(k * schedule(peak_step))} (step {peak_step}), "
            f"end {_fmt(k * schedule(horizon - 1))} (step {horizon - 1})"
        ),
        "",
        chart(vals, width=width, label=f"step 0 .. {horizon - 1}"),
    ]
    return "\n".join(lines)


def plot(
    specs: Sequence[str],
    total: int | None,
    spe: int | None,
    base_lr: float | None,
    output: str,
    *,
    log: bool,
    grid: bool,
    size: tuple[float, float],
    dpi: int,
    title: str | None,
) -> str:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import numpy as np
    except ImportError:
        raise CLIError("plot needs matplotlib: pip install 'lrplugins[plot]'") from None
    bound = [(_bound(s, total, spe), s) for s in specs]
    k = 1.0 if base_lr is None else base_lr
    ylabel = "learning rate" if base_lr is not None else "multiplier of the base LR"
    if grid:
        cols = min(4, len(bound))
        rows = -(-len(bound) // cols)
        fig, axes = plt.subplots(rows, cols, figsize=size, dpi=dpi, squeeze=False, sharey=not log)
        panels = [axes[i // cols][i % cols] for i in range(len(bound))]
        for ax in axes.flat[len(bound) :]:
            ax.set_visible(False)
    else:
        fig, ax = plt.subplots(figsize=size, dpi=dpi)
        panels = [ax] * len(bound)
    try:
        for ax, ((schedule, horizon), spec) in zip(panels, bound):
            steps = np.arange(horizon)
            vals = k * schedule.values(steps)
            if log:
                vals = np.where(vals > 0, vals, np.nan)
            ax.plot(steps, vals, label=spec, linewidth=1.6)
            if log:
                ax.set_yscale("log")
            ax.grid(True, alpha=0.3)
            if grid:
                ax.set_title(spec, fontsize="x-small")
                ax.tick_params(labelsize="x-small")
        if grid:
            fig.supxlabel("step (optimizer updates)")
            fig.supylabel(ylabel)
        else:
            panels[0].set_xlabel("step (optimizer updates)")
            panels[0].set_ylabel(ylabel)
            panels[0].legend(fontsize="small")
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(output, dpi=dpi)
    except OSError as exc:
        raise CLIError(f"cannot write {output}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    return f"wrote {output}"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lrplugins",
        description="Look at learning-rate schedules before training with them.",
        epilog=(
            "SPEC: a JSON/YAML config file, or an inline expression such as "
            "'cosine(warmup_steps=\"5%\", final=0.1)' or 'wsd(decay_steps=\"20%\") * 0.5'."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="{show,plot,lr-find}")

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--total-steps",
            type=_positive_int,
            metavar="N",
            help="run length in optimizer steps (binds the schedule; sets the range)",
        )
        p.add_argument(
            "--steps-per-epoch",
            type=_positive_int,
            metavar="M",
            help="optimizer steps per epoch, for 'Nep' durations",
        )
        p.add_argument(
            "--base-lr",
            type=_positive_float,
            metavar="X",
            help="show learning rates (base_lr * multiplier) instead of multipliers",
        )

    p_show = sub.add_parser(
        "show",
        help="phase table and a terminal chart of one schedule",
        description="Print the phases, key values and a terminal chart.",
    )
    p_show.add_argument("spec", metavar="SPEC", help="config file or inline expression")
    common(p_show)
    p_show.add_argument("--width", type=_positive_int, default=64, help="chart width in columns")

    p_plot = sub.add_parser(
        "plot",
        help="a matplotlib figure of one or several schedules",
        description="Plot one or several schedules, overlaid, to an image.",
    )
    p_plot.add_argument("specs", nargs="+", metavar="SPEC", help="config files or expressions")
    common(p_plot)
    p_plot.add_argument("-o", "--output", required=True, help="image file to write (e.g. lr.png)")
    p_plot.add_argument("--log", action="store_true", help="logarithmic y axis")
    p_plot.add_argument(
        "--grid",
        action="store_true",
        help="one small panel per schedule instead of overlaying them",
    )
    p_plot.add_argument(
        "--size",
        type=_positive_float,
        nargs=2,
        default=(8.0, 4.5),
        metavar=("W", "H"),
        help="figure size in inches (default 8 4.5)",
    )
    p_plot.add_argument(
        "--dpi", type=_positive_int, default=100, help="dots per inch (default 100)"
    )
    p_plot.add_argument("--title", help="figure title")

    p_lr = sub.add_parser(
        "lr-find",
        help="suggestions (and a plot) of a saved LR range test",
        description="Print the suggestions of a record saved with LRFinder.save(); with -o, "
        "also plot it.",
    )
    p_lr.add_argument("record", metavar="RECORD", help="JSON written by LRFinder.save()")
    p_lr.add_argument("-o", "--output", help="also write the plot to this image (needs matplotlib)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``lrplugins`` console script; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)  # exits with status 2 and a usage line on a bad command line
    try:
        if args.command == "show":
            out = show(args.spec, args.total_steps, args.steps_per_epoch, args.base_lr, args.width)
        elif args.command == "lr-find":
            try:
                out = record_report(args.record, args.output)
            except (OSError, ValueError, ImportError) as exc:
                raise CLIError(str(exc)) from None
        else:
            out = plot(
                args.specs,
                args.total_steps,
                args.steps_per_epoch,
                args.base_lr,
                args.output,
                log=args.log,
                grid=args.grid,
                size=tuple(args.size),
                dpi=args.dpi,
                title=args.title,
            )
    except (CLIError, UnboundScheduleError) as exc:
        print(f"lrplugins: error: {exc}", file=sys.stderr)
        return 1
    print(out)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
