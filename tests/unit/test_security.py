"""Secrets at rest, redaction and the endpoint guard."""

from __future__ import annotations

import base64
import urllib.parse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lakeplane.errors import EndpointRefused, ServerError
from lakeplane.security.crypto import Keyring
from lakeplane.security.endpoints import check_endpoint
from lakeplane.security.redact import MASK, Redactor

K1, K2 = "k1-material-" + "x1y2z3" * 6, "k2-material-" + "p9q8r7" * 6


def test_ciphertext_bound_to_context_and_key() -> None:
    ring = Keyring({"k1": K1}, "k1")
    env = ring.encrypt("hunter2-secret", "conn_a/secret_access_key")
    assert "hunter2" not in env["v"] and env["k"] == "k1"
    assert ring.decrypt(env, "conn_a/secret_access_key") == "hunter2-secret"
    with pytest.raises(ServerError):
        ring.decrypt(env, "conn_b/secret_access_key")


def test_rotation_path() -> None:
    old = Keyring({"k1": K1}, "k1")
    env = old.encrypt("value", "c/f")
    both = Keyring({"k1": K1, "k2": K2}, "k2")
    assert both.needs_rotation(env)
    rotated = both.encrypt(both.decrypt(env, "c/f"), "c/f")
    new_only = Keyring({"k2": K2}, "k2")
    assert new_only.decrypt(rotated, "c/f") == "value"


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=6, max_size=40))
def test_redactor_hides_secret_in_every_form(secret: str) -> None:
    redact = Redactor([secret])
    forms = [
        secret,
        urllib.parse.quote(secret, safe=""),
        base64.b64encode(secret.encode()).decode(),
    ]
    for form in forms:
        out = redact(f"before {form} after")
        assert form not in out
        assert MASK in out


def test_redactor_catches_well_known_tokens() -> None:
    text = "key AKIAABCDEFGHIJKLMNOP and token lp_abcdefghijklmnopqrstuvwxyz012345"
    out = Redactor()(text)
    assert "AKIAABCDEFGHIJKLMNOP" not in out and "lp_abcdef" not in out


def test_scrub_hides_only_the_given_secrets_with_the_chosen_mask() -> None:
    """An error message names the access key id on purpose; the secret key never shows."""
    secret = "s3cr3t/value+x"
    text = f"key AKIAABCDEFGHIJKLMNOP signed with {secret} ({urllib.parse.quote(secret, safe='')})"
    out = Redactor([secret], mask="***").scrub(text)
    assert out == "key AKIAABCDEFGHIJKLMNOP signed with *** (***)"
    assert Redactor().scrub(text) == text


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://169.254.169.254/latest/meta-data/",
        "169.254.10.1:9000",
        "http://[fe80::1]:8080",
        "file:///etc/passwd",
        "http://metadata.google.internal/",
        "http://[::ffff:169.254.169.254]/",
        "gopher://127.0.0.1/",
        # Trailing dots, case, numeric and full-width forms are compared in one normal form.
        "http://169.254.169.254./latest/meta-data/",
        "169.254.169.254..:80",
        "http://METADATA.google.internal./",
        "http://0xa9fea9fe/",
        "http://2852039166/",
        "http://169.254.43518/",
        "http://\uff11\uff16\uff19\uff0e\uff12\uff15\uff14\uff0e\uff11\uff16\uff19\uff0e\uff12\uff15\uff14/",
        "http://[fe80::1%25eth0]/",
        "http://user:pw@169.254.169.254:80/",
    ],
)
def test_refused_endpoints(endpoint: str) -> None:
    """Metadata services, link-local addresses and other schemes, in any spelling."""
    with pytest.raises(EndpointRefused):
        check_endpoint("params.endpoint_url", endpoint, resolve=False)


@pytest.mark.parametrize(
    "endpoint", ["http://127.0.0.1:8333", "https://s3.example.internal", "trino.local:8080"]
)
def test_ordinary_endpoints_pass(endpoint: str) -> None:
    check_endpoint("params.endpoint_url", endpoint, resolve=False)


def test_admin_allow_list() -> None:
    check_endpoint(
        "params.endpoint_url", "http://169.254.1.5:9000", allowed=["169.254.1.0/24"], resolve=False
    )
    with pytest.raises(EndpointRefused):
        check_endpoint(
            "params.endpoint_url", "http://169.254.2.5:9000", allowed=["169.254.1.0/24"], resolve=False
        )


def test_normal_form() -> None:
    from lakeplane.security.endpoints import normalise_host

    assert normalise_host("Example.COM.") == "example.com"
    assert normalise_host("b\u00fccher.example") == "xn--bcher-kva.example"
    assert normalise_host("[::FFFF:A9FE:A9FE]") == "::ffff:a9fe:a9fe"
    assert normalise_host("127.1") == "127.0.0.1"
    with pytest.raises(EndpointRefused):
        normalise_host("a..b")
