"""Saved transformers: named, versioned, owned by a team, in the metadata database.

Models refer to a saved transformer by id, ``name:vN``. A function step is
stored pickled, so loading a transformer runs code: the metadata database is
trusted as the Model Repository is.
"""

from __future__ import annotations

import difflib
import re
from typing import Any

from sqlalchemy import func as sa_func
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError

from mlplat.errors import ConflictError, NotFoundError, ValidationError
from mlplat.features.transformer import Transformer
from mlplat.metadata import Database
from mlplat.metadata.models import Transformer as TransformerRow

_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,199}$")
_REF = re.compile(r"^(?P<name>[^:\s]+)(?::(?:v(?P<version>\d+)|(?P<latest>latest)))?$")


def _from_row(row: TransformerRow) -> Transformer:
    return Transformer.from_dict({
        "id": f"{row.name}:v{row.version}", "spec": row.spec, "state": row.state, "team": row.team,
        "example_set": row.example_set, "created_by": row.created_by, "created_at": row.created_at.isoformat(),
    })


def save_transformer(
    db: Database, name: str, team: str, transformer: Transformer, created_by: str, example_set: str = ""
) -> Transformer:
    """Store a fitted transformer as the next version of ``name`` (owned by ``team``); returns it with its id."""
    if not isinstance(transformer, Transformer):
        raise ValidationError(f"save_transformer takes a fitted Transformer (from fit), not {type(transformer).__name__}")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValidationError(
            f"transformer name {name!r} is not valid: start with a letter; letters, digits, '_', '.', '-' (200 at most)"
        )
    try:
        with db.session() as s:
            owner = s.scalar(sa_select(TransformerRow.team).where(TransformerRow.name == name).limit(1))
            if owner is not None and owner != team:
                raise ConflictError(
                    f"transformer {name!r} belongs to team {owner!r}; save it for {owner!r} or pick another name",
                    name=name, team=owner,
                )
            latest = s.scalar(sa_select(sa_func.max(TransformerRow.version)).where(TransformerRow.name == name)) or 0
            row = TransformerRow(
                name=name, version=latest + 1, team=team, spec=transformer.spec.to_dict(), state=transformer.state,
                example_set=example_set, created_by=created_by,
            )
            s.add(row)
            s.flush()
            saved = _from_row(row)
    except IntegrityError:
        raise ConflictError(f"another save of transformer {name!r} took its next version; save again", name=name) from None
    return saved


def _parse_ref(ref: str) -> tuple[str, int | None]:
    match = _REF.match(ref.strip()) if isinstance(ref, str) else None
    if not match:
        raise ValidationError(f"transformer reference {ref!r} is not valid: write name, name:latest or name:v2")
    return match["name"], int(match["version"]) if match["version"] else None


def load_transformer(db: Database, ref: str) -> Transformer:
    """``name:vN``, or ``name`` / ``name:latest`` for the newest version."""
    name, version = _parse_ref(ref)
    with db.session() as s:
        query = sa_select(TransformerRow).where(TransformerRow.name == name)
        if version is None:
            query = query.order_by(TransformerRow.version.desc()).limit(1)
        else:
            query = query.where(TransformerRow.version == version)
        row = s.scalar(query)
        if row is not None:
            return _from_row(row)
        latest = s.scalar(sa_select(sa_func.max(TransformerRow.version)).where(TransformerRow.name == name))
        if latest is not None:
            raise NotFoundError(f"transformer {name!r} has no version {version} (latest: v{latest})", ref=ref)
        names = list(s.scalars(sa_select(TransformerRow.name).distinct()))
    hint = difflib.get_close_matches(name, names, n=1)
    raise NotFoundError(
        f"no transformer named {name!r}" + (f"; did you mean {hint[0]!r}?" if hint else ""), ref=ref
    )


def list_transformers(db: Database) -> list[dict[str, Any]]:
    """One entry per name (its newest version), sorted by name, with every version number."""
    with db.session() as s:
        rows = list(s.scalars(sa_select(TransformerRow).order_by(TransformerRow.name, TransformerRow.version)))
        out: dict[str, dict[str, Any]] = {}
        for row in rows:
            versions = out.get(row.name, {}).get("versions", []) + [row.version]
            out[row.name] = {
                "id": f"{row.name}:v{row.version}", "name": row.name, "version": row.version, "versions": versions,
                "team": row.team, "example_set": row.example_set, "created_by": row.created_by,
                "created_at": row.created_at.isoformat(), "steps": [step["op"] for step in row.spec["steps"]],
                "input_columns": row.state["input_columns"], "output_columns": row.state["output_columns"],
            }
    return list(out.values())


__all__ = ["list_transformers", "load_transformer", "save_transformer"]
