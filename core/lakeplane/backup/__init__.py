"""Backup and restore of the metadata database and the run logs."""

from lakeplane.backup.pgtools import BackupError
from lakeplane.backup.service import BackupResult, RestoreResult, backup, restore

__all__ = ["BackupError", "BackupResult", "RestoreResult", "backup", "restore"]
