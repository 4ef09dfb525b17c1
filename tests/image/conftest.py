"""Start the registry-free image build in the background once collection shows it is needed."""

from __future__ import annotations

import os
import subprocess
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


class _Build:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.result: subprocess.CompletedProcess[str] | None = None

    def begin(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="lakeplane-image", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        self.result = subprocess.run(
            [str(ROOT / "scripts" / "build-image"), "--no-import"],
            capture_output=True,
            text=True,
            timeout=3600,
        )

    def wait(self) -> subprocess.CompletedProcess[str]:
        self.begin()
        assert self._thread is not None
        self._thread.join()
        assert self.result is not None
        return self.result


build = _Build()


def pytest_collection_finish(session: pytest.Session) -> None:
    if session.config.option.collectonly or os.geteuid() != 0:
        return
    if any("image_rootfs" in getattr(item, "fixturenames", ()) for item in session.items):
        build.begin()


@pytest.fixture(scope="session")
def image_rootfs() -> Path:
    if os.geteuid() != 0:
        pytest.skip("building the image filesystem needs root (debootstrap, chroot)")
    result = build.wait()
    assert result.returncode == 0, f"scripts/build-image failed:\n{result.stderr[-3000:]}"
    return Path(result.stdout.strip().splitlines()[-1])
