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
    local = subparsers.add_parser(
        "local",
        help="run the embedded local stack (PostgreSQL, SeaweedFS, Trino, API)",
        description="Run PostgreSQL, SeaweedFS (S3 + Iceberg REST), Trino and the Lakeplane API "
        "and worker on this machine, bound to 127.0.0.1.",
    )
    actions = local.add_subparsers(dest="local_command", required=True, metavar="ACTION")

    up = actions.add_parser("up", help="start whatever is not running and wait until all is healthy")
    _data_dir_arg(up)
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
    up.set_defaults(func=_command(_up))

    down = actions.add_parser("down", help="stop what the stack started; data is kept")
    _data_dir_arg(down)
    down.set_defaults(func=_command(_down))

    status = actions.add_parser("status", help="show each component: running, pid, endpoint, health")
    _data_dir_arg(status)
    status.add_argument("--json", action="store_true", help="print JSON")
    status.set_defaults(func=_command(_status))

    logs = actions.add_parser("logs", help="print a component's log")
    _data_dir_arg(logs)
    logs.add_argument("component", choices=COMPONENTS)
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument("-n", "--lines", type=int, help="only the last N lines")
    logs.set_defaults(func=_command(_logs))

    _register_kube(actions)


def _register_kube(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    kube = actions.add_parser(
        "kube",
        help="run a Kubernetes API server with a fake node (etcd, apiserver, controllers, kwok)",
        description="Run etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok "
        "(one fake Ready node) on 127.0.0.1, built from the Go module proxy on first use.",
    )
    kube_actions = kube.add_subparsers(dest="kube_command", required=True, metavar="ACTION")

    def dir_arg(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--dir",
            type=Path,
            default=None,
            help=f"cluster directory (default: {default_data_dir() / 'kube'})",
        )

    up = kube_actions.add_parser("up", help="build if needed, start, and write the admin kubeconfig")
    dir_arg(up)
    up.add_argument(
        "--kubeconfig",
        type=Path,
        default=None,
        help="also write the admin kubeconfig here (default: only DIR/admin.kubeconfig)",
    )
    up.set_defaults(func=_command(_kube_up))

    down = kube_actions.add_parser("down", help="stop the cluster's processes; its data is kept")
    dir_arg(down)
    down.set_defaults(func=_command(_kube_down))

    status = kube_actions.add_parser("status", help="each process, and whether a kubeconfig works")
    dir_arg(status)
    status.add_argument(
        "--kubeconfig",
        type=Path,
        default=None,
        help="check this kubeconfig against its API server (default: DIR/admin.kubeconfig)",
    )
    status.set_defaults(func=_command(_kube_status))


def _data_dir_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"stack directory (default: $LAKEPLANE_DATA_DIR or {default_data_dir()})",
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
