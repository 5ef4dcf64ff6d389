"""The Model Pipeline: decode -> transform -> model -> postprocess, one object from notebook to serving.

- **decode** turns what the Feature Store gives (example-set rows, whose store
  columns are named ``<set>__<column>``, or an Online Serving payload keyed
  ``<set>.<column>``) plus session features from the caller into the model's
  input frame: declared fields, types and defaults, checked with errors that
  name the field.
- **transform** is the model's fitted Transformer (``name:vN`` from the
  Feature Store), kept inline so a loaded pipeline needs no database.
- **model** is a scikit-learn-style estimator from the catalog.
- **postprocess** turns the raw output into what a caller uses (probability
  and label, a value, a segment name, the top-k ids).

Training decodes its example set through the same ``decode``, so an online row
and the same example-set row reach the model as the same numbers. The whole
object is cloudpickled; MLflow stores it as a pyfunc (``mlplat.models.pyfunc``).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from mlplat.errors import ValidationError
from mlplat.features.transforms import Transformer
from mlplat.models.catalog import CLASSIFICATION, REGRESSION

FORMAT = 1
FIELD_TYPES = ("float", "int", "bool", "str")
STORE, SESSION = "store", "session"
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


# -- decode -----------------------------------------------------------------------
@dataclass(frozen=True)
class InputField:
    """One input of the model. ``online_key`` (``set.column``) is where Online Serving has a store field."""

    name: str
    type: str
    source: str = SESSION
    default: Any = None
    required: bool = False
    online_key: str = ""
    description: str = ""

    def __post_init__(self) -> None:
        if self.type not in FIELD_TYPES:
            raise ValidationError(f"field {self.name!r}: type {self.type!r} is not one of {', '.join(FIELD_TYPES)}")
        if self.source not in (STORE, SESSION):
            raise ValidationError(f"field {self.name!r}: source is 'store' or 'session', not {self.source!r}")
        if self.source == STORE and not self.online_key:
            object.__setattr__(self, "online_key", online_key(self.name))

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "InputField":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def online_key(column: str) -> str:
    """``user_views_7d__product_views_7d`` (example-set column) -> ``user_views_7d.product_views_7d``."""
    set_name, sep, col = column.partition("__")
    return f"{set_name}.{col}" if sep else column


def field_type(series: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(series):
        return "bool"
    if pd.api.types.is_integer_dtype(series):
        return "int"
    if pd.api.types.is_numeric_dtype(series):
        return "float"
    return "str"


@dataclass(frozen=True)
class InputSchema:
    """The model's declared inputs, in order, and the entity key(s) a request names."""

    fields: tuple[InputField, ...]
    entity: tuple[str, ...] = ()
    set_versions: tuple[tuple[str, int], ...] = ()  # the Feature Store set versions the model was trained on

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields]

    @property
    def store_fields(self) -> list[InputField]:
        return [f for f in self.fields if f.source == STORE]

    @property
    def session_fields(self) -> list[InputField]:
        return [f for f in self.fields if f.source == SESSION]

    @property
    def feature_sets(self) -> list[str]:
        """The Feature Store sets the store fields come from, in first-use order."""
        return list(dict.fromkeys(f.online_key.split(".", 1)[0] for f in self.store_fields))

    def decode(self, data: pd.DataFrame | Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> pd.DataFrame:
        """Rows (a frame, a list of dicts or one dict) -> the model's input frame, typed, defaults filled.

        A required field that is absent, or a value of the wrong type, is a
        ValidationError naming the field (and the row, for more than one).
        """
        frame = _as_frame(data)
        out: dict[str, Any] = {}
        for f in self.fields:
            if f.name in frame.columns:
                column = frame[f.name]
            elif f.required and f.default is None:
                raise ValidationError(f"missing required {f.source} feature {f.name!r} ({f.type})", field=f.name)
            else:
                column = pd.Series([None] * len(frame), index=frame.index, dtype=object)
            out[f.name] = _coerce(f, column)
        return pd.DataFrame(out, index=pd.RangeIndex(len(frame)))

    def assemble(
        self, store: Sequence[Mapping[str, Any]], session: Sequence[Mapping[str, Any]] | None = None
    ) -> list[dict[str, Any]]:
        """Rows shaped like example-set rows from Online Serving payloads (``{"set.col": v}``) and session features.

        ``store[i]`` is the ``features`` dict Online Serving returned for row i;
        ``session[i]`` the caller's session features for it.
        """
        session = session if session is not None else [{}] * len(store)
        if len(session) != len(store):
            raise ValidationError(f"{len(store)} store rows but {len(session)} session rows")
        rows = []
        for values, extra in zip(store, session):
            row = {f.name: values.get(f.online_key) for f in self.store_fields}
            for f in self.session_fields:
                if f.name in extra:
                    row[f.name] = extra[f.name]
            rows.append(row)
        return rows

    def online_features(self) -> list[str]:
        """The Online Serving names to read, pinned to the trained set versions (``set:v2.column``)."""
        versions = dict(self.set_versions)
        out = []
        for f in self.store_fields:
            name, _, column = f.online_key.partition(".")
            out.append(f"{name}:v{versions[name]}.{column}" if name in versions else f.online_key)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"fields": [f.to_dict() for f in self.fields], "entity": list(self.entity),
                "set_versions": dict(self.set_versions)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "InputSchema":
        return cls(tuple(InputField.from_dict(f) for f in data["fields"]), tuple(data.get("entity") or ()),
                   tuple(sorted((data.get("set_versions") or {}).items())))

    @classmethod
    def infer(
        cls,
        frame: pd.DataFrame,
        columns: Sequence[str],
        *,
        entity: Sequence[str] = (),
        store_columns: Sequence[str] = (),
        required: Sequence[str] = (),
        defaults: Mapping[str, Any] | None = None,
        set_versions: Mapping[str, int] | None = None,
    ) -> "InputSchema":
        """Fields for ``columns`` typed from ``frame``; those in ``store_columns`` come from the Feature Store."""
        defaults = defaults or {}
        fields = []
        for c in columns:
            source = STORE if c in store_columns else SESSION
            fields.append(InputField(c, field_type(frame[c]), source, defaults.get(c), c in required))
        return cls(tuple(fields), tuple(entity), tuple(sorted((set_versions or {}).items())))


def _as_frame(data: Any) -> pd.DataFrame:
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, Mapping):
        return pd.DataFrame([dict(data)])
    if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
        if not all(isinstance(r, Mapping) for r in data):
            raise ValidationError("rows must be objects (dicts) mapping field names to values")
        return pd.DataFrame([dict(r) for r in data])
    raise ValidationError(f"a pipeline takes a DataFrame, a dict or a list of dicts, not {type(data).__name__}")


def _missing(values: np.ndarray) -> np.ndarray:
    return pd.isna(values)


def _coerce(f: InputField, column: pd.Series) -> pd.Series:
    values = column.to_numpy(dtype=object) if column.dtype == object else column.to_numpy()
    missing = _missing(values)
    if f.type == "str":
        if column.dtype != object and not missing.all():
            if pd.api.types.is_numeric_dtype(column):
                _type_error(f, column, ~missing)
        bad = [i for i, v in enumerate(values) if not missing[i] and not isinstance(v, str)]
        if bad:
            _type_error(f, column, np.isin(np.arange(len(values)), bad))
        out = pd.Series(np.where(missing, None, values), dtype=object)
        if f.default is not None:
            out = out.where(~missing, f.default)
        return out
    if f.type == "bool":
        converted = np.full(len(values), np.nan)
        for i, v in enumerate(values):
            if missing[i]:
                continue
            if isinstance(v, (bool, np.bool_)) or (isinstance(v, (int, np.integer, float)) and v in (0, 1)):
                converted[i] = float(bool(v))
            elif isinstance(v, str) and v.strip().lower() in _TRUE | _FALSE:
                converted[i] = 1.0 if v.strip().lower() in _TRUE else 0.0
            else:
                _type_error(f, column, np.arange(len(values)) == i)
        numbers = converted
    elif column.dtype != object and pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
        numbers = column.to_numpy(dtype=float, na_value=np.nan)
    else:
        numbers = np.full(len(values), np.nan)
        for i, v in enumerate(values):
            if missing[i]:
                continue
            if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
                _type_error(f, column, np.arange(len(values)) == i)
            numbers[i] = float(v)
    if f.type == "int":
        finite = ~np.isnan(numbers)
        if np.any(np.mod(numbers[finite], 1) != 0):
            _type_error(f, column, finite & (np.mod(np.nan_to_num(numbers), 1) != 0))
    if f.default is not None:
        numbers = np.where(np.isnan(numbers), float(f.default), numbers)
    return pd.Series(numbers, dtype="float64")


def _type_error(f: InputField, column: pd.Series, bad: np.ndarray) -> None:
    i = int(np.flatnonzero(bad)[0])
    value = column.iloc[i]
    where = f" (row {i})" if len(column) > 1 else ""
    wanted = {"float": "a number", "int": "an integer", "bool": "true or false", "str": "a string"}[f.type]
    raise ValidationError(
        f"{f.source} feature {f.name!r} must be {wanted}{where}, not {value!r} ({type(value).__name__})",
        field=f.name,
    )


# -- postprocess --------------------------------------------------------------------
@dataclass(frozen=True)
class Postprocess:
    """Raw model output -> the columns a caller gets. ``kind`` picks the rule; the rest are its settings."""

    kind: str  # threshold | classes | value | segments
    threshold: float = 0.5
    classes: tuple[Any, ...] = ()
    top_k: int = 0
    id_map: dict[str, Any] = field(default_factory=dict)
    segments: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        return {
            "threshold": ["probability", "label"],
            "classes": ["label", "probability"] + (["top_k"] if self.top_k else []),
            "value": ["value"],
            "segments": ["cluster", "segment"],
        }[self.kind]

    def apply(self, raw: np.ndarray) -> pd.DataFrame:
        if self.kind == "threshold":
            p = np.asarray(raw, dtype=float)
            negative, positive = self.classes
            labels = np.where(p >= self.threshold, positive, negative)
            return pd.DataFrame({"probability": p, "label": labels})
        if self.kind == "classes":
            proba = np.asarray(raw, dtype=float)
            best = proba.argmax(axis=1)
            mapped = [self._id(c) for c in self.classes]
            out = {"label": [mapped[i] for i in best], "probability": proba[np.arange(len(best)), best]}
            if self.top_k:
                order = np.argsort(-proba, axis=1, kind="stable")[:, : self.top_k]
                out["top_k"] = [[mapped[j] for j in row] for row in order]
            return pd.DataFrame(out)
        if self.kind == "value":
            return pd.DataFrame({"value": np.asarray(raw, dtype=float)})
        clusters = np.asarray(raw, dtype=int)
        names = [self.segments[c] if c < len(self.segments) else f"segment_{c}" for c in clusters]
        return pd.DataFrame({"cluster": clusters, "segment": names})

    def _id(self, cls: Any) -> Any:
        return self.id_map.get(str(cls), cls) if self.id_map else cls

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "threshold": self.threshold, "classes": [_plain(c) for c in self.classes],
                "top_k": self.top_k, "id_map": dict(self.id_map), "segments": list(self.segments)}

    @classmethod
    def for_task(
        cls,
        task: str,
        classes: Sequence[Any] = (),
        *,
        threshold: float = 0.5,
        top_k: int = 0,
        id_map: Mapping[str, Any] | None = None,
        segments: Sequence[str] = (),
    ) -> "Postprocess":
        if task == CLASSIFICATION:
            if not 0.0 < threshold < 1.0:
                raise ValidationError(f"threshold must be between 0 and 1, not {threshold}")
            if len(classes) == 2 and not top_k:
                return cls("threshold", threshold=threshold, classes=tuple(_plain(c) for c in classes))
            return cls("classes", classes=tuple(_plain(c) for c in classes), top_k=int(top_k),
                       id_map={str(k): v for k, v in (id_map or {}).items()})
        if task == REGRESSION:
            return cls("value")
        return cls("segments", segments=tuple(segments))


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


# -- the pipeline ---------------------------------------------------------------------
class ModelPipeline:
    """decode -> transform -> model -> postprocess. ``predict`` is the one path every caller takes."""

    def __init__(
        self,
        schema: InputSchema,
        transformer: Transformer | None,
        model: Any,
        postprocess: Postprocess,
        *,
        task: str,
        model_columns: Sequence[str],
        kind: str,
        target: str | None = None,
        input_example: pd.DataFrame | None = None,
        example_output: pd.DataFrame | None = None,
    ) -> None:
        self.schema = schema
        self.transformer = transformer
        self.model = model
        self.postprocess = postprocess
        self.task = task
        self.model_columns = list(model_columns)
        self.kind = kind
        self.target = target
        self.input_example = input_example
        self.example_output = example_output

    def __repr__(self) -> str:
        t = self.transformer.id if self.transformer is not None and self.transformer.id else "none"
        return (f"ModelPipeline({self.kind} {self.task}: {len(self.schema.fields)} inputs, transformer {t}, "
                f"{len(self.model_columns)} model columns -> {', '.join(self.postprocess.columns)})")

    @property
    def output_columns(self) -> list[str]:
        return self.postprocess.columns

    # stages, each usable alone (evaluation wants the raw scores)
    def decode(self, data: Any) -> pd.DataFrame:
        return self.schema.decode(data)

    def matrix(self, data: Any, decoded: bool = False) -> np.ndarray:
        """The numbers the estimator sees: decode, transform, then the model columns in order."""
        frame = data if decoded else self.decode(data)
        if self.transformer is not None:
            frame = self.transformer.transform_pandas(frame)
        missing = [c for c in self.model_columns if c not in frame.columns]
        if missing:
            raise ValidationError(f"the transformed input lacks model column(s) {missing}", missing=missing)
        return frame[self.model_columns].to_numpy(dtype=np.float64, na_value=np.nan)

    def raw(self, data: Any, decoded: bool = False) -> np.ndarray:
        x = self.matrix(data, decoded)
        if len(x) == 0:
            return np.empty((0,) if self.postprocess.kind != "classes" else (0, len(self.postprocess.classes)))
        if self.task == CLASSIFICATION:
            proba = self.model.predict_proba(x)
            return proba[:, 1] if self.postprocess.kind == "threshold" else proba
        return np.asarray(self.model.predict(x))

    def predict(self, data: Any) -> pd.DataFrame:
        """Rows in (frame, dicts or one dict), one output row per input row."""
        return self.postprocess.apply(self.raw(data))

    def predict_online(
        self, store: Sequence[Mapping[str, Any]], session: Sequence[Mapping[str, Any]] | None = None
    ) -> pd.DataFrame:
        """Predict from Online Serving payloads (``{"set.col": v}`` per row) and session features."""
        return self.predict(self.schema.assemble(store, session))

    # persistence
    def to_bytes(self) -> bytes:
        import cloudpickle

        buffer = io.BytesIO()
        cloudpickle.dump({"format": FORMAT, "pipeline": self}, buffer)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "ModelPipeline":
        import pickle

        loaded = pickle.loads(data)  # noqa: S301 - the Model Repository is trusted, as any pickled model is
        if not isinstance(loaded, dict) or loaded.get("format") != FORMAT:
            raise ValidationError(f"not a model pipeline of format {FORMAT}: upgrade mlplat where it is loaded")
        return loaded["pipeline"]

    def save(self, path: str) -> None:
        with open(path, "wb") as fh:
            fh.write(self.to_bytes())

    @classmethod
    def load(cls, path: str) -> "ModelPipeline":
        with open(path, "rb") as fh:
            return cls.from_bytes(fh.read())

    def describe(self) -> dict[str, Any]:
        """JSON-friendly summary: inputs, transformer, model, outputs."""
        return {
            "kind": self.kind,
            "task": self.task,
            "target": self.target,
            "inputs": self.schema.to_dict(),
            "transformer": self.transformer.id if self.transformer is not None else None,
            "model_columns": list(self.model_columns),
            "postprocess": self.postprocess.to_dict(),
            "outputs": self.output_columns,
        }

    def with_examples(self, frame: pd.DataFrame, rows: int = 5) -> "ModelPipeline":
        """A copy remembering ``rows`` input rows and their outputs (the deploy sanity test replays them)."""
        example = frame[[c for c in self.schema.names if c in frame.columns]].head(rows).reset_index(drop=True)
        clone = ModelPipeline.__new__(ModelPipeline)
        clone.__dict__.update(self.__dict__)
        clone.input_example = example
        clone.example_output = self.predict(example)
        return clone


def is_close(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Two prediction frames are the same: equal labels, floats equal to 1e-12 relative."""
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return False
    for c in a.columns:
        x, y = a[c].to_numpy(), b[c].to_numpy()
        if np.issubdtype(x.dtype, np.floating) and np.issubdtype(y.dtype, np.floating):
            if not np.allclose(x, y, rtol=1e-12, atol=0, equal_nan=True):
                return False
        elif list(map(_plain, x)) != list(map(_plain, y)):
            return False
    return True


__all__ = [
    "FIELD_TYPES", "InputField", "InputSchema", "ModelPipeline", "Postprocess", "SESSION", "STORE", "field_type",
    "is_close", "online_key",
]
