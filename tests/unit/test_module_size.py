"""A module over 400 lines says at its top why it is one module: a newcomer reads a reason
before a long file, and a file that grows past the limit without one fails here."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 400
#: The first line of a long module, before its docstring.
MARKER = "# Long module:"


def python_files() -> list[Path]:
    found = []
    for top in ("core", "plugins", "ui", "tests", "bench", "scripts"):
        for path in (ROOT / top).rglob("*.py"):
            parts = set(path.relative_to(ROOT).parts)
            if "migrations" in parts or ".venv" in parts or ".tox" in parts:
                continue
            found.append(path)
    return found


def test_every_long_module_gives_its_reason_first() -> None:
    missing = []
    for path in python_files():
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) <= LIMIT:
            continue
        first = lines[0] if lines else ""
        reason = first.removeprefix(MARKER).strip() if first.startswith(MARKER) else ""
        if len(reason) < 10:
            missing.append(f"{path.relative_to(ROOT)} ({len(lines)} lines)")
    assert not missing, f"over {LIMIT} lines without a first line '{MARKER} <why>':\n" + "\n".join(missing)


def test_the_check_sees_the_tree() -> None:
    names = {p.name for p in python_files()}
    assert {"runtime.py", "test_module_size.py"} <= names
