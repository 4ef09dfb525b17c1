"""The client commands, run as ``python -m lakeplane.cli`` against a served app and worker."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import PASSWORD, Served
from .test_client import _serve


def lakeplane(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lakeplane.cli", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def ok(*args: str, stdin: str | None = None) -> str:
    done = lakeplane(*args, stdin=stdin)
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lakeplane: error: "), done.stderr
    assert "Traceback" not in done.stderr
    return lines[0]


def test_the_demo_flow_through_the_cli(served: Served, config_home: Path) -> None:
    out = ok("login", served.url, "--username", served.username, "--password-stdin", stdin=PASSWORD + "\n")
    assert served.username in out
    creds = config_home / "lakeplane" / "credentials.toml"
    assert stat.S_IMODE(creds.stat().st_mode) == 0o600
    assert "lp_" in creds.read_text()

    ws = json.loads(ok("workspaces", "create", "cli-demo", "CLI demo", "-o", "json"))
    assert ws["slug"] == "cli-demo"
    conn = json.loads(
        ok(
            "connections",
            "create",
            "lake",
            "-w",
            "cli-demo",
            "--role",
            "object_store",
            "--plugin",
            "s3",
            "--param",
            "endpoint_url=http://127.0.0.1:1",
            "--param",
            "access_key_id=k",
            "--param",
            "secret_access_key=s",
            "-o",
            "json",
        )
    )
    assert conn["secrets_set"] == ["secret_access_key"]
    job = json.loads(
        ok(
            "jobs",
            "create",
            "hello",
            "-w",
            "cli-demo",
            "--type",
            "noop",
            "--definition",
            '{"message": "hi"}',
            "-o",
            "json",
        )
    )
    done = lakeplane("runs", "submit", job["id"], "-w", "cli-demo", "--wait", "--poll", "0.2", "-o", "json")
    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert run["state"] == "succeeded"
    assert "succeeded" in done.stderr and "s\n" in done.stderr, "live state and elapsed time on stderr"
    logs = ok("runs", "logs", run["id"], "-w", "cli-demo", "--follow", "--poll", "0.2")
    assert logs == ok("runs", "logs", run["id"], "-w", "cli-demo")
    assert "noop" in logs
    listed = json.loads(ok("runs", "list", "-w", "cli-demo", "--output", "json"))
    assert [r["id"] for r in listed] == [run["id"]]
    table = ok("runs", "list", "-w", "cli-demo")
    assert table.splitlines()[0].split() == ["id", "job_id", "state", "attempt", "created_at", "finished_at"]
    assert run["id"] in table and "succeeded" in table
    rerun = json.loads(
        ok("runs", "rerun", run["id"], "-w", "cli-demo", "--wait", "--poll", "0.2", "-o", "json")
    )
    assert rerun["rerun_of"] == run["id"]
    assert "cli-demo" in ok("workspaces", "list")
    assert json.loads(ok("jobs", "get", job["id"], "-w", "cli-demo", "-o", "json"))["name"] == "hello"
    changed = ok(
        "jobs", "update", job["id"], "-w", "cli-demo", "--set", 'definition={"message": "bye"}', "-o", "json"
    )
    assert json.loads(changed)["current_version"] == 2
    assert (
        json.loads(ok("workspaces", "update", "cli-demo", "--set", "name=Renamed", "-o", "json"))["name"]
        == "Renamed"
    )
    assert conn["id"] in ok("connections", "list", "-w", "cli-demo")
    sched = json.loads(
        ok("schedules", "create", job["id"], "0 3 * * *", "-w", "cli-demo", "--paused", "-o", "json")
    )
    assert sched["id"] in ok("schedules", "list", "-w", "cli-demo")
    ds = json.loads(
        ok(
            "datasets",
            "create",
            "meters",
            "-w",
            "cli-demo",
            "--owner",
            "ops",
            "--location",
            "s3://lake/m",
            "-o",
            "json",
        )
    )
    assert ds["id"] in ok("datasets", "list", "-w", "cli-demo")
    # the users admin command still parses beside the client commands
    assert "usage" in lakeplane("users", "--help").stdout


def test_exit_codes_follow_the_outcome(served: Served, config_home: Path) -> None:
    ok("login", served.url, "--token", served.token, "--workspace", "cli-exits")
    ok("workspaces", "create", "cli-exits", "exits")
    failing = json.loads(
        ok("jobs", "create", "fails", "--type", "noop", "--definition", '{"fail": true}', "-o", "json")
    )
    assert lakeplane("runs", "submit", failing["id"], "--wait", "--poll", "0.2").returncode == 1
    slow = json.loads(
        ok("jobs", "create", "slow", "--type", "noop", "--definition", '{"delay_s": 60}', "-o", "json")
    )
    waited = lakeplane(
        "runs", "submit", slow["id"], "--wait", "--poll", "0.2", "--timeout", "0.5", "-o", "json"
    )
    assert waited.returncode == 2, waited.stderr
    running = [r["id"] for r in json.loads(ok("runs", "list", "-o", "json")) if r["job_id"] == slow["id"]]
    assert len(running) == 1
    assert json.loads(ok("runs", "stop", running[0], "-o", "json"))["stop_requested"]
    stopped = lakeplane("runs", "wait", running[0], "--poll", "0.2", "--timeout", "60", "-o", "json")
    assert stopped.returncode == 2, stopped.stderr
    assert json.loads(stopped.stdout)["state"] == "cancelled"


def test_refusals_are_one_line(served: Served, config_home: Path) -> None:
    missing = one_error_line(lakeplane("workspaces", "list"))
    assert "lakeplane login" in missing

    ok("login", served.url, "--token", served.token)
    invalid = one_error_line(lakeplane("workspaces", "create", "Bad Slug!", "bad"))
    assert "validation failed" in invalid and "slug" in invalid
    not_found = lakeplane("runs", "list", "-w", "no-such-ws", "-o", "json")
    assert "not found" in one_error_line(not_found) and not_found.stdout == ""
    ok("workspaces", "create", "cli-refusals", "refusals")
    taken = one_error_line(lakeplane("workspaces", "create", "cli-refusals", "again"))
    assert taken == "lakeplane: error: conflict: a workspace with slug 'cli-refusals' already exists"
    expired = one_error_line(lakeplane("workspaces", "list", env={"LAKEPLANE_TOKEN": "lp_" + "x" * 43}))
    assert "not authenticated" in expired and f"lakeplane login {served.url}" in expired
    wrong = one_error_line(
        lakeplane("login", served.url, "--username", served.username, "--password-stdin", stdin="nope\n")
    )
    assert "not authenticated" in wrong
    for url in _serve(None):
        foreign = one_error_line(lakeplane("login", url, "--token", "lp_x"))
        assert "is not a Lakeplane API server" in foreign


def test_profiles_per_server(served: Served, config_home: Path) -> None:
    ok("login", served.url, "--token", served.token, "--profile", "one")
    ok("login", served.url, "--token", served.token, "--profile", "two", "--workspace", "x")
    text = (config_home / "lakeplane" / "credentials.toml").read_text()
    assert '[profiles."one"]' in text and '[profiles."two"]' in text and 'default = "two"' in text
    ok("workspaces", "list", "--profile", "one")
    assert "lakeplane login" in one_error_line(lakeplane("workspaces", "list", "--profile", "three"))


#: How each shell asks the sourced script for the words of a line (index of the last word from 0
#: in bash, from 1 in zsh), and prints what it offers, one a line.
COMPLETION_PROBES = {
    "bash": (
        ["bash", "-c"],
        'COMP_WORDS=({words}); COMP_CWORD={last}; _lakeplane; printf "%s\\n" "${{COMPREPLY[@]}}"',
    ),
    "zsh": (
        ["zsh", "-f", "-c"],
        'compadd() {{ shift; print -l -- "$@"; }}; words=({words}); CURRENT={count}; _lakeplane',
    ),
}


@pytest.mark.parametrize(
    ("shell", "line", "expected"),
    [
        ("bash", "lakeplane ", {"runs", "jobs", "login", "users"}),
        ("bash", "lakeplane runs ", {"submit", "logs", "stop", "rerun"}),
        ("bash", "lakeplane runs submit --", {"--wait", "--output", "--workspace"}),
        ("bash", "lakeplane runs list --output ", {"table", "json"}),
        ("zsh", "lakeplane runs ", {"submit", "logs", "stop"}),
        ("zsh", "lakeplane runs list --output ", {"table", "json"}),
    ],
)
def test_completion(shell: str, line: str, expected: set[str], tmp_path: Path) -> None:
    script = tmp_path / f"complete.{shell}"
    script.write_text(ok("completion", shell))
    words = line.split(" ")
    command, probe = COMPLETION_PROBES[shell]
    asked = probe.format(words=" ".join(repr(w) for w in words), last=len(words) - 1, count=len(words))
    done = subprocess.run([*command, f"source {script}; {asked}"], capture_output=True, text=True, check=True)
    assert expected <= set(done.stdout.split()), done.stdout
