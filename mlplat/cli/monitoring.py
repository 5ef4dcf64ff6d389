"""`mlplat monitor show|drift|skew|alerts|backfill|config|status|service`: the Monitoring Service's figures."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from mlplat.cli import _client, _emit_json, _settings, _table, main


def _fmt(value: Any, digits: int = 4) -> str:
    return "-" if value is None else (f"{value:.{digits}g}" if isinstance(value, float) else str(value))


@main.group()
def monitor() -> None:
    """Monitoring: output history, drift, training/serving skew and alerts of deployed models."""


@monitor.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def monitor_list(ctx: click.Context, as_json: bool) -> None:
    """Your teams' monitored models."""
    with _client(ctx) as client:
        rows = client.monitoring.models()
    if as_json:
        _emit_json([r.to_dict() for r in rows])
        return
    _table([{**r.to_dict(), "drifted": ",".join(r.drifted) or "-", "last_hour": r.last_hour or "no data"}
            for r in rows], ["model", "team", "hours", "last_hour", "last_count", "drifted", "open_alerts"])


@monitor.command("show")
@click.argument("model")
@click.option("--hours", default=24 * 7, show_default=True, help="Hours of history.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def monitor_show(ctx: click.Context, model: str, hours: int, as_json: bool) -> None:
    """Output history of MODEL per version and hour, its open alerts, and the user response and model metrics per
    version (AUC, log loss, Brier for binary metrics) from the outcome join."""
    with _client(ctx) as client:
        view = client.monitoring.show(model, hours=hours)
        response = client.monitoring.response(model)
    if as_json:
        _emit_json({**view.to_dict(), "response": response.to_dict()})
        return
    if view.status == "no data":
        click.echo(f"{model}: no data (no processed traffic yet)")
    else:
        _history(view)
    _response(response)


def _response(response: Any) -> None:
    """User response per metric and version; a binary metric's model metrics beside it ("no data" and why)."""
    if response.status == "no data":
        click.echo(f"user response: no data ({response.reason})")
        return
    rows = []
    for r in response.versions:
        figures = r.get("model_metrics") or {}
        rows.append({"metric": r["metric"], "version": r["version"], "units": r["units"], "mean": _fmt(r["mean"]),
                     "std_error": _fmt(r["std_error"]), "auc": _fmt(figures.get("auc")),
                     "log_loss": _fmt(figures.get("log_loss")), "brier": _fmt(figures.get("brier")),
                     "scored": figures.get("n", "-"),
                     "note": figures.get("reason") or "" if figures else ""})
    click.echo("user response and model metrics by version:")
    _table(rows, ["metric", "version", "units", "mean", "std_error", "scored", "auc", "log_loss", "brier", "note"])


def _history(view: Any) -> None:
    _table([{"hour": h["hour"][:13], "version": h["version"], "count": h["count"], "mean": _fmt(h["score_mean"]),
             "p50": _fmt(h["quantiles"].get("p50")), "p99_ms": _fmt(h["latency_p99"], 3),
             "classes": " ".join(f"{k}:{v:.2f}" for k, v in list(h["class_shares"].items())[:4])}
            for h in view.history], ["hour", "version", "count", "mean", "p50", "p99_ms", "classes"])
    for a in view.alerts:
        click.echo(f"ALERT {a['figure']}: {a['message']}")


@monitor.command("drift")
@click.argument("model")
@click.option("--hour", help="An hour (2026-11-20T13); default the newest processed.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def monitor_drift(ctx: click.Context, model: str, hour: str | None, as_json: bool) -> None:
    """Drift of every input and the output of MODEL against its reference, drifted columns first."""
    with _client(ctx) as client:
        view = client.monitoring.drift(model, hour=hour, detail=as_json)
    if as_json:
        _emit_json(view.to_dict())
        return
    click.echo(f"{model} hour {view.hour or '-'} against {view.reference or '-'}")
    _table([{"column": c["column"], "version": c["version"], "status": c["status"], "score": _fmt(c["score"]),
             **{k: _fmt((c["statistics"].get(k) or {}).get("value")) for k in ("ks", "psi", "js", "missing_rate")}}
            for c in view.columns], ["column", "version", "status", "score", "ks", "psi", "js", "missing_rate"])


@monitor.command("skew")
@click.argument("model")
@click.option("--hour")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def monitor_skew(ctx: click.Context, model: str, hour: str | None, as_json: bool) -> None:
    """Training/serving skew of MODEL: logged inputs against offline values of the same entity and time."""
    with _client(ctx) as client:
        view = client.monitoring.skew(model, hour=hour)
    if as_json:
        _emit_json(view.to_dict())
        return
    _table([{**f, "mismatch_share": _fmt(f["mismatch_share"])} for f in view.features],
           ["feature", "version", "status", "compared", "mismatches", "mismatch_share"])


@monitor.command("alerts")
@click.option("--model")
@click.option("--state", type=click.Choice(["open", "cleared"]))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def monitor_alerts(ctx: click.Context, model: str | None, state: str | None, as_json: bool) -> None:
    """Monitoring alerts of your teams' models, newest first."""
    with _client(ctx) as client:
        rows = client.monitoring.alerts(model=model, state=state)
    if as_json:
        _emit_json([r.to_dict() for r in rows])
        return
    _table([{**r.to_dict(), "opened_hour": (r.opened_hour or "")[:13], "last_hour": (r.last_hour or "")[:13]}
            for r in rows], ["id", "model", "figure", "state", "opened_hour", "last_hour", "message"])


@monitor.command("backfill")
@click.argument("model")
@click.option("--start", required=True, help="A day or an hour (2026-11-20, 2026-11-20T13).")
@click.option("--end", required=True, help="A day or an hour, inclusive.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def monitor_backfill(ctx: click.Context, model: str, start: str, end: str, as_json: bool) -> None:
    """Process MODEL's logged hours from START to END now (again, where processed before)."""
    with _client(ctx) as client:
        result = client.monitoring.backfill(model, start, end)
    if as_json:
        _emit_json(result.to_dict())
    else:
        click.echo(f"{model}: {result.processed} hour(s) processed, {len(result.skipped_files)} file(s) skipped")


@monitor.command("config")
@click.argument("model")
@click.option("--thresholds", help='JSON: {"drift.*.psi": {"above": 0.25}}')
@click.option("--reference", help='JSON: {"kind": "training"} or {"kind": "window", "start": ..., "end": ...}')
@click.option("--notify", help='JSON: {"email": ["team@example.com"], "webhook": "https://..."}')
@click.option("--metrics", help="Outcome metrics the service refreshes every hour, comma-separated ('' for none).")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def monitor_config(ctx: click.Context, model: str, thresholds: str | None, reference: str | None,
                   notify: str | None, metrics: str | None, as_json: bool) -> None:
    """Set MODEL's alert thresholds, drift reference, notices and outcome metrics (unset options stay as they are)."""
    def parse(text: str | None, what: str) -> Any:
        if text is None:
            return None
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise click.BadParameter(f"{what} is not JSON: {exc}") from None

    with _client(ctx) as client:
        result = client.monitoring.configure(model, parse(thresholds, "--thresholds"),
                                             parse(reference, "--reference"), parse(notify, "--notify"),
                                             None if metrics is None else [m.strip() for m in metrics.split(",")
                                                                           if m.strip()])
    _emit_json(result.to_dict()) if as_json else click.echo(json.dumps(result.to_dict(), indent=2))


@monitor.command("status")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def monitor_status(ctx: click.Context, as_json: bool) -> None:
    """The Monitoring Service: alive, hours processed, files skipped, open alerts."""
    with _client(ctx) as client:
        result = client.monitoring.status()
    _emit_json(result.to_dict()) if as_json else _table([result.to_dict()], list(result.to_dict()))


@monitor.command("service")
@click.option("--interval", type=float, default=None, help="Seconds between passes (default: the setting).")
@click.option("--once", is_flag=True, help="One pass, its report as JSON, then exit.")
@click.option("--log-file/--no-log-file", default=False, help="Also log to <home>/logs/monitoring.log (the hub's way).")
@click.pass_context
def monitor_service(ctx: click.Context, interval: float | None, once: bool, log_file: bool) -> None:
    """Run the Monitoring Service in the foreground (`mlplat up` runs it as a hub service with --log-file)."""
    import logging

    from mlplat.monitoring.process import run_service
    from mlplat.platform import Platform

    settings = _settings(ctx)
    platform = Platform(settings)
    try:
        if once:
            _emit_json(platform.monitoring.hourly().run_once().to_dict())
            return
        handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
        if log_file:
            settings.log_dir.mkdir(parents=True, exist_ok=True)
            handlers.append(logging.FileHandler(settings.log_dir / "monitoring.log"))
        logging.basicConfig(level=logging.INFO, handlers=handlers, force=True,
                            format="%(asctime)s %(process)d %(name)s %(levelname)s %(message)s")
        every = interval if interval is not None else settings.monitoring_interval_seconds
        code = run_service(platform.monitoring, settings.run_dir / "monitoring.pid", every)
    finally:
        platform.close()
    ctx.exit(code)
