"""Domain objects to JSON-able data for responses (each domain type has ``to_dict``)."""

from __future__ import annotations

from typing import Any

from fastapi.encoders import jsonable_encoder


def out(value: Any) -> Any:
    if isinstance(value, list):
        return [out(v) for v in value]
    if hasattr(value, "to_dict"):
        return value.to_dict()
    return jsonable_encoder(value)
