"""audit: append inside the database, so the chain's lock is held for one round trip

Revision ID: 20261125_0002
Revises: 20261125_0001
Create Date: 2026-11-25 22:40:00

Until now the application took the chain's advisory lock, read the last event,
hashed the new ones and inserted them: four round trips with the lock held, which
every writer in the platform waits for. From here the application hashes each
event's content (``content_hash``) before it takes anything, and
``lakeplane_audit_append(events)`` takes the lock, reads the last event and links
the new ones with ``sha256(prev_hash ':' seq ':' content_hash)`` in one call.
Events written before this revision keep their old hash and still verify.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "20261125_0002"
down_revision = "20261125_0001"
branch_labels = None
depends_on = None

APPEND = """
CREATE FUNCTION lakeplane_audit_append(events jsonb)
RETURNS TABLE (event_id text, event_seq bigint, event_hash text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    last_seq bigint;
    last_hash text;
    e jsonb;
    next_hash text;
BEGIN
    PERFORM pg_advisory_xact_lock(7420931);
    -- A VOLATILE function reads with a fresh snapshot per statement: this sees the
    -- event committed by whoever held the lock before.
    SELECT a.seq, a.hash INTO last_seq, last_hash FROM audit_events a ORDER BY a.seq DESC LIMIT 1;
    last_seq := coalesce(last_seq, 0);
    last_hash := coalesce(last_hash, repeat('0', 64));
    FOR e IN SELECT t.value FROM jsonb_array_elements(events) WITH ORDINALITY AS t(value, n) ORDER BY t.n LOOP
        last_seq := last_seq + 1;
        next_hash := encode(sha256(convert_to(
            last_hash || ':' || last_seq::text || ':' || (e ->> 'content_hash'), 'UTF8')), 'hex');
        INSERT INTO audit_events (
            seq, id, occurred_at, actor_id, actor_name, action, target_type, target_id,
            workspace_id, source_ip, request_id, outcome, details, prev_hash, content_hash, hash)
        VALUES (
            last_seq, e ->> 'id', (e ->> 'occurred_at')::timestamptz, e ->> 'actor_id',
            e ->> 'actor_name', e ->> 'action', e ->> 'target_type', e ->> 'target_id',
            e ->> 'workspace_id', e ->> 'source_ip', e ->> 'request_id', e ->> 'outcome',
            coalesce(e -> 'details', '{}'::jsonb), last_hash, e ->> 'content_hash', next_hash);
        event_id := e ->> 'id';
        event_seq := last_seq;
        event_hash := next_hash;
        last_hash := next_hash;
        RETURN NEXT;
    END LOOP;
END;
$$
"""


def upgrade() -> None:
    op.add_column("audit_events", sa.Column("content_hash", sa.String(length=64), nullable=True))
    op.execute(APPEND)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS lakeplane_audit_append(jsonb)")
    op.drop_column("audit_events", "content_hash")
