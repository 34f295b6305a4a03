"""The supported framework ranges: the version parser, the refusal message, the check each adapter
runs at import, and the floors written in pyproject.toml and .ci/run agreeing with
``lrplugins._compat.SUPPORTED``."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require
from lrplugins._compat import SUPPORTED, check_framework, parse_version, require_version

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("KERAS_BACKEND", "torch")  # before keras is imported, as in the other tests


# ------------------------------------------------------------------------------------------------
# parse_version
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "release"),
    [
        ("4.51.0", (4, 51)),
        ("4.51", (4, 51)),
        ("4.51.3", (4, 51, 3)),
        ("2.13.0+cpu", (2, 13)),  # local version label
        ("2.13.0a0+git1234abc", (2, 13)),  # a source build of torch
        ("3.8.0rc1", (3, 8)),
        ("3.8.0.rc1", (3, 8)),
        ("5.0.0.dev0", (5,)),
        ("2.2.0.post0", (2, 2)),
        ("2.5.1.post0", (2, 5, 1)),
        ("v2.1", (2, 1)),
        (" 3.15.1 ", (3, 15, 1)),
        ("10", (10,)),
        ("0", (0,)),
        ("0.0.0", (0,)),
        ("1.0.0-beta", (1,)),
    ],
)
def test_parse_version_keeps_the_release_numbers(text: str, release: tuple[int, ...]) -> None:
    assert parse_version(text) == release


@pytest.mark.parametrize("text", ["", "unknown", "dev", ".1", "rc1"])
def test_parse_version_refuses_what_has_no_release_number(text: str) -> None:
    with pytest.raises(ValueError, match="not a version number"):
        parse_version(text)


def test_releases_order_numerically_not_as_text() -> None:
    assert (
        parse_version("4.9.0")
        < parse_version("4.10.0")
        < parse_version("4.51")
        < parse_version("5")
    )
    assert parse_version("2.13.0+cpu") == parse_version("2.13")
    assert parse_version("3.7.0") < parse_version("3.7.0.1") < parse_version("3.7.1")


# ------------------------------------------------------------------------------------------------
# require_version (simulated installed versions)
# ------------------------------------------------------------------------------------------------

HF = ("lrplugins.huggingface", "transformers")


@pytest.mark.parametrize(
    "installed", ["4.51.0", "4.51", "4.51.0rc1", "4.51.0.dev0", "4.57.6", "5.24.0", "10.0"]
)
def test_accepts_the_floor_and_above(installed: str) -> None:
    require_version(*HF, installed, "4.51.0")


@pytest.mark.parametrize("installed", ["4.50.3", "4.46.3", "4.9.0", "3.5.1", "0.1"])
def test_refuses_below_the_floor_naming_framework_version_and_range(installed: str) -> None:
    with pytest.raises(ImportError) as info:
        require_version(*HF, installed, "4.51.0")
    assert str(info.value) == (
        f"lrplugins.huggingface supports transformers >=4.51.0; found transformers {installed}. "
        "Install a supported version: pip install 'transformers>=4.51.0'"
    )


def test_upper_bound_is_exclusive_and_counts_its_prereleases() -> None:
    require_version(*HF, "5.99.1", "4.51.0", below="6")
    for installed in ("6.0.0", "6.0.0.dev0", "6.0.0rc1", "7.1"):
        with pytest.raises(ImportError) as info:
            require_version(*HF, installed, "4.51.0", below="6")
        message = str(info.value)
        assert "transformers >=4.51.0,<6" in message
        assert f"found transformers {installed}." in message
        assert "pip install 'transformers>=4.51.0,<6'" in message


def test_unreadable_installed_version_is_refused_with_the_range() -> None:
    with pytest.raises(ImportError, match=r"cannot read the installed version 'unknown'") as info:
        require_version("lrplugins.keras", "keras", "unknown", "3.7.0")
    assert "lrplugins.keras supports keras >=3.7.0" in str(info.value)
    assert "pip install 'keras>=3.7.0'" in str(info.value)


def test_the_message_is_the_one_for_each_adapter() -> None:
    for adapter, (_module, dist, minimum, below) in SUPPORTED.items():
        with pytest.raises(ImportError) as info:
            require_version(adapter, dist, "0.0.1", minimum, below)
        assert str(info.value).startswith(f"{adapter} supports {dist} >={minimum}")
        assert "found " + dist + " 0.0.1." in str(info.value)


# ------------------------------------------------------------------------------------------------
# The installed frameworks are accepted; each adapter runs the check at import
# ------------------------------------------------------------------------------------------------

ADAPTERS = sorted(SUPPORTED)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_installed_framework_is_accepted(adapter: str) -> None:
    module = SUPPORTED[adapter][0]
    require(module)
    check_framework(adapter)  # raises ImportError on an unsupported install
    importlib.import_module(adapter)


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_adapter_refuses_at_import_a_framework_below_its_floor(adapter: str) -> None:
    """The adapter runs the check at import: with its floor raised above the installed release
    (simulated in ``SUPPORTED``; faking the framework's ``__version__`` is not reliable, as
    transformers' lazy module replaces itself in ``sys.modules``), importing it refuses."""
    module, dist, _minimum, _below = SUPPORTED[adapter]
    require(module)
    code = (
        "import sys\n"
        "from lrplugins import _compat\n"
        f"module, dist, _, below = _compat.SUPPORTED[{adapter!r}]\n"
        f"_compat.SUPPORTED[{adapter!r}] = (module, dist, '9999', below)\n"
        "try:\n"
        f"    import {adapter}\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
        "    print('INSTALLED', sys.modules[module].__version__)\n"
        "else:\n"
        "    print('IMPORTED')\n"
    )
    env = dict(os.environ)
    if module == "keras" and importlib.util.find_spec("torch") is not None:
        env.setdefault("KERAS_BACKEND", "torch")  # the quickest backend to import
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=ROOT,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert lines[-1].startswith("INSTALLED "), proc.stdout
    installed = lines[-1].split(" ", 1)[1]
    assert lines[-2] == (
        f"{adapter} supports {dist} >=9999; found {dist} {installed}. "
        f"Install a supported version: pip install '{dist}>=9999'"
    )


# ------------------------------------------------------------------------------------------------
# One set of floors: lrplugins._compat, pyproject.toml's extras, .ci/run's floors job
# ------------------------------------------------------------------------------------------------


def _pyproject_floors() -> dict[str, str]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    floors: dict[str, str] = {}
    for requirements in extras.values():
        for req in requirements:
            m = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?\s*>=\s*([0-9][^,;\s]*).*", req)
            if m:
                floors.setdefault(m.group(1).lower(), m.group(2))
                assert floors[m.group(1).lower()] == m.group(2), f"two floors for {m.group(1)}"
    return floors


@pytest.mark.parametrize("adapter", ADAPTERS)
def test_pyproject_extras_declare_the_same_floor(adapter: str) -> None:
    _module, dist, minimum, _below = SUPPORTED[adapter]
    assert _pyproject_floors()[dist] == minimum


def test_ci_floors_job_installs_the_declared_floors() -> None:
    """``.ci/run`` pins each framework at its floor by reading pyproject.toml (through .ci/pins.py)."""
    floors = _pyproject_floors()  # skips before Python 3.11, as .ci/pins.py needs tomllib too
    names = ["transformers", "accelerate", "keras", "lightning", "jsonargparse"]
    proc = subprocess.run(
        [sys.executable, str(ROOT / ".ci" / "pins.py"), "floor", *names],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [
        f"transformers=={floors['transformers']}",
        f"accelerate=={floors['accelerate']}",
        f"keras=={floors['keras']}",
        f"lightning=={floors['lightning']}",
        f"jsonargparse[signatures]=={floors['jsonargparse']}",
    ]


def test_docstring_examples() -> None:
    import doctest

    from lrplugins import _compat

    result = doctest.testmod(_compat, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
