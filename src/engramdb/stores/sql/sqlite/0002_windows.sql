-- Episode windows: a second, coarser keyword index (multi-granularity keys).
-- The window of a conversational turn is that turn and the (up to) four current
-- turns before it in its session. BM25 over windows finds a turn whose question
-- and answer words are spread over neighbouring turns ("How did Nate celebrate
-- winning the tournament?" -> "I'm taking some time off to chill with my pets").
-- Windows are keyed by their last turn's rowid and list their member rowids.
-- Everything is kept by triggers, so every write path keeps windows current:
-- an insert adds one window; a turn that stops being current (update,
-- supersede, and delete, which closes a row before removing it) rebuilds the
-- windows of the four turns after it, so no window keeps the text of a
-- deleted or replaced turn.
-- The width (5 turns) appears below as LIMIT 5 (a window) and LIMIT 4 (the turns after one).

CREATE VIEW turn_windows AS
SELECT m.rowid AS rowid,
       (SELECT group_concat(t, char(10)) FROM (
            SELECT coalesce(p.speaker || ': ', '') || p.content AS t FROM memories p
            WHERE p.session_id = m.session_id AND p.user_id IS m.user_id AND p.agent_id IS m.agent_id
              AND p.kind = 'turn' AND p.sys_to IS NULL AND p.rowid <= m.rowid
            ORDER BY p.rowid DESC LIMIT 5)) AS body,
       (SELECT group_concat(r, ' ') FROM (
            SELECT p.rowid AS r FROM memories p
            WHERE p.session_id = m.session_id AND p.user_id IS m.user_id AND p.agent_id IS m.agent_id
              AND p.kind = 'turn' AND p.sys_to IS NULL AND p.rowid <= m.rowid
            ORDER BY p.rowid DESC LIMIT 5)) AS members
FROM memories m
WHERE m.kind = 'turn' AND m.session_id IS NOT NULL AND m.sys_to IS NULL;

CREATE VIRTUAL TABLE windows_fts USING fts5 (
    body,
    members UNINDEXED,
    tokenize = 'porter unicode61 remove_diacritics 2'
);

CREATE TRIGGER windows_ai AFTER INSERT ON memories
WHEN new.kind = 'turn' AND new.session_id IS NOT NULL AND new.sys_to IS NULL BEGIN
    INSERT INTO windows_fts (rowid, body, members)
    SELECT rowid, body, members FROM turn_windows WHERE rowid = new.rowid;
END;

-- A turn leaves the current state: the windows after it are rebuilt without it.
-- (A delete first closes the rows it removes, so this also covers deletes.)
CREATE TRIGGER windows_au AFTER UPDATE OF sys_to ON memories
WHEN old.sys_to IS NULL AND new.sys_to IS NOT NULL AND old.kind = 'turn' AND old.session_id IS NOT NULL BEGIN
    DELETE FROM windows_fts WHERE rowid IN (
        SELECT rowid FROM memories
        WHERE session_id = old.session_id AND user_id IS old.user_id AND agent_id IS old.agent_id
          AND kind = 'turn' AND sys_to IS NULL AND rowid > old.rowid
        ORDER BY rowid LIMIT 4);
    INSERT INTO windows_fts (rowid, body, members)
    SELECT rowid, body, members FROM turn_windows WHERE rowid IN (
        SELECT rowid FROM memories
        WHERE session_id = old.session_id AND user_id IS old.user_id AND agent_id IS old.agent_id
          AND kind = 'turn' AND sys_to IS NULL AND rowid > old.rowid
        ORDER BY rowid LIMIT 4);
END;

CREATE TRIGGER windows_ad AFTER DELETE ON memories BEGIN
    DELETE FROM windows_fts WHERE rowid = old.rowid;
END;


-- databases created before this migration get their windows now
INSERT INTO windows_fts (rowid, body, members) SELECT rowid, body, members FROM turn_windows;
