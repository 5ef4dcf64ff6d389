"""The lake's file operations on ``s3://`` URLs, with boto3: no Spark JVM, no hadoop-aws.

Spark reaches S3 only through ``s3a://`` and the hadoop-aws jars (see
``mlplat.spark.check_s3a``); a process without them (a Spark Connect client, a
notebook reading with pyarrow, the platform's services) still lists, moves and
deletes the lake's folders here. It keeps ``Files``' contract (the shared test
in tests/lake_files_contract.py runs against it on moto's S3 server):

- S3 has keys, not folders. A folder is a prefix ending in ``/``; ``mkdirs``
  writes an empty ``<folder>/`` marker so that an empty folder exists (as
  Hadoop's S3A does), and a folder "is empty" when nothing but its marker is under it.
- ``rename`` copies every key and then deletes the originals: on S3 a move is
  never atomic. ``publish``'s staging rules still hold (readers skip hidden
  names), but a reader listing during a move may see part of a folder.

The endpoint and credentials are boto3's own (``AWS_ENDPOINT_URL_S3``,
``AWS_ACCESS_KEY_ID``, ~/.aws/...), so the same code reaches AWS, MinIO or the
cluster profile's moto server (``mlplat.stack.object_store.client_env``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

from mlplat.errors import ConflictError, ValidationError, require

__all__ = ["S3Files", "split"]


def split(url: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` as ``("bucket", "a/b")`` (no leading or trailing slash)."""
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ValidationError(f"{url} is not an s3://bucket/... URL")
    return parsed.netloc, parsed.path.strip("/")


def _hidden(name: str) -> bool:
    from mlplat.lake.files import hidden

    return hidden(name)


class S3Files:
    """A lake in an S3 bucket (``s3://`` URLs)."""

    def __init__(self, client: Any = None) -> None:
        if client is None:
            require("boto3", "s3")
            import boto3

            client = boto3.client("s3")
        self._s3 = client

    # -- listing ---------------------------------------------------------------------
    def _keys(self, bucket: str, prefix: str) -> Iterator[dict[str, Any]]:
        """Every object under ``prefix`` (a folder's prefix ends with ``/``), with its Key and Size."""
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            yield from page.get("Contents", [])

    def _is_file(self, bucket: str, key: str) -> bool:
        if not key:
            return False
        try:
            self._s3.head_object(Bucket=bucket, Key=key)
        except self._s3.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    def _is_folder(self, bucket: str, key: str) -> bool:
        prefix = f"{key}/" if key else ""
        return bool(self._s3.list_objects_v2(Bucket=bucket, Prefix=prefix, MaxKeys=1).get("KeyCount", 0))

    def exists(self, url: str) -> bool:
        bucket, key = split(url)
        return self._is_file(bucket, key) or self._is_folder(bucket, key)

    def children(self, url: str) -> list[tuple[str, bool]]:
        bucket, key = split(url)
        prefix = f"{key}/" if key else ""
        found: dict[str, bool] = {}
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/"):
            for common in page.get("CommonPrefixes", []):
                found[common["Prefix"][len(prefix):].rstrip("/")] = True
            for obj in page.get("Contents", []):
                name = obj["Key"][len(prefix):]
                if name:  # the folder's own marker is not a child
                    found[name] = False
        return sorted(found.items())

    def data_files(self, url: str) -> Iterator[str]:
        bucket, key = split(url)
        if self._is_file(bucket, key):
            yield url
            return
        prefix = f"{key}/" if key else ""
        for obj in sorted(self._keys(bucket, prefix), key=lambda o: str(o["Key"])):
            inner = obj["Key"][len(prefix):]
            if inner and not inner.endswith("/") and not any(_hidden(part) for part in inner.split("/")):
                yield f"s3://{bucket}/{obj['Key']}"

    def has_files(self, url: str, suffix: str) -> bool:
        bucket, key = split(url)
        return any(str(o["Key"]).rsplit("/", 1)[-1].endswith(suffix) for o in self._keys(bucket, f"{key}/"))

    def size(self, url: str) -> int:
        bucket, key = split(url)
        return sum(int(o["Size"]) for o in self._keys(bucket, f"{key}/")
                   if not _hidden(str(o["Key"]).rsplit("/", 1)[-1]) and not str(o["Key"]).endswith("/"))

    # -- changing --------------------------------------------------------------------
    def mkdirs(self, url: str) -> None:
        bucket, key = split(url)
        if not self._is_folder(bucket, key):
            self._s3.put_object(Bucket=bucket, Key=f"{key}/", Body=b"")

    def delete(self, url: str) -> None:
        bucket, key = split(url)
        keys = [str(o["Key"]) for o in self._keys(bucket, f"{key}/")]
        if self._is_file(bucket, key):
            keys.append(key)
        for start in range(0, len(keys), 1000):  # S3's most keys per DeleteObjects
            self._s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys[start:start + 1000]],
                                                           "Quiet": True})

    def delete_if_empty(self, url: str) -> bool:
        bucket, key = split(url)
        under = [str(o["Key"]) for o in self._s3.list_objects_v2(Bucket=bucket, Prefix=f"{key}/",
                                                                   MaxKeys=2).get("Contents", [])]
        if under != [f"{key}/"]:  # not there (nothing under it), or something besides its marker
            return False
        self._s3.delete_object(Bucket=bucket, Key=f"{key}/")
        return True

    def rename(self, src: str, dst: str) -> None:
        if self.exists(dst):
            raise ConflictError(f"cannot move {src} to {dst}: the destination exists")
        bucket, key = split(src)
        to_bucket, to_key = split(dst)
        moves = [(key, to_key)] if self._is_file(bucket, key) else [
            (str(o["Key"]), to_key + str(o["Key"])[len(key):]) for o in self._keys(bucket, f"{key}/")]
        for old, new in moves:
            self._s3.copy_object(Bucket=to_bucket, Key=new, CopySource={"Bucket": bucket, "Key": old})
        self.delete(src)

    def write_text(self, url: str, text: str) -> None:
        bucket, key = split(url)
        self._s3.put_object(Bucket=bucket, Key=key, Body=text.encode())
