-- Deletion sweeps for repositories without persistent tombstones (deletedRecord no or
-- transient): identifiers seen by a ListIdentifiers sweep are collected here, then stored
-- records not seen are tombstoned.
ALTER TABLE sources ADD COLUMN last_sweep_at TIMESTAMPTZ;

CREATE UNLOGGED TABLE sweep_seen (
    run_id          BIGINT NOT NULL REFERENCES harvest_runs (id) ON DELETE CASCADE,
    oai_identifier  TEXT NOT NULL,
    PRIMARY KEY (run_id, oai_identifier)
);
