"""What a handler needs to know about its request, as two dependencies registered by the app.

- ``caller`` (:class:`Caller`): the request's database session, the running services, and who is
  asking, as a principal and as the actor audit events name;
- ``ctx`` (:class:`WorkspaceContext`): the same, plus the workspace named by the ``ws`` path
  parameter and the caller's role in it, both found by the guard.

Both need a signed-in caller, so public routes take neither. A handler takes one of them and
its own parameters; ``ctx`` declares ``ws``, so every workspace route still documents it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar import Request
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.db.models import Workspace
from lakeplane.domain.audit import Actor
from lakeplane.domain.auth.principals import Principal
from lakeplane.runtime import Services
from lakeplane.web.guards import principal, workspace


@dataclass(frozen=True, slots=True)
class Caller:
    db: AsyncSession
    lp: Services
    principal: Principal
    actor: Actor


@dataclass(frozen=True, slots=True)
class WorkspaceContext(Caller):
    workspace: Workspace
    role: str

    @property
    def workspace_id(self) -> str:
        return self.workspace.id


async def provide_caller(request: Request[Any, Any, Any], db: AsyncSession, lp: Services) -> Caller:
    who = principal(request)
    return Caller(db=db, lp=lp, principal=who, actor=who.actor(request))


async def provide_workspace_context(
    request: Request[Any, Any, Any], db: AsyncSession, lp: Services, ws: str
) -> WorkspaceContext:
    """``ws`` is read by the guard, which leaves the workspace and role in the request state;
    it is declared here for the OpenAPI document."""
    who = principal(request)
    return WorkspaceContext(
        db=db,
        lp=lp,
        principal=who,
        actor=who.actor(request),
        workspace=workspace(request),
        role=request.state.role,
    )
