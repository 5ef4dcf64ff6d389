"""The progress bar the magics show while the core works: full when the work is done, gone when it failed.

The core reports ``progress(message, fraction)``; over the platform API nothing
is reported while the call runs, so the bar cannot rely on ever hearing 1.0.
Leaving the block without an error fills it; an error removes it, so the error
message is not read under an empty bar. The bar is shown through a display
handle and shown again at the end, so a saved notebook holds the final bar
(its text too), not the 0% it started at.
"""

from __future__ import annotations

import sys
from typing import Any

from mlplat_magics.panel import Panel, row


def _in_kernel() -> bool:
    """True in a Jupyter kernel, where widgets render; a terminal IPython gets a text line instead."""
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - the magics always run in IPython
        return False
    return getattr(get_ipython(), "kernel", None) is not None


class progress_bar(Panel):  # noqa: N801 - used as a context manager like tqdm
    """A progress bar fed by the core's ``progress(message, fraction)`` callbacks."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.fraction = 0.0
        self.message = ""
        self.widget: Any = None
        self._bar: Any = None
        self._label: Any = None
        self._handle: Any = None
        self._written = False  # the text line was started (terminal)

    # -- what the bar looks like ------------------------------------------------
    def text(self) -> str:
        return f"{self.title}: {round(self.fraction * 100):3d}%" + (f" {self.message}" if self.message else "")

    # -- the context manager ----------------------------------------------------
    def __enter__(self) -> "progress_bar":
        if _in_kernel():
            import ipywidgets as w
            from IPython.display import display

            self._bar = w.FloatProgress(value=0.0, min=0.0, max=1.0, bar_style="info",
                                        layout=w.Layout(width="40%", min_width="160px"))
            self._label = w.Label(value="")
            self.widget = row(w.Label(value=self.title), self._bar, self._label)
            self._handle = display(self, display_id=True)
        return self

    def __call__(self, message: str, fraction: float) -> None:
        self.fraction, self.message = max(0.0, min(1.0, fraction)), message
        if self.widget is not None:
            self._bar.value, self._label.value = self.fraction, message
        else:
            sys.stderr.write(f"\r\x1b[2K{self.text()}")  # a shorter message leaves nothing of the last
            sys.stderr.flush()
            self._written = True

    def __exit__(self, exc_type: Any, *exc: object) -> None:
        failed = exc_type is not None
        if not failed:
            self.fraction = 1.0
        if self.widget is None:
            if not failed:
                sys.stderr.write(f"\r\x1b[2K{self.text()}\n")
            elif self._written:
                sys.stderr.write("\r\x1b[2K")  # erase the line: the error follows on its own
            return
        if failed:
            self.widget.close()
            self._handle.update({}, raw=True)  # the output stays, empty: the error below it speaks
            return
        self._bar.value, self._bar.bar_style = 1.0, "success"
        self._handle.update(self)  # the saved output is the finished bar, not the first picture
