-- Memory that stays true (issue 12): valid time, fact slots, expiry.
-- valid_to:   event time at which a memory stopped being true (set when it is superseded:
--             the successor's event time); NULL while it holds. valid_at=T reads see the
--             versions with event_time <= T < valid_to, superseded or not.
-- subject, attribute: a fact's slot ("user" / "home city"); facts of one slot supersede each
--             other by event time.
-- expires_at: a TTL's end; reads skip expired memories at once (lazily), the cleanup stage
--             erases them.
ALTER TABLE memories ADD COLUMN valid_to REAL;
ALTER TABLE memories ADD COLUMN subject TEXT;
ALTER TABLE memories ADD COLUMN attribute TEXT;
ALTER TABLE memories ADD COLUMN expires_at REAL;
CREATE INDEX memories_slot ON memories (user_id, subject, attribute) WHERE subject IS NOT NULL;
CREATE INDEX memories_expiring ON memories (expires_at) WHERE expires_at IS NOT NULL;
