"""lrplugins.keras on the tensorflow, jax and torch backends, one process per backend.

Keras fixes its backend at first import, so each backend runs ``integration/keras_scenarios.py``
once in a subprocess with ``KERAS_BACKEND`` set (jax with two simulated CPU devices for the
DataParallel scenario); every scenario then shows as its own test. The scenarios, and the backends
each runs on, are read from that file's ``@scenario`` decorators (its source, so this process does
not import Keras): the list is kept once, there. What each scenario checks is in its docstring:
LRs recovered from SGD weight changes (with and without gradient accumulation, through a
LossScaleOptimizer), the plateau cut epoch, History's ``learning_rate``, trace counts, save / load
in a fresh process / continue, BackupAndRestore (a cooldown asked for at an epoch end included),
DataParallel, a monitor that cannot be fed or is missing (strict and not), a reused callback, a
new base LR after a fit, a weights-only resume, a fit continued after mixed-precision loss-scale
skips, a runtime cooldown (from a signal handler, mid-epoch, pending before a fit) and its resume, a resume with more or fewer epochs (stretch,
squeeze, rebind), momentum and weight decay, and error messages.
"""

from __future__ import annotations

import ast
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


def scenarios(source: str) -> dict[str, tuple[str, ...]]:
    """``{scenario: backends}`` of the functions decorated with ``@scenario`` in ``source``, in
    order (``@scenario(backends=(...))``: a literal tuple; plain ``@scenario``: every backend)."""
    found: dict[str, tuple[str, ...]] = {}
    for node in ast.parse(source).body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for deco in node.decorator_list:
            call = deco if isinstance(deco, ast.Call) else None
            name = call.func if call is not None else deco
            if isinstance(name, ast.Name) and name.id == "scenario":
                kw = {k.arg: ast.literal_eval(k.value) for k in (call.keywords if call else [])}
                found[node.name] = tuple(kw.get("backends", BACKENDS))
    return found


SCENARIOS = scenarios(SCRIPT.read_text(encoding="utf-8"))

pytestmark = pytest.mark.slow


@functools.cache
def _run(backend: str) -> dict[str, Any]:
    env = dict(os.environ, KERAS_BACKEND=backend, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3")
    if backend == "jax":
        env["XLA_FLAGS"] = (
            env.get("XLA_FLAGS", "") + " --xla_force_host_platform_device_count=2"
        ).strip()
    names = [s for s, where in SCENARIOS.items() if backend in where]
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *names],
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
    for scenario, where in SCENARIOS.items()
    if backend in where
]


def test_the_scenario_list_is_read_from_the_script() -> None:
    assert len(SCENARIOS) >= 20 and SCENARIOS["data_parallel"] == ("jax",)
    assert SCENARIOS["cooldown_epoch_end"] == tuple(BACKENDS)


@pytest.mark.parametrize(("backend", "scenario"), CASES)
def test_keras_backend(backend: str, scenario: str) -> None:
    require("keras")
    require(BACKENDS[backend])
    result = _run(backend)[scenario]
    assert result["ok"], f"{backend}/{scenario} failed:\n{result['detail']}"
