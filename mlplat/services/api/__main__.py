"""Run the platform API as a hub-managed service: ``python -m mlplat.services.api``."""

from __future__ import annotations

import logging
import os
import sys

from mlplat.config import load_settings


def main() -> None:
    settings = load_settings()
    # The hub passes its own stdout; keep this service's log under the home too.
    log_file = settings.log_dir / "api.log"
    log_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    sys.stdout = os.fdopen(1, "w", buffering=1)
    sys.stderr = os.fdopen(2, "w", buffering=1)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    pid_file = settings.run_dir / "api.pid"
    pid_file.parent.mkdir(parents=True, exist_ok=True)
    pid_file.write_text(str(os.getpid()))

    import uvicorn

    from mlplat.services.api.app import create_app

    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/api/")
    try:
        uvicorn.run(
            create_app(settings, service_prefix=prefix),
            host=settings.host,
            port=settings.api_port,
            log_level="info",
            timeout_graceful_shutdown=5,
        )
    finally:
        pid_file.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
