"""The live experiments one Inference Service worker holds in memory, and the arm each request gets.

Assignment must cost no network hop: each worker keeps every running and
stopped experiment here, read from the experiments' storage (``ExperimentSource``,
wired by the composition root) whenever a change is announced (``watch.ChangeWatcher``)
and on a slow timer as the fallback. A refresh swaps the whole table in one
assignment, so a request sees the old set or the new one, never half of each.

Each arm is a Model Pipeline reference resolved through the same model loading
deployments use: ``m`` follows whatever version ``/v1/predict/m`` serves (its
``production`` version when it is not deployed), ``m/3`` is that version and
``m@alias`` the version the alias points at (re-read on the timer, as an alias
moves); a version that is not the deployed one takes the model's deployment
options (``store_fallback``). Pipelines load on the refresh thread *before* the table is swapped, and
an experiment whose arms did not change (a stop, a bandit's new weights) keeps
its loaded arms, so a stop is in effect as soon as its row is read.

Per request the arm is the pure hash (``LiveExperimentView.assign``); a sticky
experiment (a bandit) keeps a unit on the arm it first got, in Redis
(``sticky.StickyStore``), and falls back to the hash when Redis does not answer.
Where every arm reads the same store features (``shared``), the claim is sent
in the feature fetch's round trip (``shared_trip`` hands ``route`` its ``claim``).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Mapping, NamedTuple, Sequence

from mlplat.errors import MlplatError, NotFoundError, ServiceUnavailable, ValidationError
from mlplat.serving.ports import ExperimentSource, LiveExperimentView, ModelLoader

if TYPE_CHECKING:  # pragma: no cover
    from mlplat.serving.core import Served
    from mlplat.serving.sticky import StickyStore
    from mlplat.serving.watch import ChangeWatcher

log = logging.getLogger("mlplat.inference")
UNIT_FIELD = "entity_id"  # besides the experiment's hash attribute, a request may name its unit here


Claim = Callable[[str, int, Sequence[tuple[str, str]]], "list[str | None] | None"]  # ``StickyStore.claim``'s shape


class Route(NamedTuple):
    """Where one request goes: the version that answers, and what the answer and the log say about it."""

    served: "Served"
    experiment: str
    phase: int
    arm: str | None  # None: control, outside the experiment (coverage, targeting, layer, or not running)


@dataclass(frozen=True)
class Unit:
    """What assignment reads from one request: the unit's id and the attributes targeting looks at."""

    id: str | None
    attributes: Mapping[str, Any]


@dataclass(frozen=True)
class _Arm:
    """An arm resolved: a pinned version (``served``), or ``follow`` the model's deployed version."""

    ref: tuple[str, int | None, str | None]
    served: "Served | None" = None
    follow: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class _Entry:
    experiment: LiveExperimentView
    arms: tuple[_Arm, ...]


def _ready(arms: Sequence[_Arm], running: bool) -> bool:
    """Every arm that may answer is resolved (only control answers an experiment that is not running)."""
    return all(a.served is not None or a.follow is not None for a in (arms if running else arms[:1]))


def unit_of(experiment: LiveExperimentView, body: Mapping[str, Any]) -> Unit:
    """The unit id: the body's hash-attribute field, else ``entity_id``, else the entity's (or the session
    features') hash-attribute value; attributes: the body's fields, then the session features, then the entity."""
    entity = body.get("entity")
    entity = entity if isinstance(entity, dict) else {}  # a parsed JSON body: dicts (no ABC check per request)
    features = body.get("features")
    features = features if isinstance(features, dict) else {}
    key = experiment.hash_attribute
    attributes = {**entity, **features, **body}  # a merge in C: cheaper than any lazy view
    for value in (body.get(key), body.get(UNIT_FIELD), entity.get(key), features.get(key)):
        if value is not None and value != "":
            if not isinstance(value, (str, int)) or isinstance(value, bool):
                raise ValidationError(f"the unit id ({key}) must be a string or an integer, got {value!r}", field=key)
            return Unit(str(value), attributes)
    return Unit(None, attributes)


class LiveExperiments:
    """The worker's table of live experiments; ``route`` answers which version serves each request."""

    def __init__(self, source: ExperimentSource, models: Callable[[], ModelLoader],
                 deployed: Callable[[], Mapping[str, "Served"]],
                 prepare: Callable[[str, int, Any, Mapping[str, Any]], "Served"],
                 sticky: "StickyStore | None" = None, watcher: "ChangeWatcher | None" = None) -> None:
        self.source = source
        self.watcher = watcher  # calls ``refresh`` on each announced change and on its timer
        self._models = models
        self._deployed = deployed  # the core's served set: ``m`` arms follow it
        self._prepare = prepare
        self.sticky = sticky
        self._table: dict[str, _Entry] = {}
        self._loaded: dict[tuple[str, int], "Served"] = {}
        self._lock = threading.Lock()  # one refresh at a time (the watcher's thread, or a caller)
        self.errors: dict[str, str] = {}
        self.refreshed = 0

    # -- the table ----------------------------------------------------------------
    def start(self) -> "LiveExperiments":
        try:
            self.refresh()
        except Exception as exc:  # broad on purpose: the storage may still be starting; the watcher retries
            log.warning("reading the live experiments failed: %s", exc)
        if self.watcher is not None:
            self.watcher.start()
        return self

    def close(self) -> None:
        if self.watcher is not None:
            self.watcher.close()
        if self.sticky is not None:
            self.sticky.close()

    def refresh(self, full: bool = True) -> None:
        """Read the source and swap the table in. ``full`` re-resolves every arm (aliases may have moved).

        What needs no loading (a stop, new weights, an experiment whose arms are loaded) is swapped in first,
        so a stop never waits for another experiment's pipeline to download; experiments with new arms
        keep answering as before until theirs are loaded, then the table is swapped again.
        """
        with self._lock:
            live = list(self.source.live())
            ready: dict[str, _Entry] = {}
            slow: list[tuple[LiveExperimentView, _Entry | None]] = []
            for exp in live:
                old = self._table.get(exp.name)
                same = old is not None and [a.ref for a in old.arms] == [a.ref for a in exp.arms]
                if same and old is not None and _ready(old.arms, exp.status == "running"):
                    ready[exp.name] = _Entry(exp, old.arms)
                    if not full:
                        continue
                slow.append((exp, old if same else None))
            errors = {name: self.errors[name] for name in ready if name in self.errors}
            if slow:  # first swap: the changes that need no loading
                waiting = {exp.name: self._table[exp.name] for exp, _ in slow
                           if exp.name in self._table and exp.name not in ready}
                self._table = {**waiting, **ready}
            table = dict(ready)
            for exp, old in slow:
                arms = self._resolve(exp, old)
                bad = [f"{a.ref[0]}: {a.error}" for a in arms if a.error]
                errors.pop(exp.name, None)
                if bad:
                    errors[exp.name] = "; ".join(bad)
                table[exp.name] = _Entry(exp, arms)
            keep = {(a.served.model, a.served.version) for e in table.values() for a in e.arms if a.served is not None}
            self._loaded = {k: v for k, v in self._loaded.items() if k in keep}
            self._table = table  # one assignment: a request sees the old table or the new one
            self.errors = errors
            self.refreshed += 1

    def _resolve(self, exp: LiveExperimentView, old: _Entry | None) -> tuple[_Arm, ...]:
        arms = []
        for i, arm in enumerate(exp.arms):
            if exp.status != "running" and i > 0:
                arms.append(_Arm(arm.ref))  # only control answers a stopped experiment: load nothing else
                continue
            try:
                arms.append(self._arm(arm.ref))
            except Exception as exc:  # broad on purpose: keep what served before; the error shows on /readyz
                previous = old.arms[i] if old is not None else None
                if previous is not None and previous.error is None and (previous.served or previous.follow):
                    arms.append(previous)
                else:
                    arms.append(_Arm(arm.ref, error=str(exc)))
                log.error("experiment %s: arm %s (%s) could not be loaded: %s", exp.name, arm.name, arm.model, exc)
        return tuple(arms)

    def _arm(self, ref: tuple[str, int | None, str | None]) -> _Arm:
        name, version, alias = ref
        if version is None and alias is None:
            if name in self._deployed():
                return _Arm(ref, follow=name)
            alias = "production"
        if version is None:
            version = self._models().alias_version(name, alias or "production")
            if version is None:
                raise NotFoundError(f"model {name!r} has no alias {alias!r}", model=name)
        return _Arm(ref, served=self._load(name, version))

    def _load(self, name: str, version: int) -> "Served":
        deployed = self._deployed().get(name)
        if deployed is not None and deployed.version == version:
            return deployed
        served = self._loaded.get((name, version))
        if served is None:
            _, pipeline = self._models().load_pipeline(name, version)
            options = deployed.options if deployed is not None else {}  # e.g. store_fallback: per model
            served = self._loaded[(name, version)] = self._prepare(name, version, pipeline, options)
            log.info("experiments: loaded %s v%s", name, version)
        return served

    # -- requests -----------------------------------------------------------------
    def get(self, name: str) -> LiveExperimentView:
        return self._entry(name).experiment

    def _entry(self, name: str) -> _Entry:
        entry = self._table.get(name)
        if entry is None:
            import difflib

            hint = difflib.get_close_matches(name, list(self._table), n=1)
            raise NotFoundError(f"experiment {name!r} is not running or stopped on this service"
                                + (f"; did you mean {hint[0]!r}?" if hint else ""), experiment=name)
        return entry

    def route(self, name: str, units: Sequence[Unit], claim: Claim | None = None) -> list["Route | MlplatError"]:
        """The route of each unit of one experiment; sticky experiments ask Redis once for all of them
        (through ``claim`` when given: ``shared_trip`` sends the claim with the feature fetch)."""
        entry = self._entry(name)
        exp = entry.experiment
        arms = [exp.assign(u.id, u.attributes).arm if u.id is not None else None for u in units]
        if exp.sticky and self.sticky is not None and exp.status == "running":
            arms = self._stick(exp, units, arms, claim or self.sticky.claim)
        out: list[Route | MlplatError] = []
        for arm in arms:
            try:
                out.append(Route(self._served(entry, arm or 0), exp.name, exp.phase,
                                 exp.arms[arm].name if arm is not None else None))
            except MlplatError as exc:
                out.append(exc)
        return out

    def _stick(self, exp: LiveExperimentView, units: Sequence[Unit], arms: list[int | None], claim: Claim
               ) -> list[int | None]:
        names = [a.name for a in exp.arms]
        asked = [i for i, a in enumerate(arms) if a is not None]
        if not asked:
            return arms
        held = claim(exp.name, exp.phase, [(str(units[i].id), names[arms[i] or 0]) for i in asked])
        if held is None:  # Redis did not answer: the hash decides (counted by the store)
            return arms
        out = list(arms)
        for i, name in zip(asked, held):
            if name in names:
                out[i] = names.index(name)
        return out

    def shared(self, name: str) -> "Served | None":
        """The version whose feature read serves every arm of a running sticky experiment (all read the same
        store features of one entity), so the sticky claim can ride along; None when there is no such read."""
        entry = self._table.get(name)
        if entry is None or self.sticky is None or self.sticky.resting:
            return None
        exp = entry.experiment
        if not exp.sticky or exp.status != "running":
            return None
        try:
            serveds = [self._served(entry, i) for i in range(len(entry.arms))]
        except MlplatError:
            return None
        first = serveds[0]
        reads = {(s.entity_key, s.features, bool(s.options.get("store_fallback"))) for s in serveds}
        return first if first.features and len(reads) == 1 else None

    def _served(self, entry: _Entry, index: int) -> "Served":
        arm = entry.arms[index]
        if arm.follow is not None:
            served = self._deployed().get(arm.follow)
            if served is not None:
                return served
            raise ServiceUnavailable(f"experiment {entry.experiment.name!r}: model {arm.follow!r} is no longer "
                                     "deployed", experiment=entry.experiment.name)
        if arm.served is None:
            raise ServiceUnavailable(f"experiment {entry.experiment.name!r}: arm {entry.experiment.arms[index].name!r}"
                                     f" cannot answer: {arm.error or 'not loaded'}", experiment=entry.experiment.name)
        return arm.served

    def health(self) -> dict[str, Any]:
        return {"live": {n: {"status": e.experiment.status, "phase": e.experiment.phase}
                         for n, e in self._table.items()}, "errors": dict(self.errors)}


__all__ = ["Claim", "LiveExperiments", "Route", "UNIT_FIELD", "Unit", "unit_of"]
