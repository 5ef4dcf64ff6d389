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
        return f"<table class='mlplat-table'>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def __repr__(self) -> str:
        cells = [[_cell_text(v) for v in row] for row in self.rows]
        widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(self.columns)]
        lines = [self.title] if self.title else []
        lines.append("  ".join(c.ljust(w) for c, w in zip(self.columns, widths)))
        lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths)) for r in cells]
        return "\n".join(lines)


def _cell_html(value: Any) -> str:
    if value is True:
        return "<span style='color:#1a7f37'>&#10004; healthy</span>"
    if value is False:
        return "<span style='color:#cf222e'>&#10008; down</span>"
    return html.escape("" if value is None else str(value))


def _cell_text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "NO"
    return "" if value is None else str(value)
