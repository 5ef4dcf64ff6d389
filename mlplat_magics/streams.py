"""``%stream``: streaming sets' queries in a notebook (start, stop, status with freshness, logs, dead letters)."""

from __future__ import annotations

from typing import Any

from IPython.core.magic import line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from mlplat_magics.base import ClientMagics, parse
from mlplat_magics.display import Table

COLUMNS = ["name", "version", "state", "lag", "last batch", "late", "dead", "restarts", "error"]


def status_table(statuses: list[Any]) -> Table:
    def ago(seconds: float | None) -> str:
        return "-" if seconds is None else f"{seconds:.0f} s ago"

    return Table(COLUMNS, [[s.name, f"v{s.version}", s.state, "-" if s.lag is None else s.lag,
                            ago(s.freshness_seconds), s.late, s.dead, s.restarts, (s.error or "")[:80]]
                           for s in statuses], title="streaming sets")


@magics_class
class StreamMagics(ClientMagics):
    NAME = "stream"
    SUBCOMMANDS = {"status": "_status", "start": "_start", "stop": "_stop", "logs": "_logs",
                   "dead-letters": "_dead"}

    @magic_arguments()
    @argument("name", nargs="?")
    def _status(self, line: str) -> Table:
        """State, lag (events behind the stream's head) and freshness (last batch) of streaming sets."""
        return status_table(self.client.streams.status(parse(self._status, line).name))

    @magic_arguments()
    @argument("name")
    def _start(self, line: str) -> Table:
        """Run a streaming set's query (the platform's supervisor keeps it running)."""
        return status_table([self.client.streams.start(parse(self._start, line).name)])

    @magic_arguments()
    @argument("name")
    def _stop(self, line: str) -> Table:
        """Stop a streaming set's query (its checkpoint stays)."""
        return status_table([self.client.streams.stop(parse(self._stop, line).name)])

    @magic_arguments()
    @argument("name")
    @argument("-n", "--lines", type=int, default=30)
    def _logs(self, line: str) -> str:
        """The end of a streaming set's log."""
        args = parse(self._logs, line)
        print("\n".join(self.client.streams.logs(args.name, lines=args.lines)))
        return ""

    @magic_arguments()
    @argument("name")
    @argument("--limit", type=int, default=20)
    def _dead(self, line: str) -> Table:
        """Events a streaming set could not use, with the reason."""
        args = parse(self._dead, line)
        letters = self.client.streams.dead_letters(args.name, limit=args.limit)
        return Table(["offset", "reason", "event"], [[d.offset, d.reason, d.event[:80]] for d in letters],
                     title=f"dead letters of {args.name}")

    @line_magic
    def stream(self, line: str) -> Any:
        """Streaming sets: %stream status|start|stop|logs|dead-letters NAME."""
        return self.dispatch(line)
