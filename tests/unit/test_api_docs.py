"""The API's landing page and docs: served with their own assets, directly and under the hub's service prefix."""

import re

import pytest
from fastapi.testclient import TestClient

from mlplat.platform import Platform
from mlplat.services.api import create_app
from mlplat.services.api.auth import StaticTokenAuthenticator
from mlplat.services.api.docs import ASSETS, assets_dir


@pytest.fixture
def api(settings):
    return TestClient(create_app(settings, platform=Platform(settings), authenticator=StaticTokenAuthenticator({})))


@pytest.mark.parametrize("prefix", ["", "/services/api"])
def test_the_docs_pages_load_their_assets_from_the_api(api, prefix) -> None:
    assert assets_dir() is not None, "the docs' assets package is missing: pip install 'mlplat[api]'"
    for page in ("/docs", "/redoc"):
        r = api.get(prefix + page)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        urls = re.findall(r"""(?:src|href)="([^"]+)"|url: '([^']+)'|spec-url="([^"]+)\"""", r.text)
        named = {u for group in urls for u in group if u}
        assert f"{prefix}/openapi.json" in named and len(named) >= 3, r.text
        assert not [u for u in named if "://" in u], f"the page names another host: {named}"
        for url in named - {f"{prefix}/openapi.json"}:
            asset = api.get(url)
            assert asset.status_code == 200, url
            assert asset.content == (assets_dir() / url.rsplit("/", 1)[-1]).read_bytes()  # type: ignore[operator]
    assert api.get(f"{prefix}/docs-assets/swagger-ui-bundle.js").headers["content-type"].startswith("text/javascript")
    missing = api.get(f"{prefix}/docs-assets/secrets.txt")
    assert missing.status_code == 404 and "swagger-ui.css" in missing.json()["message"]
    assert set(ASSETS) <= {p.name for p in assets_dir().iterdir()}  # type: ignore[union-attr]


def test_the_spec_names_the_prefix_and_the_token_scheme(api) -> None:
    direct = api.get("/openapi.json").json()
    proxied = api.get("/services/api/openapi.json").json()
    assert "servers" not in direct and proxied["servers"] == [{"url": "/services/api"}]
    assert proxied["info"]["title"] == direct["info"]["title"] == "mlplat platform API"
    assert proxied["paths"] == direct["paths"] and "/v1/whoami" in direct["paths"]
    assert direct["components"]["securitySchemes"]["hubToken"]["scheme"] == "bearer"
    assert direct["security"] == [{"hubToken": []}] and direct["paths"]["/healthz"]["get"]["security"] == []
    assert "/docs" not in direct["paths"] and "/" not in direct["paths"]


def test_the_landing_page_says_what_the_api_is_and_links_its_pages(api, settings) -> None:
    for url, root, hub in (("/", "", settings.hub), ("/services/api/", "/services/api", ""),
                           ("/services/api", "/services/api", "")):
        r = api.get(url)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), url
        links = set(re.findall(r"href=['\"]([^'\"]+)['\"]", r.text))
        assert {f"{root}/docs", f"{root}/redoc", f"{root}/healthz", f"{root}/openapi.json", f"{hub}/hub/home",
                f"{hub}/hub/token", f"{root}/docs#/features", f"{root}/docs#/jobs"} <= links, (url, links)
        assert "mlplat platform API" in r.text and "Authorization: token" in r.text
    assert api.get("/v1/whoami").status_code == 401  # the pages are open; the data is not
