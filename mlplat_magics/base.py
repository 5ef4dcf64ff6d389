"""What every magic shares: the session's client, sub-command dispatch and one-line errors."""

from __future__ import annotations

import shlex
from typing import Any, Callable

from IPython.core.error import UsageError
from IPython.core.magic import Magics

from mlplat.errors import MlplatError


class MagicError(Exception):
    """Shown as one line; the cell still fails, so papermill sees it."""

    def _render_traceback_(self) -> list[str]:
        return [f"mlplat: {self}"]


def one_line_error(shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: int | None = None) -> list[str]:
    """IPython's handler for platform errors raised by client calls in a cell: one line, as the magics say it.

    The message already says what went wrong and what to do; the frames between
    the cell and the client are not the user's. The cell still fails (IPython
    records the error), so papermill stops on it, and ``%tb`` shows the frames.
    """
    import sys

    sys.last_type, sys.last_value, sys.last_traceback = etype, value, tb  # what %tb reads
    message = value.message if isinstance(value, MlplatError) else str(value)
    stb = [f"{etype.__name__}: {message}"]
    shell._showtraceback(etype, value, stb)  # the kernel sends it as the cell's error output
    return stb


class Session:
    """The kernel's platform client, created on first use and shared by all magics."""

    def __init__(self) -> None:
        self._client: Any = None

    @property
    def client(self) -> Any:
        if self._client is None:
            from mlplat.client import connect

            self._client = connect()
        return self._client


class ClientMagics(Magics):
    """A magics class whose sub-commands are methods listed in ``SUBCOMMANDS``."""

    SUBCOMMANDS: dict[str, str] = {}
    NAME = ""

    def __init__(self, shell: Any, session: Session) -> None:
        super().__init__(shell)
        self.session = session

    @property
    def client(self) -> Any:
        return self.session.client

    def help_text(self) -> str:
        lines = [f"%{self.NAME} <command> [options]   (%{self.NAME} <command> -h for its options)", ""]
        for name, attr in self.SUBCOMMANDS.items():
            lines.append(f"  {name:<12} {summary(getattr(self, attr).__doc__)}")
        return "\n".join(lines)

    def dispatch(self, line: str) -> Any:
        words = shlex.split(line)
        if not words or words[0] in ("help", "-h", "--help"):
            print(self.help_text())
            return None
        command = words[0]
        rest = line.split(None, 1)[1] if len(words) > 1 else ""
        attr = self.SUBCOMMANDS.get(command)
        if attr is None:
            raise MagicError(f"unknown command {command!r}; one of: {', '.join(self.SUBCOMMANDS)}")
        if "-h" in words[1:] or "--help" in words[1:]:
            print((getattr(self, attr).__doc__ or "").replace("::", "").strip())
            return None
        return run(getattr(self, attr), rest)


def summary(doc: str | None) -> str:
    """The first sentence line of a sub-command's doc (IPython puts ``::`` and the usage line first)."""
    for paragraph in (doc or "").replace("::", "").split("\n\n"):
        text = paragraph.strip()
        if text and not text.startswith("%"):
            return text.splitlines()[0].strip()
    return ""


def run(fn: Callable[..., Any], *args: Any) -> Any:
    """Call a sub-command, turning platform and usage errors into one-line magic errors."""
    try:
        return fn(*args)
    except MlplatError as exc:
        raise MagicError(exc.message) from None
    except UsageError as exc:
        raise MagicError(str(exc)) from None


def parse(magic: Callable[..., Any], line: str) -> Any:
    """Parse a sub-command's options with shell quoting (``--describe col="two words"`` is one value).

    IPython's own ``parse_argstring`` splits without POSIX rules and keeps the quotes.
    """
    from IPython.utils.process import arg_split

    return magic.parser.parse_args(arg_split(line, posix=True))  # type: ignore[attr-defined]
