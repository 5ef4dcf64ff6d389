"""Online Serving as one object: the store and the name resolver, built once per process.

Three surfaces read Online Serving (the platform API's ``/v1/online`` routes,
the in-process client, the Inference Service) and two write it besides
materialization (batch predictions, the deploy check reads). Each used to open
its own store and resolver; now the composition root builds one
``OnlineServing`` and hands it to whoever needs it. Opening connects nothing:
the first call does, so a process starts while Redis is down and its reads
answer 503 until Redis is back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Sequence

from mlplat.features.online.base import OnlineStore, Row, SetRef, open_store
from mlplat.features.online.read import FeatureResolver, get_online

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from mlplat.features.registry import Registry


class OnlineServing:
    """Reads by feature name (one store round trip) and writes of served-row tables."""

    def __init__(self, store: OnlineStore, resolver: FeatureResolver, where: str = "") -> None:
        self.store = store
        self.resolver = resolver
        self.where = where  # the store's URL without credentials, for messages

    @classmethod
    def open(cls, url: str, registry: "Registry", timeout: float = 10.0) -> "OnlineServing":
        return cls(open_store(url, timeout), FeatureResolver(registry), url.split("@")[-1])

    def read(self, entity: str, ids: Sequence[str], features: Sequence[str] | str | None = None, *,
             values_only: bool = False) -> list[dict[str, Any]]:
        """Each id's newest values of ``features`` in the shape every surface answers (see ``read.get_online``)."""
        return get_online(self.resolver, self.store, entity, ids, features, values_only=values_only)

    def read_sharing(self, entity: str, ids: Sequence[str], features: Sequence[str] | str | None,
                     also: Callable[[Any], None], server: str) -> tuple[list[dict[str, Any]], list[Any]] | None:
        """``read(..., values_only=True)`` with the commands ``also`` adds to the round trip's redis-py pipeline
        (for the Redis at ``server``), and their replies; None (nothing sent) when the store is not that
        standalone Redis: the caller then sends them itself (``redis_shared``)."""
        from mlplat.features.online.read import MAX_IDS, feature_values
        from mlplat.features.online.redis_shared import read_with, shares_with

        store = self.store
        if len(ids) > MAX_IDS or not shares_with(store, server):
            return None
        selections = self.resolver.resolve(entity, features)
        rows, replies = read_with(store, entity, [str(i) for i in ids], [s.ref for s in selections], also)
        return [feature_values(selections, r) for r in rows], replies

    def refresh_ahead(self, entity: str, features: Sequence[str] | str | None, seconds: float) -> None:
        self.resolver.refresh_ahead(entity, features, seconds)

    def rows(self, entity: str, id: str, refs: Sequence[SetRef]) -> dict[str, Row | None]:
        """The stored rows of one id for set versions named directly (no name resolution)."""
        return self.store.get(entity, id, refs)

    def write(self, ref: SetRef, entity: str, table: "pa.Table") -> int:
        """Write a served-rows Arrow table (guarded: an older event never overwrites a newer one); rows written."""
        from mlplat.features.online.materialize import write_table

        return write_table(self.store, ref, entity, table).written

    def ping(self) -> None:
        self.store.ping()

    def close(self) -> None:
        self.store.close()


__all__ = ["OnlineServing"]
