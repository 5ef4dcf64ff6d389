"""The traffic simulator's pure parts and metric definitions: effects parsed, the same seed gives the same
users, the planted uplift shows in a large sample, bad definitions refused."""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from mlplat.errors import ValidationError
from mlplat.outcomes import MetricSpec
from mlplat.outcomes.simulate import Effect, SimConfig, parse_effects, plan, respond

T0 = datetime(2026, 3, 2, tzinfo=timezone.utc)


def test_effects_parse_per_arm_and_bad_ones_are_named() -> None:
    assert parse_effects(["b=+0.02", "b:revenue=0.1", "c=-0.01"]) == {"b": Effect(0.02, 0.1), "c": Effect(-0.01, 0.0)}
    for bad in ("b", "b=two", "b:price=0.1", "b:revenue=-1.5"):
        with pytest.raises(ValidationError, match="--effect"):
            parse_effects([bad])


def test_the_same_seed_gives_the_same_traffic_and_the_planted_uplift_shows() -> None:
    cfg = SimConfig("x", users=40_000, hours=24, start=T0, seed=5, effects={"b": Effect(0.03)})
    first, again = plan(cfg), plan(cfg)
    assert np.array_equal(first.session_us, again.session_us) and first.sessions >= cfg.users
    arms = np.array(["a", "b"])[first.session_user % 2]  # a user's sessions share an arm
    ids = [f"p{i}" for i in range(first.sessions)]
    out = respond(cfg, first, arms.tolist(), ids)
    assert out.sessions.num_rows == first.sessions
    bought = out.purchases.filter(out.purchases["prediction_id"].is_valid()).column("user_id").to_pylist()
    buyers = {int(u.removeprefix("sim-u")) for u in bought}
    rate = {arm: np.mean([u in buyers for u in range(cfg.users) if u % 2 == k]) for k, arm in enumerate("ab")}
    assert rate["a"] == pytest.approx(0.10, abs=0.01) and rate["b"] - rate["a"] == pytest.approx(0.03, abs=0.01)
    assert respond(cfg, first, arms.tolist(), ids).purchases.equals(out.purchases)


def test_metric_definitions_refuse_bad_fields() -> None:
    with pytest.raises(ValidationError, match="kind"):
        MetricSpec("m", "median", "SELECT 1")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="window_hours"):
        MetricSpec("m", "mean", "SELECT 1", window_hours=0)
    with pytest.raises(ValidationError, match="name"):
        MetricSpec("Bad Name", "mean", "SELECT 1")
    with pytest.raises(ValidationError, match="denominator_sql"):
        MetricSpec("m", "mean", "SELECT 1", denominator_sql="SELECT 2")
    spec = MetricSpec("m", "ratio", "SELECT 1", denominator_sql="SELECT 2", join="entity")
    assert MetricSpec.from_json(spec.to_json()) == spec and spec.key == "entity_id"
