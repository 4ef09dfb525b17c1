"""``/api/v1/auth``: sign in and out, who am I, password change, bootstrap, single sign-on."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import Cookie
from litestar.exceptions import HTTPException
from litestar.response import Redirect
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.domain import audit
from lakeplane.domain.auth import services
from lakeplane.domain.auth.principals import client_ip
from lakeplane.domain.auth.schemas import (
    BootstrapRequest,
    LoginRequest,
    MeOut,
    PasswordChange,
    SessionOut,
    SsoBeginOut,
)
from lakeplane.domain.users.schemas import UserOut
from lakeplane.domain.users.services import to_out as user_out
from lakeplane.runtime import Services
from lakeplane.web.context import Caller
from lakeplane.web.guards import SESSION_COOKIE

CALLBACK_PATH = "/api/v1/auth/sso/callback"


def anonymous(request: Request[Any, Any, Any], name: str = "anonymous") -> audit.Actor:
    return audit.Actor(
        id=None,
        name=name,
        source_ip=client_ip(request),
        request_id=request.scope.get("state", {}).get("request_id"),
    )


def require_json(request: Request[Any, Any, Any]) -> None:
    """Refuse other bodies: a cross-site HTML form can send ``text/plain`` but never JSON,
    so this stops another site from signing a browser in to an account of its choosing.
    """
    if request.content_type[0] != "application/json":
        raise HTTPException(status_code=415, detail="send the body as application/json")


def session_cookie(lp: Services, new: services.NewSession) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=new.cookie,
        path="/",
        httponly=True,
        samesite="lax",
        secure=lp.config.server.tls,
        max_age=lp.config.security.session_absolute_hours * 3600,
    )


def cleared(lp: Services, key: str = SESSION_COOKIE) -> Cookie:
    return Cookie(
        key=key, value="", path="/", httponly=True, samesite="lax", secure=lp.config.server.tls, max_age=0
    )


def hint_cookie(lp: Services, hint: str) -> Cookie:
    """The identity provider's sign-out hint (its ID token), sent back only at sign-out."""
    return Cookie(
        key=services.SSO_HINT_COOKIE,
        value=hint,
        path="/",
        httponly=True,
        samesite="lax",
        secure=lp.config.server.tls,
        max_age=lp.config.security.session_absolute_hours * 3600,
    )


def session_out(new: services.NewSession) -> SessionOut:
    return SessionOut(
        user_id=new.user.id,
        username=new.user.username,
        is_admin=new.user.is_admin,
        csrf_token=new.session.csrf_token,
        expires_at=new.session.expires_at,
    )


def _redirect_uri(lp: Services, request: Request[Any, Any, Any]) -> str:
    base = lp.config.server.public_url or str(request.base_url)
    return base.rstrip("/") + CALLBACK_PATH


class AuthController(Controller):
    path = "/api/v1/auth"
    tags = ["auth"]

    @post("/login", operation_id="login", status_code=200, opt={"permission": "public"})
    async def login(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, data: LoginRequest
    ) -> Response[SessionOut]:
        """Password sign-in. Every failure is the same 401; too many failures give 429."""
        require_json(request)
        new = await services.login(
            db,
            lp,
            anonymous(request),
            data.username,
            data.password,
            request.cookies.get(SESSION_COOKIE),
            request.headers.get("user-agent", ""),
        )
        return Response(session_out(new), cookies=[session_cookie(lp, new)])

    @post("/logout", operation_id="logout", status_code=204, opt={"permission": "authenticated"})
    async def logout(self, caller: Caller) -> Response[None]:
        await services.logout(caller.db, caller.principal, caller.actor)
        return Response(None, status_code=204, cookies=[cleared(caller.lp)])

    @get("/me", operation_id="me", opt={"permission": "authenticated"})
    async def me(self, caller: Caller) -> MeOut:
        who = caller.principal
        user = await services.get_user(caller.db, who.user_id)
        return MeOut(
            user_id=user.id,
            username=user.username,
            display_name=user.display_name,
            is_admin=user.is_admin,
            is_service_account=user.is_service_account,
            via=who.via,
            csrf_token=who.csrf_token,
            workspaces=await services.roles_of(caller.db, user.id),
            scopes=list(who.scopes),
        )

    @post("/password", operation_id="changePassword", status_code=200, opt={"permission": "authenticated"})
    async def change_password(
        self, request: Request[Any, Any, Any], caller: Caller, data: PasswordChange
    ) -> Response[SessionOut | None]:
        """Every session and token of the user ends; a browser gets a fresh session in the reply."""
        fresh = await services.change_password(
            caller.db,
            caller.lp,
            caller.principal,
            caller.actor,
            data.current_password,
            data.new_password,
            request.headers.get("user-agent", ""),
        )
        if fresh is None:
            return Response(None, status_code=204)
        return Response(session_out(fresh), cookies=[session_cookie(caller.lp, fresh)])

    @post("/bootstrap", operation_id="bootstrap", status_code=201, opt={"permission": "public"})
    async def bootstrap(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services, data: BootstrapRequest
    ) -> UserOut:
        """Create the first admin with ``$LAKEPLANE_BOOTSTRAP_TOKEN``; works once, then 404."""
        require_json(request)
        user = await services.bootstrap(db, lp, anonymous(request), data.token, data.username, data.password)
        return user_out(user)

    @post("/sso/begin", operation_id="ssoBegin", status_code=200, opt={"permission": "public"})
    async def sso_begin(self, request: Request[Any, Any, Any], lp: Services) -> Response[SsoBeginOut]:
        """Start a redirect sign-in (OIDC); 404 unless such a provider is configured."""
        url, state = await services.sso_begin(lp, _redirect_uri(lp, request))
        cookie = Cookie(
            key=services.SSO_COOKIE,
            value=state,
            path=CALLBACK_PATH,
            httponly=True,
            samesite="lax",
            secure=lp.config.server.tls,
            max_age=services.SSO_STATE_SECONDS,
        )
        return Response(SsoBeginOut(url=url), cookies=[cookie])

    @get("/sso/callback", operation_id="ssoCallback", opt={"permission": "public", "sign_in_callback": True})
    async def sso_callback(self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services) -> Redirect:
        """The provider sends the browser here. This is the one GET that signs someone in,
        because OAuth 2.0 redirects are GETs; it acts only on a state cookie this service signed.
        """
        new = await services.sso_complete(
            db,
            lp,
            anonymous(request),
            _redirect_uri(lp, request),
            dict(request.query_params),
            request.cookies.get(services.SSO_COOKIE),
            request.cookies.get(SESSION_COOKIE),
            request.headers.get("user-agent", ""),
        )
        cookies = [session_cookie(lp, new), cleared(lp, services.SSO_COOKIE)]
        if new.provider_hint:
            cookies.append(hint_cookie(lp, new.provider_hint))
        return Redirect("/", cookies=cookies)
