"""The one exception hierarchy, and its one wire format.

Each error carries what each surface needs to render it once: an HTTP status
(services map it in one exception handler), a CLI exit code, and a message
that says what to do next. Structured fields go in ``details``.

Every HTTP surface (the platform API, the Inference Service) answers an error
with the same body, ``{"error": code, "message": ..., "details": {...}}``,
and the client turns it back into the same subclass the core raised
(``from_wire``), so a caller catches ``NotFoundError`` whichever transport it
used.
"""

from __future__ import annotations

from typing import Any


class MlplatError(Exception):
    """Base of every error the platform raises on purpose."""

    http_status = 500
    exit_code = 1
    code = "error"

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, **({"details": self.details} if self.details else {})}


class ConfigError(MlplatError):
    """A setting is missing, malformed or contradictory."""

    http_status = 500
    exit_code = 78  # EX_CONFIG
    code = "config"


class ValidationError(MlplatError):
    """The caller sent something the platform cannot accept."""

    http_status = 422
    exit_code = 65  # EX_DATAERR
    code = "invalid"


class NotFoundError(MlplatError):
    """The named object does not exist."""

    http_status = 404
    exit_code = 66  # EX_NOINPUT
    code = "not_found"


class ConflictError(MlplatError):
    """The object exists already or changed underneath the caller."""

    http_status = 409
    exit_code = 75  # EX_TEMPFAIL
    code = "conflict"


class AuthenticationError(MlplatError):
    """No valid credentials were presented."""

    http_status = 401
    exit_code = 77  # EX_NOPERM
    code = "unauthenticated"


class PermissionDenied(MlplatError):
    """Valid credentials, but not the right team or role."""

    http_status = 403
    exit_code = 77
    code = "forbidden"


class PayloadTooLarge(MlplatError):
    """A request body over the service's limit."""

    http_status = 413
    exit_code = 65
    code = "too_large"


class InternalError(MlplatError):
    """A bug: the surface answers with an opaque incident, never a stack trace."""

    http_status = 500
    exit_code = 70  # EX_SOFTWARE
    code = "internal"


class ServiceUnavailable(MlplatError):
    """A component the operation needs (Redis, MLflow, the hub) does not answer."""

    http_status = 503
    exit_code = 69  # EX_UNAVAILABLE
    code = "unavailable"


class StackError(MlplatError):
    """The local stack could not be started, stopped or inspected."""

    http_status = 500
    exit_code = 70  # EX_SOFTWARE
    code = "stack"


class PortInUse(StackError):
    """A port the local stack needs is taken by another process."""

    code = "port_in_use"


class MissingDependency(MlplatError):
    """An optional dependency is not installed; the message names the extra."""

    http_status = 500
    exit_code = 69
    code = "missing_dependency"

    def __init__(self, module: str, extra: str) -> None:
        super().__init__(
            f"{module} is not installed: pip install 'mlplat[{extra}]'", module=module, extra=extra
        )


def _by_code() -> dict[str, type[MlplatError]]:
    found: dict[str, type[MlplatError]] = {}
    stack: list[type[MlplatError]] = [MlplatError]
    while stack:
        cls = stack.pop()
        found.setdefault(cls.code, cls)
        stack.extend(cls.__subclasses__())
    return found


_BY_STATUS: dict[int, type[MlplatError]] = {
    400: ValidationError, 401: AuthenticationError, 403: PermissionDenied, 404: NotFoundError,
    409: ConflictError, 413: PayloadTooLarge, 422: ValidationError, 503: ServiceUnavailable,
}


def from_wire(status: int, body: Any, fallback: str = "") -> MlplatError:
    """The error an HTTP answer carries: the class named by its ``error`` code (else by its status), with its
    message and details. ``fallback`` is the message when the body has none (e.g. a proxy's HTML page)."""
    body = body if isinstance(body, dict) else {}
    message = str(body.get("message") or body.get("detail") or fallback or f"HTTP {status}")
    details = body.get("details") if isinstance(body.get("details"), dict) else {}
    cls = _by_code().get(str(body.get("error", ""))) or _BY_STATUS.get(status, MlplatError)
    if cls is MissingDependency:  # its constructor builds the message from the module and the extra
        if isinstance(details.get("module"), str) and isinstance(details.get("extra"), str):
            return MissingDependency(details["module"], details["extra"])
        cls = MlplatError
    return cls(message, **details)


def raise_for_answer(response: Any) -> None:
    """Raise the platform error an HTTP answer (an ``httpx.Response``) carries; nothing when it is not an error."""
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = None
    raise from_wire(response.status_code, body, response.text.strip()[:500])


def require(module: str, extra: str) -> Any:
    """Import an optional dependency or say which extra provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependency(module, extra) from None
