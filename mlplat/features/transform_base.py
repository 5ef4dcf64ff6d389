"""What every transform step shares: the ``Op`` contract, the fitting-statistics interface, and the value rules.

A step has two forms of one rule, side by side in its ``Op``: ``apply`` on a
pandas frame (batch, Spark through ``mapInPandas``, training) and ``row`` on
one dict (the Inference Service's hot path, ``Transformer.transform_row``).
The value rules both forms use live here once: which text a category is
matched by, how a value becomes a float64, what counts as missing. With the
same rules and the same float64 arithmetic in the same order, a row's output
is bit for bit what ``apply`` gives on a one-row frame of it.
"""

from __future__ import annotations

import difflib
from decimal import Decimal
from typing import Any, Callable, Protocol

import numpy as np
import pandas as pd

from mlplat.errors import ValidationError

Fields = dict[str, Any]  # column -> type: a type name, or (transform_spark) an input Spark DataType
Row = dict[Any, Any]
RowFn = Callable[[Row], Row]
DOUBLE = "double"
NUMERIC = {"tinyint", "smallint", "int", "bigint", "float", "double"}
NAN = float("nan")


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
    keys: np.ndarray
    if series.dtype.kind in "iu":
        keys = series.astype(str).to_numpy(dtype=object)
    elif series.dtype == object and pd.api.types.infer_dtype(series, skipna=False) == "string":
        keys = series.to_numpy(dtype=object)  # every value is text: its own key
    else:
        keys = series.map(category_key).to_numpy(dtype=object)
    return keys


def is_missing(value: Any) -> bool:
    """``pd.isna`` of one scalar (None, NaN, NA, NaT), with the common types answered without pandas."""
    if value is None:
        return True
    if isinstance(value, float):
        return value != value
    if isinstance(value, (str, int, np.bool_, np.integer)):
        return False
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # containers: never a missing scalar
        return False


def _not_numeric(where: str, column: str, exc: Exception) -> ValidationError:
    return ValidationError(f"{where}: column {column!r} must be numeric ({exc})")


def to_float(where: str, column: str, series: pd.Series) -> pd.Series:
    """The column as float64 (None -> NaN), or a ValidationError naming the step and column."""
    if series.dtype == np.float64:
        return series
    try:
        return series.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise _not_numeric(where, column, exc) from None


def to_float_value(where: str, column: str, value: Any) -> float:
    """``to_float`` of one value: numpy's cast of an object to float64 is Python's ``float``."""
    if value is None:
        return NAN
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise _not_numeric(where, column, exc) from None


def plain(value: Any) -> Any:
    """A cell as plain Python (float, int, str, bool, datetime); a missing value is None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    try:
        return None if pd.isna(value) else value
    except (TypeError, ValueError):  # arrays and other containers
        return value


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
    # An object column may hold anything: it is inferred from its values below.
    typed_strings = pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype)
    if isinstance(dtype, pd.CategoricalDtype) or typed_strings:
        return "string"
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    return {
        "string": "string", "empty": "string", "integer": "bigint", "floating": DOUBLE,
        "mixed-integer-float": DOUBLE, "decimal": DOUBLE, "boolean": "boolean",
        "datetime": "timestamp", "datetime64": "timestamp", "date": "date",
    }.get(inferred, "unknown")


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


def column_list(i: int, op: str, value: Any, key: str = "columns") -> list[str]:
    cols = [value] if isinstance(value, str) else value
    if not isinstance(cols, (list, tuple)) or not cols or not all(isinstance(c, str) and c for c in cols):
        raise ValidationError(f"{label(i, op)}: {key} must be a non-empty list of column names, e.g. ['age']")
    dupes = sorted({c for c in cols if list(cols).count(c) > 1})
    if dupes:
        raise ValidationError(f"{label(i, op)}: {key} names {', '.join(map(repr, dupes))} more than once")
    return list(cols)


def choice(i: int, op: str, key: str, value: Any, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        hint = difflib.get_close_matches(str(value), allowed, n=1)
        raise ValidationError(
            f"{label(i, op)}: {key} {value!r} is not one of {', '.join(map(repr, allowed))}"
            + (f"; did you mean {hint[0]!r}?" if hint else "")
        )
    return str(value)


class Op:
    """One kind of step; subclasses fill in the hooks, and write ``apply`` and ``row`` together."""

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
        step["columns"] = column_list(i, self.name, step["columns"])
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
        """The step on a frame (the input is not changed)."""
        raise NotImplementedError

    def row(self, i: int, step: dict[str, Any], state: dict[str, Any]) -> RowFn | None:
        """The step compiled for one row: a function of a dict (which it may change) returning the output dict.

        Its output equals ``apply`` on a one-row frame of the dict: the same
        columns with the same values (the order may differ; ``walk`` gives the
        frame's), and the same ValidationErrors. None says the step runs only
        on pandas (a one-row frame then takes the whole transform). Every op
        says which.
        """
        raise NotImplementedError(f"op {self.name!r} has no row form: write row(), or return None from it")


__all__ = [
    "DOUBLE", "Fields", "NAN", "Op", "Row", "RowFn", "Stats", "category_key", "category_keys", "choice",
    "column_list", "is_missing", "kind_of", "label", "pandas_type", "plain", "to_float", "to_float_value",
]
