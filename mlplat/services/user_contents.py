"""The contents manager of users' Jupyter servers: ``mlplat-runs/`` is read-only.

Each home's ``mlplat-runs/`` links to the executed notebooks of every job run
and demo (``mlplat.homes``). Everyone may open, download and copy them; nobody
may change one, or a run's record would no longer be what ran. JupyterLab
learns it from ``writable: false`` (it shows the notebook read-only and offers
"Save As"); every write path of the contents API (save, upload, new, copy
into, rename, delete, checkpoints) answers 403 with what to do instead.

The hub starts every server with ``--ServerApp.contents_manager_class`` set to
this class. With the local process spawner all users share one OS account, so
this guards the documented routes, not the file system: a kernel can still
write files directly (a spawner with one account per user closes that too).
"""

from __future__ import annotations

import posixpath
from typing import Any

from jupyter_server.services.contents.largefilemanager import AsyncLargeFileManager
from tornado.web import HTTPError
from traitlets import List, Unicode

from mlplat.homes import RUNS


class PlatformContentsManager(AsyncLargeFileManager):
    """A user's home, with the platform's read-only folders."""

    read_only_dirs = List(
        Unicode(), default_value=[RUNS], config=True,
        help="Folders (relative to the server's root) whose contents no one may change through the server.",
    )

    def read_only_root(self, path: str) -> str | None:
        """The read-only folder that holds ``path`` (an API path), or None."""
        normal = posixpath.normpath("/" + (path or "").strip("/")).lstrip("/")
        for folder in self.read_only_dirs:
            folder = folder.strip("/")
            if normal == folder or normal.startswith(folder + "/"):
                return folder
        return None

    def _refuse(self, path: str, action: str) -> None:
        folder = self.read_only_root(path)
        if folder is not None:
            raise HTTPError(
                403,
                f"cannot {action} {path.strip('/')!r}: {folder}/ holds executed notebooks and is read-only; "
                f"save a copy into your home instead (File > Save Notebook As...)",
            )

    def is_writable(self, path: str) -> bool:
        return self.read_only_root(path) is None and super().is_writable(path)

    async def save(self, model: dict[str, Any], path: str = "") -> dict[str, Any]:
        self._refuse(path, "save")
        return await super().save(model, path)

    async def delete_file(self, path: str) -> None:
        self._refuse(path, "delete")
        await super().delete_file(path)

    async def rename_file(self, old_path: str, new_path: str) -> None:
        self._refuse(old_path, "move")
        self._refuse(new_path, "move a file to")
        await super().rename_file(old_path, new_path)

    async def copy(self, from_path: str, to_path: str | None = None) -> dict[str, Any]:
        # Copying out of a read-only folder is how a user takes a run's notebook to change it.
        self._refuse(from_path if to_path is None else to_path, "copy into")
        return await super().copy(from_path, to_path)

    async def create_checkpoint(self, path: str) -> dict[str, Any]:
        self._refuse(path, "checkpoint")
        return await super().create_checkpoint(path)

    async def restore_checkpoint(self, checkpoint_id: str, path: str) -> None:
        self._refuse(path, "restore a checkpoint of")
        await super().restore_checkpoint(checkpoint_id, path)

    async def delete_checkpoint(self, checkpoint_id: str, path: str) -> None:
        self._refuse(path, "delete a checkpoint of")
        await super().delete_checkpoint(checkpoint_id, path)
