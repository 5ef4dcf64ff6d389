"""``%monitor MODEL`` (output history, model metrics and drift, plotted inline) and
``%monitor response|alerts|drift|skew|list``."""

from __future__ import annotations

import shlex
from typing import Any

from IPython.core.magic import line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

from mlplat_magics.base import ClientMagics, parse, run
from mlplat_magics.display import Table


def _fmt(value: Any) -> Any:
    return "-" if value is None else (round(value, 4) if isinstance(value, float) else value)


def history_figure(view: Any) -> Any:
    """Predictions per hour and the score's mean per version: a figure (matplotlib), or None without data."""
    if not view.history:
        return None
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 3.2))
    for version in sorted({h["version"] for h in view.history}):
        rows = [h for h in view.history if h["version"] == version]
        hours = [h["hour"][5:13] for h in rows]
        axes[0].plot(hours, [h["count"] for h in rows], marker="o", label=f"v{version}")
        axes[1].plot(hours, [h["score_mean"] for h in rows], marker="o", label=f"v{version}")
    for ax, title in zip(axes, ("predictions per hour", "score mean")):
        ax.set_title(f"{view.model}: {title}")
        ax.tick_params(axis="x", rotation=45)
        ax.legend()
    fig.tight_layout()
    plt.close(fig)  # shown once, by display
    return fig


def scored_versions(view: Any) -> list[dict[str, Any]]:
    """The response rows (metric and version) whose model metrics hold figures."""
    return [r for r in view.versions if (r.get("model_metrics") or {}).get("n")]


def response_figure(view: Any) -> Any:
    """AUC by version (bars, per binary metric) and each version's calibration curve (mean score against observed
    rate per decile): a figure, or None when no version has scored outcomes."""
    rows = scored_versions(view)
    if not rows:
        return None
    import matplotlib.pyplot as plt

    fig, (bars, curve) = plt.subplots(1, 2, figsize=(12, 3.6))
    metrics = sorted({r["metric"] for r in rows})
    versions = sorted({r["version"] for r in rows})
    width = 0.8 / max(1, len(metrics))
    for i, metric in enumerate(metrics):
        aucs = {r["version"]: r["model_metrics"]["auc"] for r in rows if r["metric"] == metric}
        xs = [j + i * width for j, v in enumerate(versions) if aucs.get(v) is not None]
        bars.bar(xs, [aucs[v] for v in versions if aucs.get(v) is not None], width=width, label=metric)
        for r in rows:
            if r["metric"] != metric:
                continue
            cal = r["model_metrics"].get("calibration") or []
            curve.plot([c["mean_score"] for c in cal], [c["observed_rate"] for c in cal], marker="o",
                       label=f"{metric} v{r['version']}")
    bars.axhline(0.5, ls="--", color="grey", lw=1)
    bars.set_xticks([j + width * (len(metrics) - 1) / 2 for j in range(len(versions))], [f"v{v}" for v in versions])
    bars.set_ylim(0, 1)
    bars.set_title(f"{view.model}: AUC by version")
    bars.legend()
    curve.plot([0, 1], [0, 1], ls="--", color="grey", lw=1)
    curve.set_xlabel("mean score (decile)")
    curve.set_ylabel("observed rate")
    curve.set_title("calibration by decile of score")
    curve.legend()
    fig.tight_layout()
    plt.close(fig)  # shown once, by display
    return fig


def response_table(view: Any) -> Table:
    """Per metric and version: units and mean, and a binary metric's AUC, log loss and Brier (or why none)."""
    rows = []
    for r in view.versions:
        m = r.get("model_metrics") or {}
        rows.append([r["metric"], r["version"], r["units"], _fmt(r["mean"]), _fmt(m.get("auc")),
                     _fmt(m.get("log_loss")), _fmt(m.get("brier")), m.get("reason") or ("" if m else "-")])
    return Table(["metric", "version", "units", "mean", "AUC", "log loss", "Brier", "note"], rows,
                 title=f"user response and model metrics of {view.model} by version")


def drift_table(view: Any) -> Table:
    return Table(["column", "version", "status", "score", "ks", "psi", "js", "missing rate"],
                 [[c["column"], c["version"], c["status"], _fmt(c["score"]),
                   *(_fmt((c["statistics"].get(k) or {}).get("value")) for k in ("ks", "psi", "js", "missing_rate"))]
                  for c in view.columns], title=f"drift of {view.model}, hour {view.hour or '-'} ({view.reference})")


@magics_class
class MonitorMagics(ClientMagics):
    NAME = "monitor"
    SUBCOMMANDS = {"show": "_show", "response": "_response", "drift": "_drift", "skew": "_skew",
                   "alerts": "_alerts", "list": "_list"}

    @magic_arguments()
    @argument("model")
    def _show(self, line: str) -> Any:
        """A model's output history and model metrics by version (plotted) and its drift table; %monitor MODEL."""
        from IPython.display import display

        model = parse(self._show, line).model
        view = self.client.monitoring.show(model)
        if view.status == "no data":
            return Table(["model", "status"], [[model, "no data (no processed traffic yet)"]])
        for figure in (history_figure(view), response_figure(self.client.monitoring.response(model))):
            if figure is not None:
                display(figure)
        return drift_table(self.client.monitoring.drift(model, detail=False))

    @magic_arguments()
    @argument("model")
    def _response(self, line: str) -> Any:
        """User response per version; a binary metric's AUC by version and calibration curves, plotted."""
        from IPython.display import display

        view = self.client.monitoring.response(parse(self._response, line).model)
        if view.status == "no data":
            return Table(["model", "status"], [[view.model, f"no data: {view.reason}"]])
        figure = response_figure(view)
        if figure is not None:
            display(figure)
        return response_table(view)

    @magic_arguments()
    @argument("model")
    @argument("--hour")
    def _drift(self, line: str) -> Table:
        """Every input's and the output's drift against the reference, drifted first."""
        args = parse(self._drift, line)
        return drift_table(self.client.monitoring.drift(args.model, hour=args.hour, detail=False))

    @magic_arguments()
    @argument("model")
    def _skew(self, line: str) -> Table:
        """Training/serving skew: share of predictions whose input differs from the offline value."""
        view = self.client.monitoring.skew(parse(self._skew, line).model)
        return Table(["feature", "version", "status", "compared", "mismatches", "share"],
                     [[f["feature"], f["version"], f["status"], f["compared"], f["mismatches"],
                       _fmt(f["mismatch_share"])] for f in view.features], title=f"skew, hour {view.hour or '-'}")

    @magic_arguments()
    @argument("--model")
    @argument("--state", choices=["open", "cleared"])
    def _alerts(self, line: str) -> Table:
        """Monitoring alerts of your teams' models, newest first."""
        args = parse(self._alerts, line)
        rows = self.client.monitoring.alerts(model=args.model, state=args.state)
        return Table(["model", "figure", "state", "opened", "last", "message"],
                     [[a.model, a.figure, a.state, (a.opened_hour or "")[:13], (a.last_hour or "")[:13], a.message]
                      for a in rows], title="monitoring alerts")

    @magic_arguments()
    def _list(self, line: str) -> Table:
        """Your teams' monitored models."""
        rows = self.client.monitoring.models()
        return Table(["model", "team", "last hour", "predictions", "drifted", "open alerts"],
                     [[m.model, m.team, m.last_hour or "no data", _fmt(m.last_count), ", ".join(m.drifted) or "-",
                       m.open_alerts] for m in rows])

    @line_magic
    def monitor(self, line: str) -> Any:
        """Monitoring: %monitor MODEL, or %monitor show|response|drift|skew|alerts|list."""
        words = shlex.split(line)
        if words and words[0] not in self.SUBCOMMANDS and not words[0].startswith("-") and words[0] != "help":
            return run(self._show, line)
        return self.dispatch(line)
