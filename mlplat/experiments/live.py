"""A live experiment as the Inference Service holds it: the one contract between storage and serving.

The experiments' storage (metadata DB, owned by the domain service) and the
Inference Service workers meet here and nowhere else. The service writes each
running or stopped experiment as a ``LiveExperiment`` (JSON, ``to_json``), the
workers read them through an ``ExperimentFeed`` and learn that one changed
from a message on ``CHANGES_CHANNEL`` (Redis pub/sub, the payload is the
experiment's name). Keeping it a small frozen value with a JSON form means a
worker never sees half an update, and a stored row that a newer writer
produced and this reader cannot understand fails loudly in ``from_json``
instead of serving the wrong arm.

Only ``status == "running"`` assigns: a stopped, concluded or draft experiment
serves control (arm None) for everyone, so a stop is just a new JSON value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping, Protocol, runtime_checkable

from mlplat.errors import ValidationError
from mlplat.experiments.assignment import Assignment, AssignmentSpec, LayerSlice, assign
from mlplat.experiments.targeting import Targeting

CHANGES_CHANNEL = "mlplat:experiments:changed"
STATUSES = ("draft", "running", "stopped", "concluded")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
_ATTRIBUTE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")
_ALIAS = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]*$")


def parse_model_ref(ref: Any) -> tuple[str, int | None, str | None]:
    """``"m"`` -> (m, None, None); ``"m/3"`` -> (m, 3, None); ``"m@prod"`` -> (m, None, "prod")."""
    if not isinstance(ref, str) or not ref.strip():
        raise ValidationError(f"an arm's model must be a Model Pipeline reference ('m', 'm@alias', 'm/3'), got {ref!r}",
                              field="model")
    name, version, alias = ref, None, None
    if "@" in ref:
        name, alias = ref.split("@", 1)
        if not _ALIAS.match(alias) or alias.lower() == "latest":
            raise ValidationError(f"model reference {ref!r}: alias {alias!r} is not valid", field="model")
    elif "/" in ref:
        name, text = ref.split("/", 1)
        if not text.isdigit() or int(text) < 1:
            raise ValidationError(f"model reference {ref!r}: the version must be a positive integer", field="model")
        version = int(text)
    if not name or len(name) > 200 or any(c in name for c in "/:%@"):
        raise ValidationError(f"model reference {ref!r}: model name {name!r} is not valid", field="model")
    return name, version, alias


@dataclass(frozen=True)
class LiveArm:
    """One arm: its name (what the prediction log's ``arm`` column holds) and the Model Pipeline it serves."""

    name: str
    model: str

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValidationError(f"arm name {self.name!r} is not valid: letters, digits, '_', '.', '-'", field="arms")
        parse_model_ref(self.model)

    @property
    def ref(self) -> tuple[str, int | None, str | None]:
        return parse_model_ref(self.model)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model}


def _layer_json(layer: LayerSlice | None) -> dict[str, Any] | None:
    return None if layer is None else {"name": layer.name, "start": layer.start, "end": layer.end}


def _require(d: Mapping[str, Any], key: str, where: str) -> Any:
    if key not in d:
        raise ValidationError(f"{where}: {key!r} is missing", field=key)
    return d[key]


@dataclass(frozen=True)
class LiveExperiment:
    """What every worker needs to assign and answer: arms (control first), the phase's assignment, the unit key."""

    name: str
    team: str
    phase: int
    status: str
    arms: tuple[LiveArm, ...]
    assignment: AssignmentSpec
    hash_attribute: str
    sticky: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValidationError(f"experiment name {self.name!r} is not valid: letters, digits, '_', '.', '-'",
                                  field="name")
        if not isinstance(self.team, str) or not self.team:
            raise ValidationError(f"experiment {self.name!r}: an owner team is required", field="team")
        if isinstance(self.phase, bool) or not isinstance(self.phase, int) or self.phase < 1:
            raise ValidationError(f"experiment {self.name!r}: phase must be a positive integer, got {self.phase!r}",
                                  field="phase")
        if self.status not in STATUSES:
            raise ValidationError(f"experiment {self.name!r}: status must be one of {', '.join(STATUSES)}, "
                                  f"got {self.status!r}", field="status")
        arms = tuple(self.arms)
        if len(arms) < 2 or not all(isinstance(a, LiveArm) for a in arms):
            raise ValidationError(f"experiment {self.name!r}: needs at least two arms (control first)", field="arms")
        names = [a.name for a in arms]
        if len(set(names)) != len(names):
            raise ValidationError(f"experiment {self.name!r}: arm names must be unique, got {names}", field="arms")
        object.__setattr__(self, "arms", arms)
        if not isinstance(self.assignment, AssignmentSpec):
            raise ValidationError(f"experiment {self.name!r}: assignment must be an AssignmentSpec", field="assignment")
        if len(self.assignment.weights) != len(arms):
            raise ValidationError(f"experiment {self.name!r}: {len(arms)} arms but {len(self.assignment.weights)} "
                                  "weights", field="weights")
        if not isinstance(self.hash_attribute, str) or not _ATTRIBUTE.match(self.hash_attribute):
            raise ValidationError(f"experiment {self.name!r}: hash attribute {self.hash_attribute!r} is not a valid "
                                  "request field name", field="hash_attribute")
        if not isinstance(self.sticky, bool):
            raise ValidationError(f"experiment {self.name!r}: sticky must be true or false", field="sticky")

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def control(self) -> LiveArm:
        return self.arms[0]

    def assign(self, entity_id: Any, attributes: Mapping[str, Any] | None = None) -> Assignment:
        """The pure assignment; anything but running puts everyone in control outside the test."""
        if not self.running:
            return Assignment(None, self.status)
        return assign(self.assignment, entity_id, attributes)

    def to_json(self) -> dict[str, Any]:
        spec = self.assignment
        return {
            "name": self.name, "team": self.team, "phase": self.phase, "status": self.status,
            "arms": [a.to_json() for a in self.arms],
            "assignment": {"seed": spec.seed, "weights": list(spec.weights), "coverage": spec.coverage,
                           "layer": _layer_json(spec.layer), "targeting": spec.targeting.to_dict(),
                           "hash_version": spec.hash_version},
            "hash_attribute": self.hash_attribute, "sticky": self.sticky,
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> "LiveExperiment":
        """Parse and validate; every problem is a ValidationError naming the field."""
        if not isinstance(d, Mapping):
            raise ValidationError(f"a live experiment must be a JSON object, got {type(d).__name__}")
        where = f"live experiment {d.get('name')!r}"
        arms_in = _require(d, "arms", where)
        if not isinstance(arms_in, list) or not all(isinstance(a, Mapping) for a in arms_in):
            raise ValidationError(f"{where}: arms must be a list of {{name, model}} objects", field="arms")
        arms = tuple(LiveArm(str(_require(a, "name", where)), _require(a, "model", where)) for a in arms_in)
        spec_in = _require(d, "assignment", where)
        if not isinstance(spec_in, Mapping):
            raise ValidationError(f"{where}: assignment must be an object", field="assignment")
        layer_in = spec_in.get("layer")
        if layer_in is not None and not isinstance(layer_in, Mapping):
            raise ValidationError(f"{where}: layer must be an object {{name, start, end}}", field="layer")
        layer = None if layer_in is None else LayerSlice(_require(layer_in, "name", where),
                                                         _require(layer_in, "start", where),
                                                         _require(layer_in, "end", where))
        weights = _require(spec_in, "weights", where)
        if not isinstance(weights, list):
            raise ValidationError(f"{where}: weights must be a list of numbers", field="weights")
        spec = AssignmentSpec(seed=_require(spec_in, "seed", where), weights=tuple(weights),
                              coverage=spec_in.get("coverage", 1.0), layer=layer,
                              targeting=Targeting.parse(spec_in.get("targeting")),
                              hash_version=spec_in.get("hash_version", 2))
        return cls(name=_require(d, "name", where), team=_require(d, "team", where),
                   phase=_require(d, "phase", where), status=_require(d, "status", where), arms=arms,
                   assignment=spec, hash_attribute=_require(d, "hash_attribute", where),
                   sticky=d.get("sticky", False))


@runtime_checkable
class ExperimentFeed(Protocol):
    """What serving needs from the experiments' storage."""

    def live(self) -> list[LiveExperiment]:
        """Every experiment that is running or was stopped (a stopped one must still answer, with control)."""
        ...


__all__ = ["CHANGES_CHANNEL", "STATUSES", "ExperimentFeed", "LiveArm", "LiveExperiment", "parse_model_ref"]
