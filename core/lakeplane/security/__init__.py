"""Secrets at rest, redaction and endpoint checks."""
