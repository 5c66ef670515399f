-- Sources, harvest runs and records: the core of sheaf's storage.
-- Forward-only; later changes go in new files.

CREATE TABLE sources (
    id                  BIGSERIAL PRIMARY KEY,
    name                TEXT NOT NULL UNIQUE CHECK (name ~ '^[a-z0-9][a-z0-9._-]*$'),
    base_url            TEXT NOT NULL,
    metadata_prefix     TEXT NOT NULL DEFAULT 'oai_dc',
    sets                TEXT[] NOT NULL DEFAULT '{}',
    schedule            TEXT,
    enabled             BOOLEAN NOT NULL DEFAULT TRUE,
    -- What Identify said, refreshed at the start of every run.
    repository_name     TEXT,
    granularity         TEXT,
    earliest_datestamp  TEXT,
    deleted_record      TEXT,
    compression         TEXT[] NOT NULL DEFAULT '{}',
    -- Learned per-source leniencies and observations (quirks.md), named keys.
    quirks              JSONB NOT NULL DEFAULT '{}',
    next_run_at         TIMESTAMPTZ,
    not_before          TIMESTAMPTZ,
    -- Lease: at most one worker harvests a source at a time.
    lease_owner         TEXT,
    lease_expires_at    TIMESTAMPTZ,
    created_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE harvest_runs (
    id                  BIGSERIAL PRIMARY KEY,
    source_id           BIGINT NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    trigger             TEXT NOT NULL CHECK (trigger IN ('cli', 'manual', 'schedule')),
    status              TEXT NOT NULL DEFAULT 'running'
                        CHECK (status IN ('running', 'completed', 'failed', 'abandoned', 'deferred', 'loop_detected')),
    full_harvest        BOOLEAN NOT NULL DEFAULT FALSE,
    metadata_prefix     TEXT NOT NULL,
    sets                TEXT[] NOT NULL DEFAULT '{}',
    -- The window as sent to the server (already in its granularity); NULL = open.
    window_from         TEXT,
    window_until        TEXT,
    -- responseDate of the run's first request: the next incremental run starts here.
    first_response_date TIMESTAMPTZ,
    -- The run this one resumed (after a crash or failure), if any.
    resumed_from        BIGINT REFERENCES harvest_runs (id) ON DELETE SET NULL,
    -- Checkpoint, committed with each page.
    set_index           INTEGER NOT NULL DEFAULT 0,
    resumption_token    TEXT,
    list_cursor         BIGINT,
    complete_list_size  BIGINT,
    high_water          TIMESTAMPTZ,
    -- Counts.
    pages               INTEGER NOT NULL DEFAULT 0,
    records_new         BIGINT NOT NULL DEFAULT 0,
    records_updated     BIGINT NOT NULL DEFAULT 0,
    records_unchanged   BIGINT NOT NULL DEFAULT 0,
    records_deleted     BIGINT NOT NULL DEFAULT 0,
    records_failed      BIGINT NOT NULL DEFAULT 0,
    bytes               BIGINT NOT NULL DEFAULT 0,
    retries             INTEGER NOT NULL DEFAULT 0,
    warnings            TEXT[] NOT NULL DEFAULT '{}',
    error               TEXT,
    worker              TEXT NOT NULL,
    started_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    heartbeat_at        TIMESTAMPTZ NOT NULL DEFAULT now(),
    finished_at         TIMESTAMPTZ
);

CREATE INDEX harvest_runs_source_started ON harvest_runs (source_id, started_at DESC);
CREATE INDEX harvest_runs_running ON harvest_runs (source_id) WHERE status = 'running';

-- Every change to a record takes the next value: the change feed's cursor.
CREATE SEQUENCE record_change_seq;

CREATE TABLE records (
    id                  BIGSERIAL PRIMARY KEY,
    source_id           BIGINT NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    oai_identifier      TEXT NOT NULL,
    datestamp           TIMESTAMPTZ,
    datestamp_raw       TEXT,
    deleted             BOOLEAN NOT NULL DEFAULT FALSE,
    sets                TEXT[] NOT NULL DEFAULT '{}',
    -- Normalized fields: the record contract as JSONB plus queryable columns.
    normalized          JSONB,
    title               TEXT,
    doi                 TEXT,
    issued              TEXT,
    languages           TEXT[] NOT NULL DEFAULT '{}',
    types               TEXT[] NOT NULL DEFAULT '{}',
    flags               TEXT[] NOT NULL DEFAULT '{}',
    work_key            TEXT,
    raw_metadata        TEXT,
    content_hash        BYTEA NOT NULL,
    first_harvested_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_harvested_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at          TIMESTAMPTZ NOT NULL DEFAULT now(),
    change_seq          BIGINT NOT NULL DEFAULT nextval('record_change_seq'),
    last_run_id         BIGINT REFERENCES harvest_runs (id) ON DELETE SET NULL,
    UNIQUE (source_id, oai_identifier)
);

CREATE INDEX records_doi ON records (doi) WHERE doi IS NOT NULL;
CREATE INDEX records_issued ON records (issued);
CREATE INDEX records_languages ON records USING GIN (languages);
CREATE INDEX records_types ON records USING GIN (types);
CREATE INDEX records_change_seq ON records (change_seq);
CREATE INDEX records_work_key ON records (work_key) WHERE work_key IS NOT NULL;
CREATE INDEX records_source_datestamp ON records (source_id, datestamp);
