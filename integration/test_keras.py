"""lrplugins.keras on the tensorflow, jax and torch backends, one process per backend.

Keras fixes its backend at first import, so each backend runs ``integration/keras_scenarios.py``
once in a subprocess with ``KERAS_BACKEND`` set (jax with two simulated CPU devices for the
DataParallel scenario); every scenario then shows as its own test. What each scenario checks is in
its docstring there: LRs recovered from SGD weight changes (with and without gradient accumulation,
through a LossScaleOptimizer), the plateau cut epoch, History's ``learning_rate``, trace counts,
save / load in a fresh process / continue, BackupAndRestore, DataParallel, a monitor that cannot be
fed or is missing (strict and not), a reused callback, a weights-only resume, a runtime cooldown
(from a signal handler, mid-epoch) and its resume, a resume with more or fewer epochs (stretch,
squeeze, rebind), and error messages.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import require

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCRIPT = HERE / "keras_scenarios.py"
BACKENDS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
SCENARIOS = [
    "doctests",
    "catalog",
    "trace",
    "accumulation",
    "save_load",
    "backup_restore",
    "data_parallel",
    "errors",
    "no_validation",
    "metrics",
    "reuse",
    "loss_scale",
    "cooldown",
    "cooldown_resume",
    "cooldown_checkpoint",
    "horizon",
    "momentum",
]

pytestmark = pytest.mark.slow


@functools.cache
def _run(backend: str) -> dict[str, Any]:
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    if backend == "jax":
        env["XLA_FLAGS"] = (
            env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
        ).strip()
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *SCENARIOS],
        check=False,
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=400,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode or not lines:
        raise AssertionError(
            f"{backend} scenarios exited with {proc.returncode}:\n{proc.stderr[-4000:]}"
        )
    return json.loads(lines[-1])  # type: ignore[no-any-return]


CASES = [
    (backend, scenario)
    for backend in BACKENDS
    for scenario in SCENARIOS
    if scenario != "data_parallel" or backend == "jax"  # DataParallel over CPU devices is jax's
]


@pytest.mark.parametrize(("backend", "scenario"), CASES)
def test_keras_backend(backend: str, scenario: str) -> None:
    require("keras")
    require(BACKENDS[backend])
    result = _run(backend)[scenario]
    assert result["ok"], f"{backend}/{scenario} failed:\n{result['detail']}"
