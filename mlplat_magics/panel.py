"""Panels that still show something when their notebook is opened later, without a kernel.

A saved notebook keeps each widget's state in its metadata (the notebook runner
asks for it), but JupyterLab only draws widgets in a *trusted* notebook: in an
executed notebook someone else ran, it falls back to the output's text, which
for a widget is ``VBox(children=(Dropdown(...``. So a panel's output carries,
next to the widget view, a static HTML picture of the widget as it was drawn:
the live widget where widgets can run, the picture everywhere else (an untrusted
notebook, an HTML export), and a one-line text for terminals.
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w

# Layout traits copied into the picture's inline style (CSS name: trait name).
_STYLE = {"width": "width", "max-width": "max_width", "min-width": "min_width", "flex": "flex",
          "flex-flow": "flex_flow", "overflow": "overflow"}


class Panel:
    """A widget with a static picture and a text line for where widgets do not run."""

    widget: w.Widget
    title = "panel"

    def text(self) -> str:
        return f"{self.title} (a widget: run the notebook in JupyterLab to use it)"

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, Any]:
        return {**self.widget._repr_mimebundle_(), "text/html": widget_html(self.widget), "text/plain": self.text()}


def row(*children: w.Widget) -> w.HBox:
    """Widgets side by side that wrap onto the next line rather than run past the output's right edge."""
    return w.HBox(list(children), layout=w.Layout(flex_flow="row wrap", max_width="100%"))


def widget_html(widget: Any) -> str:
    """Static HTML of a widget tree: boxes as flex rows and columns, controls disabled, values as chosen."""
    layout = getattr(widget, "layout", None)
    if layout is not None and (layout.display == "none" or layout.visibility == "hidden"):
        return ""
    style = _style(layout)
    if isinstance(widget, w.Box):
        direction = "column" if isinstance(widget, w.VBox) else "row"
        inner = "".join(widget_html(child) for child in widget.children)
        return f"<div style='display:flex;flex-direction:{direction};gap:4px;{style}'>{inner}</div>"
    if isinstance(widget, w.HTML):
        return f"<div style='{style}'>{widget.value}</div>"
    if isinstance(widget, w.Label):
        return f"<span style='{style}'>{html.escape(str(widget.value))}</span>"
    if isinstance(widget, w.Button):
        return f"<button disabled style='{style}'>{html.escape(widget.description)}</button>"
    if isinstance(widget, (w.FloatProgress, w.IntProgress)):
        span = (widget.max - widget.min) or 1
        return _described(widget, f"<progress value='{(widget.value - widget.min) / span:.3f}' max='1' "
                                   f"style='{style}'></progress>")
    if isinstance(widget, (w.Dropdown, w.Select, w.SelectMultiple)):
        return _described(widget, _select(widget, style))
    if isinstance(widget, w.DOMWidget) and hasattr(widget, "value"):  # text and number fields
        value = "" if widget.value is None else str(widget.value)
        hint = getattr(widget, "placeholder", "") or ""
        return _described(widget, f"<input disabled value='{html.escape(value, quote=True)}' "
                                   f"placeholder='{html.escape(hint, quote=True)}' style='{style}'/>")
    return f"<pre>{html.escape(repr(widget))}</pre>"


def _style(layout: Any) -> str:
    if layout is None:
        return ""
    found = ((css, getattr(layout, trait, None)) for css, trait in _STYLE.items())
    return "".join(f"{css}:{value};" for css, value in found if value)


def _described(widget: Any, control: str) -> str:
    label = getattr(widget, "description", "")
    if not label:
        return control
    return (f"<div style='display:flex;align-items:center;gap:6px'>"
            f"<label style='min-width:80px;text-align:right'>{html.escape(label)}</label>{control}</div>")


def _select(widget: Any, style: str) -> str:
    chosen = set(widget.index) if isinstance(widget, w.SelectMultiple) else {widget.index}
    options = "".join(
        f"<option{' selected' if i in chosen else ''}>{html.escape(str(label))}</option>"
        for i, label in enumerate(_labels(widget.options))
    )
    if isinstance(widget, w.Dropdown):
        return f"<select disabled style='{style}'>{options}</select>"
    rows = getattr(widget, "rows", 5) or 5
    return f"<select disabled multiple size='{rows}' style='{style}'>{options}</select>"


def _labels(options: Any) -> list[str]:
    """What a selection widget shows: each option is a label, or a (label, value) pair."""
    return [str(o[0]) if isinstance(o, tuple) and len(o) == 2 else str(o) for o in options]
