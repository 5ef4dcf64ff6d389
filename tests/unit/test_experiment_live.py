"""The live experiment's JSON is the contract between storage and serving: it round-trips and refuses bad rows."""

import json
from typing import Any

import pytest

from mlplat.errors import ValidationError
from mlplat.experiments import AssignmentSpec, LayerSlice, assign
from mlplat.experiments.live import CHANGES_CHANNEL, ExperimentFeed, LiveArm, LiveExperiment, parse_model_ref


def sample(**overrides: Any) -> dict[str, Any]:
    d: dict[str, Any] = {
        "name": "checkout-v2", "team": "growth", "phase": 2, "status": "running",
        "arms": [{"name": "control", "model": "ranker@production"}, {"name": "treatment", "model": "ranker/7"}],
        "assignment": {"seed": "checkout-v2-s1", "weights": [0.5, 0.5], "coverage": 0.8,
                       "layer": {"name": "checkout", "start": 0.0, "end": 0.5},
                       "targeting": {"country": ["DE", "AT"], "device": {"ne": "tv"}}, "hash_version": 2},
        "hash_attribute": "user_id", "sticky": True,
    }
    d.update(overrides)
    return d


def test_the_json_round_trips_through_text() -> None:
    exp = LiveExperiment.from_json(sample())
    text = json.dumps(exp.to_json())
    again = LiveExperiment.from_json(json.loads(text))
    assert again == exp
    assert again.to_json() == sample()
    assert again.arms == (LiveArm("control", "ranker@production"), LiveArm("treatment", "ranker/7"))
    assert again.assignment.layer == LayerSlice("checkout", 0.0, 0.5)
    assert again.control.name == "control"


def test_defaults_for_optional_fields() -> None:
    d = sample(sticky=False)
    d["assignment"] = {"seed": "s", "weights": [0.25, 0.75]}
    del d["sticky"]
    exp = LiveExperiment.from_json(d)
    assert exp.sticky is False and exp.assignment.coverage == 1.0 and exp.assignment.layer is None
    assert not exp.assignment.targeting and exp.assignment.hash_version == 2
    assert LiveExperiment.from_json(exp.to_json()) == exp


def test_assignment_is_the_pure_function_and_only_running_assigns() -> None:
    d = sample()
    d["assignment"] = {"seed": "s1", "weights": [0.5, 0.5]}
    exp = LiveExperiment.from_json(d)
    for uid in ("u1", "u2", "u3", "u42"):
        assert exp.assign(uid) == assign(AssignmentSpec("s1", (0.5, 0.5)), uid)
    for status in ("stopped", "concluded", "draft"):
        stopped = LiveExperiment.from_json(sample(status=status))
        got = stopped.assign("u1", {"country": "DE"})
        assert got.arm is None and got.reason == status


@pytest.mark.parametrize(
    ("ref", "parsed"),
    [("m", ("m", None, None)), ("m/3", ("m", 3, None)), ("m@production", ("m", None, "production")),
     ("my.model-x/12", ("my.model-x", 12, None))],
)
def test_model_references(ref: str, parsed: tuple[str, int | None, str | None]) -> None:
    assert parse_model_ref(ref) == parsed


@pytest.mark.parametrize("ref", ["", "m/0", "m/x", "m@", "m@latest", "@prod", "/3", "m:1", 3, None])
def test_bad_model_references_are_refused(ref: Any) -> None:
    with pytest.raises(ValidationError) as err:
        parse_model_ref(ref)
    assert err.value.details.get("field") == "model"


def _without(key: str) -> dict[str, Any]:
    d = sample()
    del d[key]
    return d


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (sample(status="paused"), "status must be one of"),
        (sample(phase=0), "phase must be a positive integer"),
        (sample(phase=True), "phase must be a positive integer"),
        (sample(name="bad name!"), "experiment name"),
        (sample(team=""), "owner team"),
        (sample(hash_attribute=""), "hash attribute"),
        (sample(sticky="yes"), "sticky must be"),
        (sample(arms=[{"name": "control", "model": "m"}]), "at least two arms"),
        (sample(arms=[{"name": "a", "model": "m"}, {"name": "a", "model": "n"}]), "unique"),
        (sample(arms=[{"name": "a", "model": "m"}, {"name": "b", "model": "n"}, {"name": "c", "model": "o"}]),
         "3 arms but 2 weights"),
        (sample(arms=[{"name": "a", "model": "m"}, {"name": "b"}]), "'model' is missing"),
        (sample(arms="a,b"), "arms must be a list"),
        (sample(assignment={"seed": "s", "weights": [0.6, 0.6]}), "weights must sum to 1"),
        (sample(assignment={"seed": "s", "weights": [0.5, 0.5], "coverage": 1.5}), "coverage must lie"),
        (sample(assignment={"weights": [0.5, 0.5]}), "'seed' is missing"),
        (sample(assignment={"seed": "s", "weights": [0.5, 0.5], "hash_version": 3}), "hash version"),
        (sample(assignment={"seed": "s", "weights": [0.5, 0.5], "layer": {"name": "l", "start": 0.5, "end": 0.2}}),
         "layer slice"),
        (sample(assignment={"seed": "s", "weights": [0.5, 0.5], "targeting": {"country": []}}), "non-empty list"),
        (_without("hash_attribute"), "'hash_attribute' is missing"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_bad_rows_are_refused_with_the_culprit(data: Any, words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        LiveExperiment.from_json(data)


def test_a_dict_backed_feed_satisfies_the_port() -> None:
    class DictFeed:
        def __init__(self) -> None:
            self.rows: dict[str, dict[str, Any]] = {"checkout-v2": sample()}

        def live(self) -> list[LiveExperiment]:
            return [LiveExperiment.from_json(r) for r in self.rows.values()]

    feed = DictFeed()
    assert isinstance(feed, ExperimentFeed)
    assert [e.name for e in feed.live()] == ["checkout-v2"]
    assert CHANGES_CHANNEL == "mlplat:experiments:changed"
