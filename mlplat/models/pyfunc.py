"""The MLflow pyfunc form of a Model Pipeline: how it is saved and loaded everywhere.

Notebooks, batch scoring and the Inference Service load a registered version
with ``mlflow.pyfunc.load_model`` (or ``repository.load_pipeline``, which
unwraps the same object); ``predict`` runs ``ModelPipeline.predict``.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import mlflow.pyfunc
import pandas as pd

from mlplat.models.pipeline import ModelPipeline

ARTIFACT = "pipeline"  # the key (and file name) of the pickled pipeline inside the MLflow model


# mlflow is read untyped (follow_imports = "skip" in pyproject.toml), so its base class is Any here.
class PipelineModel(mlflow.pyfunc.PythonModel):  # type: ignore[misc]
    """Holds no state of its own: ``load_context`` reads the pickled pipeline from the model's artifacts."""

    def __init__(self) -> None:
        self.pipeline: ModelPipeline | None = None

    def load_context(self, context: Any) -> None:
        self.pipeline = ModelPipeline.load(context.artifacts[ARTIFACT])

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> pd.DataFrame:
        assert self.pipeline is not None, "load_context was not called"
        return self.pipeline.predict(model_input)


def signature_for(pipeline: ModelPipeline) -> Any:
    """Inputs typed as decode produces them (numbers are doubles, all optional); outputs from the recorded example."""
    from mlflow.models import ModelSignature
    from mlflow.models.signature import infer_signature
    from mlflow.types import ColSpec, Schema

    inputs = Schema([
        ColSpec("string" if f.type == "str" else "double", f.name, required=False) for f in pipeline.schema.fields
    ])
    outputs = None
    if pipeline.example_output is not None:
        try:
            with warnings.catch_warnings():  # outputs never miss values: MLflow's hint about integer columns is moot
                warnings.simplefilter("ignore", UserWarning)
                outputs = infer_signature(None, pipeline.example_output).outputs
        except Exception:  # list-valued outputs (top_k) have no column type: leave outputs untyped
            outputs = None
    return ModelSignature(inputs=inputs, outputs=outputs)


def example_input(pipeline: ModelPipeline) -> pd.DataFrame | None:
    """The recorded input rows, typed like the signature (numbers as doubles)."""
    if pipeline.input_example is None:
        return None
    return pipeline.decode(pipeline.input_example)


def save_pyfunc(pipeline: ModelPipeline, path: str, pip_requirements: list[str]) -> str:
    """Write the MLflow model folder at ``path`` (which must not exist)."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    pickled = os.path.join(os.path.dirname(path) or ".", "pipeline.pkl")
    pipeline.save(pickled)
    mlflow.pyfunc.save_model(
        path,
        python_model=os.path.join(os.path.dirname(__file__), "pyfunc_model.py"),
        artifacts={ARTIFACT: pickled},
        signature=signature_for(pipeline),
        input_example=example_input(pipeline),
        pip_requirements=pip_requirements,
    )
    os.remove(pickled)
    return path


def load_pyfunc(uri_or_path: str) -> tuple[Any, ModelPipeline]:
    """(the pyfunc model, the pipeline inside it) from a local folder or any MLflow model URI."""
    model = mlflow.pyfunc.load_model(uri_or_path)
    inner = model.unwrap_python_model()
    return model, inner.pipeline
