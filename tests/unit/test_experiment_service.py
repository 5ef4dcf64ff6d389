"""The Experiment Manager's verbs on SQLite: authorization, validation before writing, lifecycle, phases, layers,
results and the bandit update.

The Model Repository, the outcomes' statistics and the change channel come in through the service's ports; here
they are small in-memory implementations of those protocols holding known data (the integration test runs the
real MLflow, Spark job and Redis).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
import pytest

from mlplat.errors import ConflictError, NotFoundError, PermissionDenied, ValidationError
from mlplat.experiments.live import CHANGES_CHANNEL
from mlplat.experiments.service import ExperimentService
from mlplat.identity import Identity
from mlplat.metadata import Database

OWNER = Identity("alice", ("growth",))
OTHER = Identity("bob", ("search",))
ADMIN = Identity("admin", admin=True)


class Catalog:
    """Models with versions and aliases, answering as the Model Repository does."""

    def __init__(self) -> None:
        self.models = {"churn": {"versions": [1, 2, 3], "aliases": {"production": 2, "candidate": 3}},
                       "plain": {"versions": [1], "aliases": {}}}
        self.tags: dict[tuple[str, int], dict[str, str]] = {}

    def resolve(self, name: str, version: Any = None, alias: str | None = None, prefer: str | None = None) -> int:
        if name not in self.models:
            raise NotFoundError(f"no model named {name!r}", model=name)
        if alias:
            if alias not in self.models[name]["aliases"]:
                raise NotFoundError(f"model {name!r} has no alias {alias!r}", model=name)
            return int(self.models[name]["aliases"][alias])
        return int(version) if version is not None else max(self.models[name]["versions"])

    def version(self, name: str, version: int) -> Any:
        if version not in self.models[name]["versions"]:
            raise NotFoundError(f"model {name!r} has no version {version}", model=name)
        return {"name": name, "version": version}

    def set_version_tag(self, name: str, version: int, key: str, value: str) -> None:
        self.tags.setdefault((name, version), {})[key] = value


class Metrics:
    kinds = {"purchase": "binary", "revenue": "mean"}

    def metric_kind(self, name: str) -> str:
        if name not in self.kinds:
            raise NotFoundError(f"no metric named {name!r}", metric=name)
        return self.kinds[name]


class Stats:
    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def read_stats(self, experiment: str) -> Sequence[Mapping[str, Any]]:
        return [r for r in self.rows if r["experiment"] == experiment]

    def refresh(self, experiments: Sequence[str], metrics: Sequence[str], since: Any, until: Any) -> int:
        self.refreshed = (list(experiments), list(metrics), since, until)
        return 7


class Channel:
    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []

    def publish(self, channel: str, message: str) -> None:
        self.messages.append((channel, message))


@pytest.fixture
def world(tmp_path) -> Any:  # type: ignore[no-untyped-def]
    db = Database(f"sqlite:///{tmp_path / 'x.db'}")
    db.migrate()
    catalog, stats, channel = Catalog(), Stats(), Channel()
    service = ExperimentService(db, lambda: catalog, lambda: stats, lambda: Metrics(), channel)
    yield service, catalog, stats, channel
    db.dispose()


def definition(**changes: Any) -> dict[str, Any]:
    return {"name": "button", "team": "growth", "primary_metric": "purchase", "guardrail_metrics": ["revenue"],
            "arms": [{"name": "control", "model": "churn"}, {"name": "new", "model": "churn@candidate"}], **changes}


def test_only_the_owner_team_or_an_admin_writes_and_nothing_is_saved_when_refused(world) -> None:  # type: ignore[no-untyped-def]
    service, _, _, _ = world
    with pytest.raises(PermissionDenied, match="growth"):
        service.create(OTHER, definition())
    assert service.list(OTHER) == []
    service.create(OWNER, definition())
    for verb in (lambda c: service.start(c, "button"), lambda c: service.stop(c, "button"),
                 lambda c: service.conclude(c, "button"), lambda c: service.change(c, "button", {"coverage": 0.5})):
        with pytest.raises(PermissionDenied):
            verb(OTHER)
    assert service.show(OTHER, "button").status == "draft"  # everyone reads
    assert service.start(ADMIN, "button").status == "running"


@pytest.mark.parametrize("changes, words", [
    ({"arms": [{"name": "control", "model": "nope"}, {"name": "b", "model": "churn"}]}, "arm 'control': no model"),
    ({"arms": [{"name": "control", "model": "plain"}, {"name": "b", "model": "churn"}]}, "no alias 'production'"),
    ({"arms": [{"name": "control", "model": "churn"}, {"name": "b", "model": "churn/9"}]}, "no version 9"),
    ({"guardrail_metrics": ["clicks"]}, "metric 'clicks'"),
    ({"weights": [0.7, 0.7]}, "sum to 1"),
])
def test_bad_definitions_name_the_culprit_and_save_nothing(world, changes: dict[str, Any], words: str) -> None:  # type: ignore[no-untyped-def]
    service, _, _, channel = world
    with pytest.raises(ValidationError, match=words):
        service.create(OWNER, definition(**changes))
    assert service.list(OWNER) == [] and channel.messages == []


def test_the_lifecycle_is_recorded_and_published_and_tags_the_versions(world) -> None:  # type: ignore[no-untyped-def]
    service, catalog, _, channel = world
    service.create(OWNER, definition())
    with pytest.raises(ConflictError, match="exists already"):
        service.create(OWNER, definition())
    with pytest.raises(ConflictError, match="only a running"):
        service.stop(OWNER, "button")
    service.start(OWNER, "button", reason="go")
    assert [e.name for e in service.live()] == ["button"] and service.live()[0].running
    stopped = service.stop(OWNER, "button", reason="guardrail breach")
    live = service.live()[0]
    assert live.status == "stopped" and live.assign("u1").arm is None  # everyone gets control
    done = service.conclude(OWNER, "button", winner="control", reason="no lift")
    assert service.live() == [] and done.conclusion == {"winner": "control", "reason": "no lift", "by": "alice"}
    assert [(h.from_status, h.to_status, h.by, h.reason) for h in done.history] == [
        (None, "draft", "alice", "created"), ("draft", "running", "alice", "go"),
        ("running", "stopped", "alice", "guardrail breach"), ("stopped", "concluded", "alice", "no lift")]
    assert stopped.ended_at is not None and done.started_at is not None
    assert channel.messages.count((CHANGES_CHANNEL, "button")) == 4
    assert catalog.tags[("churn", 2)]["mlplat.experiment.button"] == "control: concluded, phase 1"
    assert catalog.tags[("churn", 3)]["mlplat.experiment.button"] == "new: concluded, phase 1"
    with pytest.raises(ValidationError, match="not an arm"):
        service.create(OWNER, definition(name="b2")) and service.conclude(OWNER, "b2", winner="nobody")
    with pytest.raises(NotFoundError, match="did you mean 'button'"):
        service.show(OWNER, "buton")


def test_a_new_split_starts_a_new_phase_and_lower_coverage_moves_nobody(world) -> None:  # type: ignore[no-untyped-def]
    service, _, _, _ = world
    service.create(OWNER, definition())
    draft = service.change(OWNER, "button", {"weights": [0.8, 0.2]})
    assert draft.phase == 1 and draft.phases[0].weights == [0.8, 0.2]  # a draft's only phase is edited in place
    service.start(OWNER, "button")
    before = service.live()[0]
    lowered = service.change(OWNER, "button", {"coverage": 0.4})
    assert lowered.phase == 2 and lowered.phases[0].ended_at is not None and lowered.phases[1].started_at
    after = service.live()[0]
    ids = [f"user{i}" for i in range(3000)]
    moved = [u for u in ids if after.assign(u).arm is not None and after.assign(u).arm != before.assign(u).arm]
    dropped = sum(1 for u in ids if before.assign(u).arm is not None and after.assign(u).arm is None)
    assert moved == [] and 1500 < dropped < 2100  # 60% leave the test, nobody switches arm
    same_seed = service.change(OWNER, "button", {"weights": [0.5, 0.5]})
    assert same_seed.phases[-1].seed == "button"
    reseeded = service.change(OWNER, "button", {}, reseed=True)
    assert reseeded.phase == 4 and reseeded.phases[-1].seed == "button:phase4"
    assert service.change(OWNER, "button", {"description": "why"}).phase == 4  # no new split, no new phase
    with pytest.raises(ValidationError, match="cannot be changed"):
        service.change(OWNER, "button", {"team": "search"})


def test_experiments_in_one_layer_take_disjoint_slices(world) -> None:  # type: ignore[no-untyped-def]
    service, _, _, _ = world
    service.create(OWNER, definition(layer={"name": "home", "start": 0.0, "end": 0.5}))
    with pytest.raises(ConflictError, match="overlaps experiment 'button'"):
        service.create(OWNER, definition(name="other", layer={"name": "home", "start": 0.4, "end": 0.9}))
    service.create(OWNER, definition(name="other", layer={"name": "home", "start": 0.5, "end": 0.9}))
    (layer,) = service.layers(OWNER)
    assert [(s.experiment, s.start, s.end) for s in layer.slices] == [("button", 0.0, 0.5), ("other", 0.5, 0.9)]
    assert layer.free == [(0.9, 1.0)]
    service.conclude(OWNER, "button")  # a concluded experiment gives its slice back
    service.create(OWNER, definition(name="third", layer={"name": "home", "start": 0.1, "end": 0.3}))


def rows(experiment: str, p: Sequence[float], n: int, days: int, seed: int, phase: int = 1,
         arms: Sequence[str] = ("control", "new")) -> list[dict[str, Any]]:
    """Per-arm, per-day statistics of a conversion metric with rates ``p`` and of revenue (mean 10, sd 3)."""
    rng = np.random.default_rng(seed)
    out = []
    for day in range(days):
        for arm, rate in zip(arms, p):
            y = (rng.random(n) < rate).astype(float)
            x = rng.normal(10, 3, n)
            r = x + rng.normal(0, 1, n)
            out.append({"experiment": experiment, "phase": phase, "arm": arm, "day": f"2026-11-{day + 1:02d}",
                        "metric": "purchase", "n": n, "sum": y.sum(), "sum_sq": (y * y).sum()})
            out.append({"experiment": experiment, "phase": phase, "arm": arm, "day": f"2026-11-{day + 1:02d}",
                        "metric": "revenue", "n": n, "sum": r.sum(), "sum_sq": (r * r).sum(), "pre_n": n,
                        "pre_sum": x.sum(), "pre_sum_sq": (x * x).sum(), "sum_x_pre": (x * r).sum()})
    return out


def test_results_say_no_data_then_find_a_planted_effect_with_cuped_and_holm(world) -> None:  # type: ignore[no-untyped-def]
    service, _, stats, _ = world
    service.create(OWNER, definition(min_sample=1000))
    empty = service.results(OTHER, "button")
    assert empty["data"] is False and empty["reason"].startswith("no data") and empty["frequentist"] is None
    stats.rows = rows("button", (0.10, 0.13), 1000, 7, seed=1)
    result = service.results(OTHER, "button")
    assert result["trustworthy"] and result["srm"]["p_value"] > 0.001 and result["min_sample_reached"]
    by_metric = {c["metric"]: c for c in result["frequentist"]["comparisons"]}
    assert by_metric["purchase"]["significant"] and 0.02 < by_metric["purchase"]["diff"] < 0.04
    assert by_metric["revenue"]["test"] == "welch_cuped" and by_metric["revenue"]["cuped"]["variance_factor"] < 0.2
    assert not by_metric["revenue"]["significant"]
    assert result["frequentist"]["correction"] == "holm"
    assert len(result["timeline"]) == 14 and result["days"][-1] == "2026-11-07"


def test_a_sample_ratio_mismatch_is_flagged_above_every_number(world) -> None:  # type: ignore[no-untyped-def]
    service, _, stats, _ = world
    service.create(OWNER, definition())
    stats.rows = [r if r["arm"] == "control" else {**r, "n": int(r["n"] * 0.9),
                                                   "sum": round(r["sum"] * 0.9), "sum_sq": round(r["sum"] * 0.9)}
                  for r in rows("button", (0.1, 0.1), 2000, 3, seed=2) if r["metric"] == "purchase"]
    result = service.results(OWNER, "button")
    assert result["trustworthy"] is False and result["srm"]["untrustworthy"]
    assert result["warning"].startswith("sample ratio mismatch")


def test_sequential_and_bayesian_results(world) -> None:  # type: ignore[no-untyped-def]
    service, _, stats, _ = world
    service.create(OWNER, definition(analysis="sequential", min_sample=5000))
    service.create(OWNER, definition(name="bayes", analysis="bayesian"))
    stats.rows = rows("button", (0.10, 0.14), 1000, 5, seed=3) + rows("bayes", (0.10, 0.14), 1000, 5, seed=3)
    seq = service.results(OWNER, "button")["sequential"]
    purchase = next(s for s in seq if s["metric"] == "purchase")
    assert len(purchase["looks"]) == 5 and purchase["significant"] and purchase["ci"][0] > 0
    bayes = service.results(OWNER, "bayes")["bayesian"]
    beta = next(b for b in bayes if b["model"] == "beta_binomial")
    assert beta["comparisons"][0]["chance_to_beat_control"] > 0.99
    assert next(b for b in bayes if b["model"] == "gaussian")["decision"] is not None


def test_the_bandit_update_follows_the_evidence_and_keeps_its_history(world) -> None:  # type: ignore[no-untyped-def]
    service, _, stats, channel = world
    arms = [{"name": "a", "model": "churn"}, {"name": "b", "model": "churn/1"}, {"name": "c", "model": "churn/3"}]
    service.create(OWNER, definition(arms=arms, guardrail_metrics=[], analysis="bandit",
                                     bandit={"burn_in": 500, "min_weight": 0.05}))
    with pytest.raises(ConflictError, match="only a running bandit"):
        service.bandit_update(OWNER, "button")
    service.start(OWNER, "button")
    stats.rows = rows("button", (0.1, 0.1, 0.1), 100, 1, seed=4, arms=("a", "b", "c"))
    first = service.bandit_update(OWNER, "button")
    assert first.stage == "burn_in" and first.weights == pytest.approx([1 / 3] * 3)
    stats.rows = rows("button", (0.05, 0.05, 0.15), 1000, 3, seed=5, arms=("a", "b", "c"))
    second = service.bandit_update(OWNER, "button")
    assert second.stage == "thompson" and second.weights[2] > 0.85 and min(second.weights) >= 0.05 - 1e-12
    assert service.live()[0].assignment.weights == pytest.approx(second.weights) and service.live()[0].sticky
    assert service.show(OWNER, "button").phase == 1  # bandit updates stay within the phase
    assert [u.stage for u in service.weights(OWNER, "button")] == ["burn_in", "thompson"]
    result = service.results(OWNER, "button")
    assert len(result["bandit"]["history"]) == 2 and result["bayesian"][0]["chance_to_be_best"][2] > 0.99
    assert channel.messages[-1] == (CHANGES_CHANNEL, "button")
    with pytest.raises(PermissionDenied):
        service.bandit_update(OTHER, "button")


def test_refresh_recomputes_the_current_phase_for_its_owner_or_every_running_one_for_an_admin(world) -> None:  # type: ignore[no-untyped-def]
    service, _, stats, _ = world
    service.create(OWNER, definition())
    started = service.start(OWNER, "button")
    done = service.refresh(OWNER, "button", until="2099-01-01")
    assert done["rows"] == 7 and stats.refreshed[:2] == (["button"], ["purchase", "revenue"])
    assert stats.refreshed[2].isoformat() == started.phases[0].started_at
    with pytest.raises(PermissionDenied):
        service.refresh(OTHER, "button")
    with pytest.raises(PermissionDenied, match="admin"):
        service.refresh(OWNER)
    assert service.refresh(ADMIN, until="2099-01-01")["experiments"] == ["button"]
    with pytest.raises(ValidationError, match="ISO"):
        service.refresh(OWNER, "button", since="yesterday")
