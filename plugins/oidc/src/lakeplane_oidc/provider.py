# Long module: sign-in and bearer tokens share one key set and one set of claim checks, which stay together.
"""The ``oidc`` auth provider: OpenID Connect sign-in and IdP-issued bearer tokens.

The protocol comes from authlib (authorization URL, PKCE S256, the code exchange) and
joserfc (JWS and JWT claims). What is checked on an ID token: the algorithm is on the
allow-list (never ``none``, never an HMAC, so a public key can never act as a shared
secret), the key is one the issuer publishes, the signature, ``iss``, ``aud``,
``exp``, ``iat`` (with :attr:`OidcOptions.clock_skew_s` of leeway) and ``nonce``. A
bearer token on the API gets the same checks with the required
:attr:`OidcOptions.audience` instead of the nonce, and is never an ID token.

Keys: the JWKS is fetched once and kept; a token signed with a ``kid`` not in it makes
the provider fetch the JWKS again (at most once per :attr:`OidcOptions.jwks_refresh_s`),
so a key rotated at the identity provider is picked up without a restart, and a made-up
``kid`` costs at most one fetch per interval.

Roles: :class:`RoleMapping` turns groups (or any list claim, e.g. Keycloak's
``realm_access.roles`` or Entra ID's ``roles``) into a global admin flag and a role per
workspace; the core applies it at every sign-in.

Every call to the identity provider is bounded by :attr:`OidcOptions.timeout_s`; when it
cannot be reached, :class:`~lakeplane.errors.ServiceUnavailable` (503) is raised.
"""

from __future__ import annotations

import asyncio
import hmac
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

import httpx
import msgspec
from authlib.common.security import generate_token
from authlib.oauth2.rfc6749.parameters import prepare_grant_uri, prepare_token_request
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jws, jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from lakeplane.errors import NotAuthenticated, ServiceUnavailable
from lakeplane.interfaces import Check, CheckResult, CheckStatus, Identity, Secret
from lakeplane.interfaces.auth import WORKSPACE_ROLES, LoginRedirect, RedirectAuthProvider

#: Asymmetric algorithms only: with an HMAC algorithm anyone holding the public key could sign.
ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
DISCOVERY_PATH = "/.well-known/openid-configuration"
BAD_TOKEN = "the identity provider's token is not valid"  # noqa: S105 - a message


class RoleMapping(msgspec.Struct, forbid_unknown_fields=True):
    """Which groups give which role. A workspace's entry lists groups per role; the
    strongest role whose groups the person is in wins, and none of them means no role."""

    #: Members of any of these groups are global administrators; everyone else is not.
    admin_groups: list[str] = []
    #: Workspace slug → role (``admin``, ``editor``, ``viewer``) → groups.
    workspaces: dict[str, dict[str, list[str]]] = {}

    def __post_init__(self) -> None:
        for slug, roles in self.workspaces.items():
            unknown = sorted(set(roles) - set(WORKSPACE_ROLES))
            if unknown:
                raise ValueError(
                    f"workspaces.{slug}: unknown role {unknown[0]!r} (use admin, editor or viewer)"
                )

    def apply(self, groups: set[str]) -> tuple[bool | None, dict[str, str | None]]:
        is_admin = bool(groups & set(self.admin_groups)) if self.admin_groups else None
        roles: dict[str, str | None] = {}
        for slug, by_role in self.workspaces.items():
            granted = [role for role in WORKSPACE_ROLES if groups & set(by_role.get(role, []))]
            roles[slug] = granted[-1] if granted else None
        return is_admin, roles


class OidcOptions(msgspec.Struct, forbid_unknown_fields=True):
    #: The issuer URL exactly as the provider states it (``iss``); discovery is read below it.
    issuer: str
    client_id: str
    client_secret: Secret = ""
    #: On the sign-in button: "Sign in with <display_name>".
    display_name: str = "single sign-on"
    scopes: list[str] = msgspec.field(default_factory=lambda: ["openid", "profile", "email"])
    #: The claim that becomes the Lakeplane user name (``preferred_username``, ``email``, ``upn``…).
    username_claim: str = "preferred_username"
    #: A list claim holding groups or roles; a dotted path reaches into objects.
    groups_claim: str = "groups"
    roles: RoleMapping = msgspec.field(default_factory=RoleMapping)
    #: Also offer local password sign-in (a break-glass administrator).
    local_sign_in: bool = False
    #: Create users at their first sign-in.
    create_users: bool = True
    #: Refuse a person the mapping gives no role at all.
    require_role: bool = False
    #: Accept the identity provider's access tokens on ``/api/v1``; they must name this audience.
    accept_bearer: bool = True
    audience: str | None = None
    algorithms: list[str] = msgspec.field(default_factory=lambda: ["RS256", "ES256", "PS256"])
    clock_skew_s: float = 60.0
    #: Every request to the identity provider gives up after this long (then 503).
    timeout_s: float = 5.0
    #: An unknown ``kid`` fetches the JWKS again at most this often.
    jwks_refresh_s: float = 10.0
    #: Discovery is read again after this long.
    discovery_ttl_s: float = 3600.0
    #: Where the identity provider sends the browser after sign-out; default: the sign-in page.
    post_logout_redirect_uri: str | None = None
    #: A PEM bundle of the CAs that sign the identity provider's certificate (an internal CA);
    #: default: the system's. ``HTTPS_PROXY`` and ``NO_PROXY`` are honoured.
    ca_file: str | None = None

    def __post_init__(self) -> None:
        if not self.issuer.startswith(("https://", "http://")):
            raise ValueError("issuer must be an http(s) URL")
        refused = sorted(set(self.algorithms) - ASYMMETRIC)
        if refused or not self.algorithms:
            raise ValueError(f"algorithms: only asymmetric algorithms are allowed, not {refused}")
        if "openid" not in self.scopes:
            raise ValueError("scopes must include openid")
        if not 0 <= self.clock_skew_s <= 300:
            raise ValueError("clock_skew_s must be between 0 and 300")
        if not 0.1 <= self.timeout_s <= 60:
            raise ValueError("timeout_s must be between 0.1 and 60")
        if self.ca_file is not None:
            try:
                ssl.create_default_context(cafile=self.ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise ValueError(f"ca_file: cannot read {self.ca_file}: {exc}") from None


class OidcAuthProvider(RedirectAuthProvider):
    """Takes no connection parameters (the interface's ``NoParams``): everything is in the options."""

    name: ClassVar[str] = "oidc"
    description: ClassVar[str] = "Single sign-on with OpenID Connect"
    Options: ClassVar[type[msgspec.Struct]] = OidcOptions

    def __init__(self, params: object = None, options: OidcOptions | None = None) -> None:
        if options is None:
            raise ValueError("the oidc provider needs options (issuer, client_id)")
        super().__init__(params, options)
        self.settings = options
        self.issuer = options.issuer.rstrip("/")
        self.password_fallback = "local" if options.local_sign_in else None
        self.require_role = options.require_role
        self.create_users = options.create_users
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._keys_at = 0.0
        self._lock = asyncio.Lock()
        self._tls: ssl.SSLContext | None = None

    @property
    def display_name(self) -> str:
        return self.settings.display_name

    # Discovery and keys

    def _http(self) -> httpx.AsyncClient:
        if self._tls is None:
            self._tls = ssl.create_default_context(cafile=self.settings.ca_file)
        return httpx.AsyncClient(timeout=self.settings.timeout_s, verify=self._tls)

    @contextmanager
    def _unreachable(self) -> Iterator[None]:
        """httpx's network errors, mapped once: the identity provider is unavailable."""
        try:
            yield
        except httpx.TimeoutException:
            raise ServiceUnavailable(
                f"the identity provider did not answer within {self.settings.timeout_s:g} s"
            ) from None
        except (httpx.HTTPError, ValueError) as exc:
            raise ServiceUnavailable(
                f"the identity provider cannot be reached ({type(exc).__name__})"
            ) from None

    async def metadata(self) -> dict[str, Any]:
        """The discovery document, cached for :attr:`OidcOptions.discovery_ttl_s`."""
        if (
            self._metadata is not None
            and time.monotonic() - self._metadata_at < self.settings.discovery_ttl_s
        ):
            return self._metadata
        with self._unreachable():
            async with self._http() as client:
                response = await client.get(self.issuer + DISCOVERY_PATH)
            response.raise_for_status()
            found = response.json()
        if not isinstance(found, dict) or found.get("issuer", "").rstrip("/") != self.issuer:
            raise ServiceUnavailable("the identity provider's discovery document names another issuer")
        self._metadata, self._metadata_at = found, time.monotonic()
        return found

    async def _key_set(self, refresh: bool = False) -> KeySet:
        async with self._lock:
            stale = time.monotonic() - self._keys_at >= self.settings.jwks_refresh_s
            if self._keys is not None and not (refresh and stale):
                return self._keys
            uri = (await self.metadata())["jwks_uri"]
            with self._unreachable():
                async with self._http() as client:
                    response = await client.get(uri)
                response.raise_for_status()
                keys = [key for key in response.json().get("keys", []) if key.get("use", "sig") == "sig"]
            try:
                self._keys = KeySet.import_key_set({"keys": keys})  # type: ignore[arg-type]
            except (JoseError, ValueError):
                raise ServiceUnavailable("the identity provider publishes keys that cannot be read") from None
            self._keys_at = time.monotonic()
            return self._keys

    async def _verified(self, token: str) -> dict[str, Any]:
        """Check algorithm, key and signature; the claims, not yet validated."""
        try:
            header = jws.extract_compact(token.encode()).protected
        except (JoseError, ValueError, UnicodeError):
            raise NotAuthenticated(BAD_TOKEN) from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in self.settings.algorithms:
            raise NotAuthenticated(f"tokens signed with {alg!r} are not accepted")
        keys = await self._key_set()
        if not _has_kid(keys, kid):
            keys = await self._key_set(refresh=True)
            if not _has_kid(keys, kid):
                raise NotAuthenticated(
                    "the token is signed with a key the identity provider does not publish"
                )
        try:
            decoded = jwt.decode(token, keys, algorithms=self.settings.algorithms)
        except (JoseError, ValueError):
            raise NotAuthenticated(BAD_TOKEN) from None
        return dict(decoded.claims)

    def _check_claims(self, claims: dict[str, Any], audience: str, nonce: str | None) -> None:
        now = time.time()
        skew = self.settings.clock_skew_s
        if claims.get("iss") != self.issuer:
            raise NotAuthenticated("the token was issued by another identity provider")
        aud = claims.get("aud")
        audiences = aud if isinstance(aud, list) else [aud]
        if audience not in audiences:
            raise NotAuthenticated("the token is meant for another audience")
        exp, iat = claims.get("exp"), claims.get("iat")
        if not isinstance(exp, int | float) or exp + skew < now:
            raise NotAuthenticated("the token has expired")
        if not isinstance(iat, int | float) or iat - skew > now:
            raise NotAuthenticated("the token is issued in the future")
        nbf = claims.get("nbf")
        if isinstance(nbf, int | float) and nbf - skew > now:
            raise NotAuthenticated("the token is not valid yet")
        if nonce is not None:
            sent = claims.get("nonce")
            if not isinstance(sent, str) or not hmac.compare_digest(sent.encode(), nonce.encode()):
                raise NotAuthenticated("the sign-in answer does not match this attempt (nonce)")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise NotAuthenticated("the token names no subject")

    async def validate_id_token(self, token: str, nonce: str) -> dict[str, Any]:
        claims = await self._verified(token)
        self._check_claims(claims, self.settings.client_id, nonce)
        return claims

    async def validate_access_token(self, token: str) -> dict[str, Any]:
        claims = await self._verified(token)
        if claims.get("typ") == "ID" or "nonce" in claims:
            raise NotAuthenticated("an ID token is not an access token")
        self._check_claims(claims, self.settings.audience or self.settings.client_id, None)
        return claims

    def identity(self, claims: dict[str, Any]) -> Identity:
        username = claims.get(self.settings.username_claim)
        if not isinstance(username, str) or not username.strip():
            raise NotAuthenticated(f"the identity provider sent no {self.settings.username_claim!r} claim")
        groups = _list_claim(claims, self.settings.groups_claim)
        is_admin, workspace_roles = self.settings.roles.apply(set(groups))
        name = claims.get("name")
        email = claims.get("email")
        return Identity(
            provider=self.name,
            subject=f"{claims['iss']} {claims['sub']}",
            username=username.strip()[:150],
            display_name=name if isinstance(name, str) else username,
            email=email if isinstance(email, str) else None,
            groups=groups,
            is_admin=is_admin,
            workspace_roles=workspace_roles,
        )

    # The interface

    async def health(self) -> CheckResult:
        return await self.validate()

    async def validate(self) -> CheckResult:
        started = time.perf_counter()
        try:
            await self.metadata()
            await self._key_set()
        except ServiceUnavailable as exc:
            return CheckResult.of([Check("identity provider", CheckStatus.FAILED, exc.detail)], started)
        return CheckResult.of([Check("identity provider", CheckStatus.OK, self.issuer)], started)

    async def begin_login(self, redirect_uri: str) -> LoginRedirect:
        endpoint = (await self.metadata())["authorization_endpoint"]
        state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
        url = prepare_grant_uri(
            endpoint,
            self.settings.client_id,
            "code",
            redirect_uri=redirect_uri,
            scope=" ".join(self.settings.scopes),
            state=state,
            nonce=nonce,
            code_challenge=create_s256_code_challenge(verifier),
            code_challenge_method="S256",
        )
        return LoginRedirect(url=url, state={"state": state, "nonce": nonce, "verifier": verifier})

    async def complete_login(
        self, redirect_uri: str, params: dict[str, str], state: dict[str, Any]
    ) -> Identity:
        expected, nonce, verifier = state.get("state"), state.get("nonce"), state.get("verifier")
        if not (isinstance(expected, str) and isinstance(nonce, str) and isinstance(verifier, str)):
            raise NotAuthenticated("the sign-in attempt is not valid; start again")
        sent = params.get("state", "")
        if not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
            raise NotAuthenticated("the sign-in answer does not match this attempt (state); start again")
        if "error" in params:
            reason = params.get("error_description") or params["error"]
            raise NotAuthenticated(f"the identity provider refused the sign-in: {reason[:200]}")
        code = params.get("code")
        if not code:
            raise NotAuthenticated("the identity provider sent no authorization code")
        token = await self._exchange(redirect_uri, code, verifier)
        id_token = token.get("id_token")
        if not isinstance(id_token, str):
            raise NotAuthenticated("the identity provider sent no ID token")
        claims = await self.validate_id_token(id_token, nonce)
        identity = self.identity(claims)
        identity.session_hint = id_token
        return identity

    async def _exchange(self, redirect_uri: str, code: str, verifier: str) -> dict[str, Any]:
        """The token endpoint's answer to the code (client_secret_basic)."""
        token_endpoint = (await self.metadata())["token_endpoint"]
        body = prepare_token_request(
            "authorization_code", redirect_uri=redirect_uri, code=code, code_verifier=verifier
        )
        secret = self.settings.client_secret
        auth: httpx.Auth | httpx.BasicAuth | None = (
            httpx.BasicAuth(self.settings.client_id, secret) if secret else None
        )
        extra = "" if secret else f"&client_id={self.settings.client_id}"
        with self._unreachable():
            async with self._http() as client:
                response = await client.post(
                    token_endpoint,
                    content=body + extra,
                    auth=auth or httpx.USE_CLIENT_DEFAULT,
                    headers={
                        "Content-Type": "application/x-www-form-urlencoded",
                        "Accept": "application/json",
                    },
                )
            answer = response.json()
        if response.status_code != 200 or not isinstance(answer, dict):
            error = answer.get("error") if isinstance(answer, dict) else None
            raise NotAuthenticated(
                f"the identity provider refused the code: {str(error or 'invalid_grant')[:80]}"
            )
        return answer

    async def verify_bearer(self, token: str) -> Identity | None:
        if not self.settings.accept_bearer:
            return None
        return self.identity(await self.validate_access_token(token))

    def bearer_expiry(self, token: str) -> float | None:
        try:
            exp = jws.extract_compact(token.encode()).payload
            value = msgspec.json.decode(exp).get("exp")
        except (JoseError, ValueError, msgspec.DecodeError, AttributeError):
            return None
        return float(value) if isinstance(value, int | float) else None

    async def logout_url(self, post_logout_redirect_uri: str, id_token_hint: str | None) -> str | None:
        try:
            endpoint = (await self.metadata()).get("end_session_endpoint")
        except ServiceUnavailable:
            return None
        if not isinstance(endpoint, str):
            return None
        query = {
            "client_id": self.settings.client_id,
            "post_logout_redirect_uri": self.settings.post_logout_redirect_uri or post_logout_redirect_uri,
        }
        if id_token_hint:
            query["id_token_hint"] = id_token_hint
        return str(httpx.URL(endpoint, params=query))


def _has_kid(keys: KeySet, kid: object) -> bool:
    if not isinstance(kid, str):
        return len(keys.keys) == 1
    return any(key.kid == kid for key in keys.keys)


def _list_claim(claims: dict[str, Any], path: str) -> list[str]:
    node: Any = claims
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, str):
        return [node]
    if isinstance(node, list):
        return [item.lstrip("/") for item in node if isinstance(item, str)]
    return []
