"""Hadoop's FileSystem in the real Spark JVM keeps the same file contract as the local file system.

A remote lake (hdfs://, s3a://) is reached only this way; ``file://`` URLs go
through Hadoop's local file system here, so the contract runs without a cluster.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lake_files_contract import FilesContract, tree

from mlplat.lake import publish
from mlplat.lake.files import HadoopFiles

pytestmark = pytest.mark.integration


class TestHadoopFiles(FilesContract):
    @pytest.fixture
    def files(self, spark) -> HadoopFiles:  # type: ignore[no-untyped-def]
        return HadoopFiles(spark)


def test_a_replace_through_hadoop_swaps_the_folder(spark, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    files, url = HadoopFiles(spark), tmp_path.as_uri()
    (tmp_path / "day").mkdir()
    (tmp_path / "day" / "part-0.parquet").write_text("old")
    tmp = publish.staging_url(url, "day")
    files.mkdirs(tmp)
    files.write_text(f"{tmp}/part-0.parquet", "new")
    publish.replace(files, tmp, f"{url}/day")
    assert tree(tmp_path) == {"day/part-0.parquet": "new"}
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".crc")) == ["day"]
