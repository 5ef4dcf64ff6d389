"""``%monitor MODEL`` (output history and drift, plotted inline) and ``%monitor alerts|drift|skew|list``."""

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


def drift_table(view: Any) -> Table:
    return Table(["column", "version", "status", "score", "ks", "psi", "js", "missing rate"],
                 [[c["column"], c["version"], c["status"], _fmt(c["score"]),
                   *(_fmt((c["statistics"].get(k) or {}).get("value")) for k in ("ks", "psi", "js", "missing_rate"))]
                  for c in view.columns], title=f"drift of {view.model}, hour {view.hour or '-'} ({view.reference})")


@magics_class
class MonitorMagics(ClientMagics):
    NAME = "monitor"
    SUBCOMMANDS = {"show": "_show", "drift": "_drift", "skew": "_skew", "alerts": "_alerts", "list": "_list"}

    @magic_arguments()
    @argument("model")
    def _show(self, line: str) -> Any:
        """A model's output history (plotted) and its drift table; %monitor MODEL for short."""
        from IPython.display import display

        model = parse(self._show, line).model
        view = self.client.monitoring.show(model)
        if view.status == "no data":
            return Table(["model", "status"], [[model, "no data (no processed traffic yet)"]])
        figure = history_figure(view)
        if figure is not None:
            display(figure)
        return drift_table(self.client.monitoring.drift(model, detail=False))

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
        """Monitoring: %monitor MODEL, or %monitor show|drift|skew|alerts|list."""
        words = shlex.split(line)
        if words and words[0] not in self.SUBCOMMANDS and not words[0].startswith("-") and words[0] != "help":
            return run(self._show, line)
        return self.dispatch(line)
