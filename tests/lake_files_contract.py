"""The one contract every implementation of ``mlplat.lake.files.Files`` keeps, run against each of them.

A test module subclasses ``FilesContract`` and provides a ``files`` fixture (the
implementation under test). Every test works on a fresh tree of files that the
``root`` fixture lays out and then looks at directly, not through ``Files``: by
default a local folder given as a ``file://`` URL (both the local and the Hadoop
implementation reach it); a store of another kind overrides ``root`` with a
``Tree`` of its own (the S3 one: a prefix of a bucket, read with boto3).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import pytest

from mlplat.errors import ConflictError
from mlplat.lake import local_path
from mlplat.lake.files import Files

LAYOUT = {
    "t/ds=2026-01-01/part-0.parquet": "aaaa",
    "t/ds=2026-01-02/part-0.parquet": "bb",
    "t/_SUCCESS": "",
    "t/_tmp/run/part-9.parquet": "staged",
    "t/.tmp-x/part-8.parquet": "hidden",
}


def tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (Hadoop's hidden ``.crc`` checksums aside) with its text."""
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.endswith(".crc")}


class Tree(Protocol):
    """A tree of files seen directly in its store; paths are relative to its root, whose URL is ``url``."""

    url: str

    def put(self, rel: str, text: str) -> None: ...

    def text(self, rel: str) -> str: ...

    def exists(self, rel: str) -> bool: ...

    def is_dir(self, rel: str) -> bool: ...

    def files(self, rel: str) -> dict[str, str]:
        """Every file under ``rel`` (relative to it) with its text."""
        ...

    def relative(self, url: str) -> str:
        """A URL under the root as a path relative to it."""
        ...


class LocalTree:
    def __init__(self, folder: Path) -> None:
        self.folder, self.url = folder, folder.as_uri()

    def put(self, rel: str, text: str) -> None:
        (self.folder / rel).parent.mkdir(parents=True, exist_ok=True)
        (self.folder / rel).write_text(text)

    def text(self, rel: str) -> str:
        return (self.folder / rel).read_text()

    def exists(self, rel: str) -> bool:
        return (self.folder / rel).exists()

    def is_dir(self, rel: str) -> bool:
        return (self.folder / rel).is_dir()

    def files(self, rel: str) -> dict[str, str]:
        return tree(self.folder / rel)

    def relative(self, url: str) -> str:
        path = local_path(url)
        assert path is not None, url
        return str(path.relative_to(self.folder))


class FilesContract:
    @pytest.fixture
    def root(self, tmp_path: Path) -> Tree:
        local = LocalTree(tmp_path / "lake")
        local.folder.mkdir()
        for rel, text in LAYOUT.items():
            local.put(rel, text)
        return local

    def test_exists_and_children(self, files: Files, root: Tree) -> None:
        url = root.url
        assert files.exists(f"{url}/t") and files.exists(f"{url}/t/_SUCCESS")
        assert not files.exists(f"{url}/nothing")
        assert files.children(f"{url}/t") == [(".tmp-x", True), ("_SUCCESS", False), ("_tmp", True),
                                              ("ds=2026-01-01", True), ("ds=2026-01-02", True)]
        assert files.children(f"{url}/nothing") == []

    def test_data_files_skip_hidden_names_and_size_counts_only_them(self, files: Files, root: Tree) -> None:
        url = root.url
        found = sorted(root.relative(u) for u in files.data_files(f"{url}/t"))
        assert found == ["t/ds=2026-01-01/part-0.parquet", "t/ds=2026-01-02/part-0.parquet"]
        assert files.size(f"{url}/t/ds=2026-01-01") == 4
        assert files.has_files(f"{url}/t", ".parquet") and not files.has_files(f"{url}/t", ".csv")
        # a folder whose only Parquet file is staged still has one: staging is seen by those who look for it
        root.put("u/_tmp/p.parquet", "x")
        assert files.has_files(f"{url}/u", ".parquet") and list(files.data_files(f"{url}/u")) == []

    def test_rename_moves_a_folder_and_never_onto_something(self, files: Files, root: Tree) -> None:
        url = root.url
        before = root.files("t/ds=2026-01-01")
        files.rename(f"{url}/t/ds=2026-01-01", f"{url}/t/ds=2026-02-01")
        assert not root.exists("t/ds=2026-01-01") and root.files("t/ds=2026-02-01") == before
        with pytest.raises(ConflictError, match="the destination exists"):
            files.rename(f"{url}/t/ds=2026-02-01", f"{url}/t/ds=2026-01-02")
        assert root.files("t/ds=2026-02-01") == before  # neither moved nor moved into the other
        assert root.files("t/ds=2026-01-02") == {"part-0.parquet": "bb"}

    def test_delete_mkdirs_and_write_text(self, files: Files, root: Tree) -> None:
        url = root.url
        files.delete(f"{url}/t/ds=2026-01-01")
        assert not root.exists("t/ds=2026-01-01")
        files.delete(f"{url}/t/ds=2026-01-01")  # already gone: no error
        files.delete(f"{url}/t/_SUCCESS")
        assert not root.exists("t/_SUCCESS")
        assert root.files("t/ds=2026-01-02") == {"part-0.parquet": "bb"}  # a sibling is untouched
        files.mkdirs(f"{url}/a/b/c")
        files.mkdirs(f"{url}/a/b/c")
        assert root.is_dir("a/b/c")
        assert not files.delete_if_empty(f"{url}/a/b") and root.is_dir("a/b/c")  # not empty
        assert files.delete_if_empty(f"{url}/a/b/c") and not root.exists("a/b/c")
        assert not files.delete_if_empty(f"{url}/a/b/c")  # not there
        files.write_text(f"{url}/a/manifest.json", '{"rows": 1}')
        files.write_text(f"{url}/a/manifest.json", '{"rows": 2}')
        assert root.text("a/manifest.json") == '{"rows": 2}'
