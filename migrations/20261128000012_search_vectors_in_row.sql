-- Search vectors are kept in their row (lz4-compressed) instead of in TOAST.
--
-- A vector averages ~2 KB, just over the size at which PostgreSQL moves a value out of
-- line, so most were read through the TOAST index and chunks: ~9 µs per vector. A text
-- query reads vectors to rank its newest matches and, for a common word, to find them by
-- walking the newest ids (src/store/search.rs); kept in the row the same read costs ~4 µs
-- (docs/benchmarks.md, "Query surfaces"). Values too large for a page still go out of line.

DO $$
BEGIN
    ALTER TABLE record_search ALTER COLUMN search SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 not available on this server; search vectors keep pglz compression';
END
$$;

ALTER TABLE record_search ALTER COLUMN search SET STORAGE MAIN;

-- Existing vectors are stored anew under the new settings: as fresh values (`|| ''`: a
-- value copied unchanged would keep its TOAST pointer or compression) into the emptied
-- table, so no dead row versions stay behind in the heap or in the GIN index, which is
-- built once at the end. (An UPDATE in place doubled both until VACUUM, and the index for
-- good: it was built inside the transaction that still saw the old versions.)
CREATE TEMPORARY TABLE record_search_copy ON COMMIT DROP AS
SELECT record_id, change_seq, search FROM record_search;
TRUNCATE record_search;
DROP INDEX records_search;
INSERT INTO record_search (record_id, change_seq, search)
SELECT record_id, change_seq, search || ''::tsvector FROM record_search_copy;
CREATE INDEX records_search ON record_search USING GIN (search);
