"""Importing an adapter without its framework says which extra to install; the core still loads."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize(
    ("adapter", "framework"),
    [("torch", "torch"), ("lightning", "lightning"), ("keras", "keras"), ("huggingface", "transformers")],
)
def test_import_without_the_framework_names_the_extra(adapter, framework):
    code = (
        f"import sys; sys.modules[{framework!r}] = None\n"
        "import lrplugins\n"
        "try:\n"
        f"    import lrplugins.{adapter}\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert f"pip install 'lrplugins[{adapter}]'" in proc.stdout
