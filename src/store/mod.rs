//! All SQL lives here: connection, migrations, and one file per table family.
//!
//! **Architecture invariant:** no reqwest, no quick-xml, no normalization rules in this
//! module. It stores and reads rows; callers decide what the rows mean.

pub mod embedded;
#[macro_use]
pub mod sources;
pub mod sweeps;
#[macro_use]
pub mod runs;
pub mod provider;
pub mod reads;
pub mod records;
pub mod scheduling;
pub mod search;
pub mod search_index;

use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

pub use records::{
    PageCounts, QuarantineEntry, QuarantineRow, RECORDS_CHANNEL, RecordRow, lock_change_feed,
};
pub use runs::{Checkpoint, ListPosition, NewRun, Run, RunStatus, Trigger};
pub use scheduling::{Claim, SourcePatch, Triggered};
pub use sources::{NewSource, Source};

/// The migrations in `migrations/`, embedded at build time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Errors of the storage layer; callers branch on `NotFound`, `Conflict` and `LeaseLost`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The row asked for does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// A unique constraint refused the write (e.g. a source name already taken).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Another worker took over this source or run; the caller must stop writing.
    #[error("lease lost: {0}")]
    LeaseLost(String),
    /// A value read from the database does not have the expected shape.
    #[error("bad data in database: {0}")]
    BadData(String),
    /// Applying migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Any other database error.
    #[error("database error: {0}")]
    Db(#[source] sqlx::Error),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::RowNotFound => Self::NotFound("row".into()),
            sqlx::Error::Database(db) if db.is_unique_violation() => {
                Self::Conflict(db.message().to_owned())
            }
            _ => Self::Db(e),
        }
    }
}

/// A handle to sheaf's PostgreSQL database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: PgPool,
}

/// Migration state for `sheaf db status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    /// Versions this build knows.
    pub known: Vec<i64>,
    /// Versions applied in the database.
    pub applied: Vec<i64>,
}

impl MigrationStatus {
    /// Every known migration is applied.
    pub fn is_current(&self) -> bool {
        self.known.iter().all(|v| self.applied.contains(v))
    }
}

impl Store {
    /// Connects a pool to `url`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let opts: PgConnectOptions = url.parse()?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts.application_name("sheaf"))
            .await?;
        Ok(Self { pool })
    }

    /// The pool, for modules that need a raw connection (LISTEN, tests).
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// Applies pending migrations. Safe to run concurrently: sqlx takes an advisory lock.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    /// Which migrations exist and which are applied.
    pub async fn migration_status(&self) -> Result<MigrationStatus, StoreError> {
        let known = MIGRATOR.iter().map(|m| m.version).collect();
        let exists: bool = sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
            .fetch_one(&self.pool)
            .await?;
        let applied = if exists {
            sqlx::query_scalar(
                "SELECT version FROM _sqlx_migrations WHERE success ORDER BY version",
            )
            .fetch_all(&self.pool)
            .await?
        } else {
            Vec::new()
        };
        Ok(MigrationStatus { known, applied })
    }

    /// `SELECT version()`, for status output.
    pub async fn server_version(&self) -> Result<String, StoreError> {
        Ok(sqlx::query_scalar("SELECT version()")
            .fetch_one(&self.pool)
            .await?)
    }
}
