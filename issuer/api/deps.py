"""Dependencies shared by the routes (Annotated aliases, as the FastAPI template does)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlmodel import Session

from issuer.db import session_scope
from issuer.errors import AdminError, AdminErrorCode
from issuer.services.admin import AgencyPrincipal, authenticate
from issuer.services.deployment import Deployment
from keys.encoding import json_loads
from keys.errors import KeyManagementError

__all__ = [
    "DeploymentDep",
    "PrincipalDep",
    "ReadPrincipalDep",
    "ReadSessionDep",
    "SessionDep",
    "bearer_token",
    "read_json_body",
]


def _deployment(request: Request) -> Deployment:
    deployment: Deployment = request.app.state.deployment
    return deployment


DeploymentDep = Annotated[Deployment, Depends(_deployment)]


def _session(deployment: DeploymentDep) -> Iterator[Session]:
    with session_scope(deployment.engine, queue=False) as session:
        yield session


# scope="function": the transaction commits when the route returns, before the response is
# sent (FastAPI's default runs a yield dependency's exit after sending): a client told 201
# must find what it created, and a failed commit must not follow a success response.
SessionDep = Annotated[Session, Depends(_session, scope="function")]


def _read_session(deployment: DeploymentDep) -> Iterator[Session]:
    with session_scope(deployment.read_engine, queue=False) as session:
        yield session


# For routes that only read (metadata, offers by reference, JWKS): on SQLite such a session
# takes no lock, so holding it across thread hops holds up no writer.
ReadSessionDep = Annotated[Session, Depends(_read_session, scope="function")]


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header (RFC 6750 §2.1), or None."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _principal(request: Request, session: SessionDep) -> AgencyPrincipal:
    return authenticate(session, bearer_token(request))


PrincipalDep = Annotated[AgencyPrincipal, Depends(_principal)]


def _reading_principal(request: Request, session: ReadSessionDep) -> AgencyPrincipal:
    return authenticate(session, bearer_token(request))


# For admin routes that only read: the same check, in the route's read-only session.
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
