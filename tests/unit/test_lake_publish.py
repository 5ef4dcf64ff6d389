"""The lake's file operations and atomic publishing, on the local file system.

``FilesContract`` (tests/lake_files_contract.py) is the contract ``HadoopFiles``
keeps too (tests/integration/test_lake_files.py); the publishing tests below
interrupt each step and look at what a reader would find.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from lake_files_contract import FilesContract, tree

from mlplat.errors import ConflictError
from mlplat.lake import publish
from mlplat.lake.files import LocalFiles, hidden, lake_files
from mlplat.lake.publish import Writer


class TestLocalFiles(FilesContract):
    @pytest.fixture
    def files(self) -> LocalFiles:
        return LocalFiles()


def test_the_lake_url_picks_the_implementation() -> None:
    assert isinstance(lake_files(None, "file:///tmp/lake"), LocalFiles)
    with pytest.raises(Exception, match="needs a classic SparkSession"):
        lake_files(None, "hdfs://namenode:8020/lake")
    assert hidden("_tmp") and hidden(".tmp-v1-abc") and not hidden("ds=2026-01-01")


@pytest.fixture
def lake(tmp_path: Path) -> tuple[Path, str]:
    folder = tmp_path / "examples" / "clicks"
    folder.mkdir(parents=True)
    return folder, folder.as_uri()


def staged(url: str, text: str) -> str:
    """A written staging folder under ``url``, holding one file with ``text``."""
    tmp = publish.staging_url(url, "v1")
    LocalFiles().mkdirs(tmp)
    LocalFiles().write_text(f"{tmp}/part-0.parquet", text)
    return tmp


def test_a_staging_folder_is_hidden_and_new_each_time(lake: tuple[Path, str]) -> None:
    _, url = lake
    a, b = publish.staging_url(url, "v3"), publish.staging_url(url, "v3")
    assert a != b and a.startswith(f"{url}/.tmp-v3-") and hidden(a.rsplit("/", 1)[1])


def test_publish_renames_the_folder_into_place_and_never_over_another(lake: tuple[Path, str]) -> None:
    folder, url = lake
    files = LocalFiles()
    publish.publish(files, staged(url, "first"), f"{url}/v1")
    assert tree(folder) == {"v1/part-0.parquet": "first"}
    second = staged(url, "second")
    with pytest.raises(ConflictError):
        publish.publish(files, second, f"{url}/v1")
    assert tree(folder / "v1") == {"part-0.parquet": "first"}
    publish.discard(files, second)
    assert tree(folder) == {"v1/part-0.parquet": "first"}


def test_an_interrupted_publish_leaves_nothing_behind(lake: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    folder, url = lake
    files = LocalFiles()
    recorded: list[str] = []

    @contextmanager
    def transaction(fail_on_commit: bool) -> Iterator[None]:
        recorded.append("begin")
        yield
        if fail_on_commit:  # the commit fails (or Ctrl-C arrives) after the rename: the folder must go again
            raise KeyboardInterrupt
        recorded.append("commit")

    tmp = staged(url, "new")
    try:
        publish.publish(files, tmp, f"{url}/v1", within=transaction(fail_on_commit=True))
    except KeyboardInterrupt:
        pass
    finally:
        publish.discard(files, tmp)
    assert recorded == ["begin"] and list(folder.iterdir()) == []

    def lost(self: LocalFiles, src: str, dst: str) -> None:
        raise OSError("lost the file system")

    tmp = staged(url, "new")
    monkeypatch.setattr(LocalFiles, "rename", lost)
    with pytest.raises(OSError, match="lost the file system"):
        try:
            publish.publish(files, tmp, f"{url}/v1", within=transaction(fail_on_commit=False))
        finally:
            publish.discard(files, tmp)
    assert recorded == ["begin", "begin"] and list(folder.iterdir()) == []  # nothing committed, nothing left

    monkeypatch.undo()
    tmp = staged(url, "new")
    publish.publish(files, tmp, f"{url}/v1", within=transaction(fail_on_commit=False))
    assert recorded[-1] == "commit" and tree(folder) == {"v1/part-0.parquet": "new"}


class Watching(LocalFiles):
    """Local files that check, at each step of a replace, what a reader of ``target`` would find."""

    def __init__(self, target: Path) -> None:
        self.target = target
        self.seen: list[str] = []

    def _reader(self) -> str:
        return (self.target / "part-0.parquet").read_text() if self.target.exists() else "nothing"

    def rename(self, src: str, dst: str) -> None:
        self.seen.append(f"rename {src.rsplit('/', 1)[1].split('-')[0]} -> {dst.rsplit('/', 1)[1].split('-')[0]}")
        super().rename(src, dst)
        self.seen.append(f"reader sees {self._reader()}")

    def delete(self, url: str) -> None:
        self.seen.append(f"delete {url.rsplit('/', 1)[1].split('-')[0]} while the reader sees {self._reader()}")
        super().delete(url)


def test_replace_keeps_the_old_folder_until_the_new_one_is_in_place(lake: tuple[Path, str]) -> None:
    folder, url = lake
    (folder / "2026-01-01").mkdir()
    (folder / "2026-01-01" / "part-0.parquet").write_text("old")
    files = Watching(folder / "2026-01-01")
    publish.replace(files, staged(url, "new"), f"{url}/2026-01-01")
    assert files.seen == [
        "rename 2026 -> .old", "reader sees nothing",
        "rename .tmp -> 2026", "reader sees new",
        "delete .old while the reader sees new",
    ]
    assert tree(folder) == {"2026-01-01/part-0.parquet": "new"}  # no staging or old folder left
    publish.replace(LocalFiles(), staged(url, "first"), f"{url}/2026-01-02")  # nothing to replace
    assert tree(folder / "2026-01-02") == {"part-0.parquet": "first"}


def test_a_replace_that_fails_puts_the_old_folder_back(lake: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    folder, url = lake
    (folder / "2026-01-01").mkdir()
    (folder / "2026-01-01" / "part-0.parquet").write_text("old")
    real = LocalFiles.rename

    def second_fails(self: LocalFiles, src: str, dst: str) -> None:
        if "/.tmp-" in src:
            raise OSError("disk vanished")
        real(self, src, dst)

    monkeypatch.setattr(LocalFiles, "rename", second_fails)
    tmp = staged(url, "new")
    with pytest.raises(OSError, match="disk vanished"):
        publish.replace(LocalFiles(), tmp, f"{url}/2026-01-01")
    assert tree(folder / "2026-01-01") == {"part-0.parquet": "old"}
    assert sorted(p.name for p in folder.iterdir()) == sorted(["2026-01-01", tmp.rsplit("/", 1)[1]])  # no .old- left


def test_settle_finishes_what_a_crashed_swap_left(lake: tuple[Path, str]) -> None:
    folder, url = lake
    files = LocalFiles()
    (folder / "ds=1").mkdir()
    (folder / "ds=1" / "part-0.parquet").write_text("old")
    staging = f"{url}/_tmp/run"
    files.mkdirs(f"{staging}/data")
    files.write_text(f"{staging}/data/part-0.parquet", "new")
    files.rename(f"{url}/ds=1", f"{staging}/old")  # the process died here, between the two renames
    publish.settle(files, staging, f"{url}/ds=1", f"{staging}/old")
    assert tree(folder) == {"ds=1/part-0.parquet": "old"}  # put back; the staged data went with the staging folder

    files.mkdirs(f"{staging}/data")
    files.write_text(f"{staging}/data/part-0.parquet", "new")
    publish.swap(files, f"{staging}/data", f"{url}/ds=1", f"{staging}/old")  # died after the swap
    publish.settle(files, staging, f"{url}/ds=1", f"{staging}/old")
    assert tree(folder) == {"ds=1/part-0.parquet": "new"}


def test_a_writer_is_named_in_its_staging_folder_and_known_alive_or_dead() -> None:
    me = Writer.me()
    assert Writer.parse(me.tag()) == me and me.alive() is True
    assert Writer.parse("12.abc.host.with.dots") == Writer(12, "abc", "host.with.dots")
    assert Writer.parse("garbage") is None and Writer.parse("x.y.z") is None
    proc = subprocess.Popen(["true"])
    proc.wait()
    assert Writer(proc.pid, "0badc0de", me.host).alive() is False  # its process is gone
    assert Writer(me.pid, "0badc0de", me.host).alive() is False  # an earlier process that had our pid
    assert Writer(proc.pid, "0badc0de", "another-host").alive() is None  # cannot tell from here
