-- engramdb on PostgreSQL: the search side (stores/pg_search.py, pg_bm25.py, pg_vectors.py).
--
-- Keyword ranking is SQLite FTS5's BM25 (k1 = 1.2, b = 0.75), computed in SQL over terms that
-- were tokenised by SQLite's own FTS5 tokenizer ('porter unicode61 remove_diacritics 2', run
-- in process by stores/pg_terms.py), so both stores index exactly the same tokens; PostgreSQL's
-- text search configurations stem and split differently (see docs/architecture.md).
--
-- * memory_terms: one row per memories row (every version, as FTS5 indexes every version):
--   its distinct tokens, their counts, its length in tokens, and a tsvector of the tokens
--   (GIN) that finds the rows holding any query token.
-- * memory_windows: one row per current conversational turn, its episode window (the turn and
--   the up-to-four current turns before it in its session, ordered by (event_time, id), ids in
--   code-point order (COLLATE "C", SQLite's BINARY), as in SQLite's windows_fts): member refs and the members' summed token counts. Kept current by
--   the triggers below on every write path (insert, insert in the middle, update, supersede,
--   delete, erasure).
-- * bm25_totals / bm25_terms: the statistics BM25 needs (rows, tokens, rows per token), per
--   index ('t' turns, 'w' windows) and per bucket: the memory's user_id ('' for memories of no
--   user). They are kept by statement triggers, so a user's scores never depend on another
--   user's text (a shared index would be a side channel between users).
-- * Vector indexes (HNSW, cosine) are partial, one per (model, dimension), created on first
--   use by stores/pg_vectors.py.

CREATE TABLE memory_terms (
    ref    bigint  PRIMARY KEY,  -- memories.ref; removed by memories_search_ad, not by a cascade
    bucket text    NOT NULL,
    terms  text[]  NOT NULL,     -- distinct tokens
    freqs  integer[] NOT NULL,   -- their counts, in the order of terms
    len    integer NOT NULL,     -- tokens in the text (FTS5's column size)
    tsv    tsvector NOT NULL
);
CREATE INDEX memory_terms_tsv ON memory_terms USING gin (tsv);

CREATE TABLE memory_windows (
    ref     bigint  PRIMARY KEY,  -- the window's last turn
    bucket  text    NOT NULL,
    members bigint[] NOT NULL,
    terms   text[]  NOT NULL,
    freqs   integer[] NOT NULL,
    len     integer NOT NULL,
    tsv     tsvector NOT NULL
);
CREATE INDEX memory_windows_tsv ON memory_windows USING gin (tsv);
CREATE INDEX memory_windows_members ON memory_windows USING gin (members);

CREATE TABLE bm25_totals (
    idx    "char" NOT NULL,  -- 't': memory_terms, 'w': memory_windows
    bucket text   NOT NULL,
    docs   bigint NOT NULL,
    tokens bigint NOT NULL,
    PRIMARY KEY (idx, bucket)
);
CREATE TABLE bm25_terms (
    idx    "char" NOT NULL,
    bucket text   NOT NULL,
    term   text   NOT NULL,
    df     bigint NOT NULL,
    PRIMARY KEY (idx, bucket, term)
);

-- statistics follow the rows of memory_terms / memory_windows (TG_ARGV[0]: the index letter);
-- rows are taken in key order so that concurrent writers lock them in the same order
CREATE FUNCTION bm25_added() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO bm25_totals AS s (idx, bucket, docs, tokens)
    SELECT TG_ARGV[0]::"char", a.bucket, count(*), sum(a.len) FROM added a GROUP BY a.bucket ORDER BY a.bucket
    ON CONFLICT (idx, bucket) DO UPDATE SET docs = s.docs + excluded.docs, tokens = s.tokens + excluded.tokens;
    INSERT INTO bm25_terms AS s (idx, bucket, term, df)
    SELECT TG_ARGV[0]::"char", a.bucket, t.term, count(*) FROM added a, unnest(a.terms) AS t(term)
    GROUP BY a.bucket, t.term ORDER BY a.bucket, t.term
    ON CONFLICT (idx, bucket, term) DO UPDATE SET df = s.df + excluded.df;
    RETURN NULL;
END $$;

-- a statistic that reaches zero is deleted: no row keeps a word (or a user id) of erased text
CREATE FUNCTION bm25_removed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE bm25_totals s SET docs = s.docs - r.docs, tokens = s.tokens - r.tokens
    FROM (SELECT bucket, count(*) AS docs, sum(len) AS tokens FROM removed GROUP BY bucket) r
    WHERE s.idx = TG_ARGV[0]::"char" AND s.bucket = r.bucket;
    DELETE FROM bm25_totals WHERE idx = TG_ARGV[0]::"char" AND docs <= 0
      AND bucket IN (SELECT bucket FROM removed);
    UPDATE bm25_terms s SET df = s.df - r.df
    FROM (SELECT a.bucket, t.term, count(*) AS df FROM removed a, unnest(a.terms) AS t(term)
          GROUP BY a.bucket, t.term) r
    WHERE s.idx = TG_ARGV[0]::"char" AND s.bucket = r.bucket AND s.term = r.term;
    DELETE FROM bm25_terms s USING (SELECT DISTINCT a.bucket, t.term FROM removed a, unnest(a.terms) AS t(term)) r
    WHERE s.idx = TG_ARGV[0]::"char" AND s.bucket = r.bucket AND s.term = r.term AND s.df <= 0;
    RETURN NULL;
END $$;

CREATE TRIGGER memory_terms_stats_ai AFTER INSERT ON memory_terms REFERENCING NEW TABLE AS added
FOR EACH STATEMENT EXECUTE FUNCTION bm25_added('t');
CREATE TRIGGER memory_terms_stats_ad AFTER DELETE ON memory_terms REFERENCING OLD TABLE AS removed
FOR EACH STATEMENT EXECUTE FUNCTION bm25_removed('t');
CREATE TRIGGER memory_windows_stats_ai AFTER INSERT ON memory_windows REFERENCING NEW TABLE AS added
FOR EACH STATEMENT EXECUTE FUNCTION bm25_added('w');
CREATE TRIGGER memory_windows_stats_ad AFTER DELETE ON memory_windows REFERENCING OLD TABLE AS removed
FOR EACH STATEMENT EXECUTE FUNCTION bm25_removed('w');

-- The windows keyed by these turns, rebuilt from the current turns: a key that is no longer a
-- current session turn keeps no window. A window's counts are its members' counts summed (the
-- members' texts are joined by a newline, a separator, so no token spans two members).
CREATE FUNCTION engram_rebuild_windows(keys bigint[]) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF keys IS NULL OR cardinality(keys) = 0 THEN
        RETURN;
    END IF;
    DELETE FROM memory_windows WHERE ref = ANY(keys);
    INSERT INTO memory_windows (ref, bucket, members, terms, freqs, len, tsv)
    SELECT k.ref, coalesce(k.user_id, ''), w.members, coalesce(c.terms, '{}'), coalesce(c.freqs, '{}'),
           coalesce(c.len, 0), coalesce(array_to_tsvector(c.lexemes), ''::tsvector)
    FROM memories k
    CROSS JOIN LATERAL (
        SELECT array_agg(p.ref ORDER BY p.event_time DESC, p.id COLLATE "C" DESC) AS members FROM (
            SELECT p.ref, p.event_time, p.id FROM memories p
            WHERE p.session_id = k.session_id AND p.kind = 'turn' AND p.sys_to IS NULL
              AND (p.event_time, p.id COLLATE "C") <= (k.event_time, k.id COLLATE "C")
              AND p.user_id IS NOT DISTINCT FROM k.user_id AND p.agent_id IS NOT DISTINCT FROM k.agent_id
            ORDER BY p.event_time DESC, p.id COLLATE "C" DESC LIMIT 5) p
    ) w
    CROSS JOIN LATERAL (
        SELECT array_agg(x.term ORDER BY x.term) AS terms, array_agg(x.f ORDER BY x.term) AS freqs,
               sum(x.f)::integer AS len,
               array_agg(x.term ORDER BY x.term) FILTER (WHERE octet_length(x.term) < 2047) AS lexemes
        FROM (SELECT u.term, sum(u.f)::integer AS f FROM memory_terms t, unnest(t.terms, t.freqs) AS u(term, f)
              WHERE t.ref = ANY(w.members) GROUP BY u.term) x
    ) c
    WHERE k.ref = ANY(keys) AND k.kind = 'turn' AND k.session_id IS NOT NULL AND k.sys_to IS NULL;
END $$;

-- The current turns at and after (or only after) each given turn's place in its session, up to
-- ``n`` each: the windows that a turn entering or leaving the current state changes.
CREATE FUNCTION engram_turns_from(refs bigint[], n integer, inclusive boolean) RETURNS bigint[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(DISTINCT x.ref), '{}') FROM memories o
    CROSS JOIN LATERAL (
        SELECT p.ref FROM memories p
        WHERE p.session_id = o.session_id AND p.kind = 'turn' AND p.sys_to IS NULL
          AND ((p.event_time, p.id COLLATE "C") > (o.event_time, o.id COLLATE "C") OR (inclusive AND p.ref = o.ref))
          AND p.user_id IS NOT DISTINCT FROM o.user_id AND p.agent_id IS NOT DISTINCT FROM o.agent_id
        ORDER BY p.event_time, p.id COLLATE "C" LIMIT n) x
    WHERE o.ref = ANY(refs) AND o.kind = 'turn' AND o.session_id IS NOT NULL
$$;

-- a turn's terms arrive (it was just written): its window, and the windows of the four turns after it
CREATE FUNCTION memory_terms_windows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM engram_rebuild_windows(engram_turns_from(ARRAY(
        SELECT a.ref FROM added a JOIN memories m ON m.ref = a.ref
        WHERE m.kind = 'turn' AND m.session_id IS NOT NULL AND m.sys_to IS NULL), 5, true));
    RETURN NULL;
END $$;
CREATE TRIGGER memory_terms_windows AFTER INSERT ON memory_terms REFERENCING NEW TABLE AS added
FOR EACH STATEMENT EXECUTE FUNCTION memory_terms_windows();

-- a turn leaves the current state (update, supersede): its window goes, the four after it are rebuilt
CREATE FUNCTION memories_window_closed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM memory_windows WHERE ref = OLD.ref;
    PERFORM engram_rebuild_windows(engram_turns_from(ARRAY[OLD.ref], 4, false));
    RETURN NULL;
END $$;
CREATE TRIGGER memories_window_closed AFTER UPDATE OF sys_to ON memories
FOR EACH ROW WHEN (OLD.sys_to IS NULL AND NEW.sys_to IS NOT NULL AND OLD.kind = 'turn' AND OLD.session_id IS NOT NULL)
EXECUTE FUNCTION memories_window_closed();

-- rows deleted (delete, erasure): their terms and windows go, and every window that listed one
-- of them is rebuilt from the turns that remain (one statement, however many rows)
CREATE FUNCTION memories_search_ad() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    gone bigint[] := ARRAY(SELECT ref FROM removed);
    stale bigint[];
BEGIN
    DELETE FROM memory_terms WHERE ref = ANY(gone);
    stale := ARRAY(SELECT w.ref FROM memory_windows w WHERE w.members && gone AND NOT w.ref = ANY(gone));
    DELETE FROM memory_windows WHERE ref = ANY(gone);
    PERFORM engram_rebuild_windows(stale);
    RETURN NULL;
END $$;
CREATE TRIGGER memories_search_ad AFTER DELETE ON memories REFERENCING OLD TABLE AS removed
FOR EACH STATEMENT EXECUTE FUNCTION memories_search_ad();
