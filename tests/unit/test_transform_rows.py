"""Each transform step's row form against its frame form: every op has one (or says it has none), equal on edge values."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlplat.errors import ValidationError
from mlplat.features.transform_base import Op, plain
from mlplat.features.transform_steps import OPS
from mlplat.features.transforms import Transformer, drop, fill_missing, fit, function, one_hot, scale, select

FRAME = pd.DataFrame({
    "x": [1.0, np.nan, 3.0, 4.0, -2.5, 3.0],
    "n": [3, 1, 3, 20, 1, 3],
    "s": ["a", "b", None, "a", "c", "a"],
    "flag": [True, False, True, True, False, True],
    "y": [0.5, 0.25, 0.0, 1.0, 2.0, 4.0],
})


def _doubled(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(y2=frame["y"] * 2.0)


# Every registered op, with the steps that exercise it: a new op fails test_every_op_is_in_the_table until added.
CASES: dict[str, list[dict[str, Any]]] = {
    "fill_missing": [fill_missing(["x", "y"], "median"), fill_missing(["x"], "mean"), fill_missing("s", "most_frequent"),
                     fill_missing(["n", "y"], "constant", value=-1), fill_missing("s", "constant", value="none"),
                     fill_missing("flag", "most_frequent")],
    "scale": [scale(["x", "y"]), scale(["n", "x"], "minmax")],
    "one_hot": [one_hot("s"), one_hot("n", handle_unknown="error"), one_hot("flag"), one_hot("x", max_categories=2),
                one_hot("s", handle_unknown="error")],
    "select": [select(["y", "x"]), select(["s"])],
    "drop": [drop(["flag", "n"]), drop("s")],
    "function": [function(_doubled)],
}

EDGES: list[dict[str, Any]] = [
    {"x": None, "n": None, "s": None, "flag": None, "y": float("nan")},
    {"x": float("nan"), "n": 3.0, "s": "zz", "flag": "true", "y": -0.0},  # 3.0 is the category 3; zz is unknown
    {"x": -0.0, "n": 20, "s": "a", "flag": True, "y": 1},
    {"x": 3, "n": 1.0, "s": 3, "flag": 1, "y": True},
    {"x": "2.5", "n": "3", "s": "b", "flag": False, "y": np.float32(0.1)},
    {"x": "true", "n": 7, "s": "c", "flag": np.bool_(True), "y": 2},  # a bool string in a numeric column: an error
    {"x": np.int64(4), "n": np.int64(3), "s": np.str_("a"), "flag": "false", "y": np.nan},
    {"x": 1.0, "s": "a", "y": 1.0},  # no n, no flag
    {"x": 1.0, "n": 3, "s": "a", "flag": True, "y": 1.0, "extra": "kept", "s=a": 9.0},  # a passthrough, a clash
    {"x": float("inf"), "n": -0.0, "s": "", "flag": False, "y": -1e308},
    {"x": 2.0, "n": np.nan, "s": float("nan"), "flag": np.nan, "y": 0.0},  # NaN where text or flags are expected
    {"x": 2.0, "n": pd.NA, "s": pd.NA, "flag": pd.NA, "y": pd.NA},
]


def _cells(out: dict[Any, Any]) -> dict[str, tuple[str, str]]:
    """Each cell as plain Python, by type and repr: -0.0 differs from 0.0, 3 from 3.0."""
    return {str(k): (type(v).__name__, repr(v)) for k, v in ((k, plain(v)) for k, v in out.items())}


def _cells_of(frame: pd.DataFrame) -> dict[Any, Any]:
    """The one row of a frame as a dict."""
    return {c: frame[c].iloc[0] for c in frame.columns}


def _outcome(run: Any) -> Any:
    try:
        return _cells(run())
    except (ValidationError, KeyError) as exc:
        return type(exc).__name__, str(exc)


def _fitted(step: dict[str, Any]) -> tuple[Op, dict[str, Any], dict[str, Any]]:
    t = fit([step], FRAME)
    return OPS[t.spec.steps[0]["op"]], t.spec.steps[0], t.state["steps"][0]


def test_every_op_is_in_the_table_and_has_a_row_form_or_says_it_has_none() -> None:
    assert set(CASES) == set(OPS)
    for name, op in OPS.items():
        assert type(op).row is not Op.row, f"op {name!r} must define row() (return None for pandas only)"
        for step in CASES[name]:
            op_, normalized, state = _fitted(step)
            form = op_.row(0, normalized, state)
            assert form is None or callable(form), name
    assert OPS["function"].row(0, *_fitted(CASES["function"][0])[1:]) is None
    assert all(OPS[n].row(0, *_fitted(s)[1:]) is not None for n in CASES if n != "function" for s in CASES[n])


@pytest.mark.parametrize("step", [s for name in CASES if name != "function" for s in CASES[name]],
                         ids=lambda s: f"{s['op']}:{s.get('columns', s.get('column'))}")
def test_a_row_form_gives_what_the_frame_form_gives_on_a_one_row_frame(step: dict[str, Any]) -> None:
    op, normalized, state = _fitted(step)
    form = op.row(0, normalized, state)
    assert form is not None
    outcomes = set()
    for row in EDGES:
        expected = _outcome(lambda row=row: _cells_of(op.apply(0, normalized, state, pd.DataFrame([row]))))
        assert _outcome(lambda row=row: form(dict(row))) == expected, row
        outcomes.add(type(expected).__name__)
    assert "dict" in outcomes  # the table reaches values, not only errors


def test_the_table_reaches_each_edge() -> None:
    t = fit([fill_missing(["x"], "median"), one_hot("s", handle_unknown="error")], FRAME)
    with pytest.raises(ValidationError, match=r"steps\[1\] \(one_hot\): column 's' has unknown categories \['zz'\]"):
        t.transform_row(EDGES[1])
    with pytest.raises(ValidationError, match=r"steps\[0\] \(fill_missing\): column 'x' must be numeric .*'true'"):
        t.transform_row(EDGES[5])
    with pytest.raises(ValidationError, match=r"the input has column\(s\) \['s=a'\] already"):
        t.transform_row(EDGES[8])
    out = fit([scale("y"), one_hot("n")], FRAME).transform_row(EDGES[1])
    assert out["n=3"] == 1.0 and np.signbit(fit([fill_missing("x")], FRAME).transform_row(EDGES[2])["x"])


CHAIN = [fill_missing(["x"], "median"), fill_missing("s", "most_frequent"), scale(["x", "y"]), one_hot("s"),
         one_hot("n"), drop(["flag"])]


@pytest.mark.parametrize("steps", [CHAIN, CHAIN + [select(["y", "n=3", "x", "s=a"])], CHAIN + [function(_doubled)]],
                         ids=["chain", "chain+select", "chain+function"])
def test_transform_row_equals_the_frame_path_cell_by_cell_in_its_order(steps: list[dict[str, Any]]) -> None:
    t = fit(steps, FRAME)
    assert (t.compile_row() is None) == any(s["op"] == "function" for s in steps)
    for row in EDGES + FRAME.to_dict("records"):
        expected = _outcome(lambda row=row: _cells_of(t.transform_pandas(pd.DataFrame([row]))))
        got = _outcome(lambda row=row: t.transform_row(row))
        assert got == expected, row
        if isinstance(expected, dict):
            assert list(got) == list(expected)  # the same column order as the frame


def test_a_zero_scale_leaves_the_row_to_pandas() -> None:
    t = fit([scale(["x", "y"])], FRAME)
    state = {**t.state, "steps": [{**t.state["steps"][0], "scale": {"x": 0.0, "y": 1.0}}]}
    zero = Transformer(t.spec, state)
    assert zero.compile_row() is None  # numpy gives inf where Python would raise ZeroDivisionError
    with np.errstate(divide="ignore", invalid="ignore"):
        out = zero.transform_row({"x": 2.0, "y": 1.0})
        frame = zero.transform_pandas(pd.DataFrame([{"x": 2.0, "y": 1.0}]))
    assert out == {c: plain(frame[c].iloc[0]) for c in frame.columns} and np.isinf(out["x"])


class Negate(Op):
    """A step a test adds: written once, with its two forms."""

    name = "negate"
    required = ("columns",)

    def apply(self, i: int, step: dict[str, Any], state: dict[str, Any], df: pd.DataFrame) -> pd.DataFrame:
        return df.assign(**{c: -df[c].astype(np.float64) for c in step["columns"]})

    def row(self, i: int, step: dict[str, Any], state: dict[str, Any]) -> Any:
        columns = list(step["columns"])

        def negate(row: dict[str, Any]) -> dict[str, Any]:
            for c in columns:
                row[c] = -float(row[c])
            return row
        return negate


def test_a_new_step_is_written_once_and_the_serving_path_runs_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from sklearn.linear_model import LinearRegression

    from mlplat.models.fastpath import RowPredictor
    from mlplat.models.pipeline import InputField, InputSchema, ModelPipeline, Postprocess

    monkeypatch.setitem(OPS, "negate", Negate())
    frame = FRAME[["x", "y", "s"]].fillna({"x": 0.0, "s": "a"})
    t = fit([{"op": "negate", "columns": ["x"]}, scale(["x", "y"]), one_hot("s")], frame)
    assert t.compile_row() is not None
    columns = t.output_columns
    model = LinearRegression().fit(t.transform_pandas(frame)[columns].to_numpy(), np.arange(len(frame), dtype=float))
    schema = InputSchema((InputField("x", "float", "store"), InputField("y", "float", "store"), InputField("s", "str")))
    pipeline = ModelPipeline(schema, t, model, Postprocess("value"), task="regression", model_columns=columns,
                             kind="linear")
    fast = RowPredictor(pipeline)
    assert fast.compiled
    for row in frame.to_dict("records"):
        got = fast.predict({"x": row["x"], "y": row["y"]}, {"s": row["s"]})
        assert got == {"value": float(pipeline.predict(row)["value"].iloc[0])}
