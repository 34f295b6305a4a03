"""The adapter contract suite: every scenario of ``contract_scenarios.SCENARIOS`` in every runtime.

One test per (runtime, scenario), ``test_contract[<runtime>-<scenario>]``: the driver of the
runtime (``contract_drivers.py``; Keras: ``contract_keras.py``, one process per backend running
all its scenarios) trains a tiny model as the scenario says and records what each update
applied; ``contract_scenarios.check`` compares it with values computed from the core schedules,
torch's ``ReduceLROnPlateau`` or the uninterrupted run. Cells marked ``n/a`` in the scenario table
are not run; ``refused`` cells assert the refusal. The scenario table (``cs.readme_table()``) is
put on the docs page ``docs/concepts/run-state.md`` by the docs build (``docs/hooks.py``;
``integration/test_docs.py`` checks it). How to add a runtime: the docstring of
``contract_scenarios.py``.
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest

from conftest import require

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import contract_scenarios as cs

pytestmark = pytest.mark.slow

# A case that fails only because an issue-21 behaviour is not fixed yet: strict, so the marker
# must go once it is fixed. Keys: (runtime or family, scenario).
XFAIL: dict[tuple[str, str], str] = {}


def _reason(runtime: str, scenario: str) -> str | None:
    return XFAIL.get((runtime, scenario)) or XFAIL.get((cs.family(runtime), scenario))


def _cases() -> list[Any]:
    cases = []
    for runtime in cs.RUNTIMES:
        for sc in cs.SCENARIOS:
            if sc.cell(runtime).startswith("n/a"):
                continue
            reason = _reason(runtime, sc.name)
            marks = [pytest.mark.xfail(strict=True, reason=reason)] if reason else []
            cases.append(pytest.param(runtime, sc.name, marks=marks, id=f"{runtime}-{sc.name}"))
    return cases


# -- Keras: one process per backend, those selected started together at the first Keras case ---
_KERAS: dict[str, tuple[subprocess.Popen[str], str]] = {}
_KERAS_RESULTS: dict[str, dict[str, Any]] = {}


def _start_keras(wanted: set[str]) -> None:
    require("keras")
    for runtime in sorted(wanted):
        if runtime in _KERAS:
            continue
        backend = runtime.split("-", 1)[1]
        out = os.path.join(tempfile.mkdtemp(prefix=f"contract-{backend}-"), "out.json")
        env = dict(
            os.environ, KERAS_BACKEND=backend, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="3"
        )
        proc = subprocess.Popen(
            [sys.executable, str(HERE / "contract_keras.py"), out],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        _KERAS[runtime] = (proc, out)


@atexit.register
def _stop_keras() -> None:
    """A session that ends early (-x, an interrupt) leaves no driver running."""
    for proc, _ in _KERAS.values():
        if proc.poll() is None:
            proc.kill()


def _keras(runtime: str, scenario: str, session: pytest.Session) -> list[cs.Trace]:
    if runtime not in _KERAS_RESULTS:
        selected = [getattr(item, "callspec", None) for item in session.items]
        wanted = {c.params["runtime"] for c in selected if c is not None and "runtime" in c.params}
        _start_keras({r for r in wanted if r.startswith("keras-")} | {runtime})
        proc, out = _KERAS[runtime]
        log, _ = proc.communicate(timeout=900)
        assert proc.returncode == 0, f"{runtime} driver failed:\n{log[-4000:]}"
        with open(out, encoding="utf-8") as fh:
            _KERAS_RESULTS[runtime] = json.load(fh)
    result = _KERAS_RESULTS[runtime][scenario]
    if isinstance(result, dict):
        pytest.fail(f"{runtime} driver error in {scenario}:\n{result['driver_error']}")
    return [cs.Trace.from_json(t) for t in result]


@pytest.mark.parametrize(("runtime", "scenario"), _cases())
def test_contract(
    runtime: str, scenario: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    sc = cs.BY_NAME[scenario]
    if runtime.startswith("keras-"):
        traces = _keras(runtime, scenario, request.session)
    else:
        require(
            {"torch": "torch", "lightning": "lightning", "huggingface": "transformers"}[runtime]
        )
        from contract_drivers import DRIVERS

        traces = DRIVERS[runtime](sc, tmp_path)
    cs.check(sc, runtime, traces)


def test_check_is_not_vacuous(tmp_path: Path) -> None:
    """The comparison fails on a wrong LR, a missing update, an extra warning or a missing error."""
    require("torch")
    from contract_drivers import run_torch

    sc = cs.BY_NAME["cooldown"]
    traces = run_torch(sc, tmp_path)
    cs.check(sc, "torch", traces)
    wrong = [cs.Trace.from_json(json.loads(json.dumps(t.to_json()))) for t in traces]
    wrong[0].values[7]["lr"] = [wrong[0].values[7]["lr"][0] * (1 + 1e-6)]
    with pytest.raises(AssertionError, match="update 7 lr applied"):
        cs.check(sc, "torch", wrong)
    short = [cs.Trace.from_json(json.loads(json.dumps(t.to_json()))) for t in traces]
    del short[0].values[11]
    with pytest.raises(AssertionError, match="updates"):
        cs.check(sc, "torch", short)
    noisy = [cs.Trace.from_json(json.loads(json.dumps(t.to_json()))) for t in traces]
    noisy[0].warnings.append("LRScheduler: something nobody expected")
    with pytest.raises(AssertionError, match="unexpected warnings"):
        cs.check(sc, "torch", noisy)
    refused = cs.BY_NAME["metric_not_scalar"]
    with pytest.raises(AssertionError, match="nothing was raised"):
        cs.check(refused, "torch", traces)
