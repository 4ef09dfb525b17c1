"""A real Keycloak for single sign-on tests, once per test session.

``keycloak_service`` (session scope) is a :class:`KeycloakService`: Keycloak in
development mode on a free loopback port, with its bootstrap admin. It starts in the
background as soon as collection shows a test that needs it (the fixture or the
``keycloak`` marker), like Trino. Tests bring their own realm as JSON and import it with
:meth:`KeycloakService.import_realm`; :class:`KeycloakAdmin` wraps the few admin REST
calls tests need (users, groups, key rotation, client-credentials tokens).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from lakeplane.local.keycloak import KeycloakComponent, admin_token, import_realm
from lakeplane.local.ports import free_ports

__all__ = ["KeycloakAdmin", "KeycloakService", "keycloak_service", "start_keycloak"]


@dataclass(frozen=True)
class KeycloakService:
    url: str
    admin_password: str
    component: KeycloakComponent = field(repr=False)

    def issuer(self, realm: str) -> str:
        return f"{self.url}/realms/{realm}"

    async def import_realm(self, realm: dict[str, Any] | Path) -> KeycloakAdmin:
        """Create (or re-create) a realm from a representation or a JSON file."""
        body = json.loads(await asyncio.to_thread(realm.read_text)) if isinstance(realm, Path) else realm
        await import_realm(self.url, self.admin_password, body)
        return KeycloakAdmin(self, str(body["realm"]))


class KeycloakAdmin:
    """Admin REST calls on one realm."""

    def __init__(self, service: KeycloakService, realm: str) -> None:
        self.service = service
        self.realm = realm

    @property
    def issuer(self) -> str:
        return self.service.issuer(self.realm)

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        token = await admin_token(self.service.url, self.service.admin_password)
        async with httpx.AsyncClient(base_url=self.service.url, timeout=60, trust_env=False) as client:
            response = await client.request(
                method,
                f"/admin/realms/{self.realm}{path}",
                headers={"Authorization": f"Bearer {token}"},
                **kwargs,
            )
        response.raise_for_status()
        return response

    async def user_id(self, username: str) -> str:
        found = (await self._call("GET", "/users", params={"username": username, "exact": "true"})).json()
        return str(found[0]["id"])

    async def group_id(self, name: str) -> str:
        found = (await self._call("GET", "/groups", params={"search": name, "exact": "true"})).json()
        return str(next(g["id"] for g in found if g["name"] == name))

    async def add_to_group(self, username: str, group: str) -> None:
        await self._call("PUT", f"/users/{await self.user_id(username)}/groups/{await self.group_id(group)}")

    async def remove_from_group(self, username: str, group: str) -> None:
        await self._call(
            "DELETE", f"/users/{await self.user_id(username)}/groups/{await self.group_id(group)}"
        )

    async def set_enabled(self, username: str, enabled: bool) -> None:
        user_id = await self.user_id(username)
        user = (await self._call("GET", f"/users/{user_id}")).json()
        user["enabled"] = enabled
        await self._call("PUT", f"/users/{user_id}", json=user)

    async def rotate_keys(self) -> str:
        """Add a new RSA signing key with a higher priority than every other; its kid."""
        realm_id = (await self._call("GET", "")).json()["id"]
        before = {key["kid"] for key in (await self._call("GET", "/keys")).json()["keys"]}
        await self._call(
            "POST",
            "/components",
            json={
                "name": f"rotated-{secrets.token_hex(3)}",
                "providerId": "rsa-generated",
                "providerType": "org.keycloak.keys.KeyProvider",
                "parentId": realm_id,
                "config": {"priority": ["1000000"], "keySize": ["2048"], "algorithm": ["RS256"]},
            },
        )
        after = (await self._call("GET", "/keys")).json()["keys"]
        return str(next(k["kid"] for k in after if k["kid"] not in before and k.get("algorithm") == "RS256"))

    async def client_token(self, client_id: str, secret: str, host: str | None = None) -> str:
        """An access token from the client-credentials grant (``host`` replaces the URL's host,
        which changes the issuer Keycloak writes into the token)."""
        url = self.service.url if host is None else self.service.url.replace("127.0.0.1", host)
        async with httpx.AsyncClient(timeout=60, trust_env=False) as client:
            response = await client.post(
                f"{url}/realms/{self.realm}/protocol/openid-connect/token",
                data={"grant_type": "client_credentials"},
                auth=(client_id, secret),
            )
        response.raise_for_status()
        return str(response.json()["access_token"])


def start_keycloak(root: Path, attempt: int) -> KeycloakComponent:
    (port,) = free_ports(1)
    return KeycloakComponent(
        root / f"keycloak-{attempt}", port=port, admin_password=secrets.token_urlsafe(16)
    )


#: A Keycloak already running (URL and bootstrap admin password) may stand in for the
#: session's own, to save its start-up time while working on the tests.
EXTERNAL_URL = "LAKEPLANE_TEST_KEYCLOAK_URL"
EXTERNAL_PASSWORD = "LAKEPLANE_TEST_KEYCLOAK_ADMIN_PASSWORD"  # noqa: S105 - a variable name


@pytest.fixture(scope="session")
def keycloak_service() -> KeycloakService:
    url, password = os.environ.get(EXTERNAL_URL), os.environ.get(EXTERNAL_PASSWORD)
    if url and password:
        component = KeycloakComponent(Path(tempfile.gettempdir()), port=0, admin_password=password)
        return KeycloakService(url=url.rstrip("/"), admin_password=password, component=component)
    from lakeplane.testing.services import _services

    service: KeycloakService = _services.get("keycloak")
    return service
