"""``%schedule``: run this notebook (or another) on a schedule with papermill."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from IPython.core.magic import line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from mlplat.config import load_settings
from mlplat.homes import lab_url, run_home_path
from mlplat.jobs.templates import notebook_argument
from mlplat.pairs import parse_pairs
from mlplat_magics.base import ClientMagics, MagicError, parse
from mlplat_magics.display import Link, Table


def current_notebook(shell: Any) -> str | None:
    """The notebook this kernel serves, when the front end says (JupyterLab sets these)."""
    for candidate in (shell.user_ns.get("__session__"), os.environ.get("JPY_SESSION_NAME")):
        if candidate and str(candidate).endswith(".ipynb"):
            return str(Path(candidate).expanduser().resolve())
    return None


def run_link(run: Any, settings: Any = None) -> Link | None:
    """A link that opens a run's executed notebook in JupyterLab (its read-only ``mlplat-runs/`` copy).

    In a user's server the link is a path on that server (``JUPYTERHUB_SERVICE_PREFIX``); elsewhere (a notebook
    papermill executes) it goes through the hub's ``user-redirect``, so whoever opens the notebook later gets
    their own server.
    """
    path = run_home_path(run.job, run.id, run.output_url)
    if path is None:
        return None
    prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX")
    hub = None if prefix else (settings or load_settings()).hub
    url = lab_url(path, service_prefix=prefix, hub_url=hub)
    return Link(path.rsplit("/", 1)[-1], url) if url else None


def _runs_table(runs: list[Any], title: str, settings: Any = None) -> Table:
    return Table(["id", "ds", "attempt", "status", "trigger", "executed notebook", "error"],
                 [[r.id, r.ds, r.attempt, r.status, r.trigger, run_link(r, settings) or "-", (r.error or "")[:80]]
                  for r in runs], title=title)


@magics_class
class ScheduleMagics(ClientMagics):
    NAME = "schedule"
    SUBCOMMANDS = {"create": "_create", "list": "_list", "runs": "_runs", "run": "_run", "pause": "_pause",
                   "resume": "_resume", "backfill": "_backfill", "panel": "_panel"}

    @magic_arguments()
    @argument("name")
    @argument("--cron", default="@daily", help="cron expression or @daily/@hourly (default @daily)")
    @argument("--timezone", default="UTC")
    @argument("--param", action="append", help="KEY=VALUE for the parameters cell; repeatable")
    @argument("--after", action="append", help="run after this job succeeded for the same ds; repeatable")
    @argument("--team", help="owner team (default: your only team)")
    @argument("--notebook", help="the notebook to run (default: this one)")
    @argument("--retries", type=int, default=0)
    @argument("--email", action="append", help="notify on failure; repeatable")
    def _create(self, line: str) -> str:
        """Schedule this notebook (or --notebook PATH)."""
        args = parse(self._create, line)
        notebook = args.notebook or current_notebook(self.shell)
        if not notebook:
            raise MagicError("cannot tell which notebook this is: pass --notebook PATH")
        team = args.team
        if not team:
            teams = self.client.whoami().teams
            if len(teams) != 1:
                raise MagicError(f"say which team owns the job with --team (you are in: {', '.join(teams) or 'none'})")
            team = teams[0]
        info = self.client.jobs.create({
            "name": args.name, "notebook": notebook_argument(notebook), "cron": args.cron,
            "timezone": args.timezone, "parameters": parse_pairs(args.param, "--param"), "after": args.after or [], "team": team,
            "retries": args.retries, "notify": {"email": args.email or []},
        })
        return f"scheduled {info.name}: {info.spec.notebook} ({info.spec.cron} {info.spec.timezone}, team {team})"

    @magic_arguments()
    @argument("--team")
    def _list(self, line: str) -> Table:
        """Every job, with its schedule and state."""
        args = parse(self._list, line)
        jobs = self.client.jobs.list(team=args.team)
        return Table(["name", "cron", "team", "paused", "notebook"],
                     [[j.name, j.spec.cron, j.team, j.spec.paused, j.spec.notebook] for j in jobs])

    @magic_arguments()
    @argument("name")
    @argument("--limit", type=int, default=20)
    def _runs(self, line: str) -> Table:
        """A job's runs, newest first, with links to the executed notebooks."""
        args = parse(self._runs, line)
        return _runs_table(self.client.jobs.runs(args.name, limit=args.limit), f"runs of {args.name}",
                           self.client.settings)

    @magic_arguments()
    @argument("name")
    @argument("--ds")
    def _run(self, line: str) -> str:
        """Queue a run now."""
        args = parse(self._run, line)
        run = self.client.jobs.run_now(args.name, ds=args.ds)
        return f"queued run {run.id} of {args.name} for ds {run.ds}"

    @magic_arguments()
    @argument("name")
    def _pause(self, line: str) -> str:
        """Stop starting new runs."""
        self.client.jobs.pause(parse(self._pause, line).name)
        return "paused"

    @magic_arguments()
    @argument("name")
    def _resume(self, line: str) -> str:
        """Start scheduling again."""
        self.client.jobs.resume(parse(self._resume, line).name)
        return "resumed"

    @magic_arguments()
    @argument("name")
    @argument("--start", required=True)
    @argument("--end", required=True)
    def _backfill(self, line: str) -> str:
        """Queue one run per ds from start to end (inclusive)."""
        args = parse(self._backfill, line)
        result = self.client.jobs.backfill(args.name, args.start, args.end)
        return f"queued {len(result.enqueued)} run(s); {len(result.skipped)} date(s) already done"

    @magic_arguments()
    @argument("--team")
    def _panel(self, line: str) -> Any:
        """A panel (widget) of jobs and their runs, with links to the executed notebooks."""
        args = parse(self._panel, line)
        from mlplat_magics.widgets import JobsPanel

        return JobsPanel(self.client, team=args.team)

    @line_magic
    def schedule(self, line: str) -> Any:
        """Scheduled notebooks: %schedule create | list | runs | run | pause | resume | backfill."""
        return self.dispatch(line)
