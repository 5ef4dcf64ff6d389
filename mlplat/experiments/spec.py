"""An experiment as data: what a team declares, checked before anything is saved.

A team writes an experiment once (name, hypothesis, arms, split, metrics,
analysis) and every surface passes the same dict. ``ExperimentSpec.parse``
turns it into a frozen, validated object or raises one ``ValidationError``
naming the field at fault, so a bad experiment never reaches the metadata
database nor the Inference Service. Whether each arm's model exists, and
whether each metric is defined, needs the Model Repository and the outcomes'
metric catalog: the service checks those through its ports.

Arms are Model Pipeline references: ``model`` (its ``production`` alias, what
the Inference Service serves), ``model@alias`` or ``model/3``. Control is the
first arm. The seed defaults to the experiment's name, so two experiments
never share a randomization by accident; re-randomizing means a new seed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from mlplat.errors import ValidationError
from mlplat.experiments.assignment import AssignmentSpec, LayerSlice, check_coverage, check_weights
from mlplat.experiments.bandits import BanditConfig
from mlplat.experiments.targeting import Targeting

ANALYSES = ("frequentist", "sequential", "bayesian", "bandit")
CORRECTIONS = ("holm", "bh", "none")
STATUSES = ("draft", "running", "stopped", "concluded")
NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_\-]{0,63}$")
_MODEL = re.compile(r"^[A-Za-z0-9_.\-]{1,200}$")
_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")
DEFAULT_ALIAS = "production"


def check_name(value: Any, what: str = "experiment name", field_name: str = "name") -> str:
    if not isinstance(value, str) or not NAME.match(value):
        raise ValidationError(f"{what} {value!r} is not valid: a letter, then letters, digits, '_' or '-' "
                              "(64 at most)", field=field_name)
    return value


@dataclass(frozen=True)
class ModelRef:
    """``model`` (its production alias), ``model@alias`` or ``model/version``."""

    model: str
    alias: str | None = None
    version: int | None = None

    @classmethod
    def parse(cls, text: Any, field_name: str = "arms") -> "ModelRef":
        if not isinstance(text, str) or not text.strip():
            raise ValidationError(f"a model reference must be text like 'm', 'm@alias' or 'm/3', got {text!r}",
                                  field=field_name)
        text = text.strip()
        if "@" in text:
            model, alias = text.split("@", 1)
            if not _ALIAS.match(alias):
                raise ValidationError(f"model reference {text!r}: {alias!r} is not an alias name", field=field_name)
            ref = cls(model, alias=alias)
        elif "/" in text:
            model, number = text.rsplit("/", 1)
            digits = number.lstrip("v")
            if not digits.isdigit() or int(digits) < 1:
                raise ValidationError(f"model reference {text!r}: {number!r} is not a version number",
                                      field=field_name)
            ref = cls(model, version=int(digits))
        else:
            ref = cls(text, alias=DEFAULT_ALIAS)
        if not _MODEL.match(ref.model):
            raise ValidationError(f"model reference {text!r}: {ref.model!r} is not a model name", field=field_name)
        return ref

    def __str__(self) -> str:
        if self.version is not None:
            return f"{self.model}/{self.version}"
        return self.model if self.alias == DEFAULT_ALIAS else f"{self.model}@{self.alias}"


@dataclass(frozen=True)
class Arm:
    """One arm: a name (unique in the experiment) and the Model Pipeline it serves."""

    name: str
    model: str  # a reference as the user wrote it, normalized by ModelRef

    @property
    def ref(self) -> ModelRef:
        return ModelRef.parse(self.model)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model}


def parse_arms(data: Any) -> tuple[Arm, ...]:
    """A list of ``{"name", "model"}`` objects (or ``"name=ref"`` texts), control first."""
    if not isinstance(data, (list, tuple)) or len(data) < 2:
        raise ValidationError("an experiment needs at least two arms (control first), e.g. "
                              "[{'name': 'control', 'model': 'churn'}, {'name': 'new', 'model': 'churn@candidate'}]",
                              field="arms")
    arms = []
    for i, item in enumerate(data):
        if isinstance(item, str) and "=" in item:
            name, model = item.split("=", 1)
        elif isinstance(item, Mapping) and set(item) <= {"name", "model"} and "model" in item:
            name, model = item.get("name", "control" if i == 0 else f"arm{i}"), item["model"]
        else:
            raise ValidationError(f"arm {i} must be {{'name': ..., 'model': ...}} or 'name=model_ref', got {item!r}",
                                  field="arms")
        check_name(name, f"arm {i}'s name", "arms")
        arms.append(Arm(name, str(ModelRef.parse(model))))
    names = [a.name for a in arms]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise ValidationError(f"arm names must be unique: {', '.join(duplicated)} appears twice", field="arms")
    return tuple(arms)


def parse_layer(data: Any) -> LayerSlice | None:
    if data is None or isinstance(data, LayerSlice):
        return data
    if not isinstance(data, Mapping) or set(data) != {"name", "start", "end"}:
        raise ValidationError(f"layer must be {{'name', 'start', 'end'}} (a slice [start, end) of the layer), "
                              f"got {data!r}", field="layer")
    check_name(data["name"], "layer name", "layer")
    return LayerSlice(data["name"], data["start"], data["end"])


def _positive_int(data: Mapping[str, Any], key: str, default: int) -> int:
    value = data.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValidationError(f"{key} must be a non-negative whole number, got {value!r}", field=key)
    return value


def _text(data: Mapping[str, Any], key: str, limit: int = 4000) -> str:
    value = data.get(key) or ""
    if not isinstance(value, str) or len(value) > limit:
        raise ValidationError(f"{key} must be text of at most {limit} characters", field=key)
    return value


@dataclass(frozen=True)
class ExperimentSpec:
    """Everything a team declares about one experiment (the live split is its current phase's)."""

    name: str
    team: str
    arms: tuple[Arm, ...]
    weights: tuple[float, ...]
    primary_metric: str
    description: str = ""
    hypothesis: str = ""
    coverage: float = 1.0
    hash_attribute: str = "user_id"
    seed: str = ""
    targeting: dict[str, Any] = field(default_factory=dict)
    layer: LayerSlice | None = None
    guardrail_metrics: tuple[str, ...] = ()
    analysis: str = "frequentist"
    bandit: BanditConfig | None = None
    alpha: float = 0.05
    correction: str = "holm"
    cuped: bool = True
    min_sample: int = 0  # units per arm before results are read as final
    planned_days: int = 14

    KEYS = ("name", "team", "arms", "weights", "primary_metric", "description", "hypothesis", "coverage",
            "hash_attribute", "seed", "targeting", "layer", "guardrail_metrics", "analysis", "bandit", "alpha",
            "correction", "cuped", "min_sample", "planned_days")

    @classmethod
    def parse(cls, data: Mapping[str, Any] | "ExperimentSpec") -> "ExperimentSpec":
        """Validate a definition (a dict as the CLI, the API and the magics pass it)."""
        if isinstance(data, ExperimentSpec):
            data = data.to_dict()
        if not isinstance(data, Mapping):
            raise ValidationError(f"an experiment definition must be an object, got {type(data).__name__}")
        unknown = sorted(set(data) - set(cls.KEYS))
        if unknown:
            raise ValidationError(f"unknown experiment field {unknown[0]!r}; fields: {', '.join(cls.KEYS)}",
                                  field=unknown[0])
        for key in ("name", "team", "arms", "primary_metric"):
            if data.get(key) in (None, "", []):
                raise ValidationError(f"an experiment needs {key!r}", field=key)
        name = check_name(data["name"])
        team = data["team"]
        if not isinstance(team, str):
            raise ValidationError(f"team must be a team name, got {team!r}", field="team")
        arms = parse_arms(data["arms"])
        weights = data.get("weights")
        if weights is None:
            weights = [1.0 / len(arms)] * len(arms)
        if not isinstance(weights, (list, tuple)) or len(weights) != len(arms):
            raise ValidationError(f"weights: one per arm ({len(arms)}), got {weights!r}", field="weights")
        weights = check_weights(weights)
        coverage = check_coverage(data.get("coverage", 1.0))
        hash_attribute = data.get("hash_attribute") or "user_id"
        check_name(hash_attribute, "hash_attribute", "hash_attribute")
        seed = data.get("seed") or name
        if not isinstance(seed, str) or len(seed) > 200:
            raise ValidationError(f"seed must be text (200 characters at most), got {seed!r}", field="seed")
        targeting = Targeting.parse(data.get("targeting") or None).to_dict()
        layer = parse_layer(data.get("layer"))
        primary = check_name(data["primary_metric"], "primary_metric", "primary_metric")
        guardrails = data.get("guardrail_metrics") or ()
        if not isinstance(guardrails, (list, tuple)):
            raise ValidationError(f"guardrail_metrics must be a list of metric names, got {guardrails!r}",
                                  field="guardrail_metrics")
        guardrails = tuple(check_name(g, "guardrail metric", "guardrail_metrics") for g in guardrails)
        if primary in guardrails or len(set(guardrails)) != len(guardrails):
            raise ValidationError("each metric appears once: the primary metric is not also a guardrail",
                                  field="guardrail_metrics")
        analysis = data.get("analysis") or "frequentist"
        if analysis not in ANALYSES:
            raise ValidationError(f"analysis must be one of {', '.join(ANALYSES)}, got {analysis!r}", field="analysis")
        bandit = _bandit(data.get("bandit"), analysis, len(arms))
        alpha = data.get("alpha", 0.05)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 < alpha < 0.5:
            raise ValidationError(f"alpha must lie in (0, 0.5), got {alpha!r}", field="alpha")
        correction = data.get("correction") or "holm"
        if correction not in CORRECTIONS:
            raise ValidationError(f"correction must be one of {', '.join(CORRECTIONS)}, got {correction!r}",
                                  field="correction")
        cuped = data.get("cuped", True)
        if not isinstance(cuped, bool):
            raise ValidationError(f"cuped must be true or false, got {cuped!r}", field="cuped")
        planned = _positive_int(data, "planned_days", 14)
        if planned < 1 or planned > 366:
            raise ValidationError(f"planned_days must lie in [1, 366], got {planned}", field="planned_days")
        return cls(name=name, team=team, arms=arms, weights=weights, primary_metric=primary,
                   description=_text(data, "description"), hypothesis=_text(data, "hypothesis"), coverage=coverage,
                   hash_attribute=hash_attribute, seed=seed, targeting=targeting, layer=layer,
                   guardrail_metrics=guardrails, analysis=analysis, bandit=bandit, alpha=float(alpha),
                   correction=correction, cuped=cuped, min_sample=_positive_int(data, "min_sample", 0),
                   planned_days=planned)

    # -- derived ---------------------------------------------------------------------
    @property
    def metrics(self) -> tuple[str, ...]:
        """Every metric, the primary first."""
        return (self.primary_metric, *self.guardrail_metrics)

    @property
    def arm_names(self) -> tuple[str, ...]:
        return tuple(a.name for a in self.arms)

    def assignment(self, weights: Sequence[float] | None = None) -> AssignmentSpec:
        return AssignmentSpec(seed=self.seed, weights=tuple(weights or self.weights), coverage=self.coverage,
                              layer=self.layer, targeting=Targeting.parse(self.targeting or None))

    def with_changes(self, **changes: Any) -> "ExperimentSpec":
        """A new spec with ``changes`` applied and validated as a whole."""
        return ExperimentSpec.parse({**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "team": self.team, "arms": [a.to_dict() for a in self.arms],
            "weights": list(self.weights), "primary_metric": self.primary_metric, "description": self.description,
            "hypothesis": self.hypothesis, "coverage": self.coverage, "hash_attribute": self.hash_attribute,
            "seed": self.seed, "targeting": dict(self.targeting),
            "layer": None if self.layer is None else {"name": self.layer.name, "start": self.layer.start,
                                                      "end": self.layer.end},
            "guardrail_metrics": list(self.guardrail_metrics), "analysis": self.analysis,
            "bandit": None if self.bandit is None else self.bandit.to_dict(), "alpha": self.alpha,
            "correction": self.correction, "cuped": self.cuped, "min_sample": self.min_sample,
            "planned_days": self.planned_days,
        }


def _bandit(data: Any, analysis: str, arms: int) -> BanditConfig | None:
    if analysis != "bandit":
        if data:
            raise ValidationError("bandit settings are for analysis: bandit", field="bandit")
        return None
    if data is None or isinstance(data, BanditConfig):
        config = data or BanditConfig()
    elif isinstance(data, Mapping) and set(data) <= {"prior", "burn_in", "min_weight"}:
        prior = data.get("prior", (1.0, 1.0))
        config = BanditConfig(prior=tuple(prior) if isinstance(prior, list) else prior,
                              burn_in=data.get("burn_in", 100), min_weight=data.get("min_weight", 0.01))
    else:
        raise ValidationError(f"bandit takes prior, burn_in and min_weight, got {data!r}", field="bandit")
    if config.min_weight * arms > 1 + 1e-12 or math.isclose(config.min_weight * arms, 1.0):
        raise ValidationError(f"bandit min_weight {config.min_weight} leaves nothing to allocate among {arms} arms",
                              field="bandit")
    return config


def new_seed(spec: ExperimentSpec, phase: int) -> str:
    """The seed a re-randomized phase gets when none is given."""
    return f"{spec.name}:phase{phase}"


__all__ = ["ANALYSES", "Arm", "CORRECTIONS", "DEFAULT_ALIAS", "ExperimentSpec", "ModelRef", "STATUSES", "check_name",
           "new_seed", "parse_arms", "parse_layer"]
