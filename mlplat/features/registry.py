"""The feature registry: sets, their versions, plan/apply, find and share.

Everyone reads every set; who may change one is decided by the verbs
(``FeatureService``), which call this. Changing the query, entity, timestamp or columns makes a new
version (old versions stay readable); other edits update the current version.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from mlplat.errors import ConflictError, NotFoundError, ValidationError
from mlplat.features.schema import Column
from mlplat.features.spec import FeatureSetSpec
from mlplat.features.sql import parse
from mlplat.lake import Lake
from mlplat.metadata import Database
from mlplat.metadata.models import FeatureSet, FeatureSetVersion, SetKind


@dataclass(frozen=True)
class SetVersion:
    """One version of a set: its definition and output schema."""

    name: str
    kind: str
    version: int
    spec: FeatureSetSpec
    schema: list[Column]
    fingerprint: str
    created_by: str
    created_at: str

    @property
    def value_columns(self) -> list[Column]:
        from mlplat.features.schema import value_columns

        return value_columns(self.spec, self.schema)

    @property
    def ref(self) -> str:
        return f"{self.name}:v{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "version": self.version,
            "spec": self.spec.to_dict(),
            "schema": [c.to_dict() for c in self.schema],
            "fingerprint": self.fingerprint,
            "created_by": self.created_by,
            "created_at": self.created_at,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SetVersion":
        return cls(
            name=data["name"],
            kind=data["kind"],
            version=int(data["version"]),
            spec=FeatureSetSpec.from_dict(data["spec"]),
            schema=[Column.from_dict(c) for c in data["schema"]],
            fingerprint=data["fingerprint"],
            created_by=data["created_by"],
            created_at=data["created_at"],
        )


@dataclass(frozen=True)
class Plan:
    """What ``apply`` would do (or did) to the registry."""

    action: str  # create | new_version | update | unchanged
    name: str
    kind: str
    version: int
    changes: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "action": self.action,
            "name": self.name,
            "kind": self.kind,
            "version": self.version,
            "changes": list(self.changes),
            "warnings": list(self.warnings),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Plan":
        return cls(**{k: data[k] for k in ("action", "name", "kind", "version", "changes", "warnings")})

    def __str__(self) -> str:
        head = {
            "create": f"+ create {self.kind} set {self.name} v{self.version}",
            "new_version": f"~ {self.name}: new version v{self.version}",
            "update": f"~ {self.name} v{self.version}: update metadata",
            "unchanged": f"= {self.name} v{self.version}: no change",
        }[self.action]
        lines = [head]
        for change in self.changes:
            lines.append(f"    {change['field']}: {_short(change['old'])} -> {_short(change['new'])}")
        lines += [f"  ! {w}" for w in self.warnings]
        return "\n".join(lines)


def _short(value: Any, limit: int = 70) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _kind(kind: str | None) -> SetKind | None:
    if kind is None:
        return None
    try:
        return SetKind(kind)
    except ValueError:
        raise ValidationError(f"kind {kind!r} is not valid: use 'features', 'labels' or 'stream'") from None


def _kinds(kind: str | None) -> list[SetKind]:
    """The stored kinds a lookup by ``kind`` matches: a streaming set is a feature set wherever features are
    asked for (examples, serving, materialization), so ``features`` matches both."""
    found = _kind(kind)
    if found is None:
        return []
    return [SetKind.features, SetKind.stream] if found == SetKind.features else [found]


# What about a streaming set's stream makes its rows differ (a new version); the rest is how it runs.
_STREAM_DATA = ("source", "fields", "time", "key", "watermark")


class Registry:
    """Feature and label sets in the metadata database."""

    def __init__(self, db: Database, lake: Lake) -> None:
        self.db = db
        self.lake = lake

    # -- reading ------------------------------------------------------------
    def _row(self, s: Session, name: str, kind: str | None) -> FeatureSet:
        query = select(FeatureSet).where(FeatureSet.name == name)
        if kind is not None:
            query = query.where(FeatureSet.kind.in_(_kinds(kind)))
        rows = list(s.scalars(query))
        if len(rows) > 1:
            raise ValidationError(f"both a feature set and a label set are named {name!r}: say which (kind=...)")
        if rows:
            return rows[0]
        names = list(s.scalars(select(FeatureSet.name)))
        hint = difflib.get_close_matches(name, names, n=1)
        what = f"{kind} set" if kind else "feature or label set"
        raise NotFoundError(
            f"no {what} named {name!r}" + (f"; did you mean {hint[0]!r}?" if hint else ""), set=name
        )

    def _version(self, s: Session, row: FeatureSet, version: int | None) -> SetVersion:
        wanted = row.current_version if version is None else version
        v = s.scalar(
            select(FeatureSetVersion).where(FeatureSetVersion.set_id == row.id, FeatureSetVersion.version == wanted)
        )
        if v is None:
            raise NotFoundError(f"{row.name} has no version {wanted} (current: v{row.current_version})")
        return SetVersion(
            name=row.name,
            kind=row.kind.value,
            version=v.version,
            spec=FeatureSetSpec.from_dict(v.spec),
            schema=[Column.from_dict(c) for c in v.output_schema],
            fingerprint=v.sql_fingerprint,
            created_by=v.created_by,
            created_at=v.created_at.isoformat(),
        )

    def get(self, name: str, kind: str | None = None, version: int | None = None) -> SetVersion:
        """A set's version (the current one by default)."""
        with self.db.session() as s:
            return self._version(s, self._row(s, name, kind), version)

    def versions(self, name: str, kind: str | None = None) -> list[SetVersion]:
        with self.db.session() as s:
            row = self._row(s, name, kind)
            numbers = s.scalars(
                select(FeatureSetVersion.version)
                .where(FeatureSetVersion.set_id == row.id)
                .order_by(FeatureSetVersion.version)
            )
            return [self._version(s, row, n) for n in list(numbers)]

    def set_id(self, name: str, kind: str) -> int:
        with self.db.session() as s:
            return self._row(s, name, kind).id

    def all(self, kind: str | None = None) -> list[SetVersion]:
        with self.db.session() as s:
            query = select(FeatureSet).order_by(FeatureSet.kind, FeatureSet.name)
            if kind is not None:
                query = query.where(FeatureSet.kind.in_(_kinds(kind)))
            return [self._version(s, row, None) for row in list(s.scalars(query))]

    def search(
        self,
        text: str | None = None,
        *,
        kind: str | None = None,
        team: str | None = None,
        tag: str | None = None,
        entity: str | None = None,
        column: str | None = None,
    ) -> list[SetVersion]:
        """Sets matching every given filter; ``text`` looks in names and descriptions."""
        needle = (text or "").lower()
        found = []
        for sv in self.all(kind):
            spec = sv.spec
            words = [spec.name, spec.description, *spec.columns, *spec.columns.values(), *spec.tags]
            haystack = " ".join(words).lower()
            if needle and needle not in haystack:
                continue
            if team and spec.team != team:
                continue
            if tag and tag not in spec.tags:
                continue
            if entity and entity not in spec.entity:
                continue
            if column and column not in {c.name for c in sv.schema}:
                continue
            found.append(sv)
        return found

    # -- writing ------------------------------------------------------------
    def plan(self, spec: FeatureSetSpec, schema: list[Column]) -> Plan:
        """Compare ``spec`` with the registry without changing it."""
        try:
            current = self.get(spec.name, spec.kind)
        except NotFoundError:
            self._check_name_free(spec)
            return Plan("create", spec.name, spec.kind, 1, [{"field": "sql", "old": None, "new": spec.sql}])
        if current.kind != spec.kind:  # a daily set asked for as a stream (or back): one name, one kind
            raise ConflictError(f"{spec.name!r} is a {current.kind} set; a {spec.kind} set needs another name "
                                "(or delete the other first)")
        old, new = current.spec.to_dict(), spec.to_dict()
        changes = [{"field": k, "old": old[k], "new": new[k]} for k in new if old[k] != new[k]]
        schema_changed = [c.to_dict() for c in schema] != [c.to_dict() for c in current.schema]
        fingerprint = parse(spec.sql, spec.name).fingerprint
        data_changed = (
            fingerprint != current.fingerprint
            or schema_changed
            or any(c["field"] in ("entity", "timestamp") for c in changes)
            or set(spec.columns) != set(current.spec.columns)
            or any((old.get("stream") or {}).get(k) != (new.get("stream") or {}).get(k) for k in _STREAM_DATA)
        )
        if schema_changed and not any(c["field"] == "schema" for c in changes):
            changes.append({"field": "schema", "old": [c.name for c in current.schema],
                            "new": [c.name for c in schema]})
        if data_changed:
            return Plan("new_version", spec.name, spec.kind, self._latest(spec) + 1, changes)
        if changes:
            return Plan("update", spec.name, spec.kind, current.version, changes)
        return Plan("unchanged", spec.name, spec.kind, current.version)

    def _check_name_free(self, spec: FeatureSetSpec) -> None:
        """A streaming set and a daily feature set may not share a name: lookups by ``features`` find both."""
        if spec.kind not in ("features", "stream"):
            return
        with self.db.session() as s:
            other = s.scalar(select(FeatureSet.kind).where(FeatureSet.name == spec.name,
                                                           FeatureSet.kind.in_(_kinds("features"))))
        if other is not None:
            raise ConflictError(f"{spec.name!r} is a {other.value} set; a {spec.kind} set needs another name "
                                "(or delete the other first)")

    def _latest(self, spec: FeatureSetSpec) -> int:
        return max(v.version for v in self.versions(spec.name, spec.kind))

    def apply(self, spec: FeatureSetSpec, schema: list[Column], created_by: str) -> Plan:
        """Register ``spec`` (a new set, a new version or new metadata of the current one)."""
        plan = self.plan(spec, schema)
        fingerprint = parse(spec.sql, spec.name).fingerprint
        with self.db.session() as s:
            if plan.action == "create":
                row = FeatureSet(name=spec.name, kind=SetKind(spec.kind), team=spec.team, current_version=1,
                                 created_by=created_by)
                s.add(row)
                s.flush()
            else:
                row = self._row(s, spec.name, spec.kind)
            if plan.action in ("create", "new_version"):
                s.add(FeatureSetVersion(set_id=row.id, version=plan.version, spec=spec.to_dict(),
                                        output_schema=[c.to_dict() for c in schema], sql_fingerprint=fingerprint,
                                        created_by=created_by))
                row.current_version = plan.version
            elif plan.action == "update":
                v = s.scalar(select(FeatureSetVersion).where(FeatureSetVersion.set_id == row.id,
                                                             FeatureSetVersion.version == row.current_version))
                assert v is not None
                v.spec = spec.to_dict()
            row.team = spec.team
        return plan

    def delete(self, name: str, kind: str) -> None:
        with self.db.session() as s:
            row = self._row(s, name, kind)
            s.execute(delete(FeatureSetVersion).where(FeatureSetVersion.set_id == row.id))
            s.delete(row)

    def offline_url(self, sv: SetVersion) -> str:
        """Where a version's offline table lives: ``<lake>/<kind>/<name>/v<k>/ds=.../``."""
        return self.lake.url(sv.kind, sv.name, f"v{sv.version}")
