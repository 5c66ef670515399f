//! Building blocks for harvest tests: a harvester wired to a test database, quick runs.

use std::time::Duration;

use sheaf::harvest::{HarvestConfig, HarvestOptions, Harvester, LogProgress};
use sheaf::oai::{HttpClient, HttpConfig};
use sheaf::store::{NewSource, Run, Source, Store, Trigger};

/// HTTP settings for tests: fast retries, short deadlines.
pub fn http_config() -> HttpConfig {
    HttpConfig {
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(10),
        request_timeout: Duration::from_secs(20),
        max_attempts: 4,
        backoff_base: Duration::from_millis(20),
        max_retry_after: Duration::from_secs(5),
        ..HttpConfig::default()
    }
}

/// Harvest settings for tests: one list per run (no adaptive windows), so tests can
/// count requests exactly; tests of windows turn them on.
pub fn harvest_config() -> HarvestConfig {
    HarvestConfig {
        window: None,
        ..HarvestConfig::default()
    }
}

/// A harvester for `store` with test settings.
pub fn harvester(store: &Store) -> Harvester {
    harvester_with(store, http_config(), harvest_config())
}

/// A harvester with explicit settings.
pub fn harvester_with(store: &Store, http: HttpConfig, cfg: HarvestConfig) -> Harvester {
    let http = HttpClient::new(http).expect("http client");
    Harvester::new(
        store.clone(),
        http,
        cfg,
        sheaf::harvest::worker::worker_id(),
    )
}

/// Registers a source.
pub async fn add_source(store: &Store, name: &str, url: &str, sets: &[&str]) -> Source {
    store
        .insert_source(&NewSource {
            name: name.into(),
            base_url: url.into(),
            metadata_prefix: "oai_dc".into(),
            sets: sets.iter().map(|s| s.to_string()).collect(),
            schedule: None,
        })
        .await
        .expect("insert source")
}

/// Default options: incremental CLI run.
pub fn opts() -> HarvestOptions {
    HarvestOptions {
        trigger: Trigger::Cli,
        full: false,
        from: None,
        until: None,
    }
}

/// Runs one harvest and expects it to complete.
pub async fn harvest_ok(h: &Harvester, s: &Source, o: &HarvestOptions) -> Run {
    h.harvest(s, o, &LogProgress)
        .await
        .expect("harvest completes")
}

/// (identifier, deleted, title, has_raw) of every stored record of a source, by identifier.
pub async fn stored(store: &Store, source_id: i64) -> Vec<(String, bool, Option<String>, bool)> {
    sqlx::query_as(
        "SELECT oai_identifier, deleted, title, raw_metadata IS NOT NULL FROM records WHERE source_id = $1 ORDER BY oai_identifier",
    )
    .bind(source_id)
    .fetch_all(store.pool())
    .await
    .expect("select records")
}
