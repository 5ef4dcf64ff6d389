"""Transformers: named, versioned transforms fitted on an example set, applied the same in batch and online.

A transformer is a list of declarative steps (``transform_steps``) plus the
parameters fitted for them. There is one implementation of applying it,
``Transformer.transform_pandas``: Spark batch runs exactly that function on
Arrow batches through ``mapInPandas``, and online serving runs it on a
one-row frame, so batch and online outputs are identical by construction.

Fitting reads pandas or Spark. On Spark every parameter comes from an
aggregation (``avg``, ``stddev_pop``, ``min``/``max``, the exact
``percentile`` for medians, grouped counts for categories), never from
collecting the rows; each step is fitted on the output of the steps before it
(a median after a fill sees the filled values), as in a scikit-learn pipeline.
Means and standard deviations agree between the two engines to rounding
(relative 1e-12: the summation order differs); medians, min/max, most frequent
values and categories agree exactly.

Models refer to a saved transformer by id, ``name:vN``. A function step is
stored pickled, so loading a transformer runs code: the metadata database is
trusted as the Model Repository is.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import pandas as pd
from sqlalchemy import func as sa_func
from sqlalchemy import select as sa_select
from sqlalchemy.exc import IntegrityError

from mlplat.errors import ConflictError, NotFoundError, ValidationError, require
from mlplat.features.transform_steps import OPS, Fields, label, normalize_step, pandas_type, to_float
from mlplat.identity import Identity
from mlplat.metadata import Database
from mlplat.metadata.models import Transformer as TransformerRow

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column
    from pyspark.sql import DataFrame as SparkDataFrame

STATE_FORMAT = 1
SAMPLE_ROWS = 1000  # rows a function step runs on when fitting on Spark, to learn its output columns
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,199}$")
_REF = re.compile(r"^(?P<name>[^:\s]+)(?::(?:v(?P<version>\d+)|(?P<latest>latest)))?$")


# -- the spec ----------------------------------------------------------------
@dataclass(frozen=True)
class TransformerSpec:
    """The steps, checked and with their defaults filled in (so two equal specs compare equal)."""

    steps: list[dict[str, Any]]

    def __post_init__(self) -> None:
        if not isinstance(self.steps, (list, tuple)) or not self.steps:
            raise ValidationError("a transformer spec is a non-empty list of steps, e.g. [{'op': 'scale', 'columns': ['age']}]")
        object.__setattr__(self, "steps", [normalize_step(i, s) for i, s in enumerate(self.steps)])

    def to_dict(self) -> dict[str, Any]:
        """JSON: a function step keeps its name; the function itself lives in the fitted state."""
        return {"steps": [{k: v for k, v in s.items() if k != "fn"} for s in self.steps]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | list[dict[str, Any]]) -> "TransformerSpec":
        return cls(list(data["steps"] if isinstance(data, Mapping) else data))


def fill_missing(columns: str | list[str], strategy: str = "mean", value: Any = None) -> dict[str, Any]:
    """Fill missing values: mean | median (exact) | most_frequent (ties: smallest) | constant (value=)."""
    return {"op": "fill_missing", "columns": columns, "strategy": strategy, "value": value}


def scale(columns: str | list[str], method: str = "standard") -> dict[str, Any]:
    """standard: (x - mean) / population std (ddof=0, like scikit-learn); minmax: (x - min) / (max - min).

    A constant column is shifted to 0 and not divided (scale 1).
    """
    return {"op": "scale", "columns": columns, "method": method}


def one_hot(column: str, max_categories: int = 20, handle_unknown: str = "ignore") -> dict[str, Any]:
    """``<column>=<category>`` float columns; unknown, rare and missing values are all zeros (or an error)."""
    return {"op": "one_hot", "column": column, "max_categories": max_categories, "handle_unknown": handle_unknown}


def select(columns: str | list[str]) -> dict[str, Any]:
    return {"op": "select", "columns": columns}


def drop(columns: str | list[str]) -> dict[str, Any]:
    return {"op": "drop", "columns": columns}


def function(fn: Callable[[pd.DataFrame], pd.DataFrame], name: str | None = None) -> dict[str, Any]:
    """A pure, row-wise user function DataFrame -> DataFrame (pickled with cloudpickle into the state)."""
    return {"op": "function", "fn": fn, "name": name}


# -- fitting statistics, one implementation per engine ------------------------
class PandasStats:
    def __init__(self, df: pd.DataFrame) -> None:
        self.df = df

    def _values(self, column: str) -> np.ndarray:
        v = to_float("fitting", column, self.df[column]).to_numpy()
        return v[~np.isnan(v)]

    def moments(self, columns: list[str]) -> dict[str, dict[str, Any]]:
        out = {}
        for c in columns:
            v = self._values(c)
            out[c] = {"count": len(v), "mean": None, "std": None, "min": None, "max": None}
            if len(v):
                out[c].update(mean=float(v.mean()), std=float(v.std()), min=float(v.min()), max=float(v.max()))
        return out

    def medians(self, columns: list[str]) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for c in columns:
            v = np.sort(self._values(c))
            n = len(v)
            out[c] = None if n == 0 else float(v[n // 2]) if n % 2 else float(0.5 * v[n // 2 - 1] + 0.5 * v[n // 2])
        return out

    def top_values(self, column: str, k: int, numeric: bool) -> list[tuple[Any, int]]:
        from mlplat.features.transform_steps import category_key

        if numeric:
            values, counts = np.unique(self._values(column), return_counts=True)
            order = np.lexsort((values, -counts))[:k]
            return [(float(values[j]), int(counts[j])) for j in order]
        vc = self.df[column].dropna().value_counts(sort=False)
        pairs = [(v.item() if isinstance(v, np.generic) else v, int(n)) for v, n in vc.items()]
        return sorted(pairs, key=lambda vn: (-vn[1], category_key(vn[0])))[:k]

    def sample(self) -> pd.DataFrame:
        return self.df


class SparkStats:
    def __init__(self, sdf: "SparkDataFrame") -> None:
        self.sdf = sdf

    @staticmethod
    def _col(name: str) -> "Column":
        from pyspark.sql import functions as F

        return F.col("`" + name.replace("`", "``") + "`")

    def _num(self, name: str) -> "Column":
        from pyspark.sql import functions as F

        x = self._col(name).cast("double")
        return F.nanvl(x, F.lit(None).cast("double"))  # NaN is missing, as in pandas

    def moments(self, columns: list[str]) -> dict[str, dict[str, Any]]:
        from pyspark.sql import functions as F

        aggs = []
        for c in columns:
            x = self._num(c)
            aggs += [F.count(x), F.avg(x), F.stddev_pop(x), F.min(x), F.max(x)]
        row = self.sdf.agg(*aggs).collect()[0]
        keys = ("count", "mean", "std", "min", "max")
        return {c: dict(zip(keys, row[5 * j: 5 * j + 5])) for j, c in enumerate(columns)}

    def medians(self, columns: list[str]) -> dict[str, float | None]:
        from pyspark.sql import functions as F

        row = self.sdf.agg(*[F.percentile(self._num(c), F.lit(0.5)) for c in columns]).collect()[0]
        return {c: None if row[j] is None else float(row[j]) for j, c in enumerate(columns)}

    def top_values(self, column: str, k: int, numeric: bool) -> list[tuple[Any, int]]:
        from pyspark.sql import functions as F

        value = self._num(column) if numeric else self._col(column)
        tie = F.col("v") if numeric else F.col("v").cast("string")
        rows = (
            self.sdf.select(value.alias("v")).where(F.col("v").isNotNull()).groupBy("v").count()
            .orderBy(F.col("count").desc(), tie.asc()).limit(k).collect()
        )
        return [(float(r["v"]) if numeric else r["v"], int(r["count"])) for r in rows]

    def sample(self) -> pd.DataFrame:
        return self.sdf.limit(SAMPLE_ROWS).toPandas()


# -- the fitted transformer ----------------------------------------------------
class Transformer:
    """A fitted transformer: its spec, the fitted state, and the one apply (``transform_pandas``)."""

    def __init__(
        self,
        spec: TransformerSpec,
        state: dict[str, Any],
        id: str = "",
        *,
        team: str = "",
        example_set: str = "",
        created_by: str = "",
        created_at: str = "",
    ) -> None:
        if len(state.get("steps", ())) != len(spec.steps):
            raise ValidationError("the transformer state does not match its spec (fit it again)")
        self.spec, self.state, self.id = spec, state, id
        self.team, self.example_set, self.created_by, self.created_at = team, example_set, created_by, created_at

    @property
    def name(self) -> str:
        return self.id.rsplit(":", 1)[0]

    @property
    def version(self) -> int:
        return int(self.id.rsplit(":v", 1)[1]) if self.id else 0

    @property
    def input_columns(self) -> list[str]:
        """The columns the steps read: transform_* raises a ValidationError naming any that are missing."""
        return list(self.state["input_columns"])

    @property
    def output_columns(self) -> list[str]:
        """The output for an input shaped like the fitting data (other columns pass through after these)."""
        return list(self.state["output_columns"])

    @property
    def output_types(self) -> dict[str, str]:
        """Spark type names of ``output_columns``; "double" columns are float64 in pandas."""
        return dict(self.state["output_types"])

    def __repr__(self) -> str:
        ops = ", ".join(s["op"] for s in self.spec.steps)
        return f"Transformer({self.id or 'unsaved'}: {ops}; {len(self.input_columns)} in, {len(self.output_columns)} out)"

    def _require(self, columns: Any) -> None:
        have = [str(c) for c in columns]
        missing = [c for c in self.input_columns if c not in have]
        if missing:
            hints = [f"{m!r} (did you mean {h[0]!r}?)" if (h := difflib.get_close_matches(m, have, n=1)) else repr(m)
                     for m in missing]
            raise ValidationError(
                f"transformer {self.id or '(unsaved)'} needs column(s) the input lacks: {', '.join(hints)}",
                missing=missing,
            )

    def transform_pandas(self, df: pd.DataFrame) -> pd.DataFrame:
        """Apply the steps to a frame: the batch path, and (on one row) the online path. The input is not changed."""
        if not isinstance(df, pd.DataFrame):
            raise ValidationError(f"transform_pandas takes a pandas DataFrame, not {type(df).__name__}")
        self._require(df.columns)
        for i, (step, st) in enumerate(zip(self.spec.steps, self.state["steps"])):
            df = OPS[step["op"]].apply(i, step, st, df)
        return df

    def transform_row(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """One dict in, one dict out, through ``transform_pandas`` on a one-row frame.

        Values come back as plain Python (float, int, str, bool); a missing value is None.
        """
        out = self.transform_pandas(pd.DataFrame([dict(row)]))
        return {str(c): _plain(out[c].iloc[0]) for c in out.columns}

    def transform_spark(self, sdf: "SparkDataFrame") -> "SparkDataFrame":
        """Vectorized batch: ``mapInPandas`` running ``transform_pandas`` on each Arrow batch.

        The schema is declared from the fitted output types; columns the steps
        do not write keep their input type. Executors rebuild the transformer
        from ``to_dict()``, the same form online serving loads, so mlplat must be
        importable there.
        """
        require("pyspark", "spark")
        from pyspark.sql.types import DataType, StructField, StructType

        self._require(sdf.columns)
        fields: Fields = {f.name: f.dataType for f in sdf.schema.fields}
        for step, st in zip(self.spec.steps, self.state["steps"]):
            fields = OPS[step["op"]].walk(step, st, fields)
        schema = StructType(
            [StructField(n, t if isinstance(t, DataType) else _spark_type(t), True) for n, t in fields.items()]
        )
        payload = self.to_dict()

        def run(batches: Any) -> Any:
            transformer = Transformer.from_dict(payload)
            for batch in batches:
                if len(batch):  # a function step need not cope with an empty frame
                    yield transformer.transform_pandas(batch)

        return sdf.mapInPandas(run, schema)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "spec": self.spec.to_dict(),
            "state": self.state,
            "team": self.team,
            "example_set": self.example_set,
            "created_by": self.created_by,
            "created_at": self.created_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Transformer":
        if data["state"].get("format") != STATE_FORMAT:
            raise ValidationError(f"transformer state format {data['state'].get('format')!r} is not {STATE_FORMAT}: "
                                  "upgrade mlplat where it is loaded")
        return cls(
            TransformerSpec.from_dict(data["spec"]),
            data["state"],
            data.get("id", ""),
            **{k: data.get(k, "") for k in ("team", "example_set", "created_by", "created_at")},
        )


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    try:
        return None if pd.isna(value) else value
    except (TypeError, ValueError):  # arrays and other containers
        return value


_SPARK_TYPES = {
    "double": "DoubleType", "float": "FloatType", "bigint": "LongType", "int": "IntegerType",
    "smallint": "ShortType", "tinyint": "ByteType", "string": "StringType", "boolean": "BooleanType",
    "timestamp": "TimestampType", "timestamp_ntz": "TimestampNTZType", "date": "DateType", "binary": "BinaryType",
}


def _spark_type(name: str) -> Any:
    from pyspark.sql import types

    if name in _SPARK_TYPES:
        return getattr(types, _SPARK_TYPES[name])()
    return types._parse_datatype_string(name)  # decimal(p,s), varchar(n), ...: needs the active session


def _is_spark(data: Any) -> bool:
    return type(data).__module__.startswith("pyspark.") and hasattr(data, "mapInPandas")


def _json(value: Any) -> Any:
    """Plain JSON (numpy scalars made Python, NaN refused), so the state stores in any database as-is."""
    def default(o: Any) -> Any:
        if isinstance(o, np.generic):
            return o.item()
        raise TypeError(f"{type(o).__name__} is not JSON")

    return json.loads(json.dumps(value, default=default, allow_nan=False))


def _assemble(spec: TransformerSpec, states: list[dict[str, Any]], schema: dict[str, str]) -> Transformer:
    """A Transformer from fitted step states: works out input and output columns by walking the steps."""
    original, written, inputs = set(schema), set(), []
    fields: Fields = dict(schema)
    for step, st in zip(spec.steps, states):
        op = OPS[step["op"]]
        inputs += [c for c in op.reads(step) if c in original and c not in written and c not in inputs]
        written |= set(op.writes(step, st))
        fields = op.walk(step, st, fields)
    state = {
        "format": STATE_FORMAT,
        "schema": schema,
        "steps": states,
        "input_columns": inputs,
        "output_columns": list(fields),
        "output_types": {c: str(t) for c, t in fields.items()},
    }
    try:
        state = _json(state)
    except ValueError as exc:
        raise ValidationError(f"a fitted parameter is not finite ({exc}); check the data for infinities") from None
    return Transformer(spec, state)


def fit(spec: TransformerSpec | list[dict[str, Any]], data: Any) -> Transformer:
    """Fit each step in order on pandas or Spark data (each on the output of the steps before it)."""
    spec = spec if isinstance(spec, TransformerSpec) else TransformerSpec.from_dict(spec)
    if isinstance(data, pd.DataFrame):
        schema = {str(c): pandas_type(data[c]) for c in data.columns}
    elif _is_spark(data):
        schema = {f.name: f.dataType.simpleString() for f in data.schema.fields}
    else:
        raise ValidationError(f"fit takes a pandas or Spark DataFrame, not {type(data).__name__}")
    states: list[dict[str, Any]] = []
    fields: Fields = dict(schema)
    written: set[str] = set()
    frame = data
    for i, step in enumerate(spec.steps):
        op = OPS[step["op"]]
        missing = [c for c in op.reads(step) if c not in fields]
        if missing:
            hints = [h[0] for m in missing if (h := difflib.get_close_matches(m, list(fields), n=1))]
            raise ValidationError(
                f"{label(i, step['op'])}: column(s) {', '.join(map(repr, missing))} are not in the data at this step"
                + (f"; did you mean {', '.join(map(repr, hints))}?" if hints else f"; it has {', '.join(fields)}")
            )
        if _is_spark(data):
            # Columns no earlier step wrote have their input values: aggregate the input directly. Otherwise
            # one mapInPandas of the steps so far over the input (not one stacked Python stage per step).
            fresh = i == 0 or (step["op"] != "function" and not written & set(op.reads(step)))
            frame = data if fresh else _assemble(TransformerSpec(spec.steps[:i]), states, schema).transform_spark(data)
        elif i:
            frame = OPS[spec.steps[i - 1]["op"]].apply(i - 1, spec.steps[i - 1], states[i - 1], frame)
        stats = SparkStats(frame) if _is_spark(data) else PandasStats(frame)
        states.append(_json(op.fit(i, step, stats, fields)))
        written |= set(op.writes(step, states[-1]))
        fields = op.walk(step, states[-1], fields)
    return _assemble(spec, states, schema)


# -- the registry ---------------------------------------------------------------
def _from_row(row: TransformerRow) -> Transformer:
    return Transformer.from_dict({
        "id": f"{row.name}:v{row.version}", "spec": row.spec, "state": row.state, "team": row.team,
        "example_set": row.example_set, "created_by": row.created_by, "created_at": row.created_at.isoformat(),
    })


def save_transformer(
    db: Database, name: str, team: str, transformer: Transformer, caller: Identity, example_set: str = ""
) -> Transformer:
    """Store a fitted transformer as the next version of ``name`` (owned by ``team``); returns it with its id."""
    caller.require_team(team, f"save transformer {name!r} for team {team!r}")
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
                example_set=example_set, created_by=caller.name,
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


__all__ = [
    "Transformer", "TransformerSpec", "drop", "fill_missing", "fit", "function", "list_transformers",
    "load_transformer", "one_hot", "save_transformer", "scale", "select",
]
