"""FastAPI dependencies and their `Annotated` aliases: the services, and who is calling."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from validator_pod.web.auth import Caller, TokenRegistry
from validator_pod.web.errors import ApiError
from validator_pod.web.services import ApiServices

_CHALLENGE = {"WWW-Authenticate": "Bearer"}

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="A token from DQ_API_TOKENS (`name:role:token`); role `read` or `admin`.",
)


def get_services(request: Request) -> ApiServices:
    """The process's services (built by the lifespan)."""
    services: ApiServices | None = getattr(request.app.state, "services", None)
    if services is None:
        raise ApiError(503, "unavailable", "the API is starting")
    return services


def get_tokens(request: Request) -> TokenRegistry:
    """The configured tokens."""
    tokens: TokenRegistry = request.app.state.tokens
    return tokens


def authenticated(
    tokens: Annotated[TokenRegistry, Depends(get_tokens)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    """The caller, or 401 `unauthorized`."""
    if credentials is None:
        raise ApiError(401, "unauthorized", "a bearer token is required", headers=_CHALLENGE)
    caller = tokens.authenticate(credentials.credentials)
    if caller is None:
        raise ApiError(401, "unauthorized", "the bearer token is not valid", headers=_CHALLENGE)
    return caller


def admin(caller: Annotated[Caller, Depends(authenticated)]) -> Caller:
    """An admin caller, or 403 `forbidden`."""
    if not caller.is_admin:
        raise ApiError(
            403,
            "forbidden",
            f"the token {caller.name!r} is read-only; this needs an admin token",
        )
    return caller


Services = Annotated[ApiServices, Depends(get_services)]
Reader = Annotated[Caller, Depends(authenticated)]
Admin = Annotated[Caller, Depends(admin)]


def _has_query_params(route: APIRoute) -> bool:
    pending = [route.dependant]
    while pending:
        dependant = pending.pop()
        if dependant.query_params:
            return True
        pending.extend(dependant.dependencies)
    return False


class StrictQueryRoute(APIRoute):
    """A route that refuses query parameters when it declares none (routes that declare some
    use query models with `extra="forbid"`, which refuse unknown ones)."""

    def get_route_handler(self) -> Any:
        """The handler, preceded by the query check."""
        handler = super().get_route_handler()
        if _has_query_params(self):
            return handler

        async def strict_handler(request: Request) -> Any:
            if request.query_params:
                unknown = sorted(request.query_params.keys())
                raise ApiError(
                    422,
                    "unknown_query_parameter",
                    f"unknown query parameter(s): {', '.join(unknown)}",
                    {"unknown": unknown},
                )
            return await handler(request)

        return strict_handler
