"""The provider's options and its group-to-role mapping, without a network."""

from __future__ import annotations

import msgspec
import pytest
from lakeplane_oidc import OidcAuthProvider, OidcOptions, RoleMapping

from lakeplane.errors import NotAuthenticated


def options(**changes: object) -> OidcOptions:
    return msgspec.convert(
        {"issuer": "https://idp.example/realms/x", "client_id": "lp", **changes}, OidcOptions
    )


def test_the_strongest_mapped_role_wins_and_no_group_means_no_role() -> None:
    mapping = RoleMapping(
        admin_groups=["admins"],
        workspaces={"sales": {"viewer": ["staff"], "editor": ["analysts"], "admin": ["leads"]}, "ops": {}},
    )
    assert mapping.apply({"staff", "analysts"}) == (False, {"sales": "editor", "ops": None})
    assert mapping.apply({"admins", "leads", "staff"}) == (True, {"sales": "admin", "ops": None})
    assert mapping.apply(set()) == (False, {"sales": None, "ops": None})
    assert RoleMapping().apply({"admins"}) == (None, {})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"algorithms": ["HS256"]}, "asymmetric"),
        ({"algorithms": ["none"]}, "asymmetric"),
        ({"algorithms": []}, "asymmetric"),
        ({"issuer": "idp.example"}, "http"),
        ({"scopes": ["profile"]}, "openid"),
        ({"clock_skew_s": 3600}, "clock_skew_s"),
        ({"roles": {"workspaces": {"sales": {"owner": ["x"]}}}}, "owner"),
        ({"ca_file": "/nonexistent/ca.pem"}, "ca_file"),
    ],
)
def test_unsafe_or_wrong_options_are_refused(changes: dict[str, object], message: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=message):
        options(**changes)


def test_groups_come_from_a_dotted_claim_path_and_the_username_claim_is_configurable() -> None:
    provider = OidcAuthProvider(
        options=options(
            username_claim="email",
            groups_claim="realm_access.roles",
            roles={"admin_groups": ["platform-admin"]},
        )
    )
    claims = {
        "iss": "https://idp.example/realms/x",
        "sub": "abc",
        "email": "grace@example.org",
        "preferred_username": "grace",
        "realm_access": {"roles": ["platform-admin", "offline_access"]},
    }
    identity = provider.identity(claims)
    assert identity.username == "grace@example.org" and identity.is_admin is True
    assert identity.subject == "https://idp.example/realms/x abc"
    with pytest.raises(NotAuthenticated, match="email"):
        provider.identity({**claims, "email": None})
