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
    code, out, err = run(
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
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 1
    assert (
        proc.stderr.strip()
        == "lrplugins: error: plot needs matplotlib: pip install 'lrplugins[plot]'"
    )


def test_console_script_runs_without_traceback():
    ok = subprocess.run(
        [sys.executable, "-m", "lrplugins.cli", "show", "linear(total_steps=4)"],
        capture_output=True, text=True,
    )  # fmt: skip
    assert ok.returncode == 0 and "linear decay" in ok.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "lrplugins.cli", "show", "linear(total_steps=-4)"],
        capture_output=True, text=True,
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
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    commands = [ln.split("#")[0] for ln in block.splitlines() if ln.startswith("lrplugins ")]
    assert len(commands) == 3
    monkeypatch.chdir(tmp_path)
    yaml = require("yaml")
    (tmp_path / "schedule.yaml").write_text(yaml.safe_dump(lrp.cosine(total_steps=100).to_config()))
    for command in commands:
        code, out, err = run(capsys, *shlex.split(command)[1:])
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
