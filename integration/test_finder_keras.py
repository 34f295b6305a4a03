"""``lrplugins.keras.find_lr`` on the tensorflow, jax and torch backends, one process per backend.

Keras fixes its backend at first import, so each backend runs
``integration/finder_keras_scenarios.py`` once in a subprocess with ``KERAS_BACKEND`` set; every
scenario then shows as its own test. What each checks is in its docstring there: training after
the range test identical to training without it (weights bit for bit, losses, iterations), an
lrplugins schedule swapped out and back, gradient accumulation (also after a ``fit`` that ended
inside an accumulation window), mixed precision (updates the loss scaler skipped), sample weights,
a reshuffling ``tf.data`` pipeline (on every backend), the LR each update applied (read back from
SGD weight changes), batches instead of arrays, the Progbar, and errors.
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
SCRIPT = HERE / "finder_keras_scenarios.py"
BACKENDS = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}
SCENARIOS = [
    "identical",
    "adam_schedule",
    "accumulation",
    "accumulation_after_fit",
    "accumulation_identical",
    "mixed_precision_skips",
    "mixed_precision_identical",
    "sample_weight",
    "sample_weight_identical",
    "tf_data_identical",
    "tf_data_order",
    "applied_lr",
    "batches",
    "progress",
    "doctests",
    "errors",
]

# scenarios that build a tf.data pipeline, on every backend
NEEDS_TENSORFLOW = {"sample_weight", "tf_data_identical", "tf_data_order"}

pytestmark = pytest.mark.slow


@functools.cache
def _run(backend: str) -> dict[str, Any]:
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *SCENARIOS],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,  # jax compiles every scenario's steps; CI machines are shared
        check=False,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode or not lines:
        raise AssertionError(
            f"{backend} scenarios exited with {proc.returncode}:\n{proc.stderr[-4000:]}"
        )
    return json.loads(lines[-1])  # type: ignore[no-any-return]


@pytest.mark.parametrize("scenario", SCENARIOS)
@pytest.mark.parametrize("backend", list(BACKENDS))
def test_keras_find_lr(backend: str, scenario: str) -> None:
    require("keras")
    require(BACKENDS[backend])
    if scenario in NEEDS_TENSORFLOW:
        require("tensorflow")
    result = _run(backend)[scenario]
    assert result["ok"], f"{backend}/{scenario} failed:\n{result['detail']}"
