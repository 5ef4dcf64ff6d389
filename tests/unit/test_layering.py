"""The core never reaches out to an outer layer or a web/notebook framework, and its domains point one way."""

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "mlplat"
FORBIDDEN = {"IPython", "ipywidgets", "tornado", "jupyter_server", "starlette", "fastapi", "click"}
OUTER = {PACKAGE / "services", PACKAGE / "cli"}


def core_files() -> list[Path]:
    return [p for p in PACKAGE.rglob("*.py") if not any(p == o or o in p.parents for o in OUTER)]


def imported(source: str) -> list[str]:
    """Every module a source imports, anywhere in it (inside functions and TYPE_CHECKING blocks too);
    ``from mlplat import x`` counts as ``mlplat.x``."""
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names += [f"mlplat.{a.name}" for a in node.names] if node.module == "mlplat" else [node.module]
    return names


def forbidden_imports(source: str) -> set[str]:
    found = set()
    for name in imported(source):
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
    offenders = {
        str(p.relative_to(PACKAGE)): sorted(found) for p in files if (found := forbidden_imports(p.read_text()))
    }
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


# -- the domains point one way -----------------------------------------------------------------
# A domain package may import the ones listed for it (and the shared core: config, errors, identity, lake,
# metadata, spark, stats, ...), never another domain, and never the composition root. A domain that does not
# exist yet gets its rule here now, so the first module written there is already held to it.
DOMAINS = ("features", "models", "serving", "jobs", "experiments", "monitoring", "outcomes", "streams")
ALLOWED: dict[str, set[str]] = {
    "features": set(),
    "models": {"features"},
    "serving": {"features", "models"},
    "jobs": set(),
    "outcomes": {"features", "serving"},
    "experiments": {"features", "models", "serving", "outcomes"},
    "monitoring": {"features", "models", "serving", "outcomes"},
    "streams": {"features"},
}
# Besides the outer layers (services, cli, magics), only these may import mlplat.platform (the client's
# in-process transport builds one). Long-running domain processes start from the CLI (`mlplat monitor service`,
# `mlplat stream supervise`), never from a domain's own __main__.
COMPOSERS = {"platform.py", "client.py", "demo.py"}


def mlplat_imports(source: str) -> set[str]:
    """Every ``mlplat.<package>`` a module imports."""
    return {".".join(n.split(".")[:2]) for n in imported(source) if n.startswith("mlplat.")}


def test_the_domain_checker_sees_every_form_of_import() -> None:
    assert mlplat_imports("from mlplat.models.repository import X") == {"mlplat.models"}
    assert mlplat_imports("def f():\n    import mlplat.serving.core\n") == {"mlplat.serving"}
    assert mlplat_imports("from mlplat import platform") == {"mlplat.platform"}
    assert mlplat_imports("if TYPE_CHECKING:\n    from mlplat.platform import Platform\n") == {"mlplat.platform"}
    assert mlplat_imports("import json") == set()


def offenders() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(PACKAGE)
        imports = mlplat_imports(path.read_text())
        wrong: set[str] = set()
        if "mlplat.platform" in imports and rel.parts[0] not in ("services", "cli") and str(rel) not in COMPOSERS:
            wrong.add("mlplat.platform")
        domain = rel.parts[0]
        if domain in ALLOWED:
            forbidden = {f"mlplat.{d}" for d in DOMAINS if d != domain and d not in ALLOWED[domain]}
            wrong |= imports & forbidden
        if wrong:
            found[str(rel)] = sorted(wrong)
    return found


def test_domains_import_only_what_their_rule_allows_and_never_the_composition_root() -> None:
    assert offenders() == {}


def test_the_rule_fails_a_domain_that_reaches_across(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    fake = tmp_path / "mlplat"
    for domain, source in (("features", "from mlplat.models import repository\n"),
                           ("models", "def f():\n    from mlplat.serving.core import InferenceCore\n"),
                           ("serving", "from mlplat.platform import Platform\n"),
                           ("streams", "from mlplat.experiments import x\n")):
        (fake / domain).mkdir(parents=True)
        (fake / domain / "bad.py").write_text(source)
    (fake / "platform.py").write_text("from mlplat.features import service\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", fake)
    assert offenders() == {"features/bad.py": ["mlplat.models"], "models/bad.py": ["mlplat.serving"],
                           "serving/bad.py": ["mlplat.platform"], "streams/bad.py": ["mlplat.experiments"]}
