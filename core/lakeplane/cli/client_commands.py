# Long module: every client subcommand shares the output, profile and error plumbing at its top.
"""Client commands: ``login``, ``workspaces``, ``connections``, ``jobs``, ``runs``, ``datasets``,
``schedules`` and ``completion``, all through :mod:`lakeplane.client`.

A refused request prints the problem's title and detail on one line and exits 1.
"""

from __future__ import annotations

import argparse
import functools
import getpass
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import msgspec

from lakeplane.cli import credentials
from lakeplane.domain.runs.lifecycle import RunState
from lakeplane.errors import LakeplaneError, NotAuthenticated

#: Columns of ``--output table`` per kind of object.
COLUMNS: dict[str, tuple[str, ...]] = {
    "workspace": ("id", "slug", "name", "role"),
    "connection": ("id", "name", "role", "plugin", "last_test_ok"),
    "job": ("id", "name", "type", "current_version", "archived"),
    "version": ("version", "queue", "max_attempts", "connection_id", "created_at"),
    "run": ("id", "job_id", "state", "attempt", "created_at", "finished_at"),
    "dataset": ("id", "name", "owner", "location"),
    "schedule": ("id", "job_id", "cron", "timezone", "paused", "next_fire_at"),
    "result": ("run_id", "row_count"),
    "test": ("ok", "latency_ms", "error"),
}
EXIT_SUCCEEDED, EXIT_FAILED, EXIT_OTHER = 0, 1, 2
Handler = Callable[[argparse.Namespace, Any], Any]


# -- output ------------------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def emit(args: argparse.Namespace, kind: str, value: Any) -> None:
    """Print one object or an iterable of objects as ``--output`` says."""
    many = not isinstance(value, msgspec.Struct) and not isinstance(value, dict)
    out = sys.stdout
    if args.output == "json":
        if not many:
            out.write(msgspec.json.encode(value).decode() + "\n")
            return
        items = iter(value)
        first = next(items, None)  # a refused first page leaves stdout empty
        out.write("[")
        if first is not None:
            out.write(msgspec.json.encode(first).decode())
            for item in items:
                out.write("," + msgspec.json.encode(item).decode())
        out.write("]\n")
        return
    rows = [msgspec.to_builtins(v) for v in (value if many else [value])]
    columns = COLUMNS[kind]
    if not many:
        width = max(len(c) for c in rows[0])
        for key, cell in rows[0].items():
            text = json.dumps(cell) if isinstance(cell, dict | list) else _cell(cell)
            out.write(f"{key:<{width}}  {text}\n")
        return
    table = [list(columns)] + [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    for row in table:
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n")


def one_line(exc: LakeplaneError) -> str:
    from lakeplane.client import title_of

    text = f"{title_of(exc)}: {exc.detail}"
    fields = exc.extra.get("errors") or []
    if fields:
        text += " (" + "; ".join(f"{e.get('field', '')}: {e.get('message', '')}" for e in fields) + ")"
    return " ".join(text.split())


# -- plumbing ----------------------------------------------------------------------------------


def _client(args: argparse.Namespace) -> Any:
    from lakeplane.client import Client

    name, prof = credentials.current(args.profile)
    args.profile_name = name
    args.server_url = prof.url
    if getattr(args, "workspace", None) is None:
        args.workspace = prof.workspace or None
    return Client(prof.url, prof.token, page_size=getattr(args, "page_size", 100))


def command(needs_workspace: bool = False) -> Callable[[Handler], Callable[[argparse.Namespace], int]]:
    """Run a handler with a client from the profile; turn every refusal into one line."""

    def wrap(handler: Handler) -> Callable[[argparse.Namespace], int]:
        @functools.wraps(handler)
        def run(args: argparse.Namespace) -> int:
            try:
                with _client(args) as client:
                    if needs_workspace and not args.workspace:
                        raise credentials.NotLoggedIn(
                            "no workspace given; pass --workspace or log in with --workspace"
                        )
                    return int(handler(args, client) or 0)
            except credentials.NotLoggedIn as exc:
                print(f"lakeplane: error: {exc.detail}", file=sys.stderr)
                return EXIT_FAILED
            except NotAuthenticated as exc:
                print(
                    f"lakeplane: error: {one_line(exc)}; the login for {args.profile_name!r} is missing, "
                    f"expired or revoked: run `lakeplane login {args.server_url}`",
                    file=sys.stderr,
                )
                return EXIT_FAILED
            except LakeplaneError as exc:
                print(f"lakeplane: error: {one_line(exc)}", file=sys.stderr)
                return EXIT_FAILED

        return run

    return wrap


def _json_arg(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise argparse.ArgumentTypeError(f"not JSON: {exc}") from exc


def _pair(text: str) -> tuple[str, Any]:
    """``key=value``; the value is read as JSON when it parses, else kept as a string."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _common(parser: argparse.ArgumentParser, workspace: bool = False) -> None:
    parser.add_argument("--profile", help="saved login to use (default: the last one made)")
    parser.add_argument("--output", "-o", choices=("table", "json"), default="table")
    if workspace:
        parser.add_argument("--workspace", "-w", help="workspace id or slug (default: the profile's)")


def _leaf(group: Any, name: str, help: str, func: Callable[..., int], workspace: bool = True) -> Any:
    parser = group.add_parser(name, help=help)
    _common(parser, workspace)
    parser.set_defaults(func=func)
    return parser


# -- login -------------------------------------------------------------------------------------


def cmd_login(args: argparse.Namespace) -> int:
    from lakeplane.client import Client

    url = args.server.rstrip("/")
    name = args.profile or credentials.profile_name(url)
    try:
        with Client(url, args.token) as client:
            client.server()
            if not args.token:
                username = args.username or input("username: ")
                password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass()
                token = client.login(username, password, name=f"lakeplane cli ({name})", days=args.days)
            else:
                token = args.token
            me = client.me()
    except LakeplaneError as exc:
        print(f"lakeplane: error: {one_line(exc)}", file=sys.stderr)
        return EXIT_FAILED
    creds = credentials.load()
    creds.profiles[name] = credentials.Profile(
        url=url, token=token, username=me.username, workspace=args.workspace or ""
    )
    creds.default = name
    saved = credentials.save(creds)
    print(f"logged in to {url} as {me.username} (profile {name!r}, saved in {saved})")
    return 0


# -- resources ---------------------------------------------------------------------------------


@command()
def cmd_workspaces_list(args: argparse.Namespace, lp: Any) -> None:
    emit(args, "workspace", lp.workspaces.list())


@command()
def cmd_workspaces_get(args: argparse.Namespace, lp: Any) -> None:
    emit(args, "workspace", lp.workspaces.get(args.ws))


@command()
def cmd_workspaces_create(args: argparse.Namespace, lp: Any) -> None:
    emit(args, "workspace", lp.workspaces.create(args.slug, args.name, args.description))


@command(True)
def cmd_connections_list(args: argparse.Namespace, lp: Any) -> None:
    emit(args, "connection", lp.connections.list(args.workspace, role=args.role, plugin=args.plugin))


@command(True)
def cmd_connections_create(args: argparse.Namespace, lp: Any) -> None:
    params = {**(args.params or {}), **dict(args.param or [])}
    conn = lp.connections.create(args.workspace, args.name, args.role, args.plugin, params, args.description)
    emit(args, "connection", conn)


@command(True)
def cmd_connections_test(args: argparse.Namespace, lp: Any) -> int:
    result = lp.connections.test(args.workspace, args.id)
    emit(args, "test", result)
    return 0 if result.ok else EXIT_FAILED


@command(True)
def cmd_jobs_list(args: argparse.Namespace, lp: Any) -> None:
    emit(args, "job", lp.jobs.list(args.workspace, include_archived=args.archived))


_JOB_SETTINGS = ("connection_id", "queue", "max_attempts", "retry_backoff_s", "timeout_s", "max_concurrency")


@command(True)
def cmd_jobs_create(args: argparse.Namespace, lp: Any) -> None:
    settings = {k: getattr(args, k) for k in _JOB_SETTINGS if getattr(args, k) is not None}
    if args.parameters is not None:
        settings["parameters"] = args.parameters
    emit(args, "job", lp.jobs.create(args.workspace, args.name, args.type, args.definition, **settings))


class _Progress:
    """Live state and elapsed time on stderr: rewritten in place on a terminal, a line per change else."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.last = ""
        self.tty = sys.stderr.isatty()

    def __call__(self, run: Any) -> None:
        state = run.state + (f" ({run.waiting_for})" if run.waiting_for else "")
        elapsed = f"{time.monotonic() - self.started:.1f}s"
        if self.tty:
            sys.stderr.write(f"\r{run.id}  {state:<24} {elapsed}\x1b[K")
            if run.state in _terminal():
                sys.stderr.write("\n")
        elif state != self.last:
            sys.stderr.write(f"{run.id}  {state}  {elapsed}\n")
        sys.stderr.flush()
        self.last = state


def _terminal() -> frozenset[str]:
    from lakeplane.client import TERMINAL

    return TERMINAL


def _wait(args: argparse.Namespace, lp: Any, run: Any) -> int:
    try:
        done = lp.runs.wait(
            args.workspace, run.id, timeout=args.timeout, poll=args.poll, on_update=_Progress()
        )
    except TimeoutError as exc:
        print(f"lakeplane: {exc}", file=sys.stderr)
        return EXIT_OTHER
    emit(args, "run", done)
    if done.state == RunState.SUCCEEDED:
        return EXIT_SUCCEEDED
    if done.reason:
        print(f"lakeplane: run {done.id} {done.state}: {done.reason}", file=sys.stderr)
    return EXIT_FAILED if done.state == RunState.FAILED else EXIT_OTHER


def _queued(args: argparse.Namespace, run: Any) -> int:
    emit(args, "run", run)
    return 0


@command(True)
def cmd_runs_submit(args: argparse.Namespace, lp: Any) -> int:
    run = lp.runs.submit(
        args.workspace, args.job, dict(args.param or []), idempotency_key=args.idempotency_key
    )
    return _wait(args, lp, run) if args.wait else _queued(args, run)


@command(True)
def cmd_runs_rerun(args: argparse.Namespace, lp: Any) -> int:
    run = lp.runs.rerun(args.workspace, args.id, dict(args.param or []))
    return _wait(args, lp, run) if args.wait else _queued(args, run)


@command(True)
def cmd_runs_wait(args: argparse.Namespace, lp: Any) -> int:
    return _wait(args, lp, lp.runs.get(args.workspace, args.id))


@command(True)
def cmd_runs_list(args: argparse.Namespace, lp: Any) -> None:
    emit(args, "run", lp.runs.list(args.workspace, state=args.state, job_id=args.job))


@command(True)
def cmd_runs_logs(args: argparse.Namespace, lp: Any) -> None:
    if args.follow:
        for text in lp.runs.follow_logs(args.workspace, args.id, poll=args.poll):
            sys.stdout.write(text)
            sys.stdout.flush()
        return
    chunk = lp.runs.logs(args.workspace, args.id)
    if args.output == "json":
        emit(args, "run", chunk)
    else:
        sys.stdout.write(chunk.text)


@command(True)
def cmd_runs_result(args: argparse.Namespace, lp: Any) -> None:
    result = lp.runs.result(args.workspace, args.id)
    if args.output == "json":
        emit(args, "result", result)
        return
    names = [str(c.get("name", "")) for c in result.columns]
    table = [names] + [[_cell(v) for v in row] for row in result.rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(names))]
    for row in table:
        sys.stdout.write("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() + "\n")


@command(True)
def cmd_datasets_list(args: argparse.Namespace, lp: Any) -> None:
    emit(args, "dataset", lp.datasets.list(args.workspace, tag=args.tag, owner=args.owner, q=args.query))


@command(True)
def cmd_datasets_create(args: argparse.Namespace, lp: Any) -> None:
    settings: dict[str, Any] = {"tags": args.tag or [], "description": args.description}
    for key in ("location", "connection_id", "table"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    if args.namespace:
        settings["namespace"] = args.namespace.split(".")
    emit(args, "dataset", lp.datasets.create(args.workspace, args.name, args.owner, **settings))


@command(True)
def cmd_schedules_list(args: argparse.Namespace, lp: Any) -> None:
    emit(args, "schedule", lp.schedules.list(args.workspace, job_id=args.job))


@command(True)
def cmd_schedules_get(args: argparse.Namespace, lp: Any) -> None:
    emit(args, "schedule", lp.schedules.get(args.workspace, args.id).schedule)


@command(True)
def cmd_schedules_create(args: argparse.Namespace, lp: Any) -> None:
    schedule = lp.schedules.create(
        args.workspace,
        args.job,
        args.cron,
        timezone=args.timezone,
        parameters=dict(args.param or []),
        paused=args.paused,
    )
    emit(args, "schedule", schedule)


def _add_on_id(group: Any, action: str, help: str, kind: str | None, resource: str) -> None:
    """``<resource> <action> ID``: the client's method of that name, its answer printed as a
    ``kind`` (None: there is none to print)."""

    @command(True)
    def run(args: argparse.Namespace, lp: Any) -> None:
        answer = getattr(getattr(lp, resource), action)(args.workspace, args.id)
        if kind is not None:
            emit(args, kind, answer)

    _leaf(group, action, help, run).add_argument("id")


def _updater(kind: str, resource: str) -> Callable[[argparse.Namespace], int]:
    """``<resource> update ID --set KEY=VALUE ...``: a PATCH with exactly the fields given."""

    @command(resource != "workspaces")
    def run(args: argparse.Namespace, lp: Any) -> None:
        changes = dict(args.set)
        target = getattr(lp, resource)
        if resource == "workspaces":
            emit(args, kind, target.update(args.id, **changes))
        else:
            emit(args, kind, target.update(args.workspace, args.id, **changes))

    return run


def _add_update(group: Any, kind: str, resource: str) -> None:
    parser = _leaf(
        group, "update", f"change a {kind}", _updater(kind, resource), workspace=resource != "workspaces"
    )
    parser.add_argument("id")
    parser.add_argument(
        "--set",
        action="append",
        type=_pair,
        required=True,
        metavar="KEY=VALUE",
        help="a field to change (repeatable); the value is read as JSON when it parses",
    )


# -- completion --------------------------------------------------------------------------------


def completion_words(parser: argparse.ArgumentParser, path: str = "lakeplane") -> dict[str, list[str]]:
    """For each command path (``"lakeplane runs"``), the subcommands and options it takes."""
    words: list[str] = []
    found: dict[str, list[str]] = {path: words}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                words.append(name)
                found.update(completion_words(sub, f"{path} {name}"))
        else:
            words += [o for o in action.option_strings if o.startswith("--")]
            if action.choices and action.option_strings:
                for option in action.option_strings:
                    found[f"{path} {option}"] = [str(c) for c in action.choices]
    return found


def bash_script(words: dict[str, list[str]]) -> str:
    table = "\n".join(f"  [{json.dumps(k)}]={json.dumps(' '.join(v))}" for k, v in sorted(words.items()))
    return f"""# bash completion for lakeplane: eval "$(lakeplane completion bash)"
declare -gA _lakeplane_words=(
{table}
)
_lakeplane() {{
  local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}" path=lakeplane w i
  for ((i = 1; i < COMP_CWORD; i++)); do
    w="${{COMP_WORDS[i]}}"
    [[ $w == -* ]] && continue
    [[ " ${{_lakeplane_words[$path]}} " == *" $w "* ]] && path="$path $w"
  done
  if [[ -n ${{_lakeplane_words["$path $prev"]+set}} ]]; then
    path="$path $prev"
  fi
  COMPREPLY=($(compgen -W "${{_lakeplane_words[$path]}}" -- "$cur"))
}}
complete -F _lakeplane lakeplane
"""


def zsh_script(words: dict[str, list[str]]) -> str:
    table = "\n".join(f"  {json.dumps(k)} {json.dumps(' '.join(v))}" for k, v in sorted(words.items()))
    return f"""#compdef lakeplane
# zsh completion for lakeplane: source <(lakeplane completion zsh)
typeset -gA _lakeplane_words
_lakeplane_words=(
{table}
)
_lakeplane() {{
  local p=lakeplane w
  local -a known
  for w in "${{(@)words[2,CURRENT-1]}}"; do
    [[ $w == -* ]] && continue
    known=(${{(s: :)_lakeplane_words[$p]}})
    (( ${{known[(Ie)$w]}} )) && p="$p $w"
  done
  if (( ${{+_lakeplane_words[$p ${{words[CURRENT-1]}}]}} )); then
    p="$p ${{words[CURRENT-1]}}"
  fi
  compadd -- ${{(s: :)_lakeplane_words[$p]}}
}}
if (( $+functions[compdef] )); then compdef _lakeplane lakeplane; fi
"""


def cmd_completion(args: argparse.Namespace) -> int:
    from lakeplane.cli import build_parser

    words = completion_words(build_parser())
    sys.stdout.write(bash_script(words) if args.shell == "bash" else zsh_script(words))
    return 0


# -- registration ------------------------------------------------------------------------------


def _group(subparsers: Any, name: str, help: str) -> Any:
    parser = subparsers.add_parser(name, help=help)
    return parser.add_subparsers(dest=f"{name}_action", required=True, metavar="ACTION")


def _add_wait(parser: argparse.ArgumentParser, optional: bool = True) -> None:
    if optional:
        parser.add_argument(
            "--wait", action="store_true", help="follow the run; exit 0 succeeded, 1 failed, 2 other"
        )
    parser.add_argument("--timeout", type=float, help="stop waiting after this many seconds (exit 2)")
    parser.add_argument("--poll", type=float, default=1.0, help="seconds between checks (default: 1)")


def register(subparsers: Any) -> None:
    login = subparsers.add_parser("login", help="sign in to a Lakeplane server and save the token")
    login.add_argument("server", metavar="SERVER_URL", help="e.g. http://127.0.0.1:8080")
    login.add_argument("--token", help="an API token (lp_...) to save instead of signing in with a password")
    login.add_argument("--username", help="sign in with this user's password and save a new API token")
    login.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    login.add_argument("--days", type=int, default=90, help="days the new token lasts (default: 90)")
    login.add_argument("--workspace", "-w", help="the workspace commands use by default")
    login.add_argument("--profile", help="profile name (default: the server's host:port)")
    login.set_defaults(func=cmd_login)

    ws = _group(subparsers, "workspaces", "workspaces you can see")
    _leaf(ws, "list", "list workspaces", cmd_workspaces_list, workspace=False)
    _leaf(ws, "get", "show a workspace", cmd_workspaces_get, workspace=False).add_argument("ws")
    create = _leaf(ws, "create", "create a workspace (admin)", cmd_workspaces_create, workspace=False)
    create.add_argument("slug")
    create.add_argument("name")
    create.add_argument("--description", default="")
    _add_update(ws, "workspace", "workspaces")

    conns = _group(subparsers, "connections", "a workspace's connections")
    listing = _leaf(conns, "list", "list connections", cmd_connections_list)
    listing.add_argument("--role", choices=("object_store", "catalog", "engine"))
    listing.add_argument("--plugin")
    _add_on_id(conns, "get", "show a connection", "connection", "connections")
    create = _leaf(conns, "create", "add a connection", cmd_connections_create)
    create.add_argument("name")
    create.add_argument("--role", required=True, choices=("object_store", "catalog", "engine"))
    create.add_argument("--plugin", required=True)
    create.add_argument("--param", action="append", type=_pair, metavar="KEY=VALUE", help="repeatable")
    create.add_argument("--params", type=_json_arg, metavar="JSON", help="all parameters as a JSON object")
    create.add_argument("--description", default="")
    _leaf(conns, "test", "check a connection now (exit 1 if it fails)", cmd_connections_test).add_argument(
        "id"
    )
    _add_on_id(conns, "delete", "remove a connection", None, "connections")
    _add_update(conns, "connection", "connections")

    jobs = _group(subparsers, "jobs", "a workspace's jobs")
    _leaf(jobs, "list", "list jobs", cmd_jobs_list).add_argument("--archived", action="store_true")
    _add_on_id(jobs, "get", "show a job and its current version", "job", "jobs")
    create = _leaf(jobs, "create", "create a job", cmd_jobs_create)
    create.add_argument("name")
    create.add_argument("--type", required=True, choices=("trino_sql", "spark_batch", "noop"))
    create.add_argument("--definition", required=True, type=_json_arg, metavar="JSON")
    create.add_argument(
        "--parameters", type=_json_arg, metavar="JSON", help="declared parameters, a JSON list"
    )
    create.add_argument("--connection", dest="connection_id", metavar="ID")
    create.add_argument("--queue")
    create.add_argument("--max-attempts", type=int)
    create.add_argument("--retry-backoff", dest="retry_backoff_s", type=float, metavar="SECONDS")
    create.add_argument("--timeout", dest="timeout_s", type=float, metavar="SECONDS")
    create.add_argument("--max-concurrency", type=int)
    _add_on_id(jobs, "versions", "list a job's versions", "version", "jobs")
    _add_update(jobs, "job", "jobs")

    runs = _group(subparsers, "runs", "submit and follow runs")
    submit = _leaf(runs, "submit", "queue a run of a job", cmd_runs_submit)
    submit.add_argument("job", metavar="JOB_ID")
    submit.add_argument("--param", action="append", type=_pair, metavar="KEY=VALUE", help="repeatable")
    submit.add_argument("--idempotency-key", help="a retried submit with the same key makes no second run")
    _add_wait(submit)
    listing = _leaf(runs, "list", "list runs, newest first", cmd_runs_list)
    listing.add_argument("--state", choices=[state.value for state in RunState])
    listing.add_argument("--job", metavar="JOB_ID")
    listing.add_argument("--page-size", type=int, default=500, help="runs per request (default: 500)")
    _add_on_id(runs, "get", "show a run and its transitions", "run", "runs")
    _add_wait(_leaf(runs, "wait", "wait for a run to end", cmd_runs_wait), optional=False)
    runs.choices["wait"].add_argument("id")
    logs = _leaf(runs, "logs", "print a run's log", cmd_runs_logs)
    logs.add_argument("id")
    logs.add_argument("--follow", "-f", action="store_true", help="keep printing until the run ends")
    logs.add_argument("--poll", type=float, default=1.0)
    _add_on_id(runs, "stop", "ask a run to stop", "run", "runs")
    rerun = _leaf(runs, "rerun", "run a run's job again with its parameters", cmd_runs_rerun)
    rerun.add_argument("id")
    rerun.add_argument(
        "--param", action="append", type=_pair, metavar="KEY=VALUE", help="replace a parameter"
    )
    _add_wait(rerun)
    _leaf(runs, "result", "print a run's result rows", cmd_runs_result).add_argument("id")

    datasets = _group(subparsers, "datasets", "a workspace's registered tables")
    listing = _leaf(datasets, "list", "list datasets", cmd_datasets_list)
    listing.add_argument("--tag")
    listing.add_argument("--owner")
    listing.add_argument("--query", "-q")
    _add_on_id(datasets, "get", "show a dataset and what its catalog says", "dataset", "datasets")
    create = _leaf(datasets, "create", "register a table", cmd_datasets_create)
    create.add_argument("name")
    create.add_argument("--owner", required=True)
    create.add_argument("--location")
    create.add_argument("--connection", dest="connection_id", metavar="ID")
    create.add_argument("--namespace", help="dotted, e.g. energy.raw")
    create.add_argument("--table")
    create.add_argument("--tag", action="append")
    create.add_argument("--description", default="")
    _add_on_id(datasets, "delete", "unregister a dataset", None, "datasets")
    _add_update(datasets, "dataset", "datasets")

    schedules = _group(subparsers, "schedules", "cron schedules of jobs")
    _leaf(schedules, "list", "list schedules", cmd_schedules_list).add_argument("--job", metavar="JOB_ID")
    _leaf(schedules, "get", "show a schedule", cmd_schedules_get).add_argument("id")
    create = _leaf(schedules, "create", "schedule a job", cmd_schedules_create)
    create.add_argument("job", metavar="JOB_ID")
    create.add_argument("cron", help='e.g. "0 3 * * *"')
    create.add_argument("--timezone", default="UTC")
    create.add_argument("--param", action="append", type=_pair, metavar="KEY=VALUE")
    create.add_argument("--paused", action="store_true")
    for action in ("pause", "resume"):
        _add_on_id(schedules, action, f"{action} a schedule", "schedule", "schedules")
    _add_on_id(schedules, "delete", "delete a schedule", None, "schedules")
    _add_update(schedules, "schedule", "schedules")

    completion = subparsers.add_parser("completion", help="print a shell completion script")
    completion.add_argument("shell", choices=("bash", "zsh"))
    completion.set_defaults(func=cmd_completion)


__all__ = ["register"]
