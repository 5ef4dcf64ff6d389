"""Run the Inference Service: ``python -m mlplat.services.inference [--workers N] [--port P]``.

uvicorn with uvloop and httptools, N worker processes on one socket (each
loads every live deployment and watches for new ones). Chosen by measurement:
see ``benchmarks/inference.py``.
"""

from __future__ import annotations

import argparse
import logging
import os

from mlplat.config import load_settings
from mlplat.services.process import log_to, write_pid


def main(argv: list[str] | None = None) -> None:
    settings = load_settings()
    parser = argparse.ArgumentParser(prog="python -m mlplat.services.inference")
    parser.add_argument("--workers", type=int, default=settings.inference_workers)
    parser.add_argument("--host", default=settings.host)
    parser.add_argument("--port", type=int, default=settings.inference_port)
    parser.add_argument("--log-file", default=str(settings.log_dir / "inference.log"))
    args = parser.parse_args(argv)
    if args.log_file != "-":
        log_to(args.log_file)
    else:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
    pid_file = settings.run_dir / "inference.pid"
    write_pid(pid_file)

    # Worker processes share their Prometheus metrics through files here (cleared at each start).
    metrics_dir = settings.run_dir / "inference-metrics"
    if metrics_dir.exists():
        for stale in metrics_dir.glob("*.db"):
            stale.unlink()
    metrics_dir.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)

    import uvicorn

    try:
        uvicorn.run(
            "mlplat.services.inference.app:factory",
            factory=True,
            host=args.host,
            port=args.port,
            workers=max(1, args.workers),
            loop="uvloop",
            http="httptools",
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=10,
        )
    finally:
        pid_file.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
