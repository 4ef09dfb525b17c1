"""Keeping secret values out of logs, run output and errors.

A :class:`Redactor` knows the secret strings in play and replaces them, and their
base64 and URL-encoded forms, with ``[REDACTED]``; it also catches well-known token
formats whatever their value.
"""

from __future__ import annotations

import base64
import logging
import re
import threading
import urllib.parse
from collections.abc import Iterable

MASK = "[REDACTED]"
MIN_SECRET_LEN = 4

WELL_KNOWN = re.compile(
    r"(?:"
    r"AKIA[0-9A-Z]{16}"  # AWS access key id
    r"|lp_[A-Za-z0-9_-]{20,}"  # Lakeplane API tokens
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}"  # JWT
    r"|gh[pousr]_[A-Za-z0-9]{30,}"  # GitHub tokens
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"
    r"|(?i:(?:authorization|x-amz-security-token)\s*[:=]\s*)\S+"
    r")"
)


def encoded_forms(secret: str) -> set[str]:
    raw = secret.encode()
    forms = {
        secret,
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote_plus(secret),
        base64.b64encode(raw).decode(),
        base64.urlsafe_b64encode(raw).decode(),
    }
    forms |= {f.rstrip("=") for f in forms}
    return {f for f in forms if len(f) >= MIN_SECRET_LEN}


class Redactor:
    """Replaces the given secrets, in every encoded form, and well-known tokens with ``mask``."""

    def __init__(self, secrets: Iterable[str] = (), mask: str = MASK) -> None:
        self.mask = mask
        forms: set[str] = set()
        for secret in secrets:
            if secret and len(secret) >= MIN_SECRET_LEN:
                forms |= encoded_forms(secret)
        # Longest first so a secret is not half-replaced by a shorter one inside it.
        self._pattern = (
            re.compile("|".join(re.escape(f) for f in sorted(forms, key=len, reverse=True)))
            if forms
            else None
        )

    def __call__(self, text: str) -> str:
        return WELL_KNOWN.sub(self.mask, self.scrub(text))

    def scrub(self, text: str) -> str:
        """Only the given secrets replaced, in every encoded form: for an error message that
        names an access key id on purpose, which :data:`WELL_KNOWN` would hide too."""
        pattern = self._pattern
        return text if pattern is None else pattern.sub(self.mask, text)


class SharedRedactor(Redactor):
    """The process's redactor: secrets are added as the process learns them."""

    def __init__(self) -> None:
        super().__init__()
        self._known: set[str] = set()
        self._lock = threading.Lock()

    def add(self, secrets: Iterable[str]) -> None:
        new = {s for s in secrets if s and len(s) >= MIN_SECRET_LEN} - self._known
        if not new:
            return
        with self._lock:
            self._known |= new
            rebuilt = Redactor(self._known)
            self._pattern = rebuilt._pattern


#: Every secret this process has seen (config keys and passwords, decrypted connection
#: secrets): the log handlers redact them all.
SECRETS = SharedRedactor()


class RedactingFilter(logging.Filter):
    """A logging filter that passes every record's message through a redactor."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor(record.getMessage())
        record.args = None
        return True
