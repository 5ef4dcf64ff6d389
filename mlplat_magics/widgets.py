"""ipywidgets panels over the platform client."""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from mlplat.errors import MlplatError
from mlplat_magics.display import SetCard


class FeatureBrowser:
    """Search box, results list, and a detail pane with metadata and quality plots."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.query = w.Text(placeholder="search names, descriptions, columns", description="Search")
        self.kind = w.Dropdown(options=[("all", None), ("features", "features"), ("labels", "labels")],
                               description="Kind")
        self.team = w.Text(placeholder="team", description="Team")
        self.results = w.Select(options=[], rows=10, description="Sets", layout=w.Layout(width="45%"))
        self.detail = w.HTML(layout=w.Layout(width="55%"))
        self.message = w.HTML()
        self.query.observe(lambda _c: self.search(), names="value")
        self.kind.observe(lambda _c: self.search(), names="value")
        self.team.observe(lambda _c: self.search(), names="value")
        self.results.observe(lambda change: self.select(change["new"]), names="value")
        self.widget = w.VBox([w.HBox([self.query, self.kind, self.team]), self.message,
                              w.HBox([self.results, self.detail])])
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

    def select(self, key: tuple[str, str] | None) -> None:
        if not key:
            self.detail.value = ""
            return
        try:
            self.detail.value = SetCard(self.client.features.show(key[0], kind=key[1]))._repr_html_()
        except MlplatError as exc:
            self.detail.value = f"<span style='color:#cf222e'>{exc.message}</span>"
