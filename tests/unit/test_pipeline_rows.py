"""The pipeline's row forms against its frame forms: decode, postprocess, and the compiled RowPredictor per task."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlplat.errors import ValidationError
from mlplat.features.transform_base import plain
from mlplat.features.transforms import fill_missing, fit, function, one_hot, scale
from mlplat.models.fastpath import RowPredictor
from mlplat.models.inputs import FIELD_TYPES, InputField, InputSchema
from mlplat.models.pipeline import ModelPipeline
from mlplat.models.postprocess import Postprocess

VALUES: list[Any] = [None, float("nan"), -0.0, 0, 1, 3, 3.0, 2.5, float("inf"), True, False, np.bool_(True), "true",
                     " Yes ", "0", "3", "x", "", np.int64(2), np.float64(1.0), np.float32(1.0), pd.NA, pd.NaT]


def _same(a: Any, b: Any) -> bool:
    """Equal as plain Python, NaN equal to NaN; repr tells -0.0 from 0.0 and 1 from 1.0."""
    a, b = (v.item() if isinstance(v, np.generic) else v for v in (a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and repr(a) == repr(b)


@pytest.mark.parametrize("kind", FIELD_TYPES)
@pytest.mark.parametrize("default", [None, "dflt"])
def test_a_fields_value_rule_is_the_same_for_one_value_and_a_column(kind: str, default: Any) -> None:
    default = {"str": "web", "bool": True, "int": 7, "float": -1.5}[kind] if default else None
    f = InputField("v", kind, default=default)
    decode = f.decoder()
    for value in VALUES:
        try:
            one = ("ok", decode(value))
        except ValidationError as exc:
            one = ("error", exc.message)
        try:
            column = ("ok", f.decode_column(pd.Series([value], dtype=object)).iloc[0])
        except ValidationError as exc:
            column = ("error", exc.message)
        assert one[0] == column[0] and (one[1] == column[1] if one[0] == "error" else _same(one[1], column[1])), value
        # a frame that pandas typed itself: the same value, or an error naming the field
        try:
            typed = ("ok", f.decode_column(pd.DataFrame([{"v": value}])["v"]).iloc[0])
        except ValidationError as exc:
            typed = ("error", exc.details["field"])
        assert typed[0] == one[0], value
        if one[0] == "ok":
            assert _same(one[1], typed[1]), value


def test_a_column_error_names_the_row_and_a_request_error_names_the_field() -> None:
    f = InputField("views", "int", source="store")
    with pytest.raises(ValidationError, match=r"store feature 'views' must be an integer \(row 2\), not 2.5"):
        f.decode_column(pd.Series([1, None, 2.5, "x"], dtype=object))
    with pytest.raises(ValidationError, match=r"must be an integer \(row 1\), not np.float64\(inf\)"):
        f.decode_column(pd.Series([1.0, float("inf")]))
    with pytest.raises(ValidationError, match=r"^store feature 'views' must be an integer, not 2.5 \(float\)$"):
        f.decoder()(2.5)
    assert [InputField("b", "bool").decoder()(v) for v in (" Yes ", "no", 1, np.bool_(False))] == [1.0, 0.0, 1.0, 0.0]
    assert f.decoder()(np.int64(3)) == 3.0 and InputField("s", "str", default="web").decoder()(float("nan")) == "web"


SCHEMA = InputSchema((
    InputField("u__views", "int", "store"),
    InputField("device", "str", default="web"),
    InputField("u__spend", "float", "store"),
    InputField("premium", "bool", required=True),
    InputField("country", "str", "store", online_key="geo.country"),
), ("user_id",))


def test_the_row_decoder_is_decode_for_one_request() -> None:
    decode = SCHEMA.row_decoder()
    requests = [
        ({"u.views": 3, "u.spend": 2.5, "geo.country": "DE"}, {"device": "ios", "premium": "yes"}),
        ({}, {"premium": 0}),
        ({"u.views": None, "u.spend": float("nan"), "geo.country": None}, {"device": None, "premium": False, "x": 1}),
    ]
    for store, session in requests:
        row = {**{f.name: store.get(f.online_key) for f in SCHEMA.store_fields},
               **{k: v for k, v in session.items() if k in SCHEMA.names}}
        frame = SCHEMA.decode(row)
        got = decode(store, session)
        assert list(got) == SCHEMA.names
        assert all(_same(got[c], frame[c].iloc[0]) for c in SCHEMA.names), (got, frame)
    with pytest.raises(ValidationError, match="missing required session feature 'premium' \\(bool\\)") as err:
        decode({}, {"device": "ios"})
    assert err.value.details == {"field": "premium"}
    with pytest.raises(ValidationError, match="missing required session feature 'premium'"):
        SCHEMA.decode({"device": "ios"})


@pytest.mark.parametrize("post, raw", [
    (Postprocess("threshold", threshold=0.5, classes=(0, 1)), np.array([0.5, np.nextafter(0.5, 0), 0.0, 1.0])),
    (Postprocess("threshold", threshold=0.3, classes=("no", "yes")), np.array([0.3, 0.2999], dtype=np.float32)),
    (Postprocess("classes", classes=(3, 1, 2), top_k=2, id_map={"1": "one"}),
     np.array([[0.2, 0.4, 0.4], [0.1, 0.1, 0.8], [1 / 3, 1 / 3, 1 / 3]])),
    (Postprocess("classes", classes=("a", "b", "c")), np.array([[0.2, 0.5, 0.3]])),
    (Postprocess("value"), np.array([1.5, -0.0, np.nan], dtype=np.float32)),
    (Postprocess("segments", segments=("light", "heavy")), np.array([0, 1, 2], dtype=np.int32)),
])
def test_a_rows_output_is_its_row_of_the_frame(post: Postprocess, raw: np.ndarray) -> None:
    frame, one = post.apply(raw), post.row_function()
    for k in range(len(raw)):
        got = one(raw[k])
        assert list(got) == post.columns
        expected = {c: plain(frame[c].iloc[k]) if c != "top_k" else frame[c].iloc[k] for c in post.columns}
        assert all(_same(got[c], expected[c]) for c in post.columns), (got, expected)


def _data(n: int = 240) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    views = rng.poisson(4, n).astype(float)
    views[rng.random(n) < 0.2] = np.nan
    return pd.DataFrame({
        "u__views": views, "device": rng.choice(["ios", "web", "tv"], n).astype(object),
        "u__spend": rng.gamma(2, 3, n), "premium": rng.random(n) < 0.3, "country": rng.choice(["DE", "US"], n),
    })


def _pipeline(task: str, model: Any, steps: list[dict[str, Any]], post: Postprocess, y: Any = None) -> ModelPipeline:
    data = _data()
    decoded = SCHEMA.decode(data)
    t = fit(steps, decoded)
    x = t.transform_pandas(decoded)
    columns = [str(c) for c in x.columns]
    target = y(data) if y is not None else None
    model.fit(x[columns].to_numpy(dtype=np.float64), *([] if target is None else [target]))
    return ModelPipeline(SCHEMA, t, model, post, task=task, model_columns=columns, kind=type(model).__name__)


STEPS = [fill_missing(["u__views", "u__spend"], "median"), scale(["u__views", "u__spend"]), one_hot("device"), one_hot("country")]


def _cases() -> list[tuple[str, ModelPipeline]]:
    from sklearn.cluster import KMeans
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LinearRegression, LogisticRegression

    def spend(d: pd.DataFrame) -> np.ndarray:
        return d["u__spend"].to_numpy() * 2.0

    def bought(d: pd.DataFrame) -> np.ndarray:
        return (d["u__spend"] > 5).to_numpy().astype(int)

    def kind(d: pd.DataFrame) -> np.ndarray:
        return np.where(d["u__spend"] > 7, 2, np.where(d["u__spend"] > 3, 1, 0))

    def doubled(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.assign(u__spend=frame["u__spend"] * 2.0)

    return [
        ("regression", _pipeline("regression", LinearRegression(), STEPS, Postprocess("value"), spend)),
        ("clustering", _pipeline("clustering", KMeans(3, n_init=2, random_state=0), STEPS,
                                 Postprocess("segments", segments=("a", "b")))),
        ("threshold", _pipeline("classification", LogisticRegression(), STEPS,
                                Postprocess("threshold", classes=(0, 1)), bought)),
        ("classes", _pipeline("classification", RandomForestClassifier(10, random_state=0, n_jobs=1), STEPS,
                              Postprocess("classes", classes=(0, 1, 2), top_k=2), kind)),
        ("function", _pipeline("regression", LinearRegression(), STEPS[:2] + [function(doubled)] + STEPS[2:],
                               Postprocess("value"), spend)),
    ]


def test_the_row_predictor_answers_what_predict_answers_for_every_task() -> None:
    rows = _data(40).assign(u__spend=lambda d: d["u__spend"].where(d.index % 9 != 4))  # some store values missing
    rows.loc[5, "device"] = "unseen"
    records = rows.to_dict("records")
    for name, pipeline in _cases():
        fast = RowPredictor(pipeline)
        assert fast.compiled == (name != "function"), name
        assert not fast.rows_independent  # no trees scored without their wrapper here: one row at a time
        decoded = []
        for i, r in enumerate(records):
            store = {f.online_key: r[f.name] for f in SCHEMA.store_fields}
            session = {f.name: r[f.name] for f in SCHEMA.session_fields}
            decoded.append(fast.decode(store, session))
            got = fast.predict(store, session)
            one = pipeline.predict(rows.iloc[[i]])
            expected = {c: plain(one[c].iloc[0]) if c != "top_k" else one[c].iloc[0] for c in one.columns}
            assert got == expected, (name, i)
        assert fast.predict_rows(decoded) == [fast.predict_decoded(r) for r in decoded]
        online = pipeline.predict_online([{f.online_key: r[f.name] for f in SCHEMA.store_fields} for r in records],
                                         [{f.name: r[f.name] for f in SCHEMA.session_fields} for r in records])
        pd.testing.assert_frame_equal(online, pipeline.predict(rows), check_exact=False, rtol=1e-12)


def test_predict_online_names_the_row_of_a_bad_value() -> None:
    pipeline = _cases()[0][1]
    with pytest.raises(ValidationError, match=r"^row 1: session feature 'premium' must be true or false") as err:
        pipeline.predict_online([{}, {}], [{"premium": True}, {"premium": "maybe"}])
    assert err.value.details == {"field": "premium", "row": 1}
    with pytest.raises(ValidationError, match="2 store rows but 1 session rows"):
        pipeline.predict_online([{}, {}], [{}])
