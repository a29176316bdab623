-- engramdb on PostgreSQL: the background pipeline's queue (stores/pg_jobs.py, pg_queue.py),
-- SQLite's 0005_jobs.sql in meaning (docs/architecture.md "The background pipeline").
--
-- A job is one stage's work for one memory, written in the transaction of the record it
-- concerns. A claim takes ready rows with SELECT ... FOR UPDATE SKIP LOCKED (workers on many
-- connections and hosts never take the same job, and never wait for each other) and leases
-- them under a fresh token; only that token's holder completes or fails them, and the row is
-- deleted in the transaction that writes the job's output: a job is done once or not at all.
-- Writing the memory again resets its job (one per stage and memory), voiding the old claim.
-- Times are epoch seconds of the database server's clock (pg_jobs.db_now), so workers on
-- hosts with skewed clocks judge a lease alike.
CREATE TABLE jobs (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stage       text             NOT NULL,
    memory_id   text             NOT NULL,
    state       text             NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'failed')),
    attempts    integer          NOT NULL DEFAULT 0,
    enqueued_at double precision NOT NULL,
    run_after   double precision NOT NULL,
    lease_until double precision,
    token       text,
    worker      text,
    error       text,
    UNIQUE (stage, memory_id)
);
-- a claim walks the open jobs oldest first; failed ones wait for `engram jobs --retry`
CREATE INDEX jobs_open   ON jobs (id) WHERE state <> 'failed';
CREATE INDEX jobs_memory ON jobs (memory_id);

-- One row per finished batch, kept for an hour: the throughput `engram status` shows. It names
-- no memory.
CREATE TABLE job_log (
    at      double precision NOT NULL,
    stage   text             NOT NULL,
    jobs    integer          NOT NULL,
    seconds double precision NOT NULL
);
CREATE INDEX job_log_at ON job_log (at);
