"""The data lake: locations by URL scheme (``paths``), the table catalog (``catalog``) and its verbs (``service``).

Its files are moved and deleted in one place, by URL scheme (``files``); a folder is published atomically, staged,
renamed in, swapped or settled after a crash, by one rule (``publish``); Parquet that Spark refuses as it is
(pandas' nanosecond timestamps) is handled by ``parquet``.
"""

from mlplat.lake.catalog import FORMATS, Lake, TableInfo
from mlplat.lake.paths import SCHEMES, join, local_path, to_url

__all__ = ["FORMATS", "Lake", "SCHEMES", "TableInfo", "join", "local_path", "to_url"]
