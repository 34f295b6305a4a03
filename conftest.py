"""Shared test helpers.

``require(name)`` imports an optional framework. Locally a missing framework skips the test; in CI
(``CI=true``) it fails, so a broken install can never turn into a green run of skipped tests.
Called at module level (``torch = require("torch")`` at the top of a test module), it skips the
whole module locally and makes its collection fail in CI.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(name: str) -> ModuleType:
    """Import ``name``; skip when it is missing, except in CI where it fails.

    Inside a test this skips (or fails) that test; at module level, the whole module.
    """
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if IN_CI:
            pytest.fail(f"{name} is required in CI but could not be imported: {exc}")
        # allow_module_level: at import time this skips the module (like pytest.importorskip);
        # inside a test it is an ordinary skip of that test.
        pytest.skip(f"{name} is not installed: {exc}", allow_module_level=True)
        raise  # unreachable, keeps type checkers happy


@pytest.fixture
def device() -> str:
    """The device tests that train should use: a GPU where one is present, else the CPU."""
    torch = require("torch")
    return "cuda" if torch.cuda.is_available() else "cpu"
