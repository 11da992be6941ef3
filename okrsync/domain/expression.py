"""The expression of a derived key result: numbers, input names, + - * /, parentheses, min, max.

``paid / trials * 100``. Parsed by a small recursive-descent grammar into a
tree and evaluated by walking it: never ``eval``, no attribute access, no
calls but ``min``/``max``, no exponent, bounded length and nesting. A problem
is a ValueError naming the column of the offending character.

    expr   := term (("+" | "-") term)*
    term   := factor (("*" | "/") factor)*
    factor := ("+" | "-") factor | NUMBER | NAME | CALL | "(" expr ")"
    CALL   := ("min" | "max") "(" expr ("," expr)* ")"
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Union

MAX_LENGTH = 500
MAX_DEPTH = 32
FUNCTIONS = ("min", "max")
_TOKEN = re.compile(
    r"\s*(?:(?P<number>\d+(?:\.\d*)?|\.\d+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)|(?P<op>[-+*/(),]))"
)


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Name:
    name: str


@dataclass(frozen=True)
class Unary:
    op: str
    operand: Expr


@dataclass(frozen=True)
class Binary:
    op: str
    left: Expr
    right: Expr


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple[Expr, ...]


Expr = Union[Number, Name, Unary, Binary, Call]  # noqa: UP007 - a runtime alias of the tree


class DivisionByZero(ArithmeticError):
    """``a / b`` with ``b`` zero; ``divisor`` is the divisor as written (``trials``)."""

    def __init__(self, divisor: str) -> None:
        super().__init__(f"dividing by zero: {divisor} is 0")
        self.divisor = divisor


def _tokens(text: str) -> list[tuple[str, str, int]]:
    if (power := text.find("**")) >= 0:
        raise ValueError(f"column {power + 1}: '**' is not allowed here (no exponents)")
    out: list[tuple[str, str, int]] = []
    at = 0
    while at < len(text):
        if text[at:].strip() == "":
            break
        match = _TOKEN.match(text, at)
        if match is None or match.end() == at:
            bad = text[at:].lstrip()
            col = len(text) - len(bad) + 1
            shown = bad[:1]
            hint = " (no exponents)" if shown == "^" else ""
            raise ValueError(f"column {col}: {shown!r} is not allowed here{hint}")
        kind = match.lastgroup or "op"
        out.append((kind, match.group(kind), match.start(kind) + 1))
        at = match.end()
    return out


def parse(text: str) -> Expr:
    """The tree of ``text``; ValueError says what is wrong and where."""
    if len(text) > MAX_LENGTH:
        raise ValueError(f"the expression is {len(text)} characters; at most {MAX_LENGTH}")
    tokens = _tokens(text)
    if not tokens:
        raise ValueError("the expression is empty")
    pos = 0

    def peek() -> tuple[str, str, int] | None:
        return tokens[pos] if pos < len(tokens) else None

    def take(expected: str | None = None) -> tuple[str, str, int]:
        nonlocal pos
        token = peek()
        if token is None:
            raise ValueError(f"the expression ends early: expected {expected or 'more'}")
        if expected is not None and token[1] != expected:
            raise ValueError(f"column {token[2]}: expected {expected!r}, found {token[1]!r}")
        pos += 1
        return token

    def expr(depth: int) -> Expr:
        if depth > MAX_DEPTH:
            raise ValueError(f"the expression nests deeper than {MAX_DEPTH} levels")
        node = term(depth)
        while (t := peek()) is not None and t[1] in "+-" and t[0] == "op":
            take()
            node = Binary(t[1], node, term(depth))
        return node

    def term(depth: int) -> Expr:
        node = factor(depth)
        while (t := peek()) is not None and t[1] in "*/" and t[0] == "op":
            take()
            node = Binary(t[1], node, factor(depth))
        return node

    def factor(depth: int) -> Expr:
        if depth > MAX_DEPTH:
            raise ValueError(f"the expression nests deeper than {MAX_DEPTH} levels")
        kind, value, col = take("a number, a name or '('") if peek() is None else take()
        if kind == "number":
            return Number(float(value))
        if kind == "name":
            following = peek()
            if following is not None and following[1] == "(":
                if value not in FUNCTIONS:
                    raise ValueError(
                        f"column {col}: {value}() is not a function here; only min() and max()"
                    )
                take("(")
                args = [expr(depth + 1)]
                while (t := peek()) is not None and t[1] == ",":
                    take()
                    args.append(expr(depth + 1))
                take(")")
                return Call(value, tuple(args))
            if value in FUNCTIONS:
                raise ValueError(f"column {col}: {value} needs its arguments: {value}(a, b)")
            return Name(value)
        if value in "+-":
            return Unary(value, factor(depth + 1))
        if value == "(":
            node = expr(depth + 1)
            take(")")
            return node
        raise ValueError(f"column {col}: {value!r} cannot start a term")

    tree = expr(0)
    if (rest := peek()) is not None:
        raise ValueError(f"column {rest[2]}: unexpected {rest[1]!r}")
    return tree


def names(tree: Expr) -> set[str]:
    """The input names the expression reads."""
    if isinstance(tree, Name):
        return {tree.name}
    if isinstance(tree, Unary):
        return names(tree.operand)
    if isinstance(tree, Binary):
        return names(tree.left) | names(tree.right)
    if isinstance(tree, Call):
        return set().union(*(names(a) for a in tree.args))
    return set()


def show(tree: Expr) -> str:
    """The expression written back (as the divisor in a division-by-zero error)."""
    if isinstance(tree, Number):
        return f"{tree.value:g}"
    if isinstance(tree, Name):
        return tree.name
    if isinstance(tree, Unary):
        return f"{tree.op}{show(tree.operand)}"
    if isinstance(tree, Binary):
        return f"({show(tree.left)} {tree.op} {show(tree.right)})"
    return f"{tree.function}({', '.join(show(a) for a in tree.args)})"


def evaluate(tree: Expr, values: dict[str, float]) -> float:
    """The value; DivisionByZero names the divisor, ArithmeticError for a non-finite result."""
    if isinstance(tree, Number):
        return tree.value
    if isinstance(tree, Name):
        return values[tree.name]
    if isinstance(tree, Unary):
        inner = evaluate(tree.operand, values)
        return -inner if tree.op == "-" else inner
    if isinstance(tree, Call):
        args = [evaluate(a, values) for a in tree.args]
        return min(args) if tree.function == "min" else max(args)
    left, right = evaluate(tree.left, values), evaluate(tree.right, values)
    if tree.op == "/":
        if right == 0:
            divisor = show(tree.right)
            if isinstance(tree.right, Binary):  # show() wraps it: not as the user wrote it
                divisor = divisor[1:-1]
            raise DivisionByZero(divisor)
        result = left / right
    else:
        result = (
            left + right if tree.op == "+" else left - right if tree.op == "-" else left * right
        )
    if not math.isfinite(result):
        raise ArithmeticError(f"the result is not a finite number ({result})")
    return result


__all__ = [
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_LENGTH",
    "Binary",
    "Call",
    "DivisionByZero",
    "Expr",
    "Name",
    "Number",
    "Unary",
    "evaluate",
    "names",
    "parse",
    "show",
]
