"""``conftest.require``: a missing import skips locally and fails in CI, inside a test and at module
level (``torch = require("torch")`` at the top of a test module, as the integration modules do).

Each case runs pytest in a subprocess on two tiny modules in a temporary directory, with ``CI``
set explicitly, so the result does not depend on the environment running this test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MISSING = "lrplugins_no_such_module"

MODULE_LEVEL = f"""
from conftest import require

require({MISSING!r})


def test_never_collected():
    raise AssertionError("the module should have been skipped at import")
"""

IN_TEST = f"""
from conftest import require


def test_missing():
    require({MISSING!r})
    raise AssertionError("require should not have returned")


def test_present():
    assert require("json").dumps(1) == "1"
"""


def run_pytest(tmp_path: Path, ci: str) -> subprocess.CompletedProcess[str]:
    """pytest on both modules, every outcome reported, past a collection error."""
    (tmp_path / "test_module_level.py").write_text(MODULE_LEVEL)
    (tmp_path / "test_in_test.py").write_text(IN_TEST)
    env = {**os.environ, "CI": ci, "PYTHONPATH": os.pathsep.join([str(ROOT), str(tmp_path)])}
    cmd = [sys.executable, "-m", "pytest", "-q", "-ra", "-p", "no:cacheprovider"]
    cmd += ["--continue-on-collection-errors", str(tmp_path)]
    return subprocess.run(
        cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.slow
def test_missing_module_skips_locally(tmp_path: Path) -> None:
    proc = run_pytest(tmp_path, ci="")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "1 passed, 2 skipped" in out, out
    assert "error" not in out.lower(), out
    assert f"{MISSING} is not installed" in out, out


@pytest.mark.slow
@pytest.mark.parametrize("ci", ["true", "1"])
def test_missing_module_fails_in_ci(tmp_path: Path, ci: str) -> None:
    proc = run_pytest(tmp_path, ci=ci)
    out = proc.stdout + proc.stderr
    assert proc.returncode not in (0, 5), out
    assert f"{MISSING} is required in CI" in out, out
    # the module-level call breaks collection, the in-test call fails its test
    assert "ERROR test_module_level.py" in out, out
    assert "FAILED test_in_test.py::test_missing" in out, out
    assert "1 failed, 1 passed, 1 error" in out, out
