# Long module: password and redirect sign-in share one session, throttle and role-mapping path; split, each half would import the other.
"""Signing in: password and redirect logins, sessions, password change, bootstrap.

The auth provider only says who someone is (:class:`~lakeplane.interfaces.Identity`);
everything else happens here: throttling before the provider is asked, the
session, the audit event, and the same answer for every kind of failure so that
no response tells whether a user name exists.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import hmac
import os
import secrets
import time
from typing import Any

import msgspec
from sqlalchemy import and_, delete, exists, or_, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from lakeplane.db import locks
from lakeplane.db.models import AuditEvent, RoleBinding, User, UserSession, Workspace
from lakeplane.domain import audit
from lakeplane.domain.auth import throttle
from lakeplane.domain.auth.principals import Principal, forget_user, hash_secret
from lakeplane.errors import Conflict, NotAuthenticated, NotFound, PermissionDenied, TooManyRequests
from lakeplane.ids import new_id
from lakeplane.interfaces import AuthProvider, Identity, StoredCredential
from lakeplane.interfaces.auth import PasswordAuthProvider, RedirectAuthProvider
from lakeplane.runtime import Services
from lakeplane.timeutil import utcnow

BOOTSTRAP_ENV = "LAKEPLANE_BOOTSTRAP_TOKEN"
MIN_BOOTSTRAP_CHARS = 32
SSO_COOKIE = "lakeplane_sso"
SSO_HINT_COOKIE = "lakeplane_sso_hint"
SSO_STATE_SECONDS = 600
#: The one answer to every failed login: unknown user, wrong password, disabled user.
LOGIN_FAILED = "invalid user name or password"
_BOOTSTRAP_LOCK = text(f"SELECT pg_advisory_xact_lock({locks.BOOTSTRAP})")


class DbCredentialStore:
    """What a password provider may see of the ``users`` table: its own users' hashes."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], provider: str) -> None:
        self.sessions = sessions
        self.provider = provider

    async def get_credential(self, username: str) -> StoredCredential | None:
        async with self.sessions() as db:
            user = await db.scalar(
                select(User).where(User.username == username, User.auth_provider == self.provider)
            )
        if user is None or user.is_service_account:
            return None
        return StoredCredential(
            user_id=user.id, username=user.username, password_hash=user.password_hash, disabled=user.disabled
        )

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
        """Used for re-hashing with new parameters: same password, so sessions live on."""
        async with self.sessions() as db, db.begin():
            await db.execute(update(User).where(User.id == user_id).values(password_hash=password_hash))


def auth_provider(lp: Services) -> AuthProvider:
    """The configured provider, built once per process and bound to the user store."""
    found = lp.caches.get("auth_provider")
    if isinstance(found, AuthProvider):
        return found
    selected = lp.selection.auth
    provider = selected.impl.cls(selected.impl.cls.Params(), selected.options)
    assert isinstance(provider, AuthProvider)
    provider.bind(DbCredentialStore(lp.sessions, provider.name))
    lp.caches["auth_provider"] = provider
    return provider


def password_provider(lp: Services) -> PasswordAuthProvider:
    """The provider that checks passwords: the configured one, or the one a redirect
    provider offers beside itself (a break-glass administrator); 404 when there is none."""
    provider = auth_provider(lp)
    if isinstance(provider, PasswordAuthProvider):
        return provider
    fallback = provider.password_fallback if isinstance(provider, RedirectAuthProvider) else None
    if fallback is None:
        raise NotFound("password sign-in is not enabled")
    found = lp.caches.get("password_provider")
    if isinstance(found, PasswordAuthProvider):
        return found
    impl = lp.plugins.registry.get("auth", fallback, "auth.options.local_sign_in")
    made = impl.cls(impl.cls.Params(), impl.cls.Options())
    if not isinstance(made, PasswordAuthProvider):
        raise NotFound("password sign-in is not enabled")
    made.bind(DbCredentialStore(lp.sessions, made.name))
    lp.caches["password_provider"] = made
    return made


def redirect_provider(lp: Services) -> RedirectAuthProvider:
    provider = auth_provider(lp)
    if not isinstance(provider, RedirectAuthProvider):
        raise NotFound("single sign-on is not enabled")
    return provider


@dataclasses.dataclass(frozen=True)
class NewSession:
    #: The cookie value; only its SHA-256 is stored.
    cookie: str
    session: UserSession
    user: User
    #: What a redirect provider wants back at sign-out (see ``Identity.session_hint``).
    provider_hint: str | None = None


async def login(
    db: AsyncSession,
    lp: Services,
    who: audit.Actor,
    username: str,
    password: str,
    old_cookie: str | None,
    user_agent: str = "",
) -> NewSession:
    """Check a password login; throttled, audited, and a fresh session id every time."""
    provider = password_provider(lp)
    provider.check_password(password)
    limits = throttle.limits_for(username, who.source_ip)
    attempt = dataclasses.replace(who, id=None, name=username)
    await _refuse_if_throttled(db, limits, attempt, "auth.login")
    identity = await provider.authenticate(username, password)
    async with db.begin():
        user = await user_for_identity(db, identity) if identity else None
        if user is None or user.disabled or user.is_service_account:
            await throttle.fail(db, limits)
            await audit.record(db, attempt, audit.Entry("auth.login", target_type="user", outcome="failure"))
            new = None
        else:
            await throttle.clear(db, limits[0])
            new = await _open_session(db, lp, user, who, old_cookie, user_agent, "auth.login")
    if new is None:
        raise NotAuthenticated(LOGIN_FAILED)
    return new


async def _refuse_if_throttled(
    db: AsyncSession, limits: list[throttle.Limit], attempt: audit.Actor, action: str
) -> None:
    refused: TooManyRequests | None = None
    async with db.begin():
        try:
            await throttle.check(db, limits)
        except TooManyRequests as exc:
            refused = exc
            await audit.record(db, attempt, audit.Entry(action, target_type="user", outcome="throttled"))
    if refused is not None:
        raise refused


async def user_for_identity(
    db: AsyncSession, identity: Identity, *, create: bool = True, service_account: bool = False
) -> User | None:
    """The user an identity belongs to; a redirect provider's new identity becomes a new
    user unless ``create`` is off.

    Local users are matched by id (their provider's subject); others by
    ``(auth_provider, subject)``, never by name. Roles are applied by :func:`apply_roles`.
    """
    user = await db.scalar(
        select(User).where(
            User.auth_provider == identity.provider,
            or_(User.subject == identity.subject, and_(User.subject.is_(None), User.id == identity.subject)),
        )
    )
    if user is not None:
        return user
    if identity.provider == "local" or not create:
        return None
    user = User(
        id=new_id("usr"),
        username=identity.username,
        display_name=identity.display_name,
        email=identity.email,
        auth_provider=identity.provider,
        subject=identity.subject,
        is_service_account=service_account,
    )
    try:
        async with db.begin_nested():
            db.add(user)
            await db.flush()
    except IntegrityError:
        raise Conflict("a different user already has this user name; ask an administrator") from None
    return user


async def _open_session(
    db: AsyncSession,
    lp: Services,
    user: User,
    who: audit.Actor,
    old_cookie: str | None,
    user_agent: str,
    action: str,
) -> NewSession:
    now = utcnow()
    if old_cookie:
        await db.execute(delete(UserSession).where(UserSession.id == hash_secret(old_cookie)))
    await db.execute(delete(UserSession).where(UserSession.user_id == user.id, UserSession.expires_at <= now))
    cookie = secrets.token_urlsafe(32)
    session = UserSession(
        id=hash_secret(cookie),
        user_id=user.id,
        csrf_token=secrets.token_urlsafe(32),
        credential_epoch=user.credential_epoch,
        source_ip=who.source_ip,
        user_agent=user_agent[:400] or None,
        created_at=now,
        last_seen_at=now,
        expires_at=now + dt.timedelta(hours=lp.config.security.session_absolute_hours),
    )
    db.add(session)
    await db.execute(update(User).where(User.id == user.id).values(last_login_at=now))
    actor = dataclasses.replace(who, id=user.id, name=user.username, is_admin=user.is_admin)
    await audit.record(db, actor, audit.Entry(action, target_type="user", target_id=user.id))
    return NewSession(cookie, session, user)


async def logout(db: AsyncSession, principal: Principal, who: audit.Actor) -> None:
    async with db.begin():
        if principal.via == "session":
            await db.execute(delete(UserSession).where(UserSession.id == principal.credential_id))
        await audit.record(
            db, who, audit.Entry("auth.logout", target_type="user", target_id=principal.user_id)
        )


async def change_password(
    db: AsyncSession,
    lp: Services,
    principal: Principal,
    who: audit.Actor,
    current: str,
    new: str,
    user_agent: str = "",
) -> NewSession | None:
    """Change one's own password: every session and token of the user ends; a session
    caller gets a fresh one."""
    provider = password_provider(lp)
    provider.check_password(current)
    limits = throttle.limits_for(principal.username, who.source_ip)
    await _refuse_if_throttled(db, limits, who, "user.password_change")
    new_hash = await provider.hash_password(new)
    identity = await provider.authenticate(principal.username, current)
    if identity is None or identity.subject != principal.user_id:
        async with db.begin():
            await throttle.fail(db, limits)
            await audit.record(
                db,
                who,
                audit.Entry(
                    "user.password_change",
                    target_type="user",
                    target_id=principal.user_id,
                    outcome="failure",
                ),
            )
        raise PermissionDenied("the current password is wrong")
    async with db.begin():
        user = await end_credentials(db, principal.user_id, password_hash=new_hash)
        await audit.record(
            db, who, audit.Entry("user.password_change", target_type="user", target_id=user.id)
        )
        fresh = None
        if principal.via == "session":
            fresh = await _open_session(db, lp, user, who, None, user_agent, "auth.session_renew")
    forget_user(lp, user.id)
    return fresh


async def end_credentials(db: AsyncSession, user_id: str, **changes: Any) -> User:
    """Apply ``changes`` to a user and bump its epoch: every session and token dies.

    Runs in the caller's transaction; call :func:`~lakeplane.domain.auth.principals.forget_user`
    after it commits.
    """
    user = await db.get(User, user_id, with_for_update=True)
    if user is None:
        raise NotFound("user not found")
    for field, value in changes.items():
        setattr(user, field, value)
    user.credential_epoch += 1
    await db.execute(delete(UserSession).where(UserSession.user_id == user_id))
    await db.flush()
    return user


async def bootstrap(
    db: AsyncSession, lp: Services, who: audit.Actor, secret: str, username: str, password: str
) -> User:
    """Create the first admin with the one-time secret from ``$LAKEPLANE_BOOTSTRAP_TOKEN``.

    Works once: refused as soon as any admin exists or a bootstrap has succeeded.
    Every refusal looks the same (404), whether the secret is unset, wrong or spent.
    """
    unavailable = NotFound("bootstrap is not available")
    limits = [throttle.Limit(f"bootstrap:source:{who.source_ip or 'unknown'}", 5, dt.timedelta(minutes=5))]
    attempt = dataclasses.replace(who, id=None, name=username)
    await _refuse_if_throttled(db, limits, attempt, "auth.bootstrap")
    expected = os.environ.get(BOOTSTRAP_ENV, "")
    if len(expected) < MIN_BOOTSTRAP_CHARS or not hmac.compare_digest(secret.encode(), expected.encode()):
        async with db.begin():
            await throttle.fail(db, limits)
            await audit.record(db, attempt, audit.Entry("auth.bootstrap", outcome="failure"))
        raise unavailable
    password_hash = await password_provider(lp).hash_password(password)
    async with db.begin():
        await db.execute(_BOOTSTRAP_LOCK)
        spent = await db.scalar(
            select(
                exists().where(User.is_admin.is_(True))
                | exists().where(AuditEvent.action == "auth.bootstrap", AuditEvent.outcome == "success")
            )
        )
        if not spent:
            user = await create_admin(db, attempt, username, password_hash, "auth.bootstrap")
    if spent:
        raise unavailable
    return user


async def create_admin(
    db: AsyncSession, who: audit.Actor, username: str, password_hash: str, action: str
) -> User:
    """Insert a global admin (in the caller's transaction); 409 when the name is taken."""
    user = User(
        id=new_id("usr"), username=username, display_name=username, password_hash=password_hash, is_admin=True
    )
    try:
        async with db.begin_nested():
            db.add(user)
            await db.flush()
    except IntegrityError:
        raise Conflict(f"user {username!r} already exists") from None
    await audit.record(
        db, who, audit.Entry(action, target_type="user", target_id=user.id, details={"username": username})
    )
    return user


# Redirect (OIDC) logins. The state the provider needs back travels in a signed,
# short-lived cookie, so no table is needed and any API process can finish the login.


def _sign(lp: Services, payload: bytes) -> str:
    mac = hmac.new(lp.config.security.session_key.encode(), payload, hashlib.sha256).digest()
    return f"{base64.urlsafe_b64encode(payload).decode()}.{base64.urlsafe_b64encode(mac).decode()}"


def _unsign(lp: Services, value: str) -> dict[str, Any]:
    try:
        body, mac = value.split(".", 1)
        payload = base64.urlsafe_b64decode(body)
        expected = base64.urlsafe_b64decode(_sign(lp, payload).split(".", 1)[1])
        if not hmac.compare_digest(expected, base64.urlsafe_b64decode(mac)):
            raise ValueError("bad signature")
        data = msgspec.json.decode(payload, type=dict[str, Any])
    except (ValueError, msgspec.DecodeError):
        raise NotAuthenticated("the sign-in attempt is not valid; start again") from None
    if not isinstance(data.get("exp"), int | float) or data["exp"] < time.time():
        raise NotAuthenticated("the sign-in attempt expired; start again")
    return data


async def sso_begin(lp: Services, redirect_uri: str) -> tuple[str, str]:
    """The provider's URL, and the signed cookie to set until the callback."""
    provider = redirect_provider(lp)
    redirect = await provider.begin_login(redirect_uri)
    payload = msgspec.json.encode({"state": redirect.state, "exp": int(time.time()) + SSO_STATE_SECONDS})
    return redirect.url, _sign(lp, payload)


#: Why an identity the provider vouched for is still refused, in words a person can act on.
UNKNOWN_USER = "you have no Lakeplane account yet; ask an administrator to create one"
DISABLED_USER = "this account is disabled"
NO_ROLE = "your account has no role in Lakeplane; ask an administrator for access"


async def sso_complete(
    db: AsyncSession,
    lp: Services,
    who: audit.Actor,
    redirect_uri: str,
    params: dict[str, str],
    state_cookie: str | None,
    old_cookie: str | None,
    user_agent: str = "",
) -> NewSession:
    provider = redirect_provider(lp)
    if not state_cookie:
        raise NotAuthenticated("the sign-in attempt is not valid; start again")
    state = _unsign(lp, state_cookie).get("state", {})
    try:
        identity = await provider.complete_login(
            redirect_uri, params, state if isinstance(state, dict) else {}
        )
    except NotAuthenticated:
        async with db.begin():
            await audit.record(
                db, dataclasses.replace(who, id=None), audit.Entry("auth.login", outcome="failure")
            )
        raise
    refusal: NotAuthenticated | PermissionDenied | None = None
    async with db.begin():
        user, refusal = await admit(db, lp, provider, identity, who)
        if user is not None and refusal is None:
            new = await _open_session(db, lp, user, who, old_cookie, user_agent, "auth.login")
    if user is not None:
        forget_user(lp, user.id)
    if refusal is not None:
        raise refusal
    return dataclasses.replace(new, provider_hint=identity.session_hint)


async def sso_logout_url(lp: Services, post_logout_redirect_uri: str, hint: str | None) -> str | None:
    """Where to send a browser that signed out here, to sign it out of the identity provider."""
    provider = auth_provider(lp)
    if not isinstance(provider, RedirectAuthProvider):
        return None
    return await provider.logout_url(post_logout_redirect_uri, hint)


async def admit(
    db: AsyncSession,
    lp: Services,
    provider: RedirectAuthProvider,
    identity: Identity,
    who: audit.Actor,
    *,
    service_account: bool = False,
) -> tuple[User | None, NotAuthenticated | PermissionDenied | None]:
    """Find or create the identity's user and apply its roles, in the caller's transaction.

    Returns the user and, when the sign-in must be refused, why; a refusal is audited.
    """
    user = await user_for_identity(
        db, identity, create=provider.create_users, service_account=service_account
    )
    attempt = dataclasses.replace(who, id=None, name=identity.username)
    refusal: NotAuthenticated | PermissionDenied | None = None
    if user is None:
        refusal = NotAuthenticated(UNKNOWN_USER)
    elif user.disabled:
        refusal = NotAuthenticated(DISABLED_USER)
    else:
        await apply_roles(db, user, identity, dataclasses.replace(who, id=user.id, name=user.username))
        if provider.require_role and not user.is_admin and not await roles_of(db, user.id):
            refusal = PermissionDenied(NO_ROLE)
    if refusal is not None:
        await audit.record(
            db,
            attempt,
            audit.Entry(
                "auth.login",
                target_type="user",
                target_id=user.id if user else None,
                outcome="failure",
                details={"reason": refusal.detail},
            ),
        )
    return user, refusal


async def apply_roles(db: AsyncSession, user: User, identity: Identity, who: audit.Actor) -> bool:
    """Make the user's admin flag and workspace roles what the provider says, auditing
    each change; roles the provider does not decide are left alone. True if anything changed."""
    changed = False
    if identity.is_admin is not None and identity.is_admin != user.is_admin:
        was_admin = user.is_admin
        user.is_admin = identity.is_admin
        await db.flush()
        await audit.record(
            db,
            who,
            audit.Entry(
                "user.update",
                target_type="user",
                target_id=user.id,
                details={"is_admin": identity.is_admin, "previous": was_admin, "source": identity.provider},
            ),
        )
        changed = True
    if not identity.workspace_roles:
        return changed
    workspaces = {
        ws.slug: ws
        for ws in await db.scalars(
            select(Workspace).where(Workspace.slug.in_(list(identity.workspace_roles)))
        )
    }
    bindings = {
        rb.workspace_id: rb
        for rb in await db.scalars(
            select(RoleBinding).where(RoleBinding.user_id == user.id).with_for_update()
        )
    }
    for slug, role in sorted(identity.workspace_roles.items()):
        workspace = workspaces.get(slug)
        if workspace is None:
            continue
        binding = bindings.get(workspace.id)
        previous = binding.role if binding is not None else None
        if previous == role:
            continue
        if role is None:
            if binding is not None:
                await db.delete(binding)
            action = "workspace.member_remove"
        elif binding is None:
            db.add(RoleBinding(id=new_id("rb"), user_id=user.id, workspace_id=workspace.id, role=role))
            action = "workspace.member_set"
        else:
            binding.role = role
            action = "workspace.member_set"
        await db.flush()
        await audit.record(
            db,
            who,
            audit.Entry(
                action,
                target_type="user",
                target_id=user.id,
                workspace_id=workspace.id,
                details={
                    "username": user.username,
                    "role": role,
                    "previous": previous,
                    "source": identity.provider,
                },
            ),
        )
        changed = True
    return changed


async def roles_of(db: AsyncSession, user_id: str) -> dict[str, str]:
    """Workspace slug → role, for ``/auth/me``."""
    rows = await db.execute(
        select(Workspace.slug, RoleBinding.role)
        .join(RoleBinding, RoleBinding.workspace_id == Workspace.id)
        .where(RoleBinding.user_id == user_id)
    )
    return {slug: role for slug, role in rows.all()}


async def get_user(db: AsyncSession, user_id: str) -> User:
    user = await db.get(User, user_id)
    if user is None:
        raise NotAuthenticated("sign in or send a valid bearer token")
    return user
