"""The audit log: appending events in the change's transaction, the hash chain, and reading it back."""

from lakeplane.domain.audit.chain import Verdict, verify
from lakeplane.domain.audit.records import Actor, Entry, log_line, record, to_json

__all__ = ["Actor", "Entry", "Verdict", "log_line", "record", "to_json", "verify"]
