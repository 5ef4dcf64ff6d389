"""The platform API's own pages: a landing page, the interactive docs (Swagger UI, ReDoc) and their assets.

FastAPI's stock pages load Swagger UI from a CDN, which the networks the
platform runs on often cannot reach, and they leave a browser on a blank page.
Here the pages' JavaScript and CSS come from a Python package
(``fastapi-offline``, in the ``api`` extra, which ships the dist files of
Swagger UI 5 and ReDoc 2), served by the API itself. Every URL a page names
starts with the prefix the request came through (the ASGI ``root_path``: ``""``
directly, ``/services/api`` through the hub), so the same pages work at both
addresses. The pages, the spec and the assets need no login: they hold no
data, and "Try it out" asks for a JupyterHub token like every other client.
"""

from __future__ import annotations

import html
import importlib.util
from collections import Counter
from pathlib import Path
from typing import Any, Callable

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from mlplat.errors import NotFoundError, ServiceUnavailable

ASSETS_PACKAGE = "fastapi_offline"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}
PUBLIC = ("/", "/docs", "/redoc", "/healthz", "/metrics")


def assets_dir() -> Path | None:
    """The folder of Swagger UI's and ReDoc's dist files, when their package is installed."""
    spec = importlib.util.find_spec(ASSETS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "static"
    return folder if all((folder / name).is_file() for name in ASSETS) else None


def _prefix(request: Request) -> str:
    return str(request.scope.get("root_path", "")).rstrip("/")


def install_docs(app: FastAPI, hub_url: str) -> None:
    """Add ``/``, ``/docs``, ``/redoc`` and ``/docs-assets/*`` to ``app`` (created with ``docs_url=None``)."""
    _add_token_scheme(app)

    def assets_or_503() -> Path:
        folder = assets_dir()
        if folder is None:
            raise ServiceUnavailable(
                f"the API docs' assets are not installed: pip install 'mlplat[api]' (it brings {ASSETS_PACKAGE})"
            )
        return folder

    @app.get("/docs-assets/{name}", include_in_schema=False)
    def docs_asset(name: str) -> FileResponse:
        if name not in ASSETS:
            raise NotFoundError(f"no docs asset {name!r}; there are: {', '.join(sorted(ASSETS))}")
        return FileResponse(assets_or_503() / name, media_type=ASSETS[name],
                            headers={"Cache-Control": "public, max-age=86400"})

    @app.get("/docs", include_in_schema=False)
    def swagger_ui(request: Request) -> HTMLResponse:
        assets_or_503()
        root = _prefix(request)
        return get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - Swagger UI",
            swagger_js_url=f"{root}/docs-assets/swagger-ui-bundle.js",
            swagger_css_url=f"{root}/docs-assets/swagger-ui.css",
            swagger_favicon_url=f"{root}/docs-assets/favicon.png",
            swagger_ui_parameters={"persistAuthorization": True},
        )

    @app.get("/redoc", include_in_schema=False)
    def redoc(request: Request) -> HTMLResponse:
        assets_or_503()
        root = _prefix(request)
        return get_redoc_html(
            openapi_url=f"{root}{app.openapi_url}", title=f"{app.title} - ReDoc",
            redoc_js_url=f"{root}/docs-assets/redoc.standalone.js",
            redoc_favicon_url=f"{root}/docs-assets/favicon.png", with_google_fonts=False,
        )

    @app.get("/", include_in_schema=False)
    def landing(request: Request) -> HTMLResponse:
        return HTMLResponse(landing_page(app, _prefix(request), hub_url))


def landing_page(app: FastAPI, root: str, hub_url: str) -> str:
    """What the API is, how to call it, and where its docs are."""
    # Through the hub the page is on the hub's own origin; directly, name the hub's address.
    hub = "" if root else hub_url.rstrip("/")
    groups = Counter(tag for operations in app.openapi().get("paths", {}).values()
                     for operation in operations.values() for tag in operation.get("tags") or ["other"])
    rows = "".join(f"<li><a href='{html.escape(root)}/docs#/{html.escape(str(tag))}'>{html.escape(str(tag))}</a>"
                   f" ({n} route{'s' if n != 1 else ''})</li>" for tag, n in sorted(groups.items()))
    e = html.escape
    return f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{e(app.title)}</title>
<link rel="icon" href="{e(root)}/docs-assets/favicon.png">
<style>body{{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;line-height:1.5}}
code{{background:#f3f3f3;padding:0 .25rem}}</style></head>
<body>
<h1>{e(app.title)} <small>{e(str(app.version))}</small></h1>
<p>The HTTP face of the platform: feature and label sets, example sets, models, deployments, Online Serving,
scheduled jobs, teams. Notebooks, the magics and the <code>mlplat</code> command call it through one client
(<code>mlplat.connect()</code>); every call runs as its caller, and the platform checks what that user's teams
may do: everyone reads, the owner team writes, admins do anything.</p>
<p>Send a JupyterHub token: <code>Authorization: token &lt;token&gt;</code> (or <code>Bearer</code>).
Get one on the hub's <a href="{e(hub)}/hub/token">token page</a>; inside JupyterLab the kernel already has one.</p>
<ul>
<li><a href="{e(root)}/docs">Interactive docs</a> (Swagger UI: "Authorize" with a token, then "Try it out")</li>
<li><a href="{e(root)}/redoc">Reference</a> (ReDoc) and the <a href="{e(root)}{e(app.openapi_url or '')}">OpenAPI
spec</a></li>
<li><a href="{e(root)}/healthz">Health</a> and <a href="{e(root)}/metrics">Prometheus metrics</a></li>
<li><a href="{e(hub)}/hub/home">JupyterHub</a></li>
</ul>
<h2>Routes</h2>
<ul>{rows}</ul>
</body></html>
"""


def _add_token_scheme(app: FastAPI) -> None:
    """Declare the hub-token scheme in the spec, so Swagger UI's "Authorize" sends the header."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            schema.setdefault("components", {})["securitySchemes"] = {"hubToken": {
                "type": "http", "scheme": "bearer",
                "description": "A JupyterHub token with access to this service (the hub's /hub/token page)",
            }}
            schema["security"] = [{"hubToken": []}]
            for path in PUBLIC:
                for operation in schema.get("paths", {}).get(path, {}).values():
                    operation["security"] = []
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's way to replace the document; its types say method
