"""The reference profile: everything drift needs of a reference set, computed once and stored as JSON.

A monitoring pass runs every hour against the same reference (a model's
training examples); re-reading and re-sorting it each time would cost more than
the hour's own data. :func:`build_profile` reads it once into a
:class:`ReferenceProfile` -- per numeric column its decile bins, mean, spread
and ECDF sketch (:mod:`mlplat.monitoring.ecdf`), per categorical column its
category counts -- which ``to_json``/``from_json`` store and load;
:func:`mlplat.monitoring.drift_report` takes it in place of the reference table.

Which columns are numeric or categorical comes from the Arrow type: integers,
floats and decimals are numeric; strings, booleans and dictionary-encoded
columns are categorical; ``kinds`` overrides that per column (an integer code
is often better compared as categories). Temporal, binary and nested columns
are skipped with the reason (a timestamp always "drifts": time moves on).

Inputs may be a pyarrow Table or RecordBatch, a pandas DataFrame, or a mapping
of column name to array-like (numpy arrays, lists).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping, Union

import numpy as np

from mlplat.errors import ValidationError
from mlplat.monitoring.categorical import CategoricalProfile, profile_counts, value_counts
from mlplat.monitoring.numeric import NumericProfile, finite_sorted, profile_sorted

Kind = Literal["numeric", "categorical"]
#: A pyarrow Table or RecordBatch, a pandas DataFrame, or a mapping of column name -> array-like.
TableLike = Any
ColumnProfile = Union[NumericProfile, CategoricalProfile]
FORMAT = 1
DEFAULT_SKETCH_SIZE = 1000
DEFAULT_MAX_CATEGORIES = 10_000


def as_table(data: TableLike, what: str = "data") -> Any:
    """A pyarrow Table from a Table, RecordBatch, pandas DataFrame or mapping of column -> array-like."""
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return data
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data])
    if hasattr(data, "columns") and hasattr(data, "dtypes"):  # a pandas DataFrame, without importing pandas
        return pa.Table.from_pandas(data, preserve_index=False)
    if isinstance(data, Mapping):
        try:
            return pa.table({str(k): pa.array(v, from_pandas=True) if not isinstance(v, (pa.Array, pa.ChunkedArray))
                             else v for k, v in data.items()})
        except (pa.ArrowInvalid, pa.ArrowTypeError, ValueError) as exc:
            raise ValidationError(f"{what}: cannot read the columns as a table: {exc}") from None
    raise ValidationError(f"{what} must be a pyarrow Table, a pandas DataFrame or a mapping of columns, "
                          f"not {type(data).__name__}")


def type_family(arrow_type: Any) -> str:
    """The coarse family of an Arrow type: numeric, string, bool, null, or other (never compared)."""
    import pyarrow as pa

    t = arrow_type.value_type if pa.types.is_dictionary(arrow_type) else arrow_type
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "numeric"
    if pa.types.is_string(t) or pa.types.is_large_string(t) or getattr(pa.types, "is_string_view", lambda _: False)(t):
        return "string"
    if pa.types.is_boolean(t):
        return "bool"
    if pa.types.is_null(t):
        return "null"
    return "other"


def default_kind(arrow_type: Any) -> Kind | None:
    """numeric or categorical from the Arrow type; None for a type drift does not compare."""
    family = type_family(arrow_type)
    if family == "numeric":
        return "numeric"
    if family in ("string", "bool"):
        return "categorical"
    return None


def numeric_values(column: Any) -> np.ndarray:
    """A column as float64 with NaN where it is null."""
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return np.asarray(pc.cast(column, pa.float64()).to_numpy(zero_copy_only=False), dtype=np.float64)


def sorted_finite(column: Any) -> tuple[np.ndarray, int]:
    """The column's finite values sorted, and its row count."""
    return finite_sorted(numeric_values(column))


@dataclass(frozen=True)
class ReferenceProfile:
    """A reference set's per-column profiles, with its row count and the columns it could not profile."""

    rows: int
    columns: dict[str, ColumnProfile]
    families: dict[str, str]  # Arrow type family per profiled column: a current column must match it
    skipped: dict[str, str] = field(default_factory=dict)  # column -> why it is not compared
    sketch_size: int | None = DEFAULT_SKETCH_SIZE

    def kind(self, column: str) -> Kind:
        return "numeric" if isinstance(self.columns[column], NumericProfile) else "categorical"

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "rows": self.rows, "sketch_size": self.sketch_size, "skipped": self.skipped,
                "columns": {name: {**p.to_dict(), "family": self.families[name]} for name, p in self.columns.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ReferenceProfile":
        if data.get("format") != FORMAT:
            raise ValidationError(f"unknown reference profile format {data.get('format')!r} "
                                  f"(this version reads {FORMAT})")
        columns: dict[str, ColumnProfile] = {}
        for name, item in data["columns"].items():
            columns[name] = (NumericProfile.from_dict(item) if item["kind"] == "numeric"
                             else CategoricalProfile.from_dict(item))
        return cls(int(data["rows"]), columns, {n: c["family"] for n, c in data["columns"].items()},
                   dict(data.get("skipped", {})), data.get("sketch_size"))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), allow_nan=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> "ReferenceProfile":
        return cls.from_dict(json.loads(text))


def build_profile(reference: TableLike, *, columns: list[str] | None = None, kinds: Mapping[str, Kind] | None = None,
                  sketch_size: int | None = DEFAULT_SKETCH_SIZE,
                  max_categories: int | None = DEFAULT_MAX_CATEGORIES) -> ReferenceProfile:
    """Profile a reference set once, for any number of later comparisons.

    ``columns``: which columns (all by default); ``kinds``: numeric/categorical per column where the Arrow
    type's default is not wanted; ``sketch_size``: ECDF knots per numeric column (``None``: exact, every
    distinct value: as big as the data); ``max_categories``: categories kept per categorical column.
    Raises :class:`~mlplat.errors.ValidationError` for an empty reference, a named column it lacks, or a kind
    that does not fit the column.
    """
    table = as_table(reference, "the reference")
    if table.num_rows == 0:
        raise ValidationError("the reference has no rows: drift needs a reference to compare with")
    kinds = dict(kinds or {})
    names = list(columns) if columns is not None else list(table.column_names)
    absent = [c for c in [*names, *kinds] if c not in table.column_names]
    if absent:
        raise ValidationError(f"the reference has no column {', '.join(map(repr, absent))}", columns=absent)
    profiles: dict[str, ColumnProfile] = {}
    families: dict[str, str] = {}
    skipped: dict[str, str] = {}
    for name in names:
        column = table.column(name)
        family = type_family(column.type)
        kind = kinds.get(name) or default_kind(column.type)
        if kind not in (None, "numeric", "categorical"):
            raise ValidationError(f"column {name!r}: kind must be 'numeric' or 'categorical', not {kind!r}",
                                  column=name)
        if kind is None:
            skipped[name] = ("entirely missing in the reference (Arrow type null): nothing to compare with"
                             if family == "null"
                             else f"type {column.type} is not compared (numeric or categorical only)")
            continue
        if kind == "numeric" and family not in ("numeric", "bool"):
            raise ValidationError(f"column {name!r} has type {column.type}: it cannot be compared as numeric",
                                  column=name)
        if kind == "numeric":
            profiles[name] = profile_sorted(*sorted_finite(column), sketch_size)
        else:
            profiles[name] = profile_counts(*value_counts(column), max_categories=max_categories)
        families[name] = family
    return ReferenceProfile(table.num_rows, profiles, families, skipped, sketch_size)


__all__ = ["DEFAULT_MAX_CATEGORIES", "DEFAULT_SKETCH_SIZE", "ColumnProfile", "Kind", "ReferenceProfile", "TableLike",
           "as_table", "build_profile", "default_kind", "numeric_values", "sorted_finite", "type_family"]
