"""What Managed Hosting needs from the rest of the platform, as small protocols it owns.

Serving reads features from Online Serving and loads pipelines from the Model
Repository; retraining trains through Managed Models' verb. It never reaches
for the whole platform: the composition root (``mlplat/platform.py``) hands it
objects of these shapes, and ``Hosting`` bundles them for the verbs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Protocol, Sequence

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from mlplat.features.online.base import Row, SetRef
    from mlplat.features.registry import Registry
    from mlplat.lake import Lake
    from mlplat.metadata import Database
    from mlplat.models.pipeline import ModelPipeline


class FeatureReader(Protocol):
    """Online Serving as serving uses it: reads by feature name, direct rows, and writes of batch predictions."""

    where: str

    def read(self, entity: str, ids: Sequence[str], features: Sequence[str] | str | None = None, *,
             values_only: bool = False) -> list[dict[str, Any]]: ...

    def read_sharing(self, entity: str, ids: Sequence[str], features: Sequence[str] | str | None,
                     also: Callable[[Any], None], server: str) -> tuple[list[dict[str, Any]], list[Any]] | None:
        """``read(values_only=True)`` carrying the commands ``also`` adds to its (redis-py) pipeline for the Redis
        at ``server`` in the same round trip (a sticky claim with the feature fetch): the values and those
        commands' replies, or None when the store is not that server (nothing was sent)."""
        ...

    def refresh_ahead(self, entity: str, features: Sequence[str] | str | None, seconds: float) -> None: ...

    def rows(self, entity: str, id: str, refs: Sequence["SetRef"]) -> dict[str, "Row | None"]: ...

    def write(self, ref: "SetRef", entity: str, table: "pa.Table") -> int: ...

    def ping(self) -> None: ...


class ModelLoader(Protocol):
    """Loads registered pipelines, as every inference worker does."""

    def load_pipeline(self, name: str, version: int | None = None, alias: str | None = None
                      ) -> tuple[int, "ModelPipeline"]: ...

    def detail(self, name: str, version: int | None = None, alias: str | None = None) -> Any: ...

    def alias_version(self, name: str, alias: str) -> int | None: ...


class ModelStore(ModelLoader, Protocol):
    """The Model Repository's reads and the one write deployment makes (moving the ``production`` alias)."""

    def require_model(self, name: str) -> Any: ...

    def owner(self, name: str) -> str | None: ...

    def resolve(self, name: str, version: int | str | None = None, alias: str | None = None,
                prefer: str | None = None) -> int: ...

    def version(self, name: str, version: int) -> Any: ...

    def set_alias(self, name: str, version: int, alias: str) -> Any: ...

    def set_version_tag(self, name: str, version: int, key: str, value: str) -> None: ...


class ArmView(Protocol):
    """One arm of a live experiment: its name and the Model Pipeline reference it serves."""

    @property
    def name(self) -> str: ...

    @property
    def model(self) -> str: ...

    @property
    def ref(self) -> tuple[str, int | None, str | None]: ...


class AssignmentView(Protocol):
    @property
    def arm(self) -> int | None: ...

    @property
    def reason(self) -> str: ...


class LiveExperimentView(Protocol):
    """A live experiment as serving reads it (``mlplat.experiments.live.LiveExperiment`` has this shape:
    serving may not import the experiments domain, which builds on serving)."""

    @property
    def name(self) -> str: ...

    @property
    def phase(self) -> int: ...

    @property
    def status(self) -> str: ...

    @property
    def arms(self) -> Sequence[ArmView]: ...

    @property
    def hash_attribute(self) -> str: ...

    @property
    def sticky(self) -> bool: ...

    def assign(self, entity_id: Any, attributes: Mapping[str, Any] | None = None) -> AssignmentView: ...


class ExperimentSource(Protocol):
    """The experiments' storage as every worker reads it (``mlplat.experiments.live.ExperimentFeed``)."""

    def live(self) -> Sequence[LiveExperimentView]: ...


class Trainer(Protocol):
    """Managed Models' training verb (retraining re-runs it; it authorizes the registration itself):
    ``train(caller, examples, target, model, **options)``."""

    @property
    def train(self) -> Callable[..., Any]: ...


@dataclass(frozen=True)
class Hosting:
    """The collaborators of the hosting verbs (deploy, batch, retrain), built by the composition root."""

    db: "Database"
    lake: "Lake"
    registry: "Registry"
    spark: Callable[[], Any]
    online: Callable[[], FeatureReader]
    models: Callable[[], ModelStore]
    trainer: Callable[[], Trainer]
    home: Path
    inference_workers: int
    inference_port: int
    deploy_wait_seconds: float


__all__ = ["ArmView", "AssignmentView", "ExperimentSource", "FeatureReader", "Hosting", "LiveExperimentView",
           "ModelLoader", "ModelStore", "Trainer"]
