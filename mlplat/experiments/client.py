"""``client.experiments``: the Experiment Manager from the platform client (in-process or over HTTP)."""

from __future__ import annotations

import builtins
from typing import Any, Mapping

from mlplat.experiments.records import BanditUpdate, Experiment, Layer
from mlplat.wire import many, one


class ExperimentsClient:
    def __init__(self, transport: Any) -> None:
        self._t = transport

    def create(self, definition: Mapping[str, Any]) -> Experiment:
        """A new experiment in draft (``definition``: see ``ExperimentSpec``)."""
        return one(Experiment.from_dict, self._t.call("experiments.create", definition=dict(definition)))

    def list(self, status: str | None = None, team: str | None = None,
             model: str | None = None) -> builtins.list[Experiment]:
        return many(Experiment.from_dict, self._t.call("experiments.list", status=status, team=team, model=model))

    def show(self, name: str) -> Experiment:
        return one(Experiment.from_dict, self._t.call("experiments.show", name=name))

    def start(self, name: str, reason: str = "") -> Experiment:
        return one(Experiment.from_dict, self._t.call("experiments.start", name=name, reason=reason))

    def stop(self, name: str, reason: str = "") -> Experiment:
        """Everyone gets control from now on; every Inference Service worker learns it within seconds."""
        return one(Experiment.from_dict, self._t.call("experiments.stop", name=name, reason=reason))

    def conclude(self, name: str, winner: str | None = None, reason: str = "") -> Experiment:
        return one(Experiment.from_dict, self._t.call("experiments.conclude", name=name, winner=winner, reason=reason))

    def change(self, name: str, changes: Mapping[str, Any] | None = None, reseed: bool = False,
               reason: str = "", **fields: Any) -> Experiment:
        """New weights, arms, coverage, ... (a new split starts a new phase); ``reseed`` re-randomizes."""
        merged = {**dict(changes or {}), **fields}
        return one(Experiment.from_dict, self._t.call("experiments.change", name=name, changes=merged,
                                                      reseed=reseed, reason=reason))

    def results(self, name: str, phase: int | None = None) -> dict[str, Any]:
        """SRM, then the experiment's analysis of its phase (JSON; ``data`` false with a reason before any)."""
        found: dict[str, Any] = self._t.call("experiments.results", name=name, phase=phase)
        return found

    def refresh(self, name: str | None = None, since: str | None = None, until: str | None = None) -> dict[str, Any]:
        """Recompute the outcomes' statistics (one experiment, or every running one as an admin)."""
        found: dict[str, Any] = self._t.call("experiments.refresh", name=name, since=since, until=until)
        return found

    def layers(self) -> builtins.list[Layer]:
        return many(Layer.from_dict, self._t.call("experiments.layers"))

    def bandit_update(self, name: str) -> BanditUpdate:
        return one(BanditUpdate.from_dict, self._t.call("experiments.bandit_update", name=name))

    def weights(self, name: str, phase: int | None = None) -> builtins.list[BanditUpdate]:
        return many(BanditUpdate.from_dict, self._t.call("experiments.weights", name=name, phase=phase))


__all__ = ["ExperimentsClient"]
