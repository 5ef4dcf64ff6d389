"""`mlplat deploy|rollback|deployments|predict|batch-predict|retrain`: Managed Model Hosting on the command line.

The ``--json`` outputs are used by scripts: keep them stable (deploy and rollback print
``DeploymentInfo.to_dict()``, ``deployments`` a list of them, ``predict`` the service's answer
``{"prediction_id", "model", "version", "output"}`` plus ``"via"``: ``"inference-service"`` when the
running Inference Service answered, ``"in-process"`` when this process computed it).
"""

from __future__ import annotations

from typing import Any

import click

from mlplat.cli import _client, _emit_json, _progress_line, _settings, _table, main
from mlplat.cli.models import _progress

DEPLOYMENT_COLUMNS = ["id", "model", "version", "previous_version", "action", "status", "created_by", "created_at"]


def _print_deployment(info: Any) -> None:
    _table([{**c, "ok": "yes" if c["ok"] else "NO", "seconds": f"{c['seconds']:.2f}"} for c in info.checks],
           ["step", "ok", "seconds", "detail"])
    click.echo(info.message)


def _finish(info: Any, as_json: bool) -> None:
    if as_json:
        _emit_json(info.to_dict())
    else:
        _print_deployment(info)


@main.command("deploy")
@click.argument("model")
@click.option("--version", type=int, help="The version (default: the candidate alias, else the newest).")
@click.option("--alias", help="Deploy the version this alias points at.")
@click.option("--store-fallback", is_flag=True, help="Serve the declared defaults while Online Serving is down.")
@click.option("--force", is_flag=True, help="Skip the environment check (recorded in the deployment).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def deploy(ctx: click.Context, model: str, version: int | None, alias: str | None, store_fallback: bool,
           force: bool, as_json: bool) -> None:
    """Check a registered version (environment, container spec, sanity test, Online Serving) and make it live."""
    with _client(ctx) as client, _progress(as_json) as say:
        info = client.serving.deploy(model, version, alias=alias, store_fallback=store_fallback, force=force,
                                     progress=say)
    _finish(info, as_json)


@main.command("rollback")
@click.argument("model")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def rollback(ctx: click.Context, model: str, as_json: bool) -> None:
    """Deploy the version that was live before the current one (with the same checks)."""
    with _client(ctx) as client, _progress(as_json) as say:
        info = client.serving.rollback(model, progress=say)
    _finish(info, as_json)


@main.command("deployments")
@click.argument("model", required=False)
@click.option("--limit", type=int, default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def deployments(ctx: click.Context, model: str | None, limit: int, as_json: bool) -> None:
    """The deployment history (deploys, rollbacks, refusals), newest first."""
    with _client(ctx) as client:
        found = client.serving.deployments(model, limit=limit)
    if as_json:
        _emit_json([d.to_dict() for d in found])
    else:
        _table([d.to_dict() for d in found], DEPLOYMENT_COLUMNS)


@main.command("predict")
@click.argument("model")
@click.option("--entity", "entity", multiple=True, required=True, help="KEY=VALUE of the entity, e.g. user_id=u1.")
@click.option("--feature", "features", multiple=True,
              help="KEY=VALUE session feature (JSON values: 3, 2.5, true); repeatable.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def predict(ctx: click.Context, model: str, entity: tuple[str, ...], features: tuple[str, ...], as_json: bool) -> None:
    """One prediction: from the running Inference Service when it is up, else computed in this process."""
    from mlplat.pairs import parse_pairs
    from mlplat.serving.client import service_predict, service_token, service_up

    settings = _settings(ctx)
    keys = parse_pairs(entity, "--entity", typed=False)
    session = parse_pairs(features, "--feature")
    if service_token(settings) and service_up(settings):
        answer = service_predict(settings, model, {"entity": keys, "features": session})
        answer["via"] = "inference-service"
        where = f"the Inference Service at {settings.inference}"
    else:
        with _client(ctx) as client:
            answer = client.serving.predict(model, keys, session)
        answer["via"] = "in-process"
        where = "this process (the Inference Service is not running)"
    if as_json:
        _emit_json(answer)
        return
    click.echo(f"{answer['model']} v{answer['version']} via {where}: prediction {answer['prediction_id']}")
    _table([{"output": k, "value": v} for k, v in answer["output"].items()], ["output", "value"])


def _result(value: Any, as_json: bool) -> None:
    data = value.to_dict() if hasattr(value, "to_dict") else value
    if as_json:
        _emit_json(data)
    elif isinstance(data, dict):
        _table([{"field": k, "value": v} for k, v in data.items()], ["field", "value"])
    else:
        click.echo(str(data))


@main.command("batch-predict")
@click.argument("model")
@click.option("--date", "day", help="The day to score (YYYY-MM-DD; default: the newest).")
@click.option("--version", type=int, help="The version (default: production).")
@click.option("--online", is_flag=True, help="Also load the predictions into Online Serving (precomputed endpoint).")
@click.option("--feature", "features", multiple=True, help="KEY=VALUE session feature for every entity; repeatable.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def batch_predict(ctx: click.Context, model: str, day: str | None, version: int | None, online: bool,
                  features: tuple[str, ...], as_json: bool) -> None:
    """Score every entity on Spark into predictions/<model>/<date>/."""
    from mlplat.pairs import parse_pairs

    with _client(ctx) as client:
        result = client.serving.batch_predict(model, day, version=version, online=online,
                                              features=parse_pairs(features, "--feature") or None,
                                              progress=None if as_json else _progress_line)
    _result(result, as_json)


@main.command("retrain")
@click.argument("model")
@click.option("--examples", help="The example set (default: the newest version of the one production used).")
@click.option("--margin", type=float, help="How much the candidate must beat production by to be promoted.")
@click.option("--no-deploy", is_flag=True, help="Register the candidate, but do not deploy it.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def retrain(ctx: click.Context, model: str, examples: str | None, margin: float | None, no_deploy: bool,
            as_json: bool) -> None:
    """Retrain on the newest example set; promote only when it beats production by the margin."""
    with _client(ctx) as client:
        result = client.serving.retrain(model, examples=examples, margin=margin, deploy=False if no_deploy else None,
                                        progress=None if as_json else _progress_line)
    _result(result, as_json)
