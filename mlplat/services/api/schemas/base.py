"""The two kinds of response model, and ``mirror``: a response model made from a domain dataclass.

Response models are strict and closed. Strict, because validation must not
quietly turn a value into another one (a ``"3"`` into ``3``, a ``1`` into
``true``): a route that returns the wrong type answers 500 in the tests
instead. Closed (``extra="forbid"``), because pydantic drops a field it does
not know: a domain shape that grew a field would lose it on the wire, and here
it fails instead, until the schema says what the field is. ``Open`` is for the
few documents whose keys are not ours to fix (a model's metadata document).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, TypeVar, cast, get_type_hints

from pydantic import BaseModel, ConfigDict, Field, create_model


class Closed(BaseModel):
    """A response shape with exactly these fields."""

    model_config = ConfigDict(extra="forbid", strict=True, protected_namespaces=())


class Open(BaseModel):
    """A response document with these fields and possibly more (kept as they are)."""

    model_config = ConfigDict(extra="allow", strict=True, protected_namespaces=())


M = TypeVar("M", bound=BaseModel)


def mirror(domain: type[Any], *, exclude: tuple[str, ...] = (), **descriptions: str) -> Callable[[type[M]], type[M]]:
    """Decorate a model with the fields of ``domain``, a dataclass whose ``to_dict()`` gives exactly its fields.

    The decorated class gives the docstring and the base (``Closed`` or ``Open``); a field it declares itself
    replaces the dataclass's (where the wire differs from the attribute only in its container, a tuple sent
    as an array, or names the shape of a ``dict`` the attribute holds), and any other field it declares is
    added after them. ``descriptions`` documents the dataclass's fields by name.
    """

    def make(declared: type[M]) -> type[M]:
        hints = get_type_hints(domain)
        names = [f.name for f in dataclasses.fields(domain) if f.name not in exclude]
        own = declared.model_fields
        unknown = set(descriptions) - set(names)
        if unknown:
            raise TypeError(f"{domain.__name__} has no field(s) {', '.join(sorted(unknown))}")
        fields: dict[str, Any] = {}
        for name in [*names, *(n for n in own if n not in names)]:
            info = own.get(name) or Field(description=descriptions.get(name))
            kind = own[name].annotation if name in own else hints[name]
            if hasattr(BaseModel, name):  # e.g. "schema": pydantic's own attribute, so the field goes by an alias
                fields[f"{name}_"] = (kind, Field(alias=name, description=info.description))
            else:
                fields[name] = (kind, info)
        model = create_model(declared.__name__, __base__=declared.__base__, __doc__=declared.__doc__,
                             __module__=declared.__module__, **fields)
        return cast(type[M], model)

    return make
