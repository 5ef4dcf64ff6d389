"""`mlplat train`, `mlplat automl` and `mlplat model ...`: Managed Models on the command line.

The names and ``--json`` outputs are used by scripts and acceptance checks: keep them stable
(train/automl print ``TrainOutcome.to_dict()``, ``model list`` a list of ``ModelSummary.to_dict()``,
``model show`` ``ModelDetail.to_dict()``, ``model compare``/``promote`` ``ModelVersionInfo.to_dict()``).
Options left out take the defaults of the ``platform.models`` verbs.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Callable

import click

from mlplat.cli import _client, _emit_json, _progress_line, _table, main
from mlplat.errors import ValidationError
from mlplat.pairs import parse_pairs

VERSION_COLUMNS = ["version", "aliases", "kind", "task", "example_set", "created_by", "created_at"]


def _csv(text: str | None) -> list[str] | None:
    return [p.strip() for p in text.split(",") if p.strip()] if text else None


def _versions(text: str | None) -> list[int] | None:
    names = _csv(text)
    try:
        return [int(v.lstrip("v")) for v in names] if names else None
    except ValueError:
        raise ValidationError(f"--versions takes version numbers separated by commas, e.g. 1,2; got {text!r}") from None


def _space(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        space = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"--space is not valid JSON ({exc.msg} at character {exc.pos}): {text!r}") from None
    if not isinstance(space, dict):
        raise ValidationError(f"--space takes a JSON object of parameter -> range or choices, got {text!r}")
    return space


def _given(**options: Any) -> dict[str, Any]:
    """The options the user gave (the verbs' own defaults apply to the rest)."""
    return {k: v for k, v in options.items() if v is not None and v != ()}


@contextmanager
def _progress(as_json: bool) -> Iterator[Callable[[str, float], None] | None]:
    """The progress line while training (none with --json); erased on an error, so the error stands alone."""
    if as_json:
        yield None
        return
    state = {"open": False}

    def say(message: str, fraction: float) -> None:
        _progress_line(message, fraction)
        state["open"] = fraction < 1

    try:
        yield say
    except BaseException:
        if state["open"]:
            click.echo("\r\033[K", nl=False, err=True)
        raise
    if state["open"]:
        click.echo("", err=True)


def _metrics_text(metrics: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v:.4g}" if isinstance(v, (int, float)) else f"{k} {v}" for k, v in metrics.items())


def _metrics_table(metrics: dict[str, Any]) -> None:
    _table([{"metric": k, "value": v} for k, v in metrics.items()], ["metric", "value"])


def _print_outcome(outcome: Any) -> None:
    click.echo(f"trained {outcome.kind} ({outcome.task}, target {outcome.target or '-'}) on {outcome.examples}: "
               f"{outcome.rows_train} train / {outcome.rows_test} test rows in {outcome.seconds:.1f}s")
    if outcome.tuning:
        t = outcome.tuning
        click.echo(f"{t['method']} search, {len(t['trials'])} trial(s): best {t['metric']} {t['best_value']} "
                   f"with {json.dumps(t['best_params'])}")
    if outcome.automl:
        picked = {k: v for k, v in outcome.automl.items() if isinstance(v, (str, int, float)) and k != "winner"}
        click.echo("automl: " + ", ".join(f"{k} {v}" for k, v in picked.items()))
    _metrics_table(outcome.metrics)
    if outcome.model:
        click.echo(f"registered {outcome.ref} (team {outcome.team}; aliases {', '.join(outcome.aliases) or 'none'})")


def _finish(outcome: Any, as_json: bool) -> None:
    if as_json:
        _emit_json(outcome.to_dict())
    else:
        _print_outcome(outcome)


REGISTER_OPTIONS = [
    click.option("--register", help="Register the trained pipeline as this model in the Model Repository."),
    click.option("--team", help="Owner team of a new model (default: the example set's team)."),
    click.option("--contact", help="Who to ask about the model."),
    click.option("--description"),
    click.option("--alias", help="Alias pointed at the new version (default: candidate)."),
    click.option("--seed", type=int),
    click.option("--json", "as_json", is_flag=True),
]


def register_options(fn: Any) -> Any:
    for option in reversed(REGISTER_OPTIONS):
        fn = option(fn)
    return fn


@main.command("train")
@click.option("--examples", required=True, help="The example set (NAME, or NAME:vN for a version).")
@click.option("--target", help="The label column (none for kmeans).")
@click.option("--model", help="xgboost (default), logistic, linear, random_forest, kmeans, mlp or sequence_gru "
                              "(`mlplat model catalog`; the last two need the dl extra).")
@click.option("--features", help="Input columns, comma-separated (default: every feature column).")
@click.option("--session-features", help="Features the request carries (device, country, ...), comma-separated.")
@click.option("--param", "params", multiple=True, help="KEY=VALUE model parameter (JSON values); repeatable.")
@click.option("--task", help="classification, regression or clustering (default: from the target).")
@click.option("--split", help="random (default) or time.")
@click.option("--test-size", type=float, help="Held-out fraction (default 0.2).")
@click.option("--threshold", type=float, help="Decision threshold of a binary classifier.")
@click.option("--top-k", type=int, help="Return the k most likely classes.")
@click.option("--segments", help="Output segments, comma-separated.")
@click.option("--transformer", help="A fitted transformer (NAME or NAME:vN) instead of the default one.")
@click.option("--tune", help="grid or bayesian: search the model's parameters.")
@click.option("--trials", type=int, help="Trials of the search (default 20).")
@click.option("--workers", type=int, help="Parallel workers of the search (default 1).")
@click.option("--space", help='Search space as JSON, e.g. \'{"max_depth": [3, 6], "learning_rate": {"low": 0.01, '
                              '"high": 0.3, "log": true}}\' (default: the model\'s).')
@click.option("--study", help="Optuna study name (a study of that name resumes).")
@click.option("--engine", help="auto (default), pandas or spark.")
@register_options
@click.pass_context
def train(ctx: click.Context, examples: str, target: str | None, model: str | None, features: str | None,
          session_features: str | None, params: tuple[str, ...], task: str | None, split: str | None,
          test_size: float | None, threshold: float | None, top_k: int | None, segments: str | None,
          transformer: str | None, tune: str | None, trials: int | None, workers: int | None, space: str | None,
          study: str | None, engine: str | None, register: str | None, team: str | None, contact: str | None,
          description: str | None, alias: str | None, seed: int | None, as_json: bool) -> None:
    """Train (and with --tune, tune) a model pipeline on an example set."""
    options = _given(
        model=model, features=_csv(features), session_features=_csv(session_features),
        params=parse_pairs(params, "--param") or None, task=task, split=split, test_size=test_size, seed=seed,
        threshold=threshold, top_k=top_k, segments=_csv(segments), transformer=transformer, tune=tune,
        trials=trials, workers=workers, space=_space(space), study=study, engine=engine, register=register,
        team=team, contact=contact, description=description, alias=alias,
    )
    with _client(ctx) as client, _progress(as_json) as progress:
        outcome = client.models.train(examples, target, progress=progress, **options)
    _finish(outcome, as_json)


@main.command("automl")
@click.option("--examples", required=True, help="The example set (NAME, or NAME:vN for a version).")
@click.option("--target", required=True, help="The label column.")
@click.option("--budget", type=float, help="Seconds to spend (default 60).")
@click.option("--models", help="Model kinds to try, comma-separated (default: every kind that fits the target, "
                                "the networks only when named).")
@click.option("--features", help="Input columns to start from, comma-separated (default: every feature column).")
@click.option("--session-features", help="Inputs the caller sends with each request, comma-separated.")
@register_options
@click.pass_context
def automl(ctx: click.Context, examples: str, target: str, budget: float | None, models: str | None,
           features: str | None, session_features: str | None, register: str | None, team: str | None,
           contact: str | None, description: str | None, alias: str | None, seed: int | None, as_json: bool) -> None:
    """Feature selection, model selection and tuning within a time budget; the winner is registered."""
    options = _given(
        budget=budget, models=_csv(models), features=_csv(features), session_features=_csv(session_features),
        seed=seed, register=register, team=team,
        contact=contact, description=description, alias=alias,
    )
    with _client(ctx) as client, _progress(as_json) as progress:
        outcome = client.models.automl(examples, target, progress=progress, **options)
    _finish(outcome, as_json)


@main.group("model")
def model_group() -> None:
    """The Model Repository: registered model pipelines, their versions and aliases."""


@model_group.command("list")
@click.option("--team")
@click.option("--search", "text", help="Only models whose name contains this text.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def model_list(ctx: click.Context, team: str | None, text: str | None, as_json: bool) -> None:
    """Every registered model."""
    with _client(ctx) as client:
        found = client.models.list(text=text, team=team)
    if as_json:
        _emit_json([m.to_dict() for m in found])
    else:
        _table([{**m.to_dict(), "aliases": ", ".join(f"{a}=v{v}" for a, v in m.aliases.items()) or "-",
                 "metrics": _metrics_text(m.metrics)} for m in found],
               ["name", "team", "latest_version", "aliases", "kind", "task", "metrics", "description"])


@model_group.command("show")
@click.argument("name")
@click.option("--version", type=int)
@click.option("--alias")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def model_show(ctx: click.Context, name: str, version: int | None, alias: str | None, as_json: bool) -> None:
    """A version (default: the newest) with its full metadata and metrics."""
    if version is not None and alias:
        raise ValidationError("give --version or --alias, not both")
    with _client(ctx) as client:
        detail = client.models.show(name, version=version, alias=alias)
    data = detail.to_dict()
    if as_json:
        _emit_json(data)
        return
    click.echo(f"{data['name']} v{data['version']} ({data['kind']}, {data['task']}, target {data['target'] or '-'}); "
               f"team {data['team']}; aliases {', '.join(data['aliases']) or 'none'}; "
               f"versions {', '.join(map(str, data['versions']))}")
    rows = [{"field": k, "value": v if isinstance(v, str) else json.dumps(v, default=str)}
            for k, v in data.items() if k not in ("metrics", "lineage") and v not in (None, "", [], {})]
    _table(rows, ["field", "value"])
    _metrics_table(data["metrics"])


@model_group.command("compare")
@click.argument("name")
@click.option("--versions", help="Versions, comma-separated (default: all).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def model_compare(ctx: click.Context, name: str, versions: str | None, as_json: bool) -> None:
    """Versions of a model side by side: aliases, metrics, training data."""
    with _client(ctx) as client:
        found = client.models.compare(name, versions=_versions(versions))
    if as_json:
        _emit_json([v.to_dict() for v in found])
        return
    metrics = sorted({k for v in found for k in v.metrics})
    _table([{**v.to_dict(), "aliases": ",".join(v.aliases) or "-", **v.metrics} for v in found],
           VERSION_COLUMNS + metrics)


@model_group.command("promote")
@click.argument("name")
@click.option("--version", type=int, required=True)
@click.option("--alias", default="production", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def model_promote(ctx: click.Context, name: str, version: int, alias: str, as_json: bool) -> None:
    """Point an alias (production, candidate, ...) at a version; owner team only."""
    with _client(ctx) as client:
        info = client.models.promote(name, version, alias=alias)
    if as_json:
        _emit_json(info.to_dict())
    else:
        click.echo(f"{alias} of {name} -> v{info.version} (aliases of v{info.version}: {', '.join(info.aliases)})")


@model_group.command("report")
@click.argument("name")
@click.option("--version", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def model_report(ctx: click.Context, name: str, version: int | None, as_json: bool) -> None:
    """The evaluation report of a version (default: the newest)."""
    with _client(ctx) as client:
        report = client.models.report(name, version=version)
    if as_json:
        _emit_json(report.to_dict())
    else:
        _metrics_table(report.metrics)


@model_group.command("catalog")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def model_catalog(ctx: click.Context, as_json: bool) -> None:
    """The model kinds: which tasks each fits, their defaults and search spaces."""
    with _client(ctx) as client:
        kinds = client.models.catalog()
    if as_json:
        _emit_json(kinds)
    else:
        _table([{**k, "tasks": ", ".join(k.get("tasks", [])), "defaults": json.dumps(k.get("defaults", {}))}
                for k in kinds], ["name", "tasks", "description", "defaults"])
