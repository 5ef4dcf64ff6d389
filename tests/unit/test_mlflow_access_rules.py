"""Which MLflow requests only read (passed on to MLflow for users) and what a refused write is told to do."""

import json

import pytest

from mlplat.services.mlflow_access import is_read, refusal_body


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/"),
    ("GET", "/static-files/static/js/main.js"),
    ("GET", "/api/2.0/mlflow/registered-models/search"),
    ("GET", "/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/mlplat.json"),
    ("HEAD", "/api/2.0/mlflow/runs/get"),
    ("POST", "/api/2.0/mlflow/runs/search"),
    ("POST", "/ajax-api/2.0/mlflow/experiments/search"),
    ("POST", "/ajax-api/3.0/mlflow/logged-models/search"),
    ("POST", "/api/3.0/mlflow/prompt-optimization/jobs/search"),
    ("POST", "/ajax-api/2.0/mlflow/experiments/search-datasets"),
    ("POST", "/api/2.0/mlflow/registered-models/get-latest-versions"),
    ("POST", "/graphql"),
])
def test_reads(method: str, path: str) -> None:
    assert is_read(method, path)


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/api/2.0/mlflow/registered-models/alias"),
    ("DELETE", "/api/2.0/mlflow/registered-models/alias"),
    ("POST", "/ajax-api/2.0/mlflow/registered-models/set-tag"),
    ("PATCH", "/api/2.0/mlflow/model-versions/update"),
    ("PUT", "/api/2.0/mlflow-artifacts/artifacts/1/abc/artifacts/x"),
    ("POST", "/api/2.0/mlflow/runs/search/../set-tag"),  # a read's name as a prefix is not enough
    ("POST", "/api/2.0/mlflow/runs/search/"),
    ("POST", "/api/2.0/mlflow/runs/log-batch"),
    ("POST", "/api/2.0/mlflow/users/create"),
    ("POST", "/v1/traces"),
    ("POST", "/graphql/x"),
    ("POST", "/api/2.0/mlflow/experiments/1/search"),  # no MLflow name has digits
])
def test_writes(method: str, path: str) -> None:
    assert not is_read(method, path)


def test_a_refusal_names_the_verb_in_mlflows_error_shape() -> None:
    body = json.loads(refusal_body("post", "/api/2.0/mlflow/registered-models/alias"))
    assert body["error_code"] == "PERMISSION_DENIED"
    assert body["message"].startswith("MLflow is read-only for users: POST /api/2.0/mlflow/registered-models/alias")
    assert "mlplat model promote" in body["message"]
    assert "mlplat train" in json.loads(refusal_body("POST", "/api/2.0/mlflow/model-versions/create"))["message"]
    assert "mlplat deploy" in json.loads(refusal_body("DELETE", "/api/2.0/mlflow/registered-models/delete"))["message"]
