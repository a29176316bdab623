-- Episode windows follow the turns' order in their session, not row insertion order.
-- A session's turns are ordered by (event_time, id): ids are ULIDs, monotonic in creation
-- order, and an update keeps its memory's id, so an updated turn (even a timestamp-only
-- update) stays where it was, and an import, whatever order it writes rows in, rebuilds
-- the same windows. The window of a turn is that turn and the (up to) four current turns
-- before it in this order; windows stay keyed by their last turn's rowid.
-- Triggers: a turn that enters the current state (insert: append, insert in the middle,
-- the new version of an update or supersede) gets its window, and the windows of the four
-- turns after it are rebuilt with it; a turn that leaves it (update, supersede, and delete,
-- which closes a row before removing it) loses its window and rebuilds the windows of the
-- four turns after it. Windows are a function of the current turns alone: a past version
-- keeps no window (which held the text of its neighbours as they were), so an export
-- imported elsewhere has exactly the same windows, and no window outlives a deleted turn.

DROP TRIGGER IF EXISTS windows_ai;
DROP TRIGGER IF EXISTS windows_au;
DROP TRIGGER IF EXISTS windows_ai_before;
DROP VIEW IF EXISTS turn_windows;

-- the current turns of a session in order (also what the window queries below scan)
CREATE INDEX IF NOT EXISTS memories_turn_order ON memories (session_id, event_time, id)
WHERE kind = 'turn' AND sys_to IS NULL;

CREATE VIEW turn_windows AS
SELECT m.rowid AS rowid,
       (SELECT group_concat(t, char(10)) FROM (
            SELECT coalesce(p.speaker || ': ', '') || p.content AS t FROM memories p
            WHERE p.session_id = m.session_id AND p.kind = 'turn' AND p.sys_to IS NULL
              AND (p.event_time, p.id) <= (m.event_time, m.id)
              AND p.user_id IS m.user_id AND p.agent_id IS m.agent_id
            ORDER BY p.event_time DESC, p.id DESC LIMIT 5)) AS body,
       (SELECT group_concat(r, ' ') FROM (
            SELECT p.rowid AS r FROM memories p
            WHERE p.session_id = m.session_id AND p.kind = 'turn' AND p.sys_to IS NULL
              AND (p.event_time, p.id) <= (m.event_time, m.id)
              AND p.user_id IS m.user_id AND p.agent_id IS m.agent_id
            ORDER BY p.event_time DESC, p.id DESC LIMIT 5)) AS members
FROM memories m
WHERE m.kind = 'turn' AND m.session_id IS NOT NULL AND m.sys_to IS NULL;

CREATE TRIGGER windows_ai AFTER INSERT ON memories
WHEN new.kind = 'turn' AND new.session_id IS NOT NULL AND new.sys_to IS NULL BEGIN
    INSERT INTO windows_fts (rowid, body, members)
    SELECT rowid, body, members FROM turn_windows WHERE rowid = new.rowid;
END;

-- a turn placed before others of its session (rare: appends are the rule) joins their windows
CREATE TRIGGER windows_ai_before AFTER INSERT ON memories
WHEN new.kind = 'turn' AND new.session_id IS NOT NULL AND new.sys_to IS NULL AND EXISTS (
    SELECT 1 FROM memories
    WHERE session_id = new.session_id AND kind = 'turn' AND sys_to IS NULL
      AND (event_time, id) > (new.event_time, new.id)
      AND user_id IS new.user_id AND agent_id IS new.agent_id) BEGIN
    DELETE FROM windows_fts WHERE rowid IN (
        SELECT rowid FROM memories
        WHERE session_id = new.session_id AND kind = 'turn' AND sys_to IS NULL
          AND (event_time, id) > (new.event_time, new.id)
          AND user_id IS new.user_id AND agent_id IS new.agent_id
        ORDER BY event_time, id LIMIT 4);
    INSERT INTO windows_fts (rowid, body, members)
    SELECT rowid, body, members FROM turn_windows WHERE rowid IN (
        SELECT rowid FROM memories
        WHERE session_id = new.session_id AND kind = 'turn' AND sys_to IS NULL
          AND (event_time, id) > (new.event_time, new.id)
          AND user_id IS new.user_id AND agent_id IS new.agent_id
        ORDER BY event_time, id LIMIT 4);
END;

CREATE TRIGGER windows_au AFTER UPDATE OF sys_to ON memories
WHEN old.sys_to IS NULL AND new.sys_to IS NOT NULL AND old.kind = 'turn' AND old.session_id IS NOT NULL BEGIN
    DELETE FROM windows_fts WHERE rowid = old.rowid;
    DELETE FROM windows_fts WHERE rowid IN (
        SELECT rowid FROM memories
        WHERE session_id = old.session_id AND kind = 'turn' AND sys_to IS NULL
          AND (event_time, id) > (old.event_time, old.id)
          AND user_id IS old.user_id AND agent_id IS old.agent_id
        ORDER BY event_time, id LIMIT 4);
    INSERT INTO windows_fts (rowid, body, members)
    SELECT rowid, body, members FROM turn_windows WHERE rowid IN (
        SELECT rowid FROM memories
        WHERE session_id = old.session_id AND kind = 'turn' AND sys_to IS NULL
          AND (event_time, id) > (old.event_time, old.id)
          AND user_id IS old.user_id AND agent_id IS old.agent_id
        ORDER BY event_time, id LIMIT 4);
END;

-- rebuild the windows of existing databases in the new order
DELETE FROM windows_fts;
INSERT INTO windows_fts (rowid, body, members) SELECT rowid, body, members FROM turn_windows;
