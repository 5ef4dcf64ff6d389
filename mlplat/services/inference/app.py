"""The Inference Service over HTTP: ``create_app(settings)``.

Routes: ``POST /v1/predict/{model}`` (one ``{"entity", "features"}`` or a batch
``{"instances": [...]}``; ``"experiment"`` in the body routes it through that
experiment), ``POST /v1/experiments/{name}/predict`` (the arm the experiment
assigns answers: ``experiments.py``), ``GET /v1/precomputed/{model}/{entity_id}``,
``GET /v1/models``, ``/healthz``, ``/readyz``, ``/metrics`` (Prometheus) and
the OpenAPI document at ``/openapi.json``.

The predict route is the hot path, ``answer``: it takes the raw body (size
limit, orjson), skips FastAPI's validation layer and every middleware,
authenticates from a cache, and micro-batches the core's compiled predictor
on the event loop (the work is a few hundred microseconds of CPU and one
Redis round trip with a bounded timeout, cheaper than a thread hand-off).
Under granian (the default server) ``rsgi.RsgiService`` calls it; under
uvicorn, ``PredictFastPath`` does, outside FastAPI's middleware. Errors are
the platform's one error body, ``{"error": code, "message": ..., "details": {...}}``, with their status.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse, Response
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from mlplat.config import Settings
from mlplat.errors import (
    InternalError,
    MlplatError,
    PayloadTooLarge,
    ValidationError,
)
from mlplat.identity import Identity
from mlplat.services.api.auth import Authenticator, bearer_token
from mlplat.services.inference import schemas
from mlplat.services.inference.auth import SERVICE_NAME, ChainAuthenticator, default_authenticator
from mlplat.services.inference.batching import Batcher
from mlplat.services.inference.experiments import experiment_request, predict_target
from mlplat.services.prefix import HubPrefix, normalize_prefix, strip_prefix
from mlplat.serving.core import InferenceCore

log = logging.getLogger("mlplat.inference")
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def _json(status: int, body: Any) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def _error_body(exc: MlplatError) -> bytes:
    """The platform's one error body (``MlplatError.to_dict``): the client rebuilds the same error from it."""
    return orjson.dumps(exc.to_dict(), default=str)


def _mlplat_error(exc: MlplatError) -> Response:
    return Response(_error_body(exc), status_code=exc.http_status, media_type="application/json")


def default_core(settings: Settings, experiment_feed: Any = None) -> InferenceCore:
    """A core wired by the composition root: Online Serving with the service's tighter timeout, the
    Model Repository, the prediction log in the lake, and the live experiments (``experiment_feed``, by
    default the platform's)."""
    from mlplat.lake import join
    from mlplat.platform import Platform
    from mlplat.services.inference.experiments import attach
    from mlplat.serving.predlog import LOG_DIR, PredictionLog
    from mlplat.serving.workers import Announcer

    platform = Platform(settings, online_timeout=settings.inference_store_timeout)
    core = InferenceCore(platform.db, lambda: platform.repository, platform.online,
                         prediction_log=PredictionLog(join(settings.lake, LOG_DIR)), announcer=Announcer(platform.db))
    feed = experiment_feed if experiment_feed is not None else platform.experiment_feed
    if feed is not None:
        attach(core, settings, feed, lambda: platform.repository)
    return core


def create_app(
    settings: Settings,
    *,
    core: InferenceCore | None = None,
    authenticator: Authenticator | None = None,
    service_prefix: str = "",
) -> FastAPI:
    """The app; ``core`` defaults to one started on ``settings`` (loads the live deployments)."""
    if core is None:
        core = default_core(settings).start()
    auth = authenticator or default_authenticator(settings)
    max_body = settings.inference_max_body
    registry = CollectorRegistry()
    requests_total = Counter("mlplat_inference_requests", "predict requests", ["model", "status"], registry=registry)
    latency = Histogram("mlplat_inference_latency_seconds", "predict latency", ["model"], registry=registry,
                        buckets=LATENCY_BUCKETS)
    errors_total = Counter("mlplat_inference_errors", "failed requests", ["kind"], registry=registry)
    # With several worker processes (PROMETHEUS_MULTIPROC_DIR set by __main__) /metrics sums them all.
    shared = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
    total: dict[str, Any] = {"multiprocess_mode": "livesum"} if shared else {}
    highest: dict[str, Any] = {"multiprocess_mode": "livemax"} if shared else {}
    queue_depth = Gauge("mlplat_prediction_log_queue", "prediction-log records waiting", registry=registry, **total)
    log_drops = Gauge("mlplat_prediction_log_dropped", "prediction-log records dropped", registry=registry, **total)
    log_written = Gauge("mlplat_prediction_log_written", "prediction-log records written", registry=registry, **total)
    served_version = Gauge("mlplat_inference_served_version", "version served per model", ["model"],
                           registry=registry, **highest)
    sticky_fallbacks = Counter("mlplat_inference_sticky_fallbacks", "sticky assignments the hash made: Redis "
                               "did not answer", ["experiment"], registry=registry)
    if core.experiments is not None and core.experiments.sticky is not None:
        core.experiments.sticky.on_fallback = lambda name, n: sticky_fallbacks.labels(name).inc(n)

    children: dict[tuple[str, int], tuple[Any, Any]] = {}

    def count(model: str, status: int, seconds: float) -> None:
        pair = children.get((model, status))  # labels() costs a lock and a lookup: once per model and status
        if pair is None:
            pair = children[(model, status)] = (requests_total.labels(model, str(status)), latency.labels(model))
        pair[0].inc()
        pair[1].observe(seconds)

    def refresh_gauges() -> None:
        if core.log is not None:
            stats = core.log.stats()
            queue_depth.set(stats.queued)
            log_drops.set(stats.dropped)
            log_written.set(stats.written)
        for name, served in core.served.items():
            served_version.labels(name).set(served.version)

    lifecycle = Lifecycle(core, refresh_gauges)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        lifecycle.start()
        yield
        lifecycle.stop()  # graceful shutdown flushes the prediction log

    app = InferenceApp(
        title="mlplat Inference Service",
        version="1",
        description="Predictions from deployed Model Pipelines, with features from Online Serving.",
        lifespan=lifespan,
    )
    app.state.core = core
    app.state.lifecycle = lifecycle

    def caller(request: Request) -> Identity:
        return auth.identify(bearer_token(request.headers.get("authorization")))

    batcher = Batcher(core)

    async def answer(model: str | None, authorization: str | None, raw: bytes, too_large: int | None,
                     experiment: str | None = None) -> tuple[int, bytes]:
        """One predict request: (status, JSON body). Shared by the fast paths and the documented routes.
        ``experiment``: the request came to ``/v1/experiments/{experiment}/predict`` (``model`` is None)."""
        began = time.perf_counter()
        status = 200
        try:
            auth.identify(bearer_token(authorization))
            if too_large is not None:
                raise _TooLarge(too_large)
            try:
                body = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise _BadJson(str(exc)) from None
            if not isinstance(body, dict):
                status = 400
                return 400, _error_body(ValidationError(
                    "the body must be a JSON object: {entity, features} or {instances}"))
            if experiment is not None or "experiment" in body:
                name = experiment if experiment is not None else body["experiment"]
                unit, entity, features = experiment_request(core, name, model, body)
                result: Any = await batcher.predict_in(name, unit, entity, features)
            elif "instances" in body:
                result = {"predictions": core.predict_batch(str(model), body["instances"])}
            else:
                result = await batcher.predict(str(model), body.get("entity"), body.get("features"))
            return 200, orjson.dumps(result)
        except MlplatError as exc:
            status = exc.http_status
            errors_total.labels(exc.code).inc()
            return status, _error_body(exc)
        except _TooLarge as exc:
            status = 413
            errors_total.labels(PayloadTooLarge.code).inc()
            return 413, _error_body(PayloadTooLarge(f"the body is {exc.size} bytes; the limit is {max_body}"))
        except _BadJson as exc:
            status = 400  # not 422: the body is not JSON at all
            errors_total.labels(ValidationError.code).inc()
            return 400, _error_body(ValidationError(f"the body is not valid JSON: {exc}"))
        except Exception as exc:  # broad on purpose: a bug answers 500, it never kills the worker
            status = 500
            errors_total.labels(InternalError.code).inc()
            log.exception("predict %s failed", model or experiment)
            return 500, _error_body(InternalError(f"internal error: {type(exc).__name__}"))
        finally:
            label = model if model in core.served else "_experiment" if model is None else "_unknown"
            count(str(label), status, time.perf_counter() - began)

    @app.post("/v1/predict/{model}", tags=["predict"], openapi_extra=schemas.PREDICT_BODY, responses=schemas.PREDICT)
    async def predict(model: str, request: Request) -> Response:
        # Requests are answered by the fast paths (PredictFastPath, rsgi.RsgiService), which keep the body limit
        # while reading; this route documents them in the OpenAPI document and answers the same.
        raw = await request.body()
        status, payload = await answer(model, request.headers.get("authorization"), raw,
                                       len(raw) if len(raw) > max_body else None)
        return Response(payload, status_code=status, media_type="application/json")

    @app.post("/v1/experiments/{name}/predict", tags=["predict"], openapi_extra=schemas.EXPERIMENT_BODY,
              responses=schemas.EXPERIMENT_PREDICT)
    async def predict_in_experiment(name: str, request: Request) -> Response:
        # Answered by the fast paths too; documented here, and answered the same when a request gets this far.
        raw = await request.body()
        status, payload = await answer(None, request.headers.get("authorization"), raw,
                                       len(raw) if len(raw) > max_body else None, experiment=name)
        return Response(payload, status_code=status, media_type="application/json")

    @app.get("/v1/precomputed/{model}/{entity_id}", tags=["predict"], responses=schemas.PRECOMPUTED)
    def precomputed(model: str, entity_id: str, request: Request) -> Response:
        try:
            caller(request)
            return _json(200, core.precomputed(model, entity_id))
        except MlplatError as exc:
            return _mlplat_error(exc)

    @app.get("/v1/models", tags=["predict"], responses=schemas.MODELS)
    def models(request: Request) -> Response:
        try:
            caller(request)
        except MlplatError as exc:
            return _mlplat_error(exc)
        return _json(200, [s.describe() for s in core.served.values()])

    @app.get("/healthz", tags=["ops"], responses=schemas.HEALTH)
    def healthz() -> Response:
        return _json(200, {"ok": True, "pid": os.getpid()})

    @app.get("/readyz", tags=["ops"], responses=schemas.READY)
    def readyz() -> Response:
        health = core.health()
        ready = not health["load_errors"]
        return _json(200 if ready else 503, {"ready": ready, **health})

    @app.get("/metrics", tags=["ops"], response_class=PlainTextResponse)
    def metrics() -> PlainTextResponse:
        refresh_gauges()
        exposed = registry
        if shared:
            from prometheus_client import multiprocess

            exposed = CollectorRegistry()
            multiprocess.MultiProcessCollector(exposed)
        return PlainTextResponse(generate_latest(exposed).decode(), media_type="text/plain; version=0.0.4")

    app.fast_path = (answer, max_body, normalize_prefix(service_prefix))
    return app


class Lifecycle:
    """One worker's start and stop, whichever server runs it: the gauges refresher, and the graceful
    shutdown that flushes the prediction log."""

    def __init__(self, core: InferenceCore, refresh: Any) -> None:
        self.core, self.refresh = core, refresh
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:  # each worker publishes its own figures; /metrics sums them
            self._thread = threading.Thread(target=self._every_second, name="inference-gauges", daemon=True)
            self._thread.start()

    def _every_second(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.refresh()
            except Exception:  # broad on purpose: figures are best effort
                log.exception("refreshing the inference gauges failed")

    def stop(self) -> None:
        self._stop.set()
        self.core.close()


class InferenceApp(FastAPI):
    """FastAPI with the predict fast path outside every middleware (FastAPI's own included).

    Predict requests never pass the error, telemetry and body-limit layers:
    ``answer`` does those jobs itself. The hub prefix is handled outermost (``HubPrefix``),
    so both ``/v1/...`` and ``/services/inference/v1/...`` reach either path.
    """

    fast_path: tuple[Any, int, str] | None = None

    def build_middleware_stack(self) -> Any:
        app = super().build_middleware_stack()
        if self.fast_path is not None:
            answer, max_body, prefix = self.fast_path
            app = PredictFastPath(app, answer, max_body)
            app = HubPrefix(app, prefix)
        return app


class PredictFastPath:
    """Pure ASGI for ``POST /v1/predict/{model}`` and ``POST /v1/experiments/{name}/predict``: no routing,
    request objects or response classes on the hot path."""

    PREFIX = "/v1/predict/"

    def __init__(self, app: Any, answer: Any, max_body: int) -> None:
        self.app, self.answer, self.max_body = app, answer, max_body

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = strip_prefix(scope["path"], scope.get("root_path", "")) if scope["type"] == "http" else ""
        target = predict_target(path) if scope["type"] == "http" and scope["method"] == "POST" else None
        if target is None:
            await self.app(scope, receive, send)
            return
        authorization, declared = None, None
        for key, value in scope["headers"]:
            if key == b"authorization":
                authorization = value.decode("latin-1")
            elif key == b"content-length" and value.isdigit():
                declared = int(value)
        chunks: list[bytes] = []
        size, too_large = 0, None
        if declared is not None and declared > self.max_body:
            too_large = declared
        else:
            more = True
            while more:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > self.max_body:
                    too_large = size
                    break
                chunks.append(chunk)
                more = message.get("more_body", False)
        status, payload = await self.answer(target[0], authorization, b"".join(chunks), too_large, target[1])
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})


class _TooLarge(Exception):
    def __init__(self, size: int) -> None:
        self.size = size


class _BadJson(Exception):
    pass


def tune_gc() -> None:
    """A serving worker allocates many short-lived objects per request: collect the young generation less
    often, and move what start-up built (modules, pipelines) out of the collector's way."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 50, 100)


def factory() -> FastAPI:
    """For ``uvicorn --factory``: settings from the environment (each worker process builds its own core)."""
    from mlplat.config import load_settings

    app = create_app(load_settings(), service_prefix=os.environ.get("JUPYTERHUB_SERVICE_PREFIX", ""))
    tune_gc()
    return app


__all__ = ["SERVICE_NAME", "ChainAuthenticator", "Lifecycle", "create_app", "default_authenticator", "factory",
           "tune_gc"]
