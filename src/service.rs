//! The daemon (`sheaf serve`): a scheduler loop that claims due sources and queued manual
//! runs from PostgreSQL and harvests them concurrently, plus the HTTP API, until shutdown.
//!
//! Cron decides *when*; PostgreSQL decides *whether it already ran*: claims take a lease
//! in the database, so any number of `sheaf serve` processes can share one database and
//! a source is never harvested by two of them at once. A process that dies loses its
//! leases when they expire, and the next claimer resumes the run from its checkpoint.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::harvest::{HarvestError, HarvestOptions, Harvester, LogProgress};
use crate::schedule::{CronSchedule, failure_backoff};
use crate::store::{Claim, Run, Source, Store, StoreError, Trigger};

/// Service settings; `[service]` in the configuration.
#[derive(Debug, Clone)]
pub struct ServiceConfig {
    /// Harvests running at once in this process.
    pub max_concurrent_runs: usize,
    /// Harvests running at once against one host, across all workers.
    pub per_host_runs: usize,
    /// How often the scheduler looks for due work.
    pub tick: Duration,
    /// How long shutdown waits for running harvests to commit their page.
    pub shutdown_grace: Duration,
}

impl Default for ServiceConfig {
    fn default() -> Self {
        Self {
            max_concurrent_runs: 8,
            per_host_runs: 2,
            tick: Duration::from_secs(5),
            shutdown_grace: Duration::from_secs(30),
        }
    }
}

/// The next run time of a source after `now`: its cron schedule, pushed back while it
/// keeps failing.
pub fn next_run_at(source: &Source, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let schedule = CronSchedule::parse(source.schedule.as_deref()?).ok()?;
    let next = schedule.next_after(now)?;
    if source.consecutive_failures > 0 {
        Some(next.max(now + failure_backoff(source.consecutive_failures)))
    } else {
        Some(next)
    }
}

/// Runs the scheduler until `shutdown` is cancelled, then stops claiming, lets running
/// harvests commit their current page (up to the grace period) and returns.
pub async fn run_scheduler(
    store: Store,
    harvester: Harvester,
    worker_id: String,
    lease_ttl: Duration,
    cfg: ServiceConfig,
    shutdown: CancellationToken,
) -> Result<(), StoreError> {
    let slots = Arc::new(Semaphore::new(cfg.max_concurrent_runs.max(1)));
    let stop_runs = CancellationToken::new();
    let mut tasks = JoinSet::new();
    tracing::info!(worker = %worker_id, "scheduler started");
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        // Catches up on changes written by other processes (`sheaf harvest`, `sheaf db
        // renormalize` elsewhere); this process's harvests poke it after every page.
        harvester.indexer().poke();
        if let Err(e) = schedule_new_sources(&store).await {
            tracing::warn!(error = %e, "could not compute next run times");
        }
        // Claim as long as there is room and work.
        while let Ok(permit) = slots.clone().try_acquire_owned() {
            let claim =
                match claim_next(&store, &worker_id, lease_ttl, cfg.per_host_runs as i64).await {
                    Ok(Some(c)) => c,
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "claim failed");
                        break;
                    }
                };
            let (store, harvester, stop) = (store.clone(), harvester.clone(), stop_runs.clone());
            tasks.spawn(async move {
                run_claim(&store, &harvester, claim, &stop).await;
                drop(permit);
            });
        }
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(cfg.tick) => {}
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
    }
    tracing::info!(
        running = tasks.len(),
        "shutting down: no new claims; running harvests stop after their current page"
    );
    stop_runs.cancel();
    let drained = tokio::time::timeout(cfg.shutdown_grace, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            "grace period over; abandoning {} harvest(s), their leases will expire",
            tasks.len()
        );
        tasks.abort_all();
    }
    Ok(())
}

async fn claim_next(
    store: &Store,
    worker: &str,
    ttl: Duration,
    per_host: i64,
) -> Result<Option<Claim>, StoreError> {
    if let Some(c) = store.claim_queued_run(worker, ttl, per_host).await? {
        return Ok(Some(c));
    }
    store
        .claim_due_source(worker, ttl, per_host, next_run_at)
        .await
}

async fn schedule_new_sources(store: &Store) -> Result<(), StoreError> {
    let now = Utc::now();
    for s in store.sources_without_next_run().await? {
        match s.schedule.as_deref().map(CronSchedule::parse) {
            Some(Ok(sched)) => store.set_next_run(s.id, sched.next_after(now)).await?,
            Some(Err(e)) => {
                tracing::warn!(source = %s.name, error = %e, "bad schedule; source not scheduled")
            }
            None => {}
        }
    }
    Ok(())
}

async fn run_claim(store: &Store, harvester: &Harvester, claim: Claim, stop: &CancellationToken) {
    let source = claim.source;
    let opts = match &claim.queued {
        Some(q) => HarvestOptions {
            trigger: if q.trigger == "schedule" {
                Trigger::Schedule
            } else {
                Trigger::Manual
            },
            full: q.full_harvest,
            from: q.requested_from.clone(),
            until: None,
        },
        None => HarvestOptions {
            trigger: Trigger::Schedule,
            full: false,
            from: None,
            until: None,
        },
    };
    // The outcome is recorded while the source is still leased (see `harvest_with`).
    let result = harvester
        .harvest_with(
            &source,
            &opts,
            &LogProgress,
            claim.queued.as_ref(),
            stop,
            async |result| record_end(store, &source, claim.queued.as_ref(), result).await,
        )
        .await;
    if let Ok(run) = &result {
        tracing::info!(source = %source.name, run.id = run.id, new = run.records_new, updated = run.records_updated, deleted = run.records_deleted, "run completed");
    }
}

/// Records how a claimed run ended: its queued row if it never started, the failure
/// streak, the last status and the next run time (a failing source backs off).
async fn record_end(
    store: &Store,
    source: &Source,
    queued: Option<&Run>,
    result: &Result<Run, HarvestError>,
) {
    let status = match result {
        Ok(run) => run.status.clone(),
        Err(HarvestError::Stopped) => "stopped".to_owned(),
        Err(e) => {
            tracing::warn!(source = %source.name, error = %e, "run failed");
            "failed".to_owned()
        }
    };
    if let (Some(q), Err(e)) = (queued, result) {
        // A queued run that failed before it started (bad dates, Identify failed) is
        // closed with the reason instead of being claimed again and again.
        if let Err(e) = store.fail_if_queued(q.id, &e.to_string()).await {
            tracing::warn!(error = %e, "could not close queued run");
        }
    }
    // Refresh: the failure count changed. The schedule decides the next run; a failing
    // source backs off.
    let fresh = store.source_by_id(source.id).await.ok();
    let failures = if status == "completed" || status == "stopped" {
        0
    } else {
        fresh.as_ref().map_or(0, |s| s.consecutive_failures) + 1
    };
    let next = fresh.and_then(|s| {
        next_run_at(
            &Source {
                consecutive_failures: failures,
                ..s
            },
            Utc::now(),
        )
    });
    if let Err(e) = store.record_outcome(source.id, &status, next).await {
        tracing::warn!(error = %e, "could not record run outcome");
    }
}

/// Where the HTTP API listens and who may change things.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Listen address.
    pub listen: SocketAddr,
    /// Bearer token for mutating routes; `None` refuses them all.
    pub admin_token: Option<String>,
}
