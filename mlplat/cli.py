"""The `mlplat` command. Outer layer: parses, calls the client (or the stack), prints.

Errors are mapped to exit codes in one place (``MlplatGroup.invoke``).
"""

from __future__ import annotations

import json
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import click

from mlplat.config import Settings, load_settings
from mlplat.errors import MlplatError


def _emit_json(data: Any) -> None:
    def default(value: Any) -> Any:
        if hasattr(value, "to_dict"):
            return value.to_dict()
        if isinstance(value, (date, Path)):
            return str(value)
        raise TypeError(type(value).__name__)

    click.echo(json.dumps(data, default=default, indent=2))


def _table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    if not rows:
        click.echo("(none)")
        return
    widths = {c: max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns}
    click.echo("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for r in rows:
        click.echo("  ".join(str(r.get(c, "")).ljust(widths[c]) for c in columns))


def _progress_line(message: str, fraction: float | None = None) -> None:
    pct = f"{fraction * 100:5.1f}% " if fraction is not None else ""
    end = "\n" if fraction is None or fraction >= 1 else ""
    click.echo(f"\r\033[K{pct}{message}", nl=False, err=True)
    if end:
        click.echo("", err=True)


class MlplatGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MlplatError as exc:
            click.echo(f"error: {exc.message}", err=True)
            ctx.exit(exc.exit_code)


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj["settings"]  # type: ignore[no-any-return]


def _client(ctx: click.Context) -> Any:
    from mlplat.client import connect

    return connect(settings=_settings(ctx))


@click.group(cls=MlplatGroup)
@click.option("--home", type=click.Path(file_okay=False), help="Platform home (default ~/.mlplat, or MLPLAT_HOME).")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="An mlplat.toml file.")
@click.version_option(package_name="mlplat")
@click.pass_context
def main(ctx: click.Context, home: str | None, config_file: str | None) -> None:
    """mlplat: a managed machine-learning platform inside Jupyter."""
    try:
        ctx.obj = {"settings": load_settings(config_file=config_file, home=home)}
    except MlplatError as exc:
        click.echo(f"error: {exc.message}", err=True)
        ctx.exit(exc.exit_code)


# -- the local stack ---------------------------------------------------------
@main.command()
@click.pass_context
def up(ctx: click.Context) -> None:
    """Start the local stack (Redis, MLflow, JupyterHub with the platform API)."""
    from mlplat import stack

    settings = _settings(ctx)
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
    click.echo(f"hub: {settings.hub}   ({time.monotonic() - t0:.1f} s)")
    if not all(s.healthy for s in result.status):
        ctx.exit(1)


@main.command()
@click.pass_context
def down(ctx: click.Context) -> None:
    """Stop what `mlplat up` started, and wait until its ports are closed."""
    from mlplat import stack

    stopped = stack.down(_settings(ctx), progress=lambda m: click.echo(m, err=True))
    click.echo(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")


def _print_status(rows: list[Any]) -> None:
    _table(
        [{**r.to_dict(), "healthy": "yes" if r.healthy else "NO", "pid": r.pid or "-"} for r in rows],
        ["component", "healthy", "pid", "url", "managed_by"],
    )


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """Health of each component (exit 1 when one is unhealthy)."""
    from mlplat import stack

    rows = stack.status(_settings(ctx))
    if as_json:
        _emit_json([r.to_dict() for r in rows])
    else:
        _print_status(rows)
    if not all(r.healthy for r in rows):
        ctx.exit(1)


@main.command()
@click.argument("name", type=click.Choice(["redis", "mlflow", "hub", "api"]))
@click.option("-n", "--lines", default=60, show_default=True)
@click.pass_context
def logs(ctx: click.Context, name: str, lines: int) -> None:
    """Print the end of a component's log."""
    from mlplat.stack import log_tail

    click.echo(log_tail(_settings(ctx), name, lines))


@main.command()
@click.option("--users", default=5000, show_default=True, help="Users to seed when the lake is empty.")
@click.option("--days", default=14, show_default=True)
@click.option("--output", type=click.Path(dir_okay=False), help="Where to write the executed notebook.")
@click.pass_context
def demo(ctx: click.Context, users: int, days: int, output: str | None) -> None:
    """Bring the stack up, seed the lake if empty, run the tour notebook."""
    from mlplat import stack
    from mlplat.demo import run_tour

    settings = _settings(ctx)
    result = stack.up(settings, progress=lambda m: click.echo(m, err=True))
    if result.admin_password:
        click.echo(f"admin password (shown once, also in {settings.secrets_dir / 'admin_password'}): "
                   f"{result.admin_password}")
    with _client(ctx) as client:
        if not client.lake_tables():
            click.echo(f"seeding the lake ({users} users, {days} days)", err=True)
            client.seed_lake(users=users, days=days, progress=_progress_line)
    out = run_tour(settings, Path(output) if output else None, progress=_progress_line)
    click.echo(f"executed notebook: {out}")
    click.echo(f"JupyterHub: {settings.hub}  (user 'admin', password in {settings.secrets_dir / 'admin_password'})")


# -- kernels ------------------------------------------------------------------
@main.group()
def kernels() -> None:
    """Jupyter kernel specs."""


@kernels.command("install")
@click.option("--user", "where", flag_value="user", help="Into ~/.local/share/jupyter/kernels.")
@click.option("--sys-prefix", "where", flag_value="sys-prefix", default=True, help="Into this environment (default).")
@click.option("--dir", "directory", type=click.Path(file_okay=False), help="Into this kernels folder.")
@click.pass_context
def kernels_install(ctx: click.Context, where: str, directory: str | None) -> None:
    """Install "Python (mlplat)" and the local PySpark kernel spec."""
    from mlplat.kernels import default_kernel_dir, install_kernels

    for path in install_kernels(default_kernel_dir(directory or where), _settings(ctx)):
        click.echo(f"installed {path}")


# -- identity -----------------------------------------------------------------
@main.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def whoami(ctx: click.Context, as_json: bool) -> None:
    """Who the client runs as, and their teams."""
    with _client(ctx) as client:
        me = client.whoami()
    if as_json:
        _emit_json(me.to_dict())
    else:
        click.echo(f"{me.name} ({'admin; ' if me.admin else ''}teams: {', '.join(me.teams) or 'none'})")


@main.command()
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def teams(ctx: click.Context, as_json: bool) -> None:
    """Teams (JupyterHub groups) and their members."""
    with _client(ctx) as client:
        rows = client.teams()
    if as_json:
        _emit_json([t.to_dict() for t in rows])
    else:
        _table([{"team": t.name, "members": ", ".join(t.members)} for t in rows], ["team", "members"])


@main.group()
def user() -> None:
    """Local accounts."""


@user.command("add")
@click.argument("name")
@click.option("--team", "teams", multiple=True, help="A team (hub group) to join; repeatable.")
@click.option("--admin", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def user_add(ctx: click.Context, name: str, teams: tuple[str, ...], admin: bool, as_json: bool) -> None:
    """Create a login (password printed once) and put it in its teams."""
    with _client(ctx) as client:
        new = client.add_user(name, teams=list(teams), admin=admin)
    if as_json:
        _emit_json(new.to_dict())
    else:
        click.echo(f"created {new.name} (teams: {', '.join(new.teams) or 'none'}); password: {new.password}")


# -- lake ---------------------------------------------------------------------
@main.group()
def lake() -> None:
    """The data lake's tables."""


@lake.command("seed")
@click.option("--users", default=5000, show_default=True)
@click.option("--days", default=14, show_default=True)
@click.option("--seed", "seed_", default=0, show_default=True)
@click.option("--end", type=click.DateTime(formats=["%Y-%m-%d"]), help="Last day (default: yesterday, UTC).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def lake_seed(ctx: click.Context, users: int, days: int, seed_: int, end: Any, as_json: bool) -> None:
    """Write the synthetic clickstream lake and register its tables."""
    with _client(ctx) as client:
        summary = client.seed_lake(
            users=users, days=days, seed=seed_, end=end.date() if end else None,
            progress=None if as_json else _progress_line,
        )
    if as_json:
        _emit_json(summary.to_dict())
        return
    _table([{"table": k, "rows": v} for k, v in summary.rows.items()], ["table", "rows"])
    click.echo(f"{summary.start} .. {summary.end}; achievable AUC of the planted signal {summary.bayes_auc:.3f}; "
               f"{summary.seconds:.1f} s")


@lake.command("tables")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def lake_tables(ctx: click.Context, as_json: bool) -> None:
    """List the registered tables."""
    with _client(ctx) as client:
        rows = client.lake_tables()
    if as_json:
        _emit_json([t.to_dict() for t in rows])
    else:
        _table([t.to_dict() for t in rows], ["name", "format", "team", "url"])


@lake.command("register")
@click.argument("name")
@click.argument("path_or_url")
@click.option("--format", "fmt", type=click.Choice(["parquet", "csv", "json"]), help="Default: from the extension.")
@click.option("--team", default="", help="Owner team (you must be in it).")
@click.option("--description", default="")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def lake_register(
    ctx: click.Context, name: str, path_or_url: str, fmt: str | None, team: str, description: str, as_json: bool
) -> None:
    """Register a Parquet, CSV or JSON table by path or URL."""
    with _client(ctx) as client:
        info = client.register_table(name, path_or_url, format=fmt, team=team, description=description)
    if as_json:
        _emit_json(info.to_dict())
    else:
        click.echo(f"registered {info.name} -> {info.url} ({info.format})")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
