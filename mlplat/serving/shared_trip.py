"""One Redis round trip for a bandit request: the sticky arm rides along with the feature fetch.

A sticky experiment (a bandit) needs two things from Redis per request: the arm
the unit holds (``sticky.StickyStore``) and the entity's store features. When
Online Serving is the same standalone Redis as the sticky store and every arm
reads the same store features (``LiveExperiments.shared``), the features of the
whole micro-batch are read with the sticky claims in one pipeline
(``FeatureReader.read_sharing``), before the routes are final: whichever arm a
unit holds, its version reads exactly those values. The values go to
``InferenceCore.predict_many`` as ``prefetched``, so it does not read them again.

Otherwise the claim takes its own round trip and the features theirs, as
before: a Redis Cluster (the unit's key and the entity's key live on different
nodes), a sticky store on another server or database, arms that read different
features, or a store that is not Redis. Redis failing fails both halves alike:
the hash decides the arm (counted by the sticky store) and the features take
the deployment's ``store_fallback`` or answer 503.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

from mlplat.errors import MlplatError
from mlplat.serving.served import without_store

if TYPE_CHECKING:  # pragma: no cover
    from mlplat.serving.core import InferenceCore
    from mlplat.serving.experiments import Route, Unit


def route_sharing(core: "InferenceCore", name: str, requests: Sequence[tuple["Unit", Any]]
                  ) -> tuple[list["Route | MlplatError"], list[dict[str, Any] | MlplatError | None]]:
    """Each ``(unit, entity)``'s route in experiment ``name``, and its store values where they were read in the
    sticky claim's round trip (None where they were not: ``predict_many`` reads them)."""
    live = core.experiments
    assert live is not None  # the service asks only when the core has experiments
    units = [u for u, _ in requests]
    served, sticky = live.shared(name), live.sticky
    if served is None or sticky is None:
        return live.route(name, units), [None] * len(requests)
    ids: dict[int, str] = {}
    for k, (_, entity) in enumerate(requests):
        try:
            ids[k] = core._entity_id(served, entity)
        except MlplatError:
            pass  # predict_many answers the caller's mistake
    got: dict[int, dict[str, Any] | MlplatError] = {}

    def claim(experiment: str, phase: int, pairs: Sequence[tuple[str, str]]) -> list[str | None] | None:
        order = list(ids)
        try:
            answer = core.features.read_sharing(served.entity_key, [ids[k] for k in order], served.features,
                                                lambda pipe: sticky.queue(pipe, experiment, phase, pairs), sticky.url)
        except Exception as exc:  # broad on purpose: Redis failed both halves; each falls back its own way
            try:
                got.update(zip(order, without_store(served, exc, len(order))))
            except MlplatError as error:
                got.update((k, error) for k in order)
            return sticky.settle(experiment, pairs, exc)
        if answer is None:  # not the same Redis after all: the claim's own round trip, the features later
            return sticky.claim(experiment, phase, pairs)
        values, replies = answer
        got.update(zip(order, values))
        return sticky.settle(experiment, pairs, replies)

    routes = live.route(name, units, claim=claim)
    stores: list[dict[str, Any] | MlplatError | None] = []
    for k, route in enumerate(routes):
        same = not isinstance(route, MlplatError) and (route.served.entity_key, route.served.features) == (
            served.entity_key, served.features)  # a refresh between the two may have changed an arm
        stores.append(got.get(k) if same else None)
    return routes, stores


__all__ = ["route_sharing"]
