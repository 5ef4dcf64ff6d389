"""The simulator's session features: the union of the arms' declared inputs, drawn from a real Parquet example
set (one row per user, seeded), with defaults and neutral values where the set has nothing."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlplat.errors import ValidationError
from mlplat.outcomes.request_features import ArmInputs, SessionInput, draw, read_examples

DEVICE, VIEWS, PRICE = SessionInput("device", "str"), SessionInput("views", "int"), SessionInput("price", "float")


@pytest.fixture
def examples(tmp_path: Path) -> str:
    """A partitioned example set: device and views move together (ios views 1..9, android 100..109)."""
    for day, offset in (("2026-11-01", 0), ("2026-11-02", 10)):
        folder = tmp_path / "ex" / f"ds={day}"
        folder.mkdir(parents=True)
        rows = range(offset, offset + 10)
        pq.write_table(pa.table({
            "device": ["ios" if i % 2 else "android" for i in rows],
            "views": [i if i % 2 else 100 + i for i in rows],
            "price": [None if i == 3 else float(i) for i in rows],
            "purchased": [i % 3 == 0 for i in rows],
        }), folder / "part-0.parquet")
    return str(tmp_path / "ex")


def test_each_user_gets_one_drawn_row_of_the_union_of_the_arms_inputs(examples: str) -> None:
    arms = [ArmInputs("m", (DEVICE, VIEWS), examples), ArmInputs("m/2", (DEVICE, PRICE), examples)]
    got = draw(arms, users=200, seed=4)
    assert got.sources == {"device": "examples", "views": "examples", "price": "examples"}
    rows = [got(u) for u in range(200)]
    assert all(set(r) == {"device", "views", "price"} for r in rows)
    assert all(type(r["views"]) is int and type(r["price"]) is float and type(r["device"]) is str for r in rows)
    assert all((r["device"] == "ios") == (r["views"] < 100) for r in rows)  # whole rows, not columns apart
    assert {r["device"] for r in rows} == {"ios", "android"} and all(r["price"] == r["price"] for r in rows)
    assert [draw(arms, 200, seed=4)(u) for u in range(200)] == rows  # seeded
    assert [draw(arms, 200, seed=5)(u) for u in range(200)] != rows


def test_without_examples_a_field_gets_its_default_or_a_neutral_value(examples: str, tmp_path: Path) -> None:
    flag, country = SessionInput("returning", "bool"), SessionInput("country", "str", default="DE")
    got = draw([ArmInputs("a", (flag, country, VIEWS), None), ArmInputs("b", (VIEWS,), str(tmp_path / "gone"))], 3)
    assert got(0) == {"returning": False, "country": "DE", "views": 0}
    assert got.sources == {"returning": "neutral", "country": "default", "views": "neutral"}
    assert draw([ArmInputs("a", (), examples)], 2)(1) == {}


def test_conflicting_types_and_unknown_types_are_refused(examples: str) -> None:
    with pytest.raises(ValidationError, match="'views' is int for one arm and str"):
        draw([ArmInputs("a", (VIEWS,), examples), ArmInputs("b", (SessionInput("views", "str"),), examples)], 2)
    with pytest.raises(ValidationError, match="type 'date'"):
        SessionInput("day", "date")


def test_reading_an_example_set_keeps_only_the_columns_it_has(examples: str) -> None:
    table = read_examples(examples, ["views", "nope"])
    assert list(table) == ["views"] and len(table["views"]) == 20
