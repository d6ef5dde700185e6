"""Dependencies shared by the routes (Annotated aliases, as the FastAPI template does)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlmodel import Session

from issuer.errors import AdminError, AdminErrorCode
from issuer.services.admin import AgencyPrincipal, authenticate
from issuer.services.deployment import Deployment
from keys.encoding import json_loads
from keys.errors import KeyManagementError
from servicekit.db import session_scope

__all__ = [
    "DeploymentDep",
    "ReadPrincipalDep",
    "ReadSessionDep",
    "bearer_token",
    "read_json_body",
]


def _deployment(request: Request) -> Deployment:
    deployment: Deployment = request.app.state.deployment
    return deployment


DeploymentDep = Annotated[Deployment, Depends(_deployment)]


def _read_session(deployment: DeploymentDep) -> Iterator[Session]:
    with session_scope(deployment.read_engine, queue=False) as session:
        yield session


# The one session a dependency holds: read-only, so that on SQLite it takes no lock and,
# held across FastAPI's thread hops, holds up no writer. Routes that write open a
# session_scope in their own body, which runs in one thread and so may queue (issuer.db).
# scope="function": it ends when the route returns, not after the response is sent.
ReadSessionDep = Annotated[Session, Depends(_read_session, scope="function")]


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header (RFC 6750 §2.1), or None."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _reading_principal(request: Request, deployment: DeploymentDep) -> AgencyPrincipal:
    # A read of its own, ended before the route runs: a route that writes then holds one
    # connection, not two. Holding both, tens of concurrent writes took every connection of
    # the pool for their reads, and each waited for a second one, until the pool timed out.
    with session_scope(deployment.read_engine, queue=False) as session:
        return authenticate(session, bearer_token(request))


# The agency behind an admin request's token (its rows read, then detached).
ReadPrincipalDep = Annotated[AgencyPrincipal, Depends(_reading_principal)]


async def read_json_body(request: Request, error: Exception) -> Any:
    """The request body as strict I-JSON (no duplicate members), bounded in size.

    ``error`` is what a body that is not JSON raises: each protocol has its own code.
    """
    limit = request.app.state.deployment.settings.max_body_bytes
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise AdminError(AdminErrorCode.TOO_LARGE, f"request body over {limit} bytes")
    try:
        return json_loads(bytes(body))
    except KeyManagementError:
        raise error from None
