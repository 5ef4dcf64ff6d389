"""`mlplat feature ...` and `mlplat examples ...`: the Feature Store on the command line.

The names and ``--json`` outputs are used by scripts and acceptance checks: keep them stable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mlplat.cli import _client, _emit_json, _progress_line, _table, main
from mlplat.errors import ValidationError

KIND = click.option("--kind", type=click.Choice(["features", "labels"]), default=None, help="features or labels")


def _sets_rows(sets: list[Any]) -> list[dict[str, Any]]:
    return [
        {"name": s.name, "kind": s.kind, "version": s.version, "team": s.spec.team,
         "entity": ",".join(s.spec.entity), "online": s.spec.online, "description": s.spec.description}
        for s in sets
    ]


@main.group()
def feature() -> None:
    """Feature and label sets."""


@feature.command("apply")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--plan", "plan_only", is_flag=True, help="Show what would change; apply nothing.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def feature_apply(ctx: click.Context, file: Path, plan_only: bool, as_json: bool) -> None:
    """Register the set defined in a YAML file (a new version when its query or columns changed)."""
    with _client(ctx) as client:
        verb = client.features.plan if plan_only else client.features.apply
        plan = verb(file.read_text())
    if as_json:
        _emit_json(plan.to_dict())
    else:
        click.echo(str(plan))


@feature.command("list")
@KIND
@click.option("--team")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def feature_list(ctx: click.Context, kind: str | None, team: str | None, as_json: bool) -> None:
    """Every set (current versions)."""
    with _client(ctx) as client:
        sets = [s for s in client.features.list(kind=kind) if not team or s.spec.team == team]
    if as_json:
        _emit_json([s.to_dict() for s in sets])
    else:
        _table(_sets_rows(sets), ["name", "kind", "version", "team", "entity", "online", "description"])


@feature.command("search")
@click.argument("text", required=False)
@KIND
@click.option("--team")
@click.option("--tag")
@click.option("--entity")
@click.option("--column")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def feature_search(ctx: click.Context, text: str | None, kind: str | None, team: str | None, tag: str | None,
                   entity: str | None, column: str | None, as_json: bool) -> None:
    """Find sets by text, team, tag, entity or column."""
    with _client(ctx) as client:
        found = client.features.search(text, kind=kind, team=team, tag=tag, entity=entity, column=column)
    if as_json:
        _emit_json([s.to_dict() for s in found])
    else:
        _table(_sets_rows(found), ["name", "kind", "version", "team", "entity", "online", "description"])


@feature.command("show")
@click.argument("name")
@KIND
@click.option("--version", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def feature_show(ctx: click.Context, name: str, kind: str | None, version: int | None, as_json: bool) -> None:
    """A set with its versions, schema, lineage and quality history."""
    with _client(ctx) as client:
        detail = client.features.show(name, kind=kind, version=version)
    if as_json:
        _emit_json(detail.to_dict())
        return
    sv = detail.current
    click.echo(f"{sv.kind} set {sv.name} v{sv.version} (versions {detail.versions}), team {sv.spec.team}")
    click.echo(f"  {sv.spec.description}")
    click.echo(f"  entity {', '.join(sv.spec.entity)}; timestamp {sv.spec.timestamp}; reads {', '.join(detail.reads)}")
    _table([{"column": c.name, "type": c.type, "description": sv.spec.columns.get(c.name, "")} for c in sv.schema],
           ["column", "type", "description"])
    if detail.runs:
        _table([{"ds": r["ds"], "status": r["status"], "rows": r.get("rows")} for r in detail.runs[:10]],
               ["ds", "status", "rows"])


@feature.command("preview")
@click.argument("name")
@KIND
@click.option("--ds", help="Date to run the query for (default: yesterday).")
@click.option("--limit", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def feature_preview(ctx: click.Context, name: str, kind: str | None, ds: str | None, limit: int, as_json: bool) -> None:
    """Run a set's query for one date; print the first rows (nothing is written)."""
    with _client(ctx) as client:
        preview = client.features.preview(name, kind=kind, ds=ds, limit=limit)
    if as_json:
        _emit_json(preview.to_dict())
    else:
        click.echo(preview.to_frame().to_string(index=False))


@feature.command("delete")
@click.argument("name")
@click.option("--kind", type=click.Choice(["features", "labels"]), default="features", show_default=True)
@click.pass_context
def feature_delete(ctx: click.Context, name: str, kind: str) -> None:
    """Delete a set (owner team or admin)."""
    with _client(ctx) as client:
        client.features.delete(name, kind=kind)
    click.echo(f"deleted {kind} set {name}")


@feature.command("duplicates")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def feature_duplicates(ctx: click.Context, name: str | None, as_json: bool) -> None:
    """Sets computing the same thing (same SQL, or the same values on a sample), across teams."""
    with _client(ctx) as client:
        found = client.features.duplicates(name)
    if as_json:
        _emit_json([d.to_dict() for d in found])
    else:
        _table([{"set": d.a, "team": d.team_a, "duplicates": d.b, "their_team": d.team_b, "reason": d.reason}
                for d in found], ["set", "team", "duplicates", "their_team", "reason"])


@feature.command("compute")
@click.argument("name")
@KIND
@click.option("--date", "day", help="One date (YYYY-MM-DD).")
@click.option("--start", help="First date of a backfill.")
@click.option("--end", help="Last date of a backfill (inclusive).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def feature_compute(ctx: click.Context, name: str, kind: str | None, day: str | None, start: str | None,
                    end: str | None, as_json: bool) -> None:
    """Compute a set on Spark for a date or a date range; one atomic partition per date."""
    first, last = parse_dates(day, start, end)
    with _client(ctx) as client:
        runs = client.features.compute(name, first, last, kind=kind, progress=None if as_json else _progress_line)
    if as_json:
        _emit_json([r.to_dict() for r in runs])
    else:
        _table([{"ds": r.ds, "status": r.status, "rows": r.rows, "bytes": r.bytes,
                 "failed_checks": ", ".join(c["check"] for c in r.checks if not c["passed"]) or "-"} for r in runs],
               ["ds", "status", "rows", "bytes", "failed_checks"])
    if any(r.status != "succeeded" for r in runs):
        ctx.exit(3)


@feature.command("materialize")
@click.argument("name")
@click.option("--version", type=int)
@click.option("--ds", help="Use partitions up to this date (default: all).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def feature_materialize(ctx: click.Context, name: str, version: int | None, ds: str | None, as_json: bool) -> None:
    """Load the newest value per entity into Online Serving (partitions that passed their checks)."""
    with _client(ctx) as client:
        result = client.features.materialize(name, version=version, ds=ds,
                                             progress=None if as_json else _progress_line)
    if as_json:
        _emit_json(result.to_dict())
    else:
        click.echo(str(result))


@feature.command("get")
@click.argument("entity")
@click.argument("ids", nargs=-1, required=True)
@click.option("--features", help="set.col, set or set:v2.col, comma-separated (default: every online set).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def feature_get(ctx: click.Context, entity: str, ids: tuple[str, ...], features: str | None, as_json: bool) -> None:
    """Online values of entity ids (e.g. `mlplat feature get user_id u1 --features user_views_7d`)."""
    wanted = [f.strip() for f in features.split(",") if f.strip()] if features else None
    with _client(ctx) as client:
        results = client.features.get_online(entity, list(ids), wanted)
    if as_json:
        _emit_json(results[0] if len(results) == 1 else results)
        return
    for r in results:
        click.echo(f"{entity}={r['id']} ({'found' if r['found'] else 'not found'})")
        for key, value in r["features"].items():
            click.echo(f"  {key} = {value}")


@feature.command("runs")
@click.argument("name")
@KIND
@click.option("--limit", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def feature_runs(ctx: click.Context, name: str, kind: str | None, limit: int, as_json: bool) -> None:
    """A set's runs, newest first, with their metadata and quality checks."""
    with _client(ctx) as client:
        runs = client.features.runs(name, kind=kind, limit=limit)
    if as_json:
        _emit_json([r.to_dict() for r in runs])
    else:
        _table([{"ds": r.ds, "version": r.version, "status": r.status, "rows": r.rows,
                 "missing_pct": r.missing_pct_total} for r in runs], ["ds", "version", "status", "rows", "missing_pct"])


def parse_dates(date: str | None, start: str | None, end: str | None) -> tuple[str, str]:
    """``--date D`` or ``--start D --end D`` (inclusive)."""
    if date and (start or end):
        raise ValidationError("give either --date or --start/--end, not both")
    if date:
        return date, date
    if not (start and end):
        raise ValidationError("give --date D, or --start D and --end D")
    return start, end


def _example_row(info: Any) -> dict[str, Any]:
    return {"name": info.name, "version": info.version, "team": info.team, "rows": info.rows, "url": info.url}


@main.group()
def examples() -> None:
    """Example sets: point-in-time-correct training data in the Example Store."""


@examples.command("build")
@click.argument("name")
@click.option("--labels", required=True, help="Label set (name or name:vN).")
@click.option("--features", "feature_sets", required=True, help="Feature sets, comma-separated (name or name:vN).")
@click.option("--team", help="Owner team (default: the label set's).")
@click.option("--start", help="First label date (ds) to use.")
@click.option("--end", help="Last label date (ds) to use.")
@click.option("--events", "events_spec", metavar="TABLE:N:COL,COL",
              help="Attach each label row's last N events before its time (e.g. events:20:event_type,category,price).")
@click.option("--events-lookup", metavar="TABLE:ON:COL,COL",
              help="Columns of a dimension table joined to the events first (e.g. products:product_id:category).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def examples_build(ctx: click.Context, name: str, labels: str, feature_sets: str, team: str | None,
                   start: str | None, end: str | None, events_spec: str | None, events_lookup: str | None,
                   as_json: bool) -> None:
    """Join a label set with feature sets point in time; writes examples/<name>/v<k>/."""
    sets = [f.strip() for f in feature_sets.split(",") if f.strip()]
    if events_lookup and not events_spec:
        raise click.UsageError("--events-lookup needs --events")
    from mlplat.features.examples.events import EventWindow

    events = EventWindow.from_text(events_spec, events_lookup).to_dict() if events_spec else None
    with _client(ctx) as client:
        info = client.examples.build(name, labels, sets, team=team, start=start, end=end, events=events,
                                     progress=None if as_json else _progress_line)
    if as_json:
        _emit_json(info.to_dict())
    else:
        click.echo(f"built {info.ref}: {info.rows} rows -> {info.url}")


@examples.command("show")
@click.argument("name")
@click.option("--version", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def examples_show(ctx: click.Context, name: str, version: int | None, as_json: bool) -> None:
    """An example set's manifest, with the lake path of its Parquet files."""
    with _client(ctx) as client:
        info = client.examples.show(name, version)
    if as_json:
        _emit_json(info.to_dict())
    else:
        click.echo(f"{info.ref} ({info.rows} rows, team {info.team}) at {info.url}")
        for col in info.manifest.get("schema", []):
            click.echo(f"  {col['name']}: {col['type']}")


@examples.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def examples_list(ctx: click.Context, as_json: bool) -> None:
    """Every example set (newest versions)."""
    with _client(ctx) as client:
        found = client.examples.list()
    if as_json:
        _emit_json([e.to_dict() for e in found])
    else:
        _table([_example_row(e) for e in found], ["name", "version", "team", "rows", "url"])


@main.group()
def transformer() -> None:
    """Transformers: fitted transforms a model refers to by id (name:vN)."""


@transformer.command("fit")
@click.argument("name")
@click.option("--examples", "example_set", required=True, help="Example set to fit on (name or name:vN).")
@click.option("--steps", "steps_file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="YAML list of steps, e.g. - {op: fill_missing, columns: [a], strategy: median}")
@click.option("--team")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def transformer_fit(ctx: click.Context, name: str, example_set: str, steps_file: Path, team: str | None,
                    as_json: bool) -> None:
    """Fit steps on an example set and save the next version."""
    import yaml

    steps = yaml.safe_load(steps_file.read_text())
    if not isinstance(steps, list):
        raise ValidationError(f"{steps_file} must hold a YAML list of steps")
    with _client(ctx) as client:
        fitted = client.transformers.fit(name, steps, example_set, team=team)
    if as_json:
        _emit_json(fitted.to_dict())
    else:
        click.echo(f"saved transformer {fitted.id}: {len(fitted.input_columns)} inputs -> "
                   f"{len(fitted.output_columns)} outputs")


@transformer.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def transformer_list(ctx: click.Context, as_json: bool) -> None:
    """Every transformer (newest versions)."""
    with _client(ctx) as client:
        found = client.transformers.list()
    if as_json:
        _emit_json(found)
    else:
        _table([{k: t.get(k) for k in ("name", "version", "team", "example_set")} for t in found],
               ["name", "version", "team", "example_set"])
