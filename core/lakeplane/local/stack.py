# Long module: the stack's state, its components and up/down/status share one lock and one state file.
"""The whole local stack in one directory: PostgreSQL, SeaweedFS, Trino, the API and the worker,
and with ``--keycloak`` a Keycloak for single sign-on with a demo realm.

Layout of the data directory::

    stack.json        ports, endpoints and credentials (0600); read by the demo
    lakeplane.toml    the control plane's config for this stack (0600)
    postgres/ seaweedfs/ trino/ api/ worker/
                      each component's data, log and process record

``up`` starts what is not running yet, in parallel, each component as soon as what it
needs is healthy, and waits until everything answers. ``down`` stops exactly the
processes recorded in the directory. Data stays between the two. Secrets are made once,
at the first ``up``, and kept in ``stack.json``.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import fcntl
import hashlib
import importlib.metadata
import json
import os
import secrets
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lakeplane.drivers.maven import DownloadFailed
from lakeplane.local import keycloak, seaweedfs, trino
from lakeplane.local.component import Component, ComponentStatus, Progress, StartResult, no_progress
from lakeplane.local.control_plane import LakeplaneApiComponent, LakeplaneWorkerComponent, available_commands
from lakeplane.local.errors import ComponentFailed, LocalStackError, StackBusy
from lakeplane.local.ports import LOOPBACK, check_ports, free_ports
from lakeplane.local.postgres import ExternalPostgres, PostgresComponent
from lakeplane.local.processes import wait_until, write_private
from lakeplane.local.seaweedfs import SeaweedFSComponent
from lakeplane.local.supervisor import SUPERVISED, Supervision, SupervisorComponent, supervisor_home
from lakeplane.local.trino import TrinoComponent

#: Every port the stack opens, by the name ``--port NAME=N`` uses.
DEFAULT_PORTS: dict[str, int] = {
    "api": 8080,
    "postgres": 55432,
    "trino": trino.DEFAULT_PORT,
    **seaweedfs.DEFAULT_PORTS,
    "keycloak": keycloak.DEFAULT_PORT,
}
COMPONENTS = ("postgres", "seaweedfs", "trino", "api", "worker", "keycloak")


def free_stack_ports() -> dict[str, int]:
    """A port for each of the stack's core components, free now and none of the defaults, for a
    stack beside one that may already run."""
    ports = dict(zip(("api", "postgres", "trino"), free_ports(3), strict=True))
    return {**ports, **seaweedfs.free_seaweedfs_ports(ports.values())}


#: A component starts once these are healthy.
REQUIRES = {"api": ("postgres", "seaweedfs"), "worker": ("api",)}
REGION = "us-east-1"
BUCKET = "lakeplane"
TABLE_BUCKET = "lake"
STATE_VERSION = 1


def default_data_dir() -> Path:
    """``$LAKEPLANE_DATA_DIR``, else ``~/.local/share/lakeplane``."""
    configured = os.environ.get("LAKEPLANE_DATA_DIR")
    return Path(configured).expanduser() if configured else Path.home() / ".local" / "share" / "lakeplane"


def _key(size: int) -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(size)).decode()


@dataclass
class StackState:
    """What the stack keeps between runs: its ports and the secrets made at the first ``up``."""

    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    external_postgres_url: str | None = None
    postgres_password: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    s3_access_key_id: str = field(default_factory=lambda: "lp" + secrets.token_hex(9))
    s3_secret_access_key: str = field(default_factory=lambda: secrets.token_urlsafe(30))
    session_key: str = field(default_factory=lambda: _key(48))
    encryption_key: str = field(default_factory=lambda: _key(32))
    lakeplane_toml_sha256: str | None = None
    #: Keycloak with the demo realm; the API then signs in through it (local sign-in stays).
    keycloak: bool = False
    keycloak_admin_password: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    keycloak_client_secret: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    demo_passwords: dict[str, str] = field(
        default_factory=lambda: {name: secrets.token_urlsafe(9) for name in keycloak.DEMO_USERS}
    )

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> StackState:
        stored = raw.get("secrets", {})
        postgres = raw.get("postgres", {})
        return cls(
            ports={**DEFAULT_PORTS, **{k: int(v) for k, v in raw.get("ports", {}).items()}},
            external_postgres_url=postgres.get("url") if postgres.get("external") else None,
            postgres_password=stored["postgres_password"],
            s3_access_key_id=raw["s3"]["access_key_id"],
            s3_secret_access_key=raw["s3"]["secret_access_key"],
            session_key=stored["session_key"],
            encryption_key=stored["encryption_keys"]["k1"],
            lakeplane_toml_sha256=raw.get("lakeplane_toml_sha256"),
            **_keycloak_state(raw.get("keycloak")),
        )


def _keycloak_state(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        return {}
    return {
        "keycloak": bool(raw.get("enabled")),
        "keycloak_admin_password": raw["admin_password"],
        "keycloak_client_secret": raw["client_secret"],
        "demo_passwords": dict(raw["users"]),
    }


class LocalStack:
    """The embedded stack rooted at ``data_dir``; see the module docstring."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        ports: Mapping[str, int] | None = None,
        postgres_url: str | None = None,
        with_api: bool = True,
        progress: Progress = no_progress,
        cache_dir: Path | None = None,
        trino_heap: str = "2G",
        keycloak: bool | None = None,
    ) -> None:
        #: Start Keycloak (True), not (False), or as the last ``up`` did (None).
        self.keycloak = keycloak
        self.data_dir = Path(data_dir).expanduser().resolve() if data_dir else default_data_dir()
        unknown = sorted(set(ports or {}) - set(DEFAULT_PORTS))
        if unknown:
            raise LocalStackError(
                f"unknown port name {', '.join(unknown)}; known: {', '.join(DEFAULT_PORTS)}"
            )
        self.port_overrides = dict(ports or {})
        self.postgres_url = postgres_url
        self.with_api = with_api
        self.progress = progress
        self.cache_dir = cache_dir
        self.trino_heap = trino_heap

    @property
    def state_path(self) -> Path:
        return self.data_dir / "stack.json"

    @property
    def config_path(self) -> Path:
        return self.data_dir / "lakeplane.toml"

    # -- lifecycle ----------------------------------------------------------------------

    async def up(self) -> list[StartResult]:
        """Start every component not running yet and wait until all are healthy."""
        with self._locked():
            state = self._state(create=True)
            self._write_files(state)
            components = self._components(state, include_control_plane=self.with_api)
            self._preflight(components)
            results = await self._start_all(components)
            if self.with_api:
                results.append(await self._supervisor().start(self.progress))
            return results

    async def down(self) -> list[tuple[str, bool]]:
        """Stop what this stack started, the control plane first; (name, was running) each."""
        if not self.state_path.exists():
            return []
        with self._locked():
            components = {c.name: c for c in self._components(self._state(), include_control_plane=True)}
            stopped: list[tuple[str, bool]] = []
            # First, or it would start again what is stopped below.
            if await self._supervisor().stop():
                self.progress("supervisor: stopped")
                stopped.append(("supervisor", True))
            for group in (("worker",), ("api",), ("trino", "seaweedfs", "postgres")):
                members = [components[name] for name in group if name in components]
                results = await asyncio.gather(*(c.stop() for c in members))
                for component, was_running in zip(members, results, strict=True):
                    if isinstance(component, ExternalPostgres):
                        self.progress(f"{component.name}: external, left running")
                    else:
                        self.progress(f"{component.name}: {'stopped' if was_running else 'not running'}")
                    stopped.append((component.name, was_running))
            return stopped

    async def status(self) -> list[ComponentStatus]:
        """Per component: running, pid, endpoint, healthy and the probe's latency."""
        state = self._state() if self.state_path.exists() else StackState()
        components = self._components(state, include_control_plane=True, check_commands=False)
        # One after another: probes run side by side would measure each other's latency.
        statuses = [await component.status() for component in components]
        statuses.append(await self._supervisor().status())
        return [self._with_supervision(status) for status in statuses]

    def _supervisor(self) -> SupervisorComponent:
        return SupervisorComponent(supervisor_home(self.data_dir), stack_dir=self.data_dir)

    def _with_supervision(self, status: ComponentStatus) -> ComponentStatus:
        if status.name not in SUPERVISED:
            return status
        seen = Supervision.load(self.data_dir / status.name)
        return dataclasses.replace(status, restarts=seen.restarts, last_exit=seen.last_exit)

    def log_path(self, component: str) -> Path:
        if component not in COMPONENTS:
            raise LocalStackError(f"no component {component!r}; known: {', '.join(COMPONENTS)}")
        return self.data_dir / component / f"{component}.log"

    async def logs(
        self, component: str, follow: bool = False, lines: int | None = None
    ) -> AsyncIterator[str]:
        """The component's log lines (the last ``lines`` if given), then new ones if ``follow``."""
        path = self.log_path(component)
        if not path.exists() and not follow:
            raise LocalStackError(f"{component} has no log yet ({path})")
        await wait_until(path.exists, float("inf"), interval=0.5)
        with path.open("r", errors="replace") as log:
            existing = log.readlines()
            for line in existing[-lines:] if lines is not None else existing:
                yield line.rstrip("\n")
            partial = ""
            while follow:
                chunk = log.readline()
                if not chunk:
                    await asyncio.sleep(0.25)
                    continue
                partial += chunk
                if partial.endswith("\n"):
                    yield partial.rstrip("\n")
                    partial = ""

    # -- components -----------------------------------------------------------------------

    def components(self) -> list[Component]:
        """The components as configured now (without starting anything)."""
        state = self._state() if self.state_path.exists() else StackState()
        return self._components(state, include_control_plane=True, check_commands=False)

    def _components(
        self, state: StackState, *, include_control_plane: bool, check_commands: bool = True
    ) -> list[Component]:
        ports = state.ports
        home = self.data_dir
        postgres: Component
        if state.external_postgres_url:
            postgres = ExternalPostgres(home / "postgres", state.external_postgres_url)
        else:
            postgres = PostgresComponent(
                home / "postgres", port=ports["postgres"], password=state.postgres_password
            )
        store = SeaweedFSComponent(
            home / "seaweedfs",
            ports=ports,
            access_key_id=state.s3_access_key_id,
            secret_access_key=state.s3_secret_access_key,
            region=REGION,
            bucket=BUCKET,
            table_bucket=TABLE_BUCKET,
        )
        engine = TrinoComponent(
            home / "trino", port=ports["trino"], lake=store, heap=self.trino_heap, cache=self.cache_dir
        )
        components: list[Component] = [postgres, store, engine]
        if state.keycloak:
            api_url = f"http://{LOOPBACK}:{ports['api']}"
            components.append(
                keycloak.DemoKeycloakComponent(
                    home / "keycloak",
                    port=ports["keycloak"],
                    admin_password=state.keycloak_admin_password,
                    realm=keycloak.demo_realm(api_url, state.keycloak_client_secret, state.demo_passwords),
                )
            )
        if not include_control_plane:
            return components
        commands = available_commands() if check_commands else {"serve", "migrate", "worker"}
        missing = {"serve", "migrate"} - commands
        if missing:
            raise LocalStackError(
                f"this installation has no `lakeplane {' / '.join(sorted(missing))}` command; "
                "start the stack with --without-api"
            )
        components.append(
            LakeplaneApiComponent(home / "api", config_path=self.config_path, port=ports["api"])
        )
        if "worker" in commands:
            components.append(LakeplaneWorkerComponent(home / "worker", config_path=self.config_path))
        else:
            self.progress("worker: skipped, this installation has no `lakeplane worker` command")
        return components

    def _preflight(self, components: list[Component]) -> None:
        """Fail before starting anything: ports taken by someone else, no suitable Java."""
        waiting = [c for c in components if not c.is_running()]
        check_ports({name: port for c in waiting for name, port in c.ports().items()})
        if any(isinstance(c, TrinoComponent) for c in waiting):
            trino.find_java()
        if any(isinstance(c, keycloak.KeycloakComponent) for c in waiting):
            keycloak.keycloak_java()

    async def _start_all(self, components: list[Component]) -> list[StartResult]:
        tasks: dict[str, asyncio.Task[StartResult]] = {}

        async def start(component: Component) -> StartResult:
            for name in REQUIRES.get(component.name, ()):
                if name in tasks:
                    try:
                        await tasks[name]
                    except Exception:
                        raise _Skipped(f"{component.name}: not started because {name} failed") from None
            result = await component.start(self.progress)
            if result.outcome == "already running":
                self.progress(f"{component.name}: already running (pid {result.pid}), healthy")
            elif result.outcome == "external":
                self.progress(f"{component.name}: external, healthy")
            else:
                self.progress(f"{component.name}: healthy after {result.seconds:.1f}s")
            return result

        for component in components:
            tasks[component.name] = asyncio.create_task(start(component), name=component.name)
        outcomes = await asyncio.gather(*tasks.values(), return_exceptions=True)
        failures = [o for o in outcomes if isinstance(o, BaseException) and not isinstance(o, _Skipped)]
        for failure in failures[1:]:
            self.progress(f"also failed: {failure}")
        if failures:
            first = failures[0]
            if isinstance(first, LocalStackError | DownloadFailed):
                raise first
            raise ComponentFailed(f"starting the stack failed: {first}") from first
        return [o for o in outcomes if isinstance(o, StartResult)]

    # -- files -----------------------------------------------------------------------------

    def _state(self, create: bool = False) -> StackState:
        if self.state_path.exists():
            try:
                state = StackState.from_json(json.loads(self.state_path.read_text()))
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise LocalStackError(f"cannot read {self.state_path}: {exc}") from exc
        elif create:
            state = StackState()
        else:
            raise LocalStackError(f"no stack in {self.data_dir} (run `lakeplane local up` first)")
        state.ports.update(self.port_overrides)
        if self.postgres_url is not None:
            state.external_postgres_url = self.postgres_url
        if self.keycloak is not None:
            state.keycloak = self.keycloak
        return state

    def _write_files(self, state: StackState) -> None:
        """Write ``lakeplane.toml`` (unless edited by hand since we wrote it) and ``stack.json``."""
        config = render_config(state, self._database_url(state))
        digest = hashlib.sha256(config.encode()).hexdigest()
        current = self.config_path.read_bytes() if self.config_path.exists() else None
        edited = current is not None and hashlib.sha256(current).hexdigest() != state.lakeplane_toml_sha256
        if edited:
            self.progress(f"keeping {self.config_path}: it was edited since the stack wrote it")
        else:
            write_private(self.config_path, config)
            state.lakeplane_toml_sha256 = digest
        write_private(self.state_path, json.dumps(self._describe(state), indent=2) + "\n")

    def _database_url(self, state: StackState) -> str:
        if state.external_postgres_url:
            return ExternalPostgres(self.data_dir / "postgres", state.external_postgres_url).sqlalchemy_url
        return PostgresComponent(
            self.data_dir / "postgres", port=state.ports["postgres"], password=state.postgres_password
        ).url()

    def _describe(self, state: StackState) -> dict[str, Any]:
        """``stack.json``: everything a client needs to reach this stack, plus its secrets."""
        ports = state.ports
        s3 = f"http://{LOOPBACK}:{ports['s3']}"
        iceberg = f"http://{LOOPBACK}:{ports['iceberg']}"
        credential = f"{state.s3_access_key_id}:{state.s3_secret_access_key}"
        return {
            "version": STATE_VERSION,
            "data_dir": str(self.data_dir),
            "config": str(self.config_path),
            "ports": ports,
            "postgres": {"url": self._database_url(state), "external": bool(state.external_postgres_url)},
            "s3": {
                "endpoint_url": s3,
                "region": REGION,
                "bucket": BUCKET,
                "access_key_id": state.s3_access_key_id,
                "secret_access_key": state.s3_secret_access_key,
            },
            "iceberg": {
                "uri": iceberg,
                "warehouse": f"s3://{TABLE_BUCKET}/",
                "credential": credential,
                "oauth2_server_uri": f"{iceberg}/v1/oauth/tokens",
                "s3_endpoint_url": s3,
                "region": REGION,
            },
            "trino": {
                "url": f"http://{LOOPBACK}:{ports['trino']}",
                "host": LOOPBACK,
                "port": ports["trino"],
                "catalog": trino.CATALOG,
                "user": "lakeplane",
            },
            "api": {"url": f"http://{LOOPBACK}:{ports['api']}"},
            "keycloak": {
                "enabled": state.keycloak,
                "url": f"http://{LOOPBACK}:{ports['keycloak']}",
                "issuer": f"http://{LOOPBACK}:{ports['keycloak']}/realms/{keycloak.DEMO_REALM}",
                "admin_user": keycloak.ADMIN_USER,
                "admin_password": state.keycloak_admin_password,
                "client_id": keycloak.DEMO_CLIENT,
                "client_secret": state.keycloak_client_secret,
                "users": state.demo_passwords,
            },
            "secrets": {
                "postgres_password": state.postgres_password,
                "session_key": state.session_key,
                "encryption_keys": {"k1": state.encryption_key},
            },
            "lakeplane_toml_sha256": state.lakeplane_toml_sha256,
        }

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One ``up``/``down`` at a time per directory (created private if new)."""
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            self.data_dir.mkdir(mode=0o700)
        with (self.data_dir / ".lock").open("w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise StackBusy(f"another `lakeplane local` command is using {self.data_dir}") from None
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


class _Skipped(Exception):
    """A component not started because one it needs failed (that failure is the one reported)."""


def render_config(state: StackState, database_url: str) -> str:
    """The control plane's TOML config for this stack."""
    api = f"http://{LOOPBACK}:{state.ports['api']}"
    sections: list[tuple[str, dict[str, object]]] = [
        ("server", {"host": LOOPBACK, "port": state.ports["api"], "public_url": api}),
        ("database", {"url": database_url}),
        ("security", {"primary_key_id": "k1", "session_key": state.session_key}),
        ("security.encryption_keys", {"k1": state.encryption_key}),
        ("object_store", {"plugin": "s3"}),
        (
            "object_store.options",
            {
                "endpoint_url": f"http://{LOOPBACK}:{state.ports['s3']}",
                "region": REGION,
                "bucket": BUCKET,
                "access_key_id": state.s3_access_key_id,
                "secret_access_key": state.s3_secret_access_key,
            },
        ),
        ("catalog", {"plugin": "iceberg-rest"}),
        ("auth", {"plugin": "local"}),
        ("engines.trino", {"plugin": "trino"}),
    ]
    if state.keycloak and _installed("oidc"):
        issuer = f"http://{LOOPBACK}:{state.ports['keycloak']}/realms/{keycloak.DEMO_REALM}"
        sections[sections.index(("auth", {"plugin": "local"}))] = ("auth", {"plugin": "oidc"})
        sections.insert(
            sections.index(("auth", {"plugin": "oidc"})) + 1,
            (
                "auth.options",
                {
                    "issuer": issuer,
                    "client_id": keycloak.DEMO_CLIENT,
                    "client_secret": state.keycloak_client_secret,
                    "display_name": "Keycloak (demo)",
                    "local_sign_in": True,
                },
            ),
        )
        sections.insert(
            sections.index(("auth", {"plugin": "oidc"})) + 2,
            ("auth.options.roles", {"admin_groups": ["lakeplane-admins"]}),
        )
        sections.insert(
            sections.index(("auth", {"plugin": "oidc"})) + 3,
            ("auth.options.roles.workspaces.demo", {"editor": ["lakeplane-analysts"]}),
        )
    if _installed("spark"):
        sections.append(("engines.spark", {"plugin": "spark"}))
    lines = ["# Written by `lakeplane local up` for the stack in this directory."]
    for name, values in sections:
        lines.append(f"[{name}]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in values.items())
    return "\n".join(lines) + "\n"


def _installed(plugin: str) -> bool:
    """Whether an entry point of that name is installed: the config may only name what loads."""
    return any(ep.name == plugin for ep in importlib.metadata.entry_points(group="lakeplane.plugins"))


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    return json.dumps(str(value))  # a JSON string is a valid TOML basic string
