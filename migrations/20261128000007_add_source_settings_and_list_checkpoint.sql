-- Per-source settings (HTTP overrides, custom headers, basic auth by reference, CA bundle,
-- adaptive windows) and a finer checkpoint: where the current list was started, so a
-- restart redoes at most one date window.
ALTER TABLE sources ADD COLUMN settings JSONB NOT NULL DEFAULT '{}';

ALTER TABLE harvest_runs
    -- The bounds the current list was (re)started with, as sent; NULL = the run's window.
    ADD COLUMN list_from TEXT,
    ADD COLUMN list_until TEXT,
    -- Span of the current adaptive window in seconds; NULL = the run is not chunked.
    ADD COLUMN chunk_span_secs BIGINT,
    -- Largest datestamp committed in the current list, and whether the list's datestamps
    -- have come in non-decreasing order so far (only then can an expired token be
    -- replaced by `from` = this high-water mark without losing records).
    ADD COLUMN list_high_water TIMESTAMPTZ,
    ADD COLUMN list_ordered BOOLEAN NOT NULL DEFAULT TRUE;
