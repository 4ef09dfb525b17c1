"""audit: events are linked into the chain at commit, inside the database

Revision ID: 20261125_0002
Revises: 20261125_0001
Create Date: 2026-11-25 22:40:00

Until now the application took the chain's advisory lock, read the last event,
hashed the new ones and inserted them: three round trips with the lock held, then
the commit, and every writer in the platform waited for that lock. From here the
application hashes each event's content (``content_hash``) and inserts it into
``audit_pending`` without any lock. A deferred constraint trigger runs when the
transaction commits: it takes the lock, reads the last event and moves the
transaction's pending events into ``audit_events`` with ``seq`` and ``hash =
sha256(prev_hash ':' seq ':' content_hash)``. The lock is held from there to the
end of the commit, with no round trip to the application in between.
Events written before this revision keep their old hash and still verify.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "20261125_0002"
down_revision = "20261125_0001"
branch_labels = None
depends_on = None

LINK = """
CREATE FUNCTION lakeplane_audit_link() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    last_seq bigint;
    last_hash text;
    p audit_pending%ROWTYPE;
    next_hash text;
BEGIN
    -- Every pending row queues one call; the first links them all, in insertion order,
    -- and the later ones find nothing left (only this transaction's rows are visible).
    IF NOT EXISTS (SELECT 1 FROM audit_pending) THEN
        RETURN NULL;
    END IF;
    PERFORM pg_advisory_xact_lock(7420931);
    -- Each statement here reads with a fresh snapshot: this sees the event committed
    -- by whoever held the lock before.
    SELECT a.seq, a.hash INTO last_seq, last_hash FROM audit_events a ORDER BY a.seq DESC LIMIT 1;
    last_seq := coalesce(last_seq, 0);
    last_hash := coalesce(last_hash, repeat('0', 64));
    FOR p IN SELECT * FROM audit_pending ORDER BY n LOOP
        last_seq := last_seq + 1;
        next_hash := encode(sha256(convert_to(
            last_hash || ':' || last_seq::text || ':' || p.content_hash, 'UTF8')), 'hex');
        INSERT INTO audit_events (
            seq, id, occurred_at, actor_id, actor_name, action, target_type, target_id,
            workspace_id, source_ip, request_id, outcome, details, prev_hash, content_hash, hash)
        VALUES (
            last_seq, p.id, p.occurred_at, p.actor_id, p.actor_name, p.action, p.target_type,
            p.target_id, p.workspace_id, p.source_ip, p.request_id, p.outcome, p.details,
            last_hash, p.content_hash, next_hash);
        last_hash := next_hash;
    END LOOP;
    DELETE FROM audit_pending;
    RETURN NULL;
END;
$$
"""
TRIGGER = """
CREATE CONSTRAINT TRIGGER audit_pending_link AFTER INSERT ON audit_pending
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION lakeplane_audit_link()
"""


def upgrade() -> None:
    op.add_column("audit_events", sa.Column("content_hash", sa.String(length=64), nullable=True))
    op.create_table(
        "audit_pending",
        sa.Column("n", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.String(length=40), nullable=True),
        sa.Column("actor_name", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=40), nullable=True),
        sa.Column("target_id", sa.String(length=200), nullable=True),
        sa.Column("workspace_id", sa.String(length=40), nullable=True),
        sa.Column("source_ip", sa.String(length=64), nullable=True),
        sa.Column("request_id", sa.String(length=64), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("n", name=op.f("pk_audit_pending")),
    )
    op.execute(LINK)
    op.execute(TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_pending_link ON audit_pending")
    op.execute("DROP FUNCTION IF EXISTS lakeplane_audit_link()")
    op.drop_table("audit_pending")
    op.drop_column("audit_events", "content_hash")
