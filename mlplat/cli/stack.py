"""`mlplat up|down|status|logs|demo`: the local stack."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from mlplat.cli import _client, _emit_json, _print_status, _progress_line, _settings, _table, main
from mlplat.config import PROFILES


# -- the local stack ---------------------------------------------------------
@main.command()
@click.option("--profile", type=click.Choice(PROFILES),
              help="Also start a profile's engines: cluster = a Redis Cluster (3 masters + 3 replicas) for Online "
                   "Serving, a Spark standalone cluster with Spark Connect, and S3 (moto). Remembered by this home "
                   "until `mlplat down` (default: the home's, or `default`).")
@click.pass_context
def up(ctx: click.Context, profile: str | None) -> None:
    """Start the local stack (Redis, MLflow, JupyterHub with the platform API)."""
    from mlplat import stack

    settings = _settings(ctx)
    if profile:
        settings = settings.replace(profile=profile)
    t0 = time.monotonic()
    result = stack.up(settings, progress=lambda m: click.echo(m, err=True))
    if result.admin_password:
        click.echo(
            f"\nCreated the admin account. Log in at {settings.hub} as 'admin' with password:\n\n"
            f"    {result.admin_password}\n\n(stored in {settings.secrets_dir / 'admin_password'}, mode 0600; "
            "shown only this once)\n"
        )
    if result.already_running and not result.started:
        click.echo(f"already running: {', '.join(result.already_running)}")
    _print_status(result.status)
    click.echo(f"hub: {settings.hub}   profile: {settings.profile}   ({time.monotonic() - t0:.1f} s)")
    if not all(s.healthy for s in result.status):
        ctx.exit(1)


@main.command()
@click.pass_context
def down(ctx: click.Context) -> None:
    """Stop what `mlplat up` started, and wait until its ports are closed."""
    from mlplat import stack

    stopped = stack.down(_settings(ctx), progress=lambda m: click.echo(m, err=True))
    click.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Health of each component (exit 1 when one is unhealthy); --json adds the Inference Service's token."""
    from mlplat import stack
    from mlplat.serving.client import service_token

    settings = _settings(ctx)
    rows = stack.status(settings)
    if as_json:
        # Whoever reads this home's secrets may call the Inference Service: its row carries the token.
        token = service_token(settings)
        _emit_json([{**r.to_dict(), **({"token": token} if r.component == "inference" else {})} for r in rows])
    else:
        _print_status(rows)
        click.echo(f"profile: {settings.profile}")
        _print_streams(settings)
    if not all(r.healthy for r in rows):
        ctx.exit(1)


def _print_streams(settings: Any) -> None:
    """The started streaming sets under the components: state, lag, last batch (when there are any)."""
    from mlplat.cli.streams import STATUS_COLUMNS, status_rows
    from mlplat.errors import MlplatError
    from mlplat.identity import LOCAL_ADMIN
    from mlplat.platform import Platform

    platform = Platform(settings)
    try:
        statuses = platform.streams.status(LOCAL_ADMIN)
    except MlplatError:  # no metadata database yet: nothing was ever started
        return
    finally:
        platform.close()
    if statuses:
        click.echo("\nstreaming sets:")
        _table(status_rows(statuses), STATUS_COLUMNS)


@main.command()
@click.argument("name", type=click.Choice(["redis", "redis-cluster", "mlflow", "mlflow-proxy", "hub", "api",
                                           "inference", "scheduler", "streams"]))
@click.option("-n", "--lines", default=60, show_default=True)
@click.pass_context
def logs(ctx: click.Context, name: str, lines: int) -> None:
    """Print the end of a component's log."""
    from mlplat.stack import log_tail

    click.echo(log_tail(_settings(ctx), name, lines))


@main.command()
@click.option("--users", default=5000, show_default=True, help="Users to seed when the lake is empty.")
@click.option("--days", default=14, show_default=True)
@click.option("--chapter-days", default=5, show_default=True, help="Days the feature chapter computes.")
@click.option("--output", type=click.Path(file_okay=False), help="Folder for the executed notebooks.")
@click.pass_context
def demo(ctx: click.Context, users: int, days: int, chapter_days: int, output: str | None) -> None:
    """Bring the stack up, seed the lake if empty, run the tour and its chapters."""
    from mlplat import stack
    from mlplat.demo import lab_link, run_tour

    settings = _settings(ctx)
    result = stack.up(settings, progress=lambda m: click.echo(m, err=True))
    if result.admin_password:
        click.echo(f"admin password (shown once, also in {settings.secrets_dir / 'admin_password'}): "
                   f"{result.admin_password}")
    with _client(ctx) as client:
        if not client.lake_tables():
            click.echo(f"seeding the lake ({users} users, {days} days)", err=True)
            client.seed_lake(users=users, days=days, progress=_progress_line)
    written = run_tour(settings, Path(output) if output else None, progress=_progress_line,
                       parameters={"01_features.ipynb": {"days": chapter_days}})
    for path in written:
        link = lab_link(settings, path)
        click.echo(f"executed notebook: {path}" + (f"\n  open in JupyterLab: {link}" if link else ""))
    click.echo(f"JupyterHub: {settings.hub}  (user 'admin', password in {settings.secrets_dir / 'admin_password'})")


