"""ExperimentSpec: a definition is validated as a whole, and each mistake names its field."""

from __future__ import annotations

from typing import Any

import pytest

from mlplat.errors import ValidationError
from mlplat.experiments.spec import ExperimentSpec, ModelRef


def definition(**changes: Any) -> dict[str, Any]:
    base = {"name": "checkout_button", "team": "growth", "primary_metric": "purchase",
            "arms": [{"name": "control", "model": "churn"}, {"name": "new", "model": "churn@candidate"}]}
    return {**base, **changes}


def test_defaults_fill_an_even_split_a_seed_and_the_unit_key() -> None:
    spec = ExperimentSpec.parse(definition())
    assert spec.weights == (0.5, 0.5)
    assert spec.seed == "checkout_button" and spec.hash_attribute == "user_id"
    assert spec.analysis == "frequentist" and spec.correction == "holm" and spec.bandit is None
    assert spec.arm_names == ("control", "new") and spec.metrics == ("purchase",)
    assert ExperimentSpec.parse(spec.to_dict()) == spec  # the stored form round-trips


def test_model_references_take_three_forms() -> None:
    assert ModelRef.parse("churn") == ModelRef("churn", alias="production")
    assert ModelRef.parse("churn@candidate") == ModelRef("churn", alias="candidate")
    assert ModelRef.parse("churn/3") == ModelRef("churn", version=3)
    assert [str(ModelRef.parse(t)) for t in ("churn", "churn@candidate", "churn/v3")] == \
        ["churn", "churn@candidate", "churn/3"]
    for bad in ("", "churn/0", "churn/x", "churn@", "a b"):
        with pytest.raises(ValidationError):
            ModelRef.parse(bad)


@pytest.mark.parametrize("changes, field, words", [
    ({"weights": [0.6, 0.6]}, "weights", "sum to 1"),
    ({"weights": [1.0]}, "weights", "one per arm"),
    ({"arms": [{"name": "control", "model": "churn"}]}, "arms", "at least two arms"),
    ({"arms": [{"name": "a", "model": "churn"}, {"name": "a", "model": "churn/2"}]}, "arms", "unique"),
    ({"arms": ["control=churn", "treat=churn/0"]}, "arms", "version number"),
    ({"coverage": 1.5}, "coverage", "coverage"),
    ({"analysis": "magic"}, "analysis", "frequentist"),
    ({"bandit": {"burn_in": 5}}, "bandit", "analysis: bandit"),
    ({"analysis": "bandit", "bandit": {"min_weight": 0.5}}, "bandit", "nothing to allocate"),
    ({"guardrail_metrics": ["purchase"]}, "guardrail_metrics", "once"),
    ({"layer": {"name": "home", "start": 0.5, "end": 0.4}}, "layer", "start < end"),
    ({"targeting": {"country": []}}, "country", "non-empty"),
    ({"name": "has space"}, "name", "not valid"),
    ({"colour": "red"}, "colour", "unknown experiment field"),
    ({"primary_metric": None}, "primary_metric", "needs"),
    ({"alpha": 0.9}, "alpha", "alpha"),
    ({"planned_days": 0}, "planned_days", "planned_days"),
])
def test_each_mistake_is_refused_naming_its_field(changes: dict[str, Any], field: str, words: str) -> None:
    with pytest.raises(ValidationError, match=words) as refused:
        ExperimentSpec.parse(definition(**changes))
    assert refused.value.details.get("field") == field


def test_arms_as_name_equals_ref_text_and_a_bandit_with_its_settings() -> None:
    spec = ExperimentSpec.parse(definition(arms=["control=churn", "b=churn/2", "c=other@shadow"], analysis="bandit",
                                           bandit={"burn_in": 50, "min_weight": 0.05}))
    assert [a.model for a in spec.arms] == ["churn", "churn/2", "other@shadow"]
    assert spec.bandit is not None and spec.bandit.burn_in == 50 and spec.bandit.min_weight == 0.05
    assert sum(spec.weights) == pytest.approx(1.0)


def test_the_assignment_of_a_spec_uses_its_seed_coverage_layer_and_targeting() -> None:
    spec = ExperimentSpec.parse(definition(coverage=0.5, layer={"name": "home", "start": 0.0, "end": 0.5},
                                           targeting={"country": ["DE", "AT"]}))
    a = spec.assignment()
    assert a.seed == "checkout_button" and a.coverage == 0.5 and a.layer is not None and a.layer.end == 0.5
    assert a.targeting.matches({"country": "DE"}) and not a.targeting.matches({"country": "US"})
    assert spec.assignment([0.9, 0.1]).weights == (0.9, 0.1)
    with pytest.raises(ValidationError, match="sum to 1"):
        spec.with_changes(weights=[0.2, 0.2])
