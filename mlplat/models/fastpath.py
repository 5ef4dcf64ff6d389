"""One-row prediction without pandas: the Inference Service's hot path.

``RowPredictor`` compiles a pipeline's decode and its transformer's steps into
plain-Python operations on one dict, then calls the estimator on a 1 x n
float64 matrix. Each operation is the scalar form of the pandas one in
``pipeline`` / ``transform_steps`` (same coercion rules, same category keys,
the same float64 arithmetic in the same order), so its output is identical to
``ModelPipeline.predict`` on the same row: tests check that on every row of an
example set. A step it does not know (a user function) makes it fall back to
the pandas path for the transform, still one row.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd

from mlplat.errors import ValidationError
from mlplat.features.transform_steps import DOUBLE, category_key
from mlplat.models.pipeline import _FALSE, _TRUE, InputField, ModelPipeline

NAN = float("nan")
Row = dict[str, Any]
_WANTED = {"float": "a number", "int": "an integer", "bool": "true or false", "str": "a string"}


def _bad(f: InputField, value: Any) -> ValidationError:
    return ValidationError(
        f"{f.source} feature {f.name!r} must be {_WANTED[f.type]}, not {value!r} ({type(value).__name__})",
        field=f.name,
    )


def _decoder(f: InputField) -> Callable[[Any], Any]:
    default = f.default
    if f.type == "str":
        def text(value: Any) -> Any:
            if value is None or (isinstance(value, float) and value != value):
                return default
            if not isinstance(value, str):
                raise _bad(f, value)
            return value
        return text
    fill = NAN if default is None else float(default)
    if f.type == "bool":
        def flag(value: Any) -> float:
            if value is None or (isinstance(value, float) and value != value):
                return fill
            if isinstance(value, (bool, np.bool_)) or (isinstance(value, (int, float, np.integer)) and value in (0, 1)):
                return float(bool(value))
            if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
                return 1.0 if value.strip().lower() in _TRUE else 0.0
            raise _bad(f, value)
        return flag
    integral = f.type == "int"

    def number(value: Any) -> float:
        if value is None:
            return fill
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise _bad(f, value)
        x = float(value)
        if x != x:
            return fill
        if integral and not x.is_integer():
            raise _bad(f, value)
        return x
    return number


def _step_fn(step: dict[str, Any], state: dict[str, Any]) -> Callable[[Row], Row] | None:
    op = step["op"]
    if op == "fill_missing":
        values, types = state["values"], state["types"]

        def fill(row: Row) -> Row:
            for c, v in values.items():
                x = row.get(c)
                if types[c] == DOUBLE:
                    x = NAN if x is None else float(x)
                    row[c] = v if x != x else x
                elif x is None or (isinstance(x, float) and x != x):
                    row[c] = v
            return row
        return fill
    if op == "scale":
        pairs = [(c, float(state["center"][c]), float(state["scale"][c])) for c in step["columns"]]

        def scale(row: Row) -> Row:
            for c, center, width in pairs:
                x = row.get(c)
                x = NAN if x is None else float(x)
                row[c] = float((np.float64(x) - center) / width)
            return row
        return scale
    if op == "one_hot":
        c, columns = step["column"], state["columns"]
        index = {cat: i for i, cat in enumerate(state["categories"])}
        strict = step["handle_unknown"] == "error"

        def one_hot(row: Row) -> Row:
            key = category_key(row.pop(c, None))
            code = index.get(key, -1) if key is not None else -1
            if strict and code < 0 and key is not None:
                raise ValidationError(f"column {c!r} has unknown category {key!r}")
            for i, name in enumerate(columns):
                row[name] = 1.0 if i == code else 0.0
            return row
        return one_hot
    if op == "select":
        keep = list(step["columns"])
        return lambda row: {c: row[c] for c in keep}
    if op == "drop":
        gone = set(step["columns"])
        return lambda row: {k: v for k, v in row.items() if k not in gone}
    return None


class RowPredictor:
    """``predict(store, session) -> dict`` for one request, identical to the pipeline's pandas path."""

    def __init__(self, pipeline: ModelPipeline) -> None:
        self.pipeline = pipeline
        schema = pipeline.schema
        self._store = [(f.name, f.online_key, _decoder(f)) for f in schema.store_fields]
        self._session = [(f.name, f, _decoder(f)) for f in schema.session_fields]
        self._order = schema.names
        steps: list[Callable[[Row], Row]] | None = []
        transformer = pipeline.transformer
        if transformer is not None:
            for step, state in zip(transformer.spec.steps, transformer.state["steps"]):
                fn = _step_fn(step, state)
                if fn is None:
                    steps = None
                    break
                steps.append(fn)
        self._steps = steps
        self._columns = list(pipeline.model_columns)
        self._post = pipeline.postprocess
        model, self._task = pipeline.model, pipeline.task
        if pipeline.task == "classification":
            self._score = model.predict_proba
        else:
            self._score = model.predict
        if hasattr(model, "get_booster") and pipeline.task != "clustering" and pipeline.postprocess.kind != "classes":
            self._score = _booster_scorer(model, pipeline.task)
        # Trees score each row on its own, so a batch gives each row exactly its one-row output; a linear
        # model's matrix product may sum in another order for a batch, so those rows are scored one by one.
        self.rows_independent = self._score is not model.predict_proba and self._score is not model.predict

    @property
    def compiled(self) -> bool:
        """True when every transform step runs without pandas."""
        return self._steps is not None

    def decode(self, store: Mapping[str, Any], session: Mapping[str, Any]) -> Row:
        row: Row = {}
        for name, key, decode in self._store:
            row[name] = decode(store.get(key))
        for name, f, decode in self._session:
            if name in session:
                row[name] = decode(session[name])
            elif f.required and f.default is None:
                raise ValidationError(f"missing required session feature {name!r} ({f.type})", field=name)
            else:
                row[name] = decode(None)
        return {name: row[name] for name in self._order}

    def vector(self, row: Row) -> np.ndarray:
        if self._steps is None:
            transformer = self.pipeline.transformer
            frame = transformer.transform_pandas(pd.DataFrame({k: [v] for k, v in row.items()}).astype(
                {k: "float64" for k, v in row.items() if not isinstance(v, str) and v is not None}))
            return frame[self._columns].to_numpy(dtype=np.float64, na_value=np.nan)
        for step in self._steps:
            row = step(row)
        try:
            values = [row[c] for c in self._columns]
        except KeyError as exc:
            raise ValidationError(f"the transformed input lacks model column {exc.args[0]!r}") from None
        return np.array([values], dtype=np.float64)

    def predict(self, store: Mapping[str, Any], session: Mapping[str, Any]) -> dict[str, Any]:
        """One prediction: Online Serving values (``set.col``) and session features in, output fields out."""
        return self.predict_decoded(self.decode(store, session))

    def predict_rows(self, rows: list[Row]) -> list[dict[str, Any]]:
        """Outputs for decoded rows, each identical to ``predict_decoded`` on it alone (one model call for trees)."""
        if not self.rows_independent or len(rows) < 2:
            return [self.predict_decoded(r) for r in rows]
        raw = self._score(np.vstack([self.vector(dict(r)) for r in rows]))
        return [_postprocess(self._post, raw[k]) for k in range(len(rows))]

    def predict_decoded(self, row: Row) -> dict[str, Any]:
        """The output for a row ``decode`` made (``row`` is not changed)."""
        raw = self._score(self.vector(dict(row)))
        return _postprocess(self._post, raw[0])


def _booster_scorer(model: Any, task: str) -> Callable[[np.ndarray], np.ndarray]:
    """XGBoost without its scikit-learn wrapper: what ``predict_proba``/``predict`` compute, minus the checks.

    The wrapper calls ``inplace_predict`` with the model's ``missing`` over the
    whole ensemble (no early stopping here) and, for two classes, stacks
    ``1 - p`` and ``p`` in float32: so does this, bit for bit.
    """
    booster, missing = model.get_booster(), model.missing
    if task == "classification":
        def proba(x: np.ndarray) -> np.ndarray:
            p = booster.inplace_predict(x, missing=missing)
            return np.vstack((1.0 - p, p)).transpose()
        return proba
    return lambda x: booster.inplace_predict(x, missing=missing)


def _postprocess(post: Any, raw: Any) -> dict[str, Any]:
    """The scalar form of ``Postprocess.apply`` for one row."""
    if post.kind == "threshold":
        p = float(raw[1])
        negative, positive = post.classes
        return {"probability": p, "label": positive if p >= post.threshold else negative}
    if post.kind == "value":
        return {"value": _plain(float(raw))}
    if post.kind == "segments":
        c = int(raw)
        return {"cluster": c, "segment": post.segments[c] if c < len(post.segments) else f"segment_{c}"}
    proba = np.asarray(raw, dtype=float)
    mapped = [post._id(c) for c in post.classes]
    best = int(proba.argmax())
    out = {"label": mapped[best], "probability": float(proba[best])}
    if post.top_k:
        out["top_k"] = [mapped[j] for j in np.argsort(-proba, kind="stable")[: post.top_k]]
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


__all__ = ["RowPredictor"]
