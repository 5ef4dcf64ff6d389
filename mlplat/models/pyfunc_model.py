"""The MLflow "model from code" entry of a Model Pipeline: MLflow copies this file into each saved model.

Loading a registered version runs it; the pipeline itself is read from the
model's artifacts by ``PipelineModel.load_context``.
"""

from mlflow.models import set_model

from mlplat.models.pyfunc import PipelineModel

set_model(PipelineModel())
