"""Routing rules: CEL ``match`` expressions choosing an app path for each event, as daprd's
``findMatchingRoute`` (``pkg/runtime/subscription``).

Rules are tried in order; a rule without ``match`` always matches (the default route, and the
single v1 ``route``). An expression sees the CloudEvent as ``event`` (``event.type == "x"``,
``event.data.size > 3``). Each expression is compiled once (``compile_rule``); one that does not
compile is a ``RuleError`` naming it. Evaluating may fail (a missing field): ``RouteError``,
which daprd treats as a failed delivery.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import celpy
from celpy.celtypes import BoolType

__all__ = ["RouteError", "Rule", "RuleError", "compile_rule", "match_route"]

_ENV = celpy.Environment()


class RuleError(ValueError):
    """A ``match`` expression that does not compile."""


class RouteError(Exception):
    """A ``match`` expression failed on an event, or did not give a boolean."""


@dataclass(frozen=True)
class Rule:
    """``match`` (CEL text, "" = always) and the app ``path`` it selects."""

    match: str
    path: str
    program: Any = field(default=None, compare=False, repr=False)


def compile_rule(match: str, path: str) -> Rule:
    """A rule with its expression compiled; RuleError naming the expression when it is bad."""
    text = match.strip()
    if not text:
        return Rule("", path)
    try:
        program = _ENV.program(_ENV.compile(text))
    except Exception as err:
        raise RuleError(f"match expression {text!r} does not compile: {err}") from err
    return Rule(text, path, program)


def match_route(rules: Sequence[Rule], event: Mapping[str, Any]) -> str | None:
    """The path of the first matching rule, None when none matches."""
    activation: Any = None
    for rule in rules:
        if rule.program is None:
            return rule.path
        if activation is None:
            activation = celpy.json_to_cel({"event": dict(event)})
        try:
            result = rule.program.evaluate(activation)
        except Exception as err:
            raise RouteError(f"match expression {rule.match!r}: {err}") from err
        if not isinstance(result, BoolType | bool):
            raise RouteError(f"the result of match expression {rule.match} was not a boolean")
        if bool(result):
            return rule.path
    return None
