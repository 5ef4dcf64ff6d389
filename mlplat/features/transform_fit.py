"""Fitting a Transformer on pandas or Spark: each step on the output of the steps before it.

On Spark every parameter comes from an aggregation (``avg``, ``stddev_pop``,
``min``/``max``, the exact ``percentile`` for medians, grouped counts for
categories), never from collecting the rows; each step is fitted on the output
of the steps before it (a median after a fill sees the filled values), as in a
scikit-learn pipeline. Means and standard deviations agree between the two
engines to rounding (relative 1e-12: the summation order differs); medians,
min/max, most frequent values and categories agree exactly.
"""

from __future__ import annotations

import difflib
import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlplat.errors import ValidationError
from mlplat.features.transform_base import Fields, category_key, label, pandas_type, to_float
from mlplat.features.transform_steps import OPS
from mlplat.features.transformer import STATE_FORMAT, Transformer, TransformerSpec

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import Column
    from pyspark.sql import DataFrame as SparkDataFrame

SAMPLE_ROWS = 1000  # rows a function step runs on when fitting on Spark, to learn its output columns


# -- fitting statistics, one implementation per engine ------------------------
class PandasStats:
    def __init__(self, df: pd.DataFrame) -> None:
        self.df = df

    def _values(self, column: str) -> np.ndarray:
        v = to_float("fitting", column, self.df[column]).to_numpy()
        present: np.ndarray = v[~np.isnan(v)]
        return present

    def moments(self, columns: list[str]) -> dict[str, dict[str, Any]]:
        out: dict[str, dict[str, Any]] = {}
        for c in columns:
            v = self._values(c)
            out[c] = {"count": len(v), "mean": None, "std": None, "min": None, "max": None}
            if len(v):
                out[c].update(mean=float(v.mean()), std=float(v.std()), min=float(v.min()), max=float(v.max()))
        return out

    def medians(self, columns: list[str]) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        for c in columns:
            v = self._values(c)
            n = len(v)
            if n == 0:
                out[c] = None
                continue
            middle = [n // 2] if n % 2 else [n // 2 - 1, n // 2]
            v = np.partition(v, middle)  # the middle value(s) in place, the rest unordered: no full sort
            out[c] = float(v[n // 2]) if n % 2 else float(0.5 * v[n // 2 - 1] + 0.5 * v[n // 2])
        return out

    def top_values(self, column: str, k: int, numeric: bool) -> list[tuple[Any, int]]:
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


# -- fitting ---------------------------------------------------------------------
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
    return _fit(spec, data)[0]


def fit_transform(spec: TransformerSpec | list[dict[str, Any]], df: pd.DataFrame) -> tuple[Transformer, pd.DataFrame]:
    """Fit on a pandas frame and return the frame transformed too (training needs both).

    Fitting already applies every step but the last to the data; applying the
    last one to that gives what ``transform_pandas`` gives, without running
    every step over the rows a second time.
    """
    if not isinstance(df, pd.DataFrame):
        raise ValidationError(f"fit_transform takes a pandas DataFrame, not {type(df).__name__}")
    transformer, frame = _fit(spec, df)
    steps = transformer.spec.steps
    if steps:
        last = len(steps) - 1
        frame = OPS[steps[last]["op"]].apply(last, steps[last], transformer.state["steps"][last], frame)
    return transformer, frame


def _fit(spec: TransformerSpec | list[dict[str, Any]], data: Any) -> tuple[Transformer, Any]:
    """The fitted Transformer and, on pandas, the data after every step but the last."""
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
    return _assemble(spec, states, schema), frame


__all__ = ["PandasStats", "SparkStats", "fit", "fit_transform"]
