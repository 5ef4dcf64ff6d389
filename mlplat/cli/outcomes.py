"""`mlplat lake simulate` (simulated users for an experiment, with a planted effect, through the Inference Service)
and `mlplat metric define|list|show` (metric definitions). ``--json`` outputs are kept stable for scripts."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

import click

from mlplat.cli import _client, _emit_json, _progress_line, _settings, _table, main
from mlplat.cli.platform_commands import lake
from mlplat.errors import NotFoundError, ValidationError


def _users(client: Any, count: int) -> list[str] | None:
    """The seeded lake's user ids when there are enough (their features are in Online Serving)."""
    import pyarrow.parquet as pq

    from mlplat.lake import local_path

    try:
        path = local_path(client.lake_table("users").url)
    except NotFoundError:
        return None
    if path is None:
        return None
    table = pq.read_table(path, columns=["user_id"])
    return table.column("user_id").to_pylist()[:count] if table.num_rows >= count else None


def _arm_inputs(client: Any, experiment: str) -> list[Any]:
    """Each arm's session features and training example set, from its version in the Model Repository."""
    from mlplat.experiments.spec import ModelRef
    from mlplat.outcomes.request_features import ArmInputs, SessionInput

    found = []
    for arm in client.experiments.show(experiment).arms:
        ref = ModelRef.parse(arm["model"])
        detail = client.models.show(ref.model, version=ref.version, alias=None if ref.version else ref.alias)
        fields = [SessionInput(f["name"], f["type"], f.get("default"))
                  for f in (detail.metadata.get("inputs") or {}).get("fields") or [] if f.get("source") == "session"]
        found.append(ArmInputs(str(ref), tuple(fields), detail.lineage.get("example_store_location")))
    return found


def _arm_models(arms: tuple[str, ...]) -> tuple[list[str], dict[str, tuple[str, int]]]:
    names, models = [], {}
    for text in arms:
        name, _, ref = text.partition("=")
        model, _, version = ref.partition("/")
        if not name or not model:
            raise ValidationError(f"--arm {text!r}: write NAME=MODEL or NAME=MODEL/VERSION", field="arm")
        names.append(name)
        models[name] = (model, int(version) if version.isdigit() else 1)
    return names, models


@lake.command("simulate")
@click.option("--experiment", required=True, help="The experiment whose traffic to simulate.")
@click.option("--users", default=2000, show_default=True, help="Simulated users (the seeded lake's if it has enough).")
@click.option("--hours", default=24.0, show_default=True, help="Hours of traffic (--no-serve: the simulated span).")
@click.option("--effect", "effects", multiple=True,
              help="Planted effect: ARM=+0.02 (user conversion, absolute) or ARM:revenue=+0.10 (relative); repeatable.")
@click.option("--seed", "seed_", default=0, show_default=True)
@click.option("--start", help="ISO time of the first hour (default: HOURS before now, on the hour).")
@click.option("--response-seconds", type=float, help="Purchases follow their session within this (default: 60 "
              "through the service, 1800 with --no-serve).")
@click.option("--no-serve", is_flag=True, help="Assign and log directly, without the Inference Service.")
@click.option("--arm", "arms", multiple=True, help="--no-serve: NAME=MODEL[/VERSION], control first; repeatable.")
@click.option("--weights", help="--no-serve: comma-separated arm weights (default: even).")
@click.option("--hash-seed", help="--no-serve: the experiment's assignment seed (default: its name).")
@click.option("--phase", type=int, default=1, show_default=True, help="--no-serve: the phase logged.")
@click.option("--entity-key", default="user_id", show_default=True, help="The request's entity key column.")
@click.option("--concurrency", default=4, show_default=True, help="Requests in flight.")
@click.option("--team", default="platform", show_default=True, help="Owner team of the tables written.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def lake_simulate(ctx: click.Context, experiment: str, users: int, hours: float, effects: tuple[str, ...], seed_: int,
                  start: str | None, response_seconds: float | None, no_serve: bool, arms: tuple[str, ...],
                  weights: str | None, hash_seed: str | None, phase: int, entity_key: str, concurrency: int,
                  team: str, as_json: bool) -> None:
    """Simulate users of EXPERIMENT: their requests (through the Inference Service unless --no-serve) and their
    sessions and purchases (lake tables sim_sessions and sim_purchases), with a planted per-arm effect."""
    from mlplat.lake import join
    from mlplat.outcomes.simulate import SimConfig, default_start, parse_effects
    from mlplat.outcomes.traffic import run_served

    settings = _settings(ctx)
    first = datetime.fromisoformat(start) if start else default_start(hours)
    cfg = SimConfig(experiment=experiment, users=users, hours=hours, start=first.astimezone(timezone.utc)
                    if first.tzinfo else first.replace(tzinfo=timezone.utc), seed=seed_,
                    effects=parse_effects(effects),
                    response_seconds=response_seconds or (1800.0 if no_serve else 60.0))
    with _client(ctx) as client:
        def register(name: str, url: str, partition_by: list[str]) -> None:
            client.register_table(name, url, format="parquet", team=team, partition_by=partition_by,
                                  description=f"simulated users' {name.removeprefix('sim_')} (mlplat lake simulate)")

        user_ids = _users(client, users)
        if no_serve:
            result = _run_local(cfg, settings.lake, join(settings.lake, "prediction_log"), arms, weights,
                                hash_seed or experiment, phase, register, user_ids)
        else:
            import httpx

            from mlplat.outcomes.request_features import draw
            from mlplat.serving.client import service_token

            features = draw(_arm_inputs(client, experiment), users, seed_)
            token = os.environ.get("MLPLAT_TOKEN") or service_token(settings)
            with httpx.Client(timeout=settings.http_timeout) as http:
                result = run_served(cfg, settings.lake, http, settings.inference, token=token, entity_key=entity_key,
                                    features=features, register=register, user_ids=user_ids,
                                    concurrency=concurrency, progress=_progress_line)
            result = replace(result, session_features=features.sources)
    if as_json:
        _emit_json(result.to_dict())
        return
    click.echo(f"{result.sessions:,} requests for {result.users:,} users of {experiment} ({result.purchases:,} "
               f"purchases) in {result.seconds:.1f} s; units per arm: {json.dumps(result.units)}")
    for arm, truth in result.truth.items():
        click.echo(f"  planted truth {arm}: conversion {truth['conversion']:.4f}, revenue per user "
                   f"{truth['revenue_per_user']:.2f}")
    if result.session_features:
        click.echo("session features sent (from): " + ", ".join(f"{k} ({v})" for k, v in
                                                          result.session_features.items()))
    click.echo(f"responses are complete at {result.responses_until}")


def _run_local(cfg: Any, lake_url: str, log_url: str, arms: tuple[str, ...], weights: str | None, hash_seed: str,
               phase: int, register: Any, user_ids: list[str] | None) -> Any:
    import numpy as np

    from mlplat.experiments import AssignmentSpec, assign_many
    from mlplat.outcomes.traffic import run_local

    if len(arms) < 2:
        raise ValidationError("--no-serve needs the experiment's arms: --arm control=MODEL --arm treatment=MODEL",
                              field="arm")
    names, models = _arm_models(arms)
    shares = [float(w) for w in weights.split(",")] if weights else [1.0 / len(names)] * len(names)
    spec = AssignmentSpec(seed=hash_seed, weights=tuple(shares))

    def assigner(entity_ids: np.ndarray) -> list[str | None]:
        return [names[i] if i >= 0 else None for i in assign_many(spec, entity_ids).tolist()]

    return run_local(cfg, lake_url, log_url, assigner, models, names[0], phase=phase, register=register,
                     user_ids=user_ids)


__all__ = ["lake_simulate"]


# -- metric definitions ----------------------------------------------------------------------
METRIC_COLUMNS = ["name", "kind", "join", "window_hours", "team", "description"]


@main.group()
def metric() -> None:
    """Metric definitions: what counts as a user's response, as Spark SQL over lake tables."""


@metric.command("define")
@click.argument("name")
@click.option("--kind", type=click.Choice(["binary", "mean", "ratio"]), help="How a unit's rows add up.")
@click.option("--sql", help="Spark SQL returning prediction_id or entity_id, ts and value, one row per action.")
@click.option("--join", "join_", type=click.Choice(["prediction", "entity"]),
              help="Rows join their prediction by prediction_id (default) or the unit by entity_id.")
@click.option("--window-hours", type=int, help="Attribution window after the prediction (default 72).")
@click.option("--value-column", help="The SQL's column holding each action's amount (default value).")
@click.option("--denominator-sql", help="ratio: a query of the same shape whose value is the denominator.")
@click.option("--team", help="Owner team (default: your only team).")
@click.option("--description", help="What the metric means.")
@click.option("--file", "file_", type=click.Path(exists=True, dir_okay=False),
              help="A JSON or YAML document of the metric's fields; options given override it.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def metric_define(ctx: click.Context, name: str, kind: str | None, sql: str | None, join_: str | None,
                  window_hours: int | None, value_column: str | None, denominator_sql: str | None,
                  team: str | None, description: str | None, file_: str | None, as_json: bool) -> None:
    """Define (or change) metric NAME; it is checked against Spark and the lake before it is saved."""
    spec: dict[str, Any] = {}
    if file_:
        import yaml

        with open(file_) as handle:
            loaded = yaml.safe_load(handle)  # JSON is YAML too
        if not isinstance(loaded, dict):
            raise ValidationError(f"{file_}: expected a mapping of the metric's fields", field="file")
        spec.update(loaded)
    given = {"kind": kind, "sql": sql, "join": join_, "window_hours": window_hours, "value_column": value_column,
             "denominator_sql": denominator_sql, "team": team, "description": description}
    spec.update({k: v for k, v in given.items() if v is not None})
    spec["name"] = name
    with _client(ctx) as client:
        if not spec.get("team"):
            me = client.whoami()
            if len(me.teams) == 1:
                spec["team"] = me.teams[0]
            elif not me.admin:
                raise ValidationError(f"say which team owns metric {name!r} with --team (you are in: "
                                      f"{', '.join(me.teams) or 'no team'})", field="team")
        defined = client.metrics.define(spec)
    if as_json:
        _emit_json(defined.to_dict())
    else:
        click.echo(f"defined metric {defined.name} ({defined.kind}, join by {defined.join}, "
                   f"{defined.window_hours} h window; team {defined.team or '(admins)'})")


@metric.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def metric_list(ctx: click.Context, as_json: bool) -> None:
    """Every metric definition."""
    with _client(ctx) as client:
        found = client.metrics.list()
    if as_json:
        _emit_json([m.to_dict() for m in found])
    else:
        _table([m.to_dict() for m in found], METRIC_COLUMNS)


@metric.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def metric_show(ctx: click.Context, name: str, as_json: bool) -> None:
    """One metric's definition, its SQL included."""
    with _client(ctx) as client:
        found = client.metrics.show(name)
    if as_json:
        _emit_json(found.to_dict())
        return
    for key, value in found.to_dict().items():
        if value not in (None, ""):
            click.echo(f"{key}: {value}")
