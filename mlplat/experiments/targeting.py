"""Who may enter an experiment: a small predicate over request attributes, kept as data.

An experiment can be limited to some traffic ("only Germany and Austria, only
mobile"). The rule is stored with the experiment as JSON and evaluated by every
Inference Service worker on every request, so it is deliberately small: one
condition per attribute, all of them must hold.

    {"country": ["DE", "AT"], "device": "mobile", "app_version": {"not_in": ["1.0"]}}

A condition is a scalar (equality), a non-empty list (membership), or an
object with exactly one of ``eq``, ``ne``, ``in``, ``not_in``. A request that
lacks the attribute fails ``eq`` and ``in`` and passes ``ne`` and ``not_in``.
Values are strings, numbers or booleans; a mistake is reported with the
attribute it concerns, before anything is saved.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from mlplat.errors import ValidationError

OPERATORS = ("eq", "ne", "in", "not_in")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")
_MISSING = object()


def _check_value(attribute: str, value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        raise ValidationError(f"targeting on {attribute!r}: {value!r} is not a usable value", field=attribute)
    if not isinstance(value, (str, int, float, bool)):
        raise ValidationError(f"targeting on {attribute!r}: values must be strings, numbers or booleans, got "
                              f"{type(value).__name__}", field=attribute)
    return value


def _check_list(attribute: str, values: Any) -> tuple[Any, ...]:
    if not isinstance(values, (list, tuple)) or not values:
        raise ValidationError(f"targeting on {attribute!r}: expected a non-empty list, got {values!r}", field=attribute)
    return tuple(_check_value(attribute, v) for v in values)


@dataclass(frozen=True)
class Rule:
    attribute: str
    op: str
    values: tuple[Any, ...]

    def holds(self, value: Any) -> bool:
        if value is _MISSING or value is None:
            return self.op in ("ne", "not_in")
        inside = value in self.values
        return inside if self.op in ("eq", "in") else not inside

    def to_json(self) -> Any:
        if self.op == "eq":
            return self.values[0]
        if self.op == "in":
            return list(self.values)
        return {self.op: self.values[0] if self.op == "ne" else list(self.values)}


@dataclass(frozen=True)
class Targeting:
    """All rules must hold; no rules lets everyone in."""

    rules: tuple[Rule, ...] = ()

    @classmethod
    def parse(cls, data: Mapping[str, Any] | None) -> "Targeting":
        if data is None:
            return cls()
        if not isinstance(data, Mapping):
            raise ValidationError(f"targeting must be an object of attribute: condition, got {type(data).__name__}",
                                  field="targeting")
        rules = []
        for attribute, condition in data.items():
            if not isinstance(attribute, str) or not _NAME.match(attribute):
                raise ValidationError(f"targeting attribute {attribute!r} is not a valid name (letters, digits, _ . -)",
                                      field=str(attribute))
            rules.append(cls._rule(attribute, condition))
        return cls(tuple(rules))

    @staticmethod
    def _rule(attribute: str, condition: Any) -> Rule:
        if isinstance(condition, Mapping):
            if len(condition) != 1 or next(iter(condition)) not in OPERATORS:
                raise ValidationError(f"targeting on {attribute!r}: an object condition takes exactly one of "
                                      f"{', '.join(OPERATORS)}; got {sorted(condition)}", field=attribute)
            op, operand = next(iter(condition.items()))
            if op in ("in", "not_in"):
                return Rule(attribute, op, _check_list(attribute, operand))
            return Rule(attribute, op, (_check_value(attribute, operand),))
        if isinstance(condition, (list, tuple)):
            return Rule(attribute, "in", _check_list(attribute, condition))
        if condition is None:
            raise ValidationError(f"targeting on {attribute!r}: the condition is empty", field=attribute)
        return Rule(attribute, "eq", (_check_value(attribute, condition),))

    def matches(self, attributes: Mapping[str, Any] | None) -> bool:
        attrs = attributes or {}
        return all(rule.holds(attrs.get(rule.attribute, _MISSING)) for rule in self.rules)

    def mask(self, columns: Mapping[str, Sequence[Any] | np.ndarray], size: int) -> np.ndarray:
        """Which of ``size`` requests match, given one array per attribute (a missing column: attribute absent)."""
        out = np.ones(size, dtype=bool)
        for rule in self.rules:
            if rule.attribute not in columns:
                out &= rule.op in ("ne", "not_in")
                continue
            column = np.asarray(columns[rule.attribute], dtype=object)
            if column.shape != (size,):
                raise ValidationError(f"attribute column {rule.attribute!r} has {column.size} values, expected {size}",
                                      field=rule.attribute)
            present = np.array([v is not None for v in column], dtype=bool)
            inside = np.isin(column, np.array(rule.values, dtype=object))
            out &= np.where(present, inside if rule.op in ("eq", "in") else ~inside, rule.op in ("ne", "not_in"))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {rule.attribute: rule.to_json() for rule in self.rules}

    def __bool__(self) -> bool:
        return bool(self.rules)


__all__ = ["OPERATORS", "Rule", "Targeting"]
