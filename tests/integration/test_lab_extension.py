"""The Platform sidebar in the hub's user servers, and the tokens those servers carry.

Browser-free: the extension is enabled in a user's server (``jupyter labextension list`` in their kernel),
its server route forwards to the platform API as that user and no one else, and the token a server, its
kernels and its terminal carry has only the scopes they need and dies with the server.
"""

from __future__ import annotations

import json
import time

import httpx
import pytest
from conftest import mlplat, settings_from
from hubclient import run_in_kernel, spawn

from mlplat.hub import HubDirectory
from mlplat.services.hub import SERVER_TOKEN_SCOPES, TOKEN_MAX_SECONDS

pytestmark = pytest.mark.integration


def _text(result: dict) -> str:
    return "".join(o.get("text", "") for o in result["outputs"] if o["type"] == "stream")


def test_the_extension_is_enabled_and_its_route_acts_as_the_servers_user(stack) -> None:
    s = settings_from(stack)
    hub = HubDirectory(s.hub_api, (s.secrets_dir / "api_token").read_text().strip())
    mlplat(stack, "user", "add", "nora", "--team", "growth")
    mlplat(stack, "user", "add", "olga", "--team", "ads")
    spawn(s.hub_api, hub.new_token("admin", "lab-test", expires_in=600), "nora")
    token = hub.new_token("nora", "lab-test", expires_in=600)

    listed = run_in_kernel(s.hub, "nora", token, "mlplat", "!jupyter labextension list 2>&1")
    assert listed["status"] == "ok", listed
    line = next((x for x in _text(listed).splitlines() if "mlplat-lab" in x), "")
    assert "enabled" in line and "OK" in line, _text(listed)

    # the sidebar's route: the platform API, as nora (her server's token), through the hub's proxy
    route = f"{s.hub}/user/nora/mlplat/api/v1/whoami"
    me = httpx.get(route, headers={"Authorization": f"token {token}"}, timeout=60)
    assert me.status_code == 200 and me.json()["name"] == "nora" and me.json()["teams"] == ["growth"], me.text
    # another user cannot borrow nora's server to act as her, and nobody gets in without a login
    olga = hub.new_token("olga", "lab-test", expires_in=600)
    assert httpx.get(route, headers={"Authorization": f"token {olga}"}, timeout=60).status_code == 403
    anonymous = httpx.get(route, timeout=60, follow_redirects=False)
    assert anonymous.status_code in (302, 401, 403), anonymous.status_code
    # a write through the route is still decided by the API's team check: nora may not change ads's table
    refused = httpx.put(f"{s.hub}/user/nora/mlplat/api/v1/lake/tables/ads_table", timeout=60,
                        headers={"Authorization": f"token {token}"}, json={"url": str(s.home), "team": "ads"})
    assert refused.status_code == 403 and "belongs to team 'ads'" in refused.json()["message"], refused.text
    # only the API's /v1 routes are forwarded
    other = httpx.get(f"{s.hub}/user/nora/mlplat/api/metrics", headers={"Authorization": f"token {token}"}, timeout=60)
    assert other.status_code == 404


def test_the_token_kernels_carry_has_only_what_they_need_and_dies_with_the_server(stack) -> None:
    s = settings_from(stack)
    hub = HubDirectory(s.hub_api, (s.secrets_dir / "api_token").read_text().strip())
    mlplat(stack, "user", "add", "pavel", "--team", "growth")
    admin = hub.new_token("admin", "token-test", expires_in=600)
    spawn(s.hub_api, admin, "pavel")
    code = ("import os, json, httpx\n"
            "t = os.environ['JUPYTERHUB_API_TOKEN']\n"
            "me = httpx.get(os.environ['JUPYTERHUB_API_URL'] + '/user', headers={'Authorization': 'token ' + t})\n"
            "mint = httpx.post(os.environ['JUPYTERHUB_API_URL'] + '/users/pavel/tokens', json={},\n"
            "                  headers={'Authorization': 'token ' + t})\n"
            "users = httpx.get(os.environ['JUPYTERHUB_API_URL'] + '/users', headers={'Authorization': 'token ' + t})\n"
            "print(json.dumps({'token': t, 'scopes': me.json()['scopes'], 'mint': mint.status_code,\n"
            "                  'users': users.status_code}))")
    result = run_in_kernel(s.hub, "pavel", hub.new_token("pavel", "token-test", expires_in=600), "mlplat", code)
    assert result["status"] == "ok", result
    seen = json.loads(_text(result).strip().splitlines()[-1])
    expected = {x.replace("!server", "!server=pavel/").replace("!user", "!user=pavel") for x in SERVER_TOKEN_SCOPES}
    # the hub adds reading one's own name, groups and activity; nothing else beyond what the config asks
    implied = {x for x in seen["scopes"] if x.startswith("read:users:") and x.endswith("!user=pavel")}
    assert set(seen["scopes"]) - implied == expected, seen["scopes"]
    assert seen["mint"] == 403 and seen["users"] == 403, seen  # no longer-lived token, no other users
    # it works while the server runs, and not once the server is stopped
    kernel_token = {"Authorization": f"token {seen['token']}"}
    assert httpx.get(f"{s.api}/v1/whoami", headers=kernel_token, timeout=30).json()["name"] == "pavel"
    stopped = httpx.delete(f"{s.hub_api}/users/pavel/server", headers={"Authorization": f"token {admin}"}, timeout=60)
    assert stopped.status_code in (202, 204), stopped.text
    for _ in range(120):
        if httpx.get(f"{s.hub_api}/user", headers=kernel_token, timeout=30).status_code == 403:
            break
        time.sleep(0.5)
    assert httpx.get(f"{s.hub_api}/user", headers=kernel_token, timeout=30).status_code == 403
    # tokens made through the hub's API (the CLI's, from the token page) expire, even when none was asked for
    minted = httpx.post(f"{s.hub_api}/users/pavel/tokens", headers={"Authorization": f"token {admin}"},
                        json={"note": "cli"}, timeout=30).json()
    assert minted["expires_at"] is not None
    too_long = httpx.post(f"{s.hub_api}/users/pavel/tokens", headers={"Authorization": f"token {admin}"},
                          json={"note": "cli", "expires_in": TOKEN_MAX_SECONDS + 1}, timeout=30)
    assert too_long.status_code == 400
