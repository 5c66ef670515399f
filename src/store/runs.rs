//! Harvest runs: one row per run, its checkpoint and counts.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::{Store, StoreError};

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    /// `sheaf harvest` in-process.
    Cli,
    /// A manual trigger through the API or `sheaf trigger`.
    Manual,
    /// The cron schedule.
    Schedule,
}

impl Trigger {
    /// Database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Cli => "cli",
            Self::Manual => "manual",
            Self::Schedule => "schedule",
        }
    }
}

/// Terminal and non-terminal run states.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// In progress (or its process died; see `Abandoned`).
    Running,
    /// Every list ended normally.
    Completed,
    /// Stopped by an error; the checkpoint allows resuming.
    Failed,
    /// Found `running` with its worker gone; a later run resumed it.
    Abandoned,
    /// The server asked us to come back later than we wait in-process.
    Deferred,
    /// The server repeated a token or a page; incremental state not advanced.
    LoopDetected,
    /// Stopped by a graceful shutdown after a committed page; resumable.
    Stopped,
}

impl RunStatus {
    /// Database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Abandoned => "abandoned",
            Self::Deferred => "deferred",
            Self::LoopDetected => "loop_detected",
            Self::Stopped => "stopped",
        }
    }
}

/// A run as stored.
#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Run {
    /// Primary key.
    pub id: i64,
    /// The source.
    pub source_id: i64,
    /// `cli`, `manual` or `schedule`.
    pub trigger: String,
    /// See [`RunStatus`].
    pub status: String,
    /// Whether the run ignored incremental state.
    pub full_harvest: bool,
    /// For a queued manual run: the `from` asked for, as written.
    pub requested_from: Option<String>,
    /// The format harvested.
    pub metadata_prefix: String,
    /// The sets harvested (empty = all).
    pub sets: Vec<String>,
    /// `from` as sent.
    pub window_from: Option<String>,
    /// `until` as sent.
    pub window_until: Option<String>,
    /// responseDate of the first request of the (possibly resumed) run.
    pub first_response_date: Option<DateTime<Utc>>,
    /// The run this one continued.
    pub resumed_from: Option<i64>,
    /// Index into `sets` of the list in progress.
    pub set_index: i32,
    /// Token for the next page of the list in progress.
    pub resumption_token: Option<String>,
    /// Last `cursor` seen.
    pub list_cursor: Option<i64>,
    /// Last `completeListSize` seen.
    pub complete_list_size: Option<i64>,
    /// Largest datestamp stored so far.
    pub high_water: Option<DateTime<Utc>>,
    /// Pages committed.
    pub pages: i32,
    /// Records first seen.
    pub records_new: i64,
    /// Records whose content changed.
    pub records_updated: i64,
    /// Records seen again unchanged.
    pub records_unchanged: i64,
    /// Records that became (or arrived as) tombstones.
    pub records_deleted: i64,
    /// Records that could not be stored.
    pub records_failed: i64,
    /// Body bytes downloaded.
    pub bytes: i64,
    /// Request retries.
    pub retries: i32,
    /// Non-fatal observations.
    pub warnings: Vec<String>,
    /// Why the run failed.
    pub error: Option<String>,
    /// Worker id (`host:pid:nonce`).
    pub worker: String,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// Last sign of life.
    pub heartbeat_at: DateTime<Utc>,
    /// End.
    pub finished_at: Option<DateTime<Utc>>,
    /// Where the list in progress was started.
    #[sqlx(flatten)]
    #[serde(flatten)]
    pub list: ListPosition,
}

/// How the list in progress was started, beyond its set and token: the bounds it was
/// (re)started with (an adaptive window, or a high-water restart after an expired token),
/// and what a restart may rely on. Written with every page.
#[derive(Debug, Clone, PartialEq, Eq, FromRow, serde::Serialize)]
pub struct ListPosition {
    /// `from` the list was started with, as sent; `None` = the run's window.
    pub list_from: Option<String>,
    /// `until` the list was started with, as sent; `None` = the run's window.
    pub list_until: Option<String>,
    /// Span of the current adaptive window in seconds; `None` = not chunked.
    pub chunk_span_secs: Option<i64>,
    /// Largest datestamp committed in this list.
    pub list_high_water: Option<DateTime<Utc>>,
    /// Whether this list's datestamps came in non-decreasing order so far.
    pub list_ordered: bool,
}

impl Default for ListPosition {
    fn default() -> Self {
        Self {
            list_from: None,
            list_until: None,
            chunk_span_secs: None,
            list_high_water: None,
            list_ordered: true,
        }
    }
}

/// Parameters of a new run.
#[derive(Debug, Clone)]
pub struct NewRun {
    /// The source.
    pub source_id: i64,
    /// What started it.
    pub trigger: Trigger,
    /// Ignore incremental state.
    pub full: bool,
    /// The format.
    pub metadata_prefix: String,
    /// The sets.
    pub sets: Vec<String>,
    /// `from` as it will be sent.
    pub window_from: Option<String>,
    /// `until` as it will be sent.
    pub window_until: Option<String>,
    /// Inherited from the resumed run, else set after the first request.
    pub first_response_date: Option<DateTime<Utc>>,
    /// The run resumed.
    pub resumed_from: Option<i64>,
    /// Starting list.
    pub set_index: i32,
    /// Starting token.
    pub resumption_token: Option<String>,
    /// Starting list bounds.
    pub list: ListPosition,
    /// Worker id.
    pub worker: String,
}

/// The checkpoint written with each page.
#[derive(Debug, Clone, Default)]
pub struct Checkpoint {
    /// List in progress.
    pub set_index: i32,
    /// Token for the next page; `None` once the list is complete.
    pub resumption_token: Option<String>,
    /// `cursor` of the page.
    pub cursor: Option<i64>,
    /// `completeListSize` of the page.
    pub complete_list_size: Option<i64>,
    /// Largest datestamp in the page.
    pub high_water: Option<DateTime<Utc>>,
    /// Bytes downloaded for the page.
    pub bytes: i64,
    /// Retries spent on the page.
    pub retries: i32,
    /// Warnings raised by the page.
    pub warnings: Vec<String>,
    /// Where the list in progress stands after the page.
    pub list: ListPosition,
}

macro_rules! run_columns {
    () => {
        "id, source_id, trigger, status, full_harvest, requested_from, metadata_prefix, sets, window_from, \
     window_until, first_response_date, resumed_from, set_index, resumption_token, list_cursor, \
     complete_list_size, high_water, pages, records_new, records_updated, records_unchanged, \
     records_deleted, records_failed, bytes, retries, warnings, error, worker, started_at, \
     heartbeat_at, finished_at, list_from, list_until, chunk_span_secs, list_high_water, list_ordered"
    };
}

/// Writes the list position of a checkpoint, inside the page's transaction.
pub(crate) async fn write_list_position(
    conn: &mut sqlx::PgConnection,
    run_id: i64,
    list: &ListPosition,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE harvest_runs SET list_from = $2, list_until = $3, chunk_span_secs = $4, \
         list_high_water = $5, list_ordered = $6 WHERE id = $1",
    )
    .bind(run_id)
    .bind(&list.list_from)
    .bind(&list.list_until)
    .bind(list.chunk_span_secs)
    .bind(list.list_high_water)
    .bind(list.list_ordered)
    .execute(conn)
    .await?;
    Ok(())
}

impl Store {
    /// Opens a run in state `running`.
    pub async fn start_run(&self, r: &NewRun) -> Result<Run, StoreError> {
        let sql = concat!(
            "INSERT INTO harvest_runs (source_id, trigger, full_harvest, metadata_prefix, sets, \
             window_from, window_until, first_response_date, resumed_from, set_index, resumption_token, worker, \
             list_from, list_until, chunk_span_secs, list_high_water, list_ordered) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17) RETURNING ",
            run_columns!()
        );
        Ok(sqlx::query_as(sql)
            .bind(r.source_id)
            .bind(r.trigger.as_str())
            .bind(r.full)
            .bind(&r.metadata_prefix)
            .bind(&r.sets)
            .bind(&r.window_from)
            .bind(&r.window_until)
            .bind(r.first_response_date)
            .bind(r.resumed_from)
            .bind(r.set_index)
            .bind(&r.resumption_token)
            .bind(&r.worker)
            .bind(&r.list.list_from)
            .bind(&r.list.list_until)
            .bind(r.list.chunk_span_secs)
            .bind(r.list.list_high_water)
            .bind(r.list.list_ordered)
            .fetch_one(&self.pool)
            .await?)
    }

    /// Turns a queued (manually triggered) run into a running one with its plan.
    pub async fn start_queued_run(&self, run_id: i64, r: &NewRun) -> Result<Run, StoreError> {
        let sql = concat!(
            "UPDATE harvest_runs SET status = 'running', full_harvest = $2, metadata_prefix = $3, sets = $4, \
             window_from = $5, window_until = $6, first_response_date = $7, resumed_from = $8, set_index = $9, \
             resumption_token = $10, worker = $11, started_at = now(), heartbeat_at = now(), \
             list_from = $12, list_until = $13, chunk_span_secs = $14, list_high_water = $15, list_ordered = $16 \
             WHERE id = $1 AND status = 'queued' RETURNING ",
            run_columns!()
        );
        sqlx::query_as(sql)
            .bind(run_id)
            .bind(r.full)
            .bind(&r.metadata_prefix)
            .bind(&r.sets)
            .bind(&r.window_from)
            .bind(&r.window_until)
            .bind(r.first_response_date)
            .bind(r.resumed_from)
            .bind(r.set_index)
            .bind(&r.resumption_token)
            .bind(&r.worker)
            .bind(&r.list.list_from)
            .bind(&r.list.list_until)
            .bind(r.list.chunk_span_secs)
            .bind(r.list.list_high_water)
            .bind(r.list.list_ordered)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::Conflict(format!("run {run_id} is no longer queued")))
    }

    /// Stores the responseDate of the run's first request (only if not inherited).
    pub async fn set_first_response_date(
        &self,
        run_id: i64,
        at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE harvest_runs SET first_response_date = COALESCE(first_response_date, $2) WHERE id = $1")
            .bind(run_id)
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Ends a run.
    pub async fn finish_run(
        &self,
        run_id: i64,
        status: RunStatus,
        error: Option<&str>,
    ) -> Result<Run, StoreError> {
        let sql = concat!(
            "UPDATE harvest_runs SET status = $2, error = $3, finished_at = now(), heartbeat_at = now(), \
             resumption_token = CASE WHEN $2 = 'completed' THEN NULL ELSE resumption_token END \
             WHERE id = $1 RETURNING ",
            run_columns!()
        );
        Ok(sqlx::query_as(sql)
            .bind(run_id)
            .bind(status.as_str())
            .bind(error)
            .fetch_one(&self.pool)
            .await?)
    }

    /// Sets a run's retry count to at least `retries`.
    pub async fn set_run_retries(&self, run_id: i64, retries: i32) -> Result<(), StoreError> {
        sqlx::query("UPDATE harvest_runs SET retries = GREATEST(retries, $2) WHERE id = $1")
            .bind(run_id)
            .bind(retries)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Adds a warning to a run.
    pub async fn add_run_warning(&self, run_id: i64, warning: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE harvest_runs SET warnings = array_append(warnings, $2) WHERE id = $1")
            .bind(run_id)
            .bind(warning)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Marks every `running` run of a source abandoned; the caller holds the lease, so no
    /// live worker owns them. Returns the most recent one, to resume from.
    pub async fn abandon_running(&self, source_id: i64) -> Result<Option<Run>, StoreError> {
        let sql = concat!(
            "UPDATE harvest_runs SET status = 'abandoned', finished_at = now(), \
             error = COALESCE(error, 'worker stopped before the run finished') \
             WHERE source_id = $1 AND status = 'running' RETURNING ",
            run_columns!()
        );
        let mut runs: Vec<Run> = sqlx::query_as(sql)
            .bind(source_id)
            .fetch_all(&self.pool)
            .await?;
        runs.sort_by_key(|r| r.id);
        Ok(runs.pop())
    }

    /// The newest unfinished run worth resuming: a failed, abandoned or deferred run with
    /// a checkpoint, newer than any completed run.
    pub async fn resumable_run(&self, source_id: i64) -> Result<Option<Run>, StoreError> {
        let sql = concat!(
            "SELECT ",
            run_columns!(),
            // A queued run is the one about to start, not a candidate to resume.
            " FROM harvest_runs WHERE source_id = $1 AND status <> 'queued' ORDER BY id DESC LIMIT 1"
        );
        let last: Option<Run> = sqlx::query_as(sql)
            .bind(source_id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(last.filter(|r| {
            matches!(
                r.status.as_str(),
                "failed" | "abandoned" | "deferred" | "stopped"
            ) && (r.resumption_token.is_some() || r.set_index > 0 || r.pages > 0)
        }))
    }

    /// Where the next incremental run starts: the first responseDate of the newest
    /// completed open-ended run for the same format and sets.
    pub async fn incremental_base(
        &self,
        source_id: i64,
        prefix: &str,
        sets: &[String],
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(sqlx::query_scalar(
            "SELECT first_response_date FROM harvest_runs WHERE source_id = $1 AND status = 'completed' \
             AND metadata_prefix = $2 AND sets = $3 AND window_until IS NULL AND first_response_date IS NOT NULL \
             ORDER BY id DESC LIMIT 1",
        )
        .bind(source_id)
        .bind(prefix)
        .bind(sets)
        .fetch_optional(&self.pool)
        .await?)
    }

    /// A run by id.
    pub async fn run_by_id(&self, id: i64) -> Result<Run, StoreError> {
        let sql = concat!(
            "SELECT ",
            run_columns!(),
            " FROM harvest_runs WHERE id = $1"
        );
        sqlx::query_as(sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("run {id}")))
    }

    /// Newest runs first, optionally for one source.
    pub async fn list_runs(
        &self,
        source_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Run>, StoreError> {
        let sql = concat!(
            "SELECT ",
            run_columns!(),
            " FROM harvest_runs WHERE ($1::bigint IS NULL OR source_id = $1) ORDER BY id DESC LIMIT $2"
        );
        Ok(sqlx::query_as(sql)
            .bind(source_id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }
}
