-- The background pipeline (docs/architecture.md "Pipeline").
-- A job is one piece of derived work (a stage) for one memory. It is written in the
-- same transaction as the record it concerns, so it is exactly as durable as the
-- record. A worker claims jobs by setting a lease (lease_until) and a fresh claim
-- token; a job whose lease ran out (its worker died) can be claimed again. A done job
-- is deleted in the same transaction as its output, so a job is done once or not at
-- all. After max attempts a job stays, state 'failed', with its last error.
-- At most one job per (stage, memory): writing a memory again resets its job.
CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    stage       TEXT    NOT NULL,
    memory_id   TEXT    NOT NULL,
    state       TEXT    NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    enqueued_at REAL    NOT NULL,
    run_after   REAL    NOT NULL,
    lease_until REAL,
    token       TEXT,
    worker      TEXT,
    error       TEXT,
    UNIQUE (stage, memory_id)
);
CREATE INDEX jobs_ready  ON jobs (state, run_after);
CREATE INDEX jobs_memory ON jobs (memory_id);

-- One row per finished batch, kept for an hour: the throughput `engram status` shows.
-- It names no memory.
CREATE TABLE job_log (
    at      REAL    NOT NULL,
    stage   TEXT    NOT NULL,
    jobs    INTEGER NOT NULL,
    seconds REAL    NOT NULL
);
CREATE INDEX job_log_at ON job_log (at);

-- Vectors carry the stage version that made them (NULL: before versions, i.e. 1), and an
-- embed sequence number: the in-process vector cache appends rows embedded after the
-- last number it saw, so a worker filling in vectors does not invalidate every cache.
ALTER TABLE memories ADD COLUMN embed_version INTEGER;
ALTER TABLE memories ADD COLUMN embed_seq INTEGER;
INSERT INTO meta (key, value) VALUES ('embed_seq', (SELECT coalesce(max(rowid), 0) FROM memories));
UPDATE memories SET embed_seq = rowid WHERE embedding IS NOT NULL;
CREATE INDEX memories_embed_seq ON memories (embed_seq) WHERE embed_seq IS NOT NULL;
