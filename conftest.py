"""Shared test helpers.

``require(name)`` imports an optional framework. Locally a missing framework skips the test; in CI
(``CI=true``) it fails, so a broken install can never turn into a green run of skipped tests.
"""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(name: str) -> ModuleType:
    """Import ``name``; skip the test when it is missing, except in CI where it fails."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        if IN_CI:
            pytest.fail(f"{name} is required in CI but could not be imported: {exc}")
        pytest.skip(f"{name} is not installed")
        raise  # unreachable, keeps type checkers happy


@pytest.fixture
def device() -> str:
    """The device tests that train should use: a GPU where one is present, else the CPU."""
    torch = require("torch")
    return "cuda" if torch.cuda.is_available() else "cpu"
