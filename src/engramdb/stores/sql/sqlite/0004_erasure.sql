-- Erasure (README "Erasure", docs/architecture.md).
-- A deletion tombstone keeps the memory id, the time and one opaque tag per scope
-- field: engram_scope_tag(key, field, value), a keyed hash (HMAC-SHA256) under a
-- random key of this database, so the owner's scope still matches it while the
-- row names nobody. The function is registered by the connection (sqlite_conn.py).
CREATE TABLE erasure_key (
    id  INTEGER PRIMARY KEY CHECK (id = 1),
    key BLOB NOT NULL
);
INSERT INTO erasure_key (id, key) VALUES (1, randomblob(32));

ALTER TABLE history ADD COLUMN tag_user TEXT;
ALTER TABLE history ADD COLUMN tag_agent TEXT;
ALTER TABLE history ADD COLUMN tag_session TEXT;
CREATE INDEX history_tag_user    ON history (tag_user)    WHERE tag_user IS NOT NULL;
CREATE INDEX history_tag_agent   ON history (tag_agent)   WHERE tag_agent IS NOT NULL;
CREATE INDEX history_tag_session ON history (tag_session) WHERE tag_session IS NOT NULL;

-- tombstones written before this migration named their owner in clear: tag them, drop the names
UPDATE history SET
    tag_user    = engram_scope_tag((SELECT key FROM erasure_key), 'user_id', json_extract(before, '$.user_id')),
    tag_agent   = engram_scope_tag((SELECT key FROM erasure_key), 'agent_id', json_extract(before, '$.agent_id')),
    tag_session = engram_scope_tag((SELECT key FROM erasure_key), 'session_id', json_extract(before, '$.session_id')),
    before = NULL, after = NULL
WHERE action = 'delete';

-- What a delete follows to remove everything derived from a memory: the memories
-- whose provenance names it (a superseding memory names its predecessor), and the
-- predecessors a memory superseded (versions of the same fact).
CREATE TABLE memory_sources (
    ref       INTEGER NOT NULL,  -- rowid of the derived memories row
    source_id TEXT    NOT NULL   -- a memory id in its provenance
);
CREATE INDEX memory_sources_source ON memory_sources (source_id);
CREATE INDEX memory_sources_ref    ON memory_sources (ref);
CREATE INDEX memories_superseded_by ON memories (superseded_by) WHERE superseded_by IS NOT NULL;

CREATE TRIGGER memory_sources_ai AFTER INSERT ON memories WHEN new.provenance != '[]' BEGIN
    INSERT INTO memory_sources (ref, source_id) SELECT new.rowid, value FROM json_each(new.provenance);
END;
CREATE TRIGGER memory_sources_ad AFTER DELETE ON memories WHEN old.provenance != '[]' BEGIN
    DELETE FROM memory_sources WHERE ref = old.rowid;
END;

INSERT INTO memory_sources (ref, source_id)
SELECT m.rowid, j.value FROM memories m, json_each(m.provenance) j WHERE m.provenance != '[]';
