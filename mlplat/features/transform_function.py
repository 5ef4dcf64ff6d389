"""The function step: a user's DataFrame -> DataFrame, pickled by value into the fitted state.

It has no row form: a user function is written for frames, so one row runs it
on a one-row frame, and a pipeline with such a step takes the pandas path for
its transform. Its pickling lives here because it decides what travels with
the transformer to Spark executors and the Inference Service.
"""

from __future__ import annotations

import base64
import sys
import sysconfig
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlplat.errors import ValidationError, require
from mlplat.features.transform_base import DOUBLE, Fields, Op, Stats, label, pandas_type


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

    def row(self, i: int, step: dict[str, Any], state: dict[str, Any]) -> None:
        return None  # a function of frames: one row runs it on a one-row frame


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
    if not by_value or module is None or module.__name__ in cloudpickle.list_registry_pickle_by_value():
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


__all__ = ["Function"]
