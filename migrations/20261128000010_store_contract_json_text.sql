-- The contract JSON of each record as text, beside the jsonb parsed from it.
--
-- The change feed (`GET /api/changes`) sends every record's fields. Rendering the jsonb
-- `normalized` back to text costs PostgreSQL about 30 µs per record (2.5 KB), which alone
-- caps a feed read near 30k records/s; a stored text is read back several times faster
-- (docs/benchmarks.md, "Query surfaces"). sheaf's writers send the JSON once, as text,
-- and parse `normalized` from that same text in the same statement; for any other write
-- of `normalized` the trigger below renders the text, so the two always hold the same
-- object. NULL where `normalized` is NULL (tombstones, non-DC formats).
ALTER TABLE records ADD COLUMN normalized_text text;

DO $$
BEGIN
    ALTER TABLE records ALTER COLUMN normalized_text SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 not available on this server; normalized_text keeps pglz compression';
END
$$;

-- Kept in the row (compressed), not in TOAST: the feed reads it for every record, and an
-- out-of-line value costs an index lookup and chunk reads each time (3x slower to read on
-- the 1M-record benchmark database). The jsonb and the raw XML, read one record at a
-- time, move out of line instead.
ALTER TABLE records ALTER COLUMN normalized_text SET STORAGE MAIN;

-- Existing rows: one rewrite of the table (minutes per million records).
UPDATE records SET normalized_text = normalized::text WHERE normalized IS NOT NULL;

-- Keeps normalized_text in step with normalized for writers that set only normalized
-- (SQL by hand, a sweep blanking a tombstone). A writer that supplies the text pays no
-- rendering: the text is taken as given when it is new.
CREATE FUNCTION sheaf_normalized_text() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.normalized IS NULL THEN
        NEW.normalized_text := NULL;
    ELSIF NEW.normalized_text IS NULL THEN
        NEW.normalized_text := NEW.normalized::text;
    ELSIF TG_OP = 'UPDATE' THEN
        IF NEW.normalized_text IS NOT DISTINCT FROM OLD.normalized_text
           AND NEW.normalized IS DISTINCT FROM OLD.normalized THEN
            NEW.normalized_text := NEW.normalized::text;
        END IF;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER records_normalized_text BEFORE INSERT OR UPDATE OF normalized ON records
FOR EACH ROW EXECUTE FUNCTION sheaf_normalized_text();
