"""``config.load_database``: what ``lakeplane migrate`` reads, without the keys the rest needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakeplane import config
from lakeplane.errors import ConfigError


def test_database_section_loads_without_security_keys(tmp_path: Path) -> None:
    path = tmp_path / "lakeplane.toml"
    path.write_text(
        '[server]\nport = 8080\n\n[database]\npool_size = 3\n\n[security]\nprimary_key_id = "k1"\n'
    )
    environ = {"LAKEPLANE_DATABASE__URL": "postgresql+asyncpg://u:p@db:5432/lp"}
    with pytest.raises(ConfigError, match="session_key"):
        config.load(path, environ)
    database = config.load_database(path, environ)
    assert database.url == "postgresql+asyncpg://u:p@db:5432/lp"
    assert database.pool_size == 3


def test_database_section_is_still_validated(tmp_path: Path) -> None:
    path = tmp_path / "lakeplane.toml"
    path.write_text("[database]\npool_size = 3\n")
    with pytest.raises(ConfigError) as missing:
        config.load_database(path, {})
    assert missing.value.key == "database.url"
    path.write_text('[database]\nurl = "postgresql+asyncpg://db/lp"\npool = 3\n')
    with pytest.raises(ConfigError) as unknown:
        config.load_database(path, {})
    assert unknown.value.key == "database.pool"
