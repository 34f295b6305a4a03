"""The ``lrplugins`` command line: look at a schedule before spending compute on it.

    lrplugins show 'cosine(warmup_steps="5%", final=0.1)' --total-steps 10000 --base-lr 3e-4
    lrplugins plot 'cosine(warmup_steps="5%")' 'wsd(decay_steps="20%")' --total-steps 10000 -o lr.png
    lrplugins show 'wsd(warmup_steps="2Btok", decay_steps="20%")' --total-steps 300Btok

The horizon is in the schedule's clock: optimizer steps, or samples / tokens for a schedule written
in ``"Nsp"`` / ``"Ntok"`` (``--total-steps 300Btok``); the axis is labelled with that unit.

A SPEC is a JSON/YAML config file (from ``schedule.to_config()``) or an inline expression built from
catalog calls, literals and ``*`` (parsed safely, never evaluated). Errors are one line on stderr
and a non-zero exit status: 2 for a malformed command line, 1 for a bad spec or value. A schedule
with its own ``total_steps`` keeps it; ``--total-steps`` then only sets the range shown, and a
one-line note on stderr says so. When the reader of the output stops early
(``lrplugins show ... | head -1``), the command stops quietly with status 141 (128 + SIGPIPE), as a
Unix tool killed by SIGPIPE does, so ``set -o pipefail`` sees the same.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Collection, Sequence
from typing import Any

from . import _validate as v
from ._finder import record_report
from ._schedules import Schedule, UnboundScheduleError
from ._schedules.durations import Ctx
from .spec import parse_spec

Total = int | str  # --total-steps: an update count, or a duration such as "300Btok"

_BLOCKS = " ▁▂▃▄▅▆▇█"


class CLIError(Exception):
    """An error to report as one line, with exit status 1."""


def _bound(spec: str, total: Total | None, spe: int | None) -> tuple[Schedule, int]:
    """The schedule a spec describes, bound; and the horizon to show, in its clock's unit."""
    try:
        schedule = parse_spec(spec)
    except (ValueError, TypeError, OSError, ImportError) as exc:
        raise CLIError(str(exc)) from None
    if isinstance(total, int) and schedule.clock != "steps":
        raise CLIError(
            f"{spec}: runs on the {schedule.clock} clock; give --total-steps in {schedule.clock} "
            f"(e.g. --total-steps {_example(schedule.clock)}), not {total} updates"
        )
    try:
        schedule = schedule.bind(total_steps=total, steps_per_epoch=spe)
    except (ValueError, TypeError) as exc:
        raise CLIError(str(exc)) from None
    if not schedule.is_bound:
        needs = "; ".join(schedule.missing)
        if schedule.clock != "steps":
            flags = (
                f"--total-steps in {schedule.clock} (e.g. --total-steps {_example(schedule.clock)})"
            )
        else:
            flags = "--total-steps" if "total_steps" in needs else "--steps-per-epoch"
        raise CLIError(f"{spec}: missing {needs}; pass {flags}")
    length = _length(schedule, spe)
    unit = _unit(schedule.clock)
    if total is None:
        if length is None:
            raise CLIError(f"{spec}: pass --total-steps to choose how many {unit} to show")
        return schedule, _showable(spec, length, unit)
    horizon = _showable(spec, _count(total, spe), unit)
    if length is not None and length != horizon:  # bind() keeps the schedule's own total
        print(
            f"lrplugins: note: {spec} keeps its own run length of {length} {unit}; "
            f"--total-steps {total} only sets the range shown ({unit} 0..{horizon - 1})",
            file=sys.stderr,
        )
    return schedule, horizon


_MAX_HORIZON = 2**53  # beyond, a float64 no longer tells neighbouring steps apart


def _showable(spec: str, horizon: int, unit: str) -> int:
    """``horizon`` if the CLI can show that many clock values, else a one-line refusal."""
    if horizon > _MAX_HORIZON:
        raise CLIError(
            f"{spec}: {horizon} {unit} are more than show and plot can draw (at most "
            f"{_MAX_HORIZON} (2**53) {unit}, where a float64 still tells neighbouring ones apart)"
        )
    return horizon


def _length(schedule: Schedule, spe: int | None) -> int | None:
    """The bound schedule's own run length on its clock, or ``None`` when it has none (a periodic
    or ever-decaying shape, a composite): the ``total_steps`` of the schedule or, for a cooldown
    or a scale, of the schedule inside it; a total in epochs counts with the ``steps_per_epoch``
    written next to it, else with the command line's."""
    inner: Any = schedule
    while inner is not None:
        total = getattr(inner, "total_steps", None)
        if total is not None:
            own_spe = getattr(inner, "steps_per_epoch", None)
            return _count(total, spe if own_spe is None else own_spe)
        inner = getattr(inner, "schedule", None)
    return None


def _count(total: Total, spe: int | None) -> int:
    """A horizon as a whole count on its clock (``"300Btok"``: 300e9 tokens, ``"2ep"``: steps)."""
    if isinstance(total, int):
        return total
    c = Ctx("lrplugins", None, spe)
    n = c.steps("total_steps", total, lo=1)
    if c.missing:
        raise CLIError(f"--total-steps {total} needs --steps-per-epoch")
    return n


def _unit(clock: str) -> str:
    """The word for the clock's unit: steps, samples or tokens."""
    return "steps" if clock == "steps" else clock


def _example(clock: str) -> str:
    return {"samples": "10Msp", "tokens": "300Btok"}.get(clock, "10000")


def _at(t: int, clock: str) -> str:
    """A clock value in words: ``step 50``, ``2000000000 tokens``."""
    return f"step {t}" if clock == "steps" else f"{t} {clock}"


def _axis(clock: str) -> str:
    """The x-axis label of a plot on ``clock``."""
    return {
        "steps": "step (optimizer updates)",
        "samples": "samples consumed (all ranks)",
        "tokens": "tokens consumed (all ranks)",
    }[clock]


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


def show(spec: str, total: Total | None, spe: int | None, base_lr: float | None, width: int) -> str:
    schedule, horizon = _bound(spec, total, spe)
    clock = schedule.clock
    k = 1.0 if base_lr is None else base_lr
    unit = "multiplier" if base_lr is None else "learning rate"
    lines = [repr(schedule), f"{_unit(clock)} 0..{horizon - 1} shown; values are the {unit}", ""]
    header = ("phase", _unit(clock), "start", "end")
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
            f"start {_fmt(vals[0])}, peak {_fmt(k * schedule(peak_step))} "
            f"({_at(peak_step, clock)}), end {_fmt(k * schedule(horizon - 1))} "
            f"({_at(horizon - 1, clock)})"
        ),
        "",
        chart(vals, width=width, label=f"{_unit(clock).rstrip('s')} 0 .. {horizon - 1}"),
    ]
    return "\n".join(lines)


def plot(
    specs: Sequence[str],
    total: Total | None,
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
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        raise CLIError("plot needs matplotlib: pip install 'lrplugins[plot]'") from None
    path, fmt = _image_file(output, FigureCanvasBase.get_supported_filetypes())
    bound = [(_bound(s, total, spe), s) for s in specs]
    clocks = {schedule.clock for (schedule, _), _ in bound}
    if len(clocks) > 1:
        raise CLIError(
            f"the schedules run on different clocks ({', '.join(sorted(clocks))}): plot each "
            "clock's schedules on their own"
        )
    xlabel = _axis(clocks.pop())
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
            steps = _plotted(schedule, horizon, np)
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
            fig.supxlabel(xlabel)
            fig.supylabel(ylabel)
        else:
            panels[0].set_xlabel(xlabel)
            panels[0].set_ylabel(ylabel)
            panels[0].legend(fontsize="small")
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        fig.savefig(path, dpi=dpi, format=fmt)
    except OSError as exc:
        raise CLIError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)
    return f"wrote {path}"


def _image_target(output: str) -> str:
    """``lr-find -o OUTPUT``: the file to write, checked as ``plot -o`` checks it."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.backend_bases import FigureCanvasBase
    except ImportError:
        raise CLIError("lr-find -o needs matplotlib: pip install 'lrplugins[plot]'") from None
    return _image_file(output, FigureCanvasBase.get_supported_filetypes())[0]


def _image_file(output: str, formats: Collection[str]) -> tuple[str, str]:
    """``-o OUTPUT``: the file to write and its format, named by its extension; without one, PNG
    and ``.png`` added to the name. A directory or an extension matplotlib cannot write is
    refused before anything is drawn."""
    ext = os.path.splitext(output)[1][1:].lower()
    path = output if ext else output.rstrip(".") + ".png"
    for candidate in dict.fromkeys((output, path)):
        if os.path.isdir(candidate):
            raise CLIError(
                f"-o {candidate} is a directory; name the image file, e.g. "
                f"-o {os.path.join(candidate, 'lr.png')}"
            )
    if ext and ext not in formats:
        raise CLIError(
            f"-o {output}: cannot write a '.{ext}' image; supported: {', '.join(sorted(formats))}"
        )
    return path, ext or "png"


_POINTS = 20_000  # a horizon longer than this is drawn from this many points and the phase edges


def _plotted(schedule: Schedule, horizon: int, np: Any) -> Any:
    """The clock values to draw: every one up to ``_POINTS``; beyond (a run of 300B tokens), evenly
    spaced ones plus the first and last value of every phase, so no corner is cut."""
    if horizon <= _POINTS:
        return np.arange(horizon)
    edges = [t for ph in schedule.phases() if ph.start < horizon for t in (ph.start - 1, ph.start)]
    points = np.concatenate(
        [np.linspace(0, horizon - 1, _POINTS).round().astype(np.int64), np.asarray(edges)]
    )
    return np.unique(np.clip(points, 0, horizon - 1))


def _total(text: str) -> Total:
    """``--total-steps``: a whole number of updates, or a duration such as ``300Btok``."""
    if text.strip().isdigit():
        return _positive_int(text)
    try:
        written: str = v.duration("--total-steps", "N", text, lo=1, percent=False)
        return written
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a whole number of updates or a count such as 10Msp (samples), 300Btok "
            f"(tokens) or 2ep, got {text!r}"
        ) from None


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
            type=_total,
            metavar="N",
            help="run length: binds a schedule written without total_steps, and sets the range "
            "shown; a schedule with its own total_steps keeps it (N then only sets the range, "
            "with a note on stderr). In optimizer steps, or in the schedule's own unit for a "
            "samples or tokens schedule (10Msp, 300Btok)",
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
    p_plot.add_argument(
        "-o",
        "--output",
        required=True,
        help="image file to write; its extension picks the format (png, pdf, svg, ...); "
        "without one, a PNG, with .png added to the name",
    )
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
            output = None if args.output is None else _image_target(args.output)
            try:
                out = record_report(args.record, output)
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
    try:
        print(out)
        sys.stdout.flush()
    except BrokenPipeError:
        # The reader has gone (`| head -1`). Point stdout at devnull so the interpreter's final
        # flush of what is left does not fail again at exit, and stop as SIGPIPE would.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError):  # no file descriptor behind stdout (an embedding, a test)
            pass
        return _SIGPIPE_STATUS
    return 0


_SIGPIPE_STATUS = 141  # 128 + SIGPIPE (13): what a shell reports for a tool killed by SIGPIPE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
