"""Administration: users, workspace members (roles), API tokens, the audit log."""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.domain.audit import services as audit_services
from lakeplane.domain.tokens import services as tokens
from lakeplane.domain.tokens.schemas import TokenCreate
from lakeplane.domain.users import services as users
from lakeplane.domain.users.schemas import PasswordReset, UserCreate, UserUpdate
from lakeplane.domain.workspaces import services as workspaces
from lakeplane.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from lakeplane.runtime import Services
from lakeplane.web.guards import principal, workspace
from lakeplane_ui.web import field_errors, page, pager, read_form, see_other, url

ROLES = ("viewer", "editor", "admin")
OUTCOMES = ("success", "failure", "denied", "throttled")


def struct_errors(exc: msgspec.ValidationError, default: str) -> dict[str, str]:
    text = str(exc).replace("`", "")
    reason, _, where = text.partition(" - at $.")
    return {(where.split(".")[0].split("[")[0] or default): reason}


def token_form(form: dict[str, Any]) -> TokenCreate:
    scopes = form.get("scope") or ""
    return msgspec.convert(
        {
            "name": str(form.get("name", "")).strip(),
            "scopes": [scopes] if scopes else [],
            "expires_in_days": int(form.get("expires_in_days") or 90),
        },
        TokenCreate,
    )


class UserPages(Controller):
    path = "/admin/users"

    async def _list(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        cursor: str | None = None,
        *,
        form: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
        message: str = "",
        status: int = 200,
    ) -> Template:
        rows = list(await users.list_users(db, cursor, 50))
        return await page(
            request,
            db,
            "users.html",
            status=status,
            users=[users.to_out(u) for u in rows[:50]],
            form=form or {},
            errors=errors or {},
            message=message,
            **pager(request, rows[49].id if len(rows) > 50 else None),
        )

    @get("/", opt={"permission": "admin"})
    async def list_page(
        self, request: Request[Any, Any, Any], db: AsyncSession, cursor: str | None = None
    ) -> Template:
        return await self._list(request, db, cursor)

    @post("/", opt={"permission": "admin"})
    async def create(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services
    ) -> Template | Redirect:
        form = await read_form(request)
        service_account = bool(form.get("is_service_account"))
        try:
            data = msgspec.convert(
                {
                    "username": str(form.get("username", "")).strip(),
                    "display_name": str(form.get("display_name", "")),
                    "email": str(form.get("email", "")).strip() or None,
                    "password": None if service_account else (str(form.get("password", "")) or None),
                    "is_admin": bool(form.get("is_admin")),
                    "is_service_account": service_account,
                },
                UserCreate,
            )
            user = await users.create(db, lp, principal(request).actor(request), data)
        except msgspec.ValidationError as exc:
            return await self._list(
                request,
                db,
                form=form,
                errors=struct_errors(exc, "username"),
                message="Fix the fields marked below.",
                status=422,
            )
        except (ValidationFailed, Conflict) as exc:
            errors = field_errors(exc) if isinstance(exc, ValidationFailed) else {"username": exc.detail}
            return await self._list(
                request,
                db,
                form=form,
                errors=errors or {"username": exc.detail},
                message=exc.detail,
                status=422,
            )
        return see_other(f"/ui/admin/users/{user.id}?created=1")

    async def _detail(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        user_id: str,
        *,
        created_token: Any = None,
        errors: dict[str, str] | None = None,
        message: str = "",
        status: int = 200,
    ) -> Template:
        user = users.to_out(await users.get(db, user_id))
        token_rows = await tokens.list_for(db, user_id, None, 100)
        memberships = []
        for ws, _ in await workspaces.list_for(db, "", True, None, 200):
            role = next((m.role for m in await users.members(db, ws) if m.user_id == user_id), None)
            if role:
                memberships.append({"slug": ws.slug, "name": ws.name, "role": role})
        return await page(
            request,
            db,
            "user.html",
            status=status,
            user=user,
            tokens=[tokens.to_out(t) for t in token_rows[:100]],
            created_token=created_token,
            errors=errors or {},
            message=message,
            memberships=memberships,
            roles=ROLES,
        )

    @get("/{user_id:str}", opt={"permission": "admin"})
    async def detail(self, request: Request[Any, Any, Any], db: AsyncSession, user_id: str) -> Template:
        return await self._detail(request, db, user_id)

    @post("/{user_id:str}", opt={"permission": "admin"})
    async def update(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, user_id: str
    ) -> Template | Redirect:
        form = await read_form(request)
        try:
            data = msgspec.convert(
                {
                    "display_name": str(form.get("display_name", "")),
                    "email": str(form.get("email", "")).strip() or None,
                    "disabled": bool(form.get("disabled")),
                    "is_admin": bool(form.get("is_admin")),
                },
                UserUpdate,
            )
            await users.update(db, lp, principal(request).actor(request), user_id, data)
        except msgspec.ValidationError as exc:
            return await self._detail(
                request,
                db,
                user_id,
                errors=struct_errors(exc, "display_name"),
                status=422,
                message="Fix the fields marked below.",
            )
        except (ValidationFailed, Conflict, PermissionDenied) as exc:
            return await self._detail(request, db, user_id, message=exc.detail, status=422)
        return see_other(f"/ui/admin/users/{user_id}?saved=1")

    @post("/{user_id:str}/password", opt={"permission": "admin"})
    async def reset_password(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, user_id: str
    ) -> Template | Redirect:
        form = await read_form(request)
        try:
            data = msgspec.convert({"new_password": str(form.get("new_password", ""))}, PasswordReset)
            await users.reset_password(db, lp, principal(request).actor(request), user_id, data.new_password)
        except msgspec.ValidationError:
            return await self._detail(
                request, db, user_id, errors={"new_password": "enter a new password"}, status=422
            )
        except ValidationFailed as exc:
            return await self._detail(request, db, user_id, errors={"new_password": exc.detail}, status=422)
        return see_other(f"/ui/admin/users/{user_id}?password=1")

    @post("/{user_id:str}/tokens", opt={"permission": "admin"})
    async def create_token(self, request: Request[Any, Any, Any], db: AsyncSession, user_id: str) -> Template:
        form = await read_form(request)
        who = principal(request)
        try:
            data = token_form(form)
            tokens.check_mint(who, data.scopes)
            created = await tokens.create(db, who.actor(request), user_id, data, service_account=True)
        except (msgspec.ValidationError, ValueError):
            return await self._detail(
                request, db, user_id, errors={"token_name": "give the token a name"}, status=422
            )
        except (ValidationFailed, PermissionDenied, NotFound) as exc:
            return await self._detail(request, db, user_id, message=exc.detail, status=422)
        return await self._detail(request, db, user_id, created_token=created)

    @post("/{user_id:str}/tokens/{token_id:str}/revoke", opt={"permission": "admin"})
    async def revoke_token(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, user_id: str, token_id: str
    ) -> Redirect:
        await read_form(request)
        await tokens.revoke(db, lp, principal(request).actor(request), user_id, token_id)
        return see_other(f"/ui/admin/users/{user_id}?revoked=1")


class AccountPages(Controller):
    """The signed-in user's own API tokens."""

    path = "/account"

    async def _page(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        *,
        created_token: Any = None,
        errors: dict[str, str] | None = None,
        message: str = "",
        status: int = 200,
    ) -> Template:
        rows = await tokens.list_for(db, principal(request).user_id, None, 100)
        return await page(
            request,
            db,
            "account.html",
            status=status,
            tokens=[tokens.to_out(t) for t in rows[:100]],
            created_token=created_token,
            errors=errors or {},
            message=message,
            roles=ROLES,
        )

    @get("/", opt={"permission": "authenticated"})
    async def account(self, request: Request[Any, Any, Any], db: AsyncSession) -> Template:
        return await self._page(request, db)

    @post("/tokens", opt={"permission": "authenticated"})
    async def create_token(self, request: Request[Any, Any, Any], db: AsyncSession) -> Template:
        form = await read_form(request)
        who = principal(request)
        try:
            data = token_form(form)
            tokens.check_mint(who, data.scopes)
            created = await tokens.create(db, who.actor(request), who.user_id, data)
        except (msgspec.ValidationError, ValueError):
            return await self._page(request, db, errors={"token_name": "give the token a name"}, status=422)
        except (ValidationFailed, PermissionDenied) as exc:
            return await self._page(request, db, message=exc.detail, status=422)
        return await self._page(request, db, created_token=created)

    @post("/tokens/{token_id:str}/revoke", opt={"permission": "authenticated"})
    async def revoke_token(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, token_id: str
    ) -> Redirect:
        await read_form(request)
        who = principal(request)
        await tokens.revoke(db, lp, who.actor(request), who.user_id, token_id)
        return see_other("/ui/account?revoked=1")


class MemberPages(Controller):
    """Who may do what in a workspace."""

    path = "/w/{ws:str}/members"

    async def _page(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        *,
        errors: dict[str, str] | None = None,
        message: str = "",
        form: dict[str, Any] | None = None,
        status: int = 200,
    ) -> Template:
        members = await users.members(db, workspace(request))
        return await page(
            request,
            db,
            "members.html",
            status=status,
            members=members,
            roles=ROLES,
            errors=errors or {},
            message=message,
            form=form or {},
        )

    @get("/", opt={"permission": "workspace:viewer"})
    async def list_page(self, request: Request[Any, Any, Any], db: AsyncSession, ws: str) -> Template:
        return await self._page(request, db)

    @post("/", opt={"permission": "workspace:admin"})
    async def set_member(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, ws: str
    ) -> Template | Redirect:
        form = await read_form(request)
        username = str(form.get("username", "")).strip()
        role = str(form.get("role", ""))
        if not username:
            return await self._page(request, db, errors={"username": "required"}, form=form, status=422)
        if role not in ROLES:
            return await self._page(request, db, errors={"role": "choose a role"}, form=form, status=422)
        try:
            await users.set_member(
                db, lp, principal(request).actor(request), workspace(request), username, role
            )
        except (NotFound, ValidationFailed, PermissionDenied, Conflict) as exc:
            return await self._page(request, db, errors={"username": exc.detail}, form=form, status=422)
        return see_other(f"/ui/w/{workspace(request).slug}/members?saved=1")

    @post("/{username:str}/remove", opt={"permission": "workspace:admin"})
    async def remove_member(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, ws: str, username: str
    ) -> Template | Redirect:
        await read_form(request)
        try:
            await users.remove_member(db, lp, principal(request).actor(request), workspace(request), username)
        except (NotFound, ValidationFailed, PermissionDenied) as exc:
            return await self._page(request, db, message=exc.detail, status=422)
        return see_other(f"/ui/w/{workspace(request).slug}/members?removed=1")


def _when(value: str | None, field: str, end: bool = False) -> dt.datetime | None:
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed(
            f"{field} must be a date", [{"field": field, "message": "not a date"}]
        ) from None
    if len(value) == 10 and end:
        moment += dt.timedelta(days=1)
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class AuditPages(Controller):
    path = "/admin/audit"

    @get("/", opt={"permission": "admin"})
    async def audit_page(
        self,
        request: Request[Any, Any, Any],
        db: AsyncSession,
        actor: str | None = None,
        action: str | None = None,
        workspace_id: str | None = None,
        outcome: str | None = None,
        since: str | None = None,
        until: str | None = None,
        cursor: str | None = None,
    ) -> Template:
        errors: dict[str, str] = {}
        rows: list[Any] = []
        limit = 100
        try:
            where = audit_services.AuditFilter(
                actor or None,
                action or None,
                workspace_id or None,
                outcome or None,
                _when(since, "since"),
                _when(until, "until", end=True),
            )
            rows = list(await audit_services.search(db, where, cursor, limit))
        except ValidationFailed as exc:
            errors = field_errors(exc) or {"since": exc.detail}
        ws_rows = await workspaces.list_for(db, "", True, None, 200)
        next_cursor = str(rows[limit - 1].seq) if len(rows) > limit else None
        export_query = {
            "actor": actor,
            "action": action,
            "workspace": workspace_id,
            "outcome": outcome,
            "since": (_iso(since) if since and not errors else None),
            "until": (_iso(until, end=True) if until and not errors else None),
        }
        from lakeplane.domain import audit

        return await page(
            request,
            db,
            "audit.html",
            status=422 if errors else 200,
            events=[audit.to_json(e) for e in rows[:limit]],
            errors=errors,
            outcomes=OUTCOMES,
            workspace_names={w.id: w.slug for w, _ in ws_rows},
            export_url=url("/api/v1/audit/export", **export_query),
            f={
                "actor": actor or "",
                "action": action or "",
                "workspace_id": workspace_id or "",
                "outcome": outcome or "",
                "since": since or "",
                "until": until or "",
            },
            **pager(request, next_cursor),
        )


def _iso(value: str, end: bool = False) -> str | None:
    moment = _when(value, "since", end)
    return moment.isoformat() if moment else None


CONTROLLERS = [UserPages, AccountPages, MemberPages, AuditPages]
