"""The experiment panel: status, arms, the SRM flag, lift over time, posteriors, bandit weights, and a Stop button.

Everything on it comes from the client (``show`` and ``results``), so it shows
what the CLI and the API show. The plots are inline images inside HTML
widgets: a saved notebook keeps them, and the panel's static picture (see
``panel.py``) is the panel as it was drawn. Stop asks the platform to stop
the experiment (every inference worker sends everyone to control within
seconds) and redraws.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from mlplat.errors import MlplatError
from mlplat_magics.experiment_plots import figures, png
from mlplat_magics.panel import Panel, row

STATUS_COLOURS = {"draft": "#6e7781", "running": "#1a7f37", "stopped": "#cf222e", "concluded": "#8250df"}


def header_html(experiment: Any, results: dict[str, Any]) -> str:
    """Status, split and the SRM flag, the flag above every number."""
    colour = STATUS_COLOURS.get(experiment.status, "#000")
    parts = [f"<h4 style='margin:4px 0'>{html.escape(experiment.name)} "
             f"<span style='color:{colour}'>&#9679; {experiment.status}</span> "
             f"<small>phase {experiment.phase} &middot; {html.escape(experiment.spec['analysis'])} &middot; "
             f"team {html.escape(experiment.team)}</small></h4>"]
    if results.get("warning"):
        parts.append(f"<div style='background:#ffebe9;color:#cf222e;padding:6px;font-weight:bold'>"
                     f"&#9888; {html.escape(results['warning'])}</div>")
    elif results.get("srm") and results["srm"].get("p_value") is not None:
        parts.append(f"<div style='color:#1a7f37'>&#10004; traffic split as configured "
                     f"(SRM p = {results['srm']['p_value']:.3g})</div>")
    if experiment.spec.get("hypothesis"):
        parts.append(f"<div><i>{html.escape(experiment.spec['hypothesis'])}</i></div>")
    units = {a["name"]: a["n"] for a in (results.get("metrics") or [{}])[0].get("arms", [])} if results.get(
        "metrics") else {}
    rows = "".join(f"<tr><td>{html.escape(a['name'])}</td><td>{html.escape(a['model'])}</td>"
                   f"<td>{w_:.3f}</td><td>{units.get(a['name'], 0)}</td></tr>"
                   for a, w_ in zip(experiment.arms, experiment.weights))
    parts.append("<table class='mlplat-table'><thead><tr><th>arm</th><th>model</th><th>weight</th><th>units</th>"
                 f"</tr></thead><tbody>{rows}</tbody></table>")
    return "".join(parts)


def figures_html(results: dict[str, Any]) -> str:
    if not results.get("data"):
        return f"<p>{html.escape(results.get('reason') or 'no data')}</p>"
    summary = []
    for c in (results.get("frequentist") or {}).get("comparisons", []):
        if c["diff"] is None:
            continue
        ci = c["diff_ci"] or [float("nan")] * 2
        mark = " &#9733;" if c["significant"] else ""
        summary.append(f"<li>{html.escape(c['metric'])}: {html.escape(c['arm'])} {c['diff']:+.4g} "
                       f"[{ci[0]:.4g}, {ci[1]:.4g}], p (adjusted) {c['p_adjusted']:.3g}{mark}</li>")
    for b in results.get("bayesian") or []:
        for c in b.get("comparisons", []):
            summary.append(f"<li>{html.escape(b['metric'])}: {html.escape(c['arm'])} chance to beat control "
                           f"{c['chance_to_beat_control']:.1%}</li>")
    for s in results.get("sequential") or []:
        if s["p_value"] is not None:
            summary.append(f"<li>{html.escape(s['metric'])}: {html.escape(s['arm'])} always-valid p "
                           f"{s['p_value']:.3g}</li>")
    head = f"<ul>{''.join(summary)}</ul>" if summary else ""
    return head + "".join(png(f) for f in figures(results))


class ExperimentPanel(Panel):
    """``%experiment panel NAME``: one experiment at a glance, with a Stop button for its owners."""

    title = "experiment panel"

    def __init__(self, client: Any, name: str) -> None:
        self.client = client
        self.name = name
        self.header = w.HTML()
        self.body = w.HTML()
        self.message = w.HTML()
        self.stop_button = w.Button(description="Stop", button_style="danger", icon="stop",
                                    tooltip="send everyone to control now")
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.stop_button.on_click(lambda _: self.stop())
        self.refresh_button.on_click(lambda _: self.refresh())
        self.widget = w.VBox([self.header, row(self.stop_button, self.refresh_button), self.message, self.body],
                             layout=w.Layout(max_width="100%"))
        self.refresh()

    def refresh(self) -> None:
        experiment = self.client.experiments.show(self.name)
        results = self.client.experiments.results(self.name)
        self.header.value = header_html(experiment, results)
        self.body.value = figures_html(results)
        self.stop_button.disabled = experiment.status != "running"

    def stop(self) -> None:
        try:
            stopped = self.client.experiments.stop(self.name, reason="stopped from the experiment panel")
        except MlplatError as exc:
            self.message.value = f"<span style='color:#cf222e'>{html.escape(exc.message)}</span>"
            return
        self.message.value = f"stopped at {html.escape(stopped.ended_at or '')}: everyone gets control"
        self.refresh()

    def text(self) -> str:
        return f"experiment panel of {self.name} (a widget: run the notebook in JupyterLab to use it)"


__all__ = ["ExperimentPanel", "figures_html", "header_html"]
