"""The fitted Transformer: its spec, its state, and applying it to a frame, to one row, or on Spark.

Applying has one rule per step, in two forms (``transform_steps``): the frame
form runs in batch (Spark runs ``transform_pandas`` on Arrow batches through
``mapInPandas``) and the row form online (``compile_row``, which the Inference
Service compiles once per deployed version). A step without a row form (a
user function) makes one row go through ``transform_pandas`` on a one-row
frame instead.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pandas as pd

from mlplat.errors import ValidationError, require
from mlplat.features.transform_base import Fields, Row, RowFn, plain
from mlplat.features.transform_steps import OPS, normalize_step

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame as SparkDataFrame

STATE_FORMAT = 1


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


class Transformer:
    """A fitted transformer: its spec, the fitted state, and the steps applied to a frame or to one row."""

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

    def missing_columns(self, columns: Any) -> list[str]:
        """The input columns that ``columns`` lacks."""
        have = {str(c) for c in columns}
        return [c for c in self.input_columns if c not in have]

    def check_columns(self, columns: Any) -> None:
        """A ValidationError naming each input column that ``columns`` lacks (with a "did you mean")."""
        missing = self.missing_columns(columns)
        if missing:
            have = [str(c) for c in columns]
            hints = [f"{m!r} (did you mean {h[0]!r}?)" if (h := difflib.get_close_matches(m, have, n=1)) else repr(m)
                     for m in missing]
            raise ValidationError(
                f"transformer {self.id or '(unsaved)'} needs column(s) the input lacks: {', '.join(hints)}",
                missing=missing,
            )

    def transform_pandas(self, df: pd.DataFrame) -> pd.DataFrame:
        """Apply the steps to a frame (the batch path). The input is not changed."""
        if not isinstance(df, pd.DataFrame):
            raise ValidationError(f"transform_pandas takes a pandas DataFrame, not {type(df).__name__}")
        self.check_columns(df.columns)
        for i, (step, st) in enumerate(zip(self.spec.steps, self.state["steps"])):
            df = OPS[step["op"]].apply(i, step, st, df)
        return df

    def compile_row(self) -> RowFn | None:
        """The steps' row forms as one function of a dict (which it may change); None if a step has none.

        It does not check the input columns: ``check_columns`` once where the
        columns are known, or ``transform_row``, does.
        """
        fns = [OPS[s["op"]].row(i, s, st) for i, (s, st) in enumerate(zip(self.spec.steps, self.state["steps"]))]
        compiled = [fn for fn in fns if fn is not None]
        if len(compiled) < len(fns):
            return None
        if len(compiled) == 1:
            return compiled[0]

        def run(row: Row) -> Row:
            for fn in compiled:
                row = fn(row)
            return row
        return run

    def transform_row_pandas(self, row: Mapping[Any, Any]) -> Row:
        """One row through ``transform_pandas`` on a one-row frame: the path of steps without a row form."""
        out = self.transform_pandas(pd.DataFrame([dict(row)]))
        return {c: out[c].iloc[0] for c in out.columns}

    def transform_row(self, row: Mapping[str, Any]) -> dict[str, Any]:
        """One dict in, one dict out, equal to ``transform_pandas`` on a one-row frame of it.

        Values come back as plain Python (float, int, str, bool); a missing value is None.
        """
        self.check_columns(row)
        compiled = self.compile_row()
        if compiled is None:
            out = self.transform_row_pandas(row)
        else:
            out = compiled(dict(row))
            out = {c: out[c] for c in self.walk(dict.fromkeys(row))}  # the frame's column order
        return {str(c): plain(v) for c, v in out.items()}

    def walk(self, fields: Fields) -> Fields:
        """The output columns (with their types) for input columns ``fields``, in the order a frame has them."""
        for step, st in zip(self.spec.steps, self.state["steps"]):
            fields = OPS[step["op"]].walk(step, st, fields)
        return fields

    def transform_spark(self, sdf: "SparkDataFrame") -> "SparkDataFrame":
        """Vectorized batch: ``mapInPandas`` running ``transform_pandas`` on each Arrow batch.

        The schema is declared from the fitted output types; columns the steps
        do not write keep their input type. Executors rebuild the transformer
        from ``to_dict()``, the same form online serving loads, so mlplat must be
        importable there.
        """
        require("pyspark", "spark")
        from pyspark.sql.types import DataType, StructField, StructType

        self.check_columns(sdf.columns)
        fields = self.walk({f.name: f.dataType for f in sdf.schema.fields})
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


__all__ = ["STATE_FORMAT", "Transformer", "TransformerSpec"]
