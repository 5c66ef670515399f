-- Full-text vectors move out of `records` into `record_search`, filled by the search
-- indexer (src/store/search_index.rs) that follows the change feed.
--
-- As a stored generated column the vector was computed inside every page transaction,
-- while the page held the change-feed lock: Snowball stemming of ~5 KB of bilingual text
-- per record (~0.5 ms) serialised all harvest writes in one backend and was most of their
-- cost (docs/benchmarks.md, "End-to-end harvest"). Now a page stores its rows only, and
-- the indexer stems them in its own transactions, on another connection, shortly after.
-- A record is searchable once the indexer has passed its change_seq; `sheaf harvest`
-- and `sheaf db renormalize` wait for that before they exit, `sheaf serve` keeps up
-- continuously.

-- No change_seq may be drawn while the cursor below is read (see lock_change_feed).
SELECT pg_advisory_xact_lock(6001122650125191239);

CREATE TABLE record_search (
    record_id   BIGINT PRIMARY KEY REFERENCES records (id) ON DELETE CASCADE,
    -- The records.change_seq the vector was computed from.
    change_seq  BIGINT NOT NULL,
    search      TSVECTOR NOT NULL
);

-- Where the indexer is in the change feed: every change at or below is indexed.
CREATE TABLE search_index_state (
    singleton        BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
    last_change_seq  BIGINT NOT NULL
);

INSERT INTO record_search (record_id, change_seq, search)
SELECT id, change_seq, search FROM records WHERE NOT deleted AND normalized IS NOT NULL;

INSERT INTO search_index_state (last_change_seq)
SELECT coalesce(max(change_seq), 0) FROM records;

-- The stable view keeps its `search` column (NULL for tombstones and for records the
-- indexer has not reached yet).
CREATE OR REPLACE VIEW sheaf_api.records AS
SELECT r.id,
       s.name AS source,
       r.oai_identifier,
       r.datestamp,
       r.deleted,
       r.sets,
       r.title,
       r.doi,
       r.issued,
       sheaf_issued_year(r.issued) AS issued_year,
       r.languages,
       r.types,
       ARRAY(SELECT jsonb_array_elements_text(r.normalized -> 'publishers')) AS publishers,
       r.normalized -> 'source_info' ->> 'title' AS journal,
       r.normalized -> 'source_info' ->> 'volume' AS volume,
       r.normalized -> 'source_info' ->> 'issue' AS issue,
       (r.normalized -> 'source_info' ->> 'year')::integer AS issue_year,
       r.normalized -> 'source_info' ->> 'pages' AS pages,
       r.normalized -> 'source_info' ->> 'issn' AS issn,
       r.work_key,
       r.flags,
       rs.search,
       r.first_harvested_at,
       r.updated_at,
       r.change_seq,
       r.raw_metadata,
       jsonb_build_object('id', r.id, 'source', s.name, 'oai_identifier', r.oai_identifier,
                          'datestamp', sheaf_contract_time(r.datestamp),
                          'deleted', r.deleted, 'sets', to_jsonb(r.sets))
       || CASE WHEN NOT r.deleted AND jsonb_typeof(r.normalized) = 'object'
               THEN r.normalized ELSE sheaf_empty_contract() END
       || jsonb_build_object('updated_at', sheaf_contract_time(r.updated_at)) AS record
FROM records r
JOIN sources s ON s.id = r.source_id
LEFT JOIN record_search rs ON rs.record_id = r.id;

COMMENT ON COLUMN sheaf_api.records.search IS 'Full-text vector (titles A, keywords and creators B, abstracts C; Russian, English and simple stemming); NULL for tombstones and for records stored in the last moments, before the search indexer reached them. Query with search @@ sheaf_api.search_query(''...'').';

ALTER TABLE records DROP COLUMN search;

CREATE INDEX records_search ON record_search USING GIN (search);

-- TOAST compression with lz4: pglz was ~7% of the database's time in a harvest profile;
-- lz4 compresses XML and JSON several times faster at a similar ratio. Applies to values
-- written from now on.
-- A server built without lz4 keeps pglz.
DO $$
BEGIN
    ALTER TABLE records ALTER COLUMN raw_metadata SET COMPRESSION lz4;
    ALTER TABLE records ALTER COLUMN normalized SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 not available on this server; records keep pglz compression';
END
$$;
