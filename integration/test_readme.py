"""Every ```python block of README.md runs, as pasted, in a fresh interpreter.

A block whose first line is ``# needs: a, b`` imports those frameworks (``require``: skipped locally
when missing, a failure in CI). Blocks run in a temporary directory so files they write don't land in
the repository.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```", README.read_text(encoding="utf-8"), re.S | re.M)


def _name(block: str) -> str:
    first = next((ln for ln in block.splitlines() if ln.strip() and not ln.startswith("# needs")), "")
    return first.strip("# ")[:50]


def test_readme_has_python_blocks():
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize("block", BLOCKS, ids=[f"{i}-{_name(b)}" for i, b in enumerate(BLOCKS)])
def test_readme_block_runs(block, tmp_path):
    first = block.splitlines()[0]
    if first.startswith("# needs:"):
        for name in first.removeprefix("# needs:").split(","):
            require(name.strip())
    env = dict(os.environ, PYTHONPATH=str(README.parent), MPLBACKEND="Agg")
    proc = subprocess.run(
        [sys.executable, "-c", block],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, f"README block failed:\n{block}\n--- stderr ---\n{proc.stderr[-3000:]}"
