"""The cluster profile's S3 object store on loopback: moto's server mode, an S3 API in one process.

It stands where a site's S3 (or MinIO) stands, for the two things the platform
keeps in an object store at scale: MLflow's artifacts (``s3://`` artifact
destination, reached by MLflow through ``MLFLOW_S3_ENDPOINT_URL``) and the lake's
files on an ``s3://`` lake URL (``mlplat.lake.s3files``, boto3). moto keeps its
objects in memory: a restart empties it, which suits tests and the profile,
never a real deployment.

The component's process is ``python -m mlplat.stack.object_store``: moto's
threaded server plus the buckets the profile needs, made before it says it is
healthy (an empty moto has none, and MLflow's server does not create its
artifact bucket). Clients find it through the standard AWS variables
(``client_env``), so boto3, pyarrow and MLflow need no code of ours to reach it:
``AWS_ENDPOINT_URL_S3`` and ``MLFLOW_S3_ENDPOINT_URL`` name the endpoint, and
moto takes any key pair.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from typing import Any

import httpx

from mlplat.config import Settings
from mlplat.errors import require
from mlplat.stack.components import Component, http_ok

# moto accepts any credentials; boto3 refuses to sign without some.
ACCESS_KEY, SECRET_KEY, REGION = "mlplat", "mlplat-local-secret", "us-east-1"
MLFLOW_BUCKET = "mlplat-mlflow"
LAKE_BUCKET = "mlplat-lake"  # for an s3:// (pyarrow/boto3) or s3a:// (Spark with hadoop-aws) lake URL
BUCKETS = (MLFLOW_BUCKET, LAKE_BUCKET)


def endpoint(settings: Settings) -> str:
    """The S3 endpoint the platform's clients use: ``s3_endpoint_url``, else the profile's moto server."""
    return (settings.s3_endpoint_url or f"http://{settings.host}:{settings.s3_port}").rstrip("/")


def component(settings: Settings) -> list[Component]:
    """moto's S3 server as a stack component."""
    host, port = settings.host, settings.s3_port
    return [Component(
        name="s3",
        url=endpoint(settings),
        ports=("s3_port",),
        command=[sys.executable, "-m", "mlplat.stack.object_store", "--host", host, "--port", str(port),
                 "--buckets", ",".join(BUCKETS)],
        health=lambda: buckets_ready(f"http://{host}:{port}", BUCKETS),
        cwd=settings.home / "s3",
    )]


def buckets_ready(url: str, buckets: tuple[str, ...]) -> tuple[bool, str]:
    """Healthy when the server answers and holds every bucket (a plain GET of ``/<bucket>`` lists it)."""
    ok, detail = http_ok(f"{url}/moto-api/")
    if not ok:
        return False, detail
    missing = [b for b in buckets if not http_ok(f"{url}/{b}")[0]]
    return not missing, f"missing bucket(s) {', '.join(missing)}" if missing else f"buckets {', '.join(buckets)}"


def client_env(settings: Settings) -> dict[str, str]:
    """The variables that point boto3, pyarrow and MLflow at the store (for child processes and services).

    Credentials already in this process's environment are kept (a MinIO's, say); moto takes the placeholders.
    """
    url = endpoint(settings)
    return {
        "AWS_ENDPOINT_URL_S3": url,
        "MLFLOW_S3_ENDPOINT_URL": url,
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", ACCESS_KEY),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", REGION),
    }


def s3_client(settings: Settings) -> Any:
    """A boto3 S3 client on the store."""
    require("boto3", "s3")
    import boto3

    env = client_env(settings)
    return boto3.client("s3", endpoint_url=endpoint(settings), aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
                        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"], region_name=env["AWS_DEFAULT_REGION"])


def ensure_bucket(settings: Settings, name: str) -> str:
    """Create ``name`` unless it exists; its ``s3://`` URL."""
    client = s3_client(settings)
    existing = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
    if name not in existing:
        client.create_bucket(Bucket=name)
    return f"s3://{name}"


def mlflow_artifacts(settings: Settings) -> str:
    """Where the profile's MLflow server keeps artifacts: a bucket of the store (made by the caller with
    ``ensure_bucket``), served to clients through MLflow's own artifact proxy."""
    return f"s3://{MLFLOW_BUCKET}/artifacts"


def serve(host: str, port: int, buckets: list[str]) -> None:
    """Run moto's S3 server until SIGTERM/SIGINT, with ``buckets`` made first."""
    require("moto", "dev")
    from moto.server import ThreadedMotoServer

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    signal.signal(signal.SIGINT, lambda _signum, _frame: stop.set())
    server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    try:
        for bucket in buckets:  # anonymous PUT: moto makes the bucket whatever the credentials
            httpx.put(f"http://{host}:{port}/{bucket}", timeout=10).raise_for_status()
        print(f"S3 (moto) on http://{host}:{port} with bucket(s) {', '.join(buckets)}", flush=True)
        stop.wait()
    finally:
        server.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlplat.stack.object_store", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", required=True, type=int)
    parser.add_argument("--buckets", default=",".join(BUCKETS))
    args = parser.parse_args(argv)
    serve(args.host, args.port, [b for b in args.buckets.split(",") if b])
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
