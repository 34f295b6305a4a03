"""Parse schedule specs safely: a config file, or an inline expression such as
``'cosine(warmup_steps="5%", final=0.1)'`` or ``'wsd(decay_steps="20%") * 0.5'``.

Inline expressions are parsed with :mod:`ast` and never evaluated: only calls to catalog names,
the horizon methods ``.cooldown(...)`` and ``.stretch(...)``, keyword and positional literal
arguments (numbers, strings, booleans, ``None``, lists and tuples of those, nested catalog calls)
and ``*`` are accepted. Anything else (a keyword given twice included, as Python refuses it) is
refused with a message that points at the offending part.

>>> from lrplugins.spec import parse_spec
>>> parse_spec('cosine(total_steps=100, warmup_steps="5%") * 0.5')
0.5 * cosine(total_steps=100, warmup_steps='5%')
>>> parse_spec('wsd(total_steps=1000).cooldown(at=400, steps=100)').phases()[-2]
Phase(name='cooldown', start=400, end=500)

Durations are written as in Python, units included, so a spec runs on the clock they say:

>>> s = parse_spec('wsd(total_steps="300Btok", warmup_steps="2Btok")')
>>> s.clock, s.end
('tokens', 300000000000)
"""

from __future__ import annotations

import ast
import os
from typing import Any

from ._schedules import Schedule, load
from ._schedules.base import REGISTRY

#: The names an inline spec may call: every registered kind that is built by name (not the ones an
#: operator, a method or a Python callable builds), mapped to what users call to build it.
CATALOG: dict[str, Any] = {k.name: k.build for k in REGISTRY.values() if k.inline}


#: The schedule methods an inline spec may call (the horizon operations).
METHODS = ("cooldown", "stretch")
_ONLY = "only catalog names can be called (and a schedule's .cooldown() and .stretch())"


class SpecError(ValueError):
    """A spec that is not a config file or a safe inline expression."""


def parse_spec(spec: str) -> Schedule:
    """Return the schedule a spec describes: a JSON/YAML config file path or an inline expression."""
    text = spec.strip()
    if not text:
        raise SpecError("empty schedule spec")
    if os.path.isfile(text) or text.endswith((".json", ".yaml", ".yml")):
        if not os.path.isfile(text):
            raise SpecError(f"no such config file: {text}")
        return load(text)
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise SpecError(
            f"not a valid expression: {text!r} ({exc.msg} at column {exc.offset})"
        ) from None
    value = _Evaluator(text).visit(tree.body)
    if not isinstance(value, Schedule):
        raise SpecError(
            f"{text!r} is not a schedule; start from a catalog call such as cosine(...)"
        )
    return value


class _Evaluator:
    def __init__(self, text: str):
        self.text = text

    def refuse(self, node: ast.AST, why: str) -> SpecError:
        part = ast.get_source_segment(self.text, node) or type(node).__name__
        col = getattr(node, "col_offset", 0) + 1
        return SpecError(f"{why}: {part!r} (column {col} of {self.text!r})")

    def visit(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant) and (
            node.value is None or isinstance(node.value, (bool, int, float, str))
        ):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = self.visit(node.operand)
            if isinstance(operand, bool) or not isinstance(operand, (int, float)):
                raise self.refuse(node, "a sign only applies to a number")
            return -operand if isinstance(node.op, ast.USub) else operand
        if isinstance(node, (ast.List, ast.Tuple)):
            return [self.visit(e) for e in node.elts]
        if isinstance(node, ast.BinOp):
            if not isinstance(node.op, ast.Mult):
                raise self.refuse(node, "only '*' is allowed between schedules and numbers")
            left, right = self.visit(node.left), self.visit(node.right)
            if not (isinstance(left, Schedule) or isinstance(right, Schedule)):
                raise self.refuse(node, "'*' needs a schedule on at least one side")
            try:
                return left * right
            except (TypeError, ValueError) as exc:
                raise self.refuse(node, str(exc)) from None
        if isinstance(node, ast.Call):
            func = node.func
            if isinstance(func, ast.Attribute):  # schedule.cooldown(...), schedule.stretch(...)
                if func.attr not in METHODS:
                    raise self.refuse(func, _ONLY)
                target = self.visit(func.value)
                if not isinstance(target, Schedule):
                    raise self.refuse(func.value, f".{func.attr}() needs a schedule")
                call: Any = getattr(target, func.attr)
            elif isinstance(func, ast.Name):
                if func.id not in CATALOG:
                    allowed = ", ".join(CATALOG)
                    raise self.refuse(func, f"unknown schedule (allowed: {allowed})")
                call = CATALOG[func.id]
            else:
                raise self.refuse(func, _ONLY)
            if any(isinstance(a, ast.Starred) for a in node.args) or any(
                k.arg is None for k in node.keywords
            ):
                raise self.refuse(node, "*args and **kwargs are not allowed")
            seen: set[str] = set()
            for k in node.keywords:  # Python's own rule; a dict would keep the last silently
                if k.arg in seen:
                    raise self.refuse(k, f"keyword argument repeated: {k.arg}")
                seen.add(str(k.arg))
            args = [self.visit(a) for a in node.args]
            kwargs = {str(k.arg): self.visit(k.value) for k in node.keywords}
            try:
                return call(*args, **kwargs)
            except (TypeError, ValueError) as exc:
                raise self.refuse(node, str(exc)) from None
        raise self.refuse(node, "not allowed in a schedule spec")
