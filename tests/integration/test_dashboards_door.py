"""The monitoring dashboards behind the hub's login, browser-free on the shared stack.

An anonymous request is sent to the hub's login (OAuth authorize); a user of another team gets 403 for a model's
page; the owner team's user gets the page Voila rendered (the model has no traffic: "no data"); `mlplat status`
lists the dashboards' URL.
"""

from __future__ import annotations

import httpx
import platform_world as world
import pytest
from conftest import settings_from
from hubclient import login

from mlplat.platform import Platform
from mlplat.stack.manager import status

pytestmark = pytest.mark.integration
PREFIX = "/services/dashboards"
MODEL = "dash_model"


@pytest.fixture(scope="module")
def door(stack, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    built = world.build(stack, tmp_path_factory.mktemp("world"))
    s = settings_from(stack)
    platform = Platform(s)
    platform.monitoring.store.put_config(MODEL, world.TEAM, "test")  # the model's owner team, as a config says it
    platform.close()
    return {"settings": s, "world": built}


def test_anonymous_visitors_are_sent_to_the_hubs_login(door) -> None:  # type: ignore[no-untyped-def]
    s = door["settings"]
    for path in (PREFIX + "/", f"{PREFIX}/models/{MODEL}"):
        page = httpx.get(s.hub + path, timeout=60)
        assert page.status_code == 302 and "/hub/api/oauth2/authorize" in page.headers["location"], path


def test_another_team_gets_403_and_the_owner_team_the_page(door) -> None:  # type: ignore[no-untyped-def]
    s, w = door["settings"], door["world"]
    outsider = login(s.hub, w.outsider, w.outsider_password)
    outsider.follow_redirects = True
    refused = outsider.get(f"{PREFIX}/models/{MODEL}", timeout=300)
    assert refused.status_code == 403 and world.TEAM in refused.text
    member = login(s.hub, w.member, w.member_password)
    member.follow_redirects = True
    page = member.get(f"{PREFIX}/models/{MODEL}", timeout=300)
    assert page.status_code == 200, page.text[:500]
    assert f"Monitoring: {MODEL}" in page.text and "no data" in page.text
    assert member.get(f"{PREFIX}/voila/voila/render/model.ipynb").status_code == 404  # only through the door


def test_mlplat_status_lists_the_dashboards_and_the_service(door) -> None:  # type: ignore[no-untyped-def]
    rows = {c.component: c for c in status(door["settings"])}
    assert rows["dashboards"].url.endswith(PREFIX + "/") and rows["dashboards"].healthy
    assert rows["monitoring"].healthy, rows["monitoring"].detail
