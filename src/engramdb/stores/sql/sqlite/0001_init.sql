-- One row per version of a memory. The current version has sys_to IS NULL;
-- a version stops being current when it is updated or superseded.
CREATE TABLE memories (
    rowid         INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: candidate refs stay valid
    id            TEXT    NOT NULL,
    version       INTEGER NOT NULL,
    user_id       TEXT,
    agent_id      TEXT,
    session_id    TEXT,
    kind          TEXT    NOT NULL,
    role          TEXT,
    speaker       TEXT,
    content       TEXT    NOT NULL,
    metadata      TEXT    NOT NULL DEFAULT '{}',
    event_time    REAL    NOT NULL,
    created_at    REAL    NOT NULL,
    sys_from      REAL    NOT NULL,
    sys_to        REAL,
    superseded_at REAL,
    superseded_by TEXT,
    provenance    TEXT    NOT NULL DEFAULT '[]',
    content_hash  TEXT    NOT NULL,
    index_hash    TEXT    NOT NULL,  -- hash of MemoryRecord.index_text: equal texts share a vector
    embed_model   TEXT,
    embedding     BLOB,
    UNIQUE (id, version)
);
CREATE INDEX memories_user    ON memories (user_id, sys_to);
CREATE INDEX memories_agent   ON memories (agent_id, sys_to);
CREATE INDEX memories_session ON memories (session_id, sys_to);
CREATE INDEX memories_index_hash ON memories (index_hash, embed_model);
CREATE INDEX memories_event   ON memories (event_time);

CREATE VIRTUAL TABLE memories_fts USING fts5 (
    content,
    content = 'memories',
    content_rowid = 'rowid',
    tokenize = 'porter unicode61 remove_diacritics 2'
);
-- The indexed text is MemoryRecord.index_text: "speaker: content" (or content).
CREATE TRIGGER memories_ai AFTER INSERT ON memories BEGIN
    INSERT INTO memories_fts (rowid, content)
    VALUES (new.rowid, coalesce(new.speaker || ': ', '') || new.content);
END;
CREATE TRIGGER memories_ad AFTER DELETE ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, content)
    VALUES ('delete', old.rowid, coalesce(old.speaker || ': ', '') || old.content);
END;
CREATE TRIGGER memories_au AFTER UPDATE OF content, speaker ON memories BEGIN
    INSERT INTO memories_fts (memories_fts, rowid, content)
    VALUES ('delete', old.rowid, coalesce(old.speaker || ': ', '') || old.content);
    INSERT INTO memories_fts (rowid, content)
    VALUES (new.rowid, coalesce(new.speaker || ': ', '') || new.content);
END;

CREATE TABLE history (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    memory_id  TEXT NOT NULL,
    action     TEXT NOT NULL,
    at         REAL NOT NULL,
    before     TEXT,
    after      TEXT
);
CREATE INDEX history_memory ON history (memory_id, seq);

-- Bumped by every write that changes which rows are visible (not by plain
-- inserts), so in-process vector caches know when to rebuild.
CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT INTO meta (key, value) VALUES ('mutation_seq', 0);
