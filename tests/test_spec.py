"""parse_spec: what an inline expression may hold, and what it refuses (pointing at the part)."""

from __future__ import annotations

import pytest

from lrplugins.spec import SpecError, parse_spec


@pytest.mark.parametrize(
    "text, keyword, part",
    [
        (
            'cosine(total_steps=10000, warmup_steps="5%", total_steps=100)',
            "total_steps",
            "total_steps=100",
        ),
        ("linear(total_steps=10, final=0.5, final=0.1)", "final", "final=0.1"),
        ("cosine(total_steps=10).cooldown(at=4, steps=2, at=5)", "at", "at=5"),
    ],
)
def test_a_keyword_given_twice_is_refused_naming_it_as_python_does(text, keyword, part):
    with pytest.raises(SyntaxError):  # Python's own rule for the same call
        compile(text, "<spec>", "eval")
    with pytest.raises(SpecError, match=rf"keyword argument repeated: {keyword}: {part!r}"):
        parse_spec(text)


def test_each_keyword_once_is_still_accepted():
    s = parse_spec('cosine(total_steps=10000, warmup_steps="5%")')
    assert s.to_config() == parse_spec('cosine(warmup_steps="5%", total_steps=10000)').to_config()
