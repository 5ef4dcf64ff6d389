"""Micro-batching: single predictions that arrive in the same event-loop turn share one ``predict_many``.

The first request of a turn schedules the flush with ``call_soon``, so it
runs right after every request already parsed in that turn has queued: no
timer, no added wait when the service is idle, and under load one Online
Serving round trip and one model call serve many requests. Each request
still gets its own answer or its own error.

Requests to an experiment queue by experiment: the flush assigns all of an
experiment's units at once (a sticky experiment asks Redis once for the whole
turn, in the feature fetch's round trip where it can: ``serving.shared_trip``),
then all routed requests of the turn are answered together: one Online
Serving round trip for every version that reads the same features (unless
they were read with the sticky claim), one model call per version.
"""

from __future__ import annotations

import asyncio
from typing import Any

from mlplat.serving.core import InferenceCore
from mlplat.serving.experiments import Route, Unit
from mlplat.serving.shared_trip import route_sharing

Waiter = tuple[Any, Any, "Route | None", "asyncio.Future[Any]", Any]  # entity, features, route, future, store


class Batcher:
    """Queues single predictions for a model (``predict``) or an experiment (``predict_in``) until the turn ends."""

    def __init__(self, core: InferenceCore) -> None:
        self.core = core
        self.pending: dict[str, list[tuple[Any, Any, asyncio.Future[Any]]]] = {}
        self.experiments: dict[str, list[tuple[Unit, Any, Any, asyncio.Future[Any]]]] = {}
        self.scheduled = False

    def _future(self) -> "asyncio.Future[Any]":
        loop = asyncio.get_running_loop()
        if not self.scheduled:
            self.scheduled = True
            loop.call_soon(self.flush)
        return loop.create_future()

    def predict(self, model: str, entity: Any, features: Any) -> "asyncio.Future[Any]":
        future = self._future()
        self.pending.setdefault(model, []).append((entity, features, future))
        return future

    def predict_in(self, experiment: str, unit: Unit, entity: Any, features: Any) -> "asyncio.Future[Any]":
        future = self._future()
        self.experiments.setdefault(experiment, []).append((unit, entity, features, future))
        return future

    def flush(self) -> None:
        self.scheduled = False
        pending, self.pending = self.pending, {}
        experiments, self.experiments = self.experiments, {}
        routed: list[Waiter] = []
        for name, queued in experiments.items():
            routes: list[Any]
            stores: list[Any]
            try:  # answer() refused the request unless the core has experiments
                routes, stores = route_sharing(self.core, name, [(u, e) for u, e, _, _ in queued])
            except Exception as exc:  # broad on purpose: every waiter gets the error (a bug answers 500)
                routes, stores = [exc] * len(queued), [None] * len(queued)
            for (_, entity, features, future), route, store in zip(queued, routes, stores):
                if isinstance(route, BaseException):
                    _settle(future, route)
                else:
                    routed.append((entity, features, route, future, store))
        for model, items in pending.items():
            self._run(model, [(e, f, None, fut, None) for e, f, fut in items])
        if routed:  # every experiment's requests in one call: versions that read the same features share a fetch
            self._run("", routed)

    def _run(self, model: str, items: list[Waiter]) -> None:
        routes = [w[2] for w in items if w[2] is not None]  # all of a group, or none (a plain model's)
        prefetched = {k: w[4] for k, w in enumerate(items) if w[4] is not None}
        try:
            results: list[Any] = self.core.predict_many(model, [(w[0], w[1]) for w in items], routes=routes or None,
                                                        prefetched=prefetched or None)
        except Exception as exc:  # broad on purpose: a bug, every waiter gets it (and answers 500)
            results = [exc] * len(items)
        for w, result in zip(items, results):
            _settle(w[3], result)


def _settle(future: "asyncio.Future[Any]", result: Any) -> None:
    if future.cancelled():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


__all__ = ["Batcher"]
