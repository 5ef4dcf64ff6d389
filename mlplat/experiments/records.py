"""What the experiments' verbs answer: an experiment with its phases and history, a layer, a bandit update.

Each has ``to_dict()`` (the JSON the API sends) and ``from_dict()`` (the
client rebuilds the same object over HTTP), so a caller gets one type
whichever transport it used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from mlplat.experiments.spec import ExperimentSpec


@dataclass(frozen=True)
class Phase:
    """One split of an experiment, while it lasted (``ended_at`` None: the current one)."""

    phase: int
    arms: list[dict[str, str]]
    weights: list[float]
    seed: str
    coverage: float
    targeting: dict[str, Any]
    reason: str
    created_by: str
    created_at: str
    started_at: str | None
    ended_at: str | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Phase":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class StatusChange:
    """Who changed an experiment (status or split), when and why."""

    from_status: str | None
    to_status: str
    phase: int
    by: str
    reason: str
    at: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "StatusChange":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


@dataclass(frozen=True)
class Experiment:
    """An experiment as ``show`` gives it: definition, status, the live split, its phases and history."""

    name: str
    team: str
    status: str
    phase: int
    weights: list[float]  # the live split (a bandit's latest), the current phase's otherwise
    spec: dict[str, Any]
    conclusion: dict[str, Any] | None
    created_by: str
    created_at: str
    updated_at: str
    started_at: str | None
    ended_at: str | None
    phases: list[Phase] = field(default_factory=list)
    history: list[StatusChange] = field(default_factory=list)

    @property
    def definition(self) -> ExperimentSpec:
        return ExperimentSpec.parse(self.spec)

    @property
    def arms(self) -> list[dict[str, str]]:
        return list(self.spec["arms"])

    @property
    def current(self) -> Phase | None:
        return self.phases[-1] if self.phases else None

    def to_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k not in ("phases", "history")}
        out["phases"] = [p.to_dict() for p in self.phases]
        out["history"] = [h.to_dict() for h in self.history]
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Experiment":
        plain = {k: data[k] for k in cls.__dataclass_fields__ if k not in ("phases", "history")}
        return cls(**plain, phases=[Phase.from_dict(p) for p in data.get("phases") or []],
                   history=[StatusChange.from_dict(h) for h in data.get("history") or []])


@dataclass(frozen=True)
class LayerSliceInfo:
    experiment: str
    status: str
    start: float
    end: float

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Layer:
    """A layer and the slices its experiments hold (concluded experiments give theirs back)."""

    name: str
    description: str
    created_by: str
    created_at: str
    slices: list[LayerSliceInfo]
    free: list[tuple[float, float]]  # the ranges no experiment holds

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "created_by": self.created_by,
                "created_at": self.created_at, "slices": [s.to_dict() for s in self.slices],
                "free": [[a, b] for a, b in self.free]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Layer":
        return cls(data["name"], data["description"], data["created_by"], data["created_at"],
                   [LayerSliceInfo(**s) for s in data["slices"]], [(float(a), float(b)) for a, b in data["free"]])


@dataclass(frozen=True)
class BanditUpdate:
    """One bandit update as stored: the weights it set and the evidence behind them."""

    experiment: str
    phase: int
    stage: str  # burn_in | thompson
    weights: list[float]
    trials: list[int]
    successes: list[int]
    chance_to_be_best: list[float] | None
    at: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "BanditUpdate":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__})


def free_ranges(taken: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The parts of [0, 1) outside every taken range."""
    out, cursor = [], 0.0
    for start, end in sorted(taken):
        if start > cursor:
            out.append((cursor, start))
        cursor = max(cursor, end)
    if cursor < 1.0:
        out.append((cursor, 1.0))
    return out


__all__ = ["BanditUpdate", "Experiment", "Layer", "LayerSliceInfo", "Phase", "StatusChange", "free_ranges"]
