"""``%%feature``, ``%feature ...`` and ``%examples ...``: the Feature Store in a notebook."""

from __future__ import annotations

from typing import Any

from IPython.core.magic import line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from mlplat.pairs import parse_pairs
from mlplat_magics.base import ClientMagics, MagicError, parse, run
from mlplat_magics.display import SetCard, Table, plan_view
from mlplat_magics.progress import progress_bar


def _csv(text: str | None) -> list[str] | None:
    return [p.strip() for p in text.split(",") if p.strip()] if text else None


def _sets_table(sets: list[Any], title: str = "") -> Table:
    return Table(
        ["name", "kind", "version", "team", "entity", "columns", "online", "description"],
        [
            [s.name, s.kind, s.version, s.spec.team, ",".join(s.spec.entity),
             ", ".join(c.name for c in s.value_columns), s.spec.online, s.spec.description]
            for s in sets
        ],
        title=title,
    )


@magics_class
class FeatureMagics(ClientMagics):
    NAME = "feature"
    SUBCOMMANDS = {
        "list": "_list",
        "search": "_search",
        "show": "_show",
        "preview": "_preview",
        "plan": "_plan",
        "delete": "_delete",
        "duplicates": "_duplicates",
        "browse": "_browse",
        "compute": "_compute",
        "runs": "_runs",
        "materialize": "_materialize",
        "get": "_get",
    }

    # -- %%feature: define a set -----------------------------------------------
    @magic_arguments()
    @argument("--name", help="set name (omit when the cell body is a YAML definition)")
    @argument("--kind", default="features", choices=["features", "labels"])
    @argument("--entity", help="entity key column(s), comma-separated")
    @argument("--timestamp", help="event-timestamp column")
    @argument("--team", help="owner team")
    @argument("--description", default="")
    @argument("--describe", action="append", help="COLUMN=TEXT, repeatable")
    @argument("--tag", action="append", help="repeatable")
    @argument("--schedule", default="@daily", help="@daily, @hourly, ... or cron; none (or off) removes it")
    @argument("--ttl", default=None, help="e.g. 7d")
    @argument("--online", action="store_true", help="serve it from Online Serving")
    @argument("--plan", action="store_true", help="show what would change; do not apply")
    @argument("--stream", metavar="SOURCE", help="a streaming set (kind stream) over the stream SOURCE")
    @argument("--fields", help="with --stream: the events' fields, e.g. 'product_id string, ts timestamp'")
    @argument("--time", help="with --stream: the event-time field")
    @argument("--watermark", help="with --stream: how late an event may be, e.g. 2m (default 1m)")
    def _define(self, line: str, cell: str) -> Any:
        """Define (apply) a feature or label set: options on the first line, SQL in the body."""
        args = parse(self._define, line)
        if args.name:
            missing = [o for o in ("entity", "timestamp", "team") if not getattr(args, o)]
            if missing:
                raise MagicError(f"%%feature needs --{', --'.join(missing)} (or a YAML body)")
            definition: Any = {
                "name": args.name, "kind": args.kind, "sql": cell, "entity": _csv(args.entity),
                "timestamp": args.timestamp, "team": args.team, "description": args.description,
                "columns": parse_pairs(args.describe, "--describe", typed=False, what="COLUMN=TEXT"),
                "tags": args.tag or [], "schedule": args.schedule,
                "ttl": args.ttl, "online": args.online,
            }
            if args.stream:
                definition["kind"] = "stream"
                definition["stream"] = {k: v for k, v in (("source", args.stream), ("fields", args.fields),
                                                         ("time", args.time), ("watermark", args.watermark)) if v}
        else:
            definition = cell  # a YAML definition
        verb = self.client.features.plan if args.plan else self.client.features.apply
        return plan_view(verb(definition), applied=not args.plan)

    @line_cell_magic
    def feature(self, line: str, cell: str | None = None) -> Any:
        """Feature Store: %%feature [options] + SQL defines a set; %feature <command> for the rest."""
        if cell is not None:
            return run(self._define, line, cell)
        return self.dispatch(line)

    # -- %feature <command> -----------------------------------------------------
    @magic_arguments()
    @argument("--kind", choices=["features", "labels"])
    @argument("--team")
    def _list(self, line: str) -> Table:
        """All feature and label sets (newest versions)."""
        args = parse(self._list, line)
        sets = [s for s in self.client.features.list(kind=args.kind) if not args.team or s.spec.team == args.team]
        return _sets_table(sets, f"{len(sets)} set(s)")

    @magic_arguments()
    @argument("text", nargs="*")
    @argument("--kind", choices=["features", "labels"])
    @argument("--team")
    @argument("--tag")
    @argument("--entity")
    @argument("--column")
    def _search(self, line: str) -> Table:
        """Find sets by text (names, descriptions, columns), team, tag, entity or column."""
        args = parse(self._search, line)
        found = self.client.features.search(
            " ".join(args.text) or None, kind=args.kind, team=args.team, tag=args.tag, entity=args.entity,
            column=args.column,
        )
        return _sets_table(found, f"{len(found)} match(es)")

    @magic_arguments()
    @argument("name")
    @argument("--kind", choices=["features", "labels"])
    @argument("--version", type=int)
    def _show(self, line: str) -> SetCard:
        """A set: versions, schema and descriptions, lineage, quality history (with plots)."""
        args = parse(self._show, line)
        return SetCard(self.client.features.show(args.name, kind=args.kind, version=args.version))

    @magic_arguments()
    @argument("name")
    @argument("--kind", choices=["features", "labels"])
    @argument("--ds", help="the date to run the query for (default: yesterday)")
    @argument("--limit", type=int, default=20)
    def _preview(self, line: str) -> Any:
        """Run a set's query for one date and show the first rows (nothing is written)."""
        args = parse(self._preview, line)
        return self.client.features.preview(args.name, kind=args.kind, ds=args.ds, limit=args.limit).to_frame()

    @magic_arguments()
    @argument("path", help="a YAML file")
    def _plan(self, line: str) -> Any:
        """What applying a YAML definition file would change."""
        args = parse(self._plan, line)
        try:
            with open(args.path) as fh:
                text = fh.read()
        except OSError as exc:
            raise MagicError(f"cannot read {args.path}: {exc.strerror}") from None
        return plan_view(self.client.features.plan(text), applied=False)

    @magic_arguments()
    @argument("name")
    @argument("--kind", default="features", choices=["features", "labels"])
    def _delete(self, line: str) -> str:
        """Delete a set (owner team or admin)."""
        args = parse(self._delete, line)
        self.client.features.delete(args.name, kind=args.kind)
        return f"deleted {args.kind} set {args.name}"

    @magic_arguments()
    @argument("name", nargs="?")
    def _duplicates(self, line: str) -> Table:
        """Sets that compute the same thing (same SQL or same values), across teams."""
        args = parse(self._duplicates, line)
        found = self.client.features.duplicates(args.name)
        return Table(
            ["set", "team", "duplicates", "their team", "reason"],
            [[d.a, d.team_a, d.b, d.team_b, d.reason] for d in found],
            title=f"{len(found)} duplicate pair(s)",
        )

    @magic_arguments()
    @argument("name")
    @argument("--kind", choices=["features", "labels"])
    @argument("--date", help="one date")
    @argument("--start", help="first date of a backfill")
    @argument("--end", help="last date (inclusive)")
    def _compute(self, line: str) -> Table:
        """Compute a set on Spark for a date or a date range (a progress bar shows each date)."""
        args = parse(self._compute, line)
        if args.date and (args.start or args.end) or not (args.date or (args.start and args.end)):
            raise MagicError("give --date D, or --start D and --end D")
        first, last = (args.date, args.date) if args.date else (args.start, args.end)
        with progress_bar(f"compute {args.name}") as bar:
            runs = self.client.features.compute(args.name, first, last, kind=args.kind, progress=bar)
        return Table(
            ["ds", "status", "rows", "missing %", "failed checks"],
            [[r.ds, r.status, r.rows, r.missing_pct_total, ", ".join(c["check"] for c in r.checks if not c["passed"])
              or "-"] for r in runs],
            title=f"{args.name}: {sum(r.ok for r in runs)}/{len(runs)} date(s) passed their checks",
        )

    @magic_arguments()
    @argument("name")
    @argument("--kind", choices=["features", "labels"])
    def _runs(self, line: str) -> Any:
        """Quality history of a set: rows and missing values per run, as plots and a table."""
        args = parse(self._runs, line)
        return SetCard(self.client.features.show(args.name, kind=args.kind))

    @magic_arguments()
    @argument("name")
    @argument("--version", type=int)
    @argument("--ds")
    def _materialize(self, line: str) -> Any:
        """Load the newest value per entity of an online set into Online Serving."""
        args = parse(self._materialize, line)
        with progress_bar(f"materialize {args.name}") as bar:
            result = self.client.features.materialize(args.name, version=args.version, ds=args.ds, progress=bar)
        return Table(["set", "rows", "written", "skipped (older)", "seconds"],
                     [[args.name, result.rows, result.written, result.skipped_older, round(result.seconds, 2)]])

    @magic_arguments()
    @argument("entity")
    @argument("ids", nargs="+")
    @argument("--features", help="set.col, set or set:v2.col, comma-separated")
    def _get(self, line: str) -> Table:
        """Online values of entity ids, one round trip per call."""
        args = parse(self._get, line)
        results = self.client.features.get_online(args.entity, args.ids, _csv(args.features))
        keys = sorted({k for r in results for k in r["features"]})
        return Table([args.entity, "found", *keys],
                     [[r["id"], r["found"], *[r["features"].get(k) for k in keys]] for r in results])

    @magic_arguments()
    def _browse(self, line: str) -> Any:
        """A search-and-inspect panel (widget) over the registry."""
        parse(self._browse, line)
        from mlplat_magics.widgets import FeatureBrowser

        return FeatureBrowser(self.client)



@magics_class
class ExampleMagics(ClientMagics):
    NAME = "examples"
    SUBCOMMANDS = {"build": "_build", "show": "_show", "list": "_list"}

    @magic_arguments()
    @argument("name")
    @argument("--labels", required=True, help="label set (name or name:vN)")
    @argument("--features", required=True, help="feature sets, comma-separated")
    @argument("--team")
    @argument("--start")
    @argument("--end")
    @argument("--events", help="each row's last N events before its time: TABLE:N:COL,COL")
    @argument("--events-lookup", help="a dimension table's columns joined to the events first: TABLE:ON:COL,COL")
    def _build(self, line: str) -> Table:
        """Join a label set with feature sets point in time into a new example set version."""
        from mlplat.features.examples.events import EventWindow

        args = parse(self._build, line)
        if args.events_lookup and not args.events:
            raise MagicError("--events-lookup needs --events")
        events = EventWindow.from_text(args.events, args.events_lookup).to_dict() if args.events else None
        with progress_bar(f"examples {args.name}") as bar:
            info = self.client.examples.build(args.name, args.labels, _csv(args.features) or [], team=args.team,
                                              start=args.start, end=args.end, events=events, progress=bar)
        return _example_table(info)

    @magic_arguments()
    @argument("name")
    @argument("--version", type=int)
    @argument("--head", type=int, default=5, help="rows to show")
    def _show(self, line: str) -> Any:
        """An example set's manifest and its first rows."""
        args = parse(self._show, line)
        info = self.client.examples.show(args.name, args.version)
        from IPython.display import display

        display(_example_table(info))
        return self.client.examples.read(info.name, info.version).head(args.head)

    @magic_arguments()
    def _list(self, line: str) -> Table:
        """Every example set (newest versions)."""
        parse(self._list, line)
        found = self.client.examples.list()
        return Table(["name", "version", "team", "rows", "url"],
                     [[e.name, e.version, e.team, e.rows, e.url] for e in found])

    @line_magic
    def examples(self, line: str) -> Any:
        """Example Store: %examples build | show | list."""
        return self.dispatch(line)


def _example_table(info: Any) -> Table:
    m = info.manifest
    sources = [f"labels {m['labels']['name']} v{m['labels']['version']}"] + [
        f"features {f['name']} v{f['version']}" for f in m.get("features", [])
    ]
    return Table(
        ["field", "value"],
        [["rows", info.rows], ["sources", "; ".join(sources)], ["label columns", ", ".join(m.get("label_columns", []))],
         ["time range", f"{m.get('time_range', {}).get('start')} .. {m.get('time_range', {}).get('end')}"],
         ["files", info.url]],
        title=f"example set {info.ref}",
    )
