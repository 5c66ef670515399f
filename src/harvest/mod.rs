//! One run of one source: Identify → plan the window → page loop → store each page with
//! its checkpoint in one transaction. The only module that joins `oai`, `normalize` and
//! `store`.
//!
//! Fetching runs ahead of storing: a producer task requests page N+1 as soon as page N's
//! token is parsed, and hands pages to the storing loop through a bounded channel, so a
//! harvest runs at the speed of the remote server and memory stays bounded.

pub mod indexer;
pub mod page;
pub mod plan;
pub mod renormalize;
pub mod worker;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

use crate::oai::error::OaiErrorCode;
use crate::oai::response::Payload;
use crate::oai::{Granularity, HttpClient, ListArgs, OaiClient, OaiError, Request, Verb};
use crate::source_settings::{SettingsError, SourceSettings};
use crate::store::sources::IdentifyUpdate;
use crate::store::{
    Checkpoint, ListPosition, NewRun, PageCounts, QuarantineRow, Run, RunStatus, Source, Store,
    StoreError, Trigger,
};
use indexer::SearchIndexer;
use page::PreparedPage;
use plan::{Chunk, Chunking, PlanError, Window, plan_window};

/// Harvest tuning; defaults in `config/default.toml`.
#[derive(Debug, Clone)]
pub struct HarvestConfig {
    /// Lease length; renewed with every page and by a heartbeat.
    pub lease_ttl: Duration,
    /// Consecutive empty pages (with a token) tolerated before a list is ended (quirks #16).
    pub max_empty_pages: u32,
    /// Pages fetched ahead of the one being stored.
    pub prefetch_pages: usize,
    /// Longest a run's page loop may take.
    pub run_deadline: Duration,
    /// How often a source without persistent deletions (`deletedRecord` no/transient) gets a
    /// ListIdentifiers sweep that tombstones records no longer listed; `None` = never.
    pub sweep_interval: Option<Duration>,
    /// Largest date window of a first harvest (adaptive windows); `None` = one list.
    pub window: Option<Duration>,
    /// Largest metadata of one record; larger records are quarantined, not stored.
    pub max_record_bytes: u64,
    /// Prepared pages held at once by all runs of one `Harvester` (and its clones): what
    /// bounds a service's memory when many runs fetch faster than the database stores.
    pub pages_in_memory: usize,
}

impl Default for HarvestConfig {
    fn default() -> Self {
        Self {
            lease_ttl: Duration::from_secs(120),
            max_empty_pages: 3,
            prefetch_pages: 2,
            run_deadline: Duration::from_secs(12 * 3600),
            sweep_interval: Some(Duration::from_secs(7 * 86_400)),
            window: Some(Duration::from_secs(365 * 86_400)),
            max_record_bytes: 8 << 20,
            pages_in_memory: 32,
        }
    }
}

/// What the caller wants from a run.
#[derive(Debug, Clone)]
pub struct HarvestOptions {
    /// What started it.
    pub trigger: Trigger,
    /// Ignore incremental state and any resumable checkpoint.
    pub full: bool,
    /// Explicit `from` (YYYY-MM-DD or a UTC timestamp).
    pub from: Option<String>,
    /// Explicit `until`.
    pub until: Option<String>,
}

/// Errors that end a run before or outside the page loop.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HarvestError {
    /// Another live worker holds the source's lease.
    #[error("source {name} is being harvested by {owner}")]
    Busy {
        /// The source name.
        name: String,
        /// The lease holder.
        owner: String,
    },
    /// The window could not be planned.
    #[error(transparent)]
    Plan(#[from] PlanError),
    /// The source's settings are unusable (a missing password variable, a bad CA file).
    #[error("source settings: {0}")]
    Settings(#[from] SettingsError),
    /// Talking to the endpoint failed.
    #[error(transparent)]
    Oai(#[from] OaiError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The server repeated a token or a page.
    #[error("resumption loop detected: {0}")]
    Loop(String),
    /// The service is shutting down; the run stopped after its last committed page.
    #[error("stopped for shutdown; the next run resumes from the checkpoint")]
    Stopped,
    /// The run took longer than `harvest.run_deadline_secs`; its checkpoint is kept.
    #[error("run deadline of {0:?} exceeded; the next run resumes from the checkpoint")]
    Deadline(Duration),
}

/// Receives progress; the CLI draws a bar, the service updates metrics.
pub trait Progress: Send + Sync {
    /// A page was committed. `seen` counts records in this run so far.
    fn page(&self, run_id: i64, seen: u64, complete_list_size: Option<u64>, counts: &PageCounts);
    /// A line worth showing to an operator.
    fn note(&self, message: &str) {
        tracing::info!("{message}");
    }
}

/// A [`Progress`] that only logs.
#[derive(Debug, Default)]
pub struct LogProgress;

impl Progress for LogProgress {
    fn page(&self, run_id: i64, seen: u64, complete_list_size: Option<u64>, counts: &PageCounts) {
        tracing::info!(
            run.id = run_id,
            records_seen = seen,
            complete_list_size,
            new = counts.new,
            updated = counts.updated,
            unchanged = counts.unchanged,
            deleted = counts.deleted,
            "page stored"
        );
    }
}

/// Runs harvests. Cheap to clone; share one per process.
#[derive(Debug, Clone)]
pub struct Harvester {
    store: Store,
    http: HttpClient,
    cfg: Arc<HarvestConfig>,
    worker_id: String,
    indexer: SearchIndexer,
    /// Permits for prepared pages in memory (`HarvestConfig::pages_in_memory`).
    page_budget: Arc<Semaphore>,
}

/// A fetched, parsed and prepared page on its way to the store.
struct FetchedPage {
    set_index: i32,
    /// The list position to checkpoint with the page.
    list: ListPosition,
    prepared: PreparedPage,
    next_token: Option<String>,
    cursor: Option<u64>,
    complete_list_size: Option<u64>,
    high_water: Option<DateTime<Utc>>,
    bytes: u64,
    retries: u32,
    warnings: Vec<String>,
    quarantine: Vec<QuarantineRow>,
    /// A per-source quirk learned while fetching, to save with the page.
    quirk: Option<(&'static str, serde_json::Value)>,
    /// The page's share of the memory budget, released when it is dropped (stored).
    _budget: OwnedSemaphorePermit,
}

/// How the list producer ended.
enum ListEnd {
    Complete,
    Failed(HarvestError),
}

impl Harvester {
    /// A harvester identified as `worker_id` (see [`worker::worker_id`]).
    pub fn new(store: Store, http: HttpClient, cfg: HarvestConfig, worker_id: String) -> Self {
        Self {
            indexer: SearchIndexer::new(store.clone()),
            page_budget: Arc::new(Semaphore::new(cfg.pages_in_memory.max(1))),
            store,
            http,
            cfg: Arc::new(cfg),
            worker_id,
        }
    }

    /// The search indexer this harvester wakes after every page.
    pub fn indexer(&self) -> &SearchIndexer {
        &self.indexer
    }

    /// The store this harvester writes to.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Runs one harvest of `source` to its end and returns the finished run row.
    ///
    /// Errors before the run row exists (busy lease, bad dates) are returned as `Err`;
    /// errors during the run end it as `failed`/`deferred`/`loop_detected` and are returned
    /// as `Err` after the row is updated, so callers can both report and exit non-zero.
    /// Returns once the search index holds what the run stored.
    pub async fn harvest(
        &self,
        source: &Source,
        opts: &HarvestOptions,
        progress: &dyn Progress,
    ) -> Result<Run, HarvestError> {
        let result = self
            .harvest_with(
                source,
                opts,
                progress,
                None,
                &CancellationToken::new(),
                async |_| {},
            )
            .await;
        // What the run stored is searchable when this returns (the background indexer has
        // usually done most of it already).
        if let Err(e) = self.indexer.drain().await {
            tracing::warn!(error = %e, "search index not brought up to date; it catches up later");
        }
        result
    }

    /// [`Harvester::harvest`] for the service: may carry out a queued (manually triggered)
    /// run, and stops after the current page when `stop` is cancelled. Does not wait for
    /// the search index (the background indexer catches up).
    ///
    /// `before_release` gets the result while the source is still leased (it is not called
    /// when the lease could not be taken). The service records the outcome and the next run
    /// time there: released first, a due source could be claimed again with its old
    /// schedule before its failure was counted.
    #[tracing::instrument(skip_all, fields(source = %source.name, run.id = tracing::field::Empty))]
    pub async fn harvest_with(
        &self,
        source: &Source,
        opts: &HarvestOptions,
        progress: &dyn Progress,
        queued: Option<&Run>,
        stop: &CancellationToken,
        before_release: impl AsyncFnOnce(&Result<Run, HarvestError>),
    ) -> Result<Run, HarvestError> {
        let ttl = self.cfg.lease_ttl;
        let fresh = self.store.source_by_id(source.id).await?;
        let stealable = fresh
            .lease_owner
            .as_deref()
            .filter(|o| worker::owner_is_dead(o));
        if !self
            .store
            .acquire_lease(source.id, &self.worker_id, ttl, stealable)
            .await?
        {
            return Err(HarvestError::Busy {
                name: source.name.clone(),
                owner: fresh.lease_owner.unwrap_or_default(),
            });
        }
        let heartbeat = self.spawn_heartbeat(source.id);
        let result = self.run_leased(&fresh, opts, progress, queued, stop).await;
        before_release(&result).await;
        heartbeat.abort();
        if let Err(e) = self.store.release_lease(source.id, &self.worker_id).await {
            tracing::warn!(error = %e, "could not release lease; it will expire");
        }
        self.indexer.poke();
        result
    }

    fn spawn_heartbeat(&self, source_id: i64) -> tokio::task::JoinHandle<()> {
        let store = self.store.clone();
        let owner = self.worker_id.clone();
        let ttl = self.cfg.lease_ttl;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(ttl / 3);
            tick.tick().await;
            loop {
                tick.tick().await;
                if let Err(e) = store.renew_lease(source_id, &owner, ttl).await {
                    tracing::warn!(error = %e, "lease heartbeat failed");
                }
            }
        })
    }

    async fn run_leased(
        &self,
        source: &Source,
        opts: &HarvestOptions,
        progress: &dyn Progress,
        queued: Option<&Run>,
        stop: &CancellationToken,
    ) -> Result<Run, HarvestError> {
        let settings = SourceSettings::from_json(&source.settings)?;
        let http = self.http.for_endpoint(&settings.endpoint_options()?)?;
        let client = OaiClient::new(http, &source.base_url)?;
        if let Some(dead) = self.store.abandon_running(source.id).await? {
            progress.note(&format!(
                "run {} was left running by a stopped worker; marked abandoned",
                dead.id
            ));
        }
        let explicit = opts.from.is_some() || opts.until.is_some();
        let resume = if opts.full || explicit {
            None
        } else {
            self.store
                .resumable_run(source.id)
                .await?
                .filter(|r| r.metadata_prefix == source.metadata_prefix && r.sets == source.sets)
        };

        // Identify first: granularity decides how dates are written.
        let (identify, id_stats) = client.request(&Request::Identify).await?;
        if let Some(final_url) = id_stats.final_url.as_ref().filter(|u| {
            let mut asked = Request::Identify.url(client.base_url());
            asked.set_fragment(None);
            u.as_str() != asked.as_str()
        }) {
            // Operator hint (quirks #27): the endpoint moved; the base URL is kept as given.
            let mut moved = final_url.clone();
            moved.set_query(None);
            progress.note(&format!(
                "{} redirects to {moved}; consider updating the source",
                source.base_url
            ));
            self.store
                .set_quirk(
                    source.id,
                    "redirected_to",
                    serde_json::Value::from(moved.as_str()),
                )
                .await?;
        }
        let first_response_date = identify.response_date;
        let deleted_policy = match &identify.payload {
            Payload::Identify(id) => id.deleted_record.clone(),
            _ => String::new(),
        };
        let granularity = match &identify.payload {
            Payload::Identify(id) => {
                self.store
                    .update_identify(
                        source.id,
                        &IdentifyUpdate {
                            repository_name: id.repository_name.clone(),
                            granularity: id.granularity_raw.clone(),
                            earliest_datestamp: id.earliest_datestamp.clone(),
                            deleted_record: id.deleted_record.clone(),
                            compression: id.compression.clone(),
                        },
                    )
                    .await?;
                // A form learned earlier wins over what Identify claims (quirks #3);
                // otherwise every repository must support day granularity (spec §3.3.2).
                match source.quirks.get("date_form").and_then(|v| v.as_str()) {
                    Some("day") => Granularity::Day,
                    Some("seconds") => Granularity::Seconds,
                    _ => id.granularity().unwrap_or(Granularity::Day),
                }
            }
            _ => Granularity::Day,
        };

        let window = settings.window().unwrap_or(self.cfg.window);
        let chunking = window.and_then(|span| {
            chunking(
                source,
                span,
                granularity,
                &identify.payload,
                first_response_date,
            )
        });
        let new_run = match &resume {
            Some(r) => {
                progress.note(&format!(
                    "resuming run {} (list {}, {} pages already stored)",
                    r.id, r.set_index, r.pages
                ));
                NewRun {
                    source_id: source.id,
                    trigger: opts.trigger,
                    full: r.full_harvest,
                    metadata_prefix: r.metadata_prefix.clone(),
                    sets: r.sets.clone(),
                    window_from: r.window_from.clone(),
                    window_until: r.window_until.clone(),
                    first_response_date: r.first_response_date,
                    resumed_from: Some(r.id),
                    set_index: r.set_index,
                    resumption_token: r.resumption_token.clone(),
                    list: r.list.clone(),
                    worker: self.worker_id.clone(),
                }
            }
            None => {
                let base = if opts.full {
                    None
                } else {
                    self.store
                        .incremental_base(source.id, &source.metadata_prefix, &source.sets)
                        .await?
                };
                let w = plan_window(
                    granularity,
                    opts.full,
                    opts.from.as_deref(),
                    opts.until.as_deref(),
                    base,
                )?;
                // A first or full harvest of an open window is cut into date windows.
                let first_list = if base.is_none() && !explicit {
                    chunking
                        .as_ref()
                        .map(|c| chunk_position(c, &c.first()))
                        .unwrap_or_default()
                } else {
                    ListPosition::default()
                };
                NewRun {
                    source_id: source.id,
                    trigger: opts.trigger,
                    full: opts.full,
                    metadata_prefix: source.metadata_prefix.clone(),
                    sets: source.sets.clone(),
                    window_from: w.from,
                    window_until: w.until,
                    first_response_date,
                    resumed_from: None,
                    set_index: 0,
                    resumption_token: None,
                    list: first_list,
                    worker: self.worker_id.clone(),
                }
            }
        };
        let run = match queued {
            Some(q) => self.store.start_queued_run(q.id, &new_run).await?,
            None => self.store.start_run(&new_run).await?,
        };
        // Only a run whose list is in a window needs the windows; a resumed one keeps them
        // even if windows were switched off since, or the rest of its list would be lost.
        let chunking = match (chunking, run.list.chunk_span_secs) {
            (_, None) => None,
            (Some(c), Some(_)) => Some(c),
            (None, Some(span)) => Some(Chunking::resumed(
                granularity,
                run.first_response_date.unwrap_or_else(Utc::now),
                chrono::TimeDelta::seconds(span),
            )),
        };
        if let Some(c) = &chunking {
            progress.note(&format!(
                "first harvest cut into date windows of up to {} day(s), from {}",
                c.max_span.num_days().max(1),
                c.granularity.format(c.start)
            ));
        }
        if let Some(at) = first_response_date {
            self.store.set_first_response_date(run.id, at).await?;
        }
        tracing::Span::current().record("run.id", run.id);
        tracing::info!(run.id = run.id, from = ?run.window_from, until = ?run.window_until, "run started");

        let deadline = settings.run_deadline().unwrap_or(self.cfg.run_deadline);
        let outcome = match tokio::time::timeout(
            deadline,
            self.page_loop(
                &client,
                &run,
                ListSetup {
                    granularity,
                    chunking,
                    max_record_bytes: settings
                        .max_record_bytes()
                        .unwrap_or(self.cfg.max_record_bytes),
                },
                progress,
                stop,
            ),
        )
        .await
        {
            Ok(o) => o,
            Err(_) => Err(HarvestError::Deadline(deadline)),
        };
        if let Err(HarvestError::Store(StoreError::LeaseLost(_))) = &outcome {
            // Another worker owns the run now; leave its row alone.
            return outcome.map(|()| run);
        }
        let status = match &outcome {
            Ok(()) => RunStatus::Completed,
            Err(HarvestError::Loop(_)) => RunStatus::LoopDetected,
            Err(HarvestError::Stopped) => RunStatus::Stopped,
            Err(HarvestError::Oai(OaiError::Deferred { until, .. })) => {
                self.store.set_not_before(source.id, Some(*until)).await?;
                RunStatus::Deferred
            }
            Err(_) => RunStatus::Failed,
        };
        let outcome = match outcome {
            Ok(()) if self.sweep_due(source, &deleted_policy) => {
                self.sweep(&client, &run, progress).await
            }
            other => other,
        };
        let message = outcome.as_ref().err().map(|e| e.to_string());
        // Every retry of the run, those of a request that finally failed included.
        self.store
            .set_run_retries(run.id, client.retries() as i32)
            .await?;
        let finished = self
            .store
            .finish_run(run.id, status, message.as_deref())
            .await?;
        if status == RunStatus::Completed {
            self.store.set_not_before(source.id, None).await?;
        }
        match outcome {
            Ok(()) => Ok(finished),
            Err(e) => Err(e),
        }
    }

    async fn page_loop(
        &self,
        client: &OaiClient,
        run: &Run,
        setup: ListSetup,
        progress: &dyn Progress,
        stop: &CancellationToken,
    ) -> Result<(), HarvestError> {
        let window = Window {
            from: run.window_from.clone(),
            until: run.window_until.clone(),
        };
        let lists: Vec<Option<String>> = if run.sets.is_empty() {
            vec![None]
        } else {
            run.sets.iter().cloned().map(Some).collect()
        };
        let (tx, mut rx) =
            mpsc::channel::<Result<FetchedPage, ListEnd>>(self.cfg.prefetch_pages.max(1));
        let setup_record_cap = setup.max_record_bytes;
        let plan = ListsPlan {
            lists,
            prefix: run.metadata_prefix.clone(),
            window,
            chunking: setup.chunking,
            granularity: setup.granularity,
            start_list: run.set_index.max(0) as usize,
            start_token: run.resumption_token.clone(),
            start_pos: run.list.clone(),
            max_empty_pages: self.cfg.max_empty_pages,
            max_record_bytes: setup.max_record_bytes,
            budget: self.page_budget.clone(),
        };
        let producer = tokio::spawn(produce(client.clone(), plan, tx));
        let lease = (self.worker_id.as_str(), self.cfg.lease_ttl);
        let mut seen = 0u64;
        let mut result = Ok(());
        loop {
            // Shutdown is only noticed between pages: a page being stored always commits.
            let msg = tokio::select! {
                biased;
                () = stop.cancelled() => {
                    result = Err(HarvestError::Stopped);
                    break;
                }
                msg = rx.recv() => msg,
            };
            let Some(msg) = msg else { break };
            let page = match msg {
                Ok(p) => p,
                Err(ListEnd::Complete) => break,
                Err(ListEnd::Failed(e)) => {
                    result = Err(e);
                    break;
                }
            };
            if let Some((key, value)) = page.quirk.clone() {
                self.store.set_quirk(run.source_id, key, value).await?;
            }
            let mut warnings = page.warnings;
            warnings.extend(page.prepared.warnings.iter().cloned());
            let cp = Checkpoint {
                set_index: page.set_index,
                resumption_token: page.next_token.clone(),
                cursor: page.cursor.map(|c| c as i64),
                complete_list_size: page.complete_list_size.map(|c| c as i64),
                high_water: page.high_water,
                bytes: page.bytes as i64,
                retries: page.retries as i32,
                warnings,
                list: page.list.clone(),
            };
            let stored = self
                .store
                .store_page(
                    run.id,
                    run.source_id,
                    lease,
                    &page.prepared.rows,
                    &page.quarantine,
                    &cp,
                )
                .await;
            let (rows, list_size) = (page.prepared.rows.len() as u64, page.complete_list_size);
            drop((page.prepared, page.quarantine));
            // A page churns a few MB; without this the allocator keeps what it freed for
            // its purge delay, and a fast harvest's peak RSS grew by ~10 MB (src/alloc.rs).
            crate::alloc::return_free_memory();
            match stored {
                Ok(counts) => {
                    self.indexer.poke();
                    seen += rows;
                    progress.page(run.id, seen, list_size, &counts);
                }
                Err(e) => {
                    result = Err(e.into());
                    break;
                }
            }
        }
        drop(rx);
        producer.abort();
        if result.is_ok() {
            self.retry_quarantine(client, run, setup_record_cap).await?;
        }
        result
    }

    fn sweep_due(&self, source: &Source, deleted_policy: &str) -> bool {
        let Some(every) = self.cfg.sweep_interval else {
            return false;
        };
        if !matches!(deleted_policy.trim(), "no" | "transient") {
            return false;
        }
        source.last_sweep_at.is_none_or(|t| {
            Utc::now() - t >= chrono::TimeDelta::from_std(every).unwrap_or_default()
        })
    }

    /// Lists every identifier (ListIdentifiers, no dates) and tombstones stored records the
    /// complete list does not contain (quirks #11). A list that looks truncated, loops or
    /// fails tombstones nothing.
    async fn sweep(
        &self,
        client: &OaiClient,
        run: &Run,
        progress: &dyn Progress,
    ) -> Result<(), HarvestError> {
        let lists: Vec<Option<String>> = if run.sets.is_empty() {
            vec![None]
        } else {
            run.sets.iter().cloned().map(Some).collect()
        };
        let result = async {
            for set in lists {
                let mut req = Request::ListIdentifiers(ListArgs {
                    metadata_prefix: run.metadata_prefix.clone(),
                    set,
                    ..ListArgs::default()
                });
                let mut seen_tokens = HashSet::new();
                let (mut listed, mut announced) = (0u64, None);
                loop {
                    let (resp, _) = client.request(&req).await?;
                    announced = announced.or(resp.token.as_ref().and_then(|t| t.complete_list_size));
                    let next = resp.next_token().map(str::to_owned);
                    if let Payload::Headers(h) = resp.payload {
                        listed += h.len() as u64;
                        let ids: Vec<String> = h.into_iter().filter(|h| !h.deleted).map(|h| h.identifier).collect();
                        self.store.sweep_add(run.id, &ids).await?;
                    }
                    match next {
                        Some(t) if seen_tokens.insert(t.clone()) => req = Request::Resume { verb: Verb::ListIdentifiers, token: t },
                        Some(t) => return Err(HarvestError::Loop(format!("sweep token {t:?} repeated"))),
                        None => break,
                    }
                }
                if announced.is_some_and(|n| listed < n) {
                    return Err(HarvestError::Loop(format!("sweep list ended after {listed} of {announced:?} identifiers; nothing tombstoned")));
                }
            }
            Ok(())
        }
        .await;
        match result {
            Ok(()) => {
                let gone = self.store.sweep_finish(run.id, run.source_id).await?;
                progress.note(&format!(
                    "deletion sweep: {gone} record(s) no longer listed were tombstoned"
                ));
                Ok(())
            }
            Err(e) => {
                self.store.sweep_abort(run.id).await?;
                // The harvest itself succeeded; a failed sweep is only a warning.
                self.store
                    .add_run_warning(run.id, &format!("deletion sweep skipped: {e}"))
                    .await?;
                Ok(())
            }
        }
    }

    /// Asks again, by GetRecord, for records earlier pages could not parse; what now
    /// parses is stored and its quarantine entry resolved.
    async fn retry_quarantine(
        &self,
        client: &OaiClient,
        run: &Run,
        max_record_bytes: u64,
    ) -> Result<(), HarvestError> {
        let pending = self
            .store
            .unresolved_quarantine(run.source_id, 1000)
            .await?;
        let mut records = Vec::new();
        let mut resolved = Vec::new();
        for q in pending.iter().filter(|q| q.run_id != Some(run.id)) {
            let Some(id) = &q.oai_identifier else {
                continue;
            };
            let req = Request::GetRecord {
                identifier: id.clone(),
                metadata_prefix: run.metadata_prefix.clone(),
            };
            match client.request(&req).await {
                Ok((resp, _)) => {
                    if let Payload::Records(r) = resp.payload {
                        let (mut ok, too_large) = split_oversized(r, max_record_bytes);
                        if too_large.is_empty() {
                            records.append(&mut ok);
                            resolved.push(q.id);
                        }
                    }
                }
                Err(e) => {
                    tracing::info!(identifier = %id, error = %e, "quarantined record still unavailable")
                }
            }
        }
        if resolved.is_empty() {
            return Ok(());
        }
        let prepared = tokio::task::spawn_blocking(move || page::prepare(records))
            .await
            .unwrap_or_default();
        let lease = (self.worker_id.as_str(), self.cfg.lease_ttl);
        self.store
            .store_resolved(run.id, run.source_id, lease, &prepared.rows, &resolved)
            .await?;
        Ok(())
    }
}

/// Adaptive windows for this source, if its lists may be cut: the earliest datestamp is
/// known and the server honours `from`/`until`.
fn chunking(
    source: &Source,
    span: Duration,
    granularity: Granularity,
    identify: &Payload,
    first_response_date: Option<DateTime<Utc>>,
) -> Option<Chunking> {
    let ignores_dates = ["from_ignored", "until_ignored"]
        .iter()
        .any(|q| source.quirks.get(*q).and_then(|v| v.as_bool()) == Some(true));
    if ignores_dates {
        return None;
    }
    let earliest = match identify {
        Payload::Identify(id) => crate::oai::datestamp::parse_datestamp(&id.earliest_datestamp),
        _ => None,
    };
    Chunking::plan(
        granularity,
        earliest,
        first_response_date.unwrap_or_else(Utc::now),
        chrono::TimeDelta::from_std(span).ok()?,
    )
}

/// How a run's lists are cut and checked, decided when the run starts.
struct ListSetup {
    granularity: Granularity,
    chunking: Option<Chunking>,
    max_record_bytes: u64,
}

/// What the producer needs to walk a run's lists.
struct ListsPlan {
    /// One list per set (`None` = no set).
    lists: Vec<Option<String>>,
    prefix: String,
    /// The run's window.
    window: Window,
    /// Adaptive windows, for a chunked run.
    chunking: Option<Chunking>,
    /// The form dates are sent in.
    granularity: Granularity,
    /// Where to start: list index, token and position from the checkpoint.
    start_list: usize,
    start_token: Option<String>,
    start_pos: ListPosition,
    max_empty_pages: u32,
    max_record_bytes: u64,
    budget: Arc<Semaphore>,
}

/// Restarts from the start one list may take before the run fails (a server whose tokens
/// always expire would otherwise restart forever). Restarts from a high-water mark that
/// moved forward are not counted: each of them makes progress.
const MAX_LIST_RESTARTS: u32 = 3;

impl ListsPlan {
    /// The position a fresh list of a set starts at.
    fn fresh(&self) -> ListPosition {
        match &self.chunking {
            Some(c) => chunk_position(c, &c.first()),
            None => ListPosition::default(),
        }
    }

    /// The request that starts the list at `pos`.
    fn request(&self, set: &Option<String>, pos: &ListPosition) -> Request {
        let chunked = pos.chunk_span_secs.is_some();
        let bound = |list: &Option<String>, window: &Option<String>| {
            if chunked {
                list.clone()
            } else {
                list.clone().or_else(|| window.clone())
            }
        };
        Request::ListRecords(ListArgs {
            metadata_prefix: self.prefix.clone(),
            from: bound(&pos.list_from, &self.window.from),
            until: bound(&pos.list_until, &self.window.until),
            set: set.clone(),
        })
    }

    /// The chunk `pos` stands for, in a chunked run.
    fn chunk(&self, pos: &ListPosition) -> Option<(&Chunking, Chunk)> {
        let c = self.chunking.as_ref()?;
        let span = chrono::TimeDelta::seconds(pos.chunk_span_secs?);
        Some((
            c,
            c.chunk_of(pos.list_from.as_deref(), pos.list_until.as_deref(), span),
        ))
    }
}

fn chunk_position(c: &Chunking, chunk: &Chunk) -> ListPosition {
    let w = c.window(chunk);
    ListPosition {
        list_from: w.from,
        list_until: w.until,
        chunk_span_secs: Some(chunk.span.num_seconds()),
        ..ListPosition::default()
    }
}

/// Fetches every remaining list of a run page by page, running ahead of the store.
///
/// A list that fails with an expired token is restarted where no record can be lost: from
/// its high-water mark when its datestamps came in order, else from its start. In a
/// chunked run a window the server cannot list (expired token, timeouts, 5xx) is split in
/// halves instead, down to one granule.
async fn produce(
    client: OaiClient,
    plan: ListsPlan,
    tx: mpsc::Sender<Result<FetchedPage, ListEnd>>,
) {
    let mut token = plan.start_token.clone();
    let mut resumed = Some(plan.start_pos.clone());
    for (i, set) in plan.lists.iter().enumerate().skip(plan.start_list) {
        let set_index = i as i32;
        let mut pos = resumed.take().unwrap_or_else(|| plan.fresh());
        let after_set = (set_index + 1, plan.fresh());
        let mut restarts = 0u32;
        let mut restart_mark: Option<DateTime<Utc>> = None;
        let mut note: Option<String> = None;
        loop {
            let next_chunk = after_chunk_of(&plan, &pos);
            let list = ListRun {
                set_index,
                first: plan.request(set, &pos),
                token: token.take(),
                pos: pos.clone(),
                after: match &next_chunk {
                    Some(next) => (set_index, next.clone()),
                    None => after_set.clone(),
                },
                after_set: after_set.clone(),
                fresh: pos.list_high_water.is_none(),
                max_empty_pages: plan.max_empty_pages,
                max_record_bytes: plan.max_record_bytes,
                budget: plan.budget.clone(),
                note: note.take(),
            };
            match produce_list(&client, list, &tx).await {
                Ok(ListDone::Stopped) => return,
                Ok(ListDone::Ended { dates_ignored }) => match next_chunk {
                    Some(next) if !dates_ignored => {
                        pos = next;
                        restarts = 0;
                        restart_mark = None;
                    }
                    _ => break,
                },
                Err(f) => match restart_position(&plan, &pos, &f, restarts, restart_mark) {
                    Some((next, restart, why)) => {
                        tracing::warn!(error = %f.error, "{why}");
                        note = Some(format!("{}: {why}", f.error));
                        match restart {
                            Restart::Split => restart_mark = None,
                            Restart::HighWater(hw) => restart_mark = Some(hw),
                            // The mark stays: a list restarted from its start must get past
                            // it before a high-water restart counts as progress again.
                            Restart::FromStart => restarts += 1,
                        }
                        pos = next;
                    }
                    None => {
                        let _ = tx.send(Err(ListEnd::Failed(f.error))).await;
                        return;
                    }
                },
            }
        }
    }
    // Ignored send error: the consumer stopped listening, which only happens on its error.
    let _ = tx.send(Err(ListEnd::Complete)).await;
}

fn after_chunk_of(plan: &ListsPlan, pos: &ListPosition) -> Option<ListPosition> {
    let (c, chunk) = plan.chunk(pos)?;
    c.next(&chunk).map(|n| chunk_position(c, &n))
}

/// Where to restart a failed list, and why; `None` when the failure ends the run.
fn restart_position(
    plan: &ListsPlan,
    pos: &ListPosition,
    f: &ListFailure,
    restarts: u32,
    restart_mark: Option<DateTime<Utc>>,
) -> Option<(ListPosition, Restart, String)> {
    let HarvestError::Oai(error) = &f.error else {
        return None;
    };
    let token_expired = error.protocol_code() == Some(&OaiErrorCode::BadResumptionToken);
    if let Some((c, chunk)) = plan.chunk(pos)
        && (token_expired || window_too_big(error))
        && let Some(lower) = c.split(&chunk)
    {
        let next = chunk_position(c, &lower);
        let why = format!(
            "window {:?}..{:?} failed; listing its first half ({:?}..{:?})",
            pos.list_from, pos.list_until, next.list_from, next.list_until
        );
        return Some((next, Restart::Split, why));
    }
    if !token_expired {
        return None;
    }
    // Dates already sent decide the form (a day-form window stays day-form).
    let granularity = match pos.list_from.as_ref().or(plan.window.from.as_ref()) {
        Some(sent) if sent.len() == 10 => Granularity::Day,
        Some(_) => Granularity::Seconds,
        None => plan.granularity,
    };
    let progressed = f
        .high_water
        .filter(|hw| f.ordered && restart_mark.is_none_or(|m| *hw > m));
    if progressed.is_none() && restarts >= MAX_LIST_RESTARTS {
        return None;
    }
    match progressed {
        Some(hw) => {
            // Datestamps came in order: everything before the mark is stored.
            let from = granularity.format(hw);
            let why = format!("resumption token rejected; restarting the list from its high-water mark {from}");
            Some((
                ListPosition {
                    list_from: Some(from),
                    list_high_water: Some(hw),
                    ..pos.clone()
                },
                Restart::HighWater(hw),
                why,
            ))
        }
        None => Some((
            ListPosition {
                list_from: pos.list_from.clone().filter(|_| pos.chunk_span_secs.is_some()),
                list_high_water: None,
                list_ordered: true,
                ..pos.clone()
            },
            Restart::FromStart,
            "resumption token rejected; restarting the list from its start (datestamps not in order, or no progress)".into(),
        )),
    }
}

/// How a failed list is restarted.
enum Restart {
    /// The window's lower half.
    Split,
    /// From this high-water mark.
    HighWater(DateTime<Utc>),
    /// From the list's start.
    FromStart,
}

/// Errors that say a window is more than the server can list in one go.
fn window_too_big(e: &OaiError) -> bool {
    match e {
        OaiError::Timeout { .. } | OaiError::Network { .. } => true,
        OaiError::HttpStatus { status, .. } => *status >= 500,
        OaiError::Protocol { .. } => {
            let m = e.to_string().to_ascii_lowercase();
            m.contains("too many") || m.contains("too large") || m.contains("too much")
        }
        _ => false,
    }
}

/// One list (a set, or one window of a set) to fetch.
struct ListRun {
    set_index: i32,
    /// The request that starts the list.
    first: Request,
    /// A checkpoint's token to continue with instead.
    token: Option<String>,
    pos: ListPosition,
    /// The checkpoint once this list is complete: the next window, or the next set.
    after: (i32, ListPosition),
    /// The checkpoint when the server ignored the dates: the list held everything.
    after_set: (i32, ListPosition),
    /// Started from the list's beginning (so a short list is suspect).
    fresh: bool,
    max_empty_pages: u32,
    max_record_bytes: u64,
    budget: Arc<Semaphore>,
    /// Why this list was restarted, for the first page's warnings.
    note: Option<String>,
}

enum ListDone {
    Ended {
        dates_ignored: bool,
    },
    /// The consumer went away.
    Stopped,
}

/// A failed list, with what a restart may rely on.
struct ListFailure {
    error: HarvestError,
    high_water: Option<DateTime<Utc>>,
    ordered: bool,
}

impl From<HarvestError> for ListFailure {
    fn from(error: HarvestError) -> Self {
        Self {
            error,
            high_water: None,
            ordered: false,
        }
    }
}

/// The first 8 bytes of the SHA-256 of `parts`, each followed by a NUL.
fn fingerprint64<'a>(parts: impl IntoIterator<Item = &'a str>) -> u64 {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    let digest = h.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

async fn produce_list(
    client: &OaiClient,
    list: ListRun,
    tx: &mpsc::Sender<Result<FetchedPage, ListEnd>>,
) -> Result<ListDone, ListFailure> {
    let ListRun {
        set_index,
        mut first,
        token: resume_token,
        pos,
        after,
        after_set,
        fresh,
        max_empty_pages,
        max_record_bytes,
        budget,
        mut note,
    } = list;
    let resuming = resume_token.is_some();
    let mut req = match resume_token {
        Some(token) => Request::Resume {
            verb: Verb::ListRecords,
            token,
        },
        None => first.clone(),
    };
    // Loop detection over the whole list: 8-byte fingerprints, so a list of 10,000 pages
    // costs kilobytes, not a copy of every token.
    let mut seen_tokens: HashSet<u64> = HashSet::new();
    let mut seen_pages: HashSet<u64> = HashSet::new();
    let mut empty_run = 0u32;
    let mut pages = 0u32;
    let mut listed = 0u64;
    let mut announced: Option<u64> = None;
    let mut dates_ignored = false;
    let mut list_high_water = pos.list_high_water;
    let mut ordered = pos.list_ordered;
    let (window_from, window_until) = match &first {
        Request::ListRecords(a) => (
            a.from
                .as_deref()
                .and_then(crate::oai::datestamp::parse_datestamp),
            a.until
                .as_deref()
                .and_then(crate::oai::datestamp::parse_datestamp),
        ),
        _ => (None, None),
    };
    let mut quirk: Option<(&'static str, serde_json::Value)> = None;
    let mut tried_other_form = false;
    loop {
        let fail = |error: HarvestError, hw, ordered| ListFailure {
            error,
            high_water: hw,
            ordered,
        };
        let (resp, stats, bad) = match client.request_salvaging(&req).await {
            Ok(r) => r,
            Err(e)
                if pages == 0
                    && !tried_other_form
                    && e.protocol_code() == Some(&OaiErrorCode::BadArgument) =>
            {
                // Servers that reject the granularity they declare (quirks #1, #3): try
                // the other date form once and remember it for this source.
                match other_date_form(&req) {
                    Some((alt, form)) => {
                        tracing::warn!(
                            form,
                            "badArgument for the date form; retrying with the other"
                        );
                        tried_other_form = true;
                        req = alt.clone();
                        first = alt;
                        quirk = Some(("date_form", serde_json::Value::from(form)));
                        continue;
                    }
                    None => return Err(fail(e.into(), list_high_water, ordered)),
                }
            }
            Err(e) => return Err(fail(e.into(), list_high_water, ordered)),
        };
        pages += 1;
        let mut warnings = resp.warnings.clone();
        warnings.extend(note.take());
        let d = &stats.decode;
        if d.lossy || d.illegal_chars_removed > 0 || d.junk_skipped > 0 {
            // Repairs are worth an operator's eye but never cost a record (quirks #40–47).
            warnings.push(format!(
                "page repaired while decoding ({}): {} invalid byte sequence(s) replaced, {} illegal XML character(s) removed, {} byte(s) of junk before the XML",
                d.encoding,
                if d.lossy { "some" } else { "no" },
                d.illegal_chars_removed,
                d.junk_skipped
            ));
            quirk.get_or_insert(("decode_repairs", serde_json::Value::Bool(true)));
        }
        let next_token = resp.next_token().map(str::to_owned);
        let cursor = resp.token.as_ref().and_then(|t| t.cursor);
        let complete = resp.token.as_ref().and_then(|t| t.complete_list_size);
        let records = match resp.payload {
            Payload::Records(r) => r,
            _ => Vec::new(),
        };
        let fingerprint = fingerprint64(records.iter().map(|r| r.header.identifier.as_str()));
        if !records.is_empty() && !seen_pages.insert(fingerprint) {
            return Err(HarvestError::Loop("the server sent the same page twice".into()).into());
        }
        for d in records.iter().filter_map(|r| r.header.datestamp) {
            if list_high_water.is_some_and(|hw| d < hw) {
                ordered = false;
            }
            list_high_water = list_high_water.max(Some(d));
        }
        let high_water = records.iter().filter_map(|r| r.header.datestamp).max();
        let slack = chrono::TimeDelta::days(1);
        if let Some(from) = window_from
            && !dates_ignored
            && records
                .iter()
                .any(|r| r.header.datestamp.is_some_and(|d| d < from - slack))
        {
            // Records well before `from` (a day of slack for time-zone bugs): the server
            // does not honour selective harvesting (quirks #6). Not an error.
            dates_ignored = true;
            warnings.push(
                "server returned records older than `from`: selective harvesting not honoured"
                    .into(),
            );
            quirk.get_or_insert(("from_ignored", serde_json::Value::Bool(true)));
        }
        if let Some(until) = window_until
            && !dates_ignored
            && records
                .iter()
                .any(|r| r.header.datestamp.is_some_and(|d| d > until + slack))
        {
            dates_ignored = true;
            warnings.push(
                "server returned records newer than `until`: selective harvesting not honoured"
                    .into(),
            );
            quirk.get_or_insert(("until_ignored", serde_json::Value::Bool(true)));
        }
        listed += records.len() as u64;
        if announced.is_none() {
            announced = complete;
        }
        let quarantine = rescue(client, bad, &first, &mut warnings).await;
        let mut records = records;
        records.extend(quarantine.1);
        let mut quarantine = quarantine.0;
        let (records, too_large) = split_oversized(records, max_record_bytes);
        for q in too_large {
            warnings.push(format!(
                "record {} quarantined: {}",
                q.oai_identifier.as_deref().unwrap_or("(no identifier)"),
                q.error
            ));
            quarantine.push(q);
        }
        // Waits while the process holds its budget of prepared pages (the store is behind).
        let Ok(permit) = budget.clone().acquire_owned().await else {
            return Ok(ListDone::Stopped);
        };
        let prepared = tokio::task::spawn_blocking(move || page::prepare(records))
            .await
            .unwrap_or_default();
        let mut next = next_token;
        if prepared.rows.is_empty() && prepared.failed == 0 && next.is_some() {
            empty_run += 1;
            if empty_run >= max_empty_pages {
                warnings.push(format!(
                    "{empty_run} consecutive empty pages; list ended early"
                ));
                next = None;
            }
        } else {
            empty_run = 0;
        }
        if let Some(t) = &next
            && !seen_tokens.insert(fingerprint64([t.as_str()]))
        {
            return Err(HarvestError::Loop(format!("token {t:?} repeated")).into());
        }
        let done = next.is_none();
        if done
            && fresh
            && !resuming
            && let Some(n) = announced
            && listed < n
        {
            // Informative only (quirks #14), but worth an operator's look; it also keeps
            // deletion sweeps from trusting this list.
            warnings.push(format!(
                "suspect truncated: list ended after {listed} of completeListSize {n} records"
            ));
        }
        // A finished list checkpoints as "the next window, or the next list, from its start".
        let (cp_set, cp_pos) = match (done, dates_ignored) {
            (false, _) => (
                set_index,
                ListPosition {
                    list_high_water,
                    list_ordered: ordered,
                    ..pos.clone()
                },
            ),
            (true, false) => after.clone(),
            (true, true) => after_set.clone(),
        };
        let page = FetchedPage {
            set_index: cp_set,
            list: cp_pos,
            prepared,
            next_token: next.clone(),
            cursor,
            complete_list_size: complete,
            high_water,
            bytes: stats.bytes,
            retries: stats.retries,
            warnings,
            quarantine,
            quirk: quirk.take(),
            _budget: permit,
        };
        if tx.send(Ok(page)).await.is_err() {
            return Ok(ListDone::Stopped);
        }
        match next {
            Some(token) => {
                req = Request::Resume {
                    verb: Verb::ListRecords,
                    token,
                }
            }
            None => return Ok(ListDone::Ended { dates_ignored }),
        }
    }
}

/// Separates records whose metadata is larger than `limit` bytes (quarantine rows, raw XML
/// kept for an operator) from the rest.
fn split_oversized(
    records: Vec<crate::oai::OaiRecord>,
    limit: u64,
) -> (Vec<crate::oai::OaiRecord>, Vec<QuarantineRow>) {
    let (ok, big): (Vec<_>, Vec<_>) = records.into_iter().partition(|r| {
        r.metadata
            .as_ref()
            .is_none_or(|m| m.raw_xml.len() as u64 <= limit)
    });
    let rows = big
        .into_iter()
        .map(|r| {
            let raw = r.metadata.map(|m| m.raw_xml).unwrap_or_default();
            QuarantineRow {
                error: format!(
                    "record too large: {} bytes of metadata (limit {limit})",
                    raw.len()
                ),
                oai_identifier: Some(r.header.identifier),
                byte_offset: None,
                raw: raw.into_bytes(),
            }
        })
        .collect();
    (ok, rows)
}

/// Tries each unparseable record once more by GetRecord; returns the quarantine rows for
/// those still broken and the records recovered.
async fn rescue(
    client: &OaiClient,
    bad: Vec<crate::oai::response::BadRecord>,
    list: &Request,
    warnings: &mut Vec<String>,
) -> (Vec<QuarantineRow>, Vec<crate::oai::OaiRecord>) {
    let prefix = match list {
        Request::ListRecords(a) => a.metadata_prefix.clone(),
        _ => "oai_dc".to_owned(),
    };
    let mut quarantine = Vec::new();
    let mut recovered = Vec::new();
    for b in bad {
        if let Some(id) = &b.identifier {
            let req = Request::GetRecord {
                identifier: id.clone(),
                metadata_prefix: prefix.clone(),
            };
            if let Ok((resp, _)) = client.request(&req).await
                && let Payload::Records(mut r) = resp.payload
                && !r.is_empty()
            {
                recovered.append(&mut r);
                continue;
            }
        }
        warnings.push(format!(
            "record {} quarantined: {}",
            b.identifier.as_deref().unwrap_or("(no identifier)"),
            b.error
        ));
        quarantine.push(QuarantineRow {
            oai_identifier: b.identifier,
            byte_offset: Some(b.offset as i64),
            error: b.error,
            raw: b.raw.into_bytes(),
        });
    }
    (quarantine, recovered)
}

/// The same list request with its dates in the other granularity, and that form's name.
fn other_date_form(req: &Request) -> Option<(Request, &'static str)> {
    let Request::ListRecords(a) = req else {
        return None;
    };
    if a.from.is_none() && a.until.is_none() {
        return None;
    }
    let is_day = |s: &Option<String>| s.as_deref().is_some_and(|d| d.len() == 10);
    let to_day = |s: &Option<String>| s.as_deref().map(|d| d.chars().take(10).collect::<String>());
    let (from, until, form) = if is_day(&a.from) || (a.from.is_none() && is_day(&a.until)) {
        (
            a.from.as_deref().map(|d| format!("{d}T00:00:00Z")),
            a.until.as_deref().map(|d| format!("{d}T23:59:59Z")),
            "seconds",
        )
    } else {
        (to_day(&a.from), to_day(&a.until), "day")
    };
    Some((
        Request::ListRecords(ListArgs {
            from,
            until,
            ..a.clone()
        }),
        form,
    ))
}
