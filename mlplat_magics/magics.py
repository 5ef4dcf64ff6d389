"""The ``%mlplat`` line magic. Each sub-command is one screen over one client verb."""

from __future__ import annotations

import shlex
from typing import Any, Callable

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from mlplat.errors import MlplatError
from mlplat_magics.display import Table


class MagicError(Exception):
    """Shown as one line; the cell still fails, so papermill sees it."""

    def _render_traceback_(self) -> list[str]:
        return [f"mlplat: {self}"]


@magics_class
class MlplatMagics(Magics):
    def __init__(self, shell: Any) -> None:
        super().__init__(shell)
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            from mlplat.client import connect

            self._client = connect()
        return self._client

    # -- sub-commands (the table below drives dispatch and help) --------------
    @magic_arguments()
    def _status(self, line: str) -> Table:
        """Components of the platform and their health."""
        parse_argstring(self._status, line)
        rows = self.client.status()
        return Table(
            ["component", "healthy", "url", "pid", "managed by"],
            [[r.component, r.healthy, r.url, r.pid or "-", r.managed_by] for r in rows],
            title=f"mlplat status ({self.client.mode})",
        )

    @magic_arguments()
    def _whoami(self, line: str) -> Table:
        """Who this notebook runs as, and their teams."""
        parse_argstring(self._whoami, line)
        me = self.client.whoami()
        return Table(["user", "teams", "admin"], [[me.name, ", ".join(me.teams) or "-", me.admin]])

    @magic_arguments()
    @argument("--json", action="store_true", help="return the list of dicts instead of a table")
    def _tables(self, line: str) -> Any:
        """Tables registered in the data lake."""
        args = parse_argstring(self._tables, line)
        rows = self.client.lake_tables()
        if args.json:
            return [t.to_dict() for t in rows]
        return Table(["name", "format", "partitions", "team", "url"],
                     [[t.name, t.format, ",".join(t.partition_by), t.team, t.url] for t in rows])

    SUBCOMMANDS: dict[str, str] = {"status": "_status", "whoami": "_whoami", "tables": "_tables"}

    def _help(self) -> str:
        lines = ["%mlplat <command> [options]", ""]
        for name, attr in self.SUBCOMMANDS.items():
            doc = (getattr(self, attr).__doc__ or "").strip().splitlines()[0]
            lines.append(f"  {name:<10} {doc}")
        return "\n".join(lines)

    @line_magic
    def mlplat(self, line: str) -> Any:
        """Platform commands: %mlplat status | whoami | tables (``%mlplat help``)."""
        words = shlex.split(line)
        if not words or words[0] in ("help", "-h", "--help"):
            print(self._help())
            return None
        command, rest = words[0], line.split(None, 1)[1] if len(words) > 1 else ""
        attr = self.SUBCOMMANDS.get(command)
        if attr is None:
            raise MagicError(f"unknown command {command!r}; one of: {', '.join(self.SUBCOMMANDS)}")
        return _run(getattr(self, attr), rest)


def _run(fn: Callable[[str], Any], rest: str) -> Any:
    try:
        return fn(rest)
    except MlplatError as exc:
        raise MagicError(exc.message) from None
    except UsageError as exc:
        raise MagicError(str(exc)) from None
