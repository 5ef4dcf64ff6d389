"""Run the platform API as a hub-managed service: ``python -m mlplat.services.api``."""

from __future__ import annotations

import os

from mlplat.config import load_settings
from mlplat.services.process import log_to, write_pid


def main() -> None:
    settings = load_settings()
    log_to(settings.log_dir / "api.log", "%(asctime)s %(name)s %(levelname)s %(message)s")
    pid_file = settings.run_dir / "api.pid"
    write_pid(pid_file)

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
