"""The JupyterHub REST API as the platform's user directory (teams = groups)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx

from mlplat.errors import (
    AuthenticationError,
    ConflictError,
    MlplatError,
    NotFoundError,
    PermissionDenied,
    ServiceUnavailable,
)
from mlplat.identity import Identity


class HubDirectory:
    """Users and groups of one hub, through a token with admin:users/groups scopes."""

    def __init__(self, api_url: str, token: str, timeout: float = 10.0) -> None:
        self.api_url = api_url.rstrip("/")
        self._client = httpx.Client(timeout=timeout, headers={"Authorization": f"token {token}"})

    def _request(self, method: str, path: str, *, token: str | None = None, **kwargs: Any) -> Any:
        headers = {"Authorization": f"token {token}"} if token else None
        try:
            response = self._client.request(method, self.api_url + path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise ServiceUnavailable(
                f"JupyterHub at {self.api_url} does not answer: {exc}; is `mlplat up` running?"
            ) from None
        if response.status_code in (200, 201):
            return response.json() if response.content else None
        if response.status_code == 204:
            return None
        message = _hub_message(response)
        if response.status_code == 401:
            raise AuthenticationError(f"invalid or expired token: {message}")
        if response.status_code == 403:
            raise PermissionDenied(f"the hub refused: {message}")
        if response.status_code == 404:
            raise NotFoundError(f"not found on the hub: {message}")
        if response.status_code == 409:
            raise ConflictError(message)
        raise MlplatError(f"JupyterHub answered {response.status_code}: {message}")

    def identify(self, token: str) -> dict[str, Any]:
        """The model of the token's owner (user or service) and the token's scopes."""
        try:
            model: dict[str, Any] = self._request("GET", "/user", token=token)
            return model
        except PermissionDenied:
            # The hub answers 403 to an unknown or expired token.
            raise AuthenticationError("invalid or expired token") from None

    def user(self, name: str) -> dict[str, Any]:
        model: dict[str, Any] = self._request("GET", f"/users/{quote(name)}")
        return model

    def identity(self, name: str) -> Identity:
        model = self.user(name)
        teams = tuple(sorted(model.get("groups") or ()))
        return Identity(name=model["name"], teams=teams, admin=bool(model.get("admin")))

    def groups(self) -> list[dict[str, Any]]:
        return list(self._request("GET", "/groups"))

    def create_user(self, name: str, admin: bool = False) -> None:
        try:
            self._request("POST", f"/users/{quote(name)}", json={"admin": admin})
        except ConflictError:
            if admin:
                self._request("PATCH", f"/users/{quote(name)}", json={"admin": True})

    def add_to_group(self, group: str, users: list[str]) -> None:
        try:
            self._request("POST", f"/groups/{quote(group)}")
        except ConflictError:
            pass
        self._request("POST", f"/groups/{quote(group)}/users", json={"users": users})

    def new_token(self, user: str, note: str, scopes: list[str] | None = None, expires_in: int | None = None) -> str:
        body: dict[str, Any] = {"note": note}
        if scopes is not None:
            body["scopes"] = scopes
        if expires_in is not None:
            body["expires_in"] = expires_in
        return str(self._request("POST", f"/users/{quote(user)}/tokens", json=body)["token"])

    def info(self) -> dict[str, Any]:
        info: dict[str, Any] = self._request("GET", "/")
        return info

    def close(self) -> None:
        self._client.close()


def _hub_message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message") or response.text)
    except ValueError:
        return response.text[:200]
