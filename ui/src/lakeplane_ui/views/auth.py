"""Sign-in and sign-out, through the same auth services as ``/api/v1/auth``."""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Controller, Request, get, post
from litestar.datastructures import Cookie
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from lakeplane.domain.auth import services
from lakeplane.domain.auth.controllers import anonymous
from lakeplane.errors import (
    NotAuthenticated,
    NotFound,
    PermissionDenied,
    ServiceUnavailable,
    TooManyRequests,
    ValidationFailed,
)
from lakeplane.interfaces import PasswordAuthProvider, RedirectAuthProvider
from lakeplane.runtime import Services
from lakeplane.web.guards import SESSION_COOKIE, principal
from lakeplane_ui.web import SIGNIN_CSRF_COOKIE, new_signin_token, page, see_other


def safe_next(target: str | None) -> str:
    """Only a path inside the UI: never another site (``//evil``) or scheme."""
    if target and target.startswith("/ui/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/ui/"


def _cookie(lp: Services, key: str, value: str, max_age: int | None, path: str = "/") -> Cookie:
    return Cookie(
        key=key,
        value=value,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite="lax",
        secure=lp.config.server.tls,
    )


SSO_CALLBACK = "/ui/sso/callback"


def _base(lp: Services, request: Request[Any, Any, Any]) -> str:
    return (lp.config.server.public_url or str(request.base_url)).rstrip("/")


def sign_in_choices(lp: Services) -> tuple[str | None, bool]:
    """The single sign-on button's provider name (``None``: no button), and whether the
    password form is offered."""
    provider = services.auth_provider(lp)
    if isinstance(provider, RedirectAuthProvider):
        return provider.display_name, provider.password_fallback is not None
    return None, isinstance(provider, PasswordAuthProvider)


class SignInPages(Controller):
    path = "/"

    async def _form(
        self,
        request: Request[Any, Any, Any],
        lp: Services,
        *,
        message: str = "",
        username: str = "",
        status: int = 200,
    ) -> Template:
        token = new_signin_token()
        sso_name, password_sign_in = sign_in_choices(lp)
        response = await page(
            request,
            None,
            "signin.html",
            status=status,
            message=message,
            username=username,
            signin_csrf=token,
            next=safe_next(request.query_params.get("next")),
            signed_out=bool(request.query_params.get("signed_out")),
            sso_name=sso_name,
            password_sign_in=password_sign_in,
        )
        response.cookies.append(_cookie(lp, SIGNIN_CSRF_COOKIE, token, 3600, path="/ui/signin"))
        return response

    @get("/signin", opt={"permission": "public"})
    async def signin_page(self, request: Request[Any, Any, Any], lp: Services) -> Template:
        return await self._form(request, lp)

    @post("/signin", opt={"permission": "public"})
    async def signin(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services
    ) -> Template | Redirect:
        form = await request.form()
        username = str(form.get("username", "")).strip()
        password = str(form.get("password", ""))
        sent = str(form.get("signin_csrf", ""))
        expected = request.cookies.get(SIGNIN_CSRF_COOKIE, "")
        if not sent or not expected or not hmac.compare_digest(sent, expected):
            return await self._form(
                request,
                lp,
                message="The sign-in form expired; please try again.",
                username=username,
                status=403,
            )
        if not username or not password:
            return await self._form(
                request, lp, message="Enter your user name and password.", username=username, status=422
            )
        try:
            new = await services.login(
                db,
                lp,
                anonymous(request, username),
                username,
                password,
                request.cookies.get(SESSION_COOKIE),
                request.headers.get("user-agent", ""),
            )
        except NotAuthenticated as exc:
            return await self._form(request, lp, message=exc.detail, username=username, status=401)
        except TooManyRequests as exc:
            return await self._form(request, lp, message=exc.detail, username=username, status=429)
        except (ValidationFailed, NotFound) as exc:
            return await self._form(request, lp, message=exc.detail, username=username, status=422)
        max_age = lp.config.security.session_absolute_hours * 3600
        response = see_other(safe_next(str(form.get("next", ""))))
        response.cookies.append(_cookie(lp, SESSION_COOKIE, new.cookie, max_age))
        response.cookies.append(_cookie(lp, SIGNIN_CSRF_COOKIE, "", 0, path="/ui/signin"))
        return response

    @get("/sso", opt={"permission": "public"})
    async def sso_begin(self, request: Request[Any, Any, Any], lp: Services) -> Template | Redirect:
        """The "Sign in with ..." button: off to the identity provider."""
        try:
            target, state = await services.sso_begin(lp, _base(lp, request) + SSO_CALLBACK)
        except ServiceUnavailable as exc:
            return await self._form(
                request, lp, message=f"Single sign-on is unavailable: {exc.detail}.", status=503
            )
        except NotFound as exc:
            return await self._form(request, lp, message=exc.detail, status=404)
        response = Redirect(path=target, status_code=303)
        response.cookies.append(
            _cookie(lp, services.SSO_COOKIE, state, services.SSO_STATE_SECONDS, SSO_CALLBACK)
        )
        return response

    @get("/sso/callback", opt={"permission": "public", "sign_in_callback": True})
    async def sso_callback(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services
    ) -> Template | Redirect:
        """The identity provider sends the browser back here; every refusal is a page that says why."""
        try:
            new = await services.sso_complete(
                db,
                lp,
                anonymous(request),
                _base(lp, request) + SSO_CALLBACK,
                dict(request.query_params),
                request.cookies.get(services.SSO_COOKIE),
                request.cookies.get(SESSION_COOKIE),
                request.headers.get("user-agent", ""),
            )
        except (NotAuthenticated, PermissionDenied, ServiceUnavailable, NotFound) as exc:
            refused = await self._form(
                request, lp, message=f"Single sign-on failed: {exc.detail}.", status=exc.status
            )
            refused.cookies.append(_cookie(lp, services.SSO_COOKIE, "", 0, SSO_CALLBACK))
            return refused
        max_age = lp.config.security.session_absolute_hours * 3600
        response = see_other("/ui/")
        response.cookies.append(_cookie(lp, SESSION_COOKIE, new.cookie, max_age))
        response.cookies.append(_cookie(lp, services.SSO_COOKIE, "", 0, SSO_CALLBACK))
        if new.provider_hint:
            response.cookies.append(_cookie(lp, services.SSO_HINT_COOKIE, new.provider_hint, max_age))
        return response

    @post("/signout", opt={"permission": "authenticated"})
    async def signout(
        self, request: Request[Any, Any, Any], db: AsyncSession, lp: Services
    ) -> Template | Redirect:
        """Signs out here, and at the identity provider too after a single sign-on.

        The identity provider is reached from a page of its own rather than by redirecting
        this form's answer, which the ``form-action 'self'`` policy would stop."""
        me = principal(request)
        await services.logout(db, me, me.actor(request))
        signed_out = _base(lp, request) + "/ui/signin?signed_out=1"
        hint = request.cookies.get(services.SSO_HINT_COOKIE)
        elsewhere = await services.sso_logout_url(lp, signed_out, hint) if hint else None
        response: Template | Redirect
        if elsewhere is None:
            response = see_other("/ui/signin?signed_out=1")
        else:
            request.state.principal = None
            response = await page(
                request, None, "signout_sso.html", logout_url=elsewhere, sso_name=sign_in_choices(lp)[0]
            )
        response.cookies.append(_cookie(lp, SESSION_COOKIE, "", 0))
        response.cookies.append(_cookie(lp, services.SSO_HINT_COOKIE, "", 0))
        return response


CONTROLLERS = [SignInPages]
