"""The Experiment Manager's verbs on SQLite: authorization, validation before writing, lifecycle, phases, layers,
results and the bandit update.

The Model Repository, the outcomes' statistics and the change channel come in through the service's ports; here
they are small in-memory implementations of those protocols holding known data (the integration test runs the
real MLflow, Spark job and Redis).
"""

from __future__ import annotations

from typing import Any

import pytest
from experiments_support import ADMIN, OTHER, OWNER, definition, make_world, rows

from mlplat.errors import ConflictError, NotFoundError, PermissionDenied, ValidationError
from mlplat.experiments.live import CHANGES_CHANNEL


@pytest.fixture
def world(tmp_path) -> Any:  # type: ignore[no-untyped-def]
    found = make_world(tmp_path / "x.db")
    yield found
    found[0].store.db.dispose()


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
