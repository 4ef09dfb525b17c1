"""Logins kept in ``$XDG_CONFIG_HOME/lakeplane/credentials.toml`` (mode 0600), one profile per server.

    default = "127.0.0.1:8080"

    [profiles."127.0.0.1:8080"]
    url = "http://127.0.0.1:8080"
    token = "lp_..."
    username = "admin"
    workspace = "demo"

``$LAKEPLANE_PROFILE`` picks a profile; ``$LAKEPLANE_URL`` and ``$LAKEPLANE_TOKEN`` override it.
"""

from __future__ import annotations

import json
import os
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import msgspec

from lakeplane.errors import NotAuthenticated


class Profile(msgspec.Struct, omit_defaults=True):
    url: str
    token: str
    username: str = ""
    workspace: str = ""


class Credentials(msgspec.Struct, omit_defaults=True):
    default: str = ""
    profiles: dict[str, Profile] = {}


class NotLoggedIn(NotAuthenticated, code="not-logged-in"):
    """No stored credentials for the profile asked for."""


def path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "lakeplane" / "credentials.toml"


def profile_name(url: str) -> str:
    """A server's default profile name: its host and port."""
    parts = urlsplit(url)
    return parts.netloc or url


def load() -> Credentials:
    found = path()
    if not found.exists():
        return Credentials()
    return msgspec.convert(tomllib.loads(found.read_text()), Credentials)


def save(creds: Credentials) -> Path:
    """Write the file 0600 (its directory 0700), replacing the old one in one step."""
    target = path()
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    lines = [f"default = {json.dumps(creds.default)}", ""]
    for name, prof in sorted(creds.profiles.items()):
        lines.append(f"[profiles.{json.dumps(name)}]")
        for key, value in msgspec.structs.asdict(prof).items():
            if value:
                lines.append(f"{key} = {json.dumps(value)}")
        lines.append("")
    staged = target.with_suffix(".toml.new")
    fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("\n".join(lines))
    os.chmod(staged, 0o600)
    os.replace(staged, target)
    return target


def current(profile: str | None) -> tuple[str, Profile]:
    """The profile to use, with the environment's overrides; NotLoggedIn when there is none."""
    creds = load()
    name = profile or os.environ.get("LAKEPLANE_PROFILE") or creds.default
    found = creds.profiles.get(name) if name else None
    url = os.environ.get("LAKEPLANE_URL") or (found.url if found else "")
    token = os.environ.get("LAKEPLANE_TOKEN") or (found.token if found else "")
    if profile and found is None:
        raise NotLoggedIn(
            f"no login for profile {profile!r}; run `lakeplane login SERVER_URL --profile {profile}`"
        )
    if not url or not token:
        raise NotLoggedIn("not logged in; run `lakeplane login SERVER_URL`")
    base = found or Profile(url=url, token=token)
    return name or profile_name(url), msgspec.structs.replace(base, url=url, token=token)
