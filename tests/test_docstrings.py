"""The examples in the core's docstrings run and print what they claim."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import lrplugins
import lrplugins._run
import lrplugins._validate
import lrplugins.spec
from lrplugins import _schedules

MODULES = [
    lrplugins,
    lrplugins.spec,
    lrplugins._validate,
    lrplugins._run,
    *(
        importlib.import_module(f"{_schedules.__name__}.{m.name}")
        for m in pkgutil.iter_modules(_schedules.__path__)
    ),
]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
