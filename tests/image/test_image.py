"""The control-plane image: what it installs, and its filesystem built without a registry.

The list in image/requirements.txt (used by the Dockerfile and scripts/build-image)
must name every plugin distribution, with the extras a cluster needs. The filesystem
from scripts/build-image (Debian packages plus PyPI, cached by a hash of its inputs) is
smoke-tested with chroot: the CLI starts, every plugin is registered, and the Spark
engine's Kubernetes client imports.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "image" / "requirements.txt"
#: Extras each plugin needs in a cluster.
CLUSTER_EXTRAS = {"spark": {"kubernetes"}}


def _listed() -> dict[str, set[str]]:
    entries: dict[str, set[str]] = {}
    for line in REQUIREMENTS.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"(\./[\w./-]*|\.)(?:\[([\w,-]+)\])?", line)
        assert match, f"image/requirements.txt: unexpected line {line!r}"
        path = match.group(1).removeprefix("./").rstrip("/") or "."
        entries[path] = set(filter(None, (match.group(2) or "").split(",")))
    return entries


def _plugins() -> dict[str, dict]:
    found = {}
    for project in sorted((ROOT / "plugins").glob("*/pyproject.toml")):
        found[project.parent.name] = tomllib.loads(project.read_text())["project"]
    return found


def test_image_installs_every_plugin_with_its_cluster_extras() -> None:
    listed = _listed()
    assert "." in listed and "ui" in listed
    for name, project in _plugins().items():
        path = f"plugins/{name}"
        assert path in listed, f"image/requirements.txt does not install {path}"
        wanted = CLUSTER_EXTRAS.get(name, set())
        assert wanted <= listed[path], f"{path} needs extras {sorted(wanted)} in a cluster"
        extras = set(project.get("optional-dependencies", {}))
        assert listed[path] <= extras, f"{path}: unknown extras {sorted(listed[path] - extras)}"


def test_dockerfile_installs_the_list() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install -r image/requirements.txt" in dockerfile
    assert "import kubernetes_asyncio" in dockerfile


def _chroot(rootfs: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    chroot = shutil.which("chroot") or "/usr/sbin/chroot"
    inside = ["PATH=/opt/lakeplane/bin:/usr/bin:/bin", "HOME=/home/lakeplane", "LANG=C.UTF-8"]
    return subprocess.run(
        [chroot, "--userspec=10001:10001", str(rootfs), "/usr/bin/env", "-i", *inside, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",
    )


def test_filesystem_runs_the_cli(image_rootfs: Path) -> None:
    helped = _chroot(image_rootfs, "lakeplane", "--help")
    assert helped.returncode == 0, helped.stderr
    assert "usage: lakeplane" in helped.stdout


def test_filesystem_lists_every_plugin(image_rootfs: Path) -> None:
    listed = _chroot(image_rootfs, "lakeplane", "plugins")
    assert listed.returncode == 0, listed.stderr
    distributions = {word for line in listed.stdout.splitlines()[1:] for word in line.split()}
    for project in _plugins().values():
        assert project["name"] in distributions, f"{project['name']} missing from `lakeplane plugins`"


def test_filesystem_has_the_kubernetes_client(image_rootfs: Path) -> None:
    imported = _chroot(image_rootfs, "python", "-c", "import kubernetes_asyncio, lakeplane_spark.engine")
    assert imported.returncode == 0, imported.stderr


def test_filesystem_runs_as_the_charts_user(image_rootfs: Path) -> None:
    who = _chroot(image_rootfs, "python", "-c", "import os; print(os.getuid(), os.getgid())")
    assert who.stdout.split() == ["10001", "10001"]
    passwd = (image_rootfs / "etc" / "passwd").read_text()
    assert "lakeplane:x:10001:10001:" in passwd
    packages = Path(f"{image_rootfs}.packages.txt").read_text()
    assert re.search(r"^python3 3\.11", packages, re.M)
