"""Advisory-lock ids: defined once, and the one a migration spells out agrees with its constant."""

from __future__ import annotations

import re
from pathlib import Path

import lakeplane
from lakeplane.db import locks
from lakeplane.domain.auth import services as auth

PACKAGE = Path(lakeplane.__file__).parent
MIGRATIONS = PACKAGE / "db" / "migrations"
#: An advisory-lock call whose first key is a number written out.
NUMBERED_LOCK = re.compile(r"pg_(?:try_)?advisory_(?:xact_)?lock(?:_shared)?\(\s*\d")


def test_the_audit_trigger_takes_the_lock_the_constant_names() -> None:
    migration = (MIGRATIONS / "versions" / "20261125_0002_audit_link_at_commit.py").read_text()
    assert f"PERFORM pg_advisory_xact_lock({locks.AUDIT_CHAIN});" in migration


def test_the_bootstrap_takes_its_own_one_key_lock() -> None:
    assert str(auth._BOOTSTRAP_LOCK) == f"SELECT pg_advisory_xact_lock({locks.BOOTSTRAP})"
    assert locks.BOOTSTRAP != locks.AUDIT_CHAIN


def test_no_module_outside_the_migrations_writes_a_lock_id_out() -> None:
    numbered = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if MIGRATIONS not in path.parents and NUMBERED_LOCK.search(path.read_text())
    ]
    assert numbered == []
