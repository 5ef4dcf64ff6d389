"""The ``%mlplat`` line magic: the platform itself (status, identity, lake tables)."""

from __future__ import annotations

from typing import Any

from IPython.core.magic import line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from mlplat_magics.base import ClientMagics, parse
from mlplat_magics.display import Table


@magics_class
class MlplatMagics(ClientMagics):
    NAME = "mlplat"
    SUBCOMMANDS = {"status": "_status", "whoami": "_whoami", "tables": "_tables"}

    @magic_arguments()
    def _status(self, line: str) -> Table:
        """Components of the platform and their health."""
        parse(self._status, line)
        rows = self.client.status()
        return Table(
            ["component", "healthy", "url", "pid", "managed by"],
            [[r.component, r.healthy, r.url, r.pid or "-", r.managed_by] for r in rows],
            title=f"mlplat status ({self.client.mode})",
        )

    @magic_arguments()
    def _whoami(self, line: str) -> Table:
        """Who this notebook runs as, and their teams."""
        parse(self._whoami, line)
        me = self.client.whoami()
        return Table(["user", "teams", "admin"], [[me.name, ", ".join(me.teams) or "-", me.admin]])

    @magic_arguments()
    @argument("--json", action="store_true", help="return the list of dicts instead of a table")
    def _tables(self, line: str) -> Any:
        """Tables registered in the data lake."""
        args = parse(self._tables, line)
        rows = self.client.lake_tables()
        if args.json:
            return [t.to_dict() for t in rows]
        return Table(["name", "format", "partitions", "team", "url"],
                     [[t.name, t.format, ",".join(t.partition_by), t.team, t.url] for t in rows])

    @line_magic
    def mlplat(self, line: str) -> Any:
        """Platform commands: %mlplat status | whoami | tables (``%mlplat help``)."""
        return self.dispatch(line)
