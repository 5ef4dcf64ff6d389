"""Run the Inference Service: ``python -m mlplat.services.inference [--workers N] [--port P] [--server S]``.

N worker processes on one socket, each loading every live deployment and
watching for new ones. The server is granian (Rust HTTP, the RSGI app in
``rsgi.py``, uvloop) unless ``--server uvicorn`` (uvloop and httptools, the
ASGI app) is asked for: granian was chosen by measurement, and
``benchmarks/inference.py --server`` measures either.
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
    parser.add_argument("--server", choices=("granian", "uvicorn"), default="granian")
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

    try:
        (_granian if args.server == "granian" else _uvicorn)(args)
    finally:
        pid_file.unlink(missing_ok=True)


def _granian(args: argparse.Namespace) -> None:
    from granian.constants import Interfaces, Loops
    from granian.log import LogLevels
    from granian.server import Server

    Server(
        "mlplat.services.inference.rsgi:factory",
        factory=True,
        address=args.host,
        port=args.port,
        interface=Interfaces.RSGI,
        workers=max(1, args.workers),
        loop=Loops.uvloop,
        websockets=False,
        log_level=LogLevels.warning,
        respawn_failed_workers=True,
        workers_kill_timeout=30,
    ).serve()


def _uvicorn(args: argparse.Namespace) -> None:
    import uvicorn

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
        proxy_headers=False,  # callers' addresses are not used: skip uvicorn's per-request header rewrite
        server_header=False,
        timeout_graceful_shutdown=10,
    )


if __name__ == "__main__":
    main()
