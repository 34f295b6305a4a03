"""Each runnable script in examples/ trains its tiny model and prints an LR trace."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import require

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
CASES = {
    "torch_example.py": ["torch"],
    "cooldown_example.py": ["torch"],
    "tokens_example.py": ["torch"],
    "lightning_example.py": ["lightning"],
    "keras_example.py": ["keras", "torch"],  # run on the torch backend (the others: test_keras.py)
    "huggingface_example.py": ["transformers", "accelerate"],
}


def test_every_example_is_covered():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_example_runs(name, tmp_path):
    for module in CASES[name]:
        require(module)
    env = dict(os.environ, KERAS_BACKEND="torch", MPLBACKEND="Agg")
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / name)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert re.search(r"\blr\b|learning.rate", proc.stdout, re.I), proc.stdout[-2000:]
    assert len(proc.stdout.splitlines()) >= 10  # a trace, not a one-liner
