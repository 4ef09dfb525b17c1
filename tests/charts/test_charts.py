# Long module: every chart check renders through the same helm, values sets and schemas.
"""Checks of the Helm charts in charts/, offline.

For every value set in values/ (named ``<chart>-<set>.yaml``):

* ``helm lint --strict`` passes;
* ``helm template`` renders, and every rendered object is valid against the
  Kubernetes JSON schemas of a current release (shipped in kubernetes-validate,
  strict: unknown fields are errors) or, for custom resources, against the
  schemas in schemas/;
* policy holds: images pinned (no ``latest``), CPU and memory requests and
  limits on every container, non-root, no secret given as a literal.

The Spark plugin's Kubernetes requests (recorded, never sent) must all be allowed
by the Roles the control-plane chart grants its worker; this needs the plugin
installed (``plugins/spark[kubernetes]``), as in the tox environment.

Value files must not hold secrets. Each ``bad-<chart>-<what>.yaml`` must make
``helm template`` fail with the message in its ``# expect:`` line. The last
tests prove that the validator and the policy checks do fail on broken input.

helm comes from $LAKEPLANE_HELM, or from scripts/ensure-helm, which builds the
pinned version from its Go module on first use.
"""

from __future__ import annotations

import importlib.resources
import json
import os
import re
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from copy import deepcopy
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml
from referencing import Registry, Resource

ROOT = Path(__file__).resolve().parents[2]
CHARTS = ROOT / "charts"
HERE = Path(__file__).resolve().parent
VALUES = HERE / "values"
CRD_SCHEMAS = HERE / "schemas"

KUBE_VERSION = "1.37.0"
NAMESPACE = "lakeplane"
RELEASES = {"lakeplane": "lakeplane", "dataplane": "dataplane"}

GOOD_SETS = sorted(p for p in VALUES.glob("*.yaml") if not p.name.startswith("bad-"))
BAD_SETS = sorted(VALUES.glob("bad-*.yaml"))

Manifest = dict[str, Any]


def chart_of(values_file: Path) -> str:
    name = values_file.name.removeprefix("bad-")
    chart = name.split("-", 1)[0]
    assert chart in RELEASES, (
        f"{values_file.name}: name must start with a chart name, one of {sorted(RELEASES)}"
    )
    return chart


# --- helm -----------------------------------------------------------------


@pytest.fixture(scope="session")
def helm() -> str:
    explicit = os.environ.get("LAKEPLANE_HELM")
    if explicit:
        assert Path(explicit).is_file(), f"LAKEPLANE_HELM={explicit} is not a file"
        return explicit
    built = subprocess.run(
        [str(ROOT / "scripts" / "ensure-helm")], check=True, capture_output=True, text=True
    )
    return built.stdout.strip().splitlines()[-1]


def run_helm(helm: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([helm, *args], capture_output=True, text=True, timeout=120)


def template(
    helm: str, chart_dir: Path, values_file: Path | None, release: str
) -> subprocess.CompletedProcess[str]:
    args = ["template", release, str(chart_dir), "--namespace", NAMESPACE, "--kube-version", KUBE_VERSION]
    if values_file is not None:
        args += ["--values", str(values_file)]
    return run_helm(helm, *args)


class StrictLoader(yaml.SafeLoader):
    """A YAML loader that refuses a key given twice in one mapping, as the API server does."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def parse_manifests(text: str) -> list[Manifest]:
    return [doc for doc in yaml.load_all(text, Loader=StrictLoader) if doc]


@pytest.fixture(scope="session")
def rendered(helm: str) -> dict[str, list[Manifest]]:
    """Every good value set, rendered once."""
    out = {}
    for values_file in GOOD_SETS:
        chart = chart_of(values_file)
        result = template(helm, CHARTS / chart, values_file, RELEASES[chart])
        assert result.returncode == 0, f"helm template {values_file.name}:\n{result.stderr}"
        out[values_file.name] = parse_manifests(result.stdout)
    return out


# --- schemas --------------------------------------------------------------


class Schemas:
    """Offline JSON schemas: Kubernetes from kubernetes-validate (strict), CRDs from schemas/."""

    def __init__(self, kube_version: str) -> None:
        root = importlib.resources.files("kubernetes_validate") / "kubernetes-json-schema"
        self._dir = root / f"v{kube_version}-local-strict"
        assert self._dir.is_dir(), f"kubernetes-validate has no schemas for {kube_version}"
        definitions = json.loads((self._dir / "_definitions.json").read_text())
        self._registry = Registry().with_resource(definitions["$id"], Resource.from_contents(definitions))
        self._crds: dict[tuple[str, str], dict] = {}
        for path in sorted(CRD_SCHEMAS.glob("*.json")):
            schema = json.loads(path.read_text())
            props = schema["properties"]
            self._crds[(props["apiVersion"]["const"], props["kind"]["const"])] = schema
        self._validators: dict[tuple[str, str], jsonschema.protocols.Validator | None] = {}

    def validator(self, api_version: str, kind: str) -> jsonschema.protocols.Validator | None:
        if (api_version, kind) not in self._validators:
            schema = self._crds.get((api_version, kind))
            if schema is None:
                # kubernetes-validate's file naming: rbac.authorization.k8s.io/v1 -> rbac-v1
                group_version = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
                path = self._dir / f"{kind.lower()}-{group_version}.json"
                schema = json.loads(path.read_text()) if path.is_file() else None
            self._validators[(api_version, kind)] = (
                None if schema is None else jsonschema.Draft202012Validator(schema, registry=self._registry)
            )
        return self._validators[(api_version, kind)]

    def errors(self, obj: Manifest) -> list[str]:
        api_version, kind = obj.get("apiVersion", "?"), obj.get("kind", "?")
        validator = self.validator(api_version, kind)
        if validator is None:
            return [
                f"{kind} {api_version}: no schema (neither Kubernetes {KUBE_VERSION} nor {CRD_SCHEMAS.name}/)"
            ]
        return [
            f"{describe(obj)} at /{'/'.join(map(str, error.absolute_path))}: {error.message}"
            for error in sorted(validator.iter_errors(obj), key=lambda e: list(map(str, e.absolute_path)))
        ]


@pytest.fixture(scope="session")
def schemas() -> Schemas:
    return Schemas(KUBE_VERSION)


def describe(obj: Manifest) -> str:
    meta = obj.get("metadata") or {}
    return f"{obj.get('kind')}/{meta.get('name')}"


# --- policy ---------------------------------------------------------------

SECRET_NAME = re.compile(
    r"(password|passwd|secret|token|credential|private_?key|session_?key|encryption_?key|access_?key)", re.I
)
URL_WITH_PASSWORD = re.compile(r"://[^/\s:@]+:[^/\s@]+@")
ONLY_VAR_REFERENCES = re.compile(r"^(\$\([A-Za-z_][A-Za-z0-9_]*\)|[:@/._-])*$")


def pod_specs(obj: Manifest) -> Iterator[dict]:
    kind, spec = obj.get("kind"), obj.get("spec") or {}
    if kind == "Pod":
        yield spec
    elif kind in {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}:
        yield spec["template"]["spec"]
    elif kind == "CronJob":
        yield spec["jobTemplate"]["spec"]["template"]["spec"]


def containers(pod: dict) -> Iterator[dict]:
    yield from pod.get("initContainers") or []
    yield from pod.get("containers") or []


def image_problem(image: str | None) -> str | None:
    if not image:
        return "no image"
    if "@sha256:" in image:
        return None
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:
        return f"image {image} has no tag"
    if tag == "latest":
        return f"image {image} uses the latest tag"
    return None


def policy_findings(obj: Manifest) -> list[str]:
    found = []
    where = describe(obj)
    for pod in pod_specs(obj):
        pod_ctx = pod.get("securityContext") or {}
        for c in containers(pod):
            at = f"{where} container {c.get('name')}"
            if problem := image_problem(c.get("image")):
                found.append(f"{at}: {problem}")
            resources = c.get("resources") or {}
            for part in ("requests", "limits"):
                for resource in ("cpu", "memory"):
                    if resource not in (resources.get(part) or {}):
                        found.append(f"{at}: no {resource} {part}")
            ctx = c.get("securityContext") or {}
            if not ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot")):
                found.append(f"{at}: runAsNonRoot is not true")
            if ctx.get("runAsUser", pod_ctx.get("runAsUser")) == 0:
                found.append(f"{at}: runs as uid 0")
            if ctx.get("allowPrivilegeEscalation", True) or ctx.get("privileged"):
                found.append(f"{at}: privilege escalation is allowed")
            for env in c.get("env") or []:
                value = env.get("value")
                if value is None:
                    continue
                if URL_WITH_PASSWORD.search(value) or (
                    SECRET_NAME.search(env["name"]) and not ONLY_VAR_REFERENCES.match(value)
                ):
                    found.append(f"{at}: env {env['name']} is a literal secret; use valueFrom.secretKeyRef")
    if obj.get("kind") == "SparkApplication":
        spec = obj["spec"]
        for part in ("driver", "executor"):
            pod = spec.get(part) or {}
            at = f"{where} {part}"
            if problem := image_problem(pod.get("image") or spec.get("image")):
                found.append(f"{at}: {problem}")
            for field in ("cores", "coreLimit", "memory"):
                if field not in pod:
                    found.append(f"{at}: no {field}")
            if not (pod.get("securityContext") or {}).get("runAsNonRoot"):
                found.append(f"{at}: runAsNonRoot is not true")
    if obj.get("kind") == "Secret" and obj.get("stringData"):
        found.append(f"{where}: stringData; secrets are generated or referenced, never written in a chart")
    return found


# A value naming a Secret, or a key inside one, rather than holding a secret.
REFERENCE_KEY = re.compile(r"(Secret|[sS]ecretName|(Key|Id|Url)Key)$")
SECRET_KEY_NAME = re.compile(r"^[-._a-zA-Z0-9]+$")


def plaintext_secrets(values: Any, path: str = "") -> list[str]:
    """Secret-looking values in a values tree: keys named like secrets, passwords in URLs."""
    found = []
    if isinstance(values, dict):
        for key, value in values.items():
            sub = f"{path}.{key}" if path else str(key)
            if isinstance(value, str) and value and SECRET_NAME.search(str(key)):
                is_reference = REFERENCE_KEY.search(str(key)) and SECRET_KEY_NAME.match(value)
                if not is_reference:
                    found.append(f"{sub}: looks like a secret written in values")
            found += plaintext_secrets(value, sub)
    elif isinstance(values, list):
        for i, item in enumerate(values):
            if (
                isinstance(item, dict)
                and SECRET_NAME.search(str(item.get("name", "")))
                and isinstance(item.get("value"), str)
                and not ONLY_VAR_REFERENCES.match(item["value"])
            ):
                found.append(f"{path}[{i}] ({item['name']}): looks like a secret written in values")
            found += plaintext_secrets(item, f"{path}[{i}]")
    elif isinstance(values, str) and URL_WITH_PASSWORD.search(values):
        found.append(f"{path}: URL with a password")
    return found


# --- the checks -----------------------------------------------------------


def test_value_sets_cover_each_chart() -> None:
    for chart in RELEASES:
        names = {p.name for p in GOOD_SETS}
        for kind in ("minimal", "production", "external"):
            assert f"{chart}-{kind}.yaml" in names
        assert any(chart_of(p) == chart for p in BAD_SETS), f"no bad value set for {chart}"


@pytest.mark.parametrize("values_file", GOOD_SETS, ids=lambda p: p.stem)
def test_helm_lint(helm: str, values_file: Path) -> None:
    chart = chart_of(values_file)
    result = run_helm(
        helm,
        "lint",
        str(CHARTS / chart),
        "--strict",
        "--values",
        str(values_file),
        "--namespace",
        NAMESPACE,
        "--kube-version",
        KUBE_VERSION,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("values_file", GOOD_SETS, ids=lambda p: p.stem)
def test_rendered_objects_match_schemas(rendered: dict, schemas: Schemas, values_file: Path) -> None:
    objects = rendered[values_file.name]
    assert objects, "nothing rendered"
    errors = [error for obj in objects for error in schemas.errors(obj)]
    assert not errors, "\n".join(errors)


@pytest.mark.parametrize("values_file", GOOD_SETS, ids=lambda p: p.stem)
def test_rendered_objects_meet_policy(rendered: dict, values_file: Path) -> None:
    findings = [f for obj in rendered[values_file.name] for f in policy_findings(obj)]
    assert not findings, "\n".join(findings)


@pytest.mark.parametrize(
    "values_file",
    [CHARTS / chart / "values.yaml" for chart in RELEASES] + GOOD_SETS + BAD_SETS,
    ids=lambda p: p.stem if p.parent == VALUES else f"{p.parent.name}-defaults",
)
def test_values_hold_no_plaintext_secrets(values_file: Path) -> None:
    findings = plaintext_secrets(yaml.safe_load(values_file.read_text()) or {})
    assert not findings, "\n".join(findings)


@pytest.mark.parametrize("values_file", BAD_SETS, ids=lambda p: p.stem)
def test_bad_values_fail_helm_template_with_the_schema_message(helm: str, values_file: Path) -> None:
    expected = re.search(r"^# expect: (.+)$", values_file.read_text(), re.M)
    assert expected, f"{values_file.name} needs a '# expect: <message>' line"
    chart = chart_of(values_file)
    result = template(helm, CHARTS / chart, values_file, RELEASES[chart])
    assert result.returncode != 0, f"{values_file.name} rendered, but must be refused"
    assert expected.group(1).strip() in result.stderr, result.stderr


# --- what the charts promise ------------------------------------------------


def objects_of(rendered: dict, values_name: str, kind: str) -> list[Manifest]:
    return [o for o in rendered[values_name] if o["kind"] == kind]


def by_name(objects: list[Manifest], name: str) -> Manifest:
    matches = [o for o in objects if o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{name}: {[o['metadata']['name'] for o in objects]}"
    return matches[0]


def test_control_plane_config_file_and_secrets(rendered: dict) -> None:
    objects = rendered["lakeplane-production.yaml"]
    config_map = by_name(objects_of(rendered, "lakeplane-production.yaml", "ConfigMap"), "lakeplane-config")
    config = tomllib.loads(config_map["data"]["lakeplane.toml"])
    assert config["server"] == {
        "host": "0.0.0.0",  # noqa: S104 - the container listens on every interface
        "port": 8080,
        "public_url": "https://lakeplane.corp.example",
        "tls": True,
        # Behind the chart's Ingress, the controller's X-Forwarded-For is believed.
        "forwarded_allow_ips": ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"],
    }
    minimal = by_name(objects_of(rendered, "lakeplane-minimal.yaml", "ConfigMap"), "lakeplane-config")
    assert tomllib.loads(minimal["data"]["lakeplane.toml"])["server"]["forwarded_allow_ips"] == []
    assert config["security"]["primary_key_id"] == "k2025"
    assert {name: choice["plugin"] for name, choice in config["engines"].items()} == {
        "trino": "trino",
        "spark": "spark",
    }
    assert config["database"] == {}, "the database URL comes from a Secret"

    api = by_name(objects_of(rendered, "lakeplane-production.yaml", "Deployment"), "lakeplane-api")
    container = api["spec"]["template"]["spec"]["containers"][0]
    assert container["command"] == ["lakeplane"] and container["args"][0] == "serve"
    env = {e["name"]: e for e in container["env"]}
    assert env["LAKEPLANE_CONFIG"]["value"] == "/etc/lakeplane/lakeplane.toml"
    for name in (
        "LAKEPLANE_DATABASE__URL",
        "LAKEPLANE_SECURITY__SESSION_KEY",
        "LAKEPLANE_SECURITY__ENCRYPTION_KEYS__K2024",
        "LAKEPLANE_SECURITY__ENCRYPTION_KEYS__K2025",
    ):
        assert "secretKeyRef" in env[name]["valueFrom"], name
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    # With an existing secret, the chart makes none of its own.
    assert not objects_of(rendered, "lakeplane-production.yaml", "Secret")
    assert {o["kind"] for o in objects} >= {"Ingress", "NetworkPolicy", "PodDisruptionBudget"}
    ingress = objects_of(rendered, "lakeplane-production.yaml", "Ingress")[0]
    assert ingress["spec"]["tls"][0]["secretName"]


def _metadata_policies(objects: list[Manifest]) -> dict[str, Manifest]:
    return {
        o["metadata"]["namespace"]: o
        for o in objects
        if o["kind"] == "NetworkPolicy" and o["metadata"]["name"].endswith("-no-metadata")
    }


def test_pods_cannot_reach_metadata_addresses_unless_turned_off(rendered: dict, helm: str) -> None:
    """By default the control plane's pods and every workspace namespace get an egress policy
    that leaves out link-local and metadata addresses; ``metadataEgress.block=false`` drops it."""
    minimal = _metadata_policies(rendered["lakeplane-minimal.yaml"])
    assert set(minimal) == {NAMESPACE, "lakeplane-ws-demo"}
    for namespace, policy in minimal.items():
        assert policy["spec"]["policyTypes"] == ["Egress"]
        blocks = [peer["ipBlock"] for rule in policy["spec"]["egress"] for peer in rule["to"]]
        assert {"cidr": "0.0.0.0/0", "except": ["169.254.0.0/16", "100.100.100.200/32"]} in blocks
        assert any(b["cidr"] == "::/0" and "fe80::/10" in b["except"] for b in blocks)
        selector = policy["spec"]["podSelector"]
        # In its own namespace only the release's pods; a workspace namespace holds only Spark pods.
        assert selector == (
            {"matchLabels": {"app.kubernetes.io/instance": "lakeplane"}} if namespace == NAMESPACE else {}
        )
    production = _metadata_policies(rendered["lakeplane-production.yaml"])
    reopened = [peer["ipBlock"] for rule in production[NAMESPACE]["spec"]["egress"] for peer in rule["to"]]
    assert {"cidr": "169.254.20.10/32"} in reopened
    values = VALUES / "lakeplane-minimal.yaml"
    result = run_helm(
        helm,
        "template",
        "lakeplane",
        str(CHARTS / "lakeplane"),
        "--namespace",
        NAMESPACE,
        "--kube-version",
        KUBE_VERSION,
        "--values",
        str(values),
        "--set",
        "metadataEgress.block=false",
    )
    assert result.returncode == 0, result.stderr
    assert not _metadata_policies(parse_manifests(result.stdout))


@pytest.mark.parametrize(
    "values_file", [p for p in GOOD_SETS if chart_of(p) == "lakeplane"], ids=lambda p: p.stem
)
def test_lakeplane_accepts_the_rendered_config(rendered: dict, values_file: Path, tmp_path: Path) -> None:
    """The config file and the Secret-fed variables, loaded the way the containers load them."""
    import msgspec

    from lakeplane import config as config_module
    from lakeplane import plugins as plugin_loading
    from lakeplane.cli.core_commands import generate_key
    from lakeplane.errors import ConfigError

    objects = rendered[values_file.name]
    toml_text = by_name([o for o in objects if o["kind"] == "ConfigMap"], "lakeplane-config")["data"][
        "lakeplane.toml"
    ]
    (tmp_path / "lakeplane.toml").write_text(toml_text)
    api = by_name([o for o in objects if o["kind"] == "Deployment"], "lakeplane-api")
    environ = {}
    for env in api["spec"]["template"]["spec"]["containers"][0]["env"]:
        if "value" in env:
            environ[env["name"]] = env["value"]
        elif env["name"] == "LAKEPLANE_DATABASE__URL":
            environ[env["name"]] = "postgresql+asyncpg://lakeplane:pw@db:5432/lakeplane"
        elif env["name"].startswith("LAKEPLANE_SECURITY__"):
            environ[env["name"]] = generate_key()
    environ["LAKEPLANE_CONFIG"] = str(tmp_path / "lakeplane.toml")
    config = config_module.load(environ=environ)
    assert config.server.port == 8080

    # Each plugin's options decode into the Options of the plugin installed here.
    registry = plugin_loading.load().registry
    choices = {"object_store": config.object_store, "catalog": config.catalog, "auth": config.auth}
    choices |= {f"engines.{name}": choice for name, choice in config.engines.items()}
    checked = []
    for key, choice in choices.items():
        role = "engine" if key.startswith("engines.") else key
        try:
            impl = registry.get(role, choice.plugin, f"{key}.plugin")
        except ConfigError:
            continue  # that plugin's distribution is not installed in this environment
        msgspec.convert(choice.options, impl.cls.Options)
        checked.append(key)
    assert "object_store" in checked and "auth" in checked, checked


def test_migrations_run_as_a_pre_install_and_pre_upgrade_hook(rendered: dict) -> None:
    job = by_name(objects_of(rendered, "lakeplane-minimal.yaml", "Job"), "lakeplane-migrate")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert job["spec"]["template"]["spec"]["containers"][0]["args"] == ["migrate"]
    config = by_name(objects_of(rendered, "lakeplane-minimal.yaml", "ConfigMap"), "lakeplane-migrate-config")
    # The hook's config exists before the Job does.
    assert int(config["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        job["metadata"]["annotations"]["helm.sh/hook-weight"]
    )


def test_spark_launcher_rights_stay_in_workspace_namespaces(rendered: dict) -> None:
    values = yaml.safe_load((VALUES / "lakeplane-production.yaml").read_text())
    namespaces = set(values["spark"]["workspaceNamespaces"])
    objects = rendered["lakeplane-production.yaml"]
    roles = [o for o in objects if o["kind"] == "Role"]
    bindings = [o for o in objects if o["kind"] == "RoleBinding"]
    assert {r["metadata"]["namespace"] for r in roles} == namespaces
    assert {b["metadata"]["namespace"] for b in bindings} == namespaces
    for role in roles:
        rules = {
            (tuple(r["apiGroups"]), res): set(r["verbs"]) for r in role["rules"] for res in r["resources"]
        }
        assert rules[(("",), "secrets")] == {"create"}
        assert {"create", "delete", "watch"} <= rules[(("",), "pods")]
        assert {"create", "delete", "watch"} <= rules[(("sparkoperator.k8s.io",), "sparkapplications")]
    assert not [o for o in objects if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]


# --- the Spark plugin's Kubernetes requests against the chart's RBAC -----------------


class ApiRequest(NamedTuple):
    """A request as the API server's authorizer sees it."""

    verb: str
    group: str
    #: ``pods``, ``pods/log``, ...; None for discovery (``/api``, ``/apis``, ...).
    resource: str | None
    #: None for a cluster-wide request.
    namespace: str | None
    name: str | None


def api_request(method: str, url: str, query: list[tuple[str, Any]]) -> ApiRequest:
    parts = urlsplit(url).path.strip("/").split("/")
    group, rest = ("", parts[2:]) if parts[0] == "api" else ("/".join(parts[1:2]), parts[3:])
    if not rest:
        return ApiRequest("get", group, None, None, None)
    namespace = None
    if rest[0] == "namespaces" and len(rest) > 2:
        namespace, rest = rest[1], rest[2:]
    resource, name = "/".join([rest[0], *rest[2:3]]), (rest[1] if len(rest) > 1 else None)
    if method == "GET":
        verb = "get" if name else "watch" if dict(query).get("watch") else "list"
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = {"POST": "create", "PUT": "update", "PATCH": "patch"}[method]
    return ApiRequest(verb, group, resource, namespace, name)


def bound_rules(objects: list[Manifest], namespace: str, account: str) -> dict[str | None, list[dict]]:
    """The RBAC rules bound to a service account, by the namespace they hold in (None: everywhere)."""
    roles = {(o["metadata"]["namespace"], o["metadata"]["name"]): o for o in objects if o["kind"] == "Role"}
    cluster_roles = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ClusterRole"}
    rules: dict[str | None, list[dict]] = {}
    for binding in objects:
        if binding["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if not any(
            (s["kind"], s["name"], s.get("namespace")) == ("ServiceAccount", account, namespace)
            for s in binding.get("subjects") or []
        ):
            continue
        where = binding["metadata"]["namespace"] if binding["kind"] == "RoleBinding" else None
        ref = binding["roleRef"]
        role = roles.get((where, ref["name"])) if ref["kind"] == "Role" else cluster_roles.get(ref["name"])
        rules.setdefault(where, []).extend((role or {}).get("rules") or [])
    return rules


def allowed(rules: dict[str | None, list[dict]], request: ApiRequest) -> bool:
    if request.resource is None:
        return True  # discovery: the default system:discovery role lets every account read it
    held = rules.get(None, []) + (rules.get(request.namespace, []) if request.namespace else [])
    return any(
        {request.group, "*"} & set(rule.get("apiGroups") or [])
        and {request.resource, "*"} & set(rule.get("resources") or [])
        and {request.verb, "*"} & set(rule.get("verbs") or [])
        and (not rule.get("resourceNames") or request.name in rule["resourceNames"])
        for rule in held
    )


async def spark_backend_requests(options: dict[str, Any], operator: bool) -> list[ApiRequest]:
    """Every request the Spark plugin's kubernetes backend makes for one run (submit, status,
    logs, stop) and one ``list_active`` with its clean-up. Nothing is sent: a client that
    records each request answers it with a canned object, just enough for the backend to
    go on; the answers say nothing about what a cluster would do."""
    import msgspec
    from kubernetes_asyncio import client
    from kubernetes_asyncio.client.exceptions import ApiException

    from lakeplane.interfaces import Submission
    from lakeplane.testing.fixtures import placeholder_lake
    from lakeplane_spark import SparkEngine, SparkOptions, SparkParams
    from lakeplane_spark.kubernetes import manifests
    from lakeplane_spark.spec import decode_spec

    params = SparkParams(backend="kubernetes", catalog_uri="http://catalog:8181", **placeholder_lake())
    spec = decode_spec({"application": "local:///opt/job.py"})
    submission = Submission(run_id="run_1", attempt=1, workspace="demo", job_type="spark_batch", spec=spec)
    long_ago = "2020-01-01T00:00:00Z"
    pod = {**manifests.driver_pod_manifest(params, submission, spec), "status": {"phase": "Running"}}
    old_pod = {
        **pod,
        "metadata": {**pod["metadata"], "name": "lp-old-a1-driver", "creationTimestamp": long_ago},
        "status": {
            "phase": "Succeeded",
            "containerStatuses": [
                {
                    "name": "spark-driver",
                    "image": "spark",
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "state": {"terminated": {"exitCode": 0, "finishedAt": long_ago}},
                }
            ],
        },
    }
    app = {
        **manifests.spark_application_manifest(params, submission, spec),
        "status": {"applicationState": {"state": "RUNNING"}},
    }
    tombstone = {
        "metadata": {"name": "lp-old-a1-cancelled", "creationTimestamp": long_ago, "labels": {}},
        "data": {},
    }
    version = {"groupVersion": "sparkoperator.k8s.io/v1beta2", "version": "v1beta2"}
    groups = [{"name": "sparkoperator.k8s.io", "versions": [version]}] if operator else []

    def answer(request: ApiRequest, body: Any) -> Any:
        if request.resource is None:
            return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
        if request.verb == "create":
            return {**body, "metadata": {**body["metadata"], "uid": "uid-1"}}
        if request.verb == "delete":
            return {}
        if request.verb == "list":
            items = {"pods": [pod, old_pod], "sparkapplications": [app], "configmaps": [tombstone]}
            in_namespace = [
                {**item, "metadata": {**item["metadata"], "namespace": request.namespace}}
                for item in items[request.resource]
            ]
            return {"items": in_namespace}
        found = {"pods": pod, "pods/log": "driver log", "sparkapplications": app}.get(request.resource)
        if found is None:  # no tombstone: the run was not stopped before
            raise ApiException(status=404, reason="Not Found")
        return found

    class Response:
        def __init__(self, status: int, payload: Any) -> None:
            self.status, self.reason, self.data = status, "OK", json.dumps(payload).encode()

        def getheader(self, name: str, default: Any = None) -> Any:
            return "application/json" if name.lower() == "content-type" else default

        def getheaders(self) -> dict[str, str]:
            return {"content-type": "application/json"}

    class Recorder(client.ApiClient):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(client.Configuration())
            self.requests: list[ApiRequest] = []

        async def request(
            self, method: str, url: str, query_params: Any = None, body: Any = None, **_: Any
        ) -> Any:
            request = api_request(method, url, query_params or [])
            self.requests.append(request)
            try:
                return Response(201 if request.verb == "create" else 200, answer(request, body))
            except ApiException as exc:
                exc.body = b""
                raise

    engine = SparkEngine(
        msgspec.structs.replace(params, spark_operator="auto"), msgspec.convert(options, SparkOptions)
    )
    recorder = Recorder()
    engine.backend._api = recorder  # the backend's API client, here one that sends nothing
    async with engine:
        await engine.health()
        handle = await engine.submit(submission)
        await engine.status(handle)
        await engine.logs(handle)
        await engine.cancel(handle)
        await engine.list_active()
    return recorder.requests


async def test_the_spark_plugin_asks_only_for_what_the_chart_grants(rendered: dict) -> None:
    """The config file tells the Spark plugin the workspace namespaces, the same list the Roles
    come from; each request the plugin's kubernetes backend makes, with and without the Spark
    Operator, must be allowed by the Roles bound to the worker's service account."""
    values = "lakeplane-production.yaml"
    objects = rendered[values]
    config_map = by_name(objects_of(rendered, values, "ConfigMap"), "lakeplane-config")
    options = tomllib.loads(config_map["data"]["lakeplane.toml"])["engines"]["spark"]["options"]
    role_namespaces = {r["metadata"]["namespace"] for r in objects_of(rendered, values, "Role")}
    assert set(options["workspace_namespaces"]) == role_namespaces
    worker = by_name(objects_of(rendered, values, "Deployment"), "lakeplane-worker")
    rules = bound_rules(objects, NAMESPACE, worker["spec"]["template"]["spec"]["serviceAccountName"])

    for operator in (False, True):
        requests = await spark_backend_requests(options, operator)
        refused = [r for r in requests if not allowed(rules, r)]
        assert not refused, f"operator={operator}: the chart's RBAC refuses {refused}"
        assert {r.namespace for r in requests if r.verb == "list"} == role_namespaces
        deleted = {(r.resource, r.namespace, r.name) for r in requests if r.verb == "delete"}
        for ns in role_namespaces:  # the clean-up of long-finished runs was among the requests
            assert ("configmaps", ns, "lp-old-a1-cancelled") in deleted
            assert (("pods", ns, "lp-old-a1-driver") in deleted) is not operator

    # The check can fail: listing cluster-wide (as list_active once did), a namespace without
    # a Role, reading a Secret back.
    for method, path in (
        ("GET", "/api/v1/pods"),
        ("GET", "/apis/sparkoperator.k8s.io/v1beta2/sparkapplications"),
        ("POST", "/api/v1/namespaces/lakeplane-ws-elsewhere/pods"),
        ("GET", "/api/v1/namespaces/lakeplane-ws-demo/secrets/lp-run-1-a1-secrets"),
    ):
        assert not allowed(rules, api_request(method, f"https://kubernetes.default.svc{path}", [])), path


def test_trino_iceberg_catalog_and_resource_groups(rendered: dict) -> None:
    config = by_name(objects_of(rendered, "dataplane-minimal.yaml", "ConfigMap"), "dataplane-trino")["data"]
    catalog = dict(
        line.split("=", 1) for line in config["catalog-iceberg.properties"].splitlines() if "=" in line
    )
    assert catalog["iceberg.catalog.type"] == "rest"
    assert catalog["iceberg.rest-catalog.uri"] == "http://dataplane-seaweedfs.lakeplane.svc:8181"
    assert catalog["iceberg.rest-catalog.security"] == "OAUTH2"
    assert catalog["iceberg.rest-catalog.oauth2.credential"] == "${ENV:ICEBERG_REST_CREDENTIAL}"
    assert catalog["s3.endpoint"] == "http://dataplane-seaweedfs.lakeplane.svc:8333"
    assert catalog["s3.aws-secret-key"] == "${ENV:S3_SECRET_ACCESS_KEY}"
    assert catalog["fs.native-s3.enabled"] == "true"

    groups = json.loads(config["resource-groups.json"])
    subgroups = {g["name"]: g for g in groups["rootGroups"][0]["subGroups"]}
    assert set(subgroups) == {"bi", "batch"}
    assert all(g["softMemoryLimit"].endswith("%") for g in subgroups.values())
    batch_selector = next(s for s in groups["selectors"] if s.get("clientTags"))
    assert batch_selector == {"clientTags": ["lakeplane-queue=batch"], "group": "global.batch"}


def test_external_services_bundle_nothing(rendered: dict) -> None:
    objects = rendered["dataplane-external.yaml"]
    assert not [o for o in objects if o["kind"] == "StatefulSet"], "no bundled storage or Postgres"
    assert not [o for o in objects if o["kind"] == "Secret"], "credentials come from existing Secrets"
    config = by_name([o for o in objects if o["kind"] == "ConfigMap"], "dataplane-trino")["data"]
    assert (
        "iceberg.rest-catalog.uri=https://iceberg.corp.example/catalog"
        in config["catalog-iceberg.properties"]
    )


def test_generated_database_url_points_at_the_bundled_postgres(rendered: dict) -> None:
    import base64

    secret = by_name(objects_of(rendered, "dataplane-minimal.yaml", "Secret"), "dataplane-lakeplane-database")
    url = base64.b64decode(secret["data"]["url"]).decode()
    assert re.fullmatch(
        r"postgresql\+asyncpg://lakeplane:[A-Za-z0-9]{32}@dataplane-postgresql\.lakeplane\.svc:5432/lakeplane",
        url,
    )


# --- the checks themselves can fail ------------------------------------------


def first(objects: list[Manifest], kind: str) -> Manifest:
    return deepcopy(next(o for o in objects if o["kind"] == kind))


def test_validator_rejects_broken_objects(rendered: dict, schemas: Schemas) -> None:
    deployment = first(rendered["lakeplane-minimal.yaml"], "Deployment")
    assert schemas.errors(deployment) == []

    wrong_type = deepcopy(deployment)
    wrong_type["spec"]["replicas"] = "two"
    assert any("/spec/replicas" in e and "'two' is not of type" in e for e in schemas.errors(wrong_type))

    misspelt = deepcopy(deployment)
    misspelt["spec"]["template"]["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    assert any("imagePullPolicyy" in e for e in schemas.errors(misspelt))

    missing = deepcopy(deployment)
    del missing["spec"]["selector"]
    assert any("'selector' is a required property" in e for e in schemas.errors(missing))

    unknown_kind = {"apiVersion": "example.com/v1", "kind": "Gadget", "metadata": {"name": "x"}}
    assert any("no schema" in e for e in schemas.errors(unknown_kind))

    spark_app = first(rendered["dataplane-production.yaml"], "SparkApplication")
    assert schemas.errors(spark_app) == []
    spark_app["spec"]["driver"]["cores"] = "1"
    spark_app["spec"]["executor"]["env"] = [{"value": "no name"}]
    errors = schemas.errors(spark_app)
    assert any("/spec/driver/cores" in e for e in errors)
    assert any("/spec/executor/env/0" in e and "'name' is a required property" in e for e in errors)


def test_a_key_given_twice_is_refused() -> None:
    with pytest.raises(yaml.constructor.ConstructorError, match="duplicate key 'app'"):
        parse_manifests("kind: ConfigMap\nmetadata:\n  labels:\n    app: a\n    app: b\n")


def test_validator_rejects_a_deliberately_invalid_manifest(schemas: Schemas) -> None:
    manifest = yaml.safe_load(
        """
        apiVersion: v1
        kind: Service
        metadata: {name: broken}
        spec:
          type: Sideways
          ports:
            - {name: http, port: "eighty"}
        """
    )
    errors = schemas.errors(manifest)
    assert any("/spec/ports/0/port" in e for e in errors), errors


def test_policy_checks_catch_violations(rendered: dict) -> None:
    deployment = first(rendered["dataplane-minimal.yaml"], "Deployment")
    assert policy_findings(deployment) == []
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["image"] = "trinodb/trino:latest"
    del container["resources"]["limits"]
    container["securityContext"]["runAsNonRoot"] = False
    container["env"].append({"name": "DB_PASSWORD", "value": "hunter2"})
    container["env"].append({"name": "DSN", "value": "postgresql://app:hunter2@db:5432/app"})
    findings = "\n".join(policy_findings(deployment))
    for expected in (
        "uses the latest tag",
        "no cpu limits",
        "no memory limits",
        "runAsNonRoot is not true",
        "env DB_PASSWORD is a literal secret",
        "env DSN is a literal secret",
    ):
        assert expected in findings

    untagged = first(rendered["lakeplane-minimal.yaml"], "Deployment")
    untagged["spec"]["template"]["spec"]["containers"][0]["image"] = "lakeplane/lakeplane"
    assert any("has no tag" in f for f in policy_findings(untagged))


def test_plaintext_secret_scan_catches_secrets() -> None:
    findings = plaintext_secrets(
        {
            "postgresql": {"password": "hunter2"},
            "security": {
                "sessionKey": "c2VjcmV0c2VjcmV0c2VjcmV0",
                "sessionKeyKey": "session-key",
                "existingSecret": "lp",
            },
            "extraEnv": [{"name": "LAKEPLANE_SECURITY__SESSION_KEY", "value": "abc123"}],
            "catalog": {"options": {"uri": "https://user:pw@iceberg.example"}},
        }
    )
    assert len(findings) == 4, findings
    assert plaintext_secrets(yaml.safe_load((CHARTS / "lakeplane" / "values.yaml").read_text())) == []


def test_a_broken_template_fails_the_checks(helm: str, schemas: Schemas, tmp_path: Path) -> None:
    chart = tmp_path / "lakeplane"
    shutil.copytree(CHARTS / "lakeplane", chart)
    (chart / "templates" / "broken.yaml").write_text(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: broken\n"
        "spec:\n  ports:\n    - port: {{ .Values.server.publicUrl | quote }}\n"
    )
    result = template(helm, chart, None, "lakeplane")
    assert result.returncode == 0, result.stderr
    errors = [e for obj in parse_manifests(result.stdout) for e in schemas.errors(obj)]
    assert any(e.startswith("Service/broken at /spec/ports/0/port") for e in errors), errors

    (chart / "templates" / "broken.yaml").write_text(
        "kind: Service\nmetadata: {{ .Values.server.port | badFunction }}\n"
    )
    result = template(helm, chart, None, "lakeplane")
    assert result.returncode != 0 and "badFunction" in result.stderr


def test_oidc_options_with_a_role_mapping_render_as_toml_tables(rendered: dict) -> None:
    config_map = by_name(objects_of(rendered, "lakeplane-oidc.yaml", "ConfigMap"), "lakeplane-config")
    config = tomllib.loads(config_map["data"]["lakeplane.toml"])
    assert config["auth"]["plugin"] == "oidc"
    assert config["auth"]["options"]["roles"] == {
        "admin_groups": ["lakeplane-admins"],
        "workspaces": {"sales": {"editor": ["sales-analysts"], "viewer": ["sales"]}},
    }
    assert "client_secret" not in config["auth"]["options"], "the secret comes from a Secret"
    assert config["server"]["forwarded_allow_ips"], "behind the Ingress"
