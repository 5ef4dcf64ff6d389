"""Job templates: parameterized notebooks shipped in ``notebooks/jobs/`` for the platform's daily work.

A job names a template as its notebook with ``template:<name>`` (e.g.
``template:compute_feature_set``); the scheduler resolves it from the
installed package, so a job keeps working when the installation moves. Each
template has a papermill ``parameters`` cell and raises on any failure, so a
run that did not do its work is a failed run.
"""

from __future__ import annotations

import ast
import difflib
import io
import json
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlplat.errors import NotFoundError

PREFIX = "template:"


@dataclass(frozen=True)
class Template:
    """One template: its name, file, one-line description and parameters with their defaults."""

    name: str
    path: Path
    description: str
    parameters: dict[str, Any] = field(default_factory=dict)
    help: dict[str, str] = field(default_factory=dict)  # parameter -> its comment in the parameters cell

    @property
    def ref(self) -> str:
        """What a job's ``notebook`` field says to run this template."""
        return PREFIX + self.name

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ref": self.ref, "path": str(self.path), "description": self.description,
                "parameters": dict(self.parameters), "help": dict(self.help)}


def templates_dir() -> Path:
    from mlplat.config import resource_dir

    return resource_dir("notebooks") / "jobs"


def template_name(notebook: str) -> str | None:
    """``compute_feature_set`` for ``template:compute_feature_set``; None for a notebook path."""
    return notebook[len(PREFIX):] if str(notebook).startswith(PREFIX) else None


def template_path(name: str) -> Path:
    """The shipped notebook of template ``name`` (``template:`` prefix optional)."""
    name = template_name(name) or name
    path = templates_dir() / f"{name}.ipynb"
    if "/" not in name and path.is_file():
        return path
    names = [p.stem for p in sorted(templates_dir().glob("*.ipynb"))]
    close = difflib.get_close_matches(name, names, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise NotFoundError(f"no job template named {name!r}; {hint}templates: {', '.join(names) or 'none'}", template=name)


def list_templates() -> list[Template]:
    """Every shipped template, by name."""
    return [load_template(p) for p in sorted(templates_dir().glob("*.ipynb"))]


def load_template(path: Path) -> Template:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    description = ""
    for cell in cells:
        if cell["cell_type"] == "markdown":
            description = _source(cell).strip().splitlines()[0].lstrip("# ").strip()
            break
    params = next((_source(c) for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])), "")
    defaults, comments = _parameters(params)
    return Template(path.stem, path, description, defaults, comments)


def _source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def _parameters(source: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Defaults (``name = literal``) and their trailing comments from a parameters cell."""
    comments = {tok.start[0]: tok.string.lstrip("# ").strip()
                for tok in tokenize.generate_tokens(io.StringIO(source).readline) if tok.type == tokenize.COMMENT}
    defaults: dict[str, Any] = {}
    docs: dict[str, str] = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            try:
                defaults[name] = ast.literal_eval(node.value)
            except ValueError:
                defaults[name] = ast.unparse(node.value)
            if node.lineno in comments:
                docs[name] = comments[node.lineno]
    return defaults, docs


def notebook_argument(text: str) -> str:
    """What a user typed for a job's notebook: ``template:NAME`` as is, a path made absolute."""
    from pathlib import Path

    return text if text.startswith(PREFIX) else str(Path(text).expanduser().resolve())
