"""`mlplat job ...`: scheduled notebooks. Names and ``--json`` outputs are kept stable for scripts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mlplat.cli import _client, _emit_json, _table, main
from mlplat.errors import ValidationError
from mlplat.jobs.templates import notebook_argument
from mlplat.pairs import parse_pairs


def _run_rows(runs: list[Any]) -> list[dict[str, Any]]:
    return [{"id": r.id, "ds": r.ds, "attempt": r.attempt, "status": r.status, "trigger": r.trigger,
             "output": r.output_url or "", "error": (r.error or "")[:60]} for r in runs]


@main.group()
def job() -> None:
    """Scheduled notebooks (papermill jobs)."""


@job.command("create")
@click.argument("name")
@click.option("--notebook", required=True, help="The notebook to run (.ipynb), or template:NAME for a platform job template.")
@click.option("--cron", required=True, help="Cron expression or @daily/@hourly.")
@click.option("--timezone", default="UTC", show_default=True)
@click.option("--param", "params", multiple=True, help="KEY=VALUE for the parameters cell; repeatable.")
@click.option("--after", multiple=True, help="Run after this job succeeded for the same ds; repeatable.")
@click.option("--team", help="Owner team (default: your only team).")
@click.option("--retries", default=0, show_default=True)
@click.option("--timeout", "timeout_seconds", default=3600, show_default=True, help="Seconds.")
@click.option("--email", multiple=True, help="Notify this address on failure; repeatable.")
@click.option("--webhook", help="POST a JSON notice here on failure.")
@click.option("--paused", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def job_create(ctx: click.Context, name: str, notebook: str, cron: str, timezone: str, params: tuple[str, ...],
               after: tuple[str, ...], team: str | None, retries: int, timeout_seconds: int, email: tuple[str, ...],
               webhook: str | None, paused: bool, as_json: bool) -> None:
    """Schedule a notebook."""
    with _client(ctx) as client:
        if not team:
            me = client.whoami()
            if len(me.teams) != 1:
                raise ValidationError(f"say which team owns {name!r} with --team (you are in: "
                                      f"{', '.join(me.teams) or 'no team'})")
            team = me.teams[0]
        info = client.jobs.create({
            "name": name, "notebook": notebook_argument(notebook), "cron": cron, "timezone": timezone,
            "parameters": parse_pairs(params, "--param"), "after": list(after), "team": team, "retries": retries,
            "timeout_seconds": timeout_seconds, "paused": paused,
            "notify": {"email": list(email), "webhook": webhook},
        })
    if as_json:
        _emit_json(info.to_dict())
    else:
        click.echo(f"created job {info.name} ({info.spec.cron} {info.spec.timezone}, team {info.team})")


@job.command("list")
@click.option("--team")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def job_list(ctx: click.Context, team: str | None, as_json: bool) -> None:
    """Every job."""
    with _client(ctx) as client:
        jobs = client.jobs.list(team=team)
    if as_json:
        _emit_json([j.to_dict() for j in jobs])
    else:
        _table([{"name": j.name, "cron": j.spec.cron, "team": j.team, "paused": j.spec.paused, "notebook": j.spec.notebook}
                for j in jobs], ["name", "cron", "team", "paused", "notebook"])


@job.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def job_show(ctx: click.Context, name: str, as_json: bool) -> None:
    """A job, its next run and its recent runs."""
    with _client(ctx) as client:
        detail = client.jobs.show(name)
    if as_json:
        _emit_json(detail.to_dict())
    else:
        d = detail.to_dict()
        click.echo(f"{d['name']}: {d['notebook']} ({d['cron']} {d['timezone']}), team {d['team']}, "
                   f"{'paused' if d['paused'] else 'active'}; next ds {d.get('next_ds')}")
        _table(_run_rows(detail.runs), ["id", "ds", "attempt", "status", "trigger", "output", "error"])


@job.command("run")
@click.argument("name")
@click.option("--ds", help="The date to run for (default: the latest scheduled one).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def job_run(ctx: click.Context, name: str, ds: str | None, as_json: bool) -> None:
    """Queue a run now (the scheduler's workers execute it)."""
    with _client(ctx) as client:
        run = client.jobs.run_now(name, ds=ds)
    if as_json:
        _emit_json(run.to_dict())
    else:
        click.echo(f"queued run {run.id} of {name} for ds {run.ds}")


@job.command("pause")
@click.argument("name")
@click.pass_context
def job_pause(ctx: click.Context, name: str) -> None:
    """Stop starting new runs."""
    with _client(ctx) as client:
        client.jobs.pause(name)
    click.echo(f"paused {name}")


@job.command("resume")
@click.argument("name")
@click.pass_context
def job_resume(ctx: click.Context, name: str) -> None:
    """Start scheduling again."""
    with _client(ctx) as client:
        client.jobs.resume(name)
    click.echo(f"resumed {name}")


@job.command("backfill")
@click.argument("name")
@click.option("--start", required=True)
@click.option("--end", required=True)
@click.option("--force", is_flag=True, help="Re-run dates that already succeeded.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def job_backfill(ctx: click.Context, name: str, start: str, end: str, force: bool, as_json: bool) -> None:
    """Queue one run per ds from start to end (inclusive), exactly once each."""
    with _client(ctx) as client:
        result = client.jobs.backfill(name, start, end, force=force)
    if as_json:
        _emit_json(result.to_dict())
    else:
        click.echo(f"queued {len(result.enqueued)} run(s); skipped {len(result.skipped)} date(s) already done")


@job.command("runs")
@click.argument("name")
@click.option("--status")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def job_runs(ctx: click.Context, name: str, status: str | None, limit: int, as_json: bool) -> None:
    """A job's runs, newest first, with their executed notebooks."""
    with _client(ctx) as client:
        runs = client.jobs.runs(name, limit=limit, status=status)
    if as_json:
        _emit_json([r.to_dict() for r in runs])
    else:
        _table(_run_rows(runs), ["id", "ds", "attempt", "status", "trigger", "output", "error"])


@job.command("delete")
@click.argument("name")
@click.pass_context
def job_delete(ctx: click.Context, name: str) -> None:
    """Delete a job and its run history."""
    with _client(ctx) as client:
        client.jobs.delete(name)
    click.echo(f"deleted {name}")


@job.command("export-airflow")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
@click.option("--job", "names", multiple=True, help="Only these jobs; repeatable.")
@click.pass_context
def job_export_airflow(ctx: click.Context, directory: Path, names: tuple[str, ...]) -> None:
    """Write Airflow DAG files equivalent to the schedules (PapermillOperator)."""
    from mlplat.identity import LOCAL_ADMIN
    from mlplat.platform import Platform

    platform = Platform(ctx.obj["settings"])
    for path in platform.jobs.export_airflow(LOCAL_ADMIN, directory, names=list(names) or None):
        click.echo(f"wrote {path}")
