"""Local users for Lakeplane: passwords hashed with argon2id, kept in the metadata database."""

from lakeplane_local_auth.provider import LocalAuthOptions, LocalAuthProvider

__all__ = ["LocalAuthOptions", "LocalAuthProvider"]
