"""What crosses a transport: the client's decoding of answers and encoding of arguments.

Every verb returns a domain object in-process and its ``to_dict()`` over HTTP.
Each per-domain client turns either into the domain object with ``one`` /
``many``, so a caller gets the same type whichever transport it used.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Callable, TypeVar

T = TypeVar("T")


def one(factory: Callable[[dict[str, Any]], T], value: Any) -> T:
    """``value`` as a domain object: built with ``factory`` from its dict form, or as it came in-process."""
    return factory(value) if isinstance(value, dict) else value


def many(factory: Callable[[dict[str, Any]], T], values: Any) -> list[T]:
    return [one(factory, v) for v in values]


def jsonable(value: Any) -> Any:
    """An argument as JSON sends it: dates as ISO text, domain objects as their dict form."""
    if isinstance(value, date):
        return value.isoformat()
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return value


__all__ = ["jsonable", "many", "one"]
