-- The stable SQL surface: documented views in their own schema, `sheaf_api`, and a read-only
-- role `sheaf_reader` that can use them and nothing else (docs/schema.md).
--
-- Internal tables (records, sources, harvest_runs, ...) may change shape from one release to
-- the next; these views change only additively (new columns at the end, new views) or with a
-- migration path. The views run with their owner's rights, so a reader needs SELECT on the
-- views only, never on the tables behind them. Every column below is taken from the record
-- contract JSON (`normalized`) with the exact keys src/normalize serializes.

CREATE SCHEMA sheaf_api;
COMMENT ON SCHEMA sheaf_api IS
    'sheaf''s stable, documented SQL surface over harvested records, sources and runs (docs/schema.md). Changes only additively or with a migration path.';

-- The year of an issued date (`2022`, `2022-06`, `2022-06-21` → 2022). A function, so the
-- view's column and the index below are the same expression and `issued_year = 2022` is
-- an index scan.
CREATE FUNCTION sheaf_issued_year(issued text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT substring(issued FROM '^(\d{4})')::integer
$$;

CREATE INDEX records_issued_year ON records (sheaf_issued_year(issued));
-- "What changed since T" (docs/schema.md, `sheaf export --since`).
CREATE INDEX records_updated_at ON records (updated_at);

-- UTC, second precision, `Z`: the contract's timestamp format (src/contract.rs).
CREATE FUNCTION sheaf_contract_time(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;

-- The contract's metadata keys with empty values: what tombstones and records without
-- normalized fields carry, so every contract object has the same keys.
CREATE FUNCTION sheaf_empty_contract() RETURNS jsonb
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT '{"titles": [], "creators": [], "contributors": [], "subjects": [],
             "descriptions": [], "publishers": [], "issued": null, "types": [], "formats": [],
             "languages": [], "doi": null, "identifiers": [], "source_info": null,
             "relations": [], "coverage": [], "rights": []}'::jsonb
$$;

-- The search query function, inside the stable schema (the internal one may be renamed).
CREATE FUNCTION sheaf_api.search_query(q text) RETURNS tsquery
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT sheaf_search_query(q)
$$;
COMMENT ON FUNCTION sheaf_api.search_query(text) IS
    'A search string (web-search syntax: words, "phrases", -not, or) read in Russian, English and as plain words; use as `search @@ sheaf_api.search_query(''...'')` on sheaf_api.records, rank with ts_rank(search, sheaf_api.search_query(''...'')).';

-- records ---------------------------------------------------------------------------------

CREATE VIEW sheaf_api.records AS
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
       r.search,
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
JOIN sources s ON s.id = r.source_id;

COMMENT ON VIEW sheaf_api.records IS
    'One row per harvested record (tombstones included: filter with NOT deleted). The list columns (titles, creators, subjects, ...) are in the views of the same names, keyed by record_id.';
COMMENT ON COLUMN sheaf_api.records.id IS 'Record id; record_id in the other views. Stable for the life of the record.';
COMMENT ON COLUMN sheaf_api.records.source IS 'Name of the source (sheaf_api.sources.name) the record was harvested from.';
COMMENT ON COLUMN sheaf_api.records.oai_identifier IS 'OAI identifier as the repository sent it; unique per source.';
COMMENT ON COLUMN sheaf_api.records.datestamp IS 'Header datestamp (the repository''s last change), UTC.';
COMMENT ON COLUMN sheaf_api.records.deleted IS 'Tombstone: the repository deleted the record; its metadata columns are empty.';
COMMENT ON COLUMN sheaf_api.records.sets IS 'setSpecs from the record header.';
COMMENT ON COLUMN sheaf_api.records.title IS 'Primary title (in the record''s main language when known); all titles are in sheaf_api.titles.';
COMMENT ON COLUMN sheaf_api.records.doi IS 'Article DOI, lower-case, without resolver prefix (10.NNNN/...).';
COMMENT ON COLUMN sheaf_api.records.issued IS 'Publication date, ISO 8601 at the precision given: 2022, 2022-06 or 2022-06-21.';
COMMENT ON COLUMN sheaf_api.records.issued_year IS 'Year of issued, as an integer (indexed).';
COMMENT ON COLUMN sheaf_api.records.languages IS 'Languages of the work: ISO 639-1 codes (else ISO 639-3), e.g. {ru,en}.';
COMMENT ON COLUMN sheaf_api.records.types IS 'Work types: article, review, book, book-part, thesis, conference-paper, report, preprint, dataset, other.';
COMMENT ON COLUMN sheaf_api.records.publishers IS 'Publishers as written.';
COMMENT ON COLUMN sheaf_api.records.journal IS 'Journal (or book) title parsed from dc:source; NULL when not given.';
COMMENT ON COLUMN sheaf_api.records.volume IS 'Volume as written (5, 1-2); NULL when not given.';
COMMENT ON COLUMN sheaf_api.records.issue IS 'Issue as written (3); NULL when not given.';
COMMENT ON COLUMN sheaf_api.records.issue_year IS 'Year of the journal issue from dc:source; may differ from issued_year.';
COMMENT ON COLUMN sheaf_api.records.pages IS 'Page range (5-17); NULL when not given.';
COMMENT ON COLUMN sheaf_api.records.issn IS 'ISSN of the journal (NNNN-NNNC, check digit valid); NULL when not given.';
COMMENT ON COLUMN sheaf_api.records.work_key IS 'Cross-source key of the work: the DOI, else a normalized landing URL. Equal keys in different sources are the same work.';
COMMENT ON COLUMN sheaf_api.records.flags IS 'Quality flags: incomplete, repaired_encoding, lang_conflict, date_out_of_range, year_mismatch.';
COMMENT ON COLUMN sheaf_api.records.search IS 'Full-text vector (titles A, keywords and creators B, abstracts C; Russian, English and simple stemming). Query with search @@ sheaf_api.search_query(''...'').';
COMMENT ON COLUMN sheaf_api.records.first_harvested_at IS 'When sheaf first stored the record.';
COMMENT ON COLUMN sheaf_api.records.updated_at IS 'When sheaf last changed the record (new content, deletion, re-normalization).';
COMMENT ON COLUMN sheaf_api.records.change_seq IS 'Change feed cursor: grows with every change to any record. Read changes after N with change_seq > N ORDER BY change_seq.';
COMMENT ON COLUMN sheaf_api.records.raw_metadata IS 'The <metadata> XML as received; NULL for tombstones.';
COMMENT ON COLUMN sheaf_api.records.record IS 'The whole record contract (the JSON of sheaf records show --json, sheaf export and GET /api/records/{id}).';

-- Lists of the record contract ---------------------------------------------------------------
-- One row per element, `position` 1-based in contract order. Tombstones have no rows.

-- Elements of one list of a normalized record, numbered (inlined by the planner).
CREATE FUNCTION sheaf_list_items(doc jsonb, list text)
RETURNS TABLE (pos integer, item jsonb)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT e.n::integer, e.elem
    FROM jsonb_array_elements(doc -> list) WITH ORDINALITY AS e (elem, n)
$$;

-- Text lists ({value, lang}) and people lists ({name, family, given, orcid}) share a shape.
DO $$
DECLARE
    v text;
BEGIN
    FOREACH v IN ARRAY ARRAY['titles', 'subjects', 'descriptions'] LOOP
        EXECUTE format('CREATE VIEW sheaf_api.%I AS
            SELECT r.id AS record_id, e.pos AS position, e.item ->> ''value'' AS value, e.item ->> ''lang'' AS lang
            FROM records r, sheaf_list_items(r.normalized, %L) AS e', v, v);
        EXECUTE format('COMMENT ON COLUMN sheaf_api.%I.lang IS %L', v,
                       'ISO 639-1 language of the value; NULL when unknown.');
    END LOOP;
    FOREACH v IN ARRAY ARRAY['creators', 'contributors'] LOOP
        EXECUTE format('CREATE VIEW sheaf_api.%I AS
            SELECT r.id AS record_id, e.pos AS position, e.item ->> ''name'' AS name, e.item ->> ''family'' AS family,
                   e.item ->> ''given'' AS given, e.item ->> ''orcid'' AS orcid
            FROM records r, sheaf_list_items(r.normalized, %L) AS e', v, v);
        EXECUTE format('COMMENT ON COLUMN sheaf_api.%I.name IS %L', v,
                       'Display form as written (in the record''s main language).');
        EXECUTE format('COMMENT ON COLUMN sheaf_api.%I.family IS %L', v,
                       'Family name when the written form makes it certain.');
        EXECUTE format('COMMENT ON COLUMN sheaf_api.%I.given IS %L', v,
                       'Given name or initials when the written form makes it certain.');
        EXECUTE format('COMMENT ON COLUMN sheaf_api.%I.orcid IS %L', v,
                       'ORCID iD (0000-0002-1825-0097) when one is attached to this person.');
    END LOOP;
END $$;

CREATE VIEW sheaf_api.identifiers AS
SELECT r.id AS record_id, e.pos AS position, e.item ->> 'scheme' AS scheme, e.item ->> 'value' AS value
FROM records r, sheaf_list_items(r.normalized, 'identifiers') AS e;

CREATE VIEW sheaf_api.rights AS
SELECT r.id AS record_id, e.pos AS position, e.item ->> 'value' AS value, e.item ->> 'license' AS license
FROM records r, sheaf_list_items(r.normalized, 'rights') AS e;

COMMENT ON VIEW sheaf_api.titles IS 'Every title of every record; position 1 is the primary title (sheaf_api.records.title).';
COMMENT ON COLUMN sheaf_api.titles.value IS 'Title text (Unicode NFC, markup stripped, whitespace collapsed).';
COMMENT ON VIEW sheaf_api.subjects IS 'Keywords: lists split, trimmed, deduplicated case-insensitively per language.';
COMMENT ON COLUMN sheaf_api.subjects.value IS 'One keyword.';
COMMENT ON VIEW sheaf_api.descriptions IS 'Abstracts as plain text (HTML stripped, paragraphs kept as blank lines).';
COMMENT ON COLUMN sheaf_api.descriptions.value IS 'Abstract text.';
COMMENT ON VIEW sheaf_api.creators IS 'Authors (dc:creator) in order, one row per person; localized copies of one author are merged.';
COMMENT ON VIEW sheaf_api.contributors IS 'dc:contributor (sponsors, translators, editors) in order; never merged with creators.';
COMMENT ON VIEW sheaf_api.identifiers IS 'Every dc:identifier of every record, classified.';
COMMENT ON COLUMN sheaf_api.identifiers.scheme IS 'doi, url, handle, urn, issn, isbn, orcid, arxiv, citation or other.';
COMMENT ON COLUMN sheaf_api.identifiers.value IS 'Canonical value for the scheme (DOI lower-case, ISSN NNNN-NNNC, ...).';
COMMENT ON VIEW sheaf_api.rights IS 'Rights statements and the licences they name.';
COMMENT ON COLUMN sheaf_api.rights.value IS 'The statement or licence URL as text.';
COMMENT ON COLUMN sheaf_api.rights.license IS 'SPDX-style licence id (CC-BY-4.0, CC0-1.0, ...); NULL for copyright statements and unknown licences.';

DO $$
DECLARE
    v text;
BEGIN
    FOREACH v IN ARRAY ARRAY['titles', 'subjects', 'descriptions', 'creators', 'contributors', 'identifiers', 'rights'] LOOP
        EXECUTE format('COMMENT ON COLUMN sheaf_api.%I.record_id IS %L', v, 'sheaf_api.records.id');
        EXECUTE format('COMMENT ON COLUMN sheaf_api.%I.position IS %L', v, '1-based order within the record.');
    END LOOP;
END $$;

-- sources and runs ----------------------------------------------------------------------------

CREATE VIEW sheaf_api.sources AS
SELECT s.name,
       -- user:password@ in a URL is a credential, not part of the endpoint's identity
       regexp_replace(s.base_url, '^([A-Za-z][A-Za-z0-9+.-]*://)[^/@]*@', '\1') AS base_url,
       s.metadata_prefix,
       s.sets,
       s.schedule,
       s.enabled,
       s.repository_name,
       s.granularity,
       s.earliest_datestamp,
       s.deleted_record,
       s.last_run_status,
       s.last_run_at,
       s.next_run_at,
       s.consecutive_failures,
       s.created_at,
       s.updated_at
FROM sources s;

COMMENT ON VIEW sheaf_api.sources IS 'Harvested endpoints (one per base URL + metadata prefix + sets), with what their Identify said and their last run.';
COMMENT ON COLUMN sheaf_api.sources.name IS 'Unique slug; sheaf_api.records.source and sheaf_api.runs.source refer to it.';
COMMENT ON COLUMN sheaf_api.sources.base_url IS 'OAI-PMH base URL (any user:password@ removed).';
COMMENT ON COLUMN sheaf_api.sources.metadata_prefix IS 'Metadata format harvested (oai_dc).';
COMMENT ON COLUMN sheaf_api.sources.sets IS 'setSpecs harvested; empty = the whole repository.';
COMMENT ON COLUMN sheaf_api.sources.schedule IS 'Cron line of scheduled harvests; NULL = manual only.';
COMMENT ON COLUMN sheaf_api.sources.enabled IS 'Whether scheduled harvests run.';
COMMENT ON COLUMN sheaf_api.sources.repository_name IS 'repositoryName from Identify.';
COMMENT ON COLUMN sheaf_api.sources.granularity IS 'Datestamp granularity from Identify (YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ).';
COMMENT ON COLUMN sheaf_api.sources.earliest_datestamp IS 'earliestDatestamp from Identify, as written.';
COMMENT ON COLUMN sheaf_api.sources.deleted_record IS 'deletedRecord policy from Identify: no, transient or persistent.';
COMMENT ON COLUMN sheaf_api.sources.last_run_status IS 'Status of the last finished run (see sheaf_api.runs.status).';
COMMENT ON COLUMN sheaf_api.sources.last_run_at IS 'When the last run finished.';
COMMENT ON COLUMN sheaf_api.sources.next_run_at IS 'Next scheduled harvest; NULL when not scheduled.';
COMMENT ON COLUMN sheaf_api.sources.consecutive_failures IS 'Failed runs in a row (0 after a success).';
COMMENT ON COLUMN sheaf_api.sources.created_at IS 'When the source was registered.';
COMMENT ON COLUMN sheaf_api.sources.updated_at IS 'When the source''s settings last changed.';

CREATE VIEW sheaf_api.runs AS
SELECT h.id,
       s.name AS source,
       h.trigger,
       h.status,
       h.full_harvest,
       h.metadata_prefix,
       h.sets,
       h.window_from,
       h.window_until,
       h.resumed_from,
       h.pages,
       h.records_new,
       h.records_updated,
       h.records_unchanged,
       h.records_deleted,
       h.records_failed,
       h.bytes,
       h.retries,
       h.warnings,
       h.error,
       h.started_at,
       h.finished_at
FROM harvest_runs h
JOIN sources s ON s.id = h.source_id;

COMMENT ON VIEW sheaf_api.runs IS 'Harvest runs, one row per run of one source.';
COMMENT ON COLUMN sheaf_api.runs.id IS 'Run id (as printed by sheaf harvest and sheaf runs).';
COMMENT ON COLUMN sheaf_api.runs.source IS 'sheaf_api.sources.name';
COMMENT ON COLUMN sheaf_api.runs.trigger IS 'cli, manual or schedule.';
COMMENT ON COLUMN sheaf_api.runs.status IS 'queued, running, completed, failed, abandoned (worker died; resumed later), deferred, loop_detected or stopped (shutdown; resumable).';
COMMENT ON COLUMN sheaf_api.runs.full_harvest IS 'Whether incremental state was ignored.';
COMMENT ON COLUMN sheaf_api.runs.metadata_prefix IS 'Metadata format requested.';
COMMENT ON COLUMN sheaf_api.runs.sets IS 'setSpecs requested; empty = all.';
COMMENT ON COLUMN sheaf_api.runs.window_from IS 'from argument sent (server granularity); NULL = open.';
COMMENT ON COLUMN sheaf_api.runs.window_until IS 'until argument sent; NULL = open.';
COMMENT ON COLUMN sheaf_api.runs.resumed_from IS 'The run whose checkpoint this run continued, if any.';
COMMENT ON COLUMN sheaf_api.runs.pages IS 'Pages stored.';
COMMENT ON COLUMN sheaf_api.runs.records_new IS 'Records stored for the first time.';
COMMENT ON COLUMN sheaf_api.runs.records_updated IS 'Records whose content changed.';
COMMENT ON COLUMN sheaf_api.runs.records_unchanged IS 'Records seen again without change (not rewritten).';
COMMENT ON COLUMN sheaf_api.runs.records_deleted IS 'Records that became tombstones.';
COMMENT ON COLUMN sheaf_api.runs.records_failed IS 'Records that could not be parsed (quarantined).';
COMMENT ON COLUMN sheaf_api.runs.bytes IS 'Response bytes received.';
COMMENT ON COLUMN sheaf_api.runs.retries IS 'HTTP retries made.';
COMMENT ON COLUMN sheaf_api.runs.warnings IS 'Non-fatal problems met (quirks worked around).';
COMMENT ON COLUMN sheaf_api.runs.error IS 'Why the run failed; NULL otherwise.';
COMMENT ON COLUMN sheaf_api.runs.started_at IS 'When the run started.';
COMMENT ON COLUMN sheaf_api.runs.finished_at IS 'When the run ended; NULL while queued or running.';

-- The read-only role -----------------------------------------------------------------------------
-- Roles are cluster-wide and every database's migration runs this, possibly at the same time:
-- a concurrent CREATE ROLE fails with unique_violation (or duplicate_object once committed).
-- A database user that may not create roles gets a warning, not a failed migration; an admin
-- can then create the role and grant (docs/schema.md, "Read-only access").

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'sheaf_reader') THEN
        BEGIN
            CREATE ROLE sheaf_reader NOLOGIN;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN
                NULL;
            WHEN insufficient_privilege THEN
                RAISE WARNING 'role sheaf_reader not created (%); see docs/schema.md', SQLERRM;
                RETURN;
        END;
    END IF;
    GRANT USAGE ON SCHEMA sheaf_api TO sheaf_reader;
    GRANT SELECT ON ALL TABLES IN SCHEMA sheaf_api TO sheaf_reader;
    GRANT EXECUTE ON FUNCTION sheaf_api.search_query(text), sheaf_search_query(text) TO sheaf_reader;
    -- Views added to sheaf_api by later migrations are readable without another grant.
    ALTER DEFAULT PRIVILEGES IN SCHEMA sheaf_api GRANT SELECT ON TABLES TO sheaf_reader;
END $$;
