"""Online Serving: the newest feature values per entity, one round trip away.

``open_store(settings.online_store, settings.http_timeout)`` gives the store;
``materialize`` fills it from a set version's offline table; ``get_online``
reads it by feature name in the response shape every surface shares.
"""

from mlplat.features.online.base import (
    OnlineStore,
    Row,
    SetRef,
    ValueCodec,
    WriteResult,
    entity_id,
    entity_name,
    open_store,
)
from mlplat.features.online.materialize import MaterializeResult, materialize, set_ref
from mlplat.features.online.read import FeatureResolver, get_online

__all__ = [
    "FeatureResolver",
    "MaterializeResult",
    "OnlineStore",
    "Row",
    "SetRef",
    "ValueCodec",
    "WriteResult",
    "entity_id",
    "entity_name",
    "get_online",
    "materialize",
    "open_store",
    "set_ref",
]
