-- Records (or page fragments) that could not be parsed: kept with the raw bytes and the
-- error, so nothing is lost; the next run retries unresolved entries by GetRecord.
CREATE TABLE quarantine (
    id              BIGSERIAL PRIMARY KEY,
    source_id       BIGINT NOT NULL REFERENCES sources (id) ON DELETE CASCADE,
    run_id          BIGINT REFERENCES harvest_runs (id) ON DELETE SET NULL,
    oai_identifier  TEXT,
    byte_offset     BIGINT,
    error           TEXT NOT NULL,
    raw             BYTEA NOT NULL,
    created_at      TIMESTAMPTZ NOT NULL DEFAULT now(),
    resolved_at     TIMESTAMPTZ,
    resolved_by_run BIGINT REFERENCES harvest_runs (id) ON DELETE SET NULL
);

CREATE INDEX quarantine_unresolved ON quarantine (source_id) WHERE resolved_at IS NULL;
CREATE INDEX quarantine_run ON quarantine (run_id);
