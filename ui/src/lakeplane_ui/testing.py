"""Test helpers for the admin UI: password users, workspaces, signing in through the form."""

from __future__ import annotations

import re
import secrets
from collections.abc import Sequence
from typing import Any

from litestar.testing import AsyncTestClient
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import NullPool

from lakeplane.db.models import RoleBinding, User
from lakeplane.domain.auth import services as auth_services
from lakeplane.ids import new_id
from lakeplane.runtime import Services

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
SIGNIN_INPUT = re.compile(r'name="signin_csrf" value="([^"]+)"')


def setup_sessions(lp: Services) -> async_sessionmaker[AsyncSession]:
    """Sessions for test set-up, on their own unpooled engine.

    The app's pool belongs to the event loop serving requests; a test writing rows
    from its own loop must not borrow those connections.
    """
    found = lp.caches.get("ui_tests_setup_sessions")
    if found is None:
        engine = create_async_engine(lp.config.database.url, poolclass=NullPool)
        found = lp.caches["ui_tests_setup_sessions"] = async_sessionmaker(engine, expire_on_commit=False)
    return found


async def password_user(
    lp: Services, username: str, password: str, *, is_admin: bool = False, roles: dict[str, str] | None = None
) -> User:
    """A local user with a real password hash from the configured auth provider."""
    password_hash = await auth_services.password_provider(lp).hash_password(password)
    async with setup_sessions(lp)() as db, db.begin():
        user = User(
            id=new_id("usr"),
            username=username,
            display_name=username,
            password_hash=password_hash,
            is_admin=is_admin,
        )
        db.add(user)
        await db.flush()
        for ws_id, role in (roles or {}).items():
            db.add(RoleBinding(id=new_id("rb"), user_id=user.id, workspace_id=ws_id, role=role))
    return user


async def make_workspace(db: AsyncSession, slug: str | None = None) -> Any:
    from lakeplane.domain import audit
    from lakeplane.domain.workspaces import services
    from lakeplane.domain.workspaces.schemas import WorkspaceCreate

    slug = slug or f"ws-{secrets.token_hex(3)}"
    return await services.create(
        db, audit.Actor.system("test"), WorkspaceCreate(slug=slug, name=slug.title())
    )


async def sign_in(client: Any, username: str, password: str) -> str:
    """Sign in through the form; return the CSRF token of the session's pages."""
    page = await client.get("/ui/signin")
    token = SIGNIN_INPUT.search(page.text)
    assert token, page.text
    response = await client.post(
        "/ui/signin",
        data={"username": username, "password": password, "signin_csrf": token[1], "next": "/ui/"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    home = await client.get("/ui/")
    csrf = CSRF_INPUT.search(home.text)
    assert csrf, home.text
    return csrf[1]


def noop_job_form(
    csrf: str,
    name: str,
    *,
    delay: str = "0",
    message: str = "hello from the UI",
    parameters: Sequence[tuple[str, str, str]] = (),
    **fields: str,
) -> dict[str, str]:
    """The job editor's form for a ``noop`` job as a browser sends it: ``parameters`` are
    (name, type, default) rows, and ``fields`` replace or add any other field."""
    data = {
        "csrf_token": csrf,
        "type": "noop",
        "name": name,
        "d.delay_s": delay,
        "d.fail": "false",
        "d.message": message,
        "queue": "default",
        "max_attempts": "1",
        "retry_backoff_s": "10",
    }
    for i, (pname, ptype, default) in enumerate(parameters):
        data.update({f"param.{i}.name": pname, f"param.{i}.type": ptype, f"param.{i}.default": default})
    return {**data, **fields}


def trino_params(**params: str) -> dict[str, str]:
    """The ``p.`` fields of a Trino connection form for a server on 127.0.0.1:8080;
    ``params`` (``port="8081"``) replace or add any."""
    sent = {"host": "127.0.0.1", "port": "8080", "user": "lakeplane", "http_scheme": "https", **params}
    return {f"p.{key}": value for key, value in sent.items()}


def csrf_of(html: str) -> str:
    found = CSRF_INPUT.search(html)
    assert found, "no CSRF input on the page"
    return found[1]


class Visitor:
    """One person's browser session on a shared test client.

    Every request of an app must go through one client: each Litestar test client
    serves requests on its own event loop, and the app's database pool belongs to
    one loop. A visitor keeps its own cookies and swaps them in for each request.
    """

    def __init__(self, client: AsyncTestClient[Any]) -> None:
        self.client = client
        self.cookies: dict[str, str] = {}

    async def request(self, method: str, url: str, **kwargs: Any) -> Any:
        self.client.cookies.clear()
        for key, value in self.cookies.items():
            self.client.cookies.set(key, value)
        kwargs.setdefault("follow_redirects", False)
        response = await self.client.request(method, url, **kwargs)
        for key, value in response.cookies.items():
            if value:
                self.cookies[key] = value
            else:
                self.cookies.pop(key, None)
        return response

    async def get(self, url: str, **kwargs: Any) -> Any:
        return await self.request("GET", url, **kwargs)

    async def post(self, url: str, **kwargs: Any) -> Any:
        return await self.request("POST", url, **kwargs)

    async def follow(self, method: str, url: str, **kwargs: Any) -> Any:
        """Like a browser: follow redirects with this visitor's cookies."""
        response = await self.request(method, url, **kwargs)
        while response.status_code in (301, 302, 303):
            response = await self.request("GET", response.headers["location"])
        return response
