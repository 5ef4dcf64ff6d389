"""Rich objects the magics return: HTML in notebooks, plain text elsewhere."""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any


@dataclass
class Table:
    """A small table with an optional title; renders as HTML and as text."""

    columns: list[str]
    rows: list[list[Any]]
    title: str = ""

    def _repr_html_(self) -> str:
        head = "".join(f"<th style='text-align:left'>{html.escape(c)}</th>" for c in self.columns)
        body = "".join(
            "<tr>" + "".join(f"<td style='text-align:left'>{_cell_html(v)}</td>" for v in row) + "</tr>"
            for row in self.rows
        )
        caption = f"<caption style='text-align:left'><b>{html.escape(self.title)}</b></caption>" if self.title else ""
        # Long values (paths, parameter lists) wrap instead of pushing the table past the output's right edge.
        return (f"<table class='mlplat-table' style='max-width:100%;overflow-wrap:anywhere'>{caption}"
                f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")

    def __repr__(self) -> str:
        cells = [[_cell_text(v) for v in row] for row in self.rows]
        widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(self.columns)]
        lines = [self.title] if self.title else []
        lines.append("  ".join(c.ljust(w) for c, w in zip(self.columns, widths)))
        lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
        return "\n".join(lines)


@dataclass
class Link:
    """A table cell that is a link: an anchor in HTML, the URL in text."""

    text: str
    href: str

    def _repr_html_(self) -> str:
        return f"<a href='{html.escape(self.href)}' target='_blank'>{html.escape(self.text)}</a>"

    def __str__(self) -> str:
        return self.href


def _cell_html(value: Any) -> str:
    if isinstance(value, Link):
        return value._repr_html_()
    if value is True:
        return "<span style='color:#1a7f37'>&#10004; yes</span>"
    if value is False:
        return "<span style='color:#cf222e'>&#10008; no</span>"
    return html.escape("" if value is None else str(value))


def _cell_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return "" if value is None else str(value)


def plan_view(plan: Any, applied: bool) -> "Text":
    """A plan (or what apply did) as text, warnings included."""
    prefix = "applied:\n" if applied and plan.action != "unchanged" else ""
    return Text(prefix + str(plan), warn=bool(plan.warnings))


@dataclass
class Text:
    text: str
    warn: bool = False

    def _repr_html_(self) -> str:
        color = "#9a6700" if self.warn else "inherit"
        return f"<pre style='color:{color}'>{html.escape(self.text)}</pre>"

    def __repr__(self) -> str:
        return self.text


def png_html(fig: Any) -> str:
    """A matplotlib figure as an inline <img>, so one HTML object carries its plots."""
    import base64
    import io

    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    # Scaled down to the output's width: a 1400-pixel window leaves less than a wide figure needs.
    return (f"<img style='max-width:100%;height:auto' "
            f"src='data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}'/>")


def quality_figure(runs: list[dict[str, Any]]) -> Any:
    """Rows and total missing % per computed date, failed runs marked in red."""
    import matplotlib.pyplot as plt

    ordered = sorted((r for r in runs if r.get("rows") is not None), key=lambda r: (r["ds"], r.get("id", 0)))
    latest: dict[str, dict[str, Any]] = {}
    for r in ordered:
        latest[r["ds"]] = r
    points = list(latest.values())
    days = [r["ds"] for r in points]
    colors = ["#1a7f37" if r["status"] == "succeeded" else "#cf222e" for r in points]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3))
    ax1.bar(days, [r["rows"] for r in points], color=colors)
    ax1.set_title("rows per run (red: failed a check)")
    ax2.plot(days, [r.get("missing_pct_total") or 0 for r in points], marker="o")
    ax2.set_title("missing values, % of all cells")
    for ax in (ax1, ax2):
        ax.tick_params(axis="x", rotation=45)
    fig.tight_layout()
    return fig


@dataclass
class SetCard:
    """``%feature show``: a set's metadata, schema, lineage and quality history."""

    detail: Any

    def _repr_html_(self) -> str:
        d = self.detail
        sv, spec = d.current, d.current.spec
        meta = Table(
            ["field", "value"],
            [
                ["kind / version", f"{sv.kind} v{sv.version} (versions: {', '.join(map(str, d.versions))})"],
                ["team", spec.team], ["description", spec.description], ["entity", ", ".join(spec.entity)],
                ["timestamp", spec.timestamp], ["schedule", spec.schedule], ["ttl", spec.to_dict()["ttl"]],
                ["online", spec.online], ["tags", ", ".join(spec.tags)], ["reads", ", ".join(d.reads)],
                ["used by", ", ".join(f"{c.get('kind', 'example set')} {c['name']} v{c['version']}"
                                      for c in d.consumers) or "-"],
                ["offline table", d.offline_url],
            ],
            title=f"{sv.name}",
        )
        schema = Table(["column", "type", "description"],
                       [[c.name, c.type, spec.columns.get(c.name, "")] for c in sv.schema], title="schema")
        sql = f"<pre style='white-space:pre-wrap'>{html.escape(spec.sql)}</pre>"
        parts = [meta._repr_html_(), schema._repr_html_(), sql]
        if d.runs:
            runs = Table(["ds", "status", "rows", "missing %", "failed checks"],
                         [[r["ds"], r["status"], r.get("rows"), _pct(r.get("missing_pct_total")),
                           ", ".join(c["check"] for c in r.get("checks") or [] if not c["passed"]) or "-"]
                          for r in d.runs[:20]], title="quality history (newest first)")
            parts += [png_html(quality_figure(d.runs)), runs._repr_html_()]
        return "".join(parts)

    def __repr__(self) -> str:
        d = self.detail
        return f"{d.current.kind} set {d.current.name} v{d.current.version} ({len(d.runs)} runs)"


def _pct(value: Any) -> str:
    return "-" if value is None else f"{float(value):.2f}"
