"""Circuit-breaker ``trip`` expressions: the part of CEL that daprd's docs show.

daprd evaluates ``trip`` as a CEL expression over gobreaker's counts (``requests``,
``totalSuccesses``, ``totalFailures``, ``consecutiveSuccesses``, ``consecutiveFailures``).
This module parses the forms its docs use, and combinations of them, explicitly:

    expression := disjunct ("||" disjunct)*
    disjunct   := unary ("&&" unary)*
    unary      := "!" unary | "(" expression ")" | operand comparison operand
    operand    := count name | non-negative integer
    comparison := ">" | ">=" | "<" | "<=" | "==" | "!="

e.g. ``consecutiveFailures > 5``, ``requests > 5 && totalFailures >= 3``. Anything else
(arithmetic, functions, other names) raises ``TripSyntaxError`` naming what was found.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["COUNT_NAMES", "TripExpression", "TripSyntaxError", "parse_trip"]

#: The counts daprd passes to the expression (gobreaker.Counts).
COUNT_NAMES = ("requests", "totalSuccesses", "totalFailures", "consecutiveSuccesses",
               "consecutiveFailures")
_COMPARISONS: dict[str, Callable[[int, int], bool]] = {
    ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le,
    "==": operator.eq, "!=": operator.ne,
}
_TOKEN = re.compile(r"\s*(?:(\d+)|([A-Za-z_]\w*)|(>=|<=|==|!=|&&|\|\||[><!()]))")

_Counts = Mapping[str, int]
_Eval = Callable[[_Counts], bool]


class TripSyntaxError(ValueError):
    """The expression is not one of the supported forms (see the module docstring)."""


@dataclass(frozen=True)
class TripExpression:
    """A parsed ``trip`` expression; call ``evaluate(counts)``."""

    text: str
    _evaluate: _Eval

    def evaluate(self, counts: _Counts) -> bool:
        return self._evaluate(counts)


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    stripped = text.rstrip()
    while position < len(stripped):
        match = _TOKEN.match(stripped, position)
        if match is None:
            raise TripSyntaxError(f"unexpected {stripped[position:].strip()!r}")
        tokens.append(match.group(match.lastindex or 0))
        position = match.end()
    return tokens


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.position = 0

    def _peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def _take(self) -> str:
        token = self._peek()
        if token is None:
            raise TripSyntaxError("the expression ends too early")
        self.position += 1
        return token

    def expression(self) -> _Eval:
        parts = [self._disjunct()]
        while self._peek() == "||":
            self._take()
            parts.append(self._disjunct())
        return parts[0] if len(parts) == 1 else lambda c: any(p(c) for p in parts)

    def _disjunct(self) -> _Eval:
        parts = [self._unary()]
        while self._peek() == "&&":
            self._take()
            parts.append(self._unary())
        return parts[0] if len(parts) == 1 else lambda c: all(p(c) for p in parts)

    def _unary(self) -> _Eval:
        if self._peek() == "!":
            self._take()
            inner = self._unary()
            return lambda c: not inner(c)
        if self._peek() == "(":
            self._take()
            inner = self.expression()
            if self._take() != ")":
                raise TripSyntaxError("missing ')'")
            return inner
        left = self._operand()
        symbol = self._take()
        compare = _COMPARISONS.get(symbol)
        if compare is None:
            raise TripSyntaxError(f"expected a comparison (>, >=, <, <=, ==, !=), found {symbol!r}")
        right = self._operand()
        return lambda c: compare(left(c), right(c))

    def _operand(self) -> Callable[[_Counts], int]:
        token = self._take()
        if token.isdigit():
            value = int(token)
            return lambda c: value
        if token in COUNT_NAMES:
            return lambda c: c[token]
        raise TripSyntaxError(f"expected one of {', '.join(COUNT_NAMES)} or an integer, "
                              f"found {token!r}")

    def done(self) -> None:
        token = self._peek()
        if token is not None:
            raise TripSyntaxError(f"unexpected {token!r} after a complete expression")


def parse_trip(text: str) -> TripExpression:
    """Parse ``text``; TripSyntaxError when it is not a supported form."""
    if not text.strip():
        raise TripSyntaxError("the expression is empty")
    parser = _Parser(_tokens(text))
    evaluate = parser.expression()
    parser.done()
    return TripExpression(text.strip(), evaluate)
