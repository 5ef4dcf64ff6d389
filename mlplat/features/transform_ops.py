"""The built-in steps (fill, scale, one-hot, select, drop): each one's fit, its frame form and its row form.

The two forms of a step sit next to each other so that a change to one is
seen beside the other: ``apply`` works on columns, ``row`` on one dict with the
same value rules (``transform_base``) and the same float64 operations, which
IEEE 754 rounds the same way in numpy and in Python.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from mlplat.errors import ValidationError
from mlplat.features.transform_base import (
    DOUBLE,
    Fields,
    Op,
    Row,
    RowFn,
    Stats,
    category_key,
    category_keys,
    choice,
    column_list,
    is_missing,
    kind_of,
    label,
    to_float,
    to_float_value,
)


class FillMissing(Op):
    name = "fill_missing"
    required = ("columns",)
    defaults = {"strategy": "mean", "value": None}
    strategies = ("mean", "median", "most_frequent", "constant")

    def check(self, i: int, step: dict[str, Any]) -> dict[str, Any]:
        step = super().check(i, step)
        step["strategy"] = choice(i, self.name, "strategy", step["strategy"], self.strategies)
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

    def row(self, i: int, step: dict[str, Any], state: dict[str, Any]) -> RowFn:
        where = label(i, self.name)
        fills = [(c, state["types"][c] == DOUBLE, float(v) if state["types"][c] == DOUBLE else v)
                 for c, v in state["values"].items()]

        def fill(row: Row) -> Row:
            for c, numeric, value in fills:
                x = row[c]
                if numeric:
                    if type(x) is not float:
                        x = to_float_value(where, c, x)
                    row[c] = value if x != x else x
                elif is_missing(x):
                    row[c] = value
            return row
        return fill


class Scale(Op):
    """(x - center) / scale: standard uses the mean and the population std (ddof=0), minmax min and max - min."""

    name = "scale"
    required = ("columns",)
    defaults = {"method": "standard"}

    def check(self, i: int, step: dict[str, Any]) -> dict[str, Any]:
        step = super().check(i, step)
        step["method"] = choice(i, self.name, "method", step["method"], ("standard", "minmax"))
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

    def row(self, i: int, step: dict[str, Any], state: dict[str, Any]) -> RowFn | None:
        where = label(i, self.name)
        pairs = [(c, float(state["center"][c]), float(state["scale"][c])) for c in step["columns"]]
        if any(width == 0.0 for _, _, width in pairs):
            return None  # numpy divides by zero to inf or NaN where Python raises; a scale of 0 stays on pandas

        def scale(row: Row) -> Row:
            for c, center, width in pairs:
                x = row[c]
                if type(x) is not float:
                    x = to_float_value(where, c, x)
                row[c] = (x - center) / width
            return row
        return scale


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
        step["column"] = column_list(i, self.name, step["column"], "column")
        if len(step["column"]) != 1:
            raise ValidationError(f"{label(i, self.name)}: column names one column; use one step per column")
        step["column"] = step["column"][0]
        k = step["max_categories"]
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValidationError(f"{label(i, self.name)}: max_categories must be a positive integer, not {k!r}")
        step["handle_unknown"] = choice(i, self.name, "handle_unknown", step["handle_unknown"], ("ignore", "error"))
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
        ordered = sorted(top, key=lambda vn: vn[0]) if numeric else sorted(top, key=lambda vn: str(category_key(vn[0])))
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

    @staticmethod
    def _clash(i: int, present: list[str]) -> ValidationError:
        return ValidationError(f"{label(i, OneHot.name)}: the input has column(s) {present} already; drop them first")

    @staticmethod
    def _unknown(i: int, column: str, unknown: list[str], categories: list[str]) -> ValidationError:
        return ValidationError(
            f"{label(i, OneHot.name)}: column {column!r} has unknown categories {unknown[:5]}; "
            f"known: {categories[:10]}; use handle_unknown='ignore' to encode them as all zeros"
        )

    def apply(self, i: int, step: dict[str, Any], state: dict[str, Any], df: pd.DataFrame) -> pd.DataFrame:
        c, categories = step["column"], state["categories"]
        clash = [col for col in state["columns"] if col in df.columns]
        if clash:
            raise self._clash(i, clash)
        keys = category_keys(df[c])
        codes = np.asarray(pd.Categorical(keys, categories=categories).codes, dtype=np.int64)
        if step["handle_unknown"] == "error":
            unknown = sorted({str(k) for k, code in zip(keys, codes) if code < 0 and k is not None})
            if unknown:
                raise self._unknown(i, c, unknown, categories)
        matrix = np.zeros((len(df), len(categories)), dtype=np.float64)
        rows = np.flatnonzero(codes >= 0)
        matrix[rows, codes[rows]] = 1.0
        pos = df.columns.get_loc(c)
        encoded = pd.DataFrame(matrix, columns=state["columns"], index=df.index)
        return pd.concat([df.iloc[:, :pos], encoded, df.iloc[:, pos + 1:]], axis=1)

    def row(self, i: int, step: dict[str, Any], state: dict[str, Any]) -> RowFn:
        c, categories, columns = step["column"], list(state["categories"]), list(state["columns"])
        index = {key: j for j, key in enumerate(categories)}
        # one ready encoding per category, and all zeros (at -1) for missing and unknown values
        encodings = [{col: float(j == k) for j, col in enumerate(columns)} for k in range(len(columns))]
        encodings.append(dict.fromkeys(columns, 0.0))
        outputs, strict = frozenset(columns), step["handle_unknown"] == "error"

        def one_hot(row: Row) -> Row:
            if not outputs.isdisjoint(row):
                raise self._clash(i, [col for col in columns if col in row])
            key = category_key(row[c])
            code = index.get(key, -1)  # None is no category: -1
            if code < 0 and strict and key is not None:
                raise self._unknown(i, c, [key], categories)
            del row[c]
            row.update(encodings[code])  # at the end: the order is the walk's business (see Op.row)
            return row
        return one_hot


class Select(Op):
    name = "select"
    required = ("columns",)

    def writes(self, step: dict[str, Any], state: dict[str, Any]) -> list[str]:
        return []

    def walk(self, step: dict[str, Any], state: dict[str, Any], fields: Fields) -> Fields:
        return {c: fields[c] for c in step["columns"] if c in fields}

    def _lacks(self, i: int, missing: list[str]) -> ValidationError:
        return ValidationError(f"{label(i, self.name)}: the input lacks column(s) {', '.join(map(repr, missing))}")

    def apply(self, i: int, step: dict[str, Any], state: dict[str, Any], df: pd.DataFrame) -> pd.DataFrame:
        missing = [c for c in step["columns"] if c not in df.columns]
        if missing:
            raise self._lacks(i, missing)
        return df[step["columns"]]

    def row(self, i: int, step: dict[str, Any], state: dict[str, Any]) -> RowFn:
        keep = list(step["columns"])

        def select(row: Row) -> Row:
            try:
                return {c: row[c] for c in keep}
            except KeyError:
                raise self._lacks(i, [c for c in keep if c not in row]) from None
        return select


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

    def row(self, i: int, step: dict[str, Any], state: dict[str, Any]) -> RowFn:
        gone = frozenset(step["columns"])
        return lambda row: {k: v for k, v in row.items() if k not in gone}


__all__ = ["Drop", "FillMissing", "OneHot", "Scale", "Select"]
