"""Single sign-on for Lakeplane with OpenID Connect: any provider that publishes discovery."""

from lakeplane_oidc.provider import OidcAuthProvider, OidcOptions, RoleMapping

__all__ = ["OidcAuthProvider", "OidcOptions", "RoleMapping"]
