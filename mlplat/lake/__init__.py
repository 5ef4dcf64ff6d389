"""The data lake: locations by URL scheme (``paths``), the table catalog (``catalog``) and its verbs (``service``)."""

from mlplat.lake.catalog import FORMATS, Lake, TableInfo
from mlplat.lake.paths import SCHEMES, join, local_path, to_url

__all__ = ["FORMATS", "Lake", "SCHEMES", "TableInfo", "join", "local_path", "to_url"]
