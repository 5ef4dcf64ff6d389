"""The Model Pipeline: decode -> transform -> model -> postprocess, one object from notebook to serving.

- **decode** (``inputs``) turns what the Feature Store gives plus session
  features from the caller into the model's input: declared fields, types and
  defaults, checked with errors that name the field.
- **transform** is the model's fitted Transformer (``name:vN`` from the
  Feature Store), kept inline so a loaded pipeline needs no database.
- **model** is a scikit-learn-style estimator from the catalog.
- **postprocess** (``postprocess``) turns the raw output into what a caller
  uses (probability and label, a value, a segment name, the top-k ids).

Every stage has one rule with a frame form and a row form beside it. ``predict``
runs the frame forms (training, evaluation, batch scoring); ``RowPredictor``
(``fastpath``) compiles the row forms for one request, and ``predict_online``
goes through it as the Inference Service does. The whole object is
cloudpickled; MLflow stores it as a pyfunc (``mlplat.models.pyfunc``).
"""

from __future__ import annotations

import io
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd

from mlplat.errors import ValidationError
from mlplat.features.transform_base import plain
from mlplat.features.transforms import Transformer
from mlplat.models.catalog import CLASSIFICATION
from mlplat.models.fastpath import RowPredictor, lacks_model_columns

# Re-exported: callers import them from here, and pipelines pickled before the split name their classes
# ``mlplat.models.pipeline.InputSchema`` and so on.
from mlplat.models.inputs import FIELD_TYPES, SESSION, STORE, InputField, InputSchema, field_type, online_key
from mlplat.models.postprocess import Postprocess

FORMAT = 1


# -- the pipeline ---------------------------------------------------------------------
class ModelPipeline:
    """decode -> transform -> model -> postprocess. ``predict`` is the one path every caller takes."""

    def __init__(
        self,
        schema: InputSchema,
        transformer: Transformer | None,
        model: Any,
        postprocess: Postprocess,
        *,
        task: str,
        model_columns: Sequence[str],
        kind: str,
        target: str | None = None,
        input_example: pd.DataFrame | None = None,
        example_output: pd.DataFrame | None = None,
    ) -> None:
        self.schema = schema
        self.transformer = transformer
        self.model = model
        self.postprocess = postprocess
        self.task = task
        self.model_columns = list(model_columns)
        self.kind = kind
        self.target = target
        self.input_example = input_example
        self.example_output = example_output

    def __repr__(self) -> str:
        t = self.transformer.id if self.transformer is not None and self.transformer.id else "none"
        return (f"ModelPipeline({self.kind} {self.task}: {len(self.schema.fields)} inputs, transformer {t}, "
                f"{len(self.model_columns)} model columns -> {', '.join(self.postprocess.columns)})")

    @property
    def output_columns(self) -> list[str]:
        return self.postprocess.columns

    # stages, each usable alone (evaluation wants the raw scores)
    def decode(self, data: Any) -> pd.DataFrame:
        return self.schema.decode(data)

    def matrix(self, data: Any, decoded: bool = False) -> np.ndarray:
        """The numbers the estimator sees: decode, transform, then the model columns in order."""
        frame = data if decoded else self.decode(data)
        if self.transformer is not None:
            frame = self.transformer.transform_pandas(frame)
        missing = [c for c in self.model_columns if c not in frame.columns]
        if missing:
            raise lacks_model_columns(missing)
        return frame[self.model_columns].to_numpy(dtype=np.float64, na_value=np.nan)

    def score(self, x: np.ndarray) -> np.ndarray:
        """The estimator on a matrix: what postprocess takes (for a threshold, the positive class's probability)."""
        if self.task == CLASSIFICATION:
            proba = self.model.predict_proba(x)
            return proba[:, 1] if self.postprocess.kind == "threshold" else proba
        return np.asarray(self.model.predict(x))

    def raw(self, data: Any, decoded: bool = False) -> np.ndarray:
        x = self.matrix(data, decoded)
        if len(x) == 0:
            return np.empty((0,) if self.postprocess.kind != "classes" else (0, len(self.postprocess.classes)))
        return self.score(x)

    def predict(self, data: Any) -> pd.DataFrame:
        """Rows in (frame, dicts or one dict), one output row per input row."""
        return self.postprocess.apply(self.raw(data))

    def predict_online(
        self, store: Sequence[Mapping[str, Any]], session: Sequence[Mapping[str, Any]] | None = None
    ) -> pd.DataFrame:
        """Predict from Online Serving payloads (``{"set.col": v}`` per row) and session features.

        Each row goes the Inference Service's way (``RowPredictor``): decoded
        as one request, a field Online Serving lacks taking its default.
        """
        session = session if session is not None else [{}] * len(store)
        if len(session) != len(store):
            raise ValidationError(f"{len(store)} store rows but {len(session)} session rows")
        predictor = RowPredictor(self)
        rows = []
        for i, (values, features) in enumerate(zip(store, session)):
            try:
                rows.append(predictor.decode(values, features))
            except ValidationError as exc:
                if len(store) == 1:
                    raise
                raise ValidationError(f"row {i}: {exc.message}", **{**exc.details, "row": i}) from None
        return pd.DataFrame(predictor.predict_rows(rows), columns=self.output_columns)

    # persistence
    def to_bytes(self) -> bytes:
        import cloudpickle

        buffer = io.BytesIO()
        cloudpickle.dump({"format": FORMAT, "pipeline": self}, buffer)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "ModelPipeline":
        import pickle

        loaded = pickle.loads(data)  # noqa: S301 - the Model Repository is trusted, as any pickled model is
        if not isinstance(loaded, dict) or loaded.get("format") != FORMAT:
            raise ValidationError(f"not a model pipeline of format {FORMAT}: upgrade mlplat where it is loaded")
        return loaded["pipeline"]

    def save(self, path: str) -> None:
        with open(path, "wb") as fh:
            fh.write(self.to_bytes())

    @classmethod
    def load(cls, path: str) -> "ModelPipeline":
        with open(path, "rb") as fh:
            return cls.from_bytes(fh.read())

    def describe(self) -> dict[str, Any]:
        """JSON-friendly summary: inputs, transformer, model, outputs."""
        return {
            "kind": self.kind,
            "task": self.task,
            "target": self.target,
            "inputs": self.schema.to_dict(),
            "transformer": self.transformer.id if self.transformer is not None else None,
            "model_columns": list(self.model_columns),
            "postprocess": self.postprocess.to_dict(),
            "outputs": self.output_columns,
        }

    def with_examples(self, frame: pd.DataFrame, rows: int = 5) -> "ModelPipeline":
        """A copy remembering ``rows`` input rows and their outputs (the deploy sanity test replays them)."""
        example = frame[[c for c in self.schema.names if c in frame.columns]].head(rows).reset_index(drop=True)
        clone = ModelPipeline.__new__(ModelPipeline)
        clone.__dict__.update(self.__dict__)
        clone.input_example = example
        clone.example_output = self.predict(example)
        return clone


def is_close(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    """Two prediction frames are the same: equal labels, floats equal to 1e-12 relative."""
    if list(a.columns) != list(b.columns) or len(a) != len(b):
        return False
    for c in a.columns:
        x, y = a[c].to_numpy(), b[c].to_numpy()
        if np.issubdtype(x.dtype, np.floating) and np.issubdtype(y.dtype, np.floating):
            if not np.allclose(x, y, rtol=1e-12, atol=0, equal_nan=True):
                return False
        elif list(map(plain, x)) != list(map(plain, y)):
            return False
    return True


__all__ = [
    "FIELD_TYPES", "InputField", "InputSchema", "ModelPipeline", "Postprocess", "SESSION", "STORE", "field_type",
    "is_close", "online_key",
]
