"""The scalar path of ``s(step)``: a plain Python function generated from the schedule's formula.

A schedule's formula ``_formula(t, p, xp)`` is written once, for every array namespace. For one
float it pays for that generality: each ``xp.where`` is a Python function call that evaluates both
branches, each ``xp.clip`` another call. Here the formula is *traced* once with a symbolic
namespace, :class:`Tracer`: the step ``t`` is a :class:`Node`, arithmetic and ``xp`` calls on it
build an expression graph, and every number the formula resolved at construction stays a constant.
The graph is then written out as Python source with the constants inlined, ``where(c, a, b)`` as
``(a if c else b)`` (only the chosen branch runs), ``minimum``/``maximum``/``clip`` as comparisons,
and compiled. Only numbers and this module's own operators reach the source, never a user string.

The generated function performs the operations of ``_formula(float(step), p, MATH)`` in the same
order, so it returns the same value bit for bit; only branches that ``where`` discards are skipped.
Three liberties keep that exactness: the step stays an ``int`` where int arithmetic is exact and
equal to float arithmetic (comparisons, ``+``/``-`` within 2**53, true division; see ``_Writer``),
since ints are Python's fastest numbers; ``x * 1`` and ``x / 1`` are dropped; ``power`` is
``math.pow`` (``**`` for a constant base >= 0, the same C ``pow``) and if anything overflows the call
falls back to the formula on the float namespace, whose ``power`` gives ``inf`` as numpy does. A
formula that cannot be traced (one that branches on ``t`` in Python, a ``custom`` callable, a graph
too large to be worth compiling) keeps that generic path for every call.

The function also checks the step (an ``int`` >= 0) and is what ``schedule(step)`` calls directly:
``Schedule.__call__`` hands it out without a Python frame of its own. A property test checks the
generated path against the formula, bit for bit, on random schedules and steps up to 2**64.

>>> import lrplugins as lrp
>>> print(source(lrp.constant(warmup_steps=4)), end="")
def scalar(step):
    if step.__class__ is int and 0 <= step <= 1125899906842624:
        t = step
    else:
        t = _other_step(step, _kind)
    try:
        return ((t / 4) if (t < 4) else 1.0)
    except OverflowError:
        return _generic(float(t))
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .. import _validate as v
from .._ops import MATH

__all__: list[str] = []

MAX_NODES = 400
"""Graphs larger than this (e.g. ``multistep`` with hundreds of milestones) keep the generic path:
compiling them costs more than it saves."""

MAX_DEPTH = 30
"""Deeper sub-expressions are computed into a local first (the parser allows 200 nested brackets,
each operation here writes at most three)."""


class Untraceable(Exception):
    """The formula did something with ``t`` that has no symbolic form (e.g. ``if t < w:``)."""


class Node:
    """A value computed from the step ``t``: an operation and its operands (nodes or constants)."""

    __slots__ = ("args", "op")

    def __init__(self, op: str, *args: Any) -> None:
        self.op = op
        self.args = args

    # arithmetic -----------------------------------------------------------------------------
    def __add__(self, o: Any) -> Node:
        return _binary("+", self, o)

    def __radd__(self, o: Any) -> Node:
        return _binary("+", o, self)

    def __sub__(self, o: Any) -> Node:
        return _binary("-", self, o)

    def __rsub__(self, o: Any) -> Node:
        return _binary("-", o, self)

    def __mul__(self, o: Any) -> Node:
        return _binary("*", self, o)

    def __rmul__(self, o: Any) -> Node:
        return _binary("*", o, self)

    def __truediv__(self, o: Any) -> Node:
        return _binary("/", self, o)

    def __rtruediv__(self, o: Any) -> Node:
        return _binary("/", o, self)

    def __neg__(self) -> Node:
        return Node("neg", self)

    # comparisons ----------------------------------------------------------------------------
    def __lt__(self, o: Any) -> Node:
        return _binary("<", self, o)

    def __le__(self, o: Any) -> Node:
        return _binary("<=", self, o)

    def __gt__(self, o: Any) -> Node:
        return _binary(">", self, o)

    def __ge__(self, o: Any) -> Node:
        return _binary(">=", self, o)

    def __eq__(self, o: object) -> bool:
        raise Untraceable("== on the step")

    __hash__ = object.__hash__

    # anything that would need the value of t now ------------------------------------------------
    def __bool__(self) -> bool:
        raise Untraceable("a Python branch on the step")

    def __float__(self) -> float:
        raise Untraceable("float() of the step")

    def __index__(self) -> int:
        raise Untraceable("int() of the step")


_NUMBER = (int, float)


def _check_const(x: Any) -> None:
    if isinstance(x, bool) or not isinstance(x, _NUMBER):
        raise Untraceable(f"a constant that is not a number: {x!r}")


def _binary(op: str, a: Any, b: Any) -> Node:
    for x in (a, b):
        if not isinstance(x, Node):
            _check_const(x)
    # x * 1 and x / 1 are x exactly (for every float, -0.0, inf and NaN included): skip them
    if (op == "*" or op == "/") and not isinstance(b, Node) and b == 1:
        return a
    if op == "*" and not isinstance(a, Node) and a == 1:
        return b
    return Node(op, a, b)


class Tracer:
    """The symbolic ``xp``: each call on a node records it; on constants it is :data:`MATH`'s."""

    __slots__ = ()

    @staticmethod
    def _call(op: str, *args: Any) -> Any:
        if not any(isinstance(a, Node) for a in args):
            return getattr(MATH, op)(*args)  # constants fold exactly as the float path computes
        for a in args:
            if not isinstance(a, Node):
                _check_const(a)
        return Node(op, *args)

    def where(self, cond: Any, a: Any, b: Any) -> Any:
        if not isinstance(cond, Node):
            return a if cond else b
        return self._call("where", cond, a, b)

    def minimum(self, a: Any, b: Any) -> Any:
        return self._call("minimum", a, b)

    def maximum(self, a: Any, b: Any) -> Any:
        return self._call("maximum", a, b)

    def clip(self, x: Any, lo: Any, hi: Any) -> Any:
        return self._call("clip", x, lo, hi)

    def cos(self, x: Any) -> Any:
        return self._call("cos", x)

    def sqrt(self, x: Any) -> Any:
        return self._call("sqrt", x)

    def floor(self, x: Any) -> Any:
        return self._call("floor", x)

    def log(self, x: Any) -> Any:
        return self._call("log", x)

    def power(self, a: Any, b: Any) -> Any:
        return self._call("power", a, b)


TRACER = Tracer()

# The step is checked, then used as it is: an int. Python's int arithmetic and comparisons are
# exact, and so are float(t)'s for |t| <= 2**53, so an operation on ints gives the float path's
# result as long as every int involved stays within 2**53; _Writer tracks a bound on each int it
# writes and converts to float where the bound could be passed. A step above 2**50 is converted at
# once (every operation then meets a float, as on the float path).
INT_STEP = 2**50
EXACT = 2**53

_HEAD = [
    f"if step.__class__ is int and 0 <= step <= {INT_STEP}:",
    "    t = step",
    "else:",
    "    t = _other_step(step, _kind)",
]


def _other_step(step: Any, kind: str) -> int | float:
    """The step as the generated code uses it, when it is not a plain int in ``[0, 2**50]``: a numpy
    integer as an int, a larger one as a float; refused if it is not an int or is negative."""
    step = v.step_index(step)
    if step < 0:
        raise ValueError(f"{kind}(): step must be >= 0, got {step}")
    return step if step <= INT_STEP else float(step)


# the names the generated code calls: MATH's operations (math.pow for MATH.power, which only differs
# where math.pow raises OverflowError, and then the whole call falls back to the float formula)
_GLOBALS: dict[str, Any] = {
    "__builtins__": {"float": float, "int": int},
    "OverflowError": OverflowError,
    "_cos": math.cos,
    "_sqrt": math.sqrt,
    "_floor": math.floor,
    "_log": math.log,
    "_power": math.pow,
    "_inf": math.inf,
    "_other_step": _other_step,
}
_CALLS = {"cos": "_cos", "sqrt": "_sqrt", "floor": "_floor", "log": "_log", "power": "_power"}

_ARITH = ("+", "-", "*", "/")
_COMPARE = ("<", "<=", ">", ">=")


def _small_int(x: Any) -> int | None:
    """A constant that may be written as an int literal: integral, within 2**50."""
    if isinstance(x, Node) or not (isinstance(x, int) or float(x).is_integer()):
        return None
    i = int(x)
    return abs(i) if abs(i) <= INT_STEP else None


class _Writer:
    """Writes a traced graph out as the body of ``def scalar(step)``."""

    def __init__(self, root: Any, t: Node) -> None:
        self.t = t
        self.uses: dict[int, int] = {}
        self.order: list[Node] = []  # nodes in evaluation order (operands first)
        self.names: dict[int, str] = {id(t): "t"}
        self.temps = 0
        self._walk(root)
        if len(self.order) > MAX_NODES:
            raise Untraceable(f"{len(self.order)} operations")
        # per node: a bound on its value when it is surely an int, whether it is surely a float,
        # and which constant operands to write as int literals
        self.bound: dict[int, int] = {id(t): INT_STEP}
        self.is_float: dict[int, bool] = {id(t): False}
        self.int_args: dict[int, frozenset[int]] = {}
        for node in self.order:
            if node is not t:
                self._types(node)
        self.lines = [*_HEAD, "try:"]
        # A node used twice is computed once, up front, as every operand was on the float path;
        # so is one nested deeper than MAX_DEPTH (Python's parser limits nesting).
        depth: dict[int, int] = {}
        for node in self.order:
            d = 1 + max((depth.get(id(a), 0) for a in node.args), default=0)
            if node is not t and (self.uses[id(node)] > 1 or d > MAX_DEPTH):
                name = self._fresh()
                self.lines.append(f"    {name} = {self._expr(node)}")
                self.names[id(node)] = name
                d = 0
            depth[id(node)] = d
        body = self._expr(root)
        surely_float = self.is_float.get(id(root), True) if isinstance(root, Node) else True
        self.lines.append(f"    return {body}" if surely_float else f"    return float({body})")
        self.lines += ["except OverflowError:", "    return _generic(float(t))"]

    def _walk(self, root: Any) -> None:
        stack: list[tuple[Any, bool]] = [(root, False)]
        while stack:
            node, done = stack.pop()
            if not isinstance(node, Node):
                continue
            if done:
                self.order.append(node)
                continue
            self.uses[id(node)] = self.uses.get(id(node), 0) + 1
            if self.uses[id(node)] == 1:
                stack.append((node, True))
                stack.extend((a, False) for a in reversed(node.args))
            if len(self.uses) > MAX_NODES:
                raise Untraceable("too many operations")

    def _int_bound(self, x: Any) -> int | None:
        """A bound on ``x``'s value if it is surely an int as written (node or int literal)."""
        return self.bound.get(id(x)) if isinstance(x, Node) else _small_int(x)

    def _types(self, node: Node) -> None:
        op, args, key = node.op, node.args, id(node)
        literal: set[int] = set()
        bound: int | None = None
        is_float = True
        if op in _ARITH or op in _COMPARE:
            a, b = args
            ba, bb = self._int_bound(a), self._int_bound(b)
            ints = ba is not None and bb is not None
            if op in ("+", "-"):
                ints = ints and ba + bb <= EXACT  # type: ignore[operator]
            elif op == "*":
                ints = False  # a product of ints could pass 2**53: always through a float
            if ints:
                literal = {i for i, x in enumerate(args) if not isinstance(x, Node)}
                if op in ("+", "-"):
                    bound, is_float = ba + bb, False  # type: ignore[operator]
            is_float = is_float and op not in _COMPARE
        elif op == "neg":
            bound = self.bound.get(id(args[0]))
            is_float = self.is_float.get(id(args[0]), True)
        elif op in ("where", "minimum", "maximum", "clip"):
            values = args[1:] if op == "where" else args  # what the result can be
            floats = [not isinstance(x, Node) or self.is_float[id(x)] for x in values]
            is_float = all(floats)
            bounds = [self.bound.get(id(x)) if isinstance(x, Node) else None for x in values]
            if all(b is not None for b in bounds):
                bound = max(bounds)  # type: ignore[type-var]
            if op != "where":  # compare an int operand with an integral constant as ints
                compared = [x for x in args if isinstance(x, Node)]
                if compared and all(self.bound.get(id(x)) is not None for x in compared):
                    literal = {i for i, x in enumerate(args) if _small_int(x) is not None}
        elif op == "floor":
            is_float = False  # an int, unbounded: later operations meet it with floats
        if bound is not None:
            self.bound[key] = bound
        self.is_float[key] = is_float
        self.int_args[key] = frozenset(literal)

    def _fresh(self) -> str:
        self.temps += 1
        return f"_{self.temps}"

    def _arg(self, node: Node, i: int) -> str:
        x = node.args[i]
        if not isinstance(x, Node):
            return _const(x, as_int=i in self.int_args[id(node)])
        text = self._expr(x)
        if node.op == "*" and self.bound.get(id(x)) is not None and i == 0:
            other = node.args[1]
            if isinstance(other, Node) and self.bound.get(id(other)) is not None:
                return f"float({text})"  # int * int: through a float, as the float path
        return text

    def _expr(self, x: Any) -> str:
        if not isinstance(x, Node):
            return _const(x)
        name = self.names.get(id(x))
        if name is not None:
            return name
        op, args = x.op, x.args
        if op in _ARITH or op in _COMPARE:
            a, b = self._arg(x, 0), self._arg(x, 1)
            if op in ("+", "-") and id(x) not in self.bound:
                ba, bb = self.bound.get(id(args[0])), self.bound.get(id(args[1]))
                if isinstance(args[1], Node) and ba is not None and bb is not None:
                    a = f"float({a})"  # two ints whose sum could pass 2**53
            return f"({a} {op} {b})"
        if op == "neg":
            return f"(-{self._expr(args[0])})"
        if op == "where":  # MATH.where: a if cond else b
            c, a, b = (self._expr(a) for a in args)
            return f"({a} if {c} else {b})"
        if op in ("minimum", "maximum"):  # min(x, y) is y if y < x else x; max likewise with >
            x0, x1 = self._once(x, 0)
            y0, y1 = self._once(x, 1)
            return f"({y1} if {y0} {'<' if op == 'minimum' else '>'} {x0} else {x1})"
        if op == "clip":  # MATH.clip(x, lo, hi): lo if x < lo else min(x, hi)
            x0, x1 = self._once(x, 0)
            lo0, lo1 = self._once(x, 1)
            hi0, hi1 = self._once(x, 2)
            return f"({lo1} if {x0} < {lo0} else ({hi1} if {hi0} < {x1} else {x1}))"
        if op == "power" and not isinstance(args[0], Node) and args[0] >= 0:
            # a constant base >= 0: `**` is math.pow there (same C pow, same OverflowError)
            return f"({_const(args[0])} ** {self._expr(args[1])})"
        return f"{_CALLS[op]}({', '.join(self._expr(a) for a in args)})"

    def _once(self, node: Node, i: int) -> tuple[str, str]:
        """How to write an operand that appears twice: (where it is compared, where it is the
        value). A constant is compared as an int literal where the other side is an int."""
        x = node.args[i]
        if not isinstance(x, Node):
            return _const(x, as_int=i in self.int_args[id(node)]), _const(x)
        text = self._expr(x)
        if id(x) in self.names:
            return text, text
        name = self._fresh()
        return f"({name} := {text})", name


def _const(x: Any, *, as_int: bool = False) -> str:
    """A constant as a literal: an int where it meets an int (see _Writer), else a float, the
    type it meets on the float path."""
    if as_int:
        text = repr(int(x))
    else:
        x = float(x)  # an int beyond 2**53 rounds here exactly as float arithmetic rounds it
        if not math.isfinite(x):
            if math.isnan(x):
                raise Untraceable("a NaN constant")
            return "_inf" if x > 0 else "(-_inf)"
        text = repr(x)
    return f"({text})" if text.startswith("-") else text


def source(schedule: Any) -> str:
    """The source of the scalar function generated for a bound schedule (raises ``Untraceable``)."""
    t = Node("t")
    root = schedule._formula(t, schedule._p, TRACER)
    lines = _Writer(root, t).lines
    return "def scalar(step):\n" + "".join(f"    {line}\n" for line in lines)


_COMPILED: dict[str, Any] = {}  # code objects by source: equal formulas share one


def generic_function(schedule: Any) -> Callable[[float], float]:
    """``t -> float(schedule._formula(t, p, MATH))``: the formula on Python floats."""
    formula, p = schedule._formula, schedule._p

    def generic(t: float) -> float:
        return float(formula(t, p, MATH))

    return generic


def scalar_function(schedule: Any) -> Callable[[int], float]:
    """The function ``schedule(step)`` runs for a bound schedule: checks ``step`` (an int >= 0),
    then returns ``float(schedule._formula(float(step), p, MATH))``, generated where possible."""
    generic = generic_function(schedule)
    names = {**_GLOBALS, "_kind": schedule.kind, "_generic": generic}
    try:
        text = source(schedule)
        code = _COMPILED.get(text)
        if code is None:
            code = compile(text, "<lrplugins scalar>", "exec")
            if len(_COMPILED) >= 512:
                _COMPILED.clear()
            _COMPILED[text] = code
    except Exception:  # noqa: BLE001 - whatever a formula does on the tracer: the generic path
        code = compile("def scalar(step):\n" + "".join(f"    {line}\n" for line in _HEAD)
                       + "    return _generic(float(t))\n", "<lrplugins scalar>", "exec")  # fmt: skip
    exec(code, names)  # noqa: S102 - our own generated code
    fn: Callable[[int], float] = names["scalar"]
    return fn
