"""The ExperimentFeed port's test double, and the real Inference Service (granian, N workers) reading it.

Until the Experiment Manager's store is wired into ``Platform.experiment_feed``, the service tests need a feed
every worker process reads alike: a dict of experiment name -> its live JSON, kept in one JSON file that the
test rewrites (atomically) before it announces the change on ``CHANGES_CHANNEL``. Everything else is the
shipped service: ``default_core`` (with this feed injected), ``create_app``, ``RsgiService`` under granian.

    python tests/integration/experiment_feed_double.py --port P --workers 2   (MLPLAT_* settings from the env)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from mlplat.experiments.live import LiveExperiment

FEED_ENV = "MLPLAT_TEST_EXPERIMENT_FEED"  # the JSON file's path


class DictFeed:
    """``live()``: every experiment in the dict the file holds."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def live(self) -> list[LiveExperiment]:
        rows: dict[str, Any] = json.loads(self.path.read_text()) if self.path.exists() else {}
        return [LiveExperiment.from_json(row) for row in rows.values()]


def write_feed(path: Path, rows: dict[str, dict[str, Any]]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(rows))
    os.replace(tmp, path)  # a worker reads the old dict or the new one


def factory() -> Any:
    """granian's factory: each worker builds the shipped app around a core reading this feed."""
    from mlplat.config import load_settings
    from mlplat.services.inference.app import create_app, default_core, tune_gc
    from mlplat.services.inference.rsgi import RsgiService

    settings = load_settings()
    core = default_core(settings, experiment_feed=DictFeed(Path(os.environ[FEED_ENV])))
    service = RsgiService(create_app(settings, core=core.start()))
    tune_gc()
    return service


def main(argv: list[str] | None = None) -> None:
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels
    from granian.server import Server

    from mlplat.services.process import log_to

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--log-file", required=True)
    args = parser.parse_args(argv)
    log_to(args.log_file)
    sys.path.insert(0, str(Path(__file__).parent))
    Server("experiment_feed_double:factory", factory=True, address="127.0.0.1", port=args.port,
           interface=Interfaces.RSGI, workers=args.workers, loop=Loops.uvloop, websockets=False,
           log_level=LogLevels.warning, workers_kill_timeout=30).serve()


if __name__ == "__main__":
    main()
