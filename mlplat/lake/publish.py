"""Publishing a folder to the lake atomically: readers see the old folder or the new one, never half of one.

Why: whoever reads the lake (a Spark query, a training job reading an example
set with pyarrow, a job loading the day's batch predictions) lists a folder and
reads every file in it. A writer that wrote in place could be read half way,
and a crash would leave half a folder that looks whole. So every writer of
the platform follows one rule, written once here:

1. Write into a hidden staging folder (``staging_url``: a name starting with
   ``.``; Spark and pyarrow skip such names, and so do ``_`` ones).
2. ``publish``: rename it into place, one rename. With a metadata transaction
   (``within``) the rename happens inside it and is undone if the transaction
   fails, so the folder and its record appear together or not at all; on
   ``s3a://``, where a rename is a copy, that record is the commit point.
3. ``swap`` / ``replace``: to replace a folder, move the old one aside, move
   the new one in, and put the old one back if the second move fails. A reader
   between the two renames finds no folder rather than half of one.
4. ``settle``: what a crashed writer left is finished by the next one. An old
   folder moved aside whose replacement never arrived goes back; the staging
   folder is deleted. A staging folder's name may carry its ``Writer`` (process
   and host), so the next writer can tell a dead writer's leftovers from a live
   one's.
"""

from __future__ import annotations

import os
import socket
import uuid
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from typing import Any

from mlplat.lake.files import Files
from mlplat.lake.paths import join

__all__ = ["Writer", "discard", "publish", "replace", "settle", "staging_url", "swap"]

# Tells this process's staging folders from those of an earlier process that had the same pid.
_PROCESS = uuid.uuid4().hex[:8]


def staging_url(parent: str, label: str) -> str:
    """A fresh hidden folder under ``parent`` to write into (``.tmp-<label>-<random>``)."""
    return join(parent, f".tmp-{label}-{uuid.uuid4().hex[:12]}")


def publish(files: Files, staged: str, final: str, within: AbstractContextManager[Any] | None = None) -> None:
    """Rename the written folder ``staged`` to ``final``, which must not exist.

    With ``within`` (e.g. the metadata transaction that records the folder), the
    rename happens inside it; if the transaction then fails (its commit raises),
    the folder is taken out again: both or neither.
    """
    renamed = False
    try:
        with within if within is not None else nullcontext():
            files.rename(staged, final)
            renamed = True
    except BaseException:
        if renamed and files.exists(final):
            files.delete(final)
        raise


def swap(files: Files, staged: str, target: str, aside: str) -> None:
    """Old folder at ``target`` to ``aside``, ``staged`` to ``target``; the old one goes back if that fails.

    A crash between the two renames leaves the old folder at ``aside``: ``settle`` puts it back.
    """
    had_old = files.exists(target)
    if had_old:
        files.rename(target, aside)
    try:
        files.rename(staged, target)
    except BaseException:
        if had_old and not files.exists(target):
            files.rename(aside, target)
        raise


def replace(files: Files, staged: str, target: str) -> None:
    """Put ``staged`` at ``target``, replacing the folder there; the old one is deleted once the new one is in."""
    parent = target.rstrip("/").rsplit("/", 1)[0]
    aside = join(parent, f".old-{uuid.uuid4().hex[:12]}")
    swap(files, staged, target, aside)
    discard(files, aside)


def settle(files: Files, staging: str, target: str, aside: str) -> None:
    """Finish what a writer left: the old folder it moved to ``aside`` goes back to ``target`` when nothing
    took its place, then ``staging`` is deleted."""
    if files.exists(aside) and not files.exists(target):
        files.rename(aside, target)
    files.delete(staging)


def discard(files: Files, url: str) -> None:
    """Delete a staging folder if it is there (after a publish moved it away, it is not)."""
    if files.exists(url):
        files.delete(url)


@dataclass(frozen=True)
class Writer:
    """The process writing into a staging folder, as written into the folder's name (``tag``)."""

    pid: int
    process: str
    host: str

    @classmethod
    def me(cls) -> "Writer":
        return cls(os.getpid(), _PROCESS, socket.gethostname())

    def tag(self) -> str:
        return f"{self.pid}.{self.process}.{self.host}"

    @classmethod
    def parse(cls, tag: str) -> "Writer | None":
        parts = tag.split(".", 2)
        try:
            return cls(int(parts[0]), parts[1], parts[2])
        except (ValueError, IndexError):
            return None

    def alive(self) -> bool | None:
        """Whether the writer may still be working: True or False on this host, None on another (no way to
        tell from here; the caller judges by the age of its work)."""
        if self.host != socket.gethostname():
            return None
        if self.pid == os.getpid():
            return self.process == _PROCESS  # another thread of this process; else an earlier process with our pid
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
