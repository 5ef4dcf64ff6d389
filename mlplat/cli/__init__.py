"""The `mlplat` command. Outer layer: parses, calls the client (or the stack), prints.

Errors are mapped to exit codes in one place (``MlplatGroup.invoke``). Each
domain's sub-commands live in their own module and register on ``main``.
"""

from __future__ import annotations

import json
import sys
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


def _print_status(rows: list[Any]) -> None:
    _table(
        [{**r.to_dict(), "healthy": "yes" if r.healthy else "NO", "pid": r.pid or "-"} for r in rows],
        ["component", "healthy", "pid", "url", "managed_by"],
    )


class MlplatGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MlplatError as exc:
            click.echo(f"error: {exc.message}", err=True)
            ctx.exit(exc.exit_code)


def _settings(ctx: click.Context) -> Settings:
    settings: Settings = ctx.obj["settings"]
    return settings


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
        from mlplat.stack.profiles import effective  # the home's profile: its engines for this command's work

        ctx.obj = {"settings": effective(load_settings(config_file=config_file, home=home))}
    except MlplatError as exc:
        click.echo(f"error: {exc.message}", err=True)
        ctx.exit(exc.exit_code)



# Sub-command modules register themselves on `main` when imported.
from mlplat.cli import (  # noqa: E402,F401
    experiments,
    features,
    jobs,
    models,
    monitoring,
    outcomes,
    platform_commands,
    serving,
    stack,
    streams,
)

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
