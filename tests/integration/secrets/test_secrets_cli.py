"""``lakeplane secrets migrate``: a wrong target is one line, and the database store's secrets
move to another store."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from lakeplane.cli import main
from lakeplane.testing.app import create_database


@pytest.fixture
async def config_file(postgres_service: Any, tmp_path: Path) -> Path:
    url = await create_database(postgres_service.url, prefix="lp_secrets_cli")
    path = tmp_path / "lakeplane.toml"
    path.write_text(
        "\n".join(
            [
                "[database]",
                f'url = "{url}"',
                "[security]",
                f'session_key = "{secrets.token_urlsafe(48)}"',
                f'encryption_keys = {{ k1 = "{secrets.token_urlsafe(32)}" }}',
                'primary_key_id = "k1"',
                "",
            ]
        )
    )
    return path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--to", "nope"], "--to: unknown plugin 'nope' (available: database"),
        (["--to", "database"], "--to: database with these options is the configured store already"),
        (["--to", "database", "--options", "{not json"], "--options: not options of the database store"),
        (["--to", "database", "--options", '{"x": 1}'], "--options: not options of the database store"),
    ],
)
def test_a_wrong_target_is_one_line(
    config_file: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["secrets", "migrate", "--config", str(config_file), *args]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"lakeplane: error: {message}"), err
    assert "\n" not in err and "Traceback" not in err


def test_with_nothing_to_move_it_says_so(config_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The kubernetes store, when its plugin is installed, is a valid target; with no
    connection nothing is moved and nothing is written to the cluster."""
    options = '{"namespace": "lakeplane", "kubeconfig": "/nonexistent"}'
    assert (
        main(["secrets", "migrate", "--config", str(config_file), "--to", "kubernetes", "--options", options])
        == 0
    )
    assert "moved the secrets of 0 connection(s) from database to kubernetes" in capsys.readouterr().out
