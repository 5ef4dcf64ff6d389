"""The one exception hierarchy.

Each error carries what each surface needs to render it once: an HTTP status
(services map it in one exception handler), a CLI exit code, and a message
that says what to do next. Structured fields go in ``details``.
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


def require(module: str, extra: str) -> Any:
    """Import an optional dependency or say which extra provides it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise MissingDependency(module, extra) from None
