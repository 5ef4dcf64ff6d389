"""The steps of a Transformer: check, fit (pandas or Spark), apply (pandas only), and schema.

A step is data (``{"op": "scale", "columns": [...], ...}``). Each op here knows
how to check its arguments, fit its parameters through a small statistics
interface (one implementation over pandas, one over Spark aggregations, so a
parameter means the same on both), apply itself to a pandas frame, and say
which columns it reads and writes so a Spark schema can be declared without
running anything. ``apply`` is the only implementation of a step: Spark batch
runs it through ``mapInPandas`` and online serving runs it on a one-row frame,
which is what makes batch and online outputs identical.
"""

from __future__ import annotations

import base64
import difflib
import sys
import sysconfig
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from mlplat.errors import ValidationError, require

Fields = dict[str, Any]  # column -> type: a type name, or (transform_spark) an input Spark DataType
DOUBLE = "double"
NUMERIC = {"tinyint", "smallint", "int", "bigint", "float", "double"}


def label(i: int, op: str) -> str:
    return f"steps[{i}] ({op})"


def kind_of(type_name: Any) -> str:
    """numeric | string | boolean | other: what a step may do with a column of this type."""
    t = str(type_name)
    if t in NUMERIC or t.startswith("decimal"):
        return "numeric"
    if t == "string" or t.startswith(("varchar", "char")):
        return "string"
    return "boolean" if t == "boolean" else "other"


def category_key(value: Any) -> str | None:
    """The text a category is matched and named by; None for a missing value.

    3, 3.0 and "3" are one key: an integer column with nulls reaches pandas as
    float, so the same category must not depend on which path computed it.
    """
    if value is None or isinstance(value, str):
        return value if value is None else str(value)
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating, Decimal)):
        f = float(value)
        return None if f != f else str(int(f)) if f.is_integer() else repr(f)
    try:
        if pd.isna(value):
            return None
    except (TypeError, ValueError):
        pass
    return str(value)


def category_keys(series: pd.Series) -> np.ndarray:
    if series.dtype.kind in "iu":
        return series.astype(str).to_numpy(dtype=object)
    return series.map(category_key).to_numpy(dtype=object)


def to_float(where: str, column: str, series: pd.Series) -> pd.Series:
    """The column as float64 (None -> NaN), or a ValidationError naming the step and column."""
    if series.dtype == np.float64:
        return series
    try:
        return series.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ValidationError(f"{where}: column {column!r} must be numeric ({exc})") from None


class Stats(Protocol):
    """What fitting needs from the data; implemented over pandas and over Spark aggregations."""

    def moments(self, columns: list[str]) -> dict[str, dict[str, Any]]:
        """Per column: count, mean, std (population), min, max of the non-missing values."""
        ...

    def medians(self, columns: list[str]) -> dict[str, float | None]:
        """Exact medians: the middle value, or 0.5*a + 0.5*b of the two middle ones (Spark's formula)."""
        ...

    def top_values(self, column: str, k: int, numeric: bool) -> list[tuple[Any, int]]:
        """The k most frequent non-missing values with counts; ties by value (numbers as numbers, else by key)."""
        ...

    def sample(self) -> pd.DataFrame:
        """Rows to run a function step on, to learn its output columns and types."""
        ...


def _columns(i: int, op: str, value: Any, key: str = "columns") -> list[str]:
    cols = [value] if isinstance(value, str) else value
    if not isinstance(cols, (list, tuple)) or not cols or not all(isinstance(c, str) and c for c in cols):
        raise ValidationError(f"{label(i, op)}: {key} must be a non-empty list of column names, e.g. ['age']")
    dupes = sorted({c for c in cols if list(cols).count(c) > 1})
    if dupes:
        raise ValidationError(f"{label(i, op)}: {key} names {', '.join(map(repr, dupes))} more than once")
    return list(cols)


def _choice(i: int, op: str, key: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        hint = difflib.get_close_matches(str(value), allowed, n=1)
        raise ValidationError(
            f"{label(i, op)}: {key} {value!r} is not one of {', '.join(map(repr, allowed))}"
            + (f"; did you mean {hint[0]!r}?" if hint else "")
        )
    return str(value)


class Op:
    """One kind of step; subclasses fill in the hooks."""

    name = ""
    required: tuple[str, ...] = ()
    defaults: dict[str, Any] = {}

    def normalize(self, i: int, raw: dict[str, Any]) -> dict[str, Any]:
        """Check a raw step and return it with defaults filled in (a canonical, comparable form)."""
        allowed = {"op", *self.required, *self.defaults}
        unknown = sorted(set(raw) - allowed)
        if unknown:
            raise ValidationError(
                f"{label(i, self.name)}: unknown argument(s) {', '.join(map(repr, unknown))}; "
                f"{self.name} takes {', '.join(sorted(allowed - {'op'}))}"
            )
        missing = [k for k in self.required if k not in raw]
        if missing:
            raise ValidationError(f"{label(i, self.name)}: missing argument(s) {', '.join(map(repr, missing))}")
        step = {"op": self.name, **{k: raw[k] for k in self.required}}
        step.update({k: raw.get(k, default) for k, default in self.defaults.items()})
        return self.check(i, step)

    def check(self, i: int, step: dict[str, Any]) -> dict[str, Any]:
        step["columns"] = _columns(i, self.name, step["columns"])
        return step

    def reads(self, step: dict[str, Any]) -> list[str]:
        """Columns that must be present when the step runs."""
        return list(step["columns"])

    def writes(self, step: dict[str, Any], state: dict[str, Any]) -> list[str]:
        return list(step["columns"])

    def fit(self, i: int, step: dict[str, Any], stats: Stats, fields: Fields) -> dict[str, Any]:
        return {}

    def walk(self, step: dict[str, Any], state: dict[str, Any], fields: Fields) -> Fields:
        """The columns (and their types) after the step, from the columns before it."""
        return {**fields, **{c: DOUBLE for c in step["columns"]}}

    def apply(self, i: int, step: dict[str, Any], state: dict[str, Any], df: pd.DataFrame) -> pd.DataFrame:
        raise NotImplementedError


class FillMissing(Op):
    name = "fill_missing"
    required = ("columns",)
    defaults = {"strategy": "mean", "value": None}
    strategies = ("mean", "median", "most_frequent", "constant")

    def check(self, i: int, step: dict[str, Any]) -> dict[str, Any]:
        step = super().check(i, step)
        step["strategy"] = _choice(i, self.name, "strategy", step["strategy"], self.strategies)
        if step["strategy"] == "constant":
            if step["value"] is None or isinstance(step["value"], float) and np.isnan(step["value"]):
                raise ValidationError(f"{label(i, self.name)}: strategy 'constant' needs value=..., e.g. value=0")
            if not isinstance(step["value"], (str, bool, int, float)):
                raise ValidationError(f"{label(i, self.name)}: value must be a number, a string or a boolean")
        elif step["value"] is not None:
            raise ValidationError(f"{label(i, self.name)}: value is only used with strategy='constant'")
        return step

    def fit(self, i: int, step: dict[str, Any], stats: Stats, fields: Fields) -> dict[str, Any]:
        where, strategy = label(i, self.name), step["strategy"]
        kinds = {c: kind_of(fields[c]) for c in step["columns"]}
        for c, kind in kinds.items():
            if kind == "other" or (strategy in ("mean", "median") and kind != "numeric"):
                raise ValidationError(
                    f"{where}: column {c!r} is {fields[c]}; strategy {strategy!r} needs a numeric column"
                    + ("" if kind == "other" else "; use 'most_frequent' or 'constant'")
                )
        numeric = [c for c, k in kinds.items() if k == "numeric"]
        if strategy == "mean":
            values: dict[str, Any] = {c: m["mean"] for c, m in stats.moments(numeric).items()}
        elif strategy == "median":
            values = stats.medians(numeric)
        elif strategy == "most_frequent":
            values = {}
            for c, kind in kinds.items():
                top = stats.top_values(c, 1, numeric=kind == "numeric")
                values[c] = top[0][0] if top else None
        else:
            value = step["value"]
            for c, kind in kinds.items():
                ok = {"numeric": isinstance(value, (int, float)) and not isinstance(value, bool),
                      "string": isinstance(value, str), "boolean": isinstance(value, bool)}[kind]
                if not ok:
                    raise ValidationError(f"{where}: value {value!r} does not fit column {c!r} of type {fields[c]}")
            values = {c: float(value) if kinds[c] == "numeric" else value for c in kinds}
        empty = [c for c, v in values.items() if v is None]
        if empty:
            raise ValidationError(
                f"{where}: column(s) {', '.join(map(repr, empty))} have no values to compute the {strategy} "
                "from; use strategy='constant'"
            )
        types = {c: DOUBLE if kinds[c] == "numeric" else str(fields[c]) for c in kinds}
        return {"values": values, "types": types}

    def walk(self, step: dict[str, Any], state: dict[str, Any], fields: Fields) -> Fields:
        return {**fields, **state["types"]}

    def apply(self, i: int, step: dict[str, Any], state: dict[str, Any], df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy(deep=False)
        for c, value in state["values"].items():
            if state["types"][c] == DOUBLE:
                df[c] = to_float(label(i, self.name), c, df[c]).fillna(value)
            else:
                df[c] = df[c].where(df[c].notna(), value)
        return df


class Scale(Op):
    """(x - center) / scale: standard uses the mean and the population std (ddof=0), minmax min and max - min."""

    name = "scale"
    required = ("columns",)
    defaults = {"method": "standard"}

    def check(self, i: int, step: dict[str, Any]) -> dict[str, Any]:
        step = super().check(i, step)
        step["method"] = _choice(i, self.name, "method", step["method"], ("standard", "minmax"))
        return step

    def fit(self, i: int, step: dict[str, Any], stats: Stats, fields: Fields) -> dict[str, Any]:
        where = label(i, self.name)
        for c in step["columns"]:
            if kind_of(fields[c]) != "numeric":
                raise ValidationError(f"{where}: column {c!r} is {fields[c]}; only numeric columns can be scaled")
        moments = stats.moments(step["columns"])
        center, scale = {}, {}
        for c, m in moments.items():
            if not m["count"]:
                raise ValidationError(f"{where}: column {c!r} has no values; put a fill_missing step first")
            constant = m["min"] == m["max"]  # exact, unlike a std of 1e-17 from rounding
            if step["method"] == "standard":
                center[c], scale[c] = (m["min"], 1.0) if constant else (m["mean"], m["std"])
            else:
                center[c], scale[c] = m["min"], 1.0 if constant else m["max"] - m["min"]
        return {"center": center, "scale": scale, "stats": moments}

    def apply(self, i: int, step: dict[str, Any], state: dict[str, Any], df: pd.DataFrame) -> pd.DataFrame:
        df = df.copy(deep=False)
        for c in step["columns"]:
            df[c] = (to_float(label(i, self.name), c, df[c]) - state["center"][c]) / state["scale"][c]
        return df


class OneHot(Op):
    """``<column>=<category>`` float columns for the most frequent categories, ordered by category.

    Unknown, rare (beyond max_categories) and missing values give all zeros
    (handle_unknown="ignore"), or an error for unknown and rare non-missing
    values (handle_unknown="error"). Categories are matched by a text key, so
    3, 3.0 and "3" are one category: a column can arrive as int in one path and
    float (because of nulls) in the other.
    """

    name = "one_hot"
    required = ("column",)
    defaults = {"max_categories": 20, "handle_unknown": "ignore"}

    def check(self, i: int, step: dict[str, Any]) -> dict[str, Any]:
        step["column"] = _columns(i, self.name, step["column"], "column")
        if len(step["column"]) != 1:
            raise ValidationError(f"{label(i, self.name)}: column names one column; use one step per column")
        step["column"] = step["column"][0]
        k = step["max_categories"]
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValidationError(f"{label(i, self.name)}: max_categories must be a positive integer, not {k!r}")
        step["handle_unknown"] = _choice(i, self.name, "handle_unknown", step["handle_unknown"], ("ignore", "error"))
        return step

    def reads(self, step: dict[str, Any]) -> list[str]:
        return [step["column"]]

    def writes(self, step: dict[str, Any], state: dict[str, Any]) -> list[str]:
        return list(state["columns"])

    def fit(self, i: int, step: dict[str, Any], stats: Stats, fields: Fields) -> dict[str, Any]:
        c = step["column"]
        numeric = kind_of(fields[c]) == "numeric"
        top = stats.top_values(c, step["max_categories"], numeric=numeric)
        if not top:
            raise ValidationError(f"{label(i, self.name)}: column {c!r} has no values to take categories from")
        counts = {category_key(v): n for v, n in top}
        ordered = sorted(top, key=lambda vn: vn[0]) if numeric else sorted(top, key=lambda vn: category_key(vn[0]))
        categories = [str(category_key(v)) for v, _ in ordered]
        columns = [f"{c}={k}" for k in categories]
        clash = sorted(set(columns) & (set(fields) - {c}))
        if clash:
            raise ValidationError(f"{label(i, self.name)}: output column(s) {', '.join(map(repr, clash))} exist already")
        return {"categories": categories, "columns": columns, "counts": counts}

    def walk(self, step: dict[str, Any], state: dict[str, Any], fields: Fields) -> Fields:
        out: Fields = {}
        for name, t in fields.items():
            if name == step["column"]:
                out.update({col: DOUBLE for col in state["columns"]})
            else:
                out[name] = t
        return out

    def apply(self, i: int, step: dict[str, Any], state: dict[str, Any], df: pd.DataFrame) -> pd.DataFrame:
        c, categories = step["column"], state["categories"]
        clash = [col for col in state["columns"] if col in df.columns]
        if clash:
            raise ValidationError(f"{label(i, self.name)}: the input has column(s) {clash} already; drop them first")
        keys = category_keys(df[c])
        codes = np.asarray(pd.Categorical(keys, categories=categories).codes, dtype=np.int64)
        if step["handle_unknown"] == "error":
            unknown = sorted({str(k) for k, code in zip(keys, codes) if code < 0 and k is not None})
            if unknown:
                raise ValidationError(
                    f"{label(i, self.name)}: column {c!r} has unknown categories {unknown[:5]}; "
                    f"known: {categories[:10]}; use handle_unknown='ignore' to encode them as all zeros"
                )
        matrix = np.zeros((len(df), len(categories)), dtype=np.float64)
        rows = np.flatnonzero(codes >= 0)
        matrix[rows, codes[rows]] = 1.0
        pos = df.columns.get_loc(c)
        encoded = pd.DataFrame(matrix, columns=state["columns"], index=df.index)
        return pd.concat([df.iloc[:, :pos], encoded, df.iloc[:, pos + 1:]], axis=1)


class Select(Op):
    name = "select"
    required = ("columns",)

    def writes(self, step: dict[str, Any], state: dict[str, Any]) -> list[str]:
        return []

    def walk(self, step: dict[str, Any], state: dict[str, Any], fields: Fields) -> Fields:
        return {c: fields[c] for c in step["columns"] if c in fields}

    def apply(self, i: int, step: dict[str, Any], state: dict[str, Any], df: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in step["columns"] if c not in df.columns]
        if missing:
            raise ValidationError(f"{label(i, self.name)}: the input lacks column(s) {', '.join(map(repr, missing))}")
        return df[step["columns"]]


class Drop(Op):
    """Drops the columns that are there: an online row need not carry the label or ids it drops."""

    name = "drop"
    required = ("columns",)

    def reads(self, step: dict[str, Any]) -> list[str]:
        return []

    def writes(self, step: dict[str, Any], state: dict[str, Any]) -> list[str]:
        return []

    def fit(self, i: int, step: dict[str, Any], stats: Stats, fields: Fields) -> dict[str, Any]:
        missing = [c for c in step["columns"] if c not in fields]
        if missing:  # at fit time a missing column is a typo, not an online row without its label
            raise ValidationError(f"{label(i, self.name)}: column(s) {', '.join(map(repr, missing))} are not in the data")
        return {}

    def walk(self, step: dict[str, Any], state: dict[str, Any], fields: Fields) -> Fields:
        return {c: t for c, t in fields.items() if c not in step["columns"]}

    def apply(self, i: int, step: dict[str, Any], state: dict[str, Any], df: pd.DataFrame) -> pd.DataFrame:
        return df.drop(columns=[c for c in step["columns"] if c in df.columns])


class Function(Op):
    """A user function DataFrame -> DataFrame, pickled by value into the state with cloudpickle.

    It must be pure and row-wise (each output row depends only on its input
    row) to give the same result on a one-row online frame as in a batch; it
    must keep the rows in order, and pass through columns it did not see when
    fitted. What it reads is not checked before it runs.
    """

    name = "function"
    defaults = {"fn": None, "name": None}

    def check(self, i: int, step: dict[str, Any]) -> dict[str, Any]:
        fn = step["fn"]
        if fn is not None and not callable(fn):
            raise ValidationError(f"{label(i, self.name)}: fn must be a function DataFrame -> DataFrame")
        if step["name"] is None:
            step["name"] = getattr(fn, "__name__", None) or "function"
        if not isinstance(step["name"], str):
            raise ValidationError(f"{label(i, self.name)}: name must be a string")
        return step

    def reads(self, step: dict[str, Any]) -> list[str]:
        return []

    def writes(self, step: dict[str, Any], state: dict[str, Any]) -> list[str]:
        return list(state["written"])

    def fit(self, i: int, step: dict[str, Any], stats: Stats, fields: Fields) -> dict[str, Any]:
        where = label(i, f"function {step['name']}")
        if step["fn"] is None:
            raise ValidationError(f"{where}: no fn to fit; pass the function again (a stored spec keeps only its name)")
        cloudpickle = require("cloudpickle", "mlflow")
        blob = base64.b64encode(_pickle(cloudpickle, step["fn"])).decode("ascii")
        state: dict[str, Any] = {
            "fn": blob,
            "python": ".".join(map(str, sys.version_info[:2])),
            "cloudpickle": cloudpickle.__version__,
        }
        sample = stats.sample()
        if sample.empty:
            raise ValidationError(f"{where}: no rows to run the function on")
        out = _call(i, step, state, sample)
        state["columns_in"] = list(fields)
        state["columns_out"] = [str(c) for c in out.columns]
        state["written"] = [
            str(c) for c in out.columns
            if c not in sample.columns
            or not out[c].reset_index(drop=True).equals(sample[c].reset_index(drop=True))
        ]
        types = {c: pandas_type(out[c]) for c in state["written"]}
        mixed = [c for c, t in types.items() if t == "unknown"]
        if mixed:
            raise ValidationError(f"{where}: column(s) {mixed} hold values of mixed types; return one type per column")
        state["types"] = types
        return state

    def walk(self, step: dict[str, Any], state: dict[str, Any], fields: Fields) -> Fields:
        written, seen = set(state["written"]), set(state["columns_in"])
        out = {c: state["types"][c] if c in written else fields[c]
               for c in state["columns_out"] if c in written or c in fields}
        out.update({c: t for c, t in fields.items() if c not in seen and c not in out})
        return out

    def apply(self, i: int, step: dict[str, Any], state: dict[str, Any], df: pd.DataFrame) -> pd.DataFrame:
        out = _call(i, step, state, df)
        expected = list(self.walk(step, state, dict.fromkeys(df.columns)))
        if set(out.columns) != set(expected):
            raise ValidationError(
                f"{label(i, 'function ' + step['name'])}: returned columns {sorted(map(str, out.columns))}, "
                f"expected {sorted(expected)}; a function must keep columns it did not see when fitted "
                "(put a select step before it to drop them)"
            )
        out = out[expected]
        # a float32 or int32 from the function would reach pandas users as such but Spark users as 64-bit
        casts = {c: np.float64 if t == DOUBLE else np.int64 for c, t in state["types"].items()
                 if (t == DOUBLE and out[c].dtype != np.float64)
                 or (t == "bigint" and out[c].dtype.kind in "iu" and out[c].dtype != np.int64)}
        return out.astype(casts) if casts else out


def _pickle(cloudpickle: Any, fn: Any) -> bytes:
    """Pickle by value the function and the user's own module it comes from, by reference the rest.

    A notebook's functions are pickled by value anyway; a helper module next to
    the notebook would otherwise be pickled by reference and be missing where
    the transformer runs (Spark executors, the inference service). Installed
    packages and the standard library stay by reference.
    """
    module = sys.modules.get(getattr(fn, "__module__", None) or "")
    path = getattr(module, "__file__", None)
    installed = [Path(p).resolve() for k, p in sysconfig.get_paths().items() if k in _INSTALLED]
    by_value = (
        module is not None and path is not None and module.__name__ != "__main__"
        and not module.__name__.startswith("mlplat")
        and not any(Path(path).resolve().is_relative_to(root) for root in installed)
    )
    if not by_value or module.__name__ in cloudpickle.list_registry_pickle_by_value():
        return cloudpickle.dumps(fn)
    cloudpickle.register_pickle_by_value(module)
    try:
        return cloudpickle.dumps(fn)
    finally:
        cloudpickle.unregister_pickle_by_value(module)


_INSTALLED = ("stdlib", "platstdlib", "purelib", "platlib")


@lru_cache(maxsize=128)
def _unpickle(blob: str) -> Any:
    return require("cloudpickle", "mlflow").loads(base64.b64decode(blob))


def _call(i: int, step: dict[str, Any], state: dict[str, Any], df: pd.DataFrame) -> pd.DataFrame:
    where = label(i, f"function {step['name']}")
    try:
        fn = _unpickle(state["fn"])
    except Exception as exc:  # noqa: BLE001 - any unpickling failure has the same remedy
        raise ValidationError(
            f"{where}: the function cannot be loaded here ({type(exc).__name__}: {exc}); it was pickled on "
            f"Python {state['python']} with cloudpickle {state['cloudpickle']}, and the modules it imports "
            "must be installed where the transformer runs"
        ) from None
    try:
        out = fn(df.copy())  # a copy: the function may change its argument in place
    except Exception as exc:  # noqa: BLE001 - user code; the message names the step
        raise ValidationError(f"{where}: raised {type(exc).__name__}: {exc}") from exc
    if not isinstance(out, pd.DataFrame):
        raise ValidationError(f"{where}: returned {type(out).__name__}, not a pandas DataFrame")
    if len(out) != len(df):
        raise ValidationError(f"{where}: returned {len(out)} rows for {len(df)}; a function must be row-wise")
    return out.set_axis(df.index, axis=0)


def pandas_type(series: pd.Series) -> str:
    """The Spark type name a pandas column maps to ("unknown" for mixed objects)."""
    dtype = series.dtype
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype):
        return "bigint"
    if pd.api.types.is_float_dtype(dtype):
        return DOUBLE
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "timestamp"
    if isinstance(dtype, pd.CategoricalDtype) or (pd.api.types.is_string_dtype(dtype) and dtype != object):
        return "string"
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    return {
        "string": "string", "empty": "string", "integer": "bigint", "floating": DOUBLE,
        "mixed-integer-float": DOUBLE, "decimal": DOUBLE, "boolean": "boolean",
        "datetime": "timestamp", "datetime64": "timestamp", "date": "date",
    }.get(inferred, "unknown")


OPS: dict[str, Op] = {op.name: op for op in (FillMissing(), Scale(), OneHot(), Select(), Drop(), Function())}


def normalize_step(i: int, raw: Any) -> dict[str, Any]:
    """Check one raw step dict and return its canonical form."""
    if not isinstance(raw, dict) or "op" not in raw:
        raise ValidationError(f"steps[{i}]: a step is a dict with an 'op', e.g. {{'op': 'scale', 'columns': ['age']}}")
    op = OPS.get(raw["op"])
    if op is None:
        hint = difflib.get_close_matches(str(raw["op"]), list(OPS), n=1)
        raise ValidationError(
            f"steps[{i}]: unknown op {raw['op']!r}; ops are {', '.join(OPS)}"
            + (f"; did you mean {hint[0]!r}?" if hint else "")
        )
    return op.normalize(i, raw)


__all__ = ["OPS", "Stats", "category_key", "kind_of", "label", "normalize_step", "pandas_type", "to_float"]
