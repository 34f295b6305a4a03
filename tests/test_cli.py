"""The ``lrplugins`` command line: show, plot, spec parsing, refusals and exit codes."""

from __future__ import annotations

import json
import struct
import subprocess
import sys

import pytest

import lrplugins as lrp
from lrplugins.cli import main
from lrplugins.spec import SpecError, parse_spec


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# --------------------------------------------------------------------------------------------
# spec parsing
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ('cosine(warmup_steps="5%", final=0.1)', lrp.cosine(warmup_steps="5%", final=0.1)),
        ("cosine(1000, 50)", lrp.cosine(1000, 50)),
        ('wsd(decay_steps="20%") * 0.5', 0.5 * lrp.wsd(decay_steps="20%")),
        (
            "2 * linear() * constant(warmup_steps=3)",
            2 * lrp.linear() * lrp.constant(warmup_steps=3),
        ),
        ("multistep([10, 20], gamma=0.5)", lrp.multistep([10, 20], gamma=0.5)),
        (
            "interpolate([(0, 0.0), (10, 1.0)], shape='cosine')",
            lrp.interpolate([(0, 0.0), (10, 1.0)], "cosine"),
        ),
        (
            "sequence([constant(warmup_steps=5), cosine()], boundaries=[10])",
            lrp.sequence([lrp.constant(warmup_steps=5), lrp.cosine()], boundaries=[10]),
        ),
        ("inverse_sqrt(timescale=None)", lrp.inverse_sqrt()),
    ],
)
def test_inline_specs(spec, expected):
    assert parse_spec(spec) == expected


@pytest.mark.parametrize(
    ("spec", "points_at"),
    [
        ('__import__("os").system("echo owned")', '__import__("os").system'),
        ('eval("1")', "eval"),
        ("cosine().__class__", "cosine().__class__"),
        ("open('x')", "open"),
        ("cosine(final=1 + 1)", "1 + 1"),
        ("cosine() + 1", "cosine() + 1"),
        ("lambda: 1", "lambda: 1"),
        ("cosine(**{'final': 1})", "cosine(**{'final': 1})"),
        ("[cosine() for _ in range(9**9)]", "[cosine() for _ in range(9**9)]"),
        ("cosine(final=x)", "x"),
        ("0.5 * 2", "0.5 * 2"),
        ("0.5", None),
        ("cosine(warmup_steps=-5)", "cosine(warmup_steps=-5)"),
        ("cosine(", None),
    ],
)
def test_unsafe_or_malformed_specs_are_refused(spec, points_at):
    with pytest.raises(SpecError) as info:
        parse_spec(spec)
    if points_at is not None:
        assert repr(points_at) in str(info.value)


def test_config_file_specs(tmp_path):
    s = lrp.cosine(total_steps=100, warmup_steps="5%")
    path = tmp_path / "s.json"
    path.write_text(json.dumps(s.to_config()))
    assert parse_spec(str(path)) == s
    with pytest.raises(SpecError, match="no such config file"):
        parse_spec(str(tmp_path / "missing.json"))


# --------------------------------------------------------------------------------------------
# show
# --------------------------------------------------------------------------------------------


def test_show_prints_phases_values_and_a_chart(capsys):
    code, out, err = run(
        capsys,
        "show",
        'cosine(warmup_steps="5%", final=0.1)',
        "--total-steps",
        "1000",
        "--base-lr",
        "0.001",
    )
    assert code == 0 and err == ""
    assert "cosine(total_steps=1000, warmup_steps='5%', final=0.1)" in out
    assert "warmup" in out and "0..49" in out
    assert "cosine decay" in out and "50..999" in out
    assert "peak 0.001 (step 50)" in out
    assert "█" in out  # the chart


def test_show_epoch_durations_need_steps_per_epoch(capsys):
    code, out, err = run(capsys, "show", 'constant(warmup_steps="2ep")', "--total-steps", "100")
    assert code == 1 and "steps_per_epoch" in err and "--steps-per-epoch" in err
    code, out, err = run(
        capsys,
        "show",
        'constant(warmup_steps="2ep")',
        "--total-steps",
        "100",
        "--steps-per-epoch",
        "10",
    )
    assert code == 0 and "0..19" in out


def test_show_config_file(capsys, tmp_path):
    path = tmp_path / "s.json"
    path.write_text(json.dumps(lrp.wsd(total_steps=50, warmup_steps=5).to_config()))
    code, out, _ = run(capsys, "show", str(path))
    assert code == 0 and "stable" in out and "5..39" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["show", "cosine()"], "missing total_steps; pass --total-steps"),
        (["show", "exponential(0.5)"], "pass --total-steps to choose how many steps to show"),
        (["show", "cosine(final=2)", "--total-steps", "9"], "final must be in [0, 1], got 2"),
        (["show", "os.system('x')", "--total-steps", "9"], "only catalog names can be called"),
        (["show", "system('x')", "--total-steps", "9"], "unknown schedule"),
        (["show", "bad.yaml"], "no such config file: bad.yaml"),
    ],
)
def test_errors_are_one_line_with_status_1(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == ""
    assert err.startswith("lrplugins: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["show"],
        ["show", "cosine()", "--total-steps", "0"],
        ["show", "cosine()", "--total-steps", "ten"],
        ["plot", "cosine()", "--total-steps", "10"],  # no -o
        ["frobnicate"],
    ],
)
def test_bad_command_lines_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "usage: lrplugins" in capsys.readouterr().err


def test_help(capsys):
    for argv in (["--help"], ["show", "--help"], ["plot", "--help"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 0
        assert "usage: lrplugins" in capsys.readouterr().out


# --------------------------------------------------------------------------------------------
# plot
# --------------------------------------------------------------------------------------------


def png_size(path) -> tuple[int, int]:
    with open(path, "rb") as fh:
        head = fh.read(24)
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    return struct.unpack(">II", head[16:24])


def test_plot_writes_a_png_of_the_requested_size(capsys, tmp_path):
    from conftest import require

    require("matplotlib")
    out_png = tmp_path / "lr.png"
    code, _, err = run(
        capsys, "plot", 'cosine(warmup_steps="5%")', 'wsd(decay_steps="20%") * 0.5',
        "--total-steps", "500", "-o", str(out_png), "--size", "6", "3", "--dpi", "50", "--log",
        "--title", "two schedules",
    )  # fmt: skip
    assert code == 0, err
    assert png_size(out_png) == (300, 150)
    assert out_png.stat().st_size > 2_000  # an actual drawing, not an empty canvas


def test_plot_without_matplotlib_says_what_to_install(tmp_path):
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from lrplugins.cli import main\n"
        f"sys.exit(main(['plot', 'cosine()', '--total-steps', '9', '-o', {str(tmp_path / 'x.png')!r}]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert proc.returncode == 1
    assert (
        proc.stderr.strip()
        == "lrplugins: error: plot needs matplotlib: pip install 'lrplugins[plot]'"
    )


def test_console_script_runs_without_traceback():
    ok = subprocess.run(
        [sys.executable, "-m", "lrplugins.cli", "show", "linear(total_steps=4)"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert ok.returncode == 0 and "linear decay" in ok.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "lrplugins.cli", "show", "linear(total_steps=-4)"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert bad.returncode == 1 and "Traceback" not in bad.stderr


def test_plot_grid_has_one_panel_per_schedule(capsys, tmp_path):
    from conftest import require

    require("matplotlib")
    out_png = tmp_path / "grid.png"
    specs = ["constant()", "linear()", "cosine()", "wsd()", "one_cycle()"]
    code, _, err = run(capsys, "plot", *specs, "--total-steps", "100", "--grid", "-o", str(out_png))
    assert code == 0, err
    assert png_size(out_png) == (800, 450)


def test_the_readme_commands_run(capsys, tmp_path, monkeypatch):
    """The `lrplugins ...` lines of the README's command-line section, as written."""
    import re
    import shlex
    from pathlib import Path

    from conftest import require

    require("matplotlib")
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Look before you train: the command line", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.DOTALL).group(1)
    commands = [ln.split("#")[0] for ln in block.splitlines() if ln.startswith("lrplugins ")]
    assert len(commands) == 3
    monkeypatch.chdir(tmp_path)
    yaml = require("yaml")
    (tmp_path / "schedule.yaml").write_text(yaml.safe_dump(lrp.cosine(total_steps=100).to_config()))
    for command in commands:
        code, _, err = run(capsys, *shlex.split(command)[1:])
        assert code == 0, (command, err)
    assert png_size(tmp_path / "lr.png") == (800, 450)


def test_show_a_cooldown_spec_without_total_steps_uses_its_schedules_length(capsys):
    from lrplugins.cli import main

    assert main(["show", "wsd(total_steps=200).cooldown(at=100, steps=20)"]) == 0
    out = capsys.readouterr().out
    assert "steps 0..199 shown" in out and "cooldown  100..119" in out


def test_lr_find_reports_a_saved_record(tmp_path, capsys):
    from lrplugins.cli import main

    finder = lrp.LRFinder(steps=60)
    finder.begin([0.1])
    step = 0
    while finder.record(
        1.0 / (1.0 + 100 * finder.lr_at(step)) + 10 * max(finder.lr_at(step) - 1, 0)
    ):
        step += 1
    finder.save(tmp_path / "rec.json")
    assert main(["lr-find", str(tmp_path / "rec.json")]) == 0
    out = capsys.readouterr().out
    assert "<- suggestion" in out and "valley" in out and "minimum/10" in out
    assert main(["lr-find", str(tmp_path / "missing.json")]) == 1


def test_lr_find_output_is_checked_as_plot_output_is(capsys, tmp_path):
    # A directory or an unknown format is one line, before anything is drawn (a directory used
    # to exit 0); no extension writes a PNG and names it.
    from conftest import require
    from lrplugins.cli import main

    require("matplotlib")
    finder = lrp.LRFinder(steps=30)
    finder.begin([0.1])
    step = 0
    while finder.record(1.0 / (1.0 + 100 * finder.lr_at(step))):
        step += 1
    record = tmp_path / "rec.json"
    finder.save(record)
    (tmp_path / "out").mkdir()
    capsys.readouterr()
    assert main(["lr-find", str(record), "-o", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"lrplugins: error: -o {tmp_path / 'out'} is a directory")
    assert err.count("\n") == 1
    assert main(["lr-find", str(record), "-o", str(tmp_path / "lr.pdfx")]) == 1
    assert "cannot write a '.pdfx' image" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "rec.json"]
    assert main(["lr-find", str(record), "-o", str(tmp_path / "curve")]) == 0
    assert capsys.readouterr().out.endswith(f"wrote {tmp_path / 'curve.png'}\n")
    assert png_size(tmp_path / "curve.png")[0] > 0


# --------------------------------------------------------------------------------------------
# samples and tokens clocks
# --------------------------------------------------------------------------------------------


def test_show_a_tokens_schedule_labels_everything_in_tokens(capsys):
    code, out, err = run(
        capsys, "show", 'wsd(warmup_steps="2Btok", decay_steps="20%", final=0.1)',
        "--total-steps", "300Btok", "--width", "30",
    )  # fmt: skip
    assert code == 0 and err == ""
    assert "wsd(total_steps='300Btok', warmup_steps='2Btok', final=0.1)" in out
    assert "tokens 0..299999999999 shown" in out
    assert "phase   tokens" in out
    assert "warmup  0..1999999999" in out and "decay   240000000000..299999999999" in out
    assert "peak 1 (2000000000 tokens)" in out and "end 0.1 (299999999999 tokens)" in out
    assert "token 0 .. 299999999999" in out
    assert "step" not in out.split("\n", 1)[1]  # below the schedule's repr


def test_show_a_samples_schedule_uses_its_own_total(capsys):
    code, out, _ = run(capsys, "show", 'cosine(total_steps="1.5Ksp", warmup_steps="10%")')
    assert code == 0
    assert "samples 0..1499 shown" in out and "warmup        0..149" in out
    assert "peak 1 (150 samples)" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["show", 'cosine(warmup_steps="2Btok")'],
         ("missing total_steps in tokens (e.g. total_steps='300Btok'; an update count cannot bind "
          "it); pass --total-steps in tokens (e.g. --total-steps 300Btok)")),
        (["show", 'cosine(warmup_steps="2Btok")', "--total-steps", "1000"],
         ("runs on the tokens clock; give --total-steps in tokens (e.g. --total-steps 300Btok), "
          "not 1000 updates")),
        (["show", 'cosine(total_steps="1Msp")', "--total-steps", "1000"],
         "runs on the samples clock; give --total-steps in samples (e.g. --total-steps 10Msp)"),
        (["show", "cosine(warmup_steps=10)", "--total-steps", "1Mtok"],
         "total_steps='1Mtok' is in tokens, but cosine(warmup_steps=10) runs on the steps clock"),
        (["show", 'cosine(total_steps="1Msp", warmup_steps="1Ktok")'],
         "warmup_steps='1Ktok' is in tokens but total_steps='1Msp' is in samples"),
        (["show", 'cosine(warmup_steps="2Xtok")', "--total-steps", "9"], "got '2Xtok'"),
    ],
)  # fmt: skip
def test_clock_errors_are_one_line_with_status_1(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 1 and out == ""
    assert err.startswith("lrplugins: error: ") and message in err, err
    assert err.count("\n") == 1


@pytest.mark.parametrize("total", ["2Xtok", "-5tok", "5%", "0tok", "1 Mtok"])
def test_a_malformed_total_is_a_bad_command_line(capsys, total):
    with pytest.raises(SystemExit) as info:
        main(["show", "cosine()", f"--total-steps={total}"])
    assert info.value.code == 2
    assert "300Btok" in capsys.readouterr().err


def _plot_axes(monkeypatch, capsys, *argv):
    """Run ``lrplugins plot`` and return the x labels and x data of the figure it saved."""
    from conftest import require

    require("matplotlib")
    from matplotlib.figure import Figure

    seen = {}
    monkeypatch.setattr(
        Figure,
        "savefig",
        lambda fig, *a, **k: seen.update(
            xlabel=fig.axes[0].get_xlabel() or fig.get_supxlabel(),
            xs=[line.get_xdata() for ax in fig.axes for line in ax.get_lines()],
        ),
    )
    code, _, err = run(capsys, "plot", *argv, "-o", "unused.png")
    assert code == 0, err
    return seen


def test_plot_labels_the_axis_with_the_clock(monkeypatch, capsys):
    seen = _plot_axes(
        monkeypatch, capsys, 'cosine(total_steps="2Ksp")', 'linear(total_steps="1Ksp")'
    )
    assert seen["xlabel"] == "samples consumed (all ranks)"
    assert [len(x) for x in seen["xs"]] == [2000, 1000]
    seen = _plot_axes(monkeypatch, capsys, "cosine()", "--total-steps", "300Btok", "--grid")
    assert seen["xlabel"] == "tokens consumed (all ranks)"
    seen = _plot_axes(monkeypatch, capsys, "cosine()", "--total-steps", "100")
    assert seen["xlabel"] == "step (optimizer updates)" and len(seen["xs"][0]) == 100


def test_plot_a_run_of_300b_tokens_draws_its_phase_edges(monkeypatch, capsys):
    seen = _plot_axes(
        monkeypatch,
        capsys,
        'wsd(warmup_steps="2Btok", decay_steps="20%")',
        "--total-steps",
        "300Btok",
    )
    (xs,) = seen["xs"]
    assert 20_000 <= len(xs) <= 20_010 and xs[0] == 0 and xs[-1] == 300 * 10**9 - 1
    for edge in (2 * 10**9, 240 * 10**9):  # the end of the warmup, the start of the decay
        assert edge - 1 in xs and edge in xs


def test_plot_refuses_schedules_on_different_clocks(capsys):
    from conftest import require

    require("matplotlib")
    code, _, err = run(
        capsys, "plot", 'cosine(total_steps="1Ksp")', "cosine(total_steps=10)", "-o", "x.png"
    )
    assert code == 1
    assert "the schedules run on different clocks (samples, steps)" in err


def test_show_into_a_reader_that_stops_early_exits_quietly_with_141():
    """`lrplugins show ... | head -1`: the reader closes the pipe after one line; the CLI stops
    like a Unix tool killed by SIGPIPE (status 141 = 128 + 13), with nothing on stderr."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "lrplugins.cli", "show", "cosine(total_steps=100)", "--width",
         "50000"],  # about 1.5 MB of chart: far more than a pipe holds
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline().startswith(b"cosine(total_steps=100)")
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert err == ""


def test_show_a_schedule_bound_in_epochs_by_its_own_steps_per_epoch(capsys):
    """A total of "2ep" with the schedule's own steps_per_epoch=10 is 20 steps: shown without
    --total-steps or --steps-per-epoch."""
    code, out, err = run(capsys, "show", 'cosine(total_steps="2ep", steps_per_epoch=10)')
    assert (code, err) == (0, "")
    assert "steps 0..19 shown" in out and "cosine decay  0..19" in out
    code, out, err = run(
        capsys, "show", 'wsd(total_steps="4ep", steps_per_epoch=5).cooldown(at=10, steps=4)'
    )
    assert (code, err) == (0, "")
    assert "steps 0..19 shown" in out and "cooldown  10..13" in out


@pytest.mark.parametrize(("total", "shown"), [("50", "0..49"), ("150", "0..149")])
def test_show_a_schedule_with_its_own_total_and_another_total_steps_says_so(capsys, total, shown):
    """--total-steps does not rebind a schedule that has its own total_steps: the schedule is
    shown as written, over the range the flag asks for, and a note on stderr names both."""
    code, out, err = run(capsys, "show", "cosine(total_steps=100)", "--total-steps", total)
    assert code == 0
    assert f"steps {shown} shown" in out
    assert "cosine decay  0.." in out and ("hold" in out) == (total == "150")
    assert err == (
        "lrplugins: note: cosine(total_steps=100) keeps its own run length of 100 steps; "
        f"--total-steps {total} only sets the range shown (steps {shown})\n"
    )
    code, out, err = run(capsys, "show", "cosine(total_steps=100)", "--total-steps", "100")
    assert (code, err) == (0, "") and "steps 0..99 shown" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["show", "cosine(total_steps=100000000000000000000)"],
            "cosine(total_steps=100000000000000000000): 100000000000000000000 steps are more than",
        ),
        (
            ["show", "wsd()", "--total-steps", "20000000Ttok"],
            "wsd(): 20000000000000000000 tokens are more than",
        ),
        (["show", "cosine()", "--total-steps", str(2**53 + 1)], f"{2**53 + 1} steps are more"),
    ],
)
def test_a_run_too_long_to_show_is_one_line(capsys, argv, message):
    """Beyond 2**53 a float64 no longer tells neighbouring steps apart (nor numpy's int64 holds
    them past 2**63): refused in one line, whether or not ``values()`` copes with such steps."""
    code, out, err = run(capsys, *argv)
    assert (code, out) == (1, "")
    assert err.startswith("lrplugins: error: ") and message in err
    assert "at most 9007199254740992 (2**53)" in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_a_run_of_2_to_the_53_steps_is_shown(capsys):
    code, out, err = run(capsys, "show", "cosine()", "--total-steps", str(2**53))
    assert (code, err) == (0, "")
    assert f"steps 0..{2**53 - 1} shown" in out


def test_plot_refuses_an_image_format_it_cannot_write(capsys, tmp_path):
    from conftest import require

    require("matplotlib")
    out_file = tmp_path / "lr.pdfx"
    code, out, err = run(capsys, "plot", "cosine()", "--total-steps", "100", "-o", str(out_file))
    assert (code, out) == (1, "")
    assert err.startswith(f"lrplugins: error: -o {out_file}: cannot write a '.pdfx' image; ")
    assert "supported: " in err and all(f" {ext}," in err for ext in ("pdf", "png", "svg"))
    assert err.count("\n") == 1 and list(tmp_path.iterdir()) == []


def test_plot_without_an_extension_writes_a_png_and_names_it(capsys, tmp_path):
    from conftest import require

    require("matplotlib")
    code, out, err = run(
        capsys, "plot", "cosine()", "--total-steps", "100", "-o", str(tmp_path / "lr")
    )
    assert (code, err) == (0, "")
    assert out == f"wrote {tmp_path / 'lr.png'}\n"
    assert [p.name for p in tmp_path.iterdir()] == ["lr.png"]
    assert png_size(tmp_path / "lr.png") == (800, 450)


def test_plot_refuses_a_directory_as_output(capsys, tmp_path):
    from conftest import require

    require("matplotlib")
    (tmp_path / "out").mkdir()
    code, out, err = run(
        capsys, "plot", "cosine()", "--total-steps", "100", "-o", str(tmp_path / "out")
    )
    assert (code, out) == (1, "")
    assert err == (
        f"lrplugins: error: -o {tmp_path / 'out'} is a directory; name the image file, "
        f"e.g. -o {tmp_path / 'out' / 'lr.png'}\n"
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert list((tmp_path / "out").iterdir()) == []


def test_plot_writes_the_format_its_extension_names(capsys, tmp_path):
    from conftest import require

    require("matplotlib")
    out_file = tmp_path / "lr.SVG"
    code, out, err = run(capsys, "plot", "cosine()", "--total-steps", "100", "-o", str(out_file))
    assert (code, err) == (0, "") and out == f"wrote {out_file}\n"
    assert b"<svg" in out_file.read_bytes()[:1000]
