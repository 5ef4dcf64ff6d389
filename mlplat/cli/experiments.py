"""`mlplat experiment ...`: the Experiment Manager from a shell. ``--json`` outputs are kept stable for scripts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from mlplat.cli import _client, _emit_json, _table, main
from mlplat.errors import ValidationError

LIST_COLUMNS = ["name", "team", "status", "phase", "analysis", "arms", "weights", "primary_metric"]


def experiment_rows(experiments: list[Any]) -> list[dict[str, Any]]:
    return [{"name": e.name, "team": e.team, "status": e.status, "phase": e.phase, "analysis": e.spec["analysis"],
             "arms": ", ".join(f"{a['name']}={a['model']}" for a in e.arms),
             "weights": "/".join(f"{w:.2f}" for w in e.weights), "primary_metric": e.spec["primary_metric"]}
            for e in experiments]


def read_definition(path: str) -> dict[str, Any]:
    """A definition file: JSON, or YAML when PyYAML is installed."""
    text = Path(path).read_text()
    if path.endswith((".yaml", ".yml")):
        import yaml

        data = yaml.safe_load(text)
    else:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValidationError(f"{path} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValidationError(f"{path} must hold one experiment definition (an object)")
    return data


def _show(experiment: Any, as_json: bool) -> None:
    if as_json:
        _emit_json(experiment.to_dict())
        return
    _table(experiment_rows([experiment]), LIST_COLUMNS)
    click.echo("")
    _table([{"at": h.at[:19], "by": h.by, "from": h.from_status or "-", "to": h.to_status, "phase": h.phase,
             "reason": h.reason} for h in experiment.history], ["at", "by", "from", "to", "phase", "reason"])


@main.group()
def experiment() -> None:
    """A/B tests and bandits between Model Pipelines (create, start, stop, results)."""


@experiment.command("create")
@click.argument("name", required=False)
@click.option("--file", "path", type=click.Path(dir_okay=False, exists=True),
              help="A definition file (JSON or YAML); the options below override its fields.")
@click.option("--team", help="Owner team (default: your only team).")
@click.option("--arm", "arms", multiple=True, help="NAME=MODEL_REF (control first): m, m@alias or m/3; repeatable.")
@click.option("--weights", help="Comma-separated, one per arm (default: an even split).")
@click.option("--metric", "primary_metric", help="The primary metric.")
@click.option("--guardrail", "guardrails", multiple=True, help="A guardrail metric; repeatable.")
@click.option("--analysis", type=click.Choice(["frequentist", "sequential", "bayesian", "bandit"]))
@click.option("--coverage", type=float)
@click.option("--hypothesis")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def experiment_create(ctx: click.Context, name: str | None, path: str | None, team: str | None, arms: tuple[str, ...],
                      weights: str | None, primary_metric: str | None, guardrails: tuple[str, ...],
                      analysis: str | None, coverage: float | None, hypothesis: str | None, as_json: bool) -> None:
    """Define an experiment (in draft; `start` begins the traffic split)."""
    definition = read_definition(path) if path else {}
    given = {"name": name, "team": team, "arms": list(arms) or None, "primary_metric": primary_metric,
             "guardrail_metrics": list(guardrails) or None, "analysis": analysis, "coverage": coverage,
             "hypothesis": hypothesis,
             "weights": [float(w) for w in weights.split(",")] if weights else None}
    definition.update({k: v for k, v in given.items() if v is not None})
    with _client(ctx) as client:
        if not definition.get("team"):
            me = client.whoami()
            if len(me.teams) != 1:
                raise ValidationError("say which team owns the experiment with --team (you are in: "
                                      f"{', '.join(me.teams) or 'no team'})")
            definition["team"] = me.teams[0]
        created = client.experiments.create(definition)
    _show(created, as_json)


@experiment.command("list")
@click.option("--status", type=click.Choice(["draft", "running", "stopped", "concluded"]))
@click.option("--team")
@click.option("--model", help="Only experiments with an arm serving this model.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def experiment_list(ctx: click.Context, status: str | None, team: str | None, model: str | None,
                    as_json: bool) -> None:
    """Experiments, with their status, split and primary metric."""
    with _client(ctx) as client:
        found = client.experiments.list(status=status, team=team, model=model)
    if as_json:
        _emit_json([e.to_dict() for e in found])
    else:
        _table(experiment_rows(found), LIST_COLUMNS)


@experiment.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def experiment_show(ctx: click.Context, name: str, as_json: bool) -> None:
    """An experiment's definition, split, phases and history (who changed what, when, why)."""
    with _client(ctx) as client:
        _show(client.experiments.show(name), as_json)


def _move(ctx: click.Context, verb: str, name: str, as_json: bool, **kwargs: Any) -> None:
    with _client(ctx) as client:
        _show(getattr(client.experiments, verb)(name, **kwargs), as_json)


@experiment.command("start")
@click.argument("name")
@click.option("--reason", default="")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def experiment_start(ctx: click.Context, name: str, reason: str, as_json: bool) -> None:
    """Begin assigning traffic to the arms."""
    _move(ctx, "start", name, as_json, reason=reason)


@experiment.command("stop")
@click.argument("name")
@click.option("--reason", default="")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def experiment_stop(ctx: click.Context, name: str, reason: str, as_json: bool) -> None:
    """Send everyone to control now (every inference worker within seconds)."""
    _move(ctx, "stop", name, as_json, reason=reason)


@experiment.command("conclude")
@click.argument("name")
@click.option("--winner", help="The arm chosen.")
@click.option("--reason", default="")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def experiment_conclude(ctx: click.Context, name: str, winner: str | None, reason: str, as_json: bool) -> None:
    """Record the decision (the experiment serves control and frees its layer slice)."""
    _move(ctx, "conclude", name, as_json, winner=winner, reason=reason)


@experiment.command("change")
@click.argument("name")
@click.option("--weights", help="Comma-separated, one per arm.")
@click.option("--coverage", type=float)
@click.option("--reseed", is_flag=True, help="Re-randomize: a new seed for the new phase.")
@click.option("--reason", default="")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def experiment_change(ctx: click.Context, name: str, weights: str | None, coverage: float | None, reseed: bool,
                      reason: str, as_json: bool) -> None:
    """Change the split; a new split starts a new phase (results are per phase)."""
    changes: dict[str, Any] = {}
    if weights:
        changes["weights"] = [float(w) for w in weights.split(",")]
    if coverage is not None:
        changes["coverage"] = coverage
    with _client(ctx) as client:
        _show(client.experiments.change(name, changes, reseed=reseed, reason=reason), as_json)


@experiment.command("results")
@click.argument("name")
@click.option("--phase", type=int, help="Default: the current phase.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def experiment_results(ctx: click.Context, name: str, phase: int | None, as_json: bool) -> None:
    """Sample-ratio check first, then the experiment's analysis of its phase."""
    with _client(ctx) as client:
        found = client.experiments.results(name, phase=phase)
    if as_json:
        _emit_json(found)
        return
    click.echo(f"{found['experiment']} phase {found['phase']} ({found['status']}, {found['analysis']})")
    if found["warning"]:
        click.echo(f"WARNING: {found['warning']}")
    if not found["data"]:
        click.echo(found["reason"])
        return
    _table([{"metric": m["name"], "role": m["role"], **{a["name"]: f"{a['mean']:.4g} (n={a['n']})"
                                                          if a["mean"] is not None else "-" for a in m["arms"]}}
            for m in found["metrics"]], ["metric", "role", *[a["name"] for a in found["arms"]]])
    for c in (found["frequentist"] or {}).get("comparisons", []):
        ci = c["diff_ci"] or [None, None]
        click.echo(f"{c['metric']}: {c['arm']} vs {c['control']}: diff {c['diff']:.4g} "
                   f"[{ci[0]:.4g}, {ci[1]:.4g}], p={c['p_value']:.3g} (adjusted {c['p_adjusted']:.3g})"
                   if c["diff"] is not None else f"{c['metric']}: {c['arm']}: {c['reason']}")
    for s in found["sequential"] or []:
        click.echo(f"{s['metric']}: {s['arm']}: always-valid p={s['p_value']}, confidence sequence {s['ci']}")
    for b in found["bayesian"] or []:
        for c in b.get("comparisons", []):
            click.echo(f"{b['metric']}: {c['arm']}: chance to beat control {c['chance_to_beat_control']:.3f}")
        if b.get("decision"):
            click.echo(f"{b['metric']}: {b['arm']}: chance to win {b['decision']['chance_to_win']:.3f}")


@experiment.command("layers")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def experiment_layers(ctx: click.Context, as_json: bool) -> None:
    """Layers and the slices their experiments hold."""
    with _client(ctx) as client:
        found = client.experiments.layers()
    if as_json:
        _emit_json([x.to_dict() for x in found])
    else:
        _table([{"layer": x.name, "slices": ", ".join(f"{s.experiment} [{s.start:g}, {s.end:g})" for s in x.slices),
                 "free": ", ".join(f"[{a:g}, {b:g})" for a, b in x.free)} for x in found], ["layer", "slices", "free"])


@experiment.command("bandit-update")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def experiment_bandit_update(ctx: click.Context, name: str, as_json: bool) -> None:
    """Thompson sampling over the joined outcomes: the bandit's next weights."""
    with _client(ctx) as client:
        update = client.experiments.bandit_update(name)
    if as_json:
        _emit_json(update.to_dict())
    else:
        click.echo(f"{name} phase {update.phase} ({update.stage}): weights "
                   + ", ".join(f"{w:.3f}" for w in update.weights) + f" from trials {update.trials}")


@experiment.command("refresh")
@click.argument("name", required=False)
@click.option("--since", help="ISO start of the window (default: the current phase's start).")
@click.option("--until", help="ISO end of the window (default: now).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def experiment_refresh(ctx: click.Context, name: str | None, since: str | None, until: str | None,
                       as_json: bool) -> None:
    """Recompute the outcomes' statistics (NAME, or every running experiment as an admin)."""
    with _client(ctx) as client:
        done = client.experiments.refresh(name, since=since, until=until)
    if as_json:
        _emit_json(done)
    else:
        click.echo(f"refreshed {', '.join(done['experiments']) or 'nothing'}: {done['rows']} rows until "
                   f"{done['until']}")


def _simulate() -> None:
    """`mlplat experiment simulate` is `mlplat lake simulate` (outcomes' simulated traffic), where users look for it."""
    from mlplat.cli.outcomes import lake_simulate

    experiment.add_command(lake_simulate, "simulate")


_simulate()
