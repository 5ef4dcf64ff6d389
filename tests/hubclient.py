"""Test helpers that drive a real JupyterHub: log in, spawn a server, run code in a kernel."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import httpx
import websocket


def login(hub_url: str, username: str, password: str) -> httpx.Client:
    """Log in through the hub's form (with its XSRF token); returns a client holding the cookies."""
    client = httpx.Client(base_url=hub_url, follow_redirects=False, timeout=30)
    client.get("/hub/login")
    xsrf = client.cookies.get("_xsrf", "")
    response = client.post("/hub/login", data={"username": username, "password": password, "_xsrf": xsrf})
    client.login_status = response.status_code  # type: ignore[attr-defined]
    client.login_location = response.headers.get("location", "")  # type: ignore[attr-defined]
    return client


def spawn(hub_api: str, admin_token: str, user: str, timeout: float = 120) -> None:
    """Start a user's default server and wait until the hub says it is ready."""
    headers = {"Authorization": f"token {admin_token}"}
    r = httpx.post(f"{hub_api}/users/{user}/server", headers=headers, timeout=30)
    assert r.status_code in (201, 202, 400), r.text  # 400: already running
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        model = httpx.get(f"{hub_api}/users/{user}", headers=headers, timeout=30).json()
        server = (model.get("servers") or {}).get("")
        if server and server.get("ready"):
            return
        time.sleep(0.5)
    raise TimeoutError(f"the server of {user} did not become ready in {timeout} s")


def run_in_kernel(hub_url: str, user: str, token: str, kernel: str, code: str, timeout: float = 120) -> dict[str, Any]:
    """Start ``kernel`` in the user's server, execute ``code``, return what it produced."""
    base = f"{hub_url}/user/{user}"
    headers = {"Authorization": f"token {token}"}
    r = httpx.post(f"{base}/api/kernels", json={"name": kernel}, headers=headers, timeout=60)
    r.raise_for_status()
    kernel_id = r.json()["id"]
    ws_url = base.replace("http", "ws", 1) + f"/api/kernels/{kernel_id}/channels"
    ws = websocket.create_connection(ws_url, header=[f"Authorization: token {token}"], timeout=timeout)
    msg_id = uuid.uuid4().hex
    ws.send(json.dumps({
        "header": {"msg_id": msg_id, "username": user, "session": uuid.uuid4().hex, "msg_type": "execute_request",
                   "version": "5.3"},
        "parent_header": {}, "metadata": {}, "channel": "shell",
        "content": {"code": code, "silent": False, "store_history": False, "user_expressions": {},
                    "allow_stdin": False, "stop_on_error": True},
    }))
    result: dict[str, Any] = {"outputs": [], "status": None}
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline and result["status"] is None:
            msg = json.loads(ws.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind in ("execute_result", "display_data", "stream", "error"):
                result["outputs"].append({"type": kind, **msg["content"]})
            elif kind == "execute_reply":
                result["status"] = msg["content"]["status"]
    finally:
        ws.close()
        httpx.delete(f"{base}/api/kernels/{kernel_id}", headers=headers, timeout=30)
    return result
