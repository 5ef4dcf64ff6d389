"""``KEY=VALUE`` words, as the CLI's options and the magics' arguments take them (``--param``, ``--entity``,
``--feature``, ``--describe``): one parser, so every surface accepts and refuses the same words."""

from __future__ import annotations

import json
from typing import Any

from mlplat.errors import ValidationError


def parse_pairs(pairs: list[str] | tuple[str, ...] | None, option: str, *, typed: bool = True,
                what: str = "KEY=VALUE") -> dict[str, Any]:
    """``{key: value}``; with ``typed`` a value is JSON when it parses (3, 2.5, true, [1, 2]), else text.

    A word without ``=`` or with an empty key is refused, naming ``option``.
    """
    out: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ValidationError(f"{option} takes {what}, got {pair!r}")
        value: Any = raw.strip() if not typed else raw
        if typed:
            try:
                value = json.loads(raw)
            except ValueError:
                value = raw
        out[key.strip()] = value
    return out


__all__ = ["parse_pairs"]
