"""Administration: users, workspace members (roles), API tokens, the audit log."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, get, post
from litestar.response import Redirect, Template

from lakeplane.db.pagination import page as page_of
from lakeplane.domain.audit import services as audit_services
from lakeplane.domain.tokens import services as tokens
from lakeplane.domain.tokens.schemas import TokenCreate
from lakeplane.domain.users import services as users
from lakeplane.domain.users.schemas import PasswordReset
from lakeplane.domain.workspaces import services as workspaces
from lakeplane.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from lakeplane_ui import forms
from lakeplane_ui.web import FRESH, PAGE_SIZE, Outcome, View, see_other, url

ROLES = ("viewer", "editor", "admin")
OUTCOMES = ("success", "failure", "denied", "throttled")


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
        view: View,
        cursor: str | None = None,
        shown: Outcome = FRESH,
    ) -> Template:
        found = page_of(await users.list_users(view.db, cursor, PAGE_SIZE), PAGE_SIZE, users.to_out)
        return await view.paged("users.html", found, items="users", shown=shown)

    @get("/", opt={"permission": "admin"})
    async def list_page(self, view: View, cursor: str | None = None) -> Template:
        return await self._list(view, cursor)

    @post("/", opt={"permission": "admin"})
    async def create(self, view: View) -> Template | Redirect:
        form = await view.form()
        try:
            data = forms.UserForm(form).create()
            user = await users.create(view.db, view.lp, view.actor(), data)
        except msgspec.ValidationError as exc:
            return await self._list(
                view, None, Outcome(form, forms.struct_errors(exc, "username"), forms.FIX_FIELDS, 422)
            )
        except (ValidationFailed, Conflict) as exc:
            errors = (
                forms.field_errors(exc) if isinstance(exc, ValidationFailed) else {"username": exc.detail}
            )
            return await self._list(
                view, None, Outcome(form, errors or {"username": exc.detail}, exc.detail, 422)
            )
        return see_other(f"/ui/admin/users/{user.id}?created=1")

    async def _detail(
        self,
        view: View,
        user_id: str,
        shown: Outcome = FRESH,
        *,
        created_token: Any = None,
    ) -> Template:
        user = users.to_out(await users.get(view.db, user_id))
        token_rows = await tokens.list_for(view.db, user_id, None, 100)
        memberships = []
        for ws, _ in await workspaces.list_for(view.db, "", True, None, 200):
            role = next((m.role for m in await users.members(view.db, ws) if m.user_id == user_id), None)
            if role:
                memberships.append({"slug": ws.slug, "name": ws.name, "role": role})
        return await view.page(
            "user.html",
            shown,
            user=user,
            tokens=[tokens.to_out(t) for t in token_rows[:100]],
            created_token=created_token,
            memberships=memberships,
            roles=ROLES,
        )

    @get("/{user_id:str}", opt={"permission": "admin"})
    async def detail(self, view: View, user_id: str) -> Template:
        return await self._detail(view, user_id)

    @post("/{user_id:str}", opt={"permission": "admin"})
    async def update(self, view: View, user_id: str) -> Template | Redirect:
        form = await view.form()
        try:
            data = forms.UserForm(form).update()
            await users.update(view.db, view.lp, view.actor(), user_id, data)
        except msgspec.ValidationError as exc:
            refused = Outcome(
                errors=forms.struct_errors(exc, "display_name"), message=forms.FIX_FIELDS, status=422
            )
            return await self._detail(view, user_id, refused)
        except (ValidationFailed, Conflict, PermissionDenied) as exc:
            return await self._detail(view, user_id, Outcome(message=exc.detail, status=422))
        return see_other(f"/ui/admin/users/{user_id}?saved=1")

    @post("/{user_id:str}/password", opt={"permission": "admin"})
    async def reset_password(self, view: View, user_id: str) -> Template | Redirect:
        form = await view.form()
        try:
            data = msgspec.convert({"new_password": str(form.get("new_password", ""))}, PasswordReset)
            await users.reset_password(view.db, view.lp, view.actor(), user_id, data.new_password)
        except msgspec.ValidationError:
            return await self._detail(
                view, user_id, Outcome(errors={"new_password": "enter a new password"}, status=422)
            )
        except ValidationFailed as exc:
            return await self._detail(view, user_id, Outcome(errors={"new_password": exc.detail}, status=422))
        return see_other(f"/ui/admin/users/{user_id}?password=1")

    @post("/{user_id:str}/tokens", opt={"permission": "admin"})
    async def create_token(self, view: View, user_id: str) -> Template:
        form = await view.form()
        who = view.principal
        try:
            data = token_form(form)
            tokens.check_mint(who, data.scopes)
            created = await tokens.create(view.db, view.actor(), user_id, data, service_account=True)
        except (msgspec.ValidationError, ValueError):
            return await self._detail(
                view, user_id, Outcome(errors={"token_name": "give the token a name"}, status=422)
            )
        except (ValidationFailed, PermissionDenied, NotFound) as exc:
            return await self._detail(view, user_id, Outcome(message=exc.detail, status=422))
        return await self._detail(view, user_id, created_token=created)

    @post("/{user_id:str}/tokens/{token_id:str}/revoke", opt={"permission": "admin"})
    async def revoke_token(self, view: View, user_id: str, token_id: str) -> Redirect:
        await view.form()
        await tokens.revoke(view.db, view.lp, view.actor(), user_id, token_id)
        return see_other(f"/ui/admin/users/{user_id}?revoked=1")


class AccountPages(Controller):
    """The signed-in user's own API tokens."""

    path = "/account"

    async def _page(self, view: View, shown: Outcome = FRESH, *, created_token: Any = None) -> Template:
        rows = await tokens.list_for(view.db, view.principal.user_id, None, 100)
        return await view.page(
            "account.html",
            shown,
            tokens=[tokens.to_out(t) for t in rows[:100]],
            created_token=created_token,
            roles=ROLES,
        )

    @get("/", opt={"permission": "authenticated"})
    async def account(self, view: View) -> Template:
        return await self._page(view)

    @post("/tokens", opt={"permission": "authenticated"})
    async def create_token(self, view: View) -> Template:
        form = await view.form()
        who = view.principal
        try:
            data = token_form(form)
            tokens.check_mint(who, data.scopes)
            created = await tokens.create(view.db, view.actor(), who.user_id, data)
        except (msgspec.ValidationError, ValueError):
            return await self._page(view, Outcome(errors={"token_name": "give the token a name"}, status=422))
        except (ValidationFailed, PermissionDenied) as exc:
            return await self._page(view, Outcome(message=exc.detail, status=422))
        return await self._page(view, created_token=created)

    @post("/tokens/{token_id:str}/revoke", opt={"permission": "authenticated"})
    async def revoke_token(self, view: View, token_id: str) -> Redirect:
        await view.form()
        await tokens.revoke(view.db, view.lp, view.actor(), view.principal.user_id, token_id)
        return see_other("/ui/account?revoked=1")


class MemberPages(Controller):
    """Who may do what in a workspace."""

    path = "/w/{ws:str}/members"

    async def _page(self, view: View, shown: Outcome = FRESH) -> Template:
        members = await users.members(view.db, view.workspace)
        return await view.page("members.html", shown, members=members, roles=ROLES)

    @get("/", opt={"permission": "workspace:viewer"})
    async def list_page(self, view: View) -> Template:
        return await self._page(view)

    @post("/", opt={"permission": "workspace:admin"})
    async def set_member(self, view: View) -> Template | Redirect:
        form = await view.form()
        username = str(form.get("username", "")).strip()
        role = str(form.get("role", ""))
        if not username:
            return await self._page(view, Outcome(form, {"username": "required"}, status=422))
        if role not in ROLES:
            return await self._page(view, Outcome(form, {"role": "choose a role"}, status=422))
        try:
            await users.set_member(view.db, view.lp, view.actor(), view.workspace, username, role)
        except (NotFound, ValidationFailed, PermissionDenied, Conflict) as exc:
            return await self._page(view, Outcome(form, {"username": exc.detail}, status=422))
        return see_other(f"/ui/w/{view.workspace.slug}/members?saved=1")

    @post("/{username:str}/remove", opt={"permission": "workspace:admin"})
    async def remove_member(self, view: View, username: str) -> Template | Redirect:
        await view.form()
        try:
            await users.remove_member(view.db, view.lp, view.actor(), view.workspace, username)
        except (NotFound, ValidationFailed, PermissionDenied) as exc:
            return await self._page(view, Outcome(message=exc.detail, status=422))
        return see_other(f"/ui/w/{view.workspace.slug}/members?removed=1")


class AuditPages(Controller):
    path = "/admin/audit"

    @get("/", opt={"permission": "admin"})
    async def audit_page(
        self,
        view: View,
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
                forms.moment(since, "since"),
                forms.moment(until, "until", end=True),
            )
            rows = list(await audit_services.search(view.db, where, cursor, limit))
        except ValidationFailed as exc:
            errors = forms.field_errors(exc) or {"since": exc.detail}
        ws_rows = await workspaces.list_for(view.db, "", True, None, 200)
        export_query = {
            "actor": actor,
            "action": action,
            "workspace": workspace_id,
            "outcome": outcome,
            "since": (_iso(since) if since and not errors else None),
            "until": (_iso(until, end=True) if until and not errors else None),
        }
        from lakeplane.domain import audit

        found = page_of(rows, limit, audit.to_json, id_of=lambda e: str(e.seq))
        return await view.paged(
            "audit.html",
            found,
            items="events",
            shown=Outcome(errors=errors, status=422 if errors else 200),
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
        )


def _iso(value: str, end: bool = False) -> str | None:
    found = forms.moment(value, "since", end=end)
    return found.isoformat() if found else None


CONTROLLERS = [UserPages, AccountPages, MemberPages, AuditPages]
