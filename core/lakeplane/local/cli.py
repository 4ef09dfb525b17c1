"""``lakeplane local up|down|status|logs|kube``: the embedded stack from the command line.

``lakeplane local kube up|down|status`` runs a Kubernetes control plane on loopback
(:mod:`lakeplane.local.kube`) and writes an admin kubeconfig.

Progress goes to stderr, results to stdout; a failure is one ``lakeplane: error:`` line
on stderr and exit code 1.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import asdict
from pathlib import Path
from typing import Any

from lakeplane.local import kube as local_kube
from lakeplane.local import processes
from lakeplane.local.errors import LocalStackError
from lakeplane.local.stack import COMPONENTS, DEFAULT_PORTS, LocalStack, default_data_dir
from lakeplane.local.supervisor import SUPERVISED


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    actions = _group(
        subparsers,
        "local",
        "run the embedded local stack (PostgreSQL, SeaweedFS, Trino, API)",
        "Run PostgreSQL, SeaweedFS (S3 + Iceberg REST), Trino and the Lakeplane API "
        "and worker on this machine, bound to 127.0.0.1.",
    )

    up = _add_action(
        actions, "up", "start whatever is not running and wait until all is healthy", _up, _data_dir_arg
    )
    up.add_argument("--without-api", action="store_true", help="start the data plane only")
    up.add_argument("--postgres-url", help="use this PostgreSQL instead of starting one")
    up.add_argument(
        "--port",
        action="append",
        default=[],
        metavar="NAME=N",
        help=f"change a port, kept for later runs; names: {', '.join(DEFAULT_PORTS)}",
    )
    up.add_argument("--trino-heap", default="2G", help="Trino's JVM heap (default: 2G)")
    up.add_argument(
        "--keycloak",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also run Keycloak with a demo realm and sign in through it (kept for later runs)",
    )

    _add_action(actions, "down", "stop what the stack started; data is kept", _down, _data_dir_arg)

    status = _add_action(
        actions, "status", "show each component: running, pid, endpoint, health", _status, _data_dir_arg
    )
    status.add_argument("--json", action="store_true", help="print JSON")

    logs = _add_action(actions, "logs", "print a component's log", _logs, _data_dir_arg)
    logs.add_argument("component", choices=COMPONENTS)
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("-n", "--lines", type=int, help="only the last N lines")

    _register_kube(actions)


def _register_kube(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    kube_actions = _group(
        actions,
        "kube",
        "run a Kubernetes API server with a fake node (etcd, apiserver, controllers, kwok)",
        "Run etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok "
        "(one fake Ready node) on 127.0.0.1, built from the Go module proxy on first use.",
    )

    def dir_arg(parser: argparse.ArgumentParser) -> None:
        _path_option(parser, "--dir", f"cluster directory (default: {default_data_dir() / 'kube'})")

    up = _add_action(
        kube_actions, "up", "build if needed, start, and write the admin kubeconfig", _kube_up, dir_arg
    )
    _path_option(
        up, "--kubeconfig", "also write the admin kubeconfig here (default: only DIR/admin.kubeconfig)"
    )

    _add_action(kube_actions, "down", "stop the cluster's processes; its data is kept", _kube_down, dir_arg)

    status = _add_action(
        kube_actions, "status", "each process, and whether a kubeconfig works", _kube_status, dir_arg
    )
    _path_option(
        status, "--kubeconfig", "check this kubeconfig against its API server (default: DIR/admin.kubeconfig)"
    )


def _add_action(
    actions: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    help: str,
    action: Callable[[argparse.Namespace], Coroutine[Any, Any, int]],
    directory_arg: Callable[[argparse.ArgumentParser], None],
) -> argparse.ArgumentParser:
    """A subcommand that takes the stack's or the cluster's directory and runs ``action``."""
    parser = actions.add_parser(name, help=help)
    directory_arg(parser)
    parser.set_defaults(func=_command(action))
    return parser


def _group(
    parent: argparse._SubParsersAction[argparse.ArgumentParser], name: str, help: str, description: str
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    parser = parent.add_parser(name, help=help, description=description)
    return parser.add_subparsers(dest=f"{name}_command", required=True, metavar="ACTION")


def _path_option(parser: argparse.ArgumentParser, flag: str, help: str) -> None:
    parser.add_argument(flag, type=Path, default=None, help=help)


def _data_dir_arg(parser: argparse.ArgumentParser) -> None:
    _path_option(
        parser, "--data-dir", f"stack directory (default: $LAKEPLANE_DATA_DIR or {default_data_dir()})"
    )


def _command(
    action: Callable[[argparse.Namespace], Coroutine[Any, Any, int]],
) -> Callable[[argparse.Namespace], int]:
    """Run an async action; ``lakeplane``'s ``main`` turns a stack error into one line on
    stderr and exit code 1."""

    def run(args: argparse.Namespace) -> int:
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per health probe otherwise
        return asyncio.run(action(args))

    return run


def _progress(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _parse_ports(values: list[str]) -> dict[str, int]:
    ports = {}
    for value in values:
        name, _, number = value.partition("=")
        if name not in DEFAULT_PORTS or not number.isdigit() or not 0 < int(number) < 65536:
            raise LocalStackError(
                f"--port {value}: expected NAME=N with NAME one of {', '.join(DEFAULT_PORTS)}"
            )
        ports[name] = int(number)
    return ports


async def _up(args: argparse.Namespace) -> int:
    stack = LocalStack(
        args.data_dir,
        ports=_parse_ports(args.port),
        postgres_url=args.postgres_url,
        with_api=not args.without_api,
        progress=_progress,
        trino_heap=args.trino_heap,
        keycloak=args.keycloak,
    )
    began = time.monotonic()
    results = await stack.up()
    print(f"stack ready in {time.monotonic() - began:.1f}s ({stack.data_dir})")
    for result in results:
        print(f"  {result.name:<10} {result.endpoint}")
    print(f"  {'config':<10} {stack.config_path}")
    print(f"  {'details':<10} {stack.state_path}")
    for line in demo_users(stack.state_path):
        print(line)
    return 0


def demo_users(state_path: Path) -> list[str]:
    """Lines naming the demo realm's users, when the stack runs Keycloak."""
    try:
        found = json.loads(state_path.read_text()).get("keycloak") or {}
    except (OSError, ValueError):
        return []
    if not found.get("enabled"):
        return []
    lines = [f"single sign-on: Keycloak at {found['url']} (realm issuer {found['issuer']})"]
    lines += [f"  {name:<14} password {password}" for name, password in found["users"].items()]
    return lines


async def _down(args: argparse.Namespace) -> int:
    stack = LocalStack(args.data_dir, progress=_progress)
    stopped = await stack.down()
    if not stopped:
        print(f"no stack in {stack.data_dir}")
    return 0


async def _status(args: argparse.Namespace) -> int:
    stack = LocalStack(args.data_dir)
    statuses = await stack.status()
    if args.json:
        print(json.dumps([asdict(status) for status in statuses], indent=2))
        return 0
    print(
        f"{'COMPONENT':<10} {'STATE':<8} {'PID':>7}  {'HEALTH':<9} {'LATENCY':>8}  {'RESTARTS':>8}  ENDPOINT"
    )
    for status in statuses:
        state = "running" if status.running else "stopped"
        pid = str(status.pid) if status.pid else "-"
        health = ("healthy" if status.healthy else "unhealthy") if status.running else "-"
        latency = f"{status.latency_ms:.0f} ms" if status.latency_ms is not None else "-"
        restarts = str(status.restarts) if status.name in SUPERVISED else "-"
        print(
            f"{status.name:<10} {state:<8} {pid:>7}  {health:<9} {latency:>8}  {restarts:>8}  {status.endpoint}"
        )
        if status.last_exit:
            print(f"{'':<10} last exit: {status.last_exit}")
        if status.running and not status.healthy:
            print(f"{'':<10} {status.detail}")
    return 0


async def _logs(args: argparse.Namespace) -> int:
    stack = LocalStack(args.data_dir)
    async for line in stack.logs(args.component, follow=args.follow, lines=args.lines):
        print(line, flush=args.follow)
    return 0


def _kube_dir(args: argparse.Namespace) -> Path:
    return Path(args.dir) if args.dir is not None else default_data_dir() / "kube"


async def _kube_up(args: argparse.Namespace) -> int:
    cluster = local_kube.KubeCluster(_kube_dir(args), progress=_progress)
    try:
        seconds = await cluster.start()
        target = cluster.admin_kubeconfig
        if args.kubeconfig is not None:
            target = Path(args.kubeconfig)
            target.parent.mkdir(parents=True, exist_ok=True)
            processes.write_private(target, cluster.admin_kubeconfig.read_text())
        user = await asyncio.to_thread(local_kube.check_kubeconfig, target)
    finally:
        cluster.close()
    print(f"kubernetes ready in {seconds:.1f}s ({cluster.home})")
    print(f"  {'server':<10} {cluster.server}")
    print(f"  {'node':<10} {local_kube.NODE_NAME} (kwok)")
    print(f"  {'kubeconfig':<10} {target} (user {user})")
    return 0


async def _kube_down(args: argparse.Namespace) -> int:
    cluster = local_kube.KubeCluster(_kube_dir(args), progress=_progress)
    if not await cluster.stop():
        print(f"no cluster running in {cluster.home}")
    return 0


async def _kube_status(args: argparse.Namespace) -> int:
    cluster = local_kube.KubeCluster(_kube_dir(args))
    kubeconfig = Path(args.kubeconfig) if args.kubeconfig is not None else cluster.admin_kubeconfig
    statuses = await cluster.status() if cluster.ports else []
    if statuses:
        print(f"{'COMPONENT':<24} {'STATE':<8} {'PID':>7}  {'HEALTH':<9}  ENDPOINT")
    for status in statuses:
        state = "running" if status.running else "stopped"
        pid = str(status.pid) if status.pid else "-"
        health = ("healthy" if status.healthy else "unhealthy") if status.running else "-"
        print(f"{status.name:<24} {state:<8} {pid:>7}  {health:<9}  {status.endpoint}")
    if args.kubeconfig is None and not any(status.running for status in statuses):
        print(f"no cluster running in {cluster.home}")
        return 3
    user = await asyncio.to_thread(local_kube.check_kubeconfig, kubeconfig)
    print(f"kubeconfig {kubeconfig}: accepted as {user}")
    return 0 if all(status.healthy for status in statuses) else 1
