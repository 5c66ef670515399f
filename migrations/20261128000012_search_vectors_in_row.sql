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

-- Existing vectors are stored anew under the new settings (a fresh value: an unchanged one
-- would keep its TOAST pointer). The GIN index is rebuilt once rather than updated per row.
DROP INDEX records_search;
UPDATE record_search SET search = search || ''::tsvector;
CREATE INDEX records_search ON record_search USING GIN (search);
