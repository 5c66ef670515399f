-- Service mode: queued manual triggers, stopped (graceful shutdown) runs, and the
-- scheduler's view of each source's health.
ALTER TABLE harvest_runs DROP CONSTRAINT harvest_runs_status_check;
ALTER TABLE harvest_runs ADD CONSTRAINT harvest_runs_status_check
    CHECK (status IN ('queued', 'running', 'completed', 'failed', 'abandoned', 'deferred', 'loop_detected', 'stopped'));

-- A manual trigger's requested `from` (raw, as the user wrote it) until a worker plans it.
ALTER TABLE harvest_runs ADD COLUMN requested_from TEXT;

-- At most one queued run per source: triggers merge into it.
CREATE UNIQUE INDEX harvest_runs_one_queued ON harvest_runs (source_id) WHERE status = 'queued';

ALTER TABLE sources
    ADD COLUMN consecutive_failures INTEGER NOT NULL DEFAULT 0,
    ADD COLUMN last_run_status TEXT,
    ADD COLUMN last_run_at TIMESTAMPTZ;

CREATE INDEX sources_due ON sources (next_run_at) WHERE enabled AND schedule IS NOT NULL;
