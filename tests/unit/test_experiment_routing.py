"""A worker's live experiments: which version answers each unit, what a stop changes, and what it loads.

The feed and the model loader are the ports' own test doubles (a dict of live experiments, a dict of
pipelines); the assignment they route by is the real pure function.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlplat.errors import NotFoundError, ServiceUnavailable, ValidationError
from mlplat.experiments.live import LiveExperiment
from mlplat.serving.core import Served
from mlplat.serving.experiments import LiveExperiments, Route, Unit, unit_of


def _served(model: str, version: int) -> Served:
    return Served(model, version, None, None, ("user_id",), "user_id", ())  # type: ignore[arg-type]


class DictFeed:
    """The ExperimentFeed port over a dict (name -> the experiment's JSON)."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, Any]] = {}
        self.reads = 0

    def live(self) -> list[LiveExperiment]:
        self.reads += 1
        return [LiveExperiment.from_json(json.loads(json.dumps(r))) for r in self.rows.values()]


class DictLoader:
    """The ModelLoader port over a dict of registered versions; counts loads."""

    def __init__(self, versions: dict[str, list[int]], aliases: dict[tuple[str, str], int]) -> None:
        self.versions, self.aliases = versions, aliases
        self.loads: list[tuple[str, int]] = []

    def load_pipeline(self, name: str, version: int | None = None, alias: str | None = None) -> tuple[int, Any]:
        if name not in self.versions or version not in self.versions[name]:
            raise NotFoundError(f"model {name!r} has no version {version}")
        self.loads.append((name, version))
        return version, f"pipeline {name} v{version}"

    def alias_version(self, name: str, alias: str) -> int | None:
        return self.aliases.get((name, alias))

    def detail(self, name: str, version: int | None = None, alias: str | None = None) -> Any:
        raise AssertionError("routing never reads details")


def experiment(name: str = "exp", status: str = "running", arms: tuple[str, str] = ("ranker", "ranker/2"),
               weights: tuple[float, float] = (0.5, 0.5), coverage: float = 1.0, sticky: bool = False,
               targeting: dict[str, Any] | None = None, phase: int = 1) -> dict[str, Any]:
    return {"name": name, "team": "growth", "phase": phase, "status": status,
            "arms": [{"name": "control", "model": arms[0]}, {"name": "treatment", "model": arms[1]}],
            "assignment": {"seed": name, "weights": list(weights), "coverage": coverage,
                           "targeting": targeting or {}},
            "hash_attribute": "user_id", "sticky": sticky}


@pytest.fixture
def world() -> tuple[DictFeed, DictLoader, dict[str, Served], LiveExperiments]:
    feed = DictFeed()
    loader = DictLoader({"ranker": [1, 2, 3]}, {("ranker", "production"): 1, ("ranker", "candidate"): 3})
    deployed = {"ranker": _served("ranker", 1)}
    live = LiveExperiments(feed, lambda: loader, lambda: deployed, lambda m, v, p, o: _served(m, v))
    return feed, loader, deployed, live


USERS = [f"u{i}" for i in range(400)]


def test_each_unit_gets_the_arm_the_pure_function_gives_and_that_arms_version(world) -> None:  # type: ignore[no-untyped-def]
    feed, loader, deployed, live = world
    feed.rows["exp"] = experiment()
    live.refresh()
    assert loader.loads == [("ranker", 2)]  # control follows the deployed version: nothing to load
    exp = LiveExperiment.from_json(feed.rows["exp"])
    routes = live.route("exp", [Unit(u, {}) for u in USERS])
    for user, route in zip(USERS, routes):
        assert isinstance(route, Route)
        want = exp.assign(user).arm
        assert route.arm == exp.arms[want].name
        assert (route.served.model, route.served.version) == ("ranker", 1 if want == 0 else 2)
        assert (route.experiment, route.phase) == ("exp", 1)
    assert 150 < sum(r.arm == "treatment" for r in routes) < 250  # type: ignore[union-attr]
    assert all(r.served is deployed["ranker"] for r in routes if r.arm == "control")  # type: ignore[union-attr]


def test_outside_coverage_or_targeting_or_without_a_unit_is_control_with_arm_none(world) -> None:  # type: ignore[no-untyped-def]
    feed, _, _, live = world
    feed.rows["exp"] = experiment(coverage=0.2, targeting={"country": ["DE"]})
    live.refresh()
    german = live.route("exp", [Unit(u, {"country": "DE"}) for u in USERS])
    inside = [r for r in german if r.arm is not None]  # type: ignore[union-attr]
    assert 40 < len(inside) < 120  # about 20% coverage
    outside = [r for r in german if r.arm is None]  # type: ignore[union-attr]
    assert all(r.served.version == 1 for r in outside)  # type: ignore[union-attr]
    assert all(r.arm is None for r in live.route("exp", [Unit(u, {"country": "FR"}) for u in USERS]))  # type: ignore[union-attr]
    assert live.route("exp", [Unit(None, {"country": "DE"})])[0].arm is None  # type: ignore[union-attr]


def test_a_stop_is_one_read_and_sends_everyone_to_control(world) -> None:  # type: ignore[no-untyped-def]
    feed, loader, _, live = world
    feed.rows["exp"] = experiment()
    live.refresh()
    loads = list(loader.loads)
    feed.rows["exp"] = experiment(status="stopped")
    live.refresh(full=False)
    assert loader.loads == loads  # the arms did not change: nothing loaded
    routes = live.route("exp", [Unit(u, {}) for u in USERS])
    assert {(r.arm, r.served.version) for r in routes} == {(None, 1)}  # type: ignore[union-attr]
    assert live.health()["live"] == {"exp": {"status": "stopped", "phase": 1}}


def test_a_stopped_experiment_loads_only_control_and_restarting_loads_the_rest(world) -> None:  # type: ignore[no-untyped-def]
    feed, loader, _, live = world
    feed.rows["exp"] = experiment(status="stopped", arms=("ranker@candidate", "ranker/2"))
    live.refresh()
    assert loader.loads == [("ranker", 3)]
    feed.rows["exp"] = experiment(arms=("ranker@candidate", "ranker/2"))
    live.refresh(full=False)  # same arms, but now they all answer
    assert sorted(loader.loads) == [("ranker", 2), ("ranker", 3)]
    versions = {r.served.version for r in live.route("exp", [Unit(u, {}) for u in USERS])}  # type: ignore[union-attr]
    assert versions == {2, 3}


def test_an_unknown_experiment_is_404_and_a_removed_one_too(world) -> None:  # type: ignore[no-untyped-def]
    feed, _, _, live = world
    feed.rows["checkout"] = experiment("checkout")
    live.refresh()
    with pytest.raises(NotFoundError, match="did you mean 'checkout'"):
        live.route("checkou", [Unit("u1", {})])
    del feed.rows["checkout"]
    live.refresh(full=False)
    with pytest.raises(NotFoundError):
        live.get("checkout")


def test_an_arm_that_cannot_load_answers_503_and_shows_on_health(world) -> None:  # type: ignore[no-untyped-def]
    feed, _, _, live = world
    feed.rows["exp"] = experiment(arms=("ranker", "ranker/9"))
    live.refresh()
    assert "ranker/9" not in live.errors["exp"] and "no version 9" in live.errors["exp"]
    routes = live.route("exp", [Unit(u, {}) for u in USERS[:50]])
    assert any(isinstance(r, ServiceUnavailable) for r in routes)
    assert all(r.served.version == 1 for r in routes if isinstance(r, Route))


def test_a_model_arm_follows_the_deployed_version(world) -> None:  # type: ignore[no-untyped-def]
    feed, _, deployed, live = world
    feed.rows["exp"] = experiment(arms=("ranker", "ranker/2"), weights=(1.0, 0.0))
    live.refresh()
    deployed["ranker"] = _served("ranker", 3)  # a deploy: the core's served set changes
    assert {r.served.version for r in live.route("exp", [Unit(u, {}) for u in USERS])} == {3}  # type: ignore[union-attr]


def test_the_unit_comes_from_the_hash_attribute_then_entity_id_then_the_entity() -> None:
    exp = LiveExperiment.from_json(experiment())
    assert unit_of(exp, {"user_id": "a", "entity_id": "b", "entity": {"user_id": "c"}}).id == "a"
    assert unit_of(exp, {"entity_id": 7, "entity": {"user_id": "c"}}).id == "7"
    assert unit_of(exp, {"entity": {"user_id": "c"}, "features": {"country": "DE"}}).id == "c"
    unit = unit_of(exp, {"entity": {"user_id": "c"}, "features": {"country": "DE"}, "device": "ios"})
    assert [unit.attributes.get(k) for k in ("user_id", "country", "device", "app")] == ["c", "DE", "ios", None]
    mixed = unit_of(exp, {"country": "AT", "features": {"country": "DE"}, "entity": {"user_id": "c", "plan": "x"}})
    assert (mixed.attributes["country"], mixed.attributes["plan"]) == ("AT", "x")  # the body's own field wins
    assert unit_of(exp, {"features": {}}).id is None
    with pytest.raises(ValidationError, match="string or an integer"):
        unit_of(exp, {"user_id": ["a"]})


def test_both_predict_paths_reach_the_fast_path_and_nothing_else_does() -> None:
    from mlplat.services.inference.experiments import predict_target

    assert predict_target("/v1/predict/ranker") == ("ranker", None)
    assert predict_target("/v1/experiments/checkout/predict") == (None, "checkout")
    for other in ("/v1/experiments//predict", "/v1/experiments/a/b/predict", "/v1/experiments/checkout",
                  "/v1/models", "/healthz"):
        assert predict_target(other) is None


def test_a_stop_does_not_wait_for_another_experiments_pipeline_to_load(world) -> None:  # type: ignore[no-untyped-def]
    import threading

    feed, loader, _, live = world
    feed.rows["a"] = experiment("a")
    live.refresh()
    loading, release = threading.Event(), threading.Event()
    plain_load = loader.load_pipeline

    def slow_load(name: str, version: int | None = None, alias: str | None = None) -> tuple[int, Any]:
        loading.set()
        release.wait(30)
        return plain_load(name, version, alias)

    loader.load_pipeline = slow_load
    feed.rows["a"] = experiment("a", status="stopped")
    feed.rows["b"] = experiment("b", arms=("ranker", "ranker/3"))  # its new arm takes a while to load
    refresher = threading.Thread(target=live.refresh, kwargs={"full": False})
    refresher.start()
    try:
        assert loading.wait(30)
        assert all(r.arm is None for r in live.route("a", [Unit(u, {}) for u in USERS]))  # type: ignore[union-attr]
        with pytest.raises(NotFoundError):
            live.get("b")  # not served before its arms are loaded
    finally:
        release.set()
        refresher.join(30)
    assert {r.served.version for r in live.route("b", [Unit(u, {}) for u in USERS])} == {1, 3}  # type: ignore[union-attr]
