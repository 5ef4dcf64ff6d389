"""The Example Store: point-in-time-correct training sets, versioned, with a manifest.

One module per concern: ``store`` (what a version is, finding and reading one),
``build`` (the join and the publishing of a new version), ``local`` (the
in-process join engine's reading and writing on a local lake) and ``manifest``
(what a version records about itself). Moving a folder into the lake is
``mlplat.lake.publish``'s job, shared with the offline tables and batch
predictions. Callers import from here.
"""

from mlplat.features.examples.build import build_examples, label_set
from mlplat.features.examples.local import LOCAL_JOIN_MAX_ROWS
from mlplat.features.examples.store import (
    ExampleSetInfo,
    consumers_of,
    get_examples,
    list_examples,
    owner_team,
    parse_ref,
    read_examples,
    to_pandas,
)

__all__ = [
    "ExampleSetInfo", "LOCAL_JOIN_MAX_ROWS", "build_examples", "consumers_of", "get_examples", "label_set",
    "list_examples", "owner_team", "parse_ref", "read_examples", "to_pandas",
]
