"""The control-plane chart and the config loader agree.

``helm template`` of charts/lakeplane renders the config file the Deployments mount
(the ``lakeplane.toml`` of the ``-config`` ConfigMap). For the defaults and every good
value set, ``lakeplane config check`` must accept it with the environment the chart
gives its containers (secret references filled in). Then the migration Job's command,
and the API, worker and scheduler Deployments' commands, run as the chart runs them:
same arguments, same environment, the same config file, against the test Postgres. The
API must answer its readiness probe and the worker and scheduler their liveness
command (``lakeplane health``), and each serves its metrics. Only the API's
``--host``/``--port`` and each process's metrics listener are moved to free loopback
ports, and each gets a private temporary directory, as a pod has.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from lakeplane.local.ports import LOOPBACK, free_ports
from lakeplane.testing.kube import helm_binary

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "lakeplane"
VALUES = Path(__file__).resolve().parent / "values"
SETS = [None, *sorted(p.name for p in VALUES.glob("lakeplane-*.yaml"))]
MOUNT = "/etc/lakeplane"


@pytest.fixture(scope="session")
def helm() -> str:
    return helm_binary(ROOT)


def _lakeplane() -> str:
    beside = Path(sys.executable).with_name("lakeplane")
    found = str(beside) if beside.is_file() else shutil.which("lakeplane")
    assert found, "the lakeplane command is not installed"
    return found


class Rendered:
    def __init__(self, helm: str, values: str | None) -> None:
        args = [helm, "template", "lakeplane", str(CHART), "--namespace", "lakeplane"]
        if values:
            args += ["--values", str(VALUES / values)]
        result = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr
        self.objects = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
        self.hooks = [o for o in self.objects if "helm.sh/hook" in (o["metadata"].get("annotations") or {})]

    def one(self, kind: str, suffix: str, *, hook: bool = False) -> dict[str, Any]:
        pool = self.hooks if hook else [o for o in self.objects if o not in self.hooks]
        found = [o for o in pool if o["kind"] == kind and o["metadata"]["name"].endswith(suffix)]
        assert len(found) == 1, f"{kind} *{suffix}: {[o['metadata']['name'] for o in found]}"
        return found[0]

    def container(self, kind: str, suffix: str, *, hook: bool = False) -> dict[str, Any]:
        workload = self.one(kind, suffix, hook=hook)
        (container,) = workload["spec"]["template"]["spec"]["containers"]
        return dict(container)

    def config_file(self, directory: Path, *, hook: bool = False) -> Path:
        """The mounted config, written where the chart mounts it, below ``directory``."""
        config_map = self.one("ConfigMap", "-migrate-config" if hook else "-config", hook=hook)
        target = directory / MOUNT.lstrip("/") / "lakeplane.toml"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(config_map["data"]["lakeplane.toml"])
        return target


def _secret_value(key: str, database_url: str) -> str:
    if key in ("url", "sqlalchemy-url"):
        return database_url
    if key == "session-key":
        return base64.urlsafe_b64encode(secrets.token_bytes(48)).decode()
    if key.startswith("encryption-key-"):
        return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    if key == "client-secret":  # the OIDC client's secret (values set lakeplane-oidc.yaml)
        return secrets.token_urlsafe(24)
    raise AssertionError(f"the chart reads an unexpected secret key {key!r}")


def environment(
    container: dict[str, Any], config: Path, database_url: str, fill: dict[str, str]
) -> dict[str, str]:
    """The container's environment: literal values, secret references filled in once per key."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(config.parent), "LANG": "C.UTF-8"}
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = str(entry["value"])
        else:
            ref = entry["valueFrom"]["secretKeyRef"]
            key = f"{ref['name']}/{ref['key']}"
            if key not in fill:
                fill[key] = _secret_value(ref["key"], database_url)
            env[entry["name"]] = fill[key]
    assert env.get("LAKEPLANE_CONFIG") == f"{MOUNT}/lakeplane.toml"
    mounts = {m["mountPath"] for m in container.get("volumeMounts", [])}
    assert MOUNT in mounts, f"{container['name']} does not mount the config at {MOUNT}"
    env["LAKEPLANE_CONFIG"] = str(config)
    return env


def as_own_pod(env: dict[str, str], name: str, tmp_path: Path) -> int:
    """What a pod has of its own and these processes share on one machine: a /tmp (the
    heartbeat files) and the metrics port, moved to a free loopback port (returned)."""
    private_tmp = tmp_path / "tmp" / name
    private_tmp.mkdir(parents=True, exist_ok=True)
    env["TMPDIR"] = str(private_tmp)
    (port,) = free_ports(1)
    env["LAKEPLANE_METRICS__HOST"] = LOOPBACK
    env["LAKEPLANE_METRICS__PORT"] = str(port)
    return port


def _argv(container: dict[str, Any]) -> list[str]:
    argv = [*container["command"], *container.get("args", [])]
    assert argv[0] == "lakeplane"
    return [_lakeplane(), *argv[1:]]


@pytest.mark.parametrize("values", SETS, ids=[v or "defaults" for v in SETS])
def test_config_check_accepts_the_mounted_config(helm: str, tmp_path: Path, values: str | None) -> None:
    rendered = Rendered(helm, values)
    fill: dict[str, str] = {}
    config = rendered.config_file(tmp_path)
    envs = {
        suffix: environment(
            rendered.container("Deployment", suffix),
            config,
            "postgresql+asyncpg://lp:pw@127.0.0.1:1/lp",
            fill,
        )
        for suffix in ("-api", "-worker", "-scheduler")
    }
    # One environment for all three, so one check covers them.
    assert envs["-api"] == envs["-worker"] == envs["-scheduler"]
    checked = subprocess.run(
        [_lakeplane(), "config", "check"], env=envs["-api"], capture_output=True, text=True, timeout=120
    )
    assert checked.returncode == 0, checked.stderr or checked.stdout
    assert "pw@" not in checked.stdout, "config check printed the database password"
    migrate = rendered.container("Job", "-migrate", hook=True)
    hook_config = rendered.config_file(tmp_path / "hook", hook=True)
    assert hook_config.read_text() == rendered.config_file(tmp_path).read_text()
    assert _argv(migrate)[1:] == ["migrate"]


def test_config_check_refuses_a_broken_config(tmp_path: Path) -> None:
    config = tmp_path / "lakeplane.toml"
    config.write_text('[server]\nport = "eighty"\n')
    env = {"PATH": os.environ.get("PATH", ""), "LAKEPLANE_CONFIG": str(config)}
    checked = subprocess.run([_lakeplane(), "config", "check"], env=env, capture_output=True, text=True)
    assert checked.returncode != 0
    assert "Traceback" not in checked.stderr
    assert "port" in checked.stderr


class Started:
    def __init__(self) -> None:
        self.processes: list[tuple[str, subprocess.Popen[bytes], Path]] = []

    def start(
        self, name: str, argv: list[str], env: dict[str, str], log_dir: Path
    ) -> subprocess.Popen[bytes]:
        log = log_dir / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.processes.append((name, process, log))
        return process

    def alive(self, name: str) -> None:
        for known, process, log in self.processes:
            if known == name:
                assert process.poll() is None, (
                    f"{name} exited {process.returncode}: {log.read_text()[-2000:]}"
                )

    def stop(self) -> None:
        for _, process, _ in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for _, process, _ in self.processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()


@pytest.fixture
def started() -> Iterator[Started]:
    running = Started()
    yield running
    running.stop()


def test_control_plane_runs_from_the_rendered_chart(
    helm: str, tmp_path: Path, lakeplane_db_url: str, started: Started
) -> None:
    rendered = Rendered(helm, None)
    fill: dict[str, str] = {}
    config = rendered.config_file(tmp_path)

    migrate = rendered.container("Job", "-migrate", hook=True)
    hook_config = rendered.config_file(tmp_path / "hook", hook=True)
    migrated = subprocess.run(
        _argv(migrate),
        env=environment(migrate, hook_config, lakeplane_db_url, fill),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrated.returncode == 0, migrated.stderr

    api = rendered.container("Deployment", "-api")
    (port,) = free_ports(1)
    argv = _argv(api)
    argv[argv.index("--host") + 1] = LOOPBACK
    argv[argv.index("--port") + 1] = str(port)
    api_env = environment(api, config, lakeplane_db_url, fill)
    metrics_ports = {"api": as_own_pod(api_env, "api", tmp_path)}
    started.start("api", argv, api_env, tmp_path)
    probes = {}
    for name in ("worker", "scheduler"):
        container = rendered.container("Deployment", f"-{name}")
        env = environment(container, config, lakeplane_db_url, fill)
        metrics_ports[name] = as_own_pod(env, name, tmp_path)
        started.start(name, _argv(container), env, tmp_path)
        probes[name] = (container["livenessProbe"]["exec"]["command"], env)

    ready = api["readinessProbe"]["httpGet"]["path"]
    deadline = time.monotonic() + 60
    while True:
        started.alive("api")
        try:
            answer = httpx.get(f"http://{LOOPBACK}:{port}{ready}", timeout=2, trust_env=False)
            if answer.status_code == 200:
                break
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, f"API not ready: {(tmp_path / 'api.log').read_text()[-2000:]}"
        time.sleep(0.3)

    time.sleep(2)  # long enough for a worker or scheduler that fails at start-up to have exited
    for name, (command, env) in probes.items():
        started.alive(name)
        assert command[0] == "lakeplane"
        probe = subprocess.run(
            [_lakeplane(), *command[1:]], env=env, capture_output=True, text=True, timeout=60
        )
        assert probe.returncode == 0, f"{name} liveness: {probe.stderr or probe.stdout}"
    for name, metrics_port in metrics_ports.items():
        scraped = httpx.get(f"http://{LOOPBACK}:{metrics_port}/metrics", timeout=5, trust_env=False)
        assert scraped.status_code == 200 and "lakeplane_" in scraped.text, f"{name} metrics"
