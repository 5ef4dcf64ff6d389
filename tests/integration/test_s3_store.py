"""The cluster profile's S3 object store (moto's server on loopback) under the lake's files and MLflow's artifacts.

- ``S3Files`` keeps the shared ``Files`` contract, on a fresh prefix of the
  profile's lake bucket, and ``lake_files`` picks it for ``s3://`` URLs, reaching
  the store through the standard AWS variables alone;
- the lake's Parquet files listed by it are read by pyarrow from the same store;
- an MLflow server started the way the stack starts it, with an ``s3://``
  artifact destination, keeps a logged model's files in the bucket and serves them back.
"""

from __future__ import annotations

import io
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest
from conftest import free_ports
from lake_files_contract import LAYOUT, FilesContract
from spark_engines import engine_settings

from mlplat.config import Settings
from mlplat.lake.files import lake_files
from mlplat.lake.s3files import S3Files, split
from mlplat.stack import object_store
from mlplat.stack.components import components, http_ok, merged_env
from mlplat.stack.scale_engines import running

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """The profile's S3 component; settings whose ``s3_endpoint_url`` is it."""
    s = engine_settings(tmp_path_factory.mktemp("s3") / "home")
    (component,) = object_store.component(s)
    with running(component, s.log_dir / "s3.log", timeout=60):
        yield s.replace(s3_endpoint_url=object_store.endpoint(s))


class S3Tree:
    """A prefix of a bucket, seen with boto3."""

    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self.s3, self.bucket, self.prefix = client, bucket, prefix
        self.url = f"s3://{bucket}/{prefix}"

    def put(self, rel: str, text: str) -> None:
        self.s3.put_object(Bucket=self.bucket, Key=f"{self.prefix}/{rel}", Body=text.encode())

    def text(self, rel: str) -> str:
        return str(self.s3.get_object(Bucket=self.bucket, Key=f"{self.prefix}/{rel}")["Body"].read().decode())

    def _under(self, rel: str) -> list[str]:
        listed = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=f"{self.prefix}/{rel}/").get("Contents", [])
        return [str(o["Key"]) for o in listed]

    def exists(self, rel: str) -> bool:
        keys = self.s3.list_objects_v2(Bucket=self.bucket, Prefix=f"{self.prefix}/{rel}").get("Contents", [])
        return any(k["Key"] == f"{self.prefix}/{rel}" for k in keys) or bool(self._under(rel))

    def is_dir(self, rel: str) -> bool:
        return bool(self._under(rel))

    def files(self, rel: str) -> dict[str, str]:
        start = len(f"{self.prefix}/{rel}/")
        return {k[start:]: self.text(k[len(self.prefix) + 1:]) for k in self._under(rel) if not k.endswith("/")}

    def relative(self, url: str) -> str:
        bucket, key = split(url)
        assert bucket == self.bucket and key.startswith(self.prefix + "/"), url
        return key[len(self.prefix) + 1:]


class TestS3Files(FilesContract):
    @pytest.fixture
    def root(self, store: Settings) -> S3Tree:  # type: ignore[override]
        tree = S3Tree(object_store.s3_client(store), object_store.LAKE_BUCKET, f"contract-{uuid.uuid4().hex[:8]}")
        for rel, text in LAYOUT.items():
            tree.put(rel, text)
        return tree

    @pytest.fixture
    def files(self, store: Settings) -> S3Files:
        return S3Files(object_store.s3_client(store))


def test_the_lake_on_s3_is_listed_by_boto3_and_read_by_pyarrow(store: Settings,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in object_store.client_env(store).items():  # what the profile gives every process
        monkeypatch.setenv(key, value)
    lake = f"s3://{object_store.LAKE_BUCKET}/lake-{uuid.uuid4().hex[:8]}"
    client = object_store.s3_client(store)
    for day, users in (("2026-01-01", [1, 2, 3]), ("2026-01-02", [4, 5])):
        out = io.BytesIO()
        pq.write_table(pa.table({"user_id": users, "views": [u * 10 for u in users]}), out)
        client.put_object(Bucket=object_store.LAKE_BUCKET, Key=f"{split(lake)[1]}/t/ds={day}/part-0.parquet",
                          Body=out.getvalue())
    client.put_object(Bucket=object_store.LAKE_BUCKET, Key=f"{split(lake)[1]}/t/_tmp/x/part-0.parquet", Body=b"no")

    files = lake_files(None, f"{lake}/t")  # no Spark session: boto3, configured by the environment alone
    assert isinstance(files, S3Files)
    assert [n for n, is_dir in files.children(f"{lake}/t") if is_dir] == ["_tmp", "ds=2026-01-01", "ds=2026-01-02"]
    listed = list(files.data_files(f"{lake}/t"))
    assert [u.rsplit("/", 2)[1] for u in listed] == ["ds=2026-01-01", "ds=2026-01-02"]  # staging skipped

    from pyarrow import fs

    s3 = fs.S3FileSystem(endpoint_override=store.s3_endpoint_url, access_key=object_store.ACCESS_KEY,
                         secret_key=object_store.SECRET_KEY, region=object_store.REGION, scheme="http")
    table = pads.dataset([u[len("s3://"):] for u in listed], filesystem=s3).to_table()
    assert sorted(table.column("user_id").to_pylist()) == [1, 2, 3, 4, 5]
    assert sum(table.column("views").to_pylist()) == 150


@pytest.fixture
def mlflow_on_s3(store: Settings, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """MLflow's server as the stack's component starts it (its command and environment), with the artifacts in the
    store and without the sign-in app (the basic-auth app and its accounts are tested with the stack)."""
    (port,) = free_ports(1)
    s = store.replace(home=tmp_path / "home", mlflow_port=port,
                      mlflow_artifacts_url=f"s3://{object_store.MLFLOW_BUCKET}/artifacts-{uuid.uuid4().hex[:8]}")
    (mlflow,) = [c for c in components(s) if c.name == "mlflow"]
    command = [a for a in mlflow.command if a not in ("--app-name", "basic-auth")]
    assert command[command.index("--artifacts-destination") + 1] == s.mlflow_artifacts_url
    assert mlflow.env["MLFLOW_S3_ENDPOINT_URL"] == store.s3_endpoint_url
    (s.home / "mlflow").mkdir(parents=True)
    env = {k: v for k, v in mlflow.env.items() if not k.startswith("MLFLOW_FLASK") and "AUTH" not in k}
    with (tmp_path / "mlflow.log").open("wb") as log:
        proc = subprocess.Popen(command, env=merged_env(env), cwd=s.home / "mlflow", stdout=log,
                                stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not http_ok(f"{s.mlflow}/health")[0]:
            assert proc.poll() is None and time.monotonic() < deadline, (tmp_path / "mlflow.log").read_text()[-3000:]
            time.sleep(0.5)
        yield s.mlflow, s.mlflow_artifacts_url
    finally:
        proc.terminate()
        proc.wait(30)


def test_mlflow_keeps_artifacts_in_the_store(store: Settings, mlflow_on_s3: tuple[str, str], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    from mlflow import MlflowClient

    for key in ("MLFLOW_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(key, raising=False)  # the client has no S3 access: the server proxies the artifacts
    tracking, artifacts = mlflow_on_s3
    client = MlflowClient(tracking_uri=tracking)
    run = client.create_run(client.create_experiment(f"s3-{uuid.uuid4().hex[:6]}"))
    (tmp_path / "model.txt").write_text("weights: 1 2 3\n")
    client.log_artifact(run.info.run_id, str(tmp_path / "model.txt"), artifact_path="model")

    bucket, prefix = split(artifacts)
    keys = [o["Key"] for o in object_store.s3_client(store).list_objects_v2(Bucket=bucket, Prefix=prefix)
            .get("Contents", [])]
    assert [k for k in keys if k.endswith(f"{run.info.run_id}/artifacts/model/model.txt")], keys
    back = client.download_artifacts(run.info.run_id, "model/model.txt", str(tmp_path / "back"))
    assert Path(back).read_text() == "weights: 1 2 3\n"
