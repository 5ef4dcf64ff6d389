"""Postprocess: a model's raw output -> what a caller uses (probability and label, a value, a segment, the top k).

One rule per kind, in two forms side by side: ``apply`` on the raw output of
many rows (a frame out) and ``row_function`` on one row's raw output (a dict of
plain values out, what the Inference Service answers). Both compare, pick and
map the same float64 numbers, so a row's output equals its row of the frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from mlplat.errors import ValidationError
from mlplat.features.transform_base import plain
from mlplat.models.catalog import CLASSIFICATION, REGRESSION


@dataclass(frozen=True)
class Postprocess:
    """Raw model output -> the columns a caller gets. ``kind`` picks the rule; the rest are its settings."""

    kind: str  # threshold | classes | value | segments
    threshold: float = 0.5
    classes: tuple[Any, ...] = ()
    top_k: int = 0
    id_map: dict[str, Any] = field(default_factory=dict)
    segments: tuple[str, ...] = ()

    @property
    def columns(self) -> list[str]:
        return {
            "threshold": ["probability", "label"],
            "classes": ["label", "probability"] + (["top_k"] if self.top_k else []),
            "value": ["value"],
            "segments": ["cluster", "segment"],
        }[self.kind]

    def _id(self, cls: Any) -> Any:
        return self.id_map.get(str(cls), cls) if self.id_map else cls

    def _segment(self, cluster: int) -> str:
        return self.segments[cluster] if cluster < len(self.segments) else f"segment_{cluster}"

    def apply(self, raw: np.ndarray) -> pd.DataFrame:
        """Many rows: ``raw`` is the positive class's probabilities (threshold), a probability matrix
        (classes), values, or cluster numbers."""
        if self.kind == "threshold":
            p = np.asarray(raw, dtype=float)
            negative, positive = self.classes
            labels = np.where(p >= self.threshold, positive, negative)
            return pd.DataFrame({"probability": p, "label": labels})
        if self.kind == "classes":
            proba = np.asarray(raw, dtype=float)
            best = proba.argmax(axis=1)
            mapped = [self._id(c) for c in self.classes]
            out = {"label": [mapped[i] for i in best], "probability": proba[np.arange(len(best)), best]}
            if self.top_k:
                order = np.argsort(-proba, axis=1, kind="stable")[:, : self.top_k]
                out["top_k"] = [[mapped[j] for j in row] for row in order]
            return pd.DataFrame(out)
        if self.kind == "value":
            return pd.DataFrame({"value": np.asarray(raw, dtype=float)})
        clusters = np.asarray(raw, dtype=int)
        return pd.DataFrame({"cluster": clusters, "segment": [self._segment(c) for c in clusters]})

    def row_function(self) -> Callable[[Any], dict[str, Any]]:
        """One row: ``raw`` is one element of what ``apply`` takes; plain values out, None for a NaN value."""
        if self.kind == "threshold":
            negative, positive = self.classes
            threshold = self.threshold

            def decide(raw: Any) -> dict[str, Any]:
                p = float(raw)
                return {"probability": p, "label": positive if p >= threshold else negative}
            return decide
        if self.kind == "classes":
            mapped, top_k = [self._id(c) for c in self.classes], self.top_k

            def pick(raw: Any) -> dict[str, Any]:
                proba = np.asarray(raw, dtype=float)
                best = int(proba.argmax())
                out = {"label": mapped[best], "probability": float(proba[best])}
                if top_k:
                    out["top_k"] = [mapped[j] for j in np.argsort(-proba, kind="stable")[:top_k]]
                return out
            return pick
        if self.kind == "value":
            return lambda raw: {"value": plain(float(raw))}

        def segment(raw: Any) -> dict[str, Any]:
            cluster = int(raw)
            return {"cluster": cluster, "segment": self._segment(cluster)}
        return segment

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "threshold": self.threshold, "classes": [plain(c) for c in self.classes],
                "top_k": self.top_k, "id_map": dict(self.id_map), "segments": list(self.segments)}

    @classmethod
    def for_task(
        cls,
        task: str,
        classes: Sequence[Any] = (),
        *,
        threshold: float = 0.5,
        top_k: int = 0,
        id_map: Mapping[str, Any] | None = None,
        segments: Sequence[str] = (),
    ) -> "Postprocess":
        if task == CLASSIFICATION:
            if not 0.0 < threshold < 1.0:
                raise ValidationError(f"threshold must be between 0 and 1, not {threshold}")
            if len(classes) == 2 and not top_k:
                return cls("threshold", threshold=threshold, classes=tuple(plain(c) for c in classes))
            return cls("classes", classes=tuple(plain(c) for c in classes), top_k=int(top_k),
                       id_map={str(k): v for k, v in (id_map or {}).items()})
        if task == REGRESSION:
            return cls("value")
        return cls("segments", segments=tuple(segments))


__all__ = ["Postprocess"]
