-- engramdb on PostgreSQL: the record side (PostgresStore, stores/postgres.py).
-- It mirrors the SQLite schema (sql/sqlite/0001..0007) with these layout decisions:
--
-- * memories.ref is SQLite's rowid: an identity that is never reused, the opaque ref of
--   Store.text_search/vector_search candidates. One row per version; the current one has
--   sys_to IS NULL (docs/architecture.md "One row per version").
-- * Times are double precision epoch seconds, as in SQLite (REAL), so the predicates and
--   the Python conversions (stores/sql_common.py ts/dt) are shared by both stores.
-- * metadata and provenance are jsonb (filters use #> paths); history before/after are
--   the JSON text of the states, as in SQLite.
-- * index_text is what keyword search indexes (MemoryRecord.index_text, "speaker: content"),
--   a stored generated column, so a full-text index (pg-search's migration) needs no trigger.
-- * Vectors are rows of their own: vectors(ref, key_no, model, embedding), key_no 0 is the
--   whole text's vector, 1..n its sentence keys (engine/keys.py). pgvector indexes need a
--   fixed dimension, so the HNSW indexes are partial, one per (model, dimension), over
--   (embedding::vector(dim)) WHERE model = ... AND key_no = 0, created on demand by the search
--   side. A vector row goes with its memory row (ON DELETE CASCADE). memories keeps what
--   the SQLite row keeps beside its BLOB: embed_model, embed_version, embed_seq.
-- * memory_sources (provenance links, what delete follows) is kept by a trigger and goes with
--   its row (ON DELETE CASCADE).
-- * Tombstones carry HMAC tags of their owner's scope fields under erasure_key.key, computed
--   in Python (stores/sql_common.py scope_tag), as in SQLite.
CREATE EXTENSION IF NOT EXISTS vector;

CREATE TABLE memories (
    ref              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id               text    NOT NULL,
    version          integer NOT NULL,
    user_id          text,
    agent_id         text,
    session_id       text,
    kind             text    NOT NULL,
    role             text,
    speaker          text,
    content          text    NOT NULL,
    metadata         jsonb   NOT NULL DEFAULT '{}',
    event_time       double precision NOT NULL,
    created_at       double precision NOT NULL,
    sys_from         double precision NOT NULL,
    sys_to           double precision,
    superseded_at    double precision,
    superseded_by    text,
    provenance       jsonb   NOT NULL DEFAULT '[]',
    content_hash     text    NOT NULL,
    index_hash       text    NOT NULL,
    index_text       text    GENERATED ALWAYS AS (coalesce(speaker || ': ', '') || content) STORED,
    embed_model      text,
    embed_version    integer,
    embed_seq        bigint,
    valid_to         double precision,
    subject          text,
    attribute        text,
    expires_at       double precision,
    recall_count     integer NOT NULL DEFAULT 0,
    last_recalled_at double precision,
    archived_at      double precision,
    UNIQUE (id, version)
);
CREATE INDEX memories_user       ON memories (user_id, sys_to);
CREATE INDEX memories_agent      ON memories (agent_id, sys_to);
CREATE INDEX memories_session    ON memories (session_id, sys_to);
CREATE INDEX memories_index_hash ON memories (index_hash, embed_model);
CREATE INDEX memories_event      ON memories (event_time);
CREATE INDEX memories_turn_order ON memories (session_id, event_time, id) WHERE kind = 'turn' AND sys_to IS NULL;
CREATE INDEX memories_superseded_by ON memories (superseded_by) WHERE superseded_by IS NOT NULL;
CREATE INDEX memories_embed_seq  ON memories (embed_seq) WHERE embed_seq IS NOT NULL;
CREATE INDEX memories_slot       ON memories (user_id, subject, attribute) WHERE subject IS NOT NULL;
CREATE INDEX memories_expiring   ON memories (expires_at) WHERE expires_at IS NOT NULL;
CREATE INDEX memories_archived   ON memories (archived_at) WHERE archived_at IS NOT NULL;

CREATE TABLE vectors (
    ref       bigint  NOT NULL REFERENCES memories (ref) ON DELETE CASCADE,
    key_no    integer NOT NULL,  -- 0: the whole index text; 1..n: sentence keys
    model     text    NOT NULL,
    embedding vector  NOT NULL,
    PRIMARY KEY (ref, key_no)
);

CREATE TABLE history (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          text NOT NULL UNIQUE,
    memory_id   text NOT NULL,
    action      text NOT NULL,
    at          double precision NOT NULL,
    before      text,
    after       text,
    tag_user    text,
    tag_agent   text,
    tag_session text
);
CREATE INDEX history_memory      ON history (memory_id, seq);
CREATE INDEX history_tag_user    ON history (tag_user)    WHERE tag_user IS NOT NULL;
CREATE INDEX history_tag_agent   ON history (tag_agent)   WHERE tag_agent IS NOT NULL;
CREATE INDEX history_tag_session ON history (tag_session) WHERE tag_session IS NOT NULL;

-- mutation_seq: bumped by writes that change which rows are visible (caches rebuild);
-- embed_seq: one number per transaction that writes vectors (caches append).
CREATE TABLE meta (key text PRIMARY KEY, value bigint NOT NULL);
INSERT INTO meta (key, value) VALUES ('mutation_seq', 0), ('embed_seq', 0);

-- gen_random_uuid() is a cryptographic random source (PostgreSQL 13+): two of them give 244
-- random bits, with no extension needed
CREATE TABLE erasure_key (
    id  integer PRIMARY KEY CHECK (id = 1),
    key bytea   NOT NULL
);
INSERT INTO erasure_key (id, key) VALUES (1, decode(
    replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', ''), 'hex'));

CREATE TABLE memory_sources (
    ref       bigint NOT NULL REFERENCES memories (ref) ON DELETE CASCADE,
    source_id text   NOT NULL
);
CREATE INDEX memory_sources_source ON memory_sources (source_id);
CREATE INDEX memory_sources_ref    ON memory_sources (ref);

CREATE FUNCTION memory_sources_ai() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO memory_sources (ref, source_id)
    SELECT NEW.ref, value FROM jsonb_array_elements_text(NEW.provenance);
    RETURN NULL;
END $$;
CREATE TRIGGER memory_sources_ai AFTER INSERT ON memories
FOR EACH ROW WHEN (NEW.provenance <> '[]'::jsonb) EXECUTE FUNCTION memory_sources_ai();

-- Metadata filters compare as SQLite's json_extract does (stores/pg_sql.py): a JSON value is
-- NULL (missing or null), numeric (numbers, and booleans as 1/0) or text (strings; objects and
-- arrays as their JSON text), numeric sorting before text; equal classes compare by value.
CREATE FUNCTION engram_rank(j jsonb) RETURNS integer LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE jsonb_typeof(j) WHEN 'number' THEN 1 WHEN 'boolean' THEN 1
                                WHEN 'string' THEN 2 WHEN 'object' THEN 2 WHEN 'array' THEN 2 END $$;
CREATE FUNCTION engram_num(j jsonb) RETURNS numeric LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE jsonb_typeof(j) WHEN 'number' THEN j::numeric WHEN 'boolean' THEN j::boolean::integer END $$;
CREATE FUNCTION engram_text(j jsonb) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE jsonb_typeof(j) WHEN 'string' THEN j #>> '{}' WHEN 'object' THEN j::text
                                WHEN 'array' THEN j::text END $$;
