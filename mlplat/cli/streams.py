"""`mlplat stream ...` (streaming sets' queries, publishing events) and `mlplat lake simulate-events`."""

from __future__ import annotations

import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from mlplat.cli import _client, _emit_json, _settings, _table, main
from mlplat.cli.platform_commands import lake


def status_rows(statuses: list[Any]) -> list[dict[str, Any]]:
    def ago(seconds: float | None) -> str:
        return "-" if seconds is None else f"{seconds:.0f}s ago"

    return [{"name": s.name, "version": f"v{s.version}", "state": s.state, "lag": "-" if s.lag is None else s.lag,
             "last_batch": ago(s.freshness_seconds), "late": s.late, "dead": s.dead, "restarts": s.restarts,
             "error": (s.error or "")[:60]} for s in statuses]


STATUS_COLUMNS = ["name", "version", "state", "lag", "last_batch", "late", "dead", "restarts", "error"]


@main.group()
def stream() -> None:
    """Streaming feature sets (kind: stream): publish events, start, stop and watch their queries."""


@stream.command("publish")
@click.argument("name")
@click.option("--file", "path", type=click.Path(dir_okay=False, allow_dash=True), default="-", show_default=True,
              help="Events, one JSON object per line ('-': standard input).")
@click.option("--batch-size", default=5000, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def stream_publish(ctx: click.Context, name: str, path: str, batch_size: int, as_json: bool) -> None:
    """Append events to the stream NAME (each line is sent as it is; a malformed one becomes a dead letter)."""
    source = sys.stdin if path == "-" else Path(path).open()
    with source, _client(ctx) as client:
        lines = (line.rstrip("\n") for line in source if line.strip())
        result = client.streams.publish(name, lines, batch_size=batch_size)
    if as_json:
        _emit_json(result.to_dict())
    else:
        click.echo(f"published {result.published} event(s) to {result.stream} (last id {result.last_id})")


def _one(ctx: click.Context, verb: str, name: str, as_json: bool) -> None:
    with _client(ctx) as client:
        result = getattr(client.streams, verb)(name)
    if as_json:
        _emit_json(result.to_dict())
    else:
        _table(status_rows([result]), STATUS_COLUMNS)


@stream.command("start")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def stream_start(ctx: click.Context, name: str, as_json: bool) -> None:
    """Run the streaming set NAME (from its checkpoint, or from the start of its stream)."""
    _one(ctx, "start", name, as_json)


@stream.command("stop")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def stream_stop(ctx: click.Context, name: str, as_json: bool) -> None:
    """Stop the streaming set NAME's query (its checkpoint stays: start resumes there)."""
    _one(ctx, "stop", name, as_json)


@stream.command("status")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def stream_status(ctx: click.Context, name: str | None, as_json: bool) -> None:
    """Each started streaming set: state, lag (events behind the stream's head), last batch, late and dead events."""
    with _client(ctx) as client:
        statuses = client.streams.status(name)
    if as_json:
        _emit_json([s.to_dict() for s in statuses])
        return
    _table(status_rows(statuses), STATUS_COLUMNS)
    if statuses and statuses[0].supervisor_alive is False:
        click.echo("the stream supervisor is not running: `mlplat up` starts it (or `mlplat stream supervise`)",
                   err=True)


@stream.command("logs")
@click.argument("name")
@click.option("--lines", "-n", default=50, show_default=True)
@click.pass_context
def stream_logs(ctx: click.Context, name: str, lines: int) -> None:
    """The end of the streaming set NAME's log: starts, stops, failures, batches."""
    with _client(ctx) as client:
        for line in client.streams.logs(name, lines=lines):
            click.echo(line)


@stream.command("dead-letters")
@click.argument("name")
@click.option("--limit", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def stream_dead_letters(ctx: click.Context, name: str, limit: int, as_json: bool) -> None:
    """Events the streaming set NAME could not use, newest first, with the reason."""
    with _client(ctx) as client:
        letters = client.streams.dead_letters(name, limit=limit)
    if as_json:
        _emit_json([d.to_dict() for d in letters])
    else:
        _table([{"offset": d.offset, "reason": d.reason, "event": d.event[:60]} for d in letters],
               ["offset", "reason", "event"])


@stream.command("supervise", hidden=True)
@click.option("--tick", default=1.0, show_default=True, help="Seconds between passes.")
@click.pass_context
def stream_supervise(ctx: click.Context, tick: float) -> None:
    """Run every started streaming set's query and keep it running (the hub runs this as a service)."""
    import logging

    from mlplat.platform import Platform

    settings = _settings(ctx)
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, force=True, format="%(asctime)s %(process)d %(name)s %(message)s",
                        handlers=[logging.StreamHandler(sys.stderr),
                                  logging.FileHandler(settings.log_dir / "streams.log")])
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    platform = Platform(settings)
    try:
        platform.streams.supervisor(tick_seconds=tick).run(stop)
    finally:
        platform.close()


@lake.command("simulate-events")
@click.option("--rate", default=100.0, show_default=True, help="Events per second.")
@click.option("--seconds", type=float, help="Stop after this long (default: until Ctrl-C).")
@click.option("--events", type=int, help="Stop after this many events.")
@click.option("--seed", "seed_", default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def lake_simulate_events(ctx: click.Context, rate: float, seconds: float | None, events: int | None, seed_: int,
                         as_json: bool) -> None:
    """Publish the seeded lake's live events: product views, add-to-carts (stream product_events) and stock
    changes (stream stock_changes), at about RATE a second."""
    from mlplat.streams.simulate import simulate

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if seconds is None and events is None:
        click.echo("publishing until Ctrl-C", err=True)
    with _client(ctx) as client:
        result = simulate(lambda name: client.lake_table(name).url, client.streams.publish, rate, seconds, seed_,
                          events, stop.is_set)
    if as_json:
        click.echo(json.dumps(result.to_dict()))
    else:
        click.echo(f"published {result.events:,} events ({result.stock_changes:,} stock changes) in "
                   f"{result.seconds:.1f} s")


__all__ = ["stream"]
