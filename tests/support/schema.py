"""Turning a database file back into an older schema version, for migration tests."""

from __future__ import annotations

# Undo of migrations 0007 (recall statistics, archiving), 0006 (valid time, fact slots, expiry)
# and 0005 (the pipeline's queue and the vector columns): run before the undo of earlier migrations.
UNDO_JOBS = """
    DROP INDEX memories_archived; ALTER TABLE memories DROP COLUMN recall_count;
    ALTER TABLE memories DROP COLUMN last_recalled_at; ALTER TABLE memories DROP COLUMN archived_at;
    DROP INDEX memories_slot; DROP INDEX memories_expiring;
    ALTER TABLE memories DROP COLUMN valid_to; ALTER TABLE memories DROP COLUMN subject;
    ALTER TABLE memories DROP COLUMN attribute; ALTER TABLE memories DROP COLUMN expires_at;
    DROP TABLE jobs; DROP TABLE job_log; DROP INDEX memories_embed_seq;
    ALTER TABLE memories DROP COLUMN embed_version; ALTER TABLE memories DROP COLUMN embed_seq;
    DELETE FROM meta WHERE key = 'embed_seq';
"""
