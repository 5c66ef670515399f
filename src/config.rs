//! Typed configuration: built-in defaults < `config/default.toml` (or `--config FILE`) <
//! `SHEAF_…` environment variables (`__` separates sections) < `DATABASE_URL`.
//! Bad values fail at load with the key named.

use std::path::{Path, PathBuf};
use std::time::Duration;

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

use crate::harvest::HarvestConfig;
use crate::oai::HttpConfig;

/// The whole configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where sheaf keeps its embedded cluster; `SHEAF_DATA_DIR`.
    pub data_dir: Option<PathBuf>,
    /// Database selection.
    pub database: DatabaseConfig,
    /// HTTP behaviour towards endpoints.
    pub http: HttpSection,
    /// Harvest tuning.
    pub harvest: HarvestSection,
    /// Logging.
    pub log: LogSection,
    /// The daemon.
    pub service: ServiceSection,
    /// The OAI-PMH data provider at `/oai`.
    pub provider: ProviderSection,
}

/// `[service]`
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceSection {
    /// HTTP API listen address.
    pub listen: String,
    /// Harvests at once in one process.
    pub max_concurrent_runs: usize,
    /// Harvests at once against one host, across all workers.
    pub per_host_runs: usize,
    /// Scheduler poll interval, seconds.
    pub tick_secs: u64,
    /// Shutdown grace period, seconds.
    pub shutdown_grace_secs: u64,
    /// Bearer token for mutating API routes (or `SHEAF_ADMIN_TOKEN`); unset refuses them.
    pub admin_token: Option<String>,
    /// Sources file synced into the database at start (used only if it exists).
    pub sources_file: std::path::PathBuf,
}

impl Default for ServiceSection {
    fn default() -> Self {
        let d = crate::service::ServiceConfig::default();
        Self {
            listen: "127.0.0.1:8080".into(),
            max_concurrent_runs: d.max_concurrent_runs,
            per_host_runs: d.per_host_runs,
            tick_secs: d.tick.as_secs(),
            shutdown_grace_secs: d.shutdown_grace.as_secs(),
            admin_token: None,
            sources_file: "config/sources.toml".into(),
        }
    }
}

impl std::fmt::Debug for ServiceSection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceSection")
            .field("listen", &self.listen)
            .field("max_concurrent_runs", &self.max_concurrent_runs)
            .field("per_host_runs", &self.per_host_runs)
            .field("tick_secs", &self.tick_secs)
            .field("shutdown_grace_secs", &self.shutdown_grace_secs)
            .field("admin_token", &self.admin_token.as_ref().map(|_| "***"))
            .field("sources_file", &self.sources_file)
            .finish()
    }
}

impl ServiceSection {
    /// The scheduler settings.
    pub fn to_service_config(&self) -> crate::service::ServiceConfig {
        crate::service::ServiceConfig {
            max_concurrent_runs: self.max_concurrent_runs.max(1),
            per_host_runs: self.per_host_runs.max(1),
            tick: Duration::from_secs(self.tick_secs.max(1)),
            shutdown_grace: Duration::from_secs(self.shutdown_grace_secs),
        }
    }

    /// The admin token: the config value, else `SHEAF_ADMIN_TOKEN`.
    pub fn admin_token(&self) -> Option<String> {
        self.admin_token
            .clone()
            .or_else(|| std::env::var("SHEAF_ADMIN_TOKEN").ok())
            .filter(|t| !t.trim().is_empty())
    }
}

/// `[database]`
#[derive(Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseConfig {
    /// A PostgreSQL URL; unset = the embedded cluster.
    pub url: Option<String>,
    /// Pool size.
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 8,
        }
    }
}

impl std::fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// Replaces the password of a URL with `***`.
pub fn redact_url(u: &str) -> String {
    match url::Url::parse(u) {
        Ok(mut parsed) if parsed.password().is_some() => {
            // Ignored error: only fails for URLs that cannot have a password.
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => u.to_owned(),
    }
}

/// `[http]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpSection {
    /// Contact put in the User-Agent.
    pub contact: String,
    /// `From` header.
    pub from_email: Option<String>,
    /// Seconds.
    pub connect_timeout_secs: u64,
    /// Seconds of silence allowed while reading.
    pub read_timeout_secs: u64,
    /// Seconds for a whole request.
    pub request_timeout_secs: u64,
    /// Cap on a decompressed response, MiB.
    pub max_response_mib: u64,
    /// Attempts per request.
    pub max_attempts: u32,
    /// First backoff, milliseconds.
    pub backoff_base_ms: u64,
    /// Longest Retry-After waited in-process, seconds.
    pub max_retry_after_secs: u64,
    /// Requests in flight to one host at most.
    pub per_host_concurrency: usize,
    /// Least time between two request starts to one host, milliseconds.
    pub min_request_interval_ms: u64,
    /// Send requests as form POSTs.
    pub use_post: bool,
}

impl Default for HttpSection {
    fn default() -> Self {
        let d = HttpConfig::default();
        Self {
            contact: d.contact,
            from_email: d.from_email,
            connect_timeout_secs: d.connect_timeout.as_secs(),
            read_timeout_secs: d.read_timeout.as_secs(),
            request_timeout_secs: d.request_timeout.as_secs(),
            max_response_mib: d.max_response_bytes / (1024 * 1024),
            max_attempts: d.max_attempts,
            backoff_base_ms: d.backoff_base.as_millis() as u64,
            max_retry_after_secs: d.max_retry_after.as_secs(),
            per_host_concurrency: d.per_host_concurrency,
            min_request_interval_ms: d.min_request_interval.as_millis() as u64,
            use_post: d.use_post,
        }
    }
}

impl HttpSection {
    /// The client configuration.
    pub fn to_http_config(&self) -> HttpConfig {
        HttpConfig {
            contact: self.contact.clone(),
            from_email: self.from_email.clone(),
            connect_timeout: Duration::from_secs(self.connect_timeout_secs),
            read_timeout: Duration::from_secs(self.read_timeout_secs),
            request_timeout: Duration::from_secs(self.request_timeout_secs),
            max_response_bytes: self.max_response_mib.saturating_mul(1024 * 1024),
            max_attempts: self.max_attempts.max(1),
            backoff_base: Duration::from_millis(self.backoff_base_ms),
            max_retry_after: Duration::from_secs(self.max_retry_after_secs),
            per_host_concurrency: self.per_host_concurrency.max(1),
            min_request_interval: Duration::from_millis(self.min_request_interval_ms),
            use_post: self.use_post,
        }
    }
}

/// `[harvest]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HarvestSection {
    /// Lease length, seconds.
    pub lease_ttl_secs: u64,
    /// Consecutive empty pages tolerated.
    pub max_empty_pages: u32,
    /// Pages fetched ahead of storage.
    pub prefetch_pages: usize,
    /// Longest a run may take, seconds (a trickling server cannot hold a worker forever).
    pub run_deadline_secs: u64,
    /// Days between deletion sweeps of sources without persistent tombstones; 0 = never.
    pub sweep_interval_days: u64,
    /// Largest date window of a first harvest, in days (adaptive windows); 0 = one list.
    pub window_days: u64,
    /// Largest metadata of one record in KiB; larger records are quarantined.
    pub max_record_kib: u64,
    /// Prepared pages in memory at once across all runs of the process.
    pub pages_in_memory: usize,
}

impl Default for HarvestSection {
    fn default() -> Self {
        let d = HarvestConfig::default();
        Self {
            lease_ttl_secs: d.lease_ttl.as_secs(),
            max_empty_pages: d.max_empty_pages,
            prefetch_pages: d.prefetch_pages,
            run_deadline_secs: d.run_deadline.as_secs(),
            sweep_interval_days: d.sweep_interval.map_or(0, |i| i.as_secs() / 86_400),
            window_days: d.window.map_or(0, |i| i.as_secs() / 86_400),
            max_record_kib: d.max_record_bytes / 1024,
            pages_in_memory: d.pages_in_memory,
        }
    }
}

impl HarvestSection {
    /// The harvester configuration.
    pub fn to_harvest_config(&self) -> HarvestConfig {
        HarvestConfig {
            lease_ttl: Duration::from_secs(self.lease_ttl_secs.max(3)),
            max_empty_pages: self.max_empty_pages.max(1),
            prefetch_pages: self.prefetch_pages.max(1),
            run_deadline: Duration::from_secs(self.run_deadline_secs.max(1)),
            sweep_interval: (self.sweep_interval_days > 0)
                .then(|| Duration::from_secs(self.sweep_interval_days * 86_400)),
            window: (self.window_days > 0).then(|| Duration::from_secs(self.window_days * 86_400)),
            max_record_bytes: self.max_record_kib.max(1).saturating_mul(1024),
            pages_in_memory: self.pages_in_memory.max(1),
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSection {
    /// `pretty` or `json`.
    pub format: String,
    /// A tracing filter, e.g. `info` or `sheaf=debug`; `RUST_LOG` wins.
    pub level: String,
}

impl Default for LogSection {
    fn default() -> Self {
        Self {
            format: "pretty".into(),
            level: "info".into(),
        }
    }
}

/// `[provider]`: how `/oai` describes the repository.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderSection {
    /// Identify `repositoryName`.
    pub repository_name: String,
    /// Identify `adminEmail`; unset: `http.from_email`, else `postmaster@localhost`.
    pub admin_email: Option<String>,
    /// Public base URL (e.g. behind a proxy); unset: `http://<Host header>/oai`.
    pub base_url: Option<String>,
    /// Records per ListRecords/ListIdentifiers page.
    pub page_size: u32,
}

impl Default for ProviderSection {
    fn default() -> Self {
        let d = crate::provider::ProviderSettings::default();
        Self {
            repository_name: d.repository_name,
            admin_email: None,
            base_url: d.base_url,
            page_size: d.page_size,
        }
    }
}

impl Config {
    /// The provider settings, the admin e-mail falling back to `http.from_email`.
    pub fn provider_settings(&self) -> crate::provider::ProviderSettings {
        let d = crate::provider::ProviderSettings::default();
        crate::provider::ProviderSettings {
            repository_name: self.provider.repository_name.clone(),
            admin_email: self
                .provider
                .admin_email
                .clone()
                .or_else(|| self.http.from_email.clone())
                .unwrap_or(d.admin_email),
            base_url: self.provider.base_url.clone(),
            page_size: self.provider.page_size.max(1),
        }
    }
}

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
#[error("configuration error: {0}")]
pub struct ConfigError(String);

/// Environment variables with the `SHEAF_` prefix that are not configuration keys.
const NOT_CONFIG: &[&str] = &["PG_BINDIR", "ADMIN_TOKEN", "CONFIG"];

impl Config {
    /// Loads the configuration. `file` wins over `SHEAF_CONFIG`, which wins over
    /// `config/default.toml` in the working directory (used only if it exists).
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        let env_file = std::env::var_os("SHEAF_CONFIG").map(PathBuf::from);
        match file.map(Path::to_path_buf).or(env_file) {
            Some(path) => {
                if !path.exists() {
                    return Err(ConfigError(format!(
                        "config file {} does not exist",
                        path.display()
                    )));
                }
                fig = fig.merge(Toml::file(path));
            }
            None => {
                let default = Path::new("config/default.toml");
                if default.exists() {
                    fig = fig.merge(Toml::file(default));
                }
            }
        }
        fig = fig
            .merge(Env::prefixed("SHEAF_").split("__").filter(|k| {
                !NOT_CONFIG
                    .iter()
                    .any(|n| k.as_str().eq_ignore_ascii_case(n))
            }))
            .merge(
                Env::raw()
                    .only(&["DATABASE_URL"])
                    .map(|_| "database.url".into()),
            );
        let cfg: Config = fig.extract().map_err(|e| ConfigError(e.to_string()))?;
        cfg.validate()?;
        Ok(cfg)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if let Some(u) = &self.database.url
            && !(u.starts_with("postgres://") || u.starts_with("postgresql://"))
        {
            return Err(ConfigError(format!(
                "database.url: {:?} is not a postgres:// URL",
                redact_url(u)
            )));
        }
        if !matches!(self.log.format.as_str(), "pretty" | "json") {
            return Err(ConfigError(format!(
                "log.format: {:?} must be \"pretty\" or \"json\"",
                self.log.format
            )));
        }
        if self.service.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError(format!(
                "service.listen: {:?} is not an address like 127.0.0.1:8080",
                self.service.listen
            )));
        }
        if self.database.max_connections == 0 {
            return Err(ConfigError(
                "database.max_connections: must be at least 1".into(),
            ));
        }
        Ok(())
    }

    /// The effective configuration as TOML with secrets replaced by `***`.
    pub fn redacted_toml(&self) -> String {
        let mut c = self.clone();
        c.database.url = c.database.url.as_deref().map(redact_url);
        if c.service.admin_token().is_some() {
            c.service.admin_token = Some("***".into());
        }
        toml::to_string_pretty(&c).unwrap_or_else(|e| format!("# cannot render: {e}"))
    }

    /// The data directory in force.
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(crate::store::embedded::default_data_dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        assert_eq!(
            redact_url("postgres://u:secret@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        let d = DatabaseConfig {
            url: Some("postgres://u:secret@h/db".into()),
            max_connections: 1,
        };
        assert!(!format!("{d:?}").contains("secret"));
    }

    #[test]
    fn file_values_and_errors_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.toml");
        std::fs::write(
            &good,
            "[http]\nmax_attempts = 9\n[log]\nformat = \"json\"\n",
        )
        .unwrap();
        let cfg = Config::load(Some(&good)).unwrap();
        assert_eq!(cfg.http.max_attempts, 9);
        assert_eq!(cfg.log.format, "json");

        let bad = dir.path().join("bad.toml");
        std::fs::write(&bad, "[http]\nmax_attempts = \"many\"\n").unwrap();
        let err = Config::load(Some(&bad)).unwrap_err().to_string();
        assert!(err.contains("max_attempts"), "{err}");

        let typo = dir.path().join("typo.toml");
        std::fs::write(&typo, "[htpp]\nmax_attempts = 1\n").unwrap();
        let err = Config::load(Some(&typo)).unwrap_err().to_string();
        assert!(err.contains("htpp"), "{err}");

        let missing = dir.path().join("missing.toml");
        assert!(Config::load(Some(&missing)).is_err());
    }
}
