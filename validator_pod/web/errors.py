"""JSON errors with a stable `code` for every 4xx and 5xx, and their OpenAPI documentation.

Every error body is an `Error`: `{"code": "...", "message": "...", "details": ...}`. FastAPI's own
validation errors, Starlette's routing 404/405 and infrastructure failures are turned into the
same shape by the handlers installed with `install_error_handlers`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from validator_pod.adapters.errors import AdapterError

logger = logging.getLogger(__name__)


class Error(BaseModel):
    """The body of every error response."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="Stable, machine-readable reason (see the API's error table).")
    message: str = Field(description="What went wrong, for people.")
    details: Any = Field(default=None, description="Structured context, when there is any.")


class ApiError(Exception):
    """Raised by routes and dependencies; rendered as an `Error` with `status`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """An error response: HTTP `status`, stable `code`, human `message`."""
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = dict(headers or {})


_STATUS_CODES: Final = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    500: "internal_error",
    503: "unavailable",
}

_DESCRIPTIONS: Final = {
    400: "The body is not JSON text (`bad_request`).",
    401: "Missing or invalid bearer token (`unauthorized`).",
    403: "The token's role may not do this (`forbidden`): mutations need `admin`.",
    404: "No such resource (`not_found`, `record_not_found`, `replay_not_found`, "
    "`schema_not_found`).",
    409: "The resource is not in a state that allows this (`record_not_replayable`, "
    "`replay_in_progress`, `replay_not_cancellable`).",
    413: "The request body is larger than the limit (`payload_too_large`).",
    422: "The request is malformed (`validation_error`, `unknown_field`, "
    "`unknown_query_parameter`, `invalid_cursor`, `filter_required`, "
    "`schema_version_not_found`).",
    503: "PostgreSQL, S3 or Kafka is unavailable (`postgres_unavailable`, `s3_unavailable`, "
    "`kafka_unavailable`); retry later.",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries documenting `Error` bodies for `statuses`."""
    documented = set(statuses)
    if 413 in documented:  # a route with a body: it may also not be JSON text
        documented.add(400)
    return {
        status: {"model": Error, "description": _DESCRIPTIONS.get(status, "Error.")}
        for status in sorted(documented)
    }


def error_response(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """An `Error` JSON response."""
    body = Error(code=code, message=message, details=details).model_dump(mode="json")
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def _validation_details(errors: Sequence[Any]) -> list[dict[str, Any]]:
    # The input is left out on purpose: it may be large, and it may be a secret.
    return [
        {
            "loc": [str(part) for part in error.get("loc", ())],
            "type": str(error.get("type", "")),
            "msg": str(error.get("msg", "")),
        }
        for error in errors
    ]


def _validation_code(details: Sequence[Mapping[str, Any]]) -> str:
    if details and all(detail["type"] == "extra_forbidden" for detail in details):
        if all(detail["loc"][:1] == ["query"] for detail in details):
            return "unknown_query_parameter"
        return "unknown_field"
    return "validation_error"


async def _on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)


def _allowed_methods(request: Request) -> str | None:
    """Every method some route of the path takes (Starlette's 405 names one route's only)."""
    methods: set[str] = set()
    for route in getattr(request.app.state, "api_routes", ()):
        match, _ = route.matches(request.scope)
        if match is not Match.NONE:
            methods |= route.methods or set()
    return ", ".join(sorted(methods)) or None


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _STATUS_CODES.get(exc.status_code, f"http_{exc.status_code}")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        allowed = _allowed_methods(request)
        if allowed is not None:
            headers["Allow"] = allowed
    return error_response(exc.status_code, code, message, None, headers)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = _validation_details(exc.errors())
    code = _validation_code(details)
    first = details[0] if details else {"loc": [], "msg": "invalid request"}
    where = ".".join(first["loc"])
    message = f"{where}: {first['msg']}" if where else str(first["msg"])
    return error_response(422, code, message, details)


async def _on_adapter_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AdapterError)
    logger.warning(
        "dependency unavailable: %s",
        exc,
        extra={"target": exc.target, "path": request.url.path},
    )
    return error_response(
        503,
        f"{exc.target}_unavailable",
        f"{exc.target} is unavailable; retry later",
        {"target": exc.target},
        {"Retry-After": "5"},
    )


async def _on_recursion_error(request: Request, exc: Exception) -> JSONResponse:
    return error_response(422, "validation_error", "the request body is nested too deeply")


async def _on_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    logger.error(
        "unexpected error", exc_info=exc, extra={"path": request.url.path, "method": request.method}
    )
    return error_response(500, "internal_error", "internal error; see the API's log")


def install_error_handlers(app: FastAPI) -> None:
    """Make every error a JSON `Error` with a stable code."""
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(AdapterError, _on_adapter_error)
    app.add_exception_handler(RecursionError, _on_recursion_error)
    app.add_exception_handler(Exception, _on_unexpected_error)
