"""The Monitoring Service as a process: its pid file, and the loop `mlplat monitor service` runs."""

from __future__ import annotations

import logging
import os
import signal
import threading
from pathlib import Path
from typing import Any

log = logging.getLogger("mlplat.monitoring")


def pid_alive(path: Path) -> bool:
    try:
        pid = int(path.read_text().strip())
    except (OSError, ValueError):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_service(service: Any, pid_file: Path, interval: float) -> int:
    """Pass after pass until SIGTERM or SIGINT; the pid file says it is alive (``mlplat status``)."""
    from mlplat.monitoring.runner import serve

    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(str(os.getpid()))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    log.info("monitoring service: log %s, a pass every %.0f s", service.config.log_url, interval)
    try:
        serve(service.hourly(), stop, interval)
    finally:
        pid_file.unlink(missing_ok=True)
    return 0


__all__ = ["pid_alive", "run_service"]
