"""Build the Kubernetes control-plane binaries from the Go module proxy, cached by version.

Each component lands in ``<cache>/kube/<component>-<version>/`` together with a
``SHA256SUMS`` file written when the build finished. A cached directory is used only if
every binary still matches its recorded sha256; otherwise it is rebuilt. Builds run in a
temporary sibling directory that is renamed into place, under a file lock, so concurrent
test processes build once and never see half a build.

- ``kubernetes-v1.37.2``: ``kube-apiserver``, ``kube-scheduler``, ``kube-controller-manager``,
  from a small module that requires ``k8s.io/kubernetes`` and replaces each staging module
  (``=> ./staging/...`` in its go.mod) with the published ``v0.37.2``.
- ``etcd-v3.6.16``: ``go.etcd.io/etcd/server/v3`` with the same replace trick.
- ``kwok-v0.8.0``: ``go install sigs.k8s.io/kwok/cmd/kwok``; its stock Stage objects are read
  from the Go module cache at run time (:func:`kwok_stage_files`).

Only the standard library is imported, so ``python -m lakeplane.local.kube_build`` warms
the cache on a machine without the project's dependencies installed.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

KUBERNETES_VERSION = "v1.37.2"
ETCD_VERSION = "v3.6.16"
KWOK_VERSION = "v0.8.0"


class KubeBuildError(Exception):
    """A component could not be built; the message says which and why, in one line."""


def cache_root() -> Path:
    configured = os.environ.get("LAKEPLANE_CACHE_DIR")
    base = Path(configured).expanduser() if configured else Path.home() / ".cache" / "lakeplane"
    return base / "kube"


def find_go() -> str:
    configured = os.environ.get("GO")
    if configured:
        return configured
    found = shutil.which("go")
    if found:
        return found
    if Path("/usr/local/go/bin/go").is_file():
        return "/usr/local/go/bin/go"
    raise KubeBuildError("Go is needed to build the Kubernetes test cluster; none found on PATH")


@dataclass(frozen=True)
class Component:
    name: str
    version: str
    binaries: tuple[str, ...]

    @property
    def key(self) -> str:
        return f"{self.name}-{self.version}"

    def directory(self, root: Path | None = None) -> Path:
        return (root or cache_root()) / self.key


KUBERNETES = Component(
    "kubernetes", KUBERNETES_VERSION, ("kube-apiserver", "kube-scheduler", "kube-controller-manager")
)
ETCD = Component("etcd", ETCD_VERSION, ("etcd",))
KWOK = Component("kwok", KWOK_VERSION, ("kwok",))
COMPONENTS = (ETCD, KWOK, KUBERNETES)

_SUMS = "SHA256SUMS"


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _verified(component: Component, directory: Path) -> bool:
    sums = directory / _SUMS
    if not sums.is_file():
        return False
    recorded: dict[str, str] = {}
    for line in sums.read_text().splitlines():
        digest, _, name = line.partition("  ")
        recorded[name] = digest
    for binary in component.binaries:
        path = directory / binary
        if not path.is_file() or recorded.get(binary) != _sha256(path):
            return False
    return True


def _go_env(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    flags = env.get("GOFLAGS", "")
    if "-buildvcs" not in flags:
        env["GOFLAGS"] = (flags + " -buildvcs=false").strip()
    env.setdefault("CGO_ENABLED", "0")
    env.setdefault("GOTOOLCHAIN", "local")
    env["GOWORK"] = "off"
    env["PWD"] = str(work)
    return env


def _run(args: Sequence[str], *, cwd: Path, env: dict[str, str], log: Path) -> str:
    with log.open("a") as out:
        out.write(f"$ {' '.join(args)}\n")
        out.flush()
        result = subprocess.run(args, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=out, text=True)
    if result.returncode != 0:
        tail = log.read_text().strip().splitlines()[-1:] or ["(no output)"]
        raise KubeBuildError(
            f"`{' '.join(args[:3])} …` failed (exit {result.returncode}): {tail[0]} (log: {log})"
        )
    return result.stdout


def _module_gomod(go: str, module: str, version: str, *, cwd: Path, env: dict[str, str], log: Path) -> str:
    out = _run([go, "mod", "download", "-json", f"{module}@{version}"], cwd=cwd, env=env, log=log)
    info = json.loads(out)
    return Path(info["GoMod"]).read_text()


_LOCAL_REPLACE = re.compile(r"^\s*(?:replace\s+)?(\S+)\s*=>\s*(\.\.?/\S*)\s*$", re.MULTILINE)


def local_replaces(gomod: str) -> list[str]:
    """Module paths that ``gomod`` replaces with a directory inside its own repository.

    A replacement that points at a placeholder (etcd's ``./FORBIDDEN_DEPENDENCY``) only
    forbids the module and is not a published sibling, so it is left out.
    """
    found = _LOCAL_REPLACE.finditer(gomod)
    return sorted({m.group(1) for m in found if "FORBIDDEN" not in m.group(2)})


def _replace_module(
    go: str,
    work: Path,
    env: dict[str, str],
    log: Path,
    *,
    module: str,
    version: str,
    replace_version: str,
    packages: Sequence[str],
) -> None:
    (work / "go.mod").write_text("module lakeplane.local/kubebuild\n\ngo 1.25\n")
    gomod = _module_gomod(go, module, version, cwd=work, env=env, log=log)
    replaced = local_replaces(gomod)
    lines = [
        "module lakeplane.local/kubebuild",
        "",
        "go 1.25",
        "",
        f"require {module} {version}",
        "",
    ]
    lines += [f"replace {path} => {path} {replace_version}" for path in replaced]
    (work / "go.mod").write_text("\n".join(lines) + "\n")
    imports = "\n".join(f'\t_ "{package}"' for package in packages)
    (work / "tools.go").write_text(f"//go:build tools\n\npackage tools\n\nimport (\n{imports}\n)\n")
    _run([go, "mod", "tidy"], cwd=work, env=env, log=log)


def _build_kubernetes(go: str, work: Path, out: Path, env: dict[str, str], log: Path) -> None:
    minor = KUBERNETES_VERSION.removeprefix("v1.")
    packages = [f"k8s.io/kubernetes/cmd/{name}" for name in KUBERNETES.binaries]
    _replace_module(
        go,
        work,
        env,
        log,
        module="k8s.io/kubernetes",
        version=KUBERNETES_VERSION,
        replace_version=f"v0.{minor}",
        packages=packages,
    )
    version_pkg = "k8s.io/component-base/version"
    ldflags = f"-s -w -X {version_pkg}.gitVersion={KUBERNETES_VERSION} -X {version_pkg}.gitTreeState=clean"
    _run(
        [go, "build", "-trimpath", "-ldflags", ldflags, "-o", str(out) + "/", *packages],
        cwd=work,
        env=env,
        log=log,
    )


def _build_etcd(go: str, work: Path, out: Path, env: dict[str, str], log: Path) -> None:
    module = "go.etcd.io/etcd/server/v3"
    _replace_module(
        go,
        work,
        env,
        log,
        module=module,
        version=ETCD_VERSION,
        replace_version=ETCD_VERSION,
        packages=[module],
    )
    _run(
        [go, "build", "-trimpath", "-ldflags", "-s -w", "-o", str(out / "etcd"), module],
        cwd=work,
        env=env,
        log=log,
    )


def _build_kwok(go: str, work: Path, out: Path, env: dict[str, str], log: Path) -> None:
    env["GOBIN"] = str(out)
    _run(
        [go, "install", "-trimpath", "-ldflags", "-s -w", f"sigs.k8s.io/kwok/cmd/kwok@{KWOK_VERSION}"],
        cwd=work,
        env=env,
        log=log,
    )


_BUILDERS = {"kubernetes": _build_kubernetes, "etcd": _build_etcd, "kwok": _build_kwok}


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure(component: Component, *, root: Path | None = None, progress: bool = False) -> Path:
    """The verified cache directory of ``component``, built first if missing or altered."""
    directory = component.directory(root)
    if _verified(component, directory):
        return directory
    with _locked(directory.parent / f".{component.key}.lock"):
        if _verified(component, directory):
            return directory
        go = find_go()
        directory.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{component.key}-", dir=directory.parent))
        work = staging / "src"
        out = staging / "out"
        work.mkdir()
        out.mkdir()
        log = directory.parent / f"{component.key}.build.log"
        log.write_text("")
        if progress:
            print(f"building {component.key} (log: {log})", file=sys.stderr, flush=True)
        started = time.monotonic()
        try:
            _BUILDERS[component.name](go, work, out, _go_env(work), log)
            sums = [f"{_sha256(out / name)}  {name}" for name in component.binaries]
            (out / _SUMS).write_text("\n".join(sums) + "\n")
            elapsed = time.monotonic() - started
            (out / "BUILD").write_text(json.dumps({"seconds": round(elapsed, 1), "go": go}) + "\n")
            if directory.exists():
                shutil.rmtree(directory)
            out.rename(directory)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if progress:
            print(f"built {component.key} in {elapsed:.0f} s", file=sys.stderr, flush=True)
        return directory


def is_cached(component: Component, *, root: Path | None = None) -> bool:
    return _verified(component, component.directory(root))


def ensure_all(*, root: Path | None = None, progress: bool = False) -> dict[str, Path]:
    """Every component's binary path, building what is missing (etcd, kwok, then Kubernetes)."""
    paths: dict[str, Path] = {}
    for component in COMPONENTS:
        directory = ensure(component, root=root, progress=progress)
        for binary in component.binaries:
            paths[binary] = directory / binary
    return paths


def kwok_stage_files(names: Sequence[str] = ("node/fast", "node/heartbeat", "pod/general")) -> list[Path]:
    """The stock kwok Stage YAMLs from the kwok module in the Go module cache."""
    go = find_go()
    env = _go_env(Path.cwd())
    result = subprocess.run(
        [go, "mod", "download", "-json", f"sigs.k8s.io/kwok@{KWOK_VERSION}"],
        cwd=tempfile.gettempdir(),
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise KubeBuildError(f"cannot fetch the kwok {KWOK_VERSION} module: {result.stderr.strip()[-300:]}")
    root = Path(json.loads(result.stdout)["Dir"]) / "kustomize" / "stage"
    files: list[Path] = []
    for name in names:
        found = sorted((root / name).glob("*.yaml"))
        files += [path for path in found if path.name != "kustomization.yaml"]
    if not files:
        raise KubeBuildError(f"no kwok Stage files under {root}")
    return files


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    wanted = [c for c in COMPONENTS if not args or c.name in args]
    try:
        for component in wanted:
            print(ensure(component, progress=True))
    except KubeBuildError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
