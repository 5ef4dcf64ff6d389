"""The core never reaches out to an outer layer or a web/notebook framework."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "mlplat"
FORBIDDEN = {"IPython", "ipywidgets", "tornado", "jupyter_server", "starlette", "fastapi", "click"}
OUTER = {PACKAGE / "services", PACKAGE / "cli"}


def core_files() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if not any(p == o or o in p.parents for o in OUTER)]


def forbidden_imports(source: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            outer = any(name == o or name.startswith(o + ".") for o in ("mlplat.services", "mlplat.cli", "mlplat_magics"))
            if top in FORBIDDEN or outer:
                found.add(name)
    return found


def test_the_checker_catches_each_kind_of_import() -> None:
    assert forbidden_imports("import IPython") == {"IPython"}
    assert forbidden_imports("from fastapi.responses import JSONResponse") == {"fastapi.responses"}
    assert forbidden_imports("def f():\n    import click\n") == {"click"}
    assert forbidden_imports("from mlplat.services.api import create_app") == {"mlplat.services.api"}
    assert forbidden_imports("import json\nfrom mlplat.client import connect") == set()
    assert forbidden_imports("import mlplat.cli") == {"mlplat.cli"}


def test_core_modules_do_not_import_outer_layers() -> None:
    files = core_files()
    assert len(files) > 10
    offenders = {str(p.relative_to(PACKAGE)): sorted(found) for p in files if (found := forbidden_imports(p.read_text()))}
    assert offenders == {}


def imports_mlflow_at_load(source: str) -> bool:
    """A module importing MLflow at its top level (MLflow itself imports FastAPI for its scoring server)."""
    for node in ast.parse(source).body:
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "mlflow" for a in node.names):
            return True
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "mlflow":
            return True
    return False


def test_only_the_pyfunc_modules_import_mlflow_at_load() -> None:
    loaders = sorted(str(p.relative_to(PACKAGE)) for p in core_files() if imports_mlflow_at_load(p.read_text()))
    assert loaders == ["models/pyfunc.py", "models/pyfunc_model.py"]


def test_importing_the_core_loads_no_framework() -> None:
    # httpx imports click for its own command line when click is installed, so
    # click is left to the source check above; the frameworks must not load at all.
    # The two pyfunc modules are MLflow's entry points and load what MLflow loads;
    # everything else imports MLflow only inside the functions that use it.
    frameworks = FORBIDDEN - {"click"}
    modules = sorted(
        ".".join(("mlplat", *p.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(".__init__")
        for p in core_files()
        if "migrations" not in p.parts and not imports_mlflow_at_load(p.read_text())
    )
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + f"print(sorted(set({sorted(frameworks)!r}) & {{m.split('.')[0] for m in sys.modules}}))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
