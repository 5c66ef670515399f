//! The source registry and per-source leases.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::{Store, StoreError};

/// A harvested endpoint, as stored.
#[derive(Debug, Clone, FromRow, serde::Serialize)]
pub struct Source {
    /// Primary key.
    pub id: i64,
    /// Unique slug.
    pub name: String,
    /// OAI-PMH base URL.
    pub base_url: String,
    /// `metadataPrefix` to harvest.
    pub metadata_prefix: String,
    /// Sets to harvest; empty = the whole repository.
    pub sets: Vec<String>,
    /// Cron schedule, if scheduled.
    pub schedule: Option<String>,
    /// Disabled sources are never claimed.
    pub enabled: bool,
    /// Identify `repositoryName`.
    pub repository_name: Option<String>,
    /// Identify `granularity`, raw.
    pub granularity: Option<String>,
    /// Identify `earliestDatestamp`, raw.
    pub earliest_datestamp: Option<String>,
    /// Identify `deletedRecord`.
    pub deleted_record: Option<String>,
    /// Identify `compression` values.
    pub compression: Vec<String>,
    /// Learned quirks, by name.
    pub quirks: serde_json::Value,
    /// When the scheduler should next run it.
    pub next_run_at: Option<DateTime<Utc>>,
    /// Not to be contacted before (Retry-After beyond the in-process limit).
    pub not_before: Option<DateTime<Utc>>,
    /// Worker holding the lease.
    pub lease_owner: Option<String>,
    /// When the lease lapses unless renewed.
    pub lease_expires_at: Option<DateTime<Utc>>,
    /// Row creation.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Failed runs in a row (drives the scheduler's backoff).
    pub consecutive_failures: i32,
    /// Status of the newest finished run.
    pub last_run_status: Option<String>,
    /// When the newest run finished.
    pub last_run_at: Option<DateTime<Utc>>,
    /// When the last deletion sweep completed.
    pub last_sweep_at: Option<DateTime<Utc>>,
    /// Per-source overrides ([`crate::source_settings::SourceSettings`] as JSON); header
    /// values are redacted whenever a source is serialized (CLI, API).
    #[serde(serialize_with = "redacted_settings")]
    pub settings: serde_json::Value,
}

fn redacted_settings<S: serde::Serializer>(v: &serde_json::Value, s: S) -> Result<S::Ok, S::Error> {
    use serde::Serialize as _;
    match crate::source_settings::SourceSettings::from_json(v) {
        Ok(settings) => settings.redacted().serialize(s),
        // Unreadable settings are shown as an error, never echoed.
        Err(e) => serde_json::json!({ "error": e.to_string() }).serialize(s),
    }
}

/// What it takes to register a source.
#[derive(Debug, Clone, Default)]
pub struct NewSource {
    /// Unique slug.
    pub name: String,
    /// OAI-PMH base URL.
    pub base_url: String,
    /// `metadataPrefix`.
    pub metadata_prefix: String,
    /// Sets; empty = all.
    pub sets: Vec<String>,
    /// Cron schedule.
    pub schedule: Option<String>,
}

/// What Identify told us, saved on the source.
#[derive(Debug, Clone, Default)]
pub struct IdentifyUpdate {
    /// `repositoryName`.
    pub repository_name: String,
    /// `granularity`, raw.
    pub granularity: String,
    /// `earliestDatestamp`, raw.
    pub earliest_datestamp: String,
    /// `deletedRecord`.
    pub deleted_record: String,
    /// `compression` values.
    pub compression: Vec<String>,
}

macro_rules! source_columns {
    () => {
        "id, name, base_url, metadata_prefix, sets, schedule, enabled, repository_name, \
     granularity, earliest_datestamp, deleted_record, compression, quirks, next_run_at, not_before, \
     lease_owner, lease_expires_at, created_at, updated_at, consecutive_failures, last_run_status, last_run_at, \
     last_sweep_at, settings"
    };
}

impl Store {
    /// Registers a source; `Conflict` if the name is taken.
    pub async fn insert_source(&self, s: &NewSource) -> Result<Source, StoreError> {
        let sql = concat!(
            "INSERT INTO sources (name, base_url, metadata_prefix, sets, schedule) \
             VALUES ($1, $2, $3, $4, $5) RETURNING ",
            source_columns!()
        );
        Ok(sqlx::query_as(sql)
            .bind(&s.name)
            .bind(&s.base_url)
            .bind(&s.metadata_prefix)
            .bind(&s.sets)
            .bind(&s.schedule)
            .fetch_one(&self.pool)
            .await?)
    }

    /// A source by name.
    /// Replaces a source's settings (already validated by the caller).
    pub async fn set_source_settings(
        &self,
        source_id: i64,
        settings: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let res = sqlx::query("UPDATE sources SET settings = $2, updated_at = now() WHERE id = $1")
            .bind(source_id)
            .bind(settings)
            .execute(&self.pool)
            .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::NotFound(format!("source {source_id}")));
        }
        Ok(())
    }

    pub async fn source_by_name(&self, name: &str) -> Result<Option<Source>, StoreError> {
        let sql = concat!(
            "SELECT ",
            source_columns!(),
            " FROM sources WHERE name = $1"
        );
        Ok(sqlx::query_as(sql)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?)
    }

    /// A source by id.
    pub async fn source_by_id(&self, id: i64) -> Result<Source, StoreError> {
        let sql = concat!("SELECT ", source_columns!(), " FROM sources WHERE id = $1");
        sqlx::query_as(sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("source {id}")))
    }

    /// Sources registered for a base URL (several may differ by prefix or sets).
    pub async fn sources_by_url(&self, base_url: &str) -> Result<Vec<Source>, StoreError> {
        let sql = concat!(
            "SELECT ",
            source_columns!(),
            " FROM sources WHERE base_url = $1 ORDER BY id"
        );
        Ok(sqlx::query_as(sql)
            .bind(base_url)
            .fetch_all(&self.pool)
            .await?)
    }

    /// All sources by name.
    pub async fn list_sources(&self) -> Result<Vec<Source>, StoreError> {
        let sql = concat!("SELECT ", source_columns!(), " FROM sources ORDER BY name");
        Ok(sqlx::query_as(sql).fetch_all(&self.pool).await?)
    }

    /// Saves what Identify said.
    pub async fn update_identify(&self, id: i64, i: &IdentifyUpdate) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE sources SET repository_name = $2, granularity = $3, earliest_datestamp = $4, \
             deleted_record = $5, compression = $6, updated_at = now() WHERE id = $1",
        )
        .bind(id)
        .bind(&i.repository_name)
        .bind(&i.granularity)
        .bind(&i.earliest_datestamp)
        .bind(&i.deleted_record)
        .bind(&i.compression)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records a learned quirk (`quirks[key] = value`).
    pub async fn set_quirk(
        &self,
        id: i64,
        key: &str,
        value: serde_json::Value,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE sources SET quirks = jsonb_set(quirks, ARRAY[$2], $3), updated_at = now() WHERE id = $1")
            .bind(id)
            .bind(key)
            .bind(value)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Takes the source's lease for `owner` if it is free, expired, or held by `stealable`
    /// (an owner known to be dead). Returns whether the lease is now ours.
    pub async fn acquire_lease(
        &self,
        source_id: i64,
        owner: &str,
        ttl: std::time::Duration,
        stealable: Option<&str>,
    ) -> Result<bool, StoreError> {
        let res = sqlx::query(
            "UPDATE sources SET lease_owner = $2, lease_expires_at = now() + make_interval(secs => $3) \
             WHERE id = $1 AND (lease_owner IS NULL OR lease_expires_at < now() OR lease_owner = $2 \
                                OR lease_owner = $4)",
        )
        .bind(source_id)
        .bind(owner)
        .bind(ttl.as_secs_f64())
        .bind(stealable)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected() == 1)
    }

    /// Extends our lease; `LeaseLost` if another worker holds it now.
    pub async fn renew_lease(
        &self,
        source_id: i64,
        owner: &str,
        ttl: std::time::Duration,
    ) -> Result<(), StoreError> {
        renew_lease_on(&self.pool, source_id, owner, ttl).await
    }

    /// Gives the lease back (no-op if it is no longer ours).
    pub async fn release_lease(&self, source_id: i64, owner: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE sources SET lease_owner = NULL, lease_expires_at = NULL WHERE id = $1 AND lease_owner = $2")
            .bind(source_id)
            .bind(owner)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Remembers a server-imposed pause.
    pub async fn set_not_before(
        &self,
        source_id: i64,
        at: Option<DateTime<Utc>>,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE sources SET not_before = $2, updated_at = now() WHERE id = $1")
            .bind(source_id)
            .bind(at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}

/// Lease renewal on any executor, so a page commit can renew inside its transaction.
pub(crate) async fn renew_lease_on<'e, E: sqlx::PgExecutor<'e>>(
    ex: E,
    source_id: i64,
    owner: &str,
    ttl: std::time::Duration,
) -> Result<(), StoreError> {
    let res = sqlx::query(
        "UPDATE sources SET lease_expires_at = now() + make_interval(secs => $3) WHERE id = $1 AND lease_owner = $2",
    )
    .bind(source_id)
    .bind(owner)
    .bind(ttl.as_secs_f64())
    .execute(ex)
    .await?;
    if res.rows_affected() == 1 {
        Ok(())
    } else {
        Err(StoreError::LeaseLost(format!(
            "source {source_id} is no longer leased by {owner}"
        )))
    }
}
