"""``lakeplane local kube up|status|down``: a cluster of its own, its kubeconfig, clear errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from lakeplane.local import kube as local_kube

pytestmark = pytest.mark.kube


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lakeplane.cli", "local", "kube", *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_up_status_down(tmp_path: Path, kube_cluster: local_kube.KubeCluster) -> None:
    # kube_cluster: built binaries; this test starts a second cluster beside the session's.
    home = tmp_path / "kube"
    kubeconfig = tmp_path / "out" / "config"
    try:
        up = _cli("up", "--dir", str(home), "--kubeconfig", str(kubeconfig))
        assert up.returncode == 0, up.stderr
        assert f"{kubeconfig} (user lakeplane-admin)" in up.stdout
        assert local_kube.check_kubeconfig(kubeconfig) == "lakeplane-admin"
        server = json.loads(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
        assert server.startswith("https://127.0.0.1:") and server != kube_cluster.server

        again = _cli("up", "--dir", str(home))
        assert again.returncode == 0, again.stderr
        assert server in again.stdout, "a second `up` must keep the running cluster"

        status = _cli("status", "--dir", str(home))
        assert status.returncode == 0, status.stdout + status.stderr
        for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"):
            assert any(line.startswith(name) and "healthy" in line for line in status.stdout.splitlines()), (
                name
            )

        broken = tmp_path / "broken"
        broken.write_text(kubeconfig.read_text().replace('"token": "', '"token": "x'))
        refused = _cli("status", "--dir", str(home), "--kubeconfig", str(broken))
        assert refused.returncode == 1
        assert refused.stderr.count("\n") == 1, refused.stderr
        assert "refused the token (401 Unauthorized)" in refused.stderr
        assert "Traceback" not in refused.stderr
    finally:
        down = _cli("down", "--dir", str(home))
    assert down.returncode == 0, down.stderr
    after = _cli("status", "--dir", str(home))
    assert after.returncode == 3
    assert "no cluster running" in after.stdout
