"""The Inference Service's core: deployed pipelines, one-round-trip feature reads, predictions, the log.

``InferenceCore`` holds every live deployment (each model's newest live row in
the deployments table) as a compiled ``RowPredictor``. A request names the
entity and sends its session features; the entity's store features come from
Online Serving in one round trip, pinned to the set versions the model was
trained on. A background thread polls the deployments generation and loads
new versions *before* swapping them in, so a deploy never fails a request;
a service worker then reports what it serves (``workers.Announcer``), which
is what a deploy waits for before it returns.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from mlplat.errors import MlplatError, NotFoundError, ServiceUnavailable, ValidationError
from mlplat.serving import deployments
from mlplat.serving.ports import FeatureReader, ModelLoader
from mlplat.serving.predlog import PredictionLog, Record, new_id
from mlplat.serving.served import Served, prepare, without_store
from mlplat.serving.workers import Announcer

if TYPE_CHECKING:  # pragma: no cover
    from mlplat.metadata import Database
    from mlplat.serving.experiments import LiveExperiments, Route

log = logging.getLogger("mlplat.inference")
MAX_INSTANCES = 1000
RETRY_SECONDS = 5.0  # a version that failed to load is tried again this often
PRECOMPUTED_PREFIX = "predictions__"  # Online Serving set that holds a model's batch predictions


class InferenceCore:
    """Everything the HTTP app calls; usable in-process (tests, notebooks, the deploy sanity test)."""

    def __init__(
        self,
        db: "Database",
        models: Callable[[], ModelLoader],
        features: FeatureReader,
        *,
        prediction_log: PredictionLog | None = None,
        poll_seconds: float = 0.5,
        announcer: Announcer | None = None,
    ) -> None:
        self.db = db
        self._models = models  # MLflow is imported when the first deployment is loaded, not at start-up
        self.features = features
        self.poll_seconds = poll_seconds
        self._served: dict[str, Served] = {}
        self._generation = -1
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.load_errors: dict[str, str] = {}
        self._retry_at = 0.0
        self.log = prediction_log
        self.announcer = announcer  # only a service worker announces itself; an in-process core is no worker
        self.experiments: "LiveExperiments | None" = None  # the live experiments, when the composition gives them
        self.requests = self.errors = 0

    # -- deployments --------------------------------------------------------------
    def load(self, force: bool = False) -> bool:
        """Bring the served set up to the deployments table; True when it changed."""
        generation = deployments.generation(self.db)
        retry = bool(self.load_errors) and time.monotonic() >= self._retry_at  # e.g. MLflow was still starting
        if generation == self._generation and not force and not retry:
            return False
        live = deployments.live_versions(self.db)
        current = dict(self._served)
        fresh: dict[str, Served] = {}
        for model, dep in live.items():
            old = current.get(model)
            if old is not None and old.version == dep.version and old.options == dep.options:
                fresh[model] = old
                continue
            try:
                _, pipeline = self._models().load_pipeline(model, dep.version)
                fresh[model] = prepare(model, dep.version, pipeline, dep.options, dep.id)
                self.load_errors.pop(model, None)
                log.info("serving %s v%s", model, dep.version)
            except Exception as exc:  # broad on purpose: keep serving the old version; report it, retry later
                self.load_errors[model] = str(exc)
                if old is not None:
                    fresh[model] = old
                log.error("could not load %s v%s: %s", model, dep.version, exc)
        for model in set(self.load_errors) - set(live):
            self.load_errors.pop(model)
        self._retry_at = time.monotonic() + RETRY_SECONDS
        with self._lock:
            self._served = fresh  # one assignment: a request sees the old set or the new one
            self._generation = generation
        return True

    def serve(self, served: Served) -> None:
        """Serve a pipeline directly (tests, the deploy sanity test), outside the deployments table."""
        with self._lock:
            self._served = {**self._served, served.model: served}

    def start(self) -> "InferenceCore":
        self.load(force=True)
        if self.experiments is not None:
            self.experiments.start()  # after the deployments: ``m`` arms follow the deployed version
        self._announce()
        if self.poll_seconds > 0 and self._thread is None:
            self._thread = threading.Thread(target=self._poll, name="deploy-watch", daemon=True)
            self._thread.start()
        return self

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.load()
            except Exception as exc:  # broad on purpose: a DB hiccup must not stop serving
                log.warning("deployment poll failed: %s", exc)
            self._announce()
            self._refresh_names()

    def _announce(self) -> None:
        if self.announcer is None:
            return
        try:
            self.announcer.report(self._generation, {m: s.version for m, s in self._served.items()}, self.load_errors)
        except Exception as exc:  # broad on purpose: serving goes on; a deploy waiting on this worker says so
            log.warning("could not report this worker's deployments: %s", exc)

    def _refresh_names(self) -> None:
        """Resolve each served model's feature names here, before their cache expires on a request."""
        ahead = 2 * self.poll_seconds
        for served in list(self._served.values()):
            if served.features:
                try:
                    self.features.refresh_ahead(served.entity_key, served.features, ahead)
                except Exception:  # broad on purpose: a request resolving them reports the error itself
                    pass

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        if self.experiments is not None:
            self.experiments.close()
        if self.log is not None:
            self.log.close()
        if self.announcer is not None:
            try:
                self.announcer.withdraw()
            except Exception as exc:  # broad on purpose: its row goes stale instead
                log.warning("could not withdraw this worker: %s", exc)

    @property
    def served(self) -> dict[str, Served]:
        return self._served

    def get(self, model: str) -> Served:
        served = self._served.get(model)
        if served is None:
            import difflib

            hint = difflib.get_close_matches(model, list(self._served), n=1)
            raise NotFoundError(
                f"model {model!r} is not deployed" + (f"; did you mean {hint[0]!r}?" if hint else "")
                + (f"; deployed: {', '.join(sorted(self._served))}" if self._served else "; nothing is deployed"),
                model=model,
            )
        return served

    # -- predictions --------------------------------------------------------------
    def _entity_id(self, served: Served, entity: Any) -> str:
        from mlplat.features.online.base import entity_id

        if not isinstance(entity, Mapping):
            raise ValidationError(f"entity must be an object naming {', '.join(served.entity)}, e.g. "
                                  f"{{\"{served.entity[0] if served.entity else 'id'}\": \"u1\"}}", field="entity")
        missing = [k for k in served.entity if entity.get(k) in (None, "")]
        if missing:
            raise ValidationError(f"entity lacks {', '.join(missing)} (model {served.model} is keyed by "
                                  f"{', '.join(served.entity)})", field="entity")
        values = [entity[k] for k in served.entity]
        if any(not isinstance(v, (str, int)) or isinstance(v, bool) for v in values):
            raise ValidationError("entity values must be strings or integers", field="entity")
        return entity_id([str(v) for v in values])

    def _fetch(self, served: Served, ids: Sequence[str]) -> list[dict[str, Any]]:
        """Store values (``set.col`` -> value) per id, one round trip; declared defaults when allowed and down."""
        if not served.features:
            return [{} for _ in ids]
        try:
            return self.features.read(served.entity_key, ids, served.features, values_only=True)
        except Exception as exc:  # broad on purpose: any store failure is "Online Serving unavailable"
            return without_store(served, exc, len(ids))

    def predict(self, model: str, entity: Any, features: Mapping[str, Any] | None = None,
                arm: str | None = None) -> dict[str, Any]:
        """One prediction: ``{"prediction_id", "model", "version", "output"}``."""
        result = self.predict_many(model, [(entity, features)], arm)[0]
        if isinstance(result, Exception):
            raise result
        return result

    def predict_many(self, model: str, requests: Sequence[tuple[Any, Any]], arm: str | None = None, *,
                     routes: "Sequence[Route] | None" = None,
                     prefetched: "Mapping[int, dict[str, Any] | MlplatError] | None" = None
                     ) -> list[dict[str, Any] | Exception]:
        """Independent single requests answered together: one Online Serving round trip, one model call for trees.

        Each ``(entity, features)`` gets its own answer or its own error (the service's micro-batching: requests
        of one event-loop turn share the work, one bad request fails only itself). With ``routes`` (experiments')
        each goes to its route's version; versions that read the same features share one fetch. A server-side
        failure (Online Serving down, the model raising) is logged as an error row of each request it failed.
        ``prefetched``: store values (or the store's error) already read for some requests (``shared_trip``).
        """
        began = time.perf_counter()
        try:
            serveds = [r.served for r in routes] if routes else [self.get(model)] * len(requests)
        except MlplatError as exc:
            return [exc] * len(requests)
        out: list[dict[str, Any] | Exception | None] = [None] * len(requests)
        ids: dict[int, str] = {}
        for i, (entity, features) in enumerate(requests):
            try:
                if features is not None and not isinstance(features, Mapping):
                    raise ValidationError("features must be an object of session features", field="features")
                ids[i] = self._entity_id(serveds[i], entity) if serveds[i].entity else ""
            except MlplatError as exc:
                out[i] = exc
        fetches: dict[tuple[str, tuple[str, ...], bool], list[int]] = {}
        stores: dict[int, dict[str, Any]] = {}
        for i, s in ((i, serveds[i]) for i in ids):
            ready = prefetched.get(i) if prefetched else None
            if ready is None:
                fetches.setdefault((s.entity_key, s.features, bool(s.options.get("store_fallback"))), []).append(i)
            elif isinstance(ready, MlplatError):
                out[i] = self._failed(s, ids[i], {}, ready, began, routes[i] if routes else arm)
            else:
                stores[i] = ready
        for (_, features, _), rows in fetches.items():
            try:
                got = self._fetch(serveds[rows[0]], [ids[i] for i in rows]) if features else [{} for _ in rows]
                stores.update(zip(rows, got))
            except MlplatError as exc:
                for i in rows:
                    out[i] = self._failed(serveds[i], ids[i], {}, exc, began, routes[i] if routes else arm)
        groups: dict[int, list[int]] = {}
        for i in stores:
            groups.setdefault(id(serveds[i]), []).append(i)
        for rows in groups.values():
            served, decoded = serveds[rows[0]], []
            for i in rows:
                try:
                    decoded.append((i, served.predictor.decode(stores[i], requests[i][1] or {})))
                except MlplatError as exc:
                    out[i] = exc
            try:
                outputs = served.predictor.predict_rows([row for _, row in decoded]) if decoded else []
            except Exception as exc:  # broad on purpose: the model failed these requests (a 5xx each), logged
                for i, row in decoded:
                    out[i] = self._failed(served, ids[i], row, exc, began, routes[i] if routes else arm)
                continue
            for (i, row), output in zip(decoded, outputs):
                out[i] = self._answer(served, ids[i], row, output, began, routes[i] if routes else arm,
                                      _fell_back(served, stores[i]))
        return out  # type: ignore[return-value]

    def predict_batch(self, model: str, instances: Any, arm: str | None = None) -> list[dict[str, Any]]:
        """Many predictions with one Online Serving round trip; all or nothing (a bad instance names its index)."""
        began = time.perf_counter()
        served = self.get(model)
        if not isinstance(instances, list) or not instances:
            raise ValidationError("instances must be a non-empty list of {entity, features} objects", field="instances")
        if len(instances) > MAX_INSTANCES:
            raise ValidationError(f"{len(instances)} instances in one request; send at most {MAX_INSTANCES}",
                                  field="instances")
        ids, sessions = [], []
        for i, inst in enumerate(instances):
            if not isinstance(inst, Mapping):
                raise ValidationError(f"instances[{i}] must be an object with entity and features", field="instances")
            try:
                ids.append(self._entity_id(served, inst.get("entity")) if served.entity else "")
            except ValidationError as exc:
                raise ValidationError(f"instances[{i}]: {exc}", field=f"instances[{i}].entity") from None
            session = inst.get("features") or {}
            if not isinstance(session, Mapping):
                raise ValidationError(f"instances[{i}].features must be an object", field=f"instances[{i}].features")
            sessions.append(session)
        try:
            stores = self._fetch(served, ids) if served.features else [{} for _ in ids]
        except MlplatError as exc:
            for eid in ids:
                self._failed(served, eid, {}, exc, began, arm)
            raise
        rows = []
        for i, (store, session) in enumerate(zip(stores, sessions)):
            try:
                rows.append(served.predictor.decode(store, session))
            except ValidationError as exc:
                raise ValidationError(f"instances[{i}]: {exc}", field=f"instances[{i}]") from None
        try:
            outputs = served.predictor.predict_rows(rows)
        except Exception as exc:  # broad on purpose: logged as error rows, then answered as before (a 5xx)
            for eid, row in zip(ids, rows):
                self._failed(served, eid, row, exc, began, arm)
            raise
        return [self._answer(served, eid, row, out, began, arm, _fell_back(served, store))
                for eid, row, out, store in zip(ids, rows, outputs, stores)]

    def _answer(self, served: Served, eid: str, row: dict[str, Any], output: dict[str, Any], began: float,
                arm: "str | Route | None", fallback: bool = False) -> dict[str, Any]:
        pid = new_id()
        latency = (time.perf_counter() - began) * 1000
        route, plain = (None, arm) if arm is None or isinstance(arm, str) else (arm, None)
        name, experiment, phase = (route.arm, route.experiment, route.phase) if route else (plain, None, None)
        if self.log is not None:
            self.log.put(Record(pid, int(time.time() * 1_000_000), served.model, served.version, name,
                                served.entity_key, eid, row, output, latency, experiment, phase, fallback))
        self.requests += 1
        if route is None:
            return {"prediction_id": pid, "model": served.model, "version": served.version, "output": output}
        return {"prediction_id": pid, "experiment": route.experiment, "phase": route.phase, "arm": name,
                "model": served.model, "version": served.version, "output": output}

    def _failed(self, served: Served, eid: str, row: dict[str, Any], exc: Exception, began: float,
                arm: "str | Route | None") -> Exception:
        """Log a server-side failure (5xx) as an error row (a caller's mistake, 4xx, is not logged); ``exc``."""
        if isinstance(exc, MlplatError) and exc.http_status < 500:
            return exc
        self.errors += 1
        if self.log is not None:
            named = arm if arm is None or isinstance(arm, str) else arm.arm
            experiment, phase = (None, None) if arm is None or isinstance(arm, str) else (arm.experiment, arm.phase)
            self.log.put(Record(new_id(), int(time.time() * 1_000_000), served.model, served.version, named,
                                served.entity_key, eid, row, {}, (time.perf_counter() - began) * 1000, experiment,
                                phase, error=error_reason(exc)))
        return exc

    def precomputed(self, model: str, entity_id: str) -> dict[str, Any]:
        """The newest batch prediction of ``model`` for one entity, from Online Serving."""
        from mlplat.features.online.base import entity_name
        from mlplat.serving.batch import VERSION_COLUMN

        served = self._served.get(model)
        if served is not None:
            entity_key, outputs = served.entity_key, served.pipeline.output_columns
        else:  # not deployed: its newest version's metadata says the key and the outputs
            meta = self._models().detail(model).metadata
            entity_key, outputs = entity_name(meta["inputs"]["entity"]), list(meta["outputs"])
        ref = precomputed_ref(model, [*outputs, VERSION_COLUMN])
        try:
            rows = self.features.rows(entity_key, str(entity_id), [ref])
        except MlplatError:
            raise
        except Exception as exc:  # broad on purpose: any store failure
            raise ServiceUnavailable(f"Online Serving did not answer: {exc}") from None
        row = rows.get(ref.name)
        if row is None:
            raise NotFoundError(f"no precomputed prediction of {model!r} for {entity_key}={entity_id}; "
                                f"run `mlplat batch-predict {model} --online`", model=model)
        values = dict(row.values)
        version = values.pop(VERSION_COLUMN, None)
        return {"model": model, "version": version, "entity": {entity_key: entity_id}, "output": values,
                "computed_at": row.event_ts.isoformat()}

    def health(self) -> dict[str, Any]:
        stats = self.log.stats().to_dict() if self.log is not None else {}
        return {"models": {m: s.version for m, s in self._served.items()}, "generation": self._generation,
                "load_errors": dict(self.load_errors), "prediction_log": stats,
                **({"experiments": self.experiments.health()} if self.experiments is not None else {})}


def _fell_back(served: Served, store: Mapping[str, Any]) -> bool:
    """Whether Online Serving gave no value for one of the model's store features (a declared default stood in):
    the id has no row or a null, or the store was down and the deployment allows ``store_fallback`` (no values)."""
    return bool(served.features) and (not store or None in store.values())


def error_reason(exc: BaseException) -> str:
    """A failure in a few words for the log: the platform's error code and message, or the exception's type."""
    if isinstance(exc, MlplatError):
        return f"{exc.code}: {exc.message}"[:200]
    return f"model error: {type(exc).__name__}: {exc}"[:200]


def precomputed_ref(model: str, columns: Sequence[str] = ()) -> Any:
    """The Online Serving set holding a model's batch predictions (one per model, version 1)."""
    from mlplat.features.online.base import SetRef

    return SetRef(PRECOMPUTED_PREFIX + model, 1, tuple(columns))


__all__ = ["InferenceCore", "PRECOMPUTED_PREFIX", "Served", "error_reason", "precomputed_ref", "prepare"]
