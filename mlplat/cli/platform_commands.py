"""`mlplat kernels|whoami|teams|user|lake`: identity, kernels and the lake catalog."""

from __future__ import annotations

from typing import Any

import click

from mlplat.cli import _client, _emit_json, _progress_line, _settings, _table, main


# -- kernels ------------------------------------------------------------------
@main.group()
def kernels() -> None:
    """Jupyter kernel specs."""


@kernels.command("install")
@click.option("--user", "where", flag_value="user", help="Into ~/.local/share/jupyter/kernels.")
@click.option("--sys-prefix", "where", flag_value="sys-prefix", default=True, help="Into this environment (default).")
@click.option("--dir", "directory", type=click.Path(file_okay=False), help="Into this kernels folder.")
@click.option("--sparkmagic", is_flag=True,
              help="Also sparkmagic's Livy kernels and its config.json, from the settings (livy_url, livy_auth).")
@click.option("--sparkmagic-dir", type=click.Path(file_okay=False),
              help="sparkmagic's config folder (default ~/.sparkmagic); its kernels are pointed at it.")
@click.pass_context
def kernels_install(ctx: click.Context, where: str, directory: str | None, sparkmagic: bool,
                    sparkmagic_dir: str | None) -> None:
    """Install "Python (mlplat)" and the PySpark kernel spec (and, with --sparkmagic, the Livy kernels)."""
    from pathlib import Path

    from mlplat import sparkmagic as livy
    from mlplat.kernels import default_kernel_dir, install_kernels

    settings, dest = _settings(ctx), default_kernel_dir(directory or where)
    if sparkmagic:  # first: a missing livy_url stops the command before it writes anything
        livy.credentials(settings)
    for path in install_kernels(dest, settings):
        click.echo(f"installed {path}")
    if sparkmagic:
        conf_dir = Path(sparkmagic_dir) if sparkmagic_dir else None
        for path in livy.install_kernels(dest, settings, conf_dir):
            click.echo(f"installed {path}")
        click.echo(f"wrote {(conf_dir or livy.default_conf_dir()) / livy.CONFIG_FILE} (Livy {settings.livy_url})")
        lacking = livy.missing()
        if lacking:
            click.echo(f"warning: {lacking}", err=True)


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


