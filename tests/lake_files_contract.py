"""The one contract every implementation of ``mlplat.lake.files.Files`` keeps, run against each of them.

A test module subclasses ``FilesContract`` and provides a ``files`` fixture (the
implementation under test); every test works in a fresh local folder given as
a ``file://`` URL, which both the local and the Hadoop implementation reach.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mlplat.errors import ConflictError
from mlplat.lake import local_path
from mlplat.lake.files import Files


def tree(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (Hadoop's hidden ``.crc`` checksums aside) with its text."""
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.endswith(".crc")}


class FilesContract:
    @pytest.fixture
    def root(self, tmp_path: Path) -> tuple[Path, str]:
        folder = tmp_path / "lake"
        folder.mkdir()
        (folder / "t" / "ds=2026-01-01").mkdir(parents=True)
        (folder / "t" / "ds=2026-01-01" / "part-0.parquet").write_text("aaaa")
        (folder / "t" / "ds=2026-01-02").mkdir()
        (folder / "t" / "ds=2026-01-02" / "part-0.parquet").write_text("bb")
        (folder / "t" / "_SUCCESS").write_text("")
        (folder / "t" / "_tmp" / "run").mkdir(parents=True)
        (folder / "t" / "_tmp" / "run" / "part-9.parquet").write_text("staged")
        (folder / "t" / ".tmp-x").mkdir()
        (folder / "t" / ".tmp-x" / "part-8.parquet").write_text("hidden")
        return folder, folder.as_uri()

    def test_exists_and_children(self, files: Files, root: tuple[Path, str]) -> None:
        _, url = root
        assert files.exists(f"{url}/t") and files.exists(f"{url}/t/_SUCCESS")
        assert not files.exists(f"{url}/nothing")
        assert files.children(f"{url}/t") == [(".tmp-x", True), ("_SUCCESS", False), ("_tmp", True),
                                              ("ds=2026-01-01", True), ("ds=2026-01-02", True)]
        assert files.children(f"{url}/nothing") == []

    def test_data_files_skip_hidden_names_and_size_counts_only_them(self, files: Files,
                                                                    root: tuple[Path, str]) -> None:
        folder, url = root
        found = sorted(str(local_path(u).relative_to(folder)) for u in files.data_files(f"{url}/t"))  # type: ignore[union-attr]
        assert found == ["t/ds=2026-01-01/part-0.parquet", "t/ds=2026-01-02/part-0.parquet"]
        assert files.size(f"{url}/t/ds=2026-01-01") == 4
        assert files.has_files(f"{url}/t", ".parquet") and not files.has_files(f"{url}/t", ".csv")
        # a folder whose only Parquet file is staged still has one: staging is seen by those who look for it
        (folder / "u" / "_tmp").mkdir(parents=True)
        (folder / "u" / "_tmp" / "p.parquet").write_text("x")
        assert files.has_files(f"{url}/u", ".parquet") and list(files.data_files(f"{url}/u")) == []

    def test_rename_moves_a_folder_and_never_onto_something(self, files: Files, root: tuple[Path, str]) -> None:
        folder, url = root
        before = tree(folder / "t" / "ds=2026-01-01")
        files.rename(f"{url}/t/ds=2026-01-01", f"{url}/t/ds=2026-02-01")
        assert not (folder / "t" / "ds=2026-01-01").exists() and tree(folder / "t" / "ds=2026-02-01") == before
        with pytest.raises(ConflictError, match="the destination exists"):
            files.rename(f"{url}/t/ds=2026-02-01", f"{url}/t/ds=2026-01-02")
        assert tree(folder / "t" / "ds=2026-02-01") == before  # neither moved nor moved into the other
        assert tree(folder / "t" / "ds=2026-01-02") == {"part-0.parquet": "bb"}

    def test_delete_mkdirs_and_write_text(self, files: Files, root: tuple[Path, str]) -> None:
        folder, url = root
        files.delete(f"{url}/t/ds=2026-01-01")
        assert not (folder / "t" / "ds=2026-01-01").exists()
        files.delete(f"{url}/t/ds=2026-01-01")  # already gone: no error
        files.delete(f"{url}/t/_SUCCESS")
        assert not (folder / "t" / "_SUCCESS").exists()
        files.mkdirs(f"{url}/a/b/c")
        files.mkdirs(f"{url}/a/b/c")
        assert (folder / "a" / "b" / "c").is_dir()
        assert not files.delete_if_empty(f"{url}/a/b") and (folder / "a" / "b" / "c").is_dir()  # not empty
        assert files.delete_if_empty(f"{url}/a/b/c") and not (folder / "a" / "b" / "c").exists()
        assert not files.delete_if_empty(f"{url}/a/b/c")  # not there
        files.write_text(f"{url}/a/manifest.json", '{"rows": 1}')
        files.write_text(f"{url}/a/manifest.json", '{"rows": 2}')
        assert (folder / "a" / "manifest.json").read_text() == '{"rows": 2}'
