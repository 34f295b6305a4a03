"""The examples in the core's docstrings run and print what they claim."""

from __future__ import annotations

import doctest

import pytest

import lrplugins
from lrplugins import _schedules


@pytest.mark.parametrize("module", [lrplugins, _schedules], ids=lambda m: m.__name__)
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
