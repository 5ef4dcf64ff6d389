"""``python -m mlplat.monitoring service``: the Monitoring Service (a hub-managed service of `mlplat up`).

``service`` runs the hourly pass in a loop (every ``--interval`` seconds) and
logs to ``<home>/logs/monitoring.log``; ``once`` runs one pass and prints its
report as JSON. Like the CLI, this entry point builds its services through the
composition root (``mlplat.platform``).
"""

from __future__ import annotations

import argparse
import json
import sys

from mlplat.config import load_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlplat.monitoring")
    parser.add_argument("command", choices=["service", "once"])
    parser.add_argument("--interval", type=float, default=None, help="seconds between passes")
    parser.add_argument("--no-log-file", action="store_true", help="log to stderr only")
    args = parser.parse_args(argv)
    settings = load_settings()
    from mlplat.platform import Platform

    platform = Platform(settings)
    try:
        if args.command == "once":
            print(json.dumps(platform.monitoring.hourly().run_once().to_dict()))
            return 0
        import logging

        from mlplat.monitoring.process import run_service

        path = settings.log_dir / "monitoring.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
        if not args.no_log_file:
            handlers.append(logging.FileHandler(path))
        logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                            format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
        interval = args.interval if args.interval is not None else settings.monitoring_interval_seconds
        return run_service(platform.monitoring, settings.run_dir / "monitoring.pid", interval)
    finally:
        platform.close()


if __name__ == "__main__":
    sys.exit(main())
