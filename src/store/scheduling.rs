//! What the service needs from PostgreSQL: claiming due sources and queued runs under
//! global and per-host limits, manual triggers, run outcomes, source administration.
//!
//! Claims are serialized by a transaction-scoped advisory lock, so the per-host count a
//! claim checks cannot be raced by another worker claiming on the same host.

use chrono::{DateTime, Utc};

use super::runs::Run;
use super::sources::Source;
use super::{Store, StoreError};

/// Key of the advisory lock that serializes claims across workers.
const CLAIM_LOCK: i64 = 0x5348_4541_4643_4c4d; // "SHEAFCLM"

/// Host part of a base URL, in SQL, for per-host limits.
const HOST_OF: &str = "lower(substring(base_url from '^[A-Za-z]+://(?:[^@/]*@)?([^/:?#]+)'))";

/// SQL condition: the host of source `s` has fewer than `$1` live leases.
fn host_has_room() -> String {
    format!(
        "(SELECT count(*) FROM sources o WHERE o.lease_owner IS NOT NULL AND o.lease_expires_at >= now() \
         AND {} = {}) < $1",
        HOST_OF.replace("base_url", "o.base_url"),
        HOST_OF.replace("base_url", "s.base_url")
    )
}

/// Something a worker claimed: a source (its lease now held) and, for a manual trigger,
/// the queued run to carry out.
#[derive(Debug, Clone)]
pub struct Claim {
    /// The source, leased to the claimer.
    pub source: Source,
    /// The queued run, for manual triggers.
    pub queued: Option<Run>,
}

/// Result of a manual trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Triggered {
    /// The run that will (or already does) carry out the request.
    pub run_id: i64,
    /// The request joined a run already queued or running instead of adding one.
    pub merged: bool,
}

/// Partial update of a source.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourcePatch {
    /// New base URL.
    pub base_url: Option<String>,
    /// New metadata prefix.
    pub metadata_prefix: Option<String>,
    /// New sets.
    pub sets: Option<Vec<String>>,
    /// New schedule; `Some(None)` via JSON `null` clears it.
    #[serde(default, with = "double_option")]
    pub schedule: Option<Option<String>>,
    /// Enable or disable.
    pub enabled: Option<bool>,
}

mod double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Option<String>>, D::Error> {
        Ok(Some(Option::deserialize(d)?))
    }
}

impl Store {
    /// Claims the next source to harvest, leasing it to `owner`: one whose schedule is due,
    /// or one whose newest run was left `running` by a dead worker (its lease expired) or
    /// `stopped` by a shutdown, so that run is resumed at once rather than at the next
    /// scheduled time. A due source's `next_run_at` is moved by `next_run`.
    pub async fn claim_due_source(
        &self,
        owner: &str,
        ttl: std::time::Duration,
        per_host: i64,
        next_run: impl Fn(&Source, DateTime<Utc>) -> Option<DateTime<Utc>>,
    ) -> Result<Option<Claim>, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(CLAIM_LOCK)
            .execute(&mut *tx)
            .await?;
        let sql = format!(
            "SELECT id FROM sources s WHERE ((enabled AND schedule IS NOT NULL AND next_run_at <= now()) \
                  OR (enabled AND EXISTS (SELECT 1 FROM harvest_runs r WHERE r.source_id = s.id \
                             AND r.status IN ('running', 'stopped') \
                             AND r.id = (SELECT max(id) FROM harvest_runs m WHERE m.source_id = s.id)))) \
             AND (not_before IS NULL OR not_before <= now()) \
             AND (lease_owner IS NULL OR lease_expires_at < now()) \
             AND NOT EXISTS (SELECT 1 FROM harvest_runs q WHERE q.source_id = s.id AND q.status = 'queued') \
             AND {host_has_room} \
             ORDER BY next_run_at, id LIMIT 1 FOR UPDATE SKIP LOCKED",
            host_has_room = host_has_room(),
        );
        let id: Option<i64> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .bind(per_host)
            .fetch_optional(&mut *tx)
            .await?;
        let Some(id) = id else { return Ok(None) };
        let now: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
            .fetch_one(&mut *tx)
            .await?;
        let current = self.source_by_id_in(&mut tx, id).await?;
        let next = next_run(&current, now);
        sqlx::query(
            "UPDATE sources SET lease_owner = $2, lease_expires_at = now() + make_interval(secs => $3), \
             next_run_at = CASE WHEN next_run_at <= now() THEN $4 ELSE next_run_at END WHERE id = $1",
        )
        .bind(id)
        .bind(owner)
        .bind(ttl.as_secs_f64())
        .bind(next)
        .execute(&mut *tx)
        .await?;
        // A due run is recorded as a queued run in the same transaction that moves
        // next_run_at: if this worker dies before the run starts, the queued row is
        // claimed again once the lease expires, instead of the tick being lost.
        let was_due = current.next_run_at.is_some_and(|t| t <= now);
        let queued = if was_due {
            let run_id: i64 = sqlx::query_scalar(
                "INSERT INTO harvest_runs (source_id, trigger, status, metadata_prefix, sets, worker) \
                 VALUES ($1, 'schedule', 'queued', $2, $3, '') RETURNING id",
            )
            .bind(id)
            .bind(&current.metadata_prefix)
            .bind(&current.sets)
            .fetch_one(&mut *tx)
            .await?;
            Some(run_id)
        } else {
            None
        };
        let source = self.source_by_id_in(&mut tx, id).await?;
        tx.commit().await?;
        let queued = match queued {
            Some(run_id) => Some(self.run_by_id(run_id).await?),
            None => None,
        };
        Ok(Some(Claim { source, queued }))
    }

    /// Claims the oldest queued manual run whose source is free, leasing the source.
    pub async fn claim_queued_run(
        &self,
        owner: &str,
        ttl: std::time::Duration,
        per_host: i64,
    ) -> Result<Option<Claim>, StoreError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(CLAIM_LOCK)
            .execute(&mut *tx)
            .await?;
        let sql = format!(
            "SELECT r.id, r.source_id FROM harvest_runs r JOIN sources s ON s.id = r.source_id \
             WHERE r.status = 'queued' AND (s.lease_owner IS NULL OR s.lease_expires_at < now()) \
             AND {host_has_room} \
             ORDER BY r.id LIMIT 1 FOR UPDATE OF r, s SKIP LOCKED",
            host_has_room = host_has_room(),
        );
        let row: Option<(i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(per_host)
            .fetch_optional(&mut *tx)
            .await?;
        let Some((run_id, source_id)) = row else {
            return Ok(None);
        };
        sqlx::query("UPDATE sources SET lease_owner = $2, lease_expires_at = now() + make_interval(secs => $3) WHERE id = $1")
            .bind(source_id)
            .bind(owner)
            .bind(ttl.as_secs_f64())
            .execute(&mut *tx)
            .await?;
        let source = self.source_by_id_in(&mut tx, source_id).await?;
        tx.commit().await?;
        let queued = self.run_by_id(run_id).await?;
        Ok(Some(Claim {
            source,
            queued: Some(queued),
        }))
    }

    async fn source_by_id_in(
        &self,
        tx: &mut sqlx::PgConnection,
        id: i64,
    ) -> Result<Source, StoreError> {
        let sql = concat!("SELECT ", source_columns!(), " FROM sources WHERE id = $1");
        Ok(sqlx::query_as(sql).bind(id).fetch_one(&mut *tx).await?)
    }

    /// Asks for a harvest of a source: joins a queued or running run if there is one,
    /// otherwise queues a new run. Any worker picks it up.
    pub async fn trigger(
        &self,
        source_id: i64,
        full: bool,
        from: Option<&str>,
    ) -> Result<Triggered, StoreError> {
        let existing: Option<i64> = sqlx::query_scalar(
            "SELECT id FROM harvest_runs WHERE source_id = $1 AND status IN ('queued', 'running') ORDER BY id DESC LIMIT 1",
        )
        .bind(source_id)
        .fetch_optional(&self.pool)
        .await?;
        if let Some(run_id) = existing {
            return Ok(Triggered {
                run_id,
                merged: true,
            });
        }
        let inserted: Option<i64> = sqlx::query_scalar(
            "INSERT INTO harvest_runs (source_id, trigger, status, full_harvest, metadata_prefix, sets, requested_from, worker) \
             SELECT id, 'manual', 'queued', $2, metadata_prefix, sets, $3, '' FROM sources WHERE id = $1 \
             ON CONFLICT (source_id) WHERE status = 'queued' DO NOTHING RETURNING id",
        )
        .bind(source_id)
        .bind(full)
        .bind(from)
        .fetch_optional(&self.pool)
        .await?;
        match inserted {
            Some(run_id) => Ok(Triggered {
                run_id,
                merged: false,
            }),
            // Lost a race with another trigger: join its run.
            None => {
                let run_id = sqlx::query_scalar(
                    "SELECT id FROM harvest_runs WHERE source_id = $1 AND status = 'queued'",
                )
                .bind(source_id)
                .fetch_one(&self.pool)
                .await?;
                Ok(Triggered {
                    run_id,
                    merged: true,
                })
            }
        }
    }

    /// Records how a run ended on its source: failure streak, last status, and (for the
    /// scheduler) the next run time.
    pub async fn record_outcome(
        &self,
        source_id: i64,
        status: &str,
        next_run_at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sources SET last_run_status = $2, last_run_at = now(), \
             consecutive_failures = CASE WHEN $2 IN ('completed', 'stopped') THEN 0 ELSE consecutive_failures + 1 END, \
             next_run_at = COALESCE($3, next_run_at), updated_at = now() WHERE id = $1",
        )
        .bind(source_id)
        .bind(status)
        .bind(next_run_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Closes a run that is still queued as failed.
    pub async fn fail_if_queued(&self, run_id: i64, error: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE harvest_runs SET status = 'failed', error = $2, finished_at = now() WHERE id = $1 AND status = 'queued'",
        )
        .bind(run_id)
        .bind(error)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Sets `next_run_at` for scheduled sources that have none (new, or schedule changed).
    pub async fn sources_without_next_run(&self) -> Result<Vec<Source>, StoreError> {
        let sql = concat!(
            "SELECT ",
            source_columns!(),
            " FROM sources WHERE schedule IS NOT NULL AND next_run_at IS NULL"
        );
        Ok(sqlx::query_as(sql).fetch_all(&self.pool).await?)
    }

    /// Sets a source's next run time.
    pub async fn set_next_run(
        &self,
        source_id: i64,
        at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE sources SET next_run_at = $2 WHERE id = $1")
            .bind(source_id)
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Applies a patch; a changed schedule clears `next_run_at` so the scheduler recomputes it.
    pub async fn update_source(&self, name: &str, p: &SourcePatch) -> Result<Source, StoreError> {
        let sql = concat!(
            "UPDATE sources SET base_url = COALESCE($2, base_url), metadata_prefix = COALESCE($3, metadata_prefix), \
             sets = COALESCE($4, sets), schedule = CASE WHEN $5 THEN $6 ELSE schedule END, \
             next_run_at = CASE WHEN $5 THEN NULL ELSE next_run_at END, \
             enabled = COALESCE($7, enabled), updated_at = now() WHERE name = $1 RETURNING ",
            source_columns!()
        );
        sqlx::query_as(sql)
            .bind(name)
            .bind(&p.base_url)
            .bind(&p.metadata_prefix)
            .bind(&p.sets)
            .bind(p.schedule.is_some())
            .bind(p.schedule.clone().flatten())
            .bind(p.enabled)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("source {name:?}")))
    }

    /// Removes a source with its runs and records.
    pub async fn remove_source(&self, name: &str) -> Result<(), StoreError> {
        let res = sqlx::query("DELETE FROM sources WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("source {name:?}")));
        }
        Ok(())
    }

    /// Runs filtered by source and status, newest first.
    pub async fn filter_runs(
        &self,
        source_id: Option<i64>,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Run>, StoreError> {
        let sql = concat!(
            "SELECT ",
            run_columns!(),
            " FROM harvest_runs WHERE ($1::bigint IS NULL OR source_id = $1) \
             AND ($2::text IS NULL OR status = $2) ORDER BY id DESC LIMIT $3"
        );
        Ok(sqlx::query_as(sql)
            .bind(source_id)
            .bind(status)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?)
    }
}

/// Per source and status: run counts and summed counters.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RunAggregate {
    /// Source name.
    pub source: String,
    /// Run status.
    pub status: String,
    /// Runs.
    pub count: i64,
    /// Summed counters.
    pub new: i64,
    /// Summed counters.
    pub updated: i64,
    /// Summed counters.
    pub unchanged: i64,
    /// Summed counters.
    pub deleted: i64,
    /// Summed counters.
    pub failed: i64,
    /// Summed counters.
    pub pages: i64,
    /// Summed counters.
    pub bytes: i64,
    /// Summed counters.
    pub retries: i64,
    /// Summed wall time of finished runs.
    pub duration_secs: f64,
}

/// Per source: stored records and lease state.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SourceAggregate {
    /// Source name.
    pub name: String,
    /// Live records.
    pub live: i64,
    /// Tombstones.
    pub deleted: i64,
    /// A worker holds the lease.
    pub leased: bool,
}

/// Everything `/metrics` shows.
#[derive(Debug, Clone)]
pub struct MetricsSnapshot {
    /// Runs.
    pub runs: Vec<RunAggregate>,
    /// Sources.
    pub sources: Vec<SourceAggregate>,
    /// Queued manual runs.
    pub queued: i64,
    /// Due scheduled sources.
    pub due: i64,
}

impl Store {
    /// Reads what `/metrics` reports.
    pub async fn metrics_snapshot(&self) -> Result<MetricsSnapshot, StoreError> {
        let runs = sqlx::query_as(
            "SELECT s.name AS source, r.status, count(*)::bigint AS count, sum(records_new)::bigint AS new, \
             sum(records_updated)::bigint AS updated, sum(records_unchanged)::bigint AS unchanged, \
             sum(records_deleted)::bigint AS deleted, sum(records_failed)::bigint AS failed, sum(pages)::bigint AS pages, \
             sum(bytes)::bigint AS bytes, sum(retries)::bigint AS retries, \
             COALESCE(sum(extract(epoch FROM finished_at - started_at)), 0)::float8 AS duration_secs \
             FROM harvest_runs r JOIN sources s ON s.id = r.source_id GROUP BY 1, 2 ORDER BY 1, 2",
        )
        .fetch_all(&self.pool)
        .await?;
        let sources = sqlx::query_as(
            "SELECT s.name, count(r.id) FILTER (WHERE NOT r.deleted) AS live, count(r.id) FILTER (WHERE r.deleted) AS deleted, \
             (s.lease_owner IS NOT NULL AND s.lease_expires_at >= now()) AS leased \
             FROM sources s LEFT JOIN records r ON r.source_id = s.id GROUP BY s.id ORDER BY s.name",
        )
        .fetch_all(&self.pool)
        .await?;
        let (queued, due): (i64, i64) = sqlx::query_as(
            "SELECT (SELECT count(*) FROM harvest_runs WHERE status = 'queued'), \
             (SELECT count(*) FROM sources WHERE enabled AND schedule IS NOT NULL AND next_run_at <= now())",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(MetricsSnapshot {
            runs,
            sources,
            queued,
            due,
        })
    }
}
