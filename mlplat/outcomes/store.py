"""Where metric definitions are kept: one JSON file per metric in the lake, beside the statistics they produce.

Why the lake and not the metadata DB: a metric is read by the Spark job that
runs where the lake is (a scheduled notebook, a cluster), and kept with the
``outcomes/`` tables it fills; it needs no migration, and the files are
human-readable. Each file is written whole to a hidden name and renamed into
place, so a reader sees the old definition or the new one. The store neither
validates nor authorizes: ``OutcomesService`` does both before it saves.
"""

from __future__ import annotations

import json
import os
import uuid
from typing import Any

from mlplat.errors import NotFoundError
from mlplat.lake.paths import join, local_path
from mlplat.outcomes.metrics import MetricSpec

METRICS_DIR = "outcomes/metrics"


class MetricStore:
    """Metric definitions under ``<lake>/outcomes/metrics/<name>.json``."""

    def __init__(self, lake_url: str) -> None:
        self.url = join(lake_url, METRICS_DIR)

    # -- file access (local folder, or any store pyarrow reaches) -------------------------------
    def _fs(self) -> tuple[Any, str]:
        import pyarrow.fs as pafs

        fs, inner = pafs.FileSystem.from_uri(self.url.replace("s3a://", "s3://"))
        return fs, inner

    def _write(self, name: str, text: str) -> None:
        folder = local_path(self.url)
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            tmp = folder / f".{name}.{uuid.uuid4().hex[:8]}.tmp"
            tmp.write_text(text)
            os.replace(tmp, folder / f"{name}.json")
            return
        fs, inner = self._fs()
        fs.create_dir(inner, recursive=True)
        with fs.open_output_stream(f"{inner}/{name}.json") as out:
            out.write(text.encode())

    def _read(self, name: str) -> str | None:
        folder = local_path(self.url)
        if folder is not None:
            path = folder / f"{name}.json"
            return path.read_text() if path.exists() else None
        import pyarrow.fs as pafs

        fs, inner = self._fs()
        if fs.get_file_info(f"{inner}/{name}.json").type != pafs.FileType.File:
            return None
        with fs.open_input_stream(f"{inner}/{name}.json") as stream:
            return bytes(stream.read()).decode()

    def _names(self) -> list[str]:
        folder = local_path(self.url)
        if folder is not None:
            files = [p.name for p in folder.glob("*.json")] if folder.is_dir() else []
        else:
            import pyarrow.fs as pafs

            fs, inner = self._fs()
            infos = fs.get_file_info(pafs.FileSelector(inner, allow_not_found=True))
            files = [i.base_name for i in infos if i.type == pafs.FileType.File]
        return sorted(f[: -len(".json")] for f in files if f.endswith(".json") and not f.startswith("."))

    # -- the store's verbs -------------------------------------------------------------------
    def save(self, spec: MetricSpec) -> MetricSpec:
        self._write(spec.name, json.dumps(spec.to_json(), indent=2, sort_keys=True))
        return spec

    def get(self, name: str) -> MetricSpec:
        text = self._read(name)
        if text is None:
            import difflib

            hint = difflib.get_close_matches(name, self._names(), n=1)
            suffix = f"; did you mean {hint[0]!r}?" if hint else "; define it first"
            raise NotFoundError(f"no metric named {name!r}{suffix}", metric=name)
        return MetricSpec.from_json(json.loads(text))

    def exists(self, name: str) -> bool:
        return self._read(name) is not None

    def list(self) -> list[MetricSpec]:
        return [self.get(name) for name in self._names()]


__all__ = ["METRICS_DIR", "MetricStore"]
