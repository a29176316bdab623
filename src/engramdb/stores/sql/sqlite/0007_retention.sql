-- Forgetting that is correct (issue 12 §6): recall statistics and archiving.
-- recall_count:     how many searches packed this version into their context (Memory.search,
--                   track_recalls); a new version starts from 0 (it is a new write).
-- last_recalled_at: system time of the last such search; NULL: never recalled.
-- archived_at:      system time a maintenance pass archived it (retention below the threshold);
--                   archived memories are hidden from Memory's reads unless asked for, never
--                   deleted; NULL: not archived. Restoring sets it back to NULL.
-- None of these is content: a recall write changes no index, no vector, no history.
ALTER TABLE memories ADD COLUMN recall_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE memories ADD COLUMN last_recalled_at REAL;
ALTER TABLE memories ADD COLUMN archived_at REAL;
CREATE INDEX memories_archived ON memories (archived_at) WHERE archived_at IS NOT NULL;
