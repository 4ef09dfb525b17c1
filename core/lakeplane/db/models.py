"""The metadata database. Postgres only; every time is UTC; every id is opaque text.

Only the core reads and writes these tables: plugins get what they need through
the interfaces.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from lakeplane.timeutil import utcnow

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Timestamp = DateTime(timezone=True)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {dict[str, Any]: JSONB, list[Any]: JSONB, dt.datetime: Timestamp}


def _created() -> Mapped[dt.datetime]:
    return mapped_column(Timestamp, default=utcnow, server_default=text("now()"))


class Timestamps:
    """When the row was made and when it last changed."""

    created_at: Mapped[dt.datetime] = _created()
    updated_at: Mapped[dt.datetime] = mapped_column(
        Timestamp, default=utcnow, onupdate=utcnow, server_default=text("now()")
    )


class WorkspaceScoped:
    """A row a workspace owns, under an opaque id; it goes when the workspace goes."""

    # sort_order keeps these two first, where the migrations put them.
    id: Mapped[str] = mapped_column(String(40), primary_key=True, sort_order=-1)
    workspace_id: Mapped[str] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True, sort_order=-1
    )


class WorkspaceResource(WorkspaceScoped, Timestamps):
    """A workspace's resource that people create and edit: a connection, dataset, job or schedule."""

    created_by: Mapped[str | None] = mapped_column(String(40))


class Workspace(Timestamps, Base):
    __tablename__ = "workspaces"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    slug: Mapped[str] = mapped_column(String(63), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")


class User(Timestamps, Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="", server_default="")
    email: Mapped[str | None] = mapped_column(String(320))
    password_hash: Mapped[str | None] = mapped_column(Text)
    #: Which auth provider vouches for this user; ``subject`` is its id there.
    auth_provider: Mapped[str] = mapped_column(String(64), default="local", server_default="local")
    subject: Mapped[str | None] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    is_service_account: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    disabled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    #: Bumped on password change, disable and role change: every older session and token dies.
    credential_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_login_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class RoleBinding(Base):
    __tablename__ = "role_bindings"
    __table_args__ = (UniqueConstraint("user_id", "workspace_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    #: ``admin``, ``editor`` or ``viewer``.
    role: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = _created()


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    #: SHA-256 of the token; the token itself is shown once and never stored.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    scopes: Mapped[list[Any]] = mapped_column(JSONB, default=list, server_default=text("'[]'::jsonb"))
    credential_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    expires_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    last_used_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    created_at: Mapped[dt.datetime] = _created()


class UserSession(Base):
    __tablename__ = "sessions"

    #: SHA-256 of the session id held in the cookie.
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    credential_epoch: Mapped[int] = mapped_column(Integer)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    source_ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(400))
    created_at: Mapped[dt.datetime] = _created()
    last_seen_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(Timestamp)


class Connection(WorkspaceResource, Base):
    __tablename__ = "connections"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    name: Mapped[str] = mapped_column(String(100))
    #: Interface kind: ``object_store``, ``catalog`` or ``engine`` (column ``role``).
    kind: Mapped[str] = mapped_column("role", String(20))
    plugin: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: Non-secret parameters, as given.
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    #: Secret parameters, each ``{"k": key id, "v": AES-GCM ciphertext}``.
    secrets: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    last_test_ok: Mapped[bool | None] = mapped_column(Boolean)
    last_tested_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class Dataset(WorkspaceResource, Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    #: Logical name, unique in the workspace.
    name: Mapped[str] = mapped_column(String(200))
    owner: Mapped[str] = mapped_column(String(200))
    location: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(20), default="iceberg", server_default="iceberg")
    tags: Mapped[list[Any]] = mapped_column(JSONB, default=list)
    description: Mapped[str] = mapped_column(Text, default="", server_default="")
    #: The catalog connection and table this dataset points at, when registered from a catalog.
    connection_id: Mapped[str | None] = mapped_column(ForeignKey("connections.id", ondelete="SET NULL"))
    namespace: Mapped[str | None] = mapped_column(String(400))
    table_name: Mapped[str | None] = mapped_column(String(200))
    #: Set and lifted by global admins: snapshot expiry and orphan file removal are refused meanwhile.
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    legal_hold_reason: Mapped[str | None] = mapped_column(Text)
    legal_hold_by: Mapped[str | None] = mapped_column(String(40))
    legal_hold_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    #: ``{"expire_older_than_days", "keep_last", "orphan_older_than_days"}``: what maintenance may remove.
    retention: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class Job(WorkspaceResource, Base):
    __tablename__ = "jobs"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    name: Mapped[str] = mapped_column(String(200))
    #: ``trino_sql``, ``spark_batch`` or ``noop``.
    type: Mapped[str] = mapped_column(String(40))
    current_version: Mapped[int] = mapped_column(Integer, default=1)
    archived: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))


class JobVersion(Base):
    """An immutable definition of a job; every edit adds one."""

    __tablename__ = "job_versions"
    __table_args__ = (UniqueConstraint("job_id", "version"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    #: Engine-specific definition (SQL, Spark application, ...).
    definition: Mapped[dict[str, Any]] = mapped_column(JSONB)
    #: Declared parameters: ``[{name, type, default, required}]``.
    parameters: Mapped[list[Any]] = mapped_column(JSONB, default=list)
    connection_id: Mapped[str | None] = mapped_column(ForeignKey("connections.id", ondelete="SET NULL"))
    queue: Mapped[str] = mapped_column(String(64), default="default", server_default="default")
    max_concurrency: Mapped[int | None] = mapped_column(Integer)
    max_attempts: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    retry_backoff_s: Mapped[float] = mapped_column(default=10.0, server_default="10")
    timeout_s: Mapped[float | None] = mapped_column()
    created_by: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = _created()


class Run(WorkspaceScoped, Base):
    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("workspace_id", "idempotency_key"),
        Index("ix_runs_dispatch", "state", "queue", "next_attempt_at"),
        Index("ix_runs_job_created", "job_id", "created_at"),
    )

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    job_version_id: Mapped[str] = mapped_column(ForeignKey("job_versions.id"))
    #: queued, running, succeeded, failed, cancelled or timed_out.
    state: Mapped[str] = mapped_column(String(20))
    queue: Mapped[str] = mapped_column(String(64))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    #: The run this one reruns, when started by hand from another.
    rerun_of: Mapped[str | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"))
    attempt: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    max_attempts: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    waiting_for: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(Text)
    stop_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    engine_handle: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_token: Mapped[str | None] = mapped_column(String(40))
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    deadline_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    row_count: Mapped[int | None] = mapped_column(BigInteger)
    result_preview: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    log_uri: Mapped[str | None] = mapped_column(Text)
    log_sha256: Mapped[str | None] = mapped_column(String(64))
    stats: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default=text("'{}'::jsonb"))
    submitted_by: Mapped[str | None] = mapped_column(String(40))
    schedule_id: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = _created()
    started_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    finished_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class RunTransition(Base):
    __tablename__ = "run_transitions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    from_state: Mapped[str | None] = mapped_column(String(20))
    to_state: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str | None] = mapped_column(String(100))
    at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)


class RunLog(Base):
    """Log lines of a running attempt, so any API process can tail them."""

    __tablename__ = "run_logs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), index=True)
    attempt: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)


class Schedule(WorkspaceResource, Base):
    __tablename__ = "schedules"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), index=True)
    cron: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    paused: Mapped[bool] = mapped_column(Boolean, default=False, server_default=text("false"))
    #: ``skip`` (fire only the latest missed slot) or ``all`` (fire every missed slot).
    misfire_policy: Mapped[str] = mapped_column(String(10), default="skip", server_default="skip")
    next_fire_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)
    last_fired_at: Mapped[dt.datetime | None] = mapped_column(Timestamp)


class ScheduleFire(Base):
    """One row per fired slot: the primary key makes a double fire impossible."""

    __tablename__ = "schedule_fires"

    schedule_id: Mapped[str] = mapped_column(ForeignKey("schedules.id", ondelete="CASCADE"), primary_key=True)
    slot: Mapped[dt.datetime] = mapped_column(Timestamp, primary_key=True)
    run_id: Mapped[str | None] = mapped_column(String(40))
    fired_at: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)


class AuditContent:
    """The fields of an audit event that its ``content_hash`` covers, with ``id`` and ``action``
    (see :data:`lakeplane.domain.audit.records.CONTENT_FIELDS`); shared by the chain and the pending events."""

    occurred_at: Mapped[dt.datetime] = mapped_column(Timestamp)
    actor_id: Mapped[str | None] = mapped_column(String(40))
    actor_name: Mapped[str] = mapped_column(String(200))
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(200))
    workspace_id: Mapped[str | None] = mapped_column(String(40))
    source_ip: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(20))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class AuditEvent(AuditContent, Base):
    """Append-only (a trigger refuses UPDATE and DELETE); each row hashes the one before."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_workspace_seq", "workspace_id", "seq"),)

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    #: SHA-256 of the event's own fields; ``hash`` links it to ``prev_hash`` (NULL: an event of the first scheme).
    content_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditPending(AuditContent, Base):
    """Events of a transaction not yet linked into the chain: a trigger moves them at commit.

    Only the inserting transaction ever sees its rows (the trigger deletes them before
    the commit completes); see migration ``20261125_0002`` and :mod:`lakeplane.domain.audit.chain`.
    """

    __tablename__ = "audit_pending"

    n: Mapped[int] = mapped_column(BigInteger, Identity(always=False), primary_key=True)
    id: Mapped[str] = mapped_column(String(40))
    action: Mapped[str] = mapped_column(String(64))
    content_hash: Mapped[str] = mapped_column(String(64))


class ThrottleBucket(Base):
    """Failed-login counters per account and per source, shared by every API process."""

    __tablename__ = "login_throttle"

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    window_start: Mapped[dt.datetime] = mapped_column(Timestamp, default=utcnow)
    locked_until: Mapped[dt.datetime | None] = mapped_column(Timestamp)
