"""The one error body every HTTP surface answers with, and the error answers a route declares.

``MlplatError.to_dict`` makes the body; ``mlplat.errors.from_wire`` turns it back
into the same exception class in the client. Every ``/v1`` route needs a token,
so each can answer 401 and 403, and 500 (an opaque incident id, never a stack
trace); ``errors(...)`` adds the statuses a route can answer beyond those.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from mlplat.services.api.schemas.base import Closed


class ErrorBody(Closed):
    """Why a request failed. The client raises the platform's exception named by ``error``."""

    error: str = Field(
        description="the error's code: invalid, not_found, conflict, unauthenticated, forbidden, too_large, "
        "unavailable, internal, config, missing_dependency, ...",
        examples=["not_found"],
    )
    message: str = Field(description="what went wrong and what to do next, for a person")
    details: dict[str, Any] | None = Field(
        None, description="structured fields of the error (e.g. the field, team or model it concerns); "
        "absent when there are none",
    )


WHEN = {
    400: "The body is not JSON, or not a JSON object",
    401: "No token, a malformed Authorization header, or an invalid or expired token",
    403: "The token may not use this service, or the caller's teams may not do this",
    404: "A named object does not exist",
    409: "The object exists already, or changed underneath the caller",
    413: "The body is over the service's limit",
    422: "The request is not valid: the message names the field and the problem",
    500: "A bug: the message carries an incident id to find it in the service's log",
    503: "A component the operation needs (Online Serving, the Model Repository, Spark, the hub) does not answer",
}
ALWAYS = (401, 403, 500)


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a ``/v1`` route: 401, 403 and 500, and ``statuses``, each with the error body."""
    return {status: {"model": ErrorBody, "description": WHEN[status]} for status in sorted({*ALWAYS, *statuses})}
