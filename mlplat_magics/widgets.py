"""ipywidgets panels over the platform client."""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

from mlplat.errors import MlplatError
from mlplat_magics.display import SetCard
from mlplat_magics.jobs import run_link
from mlplat_magics.panel import Panel, row


def split_row(left: w.Widget, right: w.Widget) -> w.HBox:
    """A list beside its detail pane; the pane takes what is left and wraps below the list when that is too little.

    Fixed shares (45% + 55% plus the list's label) overflowed a 1400-pixel window and cut the pane off.
    """
    left.layout.flex, left.layout.min_width, left.layout.max_width = "0 1 40%", "280px", "100%"
    right.layout.flex, right.layout.min_width, right.layout.max_width = "1 1 420px", "0", "100%"
    right.layout.overflow = "auto"
    return row(left, right)


def stream_freshness(client: Any, name: str) -> str:
    """A streaming set's freshness as HTML: its query's state, lag and last batch, or why there is none."""
    from mlplat_magics.streams import status_table

    try:
        return status_table(client.streams.status(name))._repr_html_()
    except MlplatError as exc:
        return f"<p>freshness: {html.escape(exc.message)}</p>"


class FeatureBrowser(Panel):
    """Search box, results list, and a detail pane with metadata and quality plots."""

    title = "feature browser"

    def __init__(self, client: Any) -> None:
        self.client = client
        self.query = w.Text(placeholder="search names, descriptions, columns", description="Search")
        self.kind = w.Dropdown(options=[("all", None), ("features", "features"), ("labels", "labels"),
                                        ("streaming", "stream")],
                               description="Kind")
        self.team = w.Text(placeholder="team", description="Team")
        self.results = w.Select(options=[], rows=10, description="Sets")
        self.detail = w.HTML()
        self.message = w.HTML()
        self.query.observe(lambda _c: self.search(), names="value")
        self.kind.observe(lambda _c: self.search(), names="value")
        self.team.observe(lambda _c: self.search(), names="value")
        self.results.observe(lambda change: self.select(change["new"]), names="value")
        self.widget = w.VBox(
            [row(self.query, self.kind, self.team), self.message, split_row(self.results, self.detail)],
            layout=w.Layout(max_width="100%"),
        )
        self.search()

    def search(self) -> None:
        try:
            found = self.client.features.search(self.query.value or None, kind=self.kind.value,
                                                team=self.team.value or None)
        except MlplatError as exc:
            self.message.value = f"<span style='color:#cf222e'>{exc.message}</span>"
            return
        self.message.value = f"{len(found)} set(s)"
        self.results.options = [(f"{s.name} ({s.kind} v{s.version}, {s.spec.team})", (s.name, s.kind)) for s in found]

    def _freshness(self, name: str) -> str:
        return stream_freshness(self.client, name)

    def select(self, key: tuple[str, str] | None) -> None:
        if not key:
            self.detail.value = ""
            return
        try:
            self.detail.value = SetCard(self.client.features.show(key[0], kind=key[1]))._repr_html_() + (
                self._freshness(key[0]) if key[1] == "stream" else "")
        except MlplatError as exc:
            self.detail.value = f"<span style='color:#cf222e'>{exc.message}</span>"


class JobsPanel(Panel):
    """Jobs with their schedules, and the selected job's runs with links to the executed notebooks."""

    title = "jobs panel"

    def __init__(self, client: Any, team: str | None = None) -> None:
        self.client = client
        self.team = team
        self.jobs = w.Select(options=[], rows=10, description="Jobs")
        self.runs = w.HTML()
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.message = w.HTML()
        self.refresh_button.on_click(lambda _b: self.refresh())
        self.jobs.observe(lambda change: self.select(change["new"]), names="value")
        self.widget = w.VBox([row(self.refresh_button, self.message), split_row(self.jobs, self.runs)],
                             layout=w.Layout(max_width="100%"))
        self.refresh()

    def refresh(self) -> None:
        try:
            jobs = self.client.jobs.list(team=self.team)
        except MlplatError as exc:
            self.message.value = f"<span style='color:#cf222e'>{exc.message}</span>"
            return
        self.message.value = f"{len(jobs)} job(s)"
        self.jobs.options = [
            (f"{j.name} ({j.spec.cron}{', paused' if j.spec.paused else ''})", j.name) for j in jobs
        ]
        self.select(self.jobs.value)

    def select(self, name: str | None) -> None:
        if not name:
            self.runs.value = ""
            return
        try:
            runs = self.client.jobs.runs(name, limit=20)
        except MlplatError as exc:
            self.runs.value = f"<span style='color:#cf222e'>{exc.message}</span>"
            return
        colors = {"succeeded": "#1a7f37", "failed": "#cf222e", "timed_out": "#cf222e", "running": "#0969da"}
        settings = getattr(self.client, "settings", None)
        rows = "".join(
            f"<tr><td>{r.id}</td><td>{r.ds}</td><td style='color:{colors.get(r.status, 'inherit')}'>{r.status}</td>"
            f"<td>{r.attempt}</td><td>{_link(r, settings)}</td><td>{html.escape((r.error or '')[:80])}</td></tr>"
            for r in runs
        )
        self.runs.value = (
            "<table><thead><tr><th>run</th><th>ds</th><th>status</th><th>attempt</th><th>executed notebook</th>"
            f"<th>error</th></tr></thead><tbody>{rows}</tbody></table>"
        )


def _link(run: Any, settings: Any) -> str:
    link = run_link(run, settings)
    return link._repr_html_() if link else "-"
