"""One-row prediction without pandas: the Inference Service's hot path.

``RowPredictor`` compiles the pipeline's own stages once: its schema's row
decoder, its transformer's steps (each step's row form, written beside its
frame form in the step's op), and its postprocess's row form; then it calls the
estimator on a 1 x n float64 matrix. Nothing here re-implements a stage, so
the output is identical to ``ModelPipeline.predict`` on the same row (tests
check that on every row of an example set). A micro-batch of rows is scored in
one model call where rows are independent: trees (bit for bit) and networks
(to float32 precision: their kernels may sum a batch in another order). A
transformer with a step that has no row form (a user function) runs on a
one-row frame instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Callable, Mapping

import numpy as np

from mlplat.errors import ValidationError
from mlplat.features.transform_base import Row, RowFn
from mlplat.models.catalog import CLUSTERING

if TYPE_CHECKING:  # pragma: no cover
    from mlplat.models.pipeline import ModelPipeline


def lacks_model_columns(missing: list[str]) -> ValidationError:
    return ValidationError(f"the transformed input lacks model column(s) {missing}", missing=missing)


class RowPredictor:
    """``predict(store, session) -> dict`` for one request, identical to the pipeline's pandas path."""

    decode: Callable[[Mapping[str, Any], Mapping[str, Any]], Row]

    def __init__(self, pipeline: "ModelPipeline") -> None:
        self.pipeline = pipeline
        schema, transformer = pipeline.schema, pipeline.transformer
        self.decode = schema.row_decoder()
        self._transform: RowFn | None = None
        self.compiled = True  # every transform step runs without pandas
        if transformer is not None:
            # inputs the decoded row lacks: the one-row frame raises what the frame path raises
            compiled = None if transformer.missing_columns(schema.names) else transformer.compile_row()
            self.compiled = compiled is not None
            self._transform = compiled or transformer.transform_row_pandas
        self._columns = list(pipeline.model_columns)
        self._post = pipeline.postprocess.row_function()
        model = pipeline.model
        # Trees score each row on its own, so a batch gives each row exactly its one-row output. A network's
        # batched outputs equal its one-row ones to float32 precision (the deploy check's NET_RTOL). A linear
        # model's float64 product may sum in another order for a batch, so its rows are scored one by one.
        trees = hasattr(model, "get_booster")
        network = hasattr(model, "serve_single_threaded")
        self.rows_independent = ((trees or network) and pipeline.task != CLUSTERING
                                 and pipeline.postprocess.kind != "classes")
        self._score = _booster_scorer(model) if self.rows_independent and trees else pipeline.score

    def vector(self, row: Row) -> np.ndarray:
        """The 1 x n matrix the estimator sees for a decoded row (``row`` is not changed)."""
        if self._transform is not None:
            row = self._transform(dict(row))
        try:
            values = [row[c] for c in self._columns]
        except KeyError:
            raise lacks_model_columns([c for c in self._columns if c not in row]) from None
        return np.array([values], dtype=np.float64)

    def predict(self, store: Mapping[str, Any], session: Mapping[str, Any]) -> dict[str, Any]:
        """One prediction: Online Serving values (``set.col``) and session features in, output fields out."""
        return self.predict_decoded(self.decode(store, session))

    def predict_rows(self, rows: list[Row]) -> list[dict[str, Any]]:
        """Outputs for decoded rows, each identical to ``predict_decoded`` on it alone (one model call for trees)."""
        if not self.rows_independent or len(rows) < 2:
            return [self.predict_decoded(r) for r in rows]
        raw = self._score(np.vstack([self.vector(r) for r in rows]))
        post = self._post
        return [post(raw[k]) for k in range(len(rows))]

    def predict_decoded(self, row: Row) -> dict[str, Any]:
        """The output for a row ``decode`` made (``row`` is not changed)."""
        return self._post(self._score(self.vector(row))[0])


def _booster_scorer(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    """XGBoost without its scikit-learn wrapper: what ``ModelPipeline.score`` computes, minus the checks.

    The wrapper calls ``inplace_predict`` with the model's ``missing`` over the
    whole ensemble (no early stopping here); for two classes its
    ``predict_proba`` stacks ``1 - p`` and ``p``, of which the pipeline keeps
    ``p``: so this returns ``p`` itself, bit for bit.
    """
    booster, missing = model.get_booster(), model.missing
    return lambda x: booster.inplace_predict(x, missing=missing)


__all__ = ["RowPredictor", "lacks_model_columns"]
