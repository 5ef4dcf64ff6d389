"""The Experiment Manager's verbs (``platform.experiments.<verb>(caller, ...)``): the only place they are authorized.

Everyone reads; the owner team (or an admin) creates, starts, changes, stops
and concludes. Each verb validates everything before it writes: the
definition, that every arm's Model Pipeline reference resolves in the Model
Repository, that every metric is defined, that a layer slice overlaps no other
experiment's. After each committed change the experiment's name goes out on
``CHANGES_CHANNEL`` so every Inference Service worker re-reads it at once.

The service is also the serving side's ``ExperimentFeed`` (``live()``) and
runs the bandit update: Thompson sampling over the joined outcomes, written to
the weight history, within the phase.
"""

from __future__ import annotations

import builtins
import logging
from datetime import datetime, timezone
from typing import Any, Mapping

from mlplat.errors import ConflictError, MlplatError, NotFoundError, ValidationError
from mlplat.experiments.bandits import allocate
from mlplat.experiments.live import CHANGES_CHANNEL, LiveArm, LiveExperiment
from mlplat.experiments.ports import MetricCatalog, ModelCatalog, OutcomeStats, Provider
from mlplat.experiments.publish import Announcer
from mlplat.experiments.records import BanditUpdate, Experiment, Layer
from mlplat.experiments.results import bandit_counts, compute_results
from mlplat.experiments.spec import ExperimentSpec, ModelRef, new_seed
from mlplat.experiments.store import ExperimentStore
from mlplat.identity import Identity
from mlplat.metadata import Database

log = logging.getLogger(__name__)
TAG = "mlplat.experiment."  # MLflow version tag: mlplat.experiment.<name> = "<arm>: <status>, phase <n>"
SPLIT_FIELDS = ("arms", "weights", "coverage", "targeting", "seed", "layer")
# a running or stopped experiment's other fields may change without a new phase
DESCRIPTIVE = ("description", "hypothesis", "guardrail_metrics", "min_sample", "planned_days", "alpha", "correction",
               "cuped", "bandit")
MOVES = {"start": ("draft", "stopped"), "stop": ("running",), "conclude": ("draft", "running", "stopped")}


class ExperimentService:
    def __init__(self, db: Database, models: Provider, stats: Provider | None = None,
                 metrics: Provider | None = None, publisher: Any | None = None) -> None:
        self.store = ExperimentStore(db)
        self._models = models  # -> ModelCatalog
        self._stats = stats  # -> OutcomeStats (None: outcomes not wired, results say "no data")
        self._metrics = metrics  # -> MetricCatalog (None: metric names are not checked)
        self.announcer = Announcer(publisher)

    # -- collaborators -------------------------------------------------------------
    def models(self) -> ModelCatalog:
        catalog: ModelCatalog = self._models()
        return catalog

    def _metric_catalog(self) -> MetricCatalog | None:
        return None if self._metrics is None else self._metrics()

    def _outcomes(self) -> OutcomeStats | None:
        return None if self._stats is None else self._stats()

    # -- checks ------------------------------------------------------------------------
    def resolve_arm(self, arm_name: str, model: str) -> tuple[str, int]:
        """(model, version) the arm serves now; a ValidationError naming the arm when the reference does not resolve."""
        ref = ModelRef.parse(model)
        catalog = self.models()
        try:
            version = catalog.resolve(ref.model, version=ref.version, alias=ref.alias)
            if ref.version is not None:
                catalog.version(ref.model, version)
        except NotFoundError as exc:
            raise ValidationError(f"arm {arm_name!r}: {exc.message}", field="arms", arm=arm_name,
                                  model=str(ref)) from None
        return ref.model, version

    def _check(self, spec: ExperimentSpec, exclude: str | None = None) -> None:
        for arm in spec.arms:
            self.resolve_arm(arm.name, arm.model)
        catalog = self._metric_catalog()
        if catalog is not None:
            for metric in spec.metrics:
                try:
                    catalog.metric_kind(metric)
                except NotFoundError as exc:
                    raise ValidationError(f"metric {metric!r}: {exc.message}", field="metrics", metric=metric) from None
        if spec.layer is not None:
            for other in self.store.slices(spec.layer.name, exclude=exclude):
                if spec.layer.start < other.end and other.start < spec.layer.end:
                    raise ConflictError(
                        f"layer {spec.layer.name!r}: slice [{spec.layer.start:g}, {spec.layer.end:g}) overlaps "
                        f"experiment {other.experiment!r}'s [{other.start:g}, {other.end:g}) ({other.status}); "
                        "experiments in one layer must take disjoint slices", layer=spec.layer.name,
                        experiment=other.experiment)

    def _owned(self, caller: Identity, name: str, action: str) -> Experiment:
        experiment = self.store.get(name)
        caller.require_team(experiment.team, f"{action} experiment {name!r}")
        return experiment

    def _announce(self, experiment: Experiment) -> Experiment:
        self.announcer.changed(CHANGES_CHANNEL, experiment.name)
        self._tag(experiment)
        return experiment

    def _tag(self, experiment: Experiment) -> None:
        """Mark each arm's model version in MLflow with this experiment (best effort: a stop never waits on it)."""
        if experiment.status == "draft":
            return
        for arm in experiment.arms:
            try:
                model, version = self.resolve_arm(arm["name"], arm["model"])
                self.models().set_version_tag(model, version, TAG + experiment.name,
                                              f"{arm['name']}: {experiment.status}, phase {experiment.phase}")
            except MlplatError as exc:  # the experiment changed; the tag is a courtesy to MLflow's readers
                log.warning("could not tag %s in MLflow for experiment %s: %s", arm["model"], experiment.name,
                            exc.message)

    # -- the verbs -------------------------------------------------------------------------
    def create(self, caller: Identity, definition: Mapping[str, Any] | ExperimentSpec) -> Experiment:
        """A new experiment, in draft: validated, its arms resolved, its metrics and layer slice checked."""
        spec = ExperimentSpec.parse(definition)
        caller.require_team(spec.team, f"create experiment {spec.name!r} for team {spec.team!r}")
        if self.store.exists(spec.name):
            raise ConflictError(f"experiment {spec.name!r} exists already", experiment=spec.name)
        self._check(spec)
        if spec.layer is not None:
            self.store.ensure_layer(spec.layer.name, caller.name)
        return self._announce(self.store.create(spec, caller.name))

    def list(self, caller: Identity, status: str | None = None, team: str | None = None,
             model: str | None = None) -> builtins.list[Experiment]:
        if status is not None and status not in MOVES["conclude"] + ("concluded",):
            raise ValidationError(f"status must be draft, running, stopped or concluded, got {status!r}",
                                  field="status")
        found = self.store.list(status=status, team=team)
        if model:
            found = [e for e in found if any(ModelRef.parse(a["model"]).model == model for a in e.arms)]
        return found

    def show(self, caller: Identity, name: str) -> Experiment:
        return self.store.get(name)

    def _move(self, caller: Identity, name: str, verb: str, to: str, reason: str,
              conclusion: dict[str, Any] | None = None) -> Experiment:
        experiment = self._owned(caller, name, verb)
        if experiment.status not in MOVES[verb]:
            raise ConflictError(f"experiment {name!r} is {experiment.status}: only a "
                                f"{' or '.join(MOVES[verb])} experiment can be {to}", experiment=name)
        return self._announce(self.store.set_status(name, to, caller.name, reason, conclusion))

    def start(self, caller: Identity, name: str, reason: str = "") -> Experiment:
        """Begin assigning traffic (each arm's model must still resolve)."""
        experiment = self._owned(caller, name, "start")
        spec = experiment.definition
        for arm in spec.arms:
            self.resolve_arm(arm.name, arm.model)
        return self._move(caller, name, "start", "running", reason or "started")

    def stop(self, caller: Identity, name: str, reason: str = "") -> Experiment:
        """Everyone gets control from now on (every worker learns it within seconds); results stay readable."""
        return self._move(caller, name, "stop", "stopped", reason or "stopped")

    def conclude(self, caller: Identity, name: str, winner: str | None = None, reason: str = "") -> Experiment:
        """Record the decision; the experiment serves control and frees its layer slice."""
        experiment = self._owned(caller, name, "conclude")
        arms = [a["name"] for a in experiment.arms]
        if winner is not None and winner not in arms:
            raise ValidationError(f"winner {winner!r} is not an arm of {name!r} (arms: {', '.join(arms)})",
                                  field="winner")
        return self._move(caller, name, "conclude", "concluded", reason or "concluded",
                          {"winner": winner, "reason": reason, "by": caller.name})

    def change(self, caller: Identity, name: str, changes: Mapping[str, Any], reseed: bool = False,
               reason: str = "") -> Experiment:
        """Change an experiment; a new split (arms, weights, coverage, targeting, seed, layer) starts a new phase.

        Lowering coverage only shrinks each arm's range, so no unit moves to another arm. Re-randomizing is
        explicit: ``reseed=True`` (or a new ``seed``) gives the phase a new seed.
        """
        experiment = self._owned(caller, name, "change")
        if experiment.status == "concluded":
            raise ConflictError(f"experiment {name!r} is concluded; create a new experiment", experiment=name)
        unknown = sorted(set(changes) - set(SPLIT_FIELDS) - set(DESCRIPTIVE))
        if unknown:
            raise ValidationError(f"{unknown[0]!r} cannot be changed; changeable: "
                                  f"{', '.join(SPLIT_FIELDS + DESCRIPTIVE)}", field=unknown[0])
        current = experiment.definition
        updates = dict(changes)
        if "arms" in updates and "weights" not in updates:
            updates["weights"] = None  # new arms, even split unless weights are given
        if reseed and "seed" not in updates:
            updates["seed"] = new_seed(current, experiment.phase + 1)
        spec = current.with_changes(**updates)
        if spec.team != current.team or spec.name != current.name:
            raise ValidationError("an experiment's name and team cannot change", field="team")
        split_changed = any(spec.to_dict()[k] != current.to_dict()[k] for k in SPLIT_FIELDS)
        if not split_changed and spec == current:
            return experiment
        self._check(spec, exclude=name)
        new_phase = split_changed and experiment.status != "draft"
        why = reason or ("new split: " + ", ".join(k for k in SPLIT_FIELDS if spec.to_dict()[k] != current.to_dict()[k])
                         if split_changed else "definition changed")
        return self._announce(self.store.change(spec, caller.name, why, new_phase))

    def layers(self, caller: Identity) -> builtins.list[Layer]:
        """Every layer with the slices its experiments hold and the ranges still free."""
        return self.store.layers()

    def results(self, caller: Identity, name: str, phase: int | None = None) -> dict[str, Any]:
        """SRM first, then the experiment's analysis over its phase's statistics (JSON; "no data" before any)."""
        experiment = self.store.get(name)
        outcomes = self._outcomes()
        rows = [r for r in outcomes.read_stats(name) if r.get("experiment", name) == name] if outcomes else []
        catalog = self._metric_catalog()
        kinds = {}
        for metric in experiment.definition.metrics:
            try:
                kinds[metric] = catalog.metric_kind(metric) if catalog else "mean"
            except NotFoundError:
                kinds[metric] = "mean"
        history = self.store.weight_history(name, phase or experiment.phase)
        return compute_results(experiment, rows, kinds, history, phase)

    def refresh(self, caller: Identity, name: str | None = None, since: str | None = None,
                until: str | None = None) -> dict[str, Any]:
        """Recompute the outcomes' statistics of one experiment (owner team) or of every running one (admin).

        The window defaults to the current phase's start until now; the hourly job
        (``template:experiment_results``) calls this with no name.
        """
        if name is None:
            caller.require_admin("refresh every running experiment's statistics")
            targets = self.store.list(status="running", detail=True)
        else:
            targets = [self._owned(caller, name, "refresh the statistics of")]
        outcomes = self._outcomes()
        if outcomes is None:
            raise ValidationError("the outcomes job is not wired into this platform", field="outcomes")
        now = datetime.now(timezone.utc)
        end = _moment(until, "until") or now
        rows = 0
        for experiment in targets:
            phase = experiment.current
            begin = _moment(since, "since") or _moment(phase.started_at if phase else None, "since") or end
            if begin < end:
                rows += outcomes.refresh([experiment.name], list(experiment.definition.metrics), begin, end)
        return {"experiments": [e.name for e in targets], "rows": rows, "until": end.isoformat()}

    def bandit_update(self, caller: Identity, name: str) -> BanditUpdate:
        """Thompson sampling over the phase's joined outcomes: new weights (burn-in, floor), kept in the history."""
        experiment = self._owned(caller, name, "update the bandit of")
        spec = experiment.definition
        if spec.analysis != "bandit" or spec.bandit is None:
            raise ValidationError(f"experiment {name!r} is {spec.analysis}, not a bandit", field="analysis")
        if experiment.status != "running":
            raise ConflictError(f"experiment {name!r} is {experiment.status}: only a running bandit is updated",
                                experiment=name)
        outcomes = self._outcomes()
        rows = outcomes.read_stats(name) if outcomes else []
        successes, trials = bandit_counts(experiment, rows)
        record = allocate(successes, trials, spec.bandit)
        update = self.store.record_weights(name, experiment.phase, record.phase, record.weights, record.trials,
                                           record.successes, record.chance_to_be_best)
        self.announcer.changed(CHANGES_CHANNEL, name)
        return update

    def weights(self, caller: Identity, name: str, phase: int | None = None) -> builtins.list[BanditUpdate]:
        self.store.get(name)
        return self.store.weight_history(name, phase)

    def close(self) -> None:
        if self.announcer.publisher is not None and hasattr(self.announcer.publisher, "close"):
            self.announcer.publisher.close()

    # -- serving's feed ----------------------------------------------------------------------
    def live(self) -> builtins.list[LiveExperiment]:
        """Every running or stopped experiment as the Inference Service holds it (``ExperimentFeed``)."""
        return [to_live(e) for e in self.store.live()]


def _moment(text: str | None, field_name: str) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{field_name} must be an ISO date or time, got {text!r}", field=field_name) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def to_live(experiment: Experiment) -> LiveExperiment:
    spec = experiment.definition
    return LiveExperiment(name=experiment.name, team=experiment.team, phase=experiment.phase,
                          status=experiment.status, arms=tuple(LiveArm(a.name, a.model) for a in spec.arms),
                          assignment=spec.assignment(experiment.weights), hash_attribute=spec.hash_attribute,
                          sticky=spec.analysis == "bandit")


__all__ = ["ExperimentService", "TAG", "to_live"]
