"""The lake's file operations, by URL scheme: the one place that lists, moves and deletes lake folders.

Three implementations of one small interface (``Files``): ``LocalFiles`` for a
local lake (``file://``), plain file system calls; ``S3Files`` (``s3files.py``)
for ``s3://``, boto3, for processes without Spark's S3A; and ``HadoopFiles``
for every other scheme (``hdfs://``, ``s3a://``, ...), Hadoop's FileSystem
reached through the SparkSession's JVM, so the same code runs on a laptop and
on a cluster. ``lake_files`` picks one by the lake's URL. The local one is not a
shortcut for tests: it saves a round trip to the JVM per call (a tenth of a
second per build on a local lake) and works without a classic Spark session.

Both follow the same rules, checked by one contract test against each:
hidden names (starting with ``_`` or ``.``) are staging folders and markers,
not data; ``rename`` never moves onto something (Hadoop would move *into* a
folder), and ``delete`` of what is not there is no error.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mlplat.errors import ConfigError, ConflictError, MlplatError
from mlplat.lake.paths import local_path

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import SparkSession

__all__ = ["Files", "HadoopFiles", "LocalFiles", "hidden", "lake_files"]


def hidden(name: str) -> bool:
    """Names Spark and pyarrow skip when they read a folder: staging folders, ``_SUCCESS``, ``.crc`` files."""
    return name.startswith(("_", "."))


class Files(Protocol):
    """What the platform does to folders of the lake."""

    def exists(self, url: str) -> bool: ...

    def children(self, url: str) -> list[tuple[str, bool]]:
        """(name, is a folder) of each entry, sorted by name; [] when ``url`` does not exist."""
        ...

    def data_files(self, url: str) -> Iterator[str]:
        """URLs of the files under ``url`` (recursively) that readers read: hidden names are skipped."""
        ...

    def has_files(self, url: str, suffix: str) -> bool:
        """Whether any file under ``url`` (hidden folders included) ends with ``suffix``."""
        ...

    def size(self, url: str) -> int:
        """Bytes of the data files under ``url`` (not ``_SUCCESS`` markers or ``.crc`` checksums)."""
        ...

    def mkdirs(self, url: str) -> None: ...

    def delete(self, url: str) -> None:
        """Delete a file or a folder and everything in it; nothing there is no error."""
        ...

    def delete_if_empty(self, url: str) -> bool:
        """Delete a folder only if it is empty; whether it went."""
        ...

    def rename(self, src: str, dst: str) -> None:
        """Move ``src`` to ``dst``, which must not exist (``ConflictError`` if it does)."""
        ...

    def write_text(self, url: str, text: str) -> None:
        """Write a small text file (a manifest), replacing one that is there."""
        ...


def lake_files(spark: "SparkSession | None", url: str) -> Files:
    """The file operations for the lake holding ``url``: local calls for ``file://``, boto3 for ``s3://``
    (``mlplat.lake.s3files``), Hadoop's otherwise."""
    if local_path(url) is not None:
        return LocalFiles()
    if url.startswith("s3://"):
        from mlplat.lake.s3files import S3Files

        return S3Files()
    return HadoopFiles(spark, url)


class LocalFiles:
    """A lake on this machine's file system (``file://`` URLs)."""

    @staticmethod
    def _path(url: str) -> Path:
        path = local_path(url)
        if path is None:
            raise ConfigError(f"{url} is not on the local file system (file://)")
        return path

    def exists(self, url: str) -> bool:
        return self._path(url).exists()

    def children(self, url: str) -> list[tuple[str, bool]]:
        path = self._path(url)
        if not path.is_dir():
            return []
        return sorted((p.name, p.is_dir()) for p in path.iterdir())

    def data_files(self, url: str) -> Iterator[str]:
        path = self._path(url)
        if path.is_file():
            yield path.as_uri()
            return
        for folder, dirs, names in os.walk(path):
            dirs[:] = sorted(d for d in dirs if not hidden(d))
            for name in sorted(names):
                if not hidden(name):
                    yield (Path(folder) / name).as_uri()

    def has_files(self, url: str, suffix: str) -> bool:
        return any(p.name.endswith(suffix) for p in self._path(url).rglob("*"))

    def size(self, url: str) -> int:
        return sum(p.stat().st_size for p in self._path(url).rglob("*") if p.is_file() and not hidden(p.name))

    def mkdirs(self, url: str) -> None:
        self._path(url).mkdir(parents=True, exist_ok=True)

    def delete(self, url: str) -> None:
        path = self._path(url)
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists() or path.is_symlink():
            path.unlink()

    def delete_if_empty(self, url: str) -> bool:
        try:
            self._path(url).rmdir()
        except OSError:  # not empty, or not there
            return False
        return True

    def rename(self, src: str, dst: str) -> None:
        if self.exists(dst):
            raise ConflictError(f"cannot move {src} to {dst}: the destination exists")
        os.rename(self._path(src), self._path(dst))

    def write_text(self, url: str, text: str) -> None:
        self._path(url).write_text(text)


class HadoopFiles:
    """A lake reached through Hadoop's FileSystem in the Spark JVM (``hdfs://``, ``s3a://``, ... and ``file://``)."""

    def __init__(self, spark: "SparkSession | None", url: str = "") -> None:
        jvm = getattr(spark, "_jvm", None)
        if spark is None or jvm is None:  # Spark Connect keeps its JVM on the server
            raise ConfigError(
                f"the lake at {url or 'this URL'} is reached through Hadoop's FileSystem, which needs a classic "
                "SparkSession, not Spark Connect; unset spark_remote for this process"
            )
        self._Path = jvm.org.apache.hadoop.fs.Path
        self._conf = spark._jsc.hadoopConfiguration()
        self._systems: dict[str, Any] = {}

    def path(self, url: str) -> Any:
        """The JVM's ``Path`` for a URL."""
        return self._Path(url)

    def fs(self, url: str) -> Any:
        """The JVM's ``FileSystem`` holding ``url`` (one per scheme and authority)."""
        head = url.split("/", 3)[:3]
        key = "/".join(head)
        if key not in self._systems:
            self._systems[key] = self.path(url).getFileSystem(self._conf)
        return self._systems[key]

    def exists(self, url: str) -> bool:
        return bool(self.fs(url).exists(self.path(url)))

    def children(self, url: str) -> list[tuple[str, bool]]:
        if not self.exists(url):
            return []
        listed = self.fs(url).listStatus(self.path(url))
        return sorted((str(st.getPath().getName()), bool(st.isDirectory())) for st in listed)

    def _walk(self, url: str) -> Iterator[Any]:
        files = self.fs(url).listFiles(self.path(url), True)
        while files.hasNext():
            yield files.next()

    def data_files(self, url: str) -> Iterator[str]:
        root = str(self.fs(url).makeQualified(self.path(url)).toString()).rstrip("/")
        for st in self._walk(url):
            full = str(st.getPath().toString())
            inner = full[len(root):].strip("/") if full.startswith(root) else st.getPath().getName()
            if not any(hidden(part) for part in inner.split("/")):
                yield full

    def has_files(self, url: str, suffix: str) -> bool:
        return any(str(st.getPath().getName()).endswith(suffix) for st in self._walk(url))

    def size(self, url: str) -> int:
        return sum(int(st.getLen()) for st in self._walk(url) if not hidden(str(st.getPath().getName())))

    def mkdirs(self, url: str) -> None:
        self.fs(url).mkdirs(self.path(url))

    def delete(self, url: str) -> None:
        self.fs(url).delete(self.path(url), True)

    def delete_if_empty(self, url: str) -> bool:
        try:
            return bool(self.fs(url).delete(self.path(url), False))
        except Exception:  # Hadoop says "directory not empty" with an exception
            return False

    def rename(self, src: str, dst: str) -> None:
        if self.exists(dst):
            raise ConflictError(f"cannot move {src} to {dst}: the destination exists")
        if not self.fs(src).rename(self.path(src), self.path(dst)):
            raise MlplatError(f"could not move {src} to {dst}")

    def write_text(self, url: str, text: str) -> None:
        out = self.fs(url).create(self.path(url), True)
        try:
            out.write(bytearray(text.encode()))
        finally:
            out.close()
