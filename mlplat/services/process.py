"""What every hub-managed service process does at start: log to its file under the home, leave a pid file."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path


def log_to(log_file: Path | str, fmt: str = "%(asctime)s %(process)d %(name)s %(levelname)s %(message)s") -> None:
    """Send stdout, stderr and logging to ``log_file`` (the hub passes its own stdout; keep ours under the home)."""
    path = Path(log_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    logging.basicConfig(level=logging.INFO, format=fmt)


def write_pid(pid_file: Path) -> None:
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(str(os.getpid()))
