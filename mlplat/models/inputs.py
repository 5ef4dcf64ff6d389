"""Decode: the model's declared inputs, and what turns Feature Store values and session features into them.

What the Feature Store gives (example-set rows, whose store columns are named
``<set>__<column>``, or an Online Serving payload keyed ``<set>.<column>``),
plus session features from the caller, becomes the model's input: declared
fields, types and defaults, checked with errors that name the field. Each
field has one rule for one value (``InputField.decoder``); a frame runs it on
every value of a column that is not numeric already, and a request runs it
compiled (``InputSchema.row_decoder``), so a training row and an online row
reach the model as the same numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from mlplat.errors import ValidationError
from mlplat.features.transform_base import NAN, is_missing

FIELD_TYPES = ("float", "int", "bool", "str")
STORE, SESSION = "store", "session"
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}
_WANTED = {"float": "a number", "int": "an integer", "bool": "true or false", "str": "a string"}

Decoded = dict[str, Any]


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

    @property
    def must_be_sent(self) -> bool:
        return self.required and self.default is None

    def missing_error(self) -> ValidationError:
        return ValidationError(f"missing required {self.source} feature {self.name!r} ({self.type})", field=self.name)

    def type_error(self, value: Any, row: int | None = None) -> ValidationError:
        where = f" (row {row})" if row is not None else ""
        return ValidationError(
            f"{self.source} feature {self.name!r} must be {_WANTED[self.type]}{where}, not {value!r} "
            f"({type(value).__name__})",
            field=self.name,
        )

    def decoder(self) -> Callable[[Any], Any]:
        """This field's rule for one value: a str (or the default, or None) for "str", else a float.

        A missing value (None, NaN, NA, NaT) takes the default, or is NaN (None
        for "str"); bools are 1.0/0.0 from a bool, 0/1 or true/false/yes/no/1/0
        text; an "int" must be integral. Anything else is a ValidationError.
        """
        default, bad = self.default, self.type_error
        if self.type == "str":
            def text(value: Any) -> Any:
                if isinstance(value, str):
                    return value
                if is_missing(value):
                    return default
                raise bad(value)
            return text
        fill = NAN if default is None else float(default)
        if self.type == "bool":
            def flag(value: Any) -> float:
                if isinstance(value, (bool, np.bool_)):
                    return 1.0 if value else 0.0
                if is_missing(value):
                    return fill
                if isinstance(value, (int, float, np.integer)) and value in (0, 1):
                    return float(bool(value))
                if isinstance(value, str):
                    word = value.strip().lower()
                    if word in _TRUE or word in _FALSE:
                        return 1.0 if word in _TRUE else 0.0
                raise bad(value)
            return flag
        integral = self.type == "int"

        def number(value: Any) -> float:
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
                if is_missing(value):
                    return fill
                raise bad(value)
            x = float(value)
            if x != x:
                return fill
            if integral and not x.is_integer():
                raise bad(value)
            return x
        return number

    def decode_column(self, column: pd.Series) -> pd.Series:
        """``decoder`` on every value of a column (a numeric column at once): float64, or object for "str"."""
        flags = pd.api.types.is_bool_dtype(column) and column.dtype != object
        numeric = pd.api.types.is_numeric_dtype(column) and not flags and column.dtype != object
        if (self.type in ("float", "int") and numeric) or (self.type == "bool" and flags):
            numbers = column.to_numpy(dtype=float, na_value=np.nan)
            if self.type == "int":
                with np.errstate(invalid="ignore"):  # inf mod 1 is NaN: not an integer, as in decoder
                    fraction = ~np.isnan(numbers) & (np.mod(numbers, 1) != 0)
                if fraction.any():
                    i = int(np.flatnonzero(fraction)[0])
                    raise self.type_error(column.iloc[i], i if len(column) > 1 else None)
            if self.default is not None:
                numbers = np.where(np.isnan(numbers), float(self.default), numbers)
            return pd.Series(numbers, dtype="float64")
        if self.type == "str" and column.dtype == object and pd.api.types.infer_dtype(column, skipna=False) == "string":
            return pd.Series(column.to_numpy(dtype=object), dtype=object)  # every value is text: nothing to decode
        decode = self.decoder()
        values = column.to_numpy(dtype=object) if column.dtype == object else column.to_numpy()
        try:
            out = [decode(v) for v in values]
        except ValidationError:
            i = next(i for i, v in enumerate(values) if _fails(decode, v))
            raise self.type_error(column.iloc[i], i if len(column) > 1 else None) from None
        return pd.Series(out, dtype=object if self.type == "str" else "float64")


def _fails(decode: Callable[[Any], Any], value: Any) -> bool:
    try:
        decode(value)
    except ValidationError:
        return True
    return False


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
            elif f.must_be_sent:
                raise f.missing_error()
            else:
                column = pd.Series([None] * len(frame), index=frame.index, dtype=object)
            out[f.name] = f.decode_column(column)
        return pd.DataFrame(out, index=pd.RangeIndex(len(frame)))

    def row_decoder(self) -> Callable[[Mapping[str, Any], Mapping[str, Any]], Decoded]:
        """``decode`` for one request, compiled once: ``(store, session) -> row``.

        ``store`` is what Online Serving returned (keyed ``set.column``; a
        field it lacks is missing), ``session`` the caller's session features.
        """
        store = [(f.name, f.online_key, f.decoder()) for f in self.store_fields]
        session = [(f.name, f, f.decoder()) for f in self.session_fields]
        order = self.names
        in_order = order == [f.name for f in self.store_fields + self.session_fields]

        def decode(values: Mapping[str, Any], features: Mapping[str, Any]) -> Decoded:
            row: Decoded = {}
            for name, key, rule in store:
                row[name] = rule(values.get(key))
            for name, f, rule in session:
                if name in features:
                    row[name] = rule(features[name])
                elif f.must_be_sent:
                    raise f.missing_error()
                else:
                    row[name] = rule(None)
            return row if in_order else {name: row[name] for name in order}
        return decode

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


__all__ = ["FIELD_TYPES", "SESSION", "STORE", "InputField", "InputSchema", "field_type", "online_key"]
