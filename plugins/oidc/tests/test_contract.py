"""The redirect-provider contract, against the real Keycloak."""

from __future__ import annotations

import pytest
from lakeplane_oidc import OidcAuthProvider, OidcOptions

from lakeplane.testing.contracts import RedirectAuthProviderContract
from lakeplane.testing.keycloak import KeycloakAdmin

from .conftest import callback_params, oidc_options

pytestmark = pytest.mark.keycloak


class TestOidcContract(RedirectAuthProviderContract):
    @pytest.fixture
    def redirect_provider(self, realm: KeycloakAdmin) -> OidcAuthProvider:
        import msgspec

        return OidcAuthProvider(options=msgspec.convert(oidc_options(realm), OidcOptions))

    @pytest.fixture
    def redirect_uri(self) -> str:
        return "http://testserver/api/v1/auth/sso/callback"

    @pytest.fixture
    def idp_sign_in(self):
        async def sign_in(url: str) -> dict[str, str]:
            return await callback_params(url, "bob")

        return sign_in
