//! Picks the database: `database.url` when configured, else the embedded cluster under
//! the data directory (with its own `sheaf` database). Migrations run on every open.

use crate::config::{Config, redact_url};
use crate::store::embedded::{ClusterError, EmbeddedCluster};
use crate::store::{Store, StoreError};

/// The database in use, for `sheaf db status`.
#[derive(Debug, Clone)]
pub enum DatabaseKind {
    /// A configured server (URL redacted).
    External(String),
    /// The embedded cluster.
    Embedded(EmbeddedCluster),
}

impl std::fmt::Display for DatabaseKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::External(u) => write!(f, "external PostgreSQL at {u}"),
            Self::Embedded(c) => write!(f, "{}", c.describe()),
        }
    }
}

/// Why the database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The embedded cluster could not be started.
    #[error(transparent)]
    Cluster(#[from] ClusterError),
    /// Connecting or migrating failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Name of sheaf's database inside the embedded cluster.
pub const EMBEDDED_DB: &str = "sheaf";

/// Resolves the URL to use, starting the embedded cluster if needed.
pub async fn resolve(cfg: &Config) -> Result<(String, DatabaseKind), DbError> {
    if let Some(url) = &cfg.database.url {
        return Ok((url.clone(), DatabaseKind::External(redact_url(url))));
    }
    let cluster = EmbeddedCluster::ensure_started(&cfg.data_dir()).await?;
    let admin = cluster.url();
    ensure_database(&admin, EMBEDDED_DB).await?;
    Ok((
        with_database(&admin, EMBEDDED_DB),
        DatabaseKind::Embedded(cluster),
    ))
}

/// Opens the store and applies migrations.
pub async fn open(cfg: &Config) -> Result<(Store, DatabaseKind), DbError> {
    open_with_pool(cfg, cfg.database.max_connections).await
}

/// [`open`] with a pool of `max_connections`.
pub async fn open_with_pool(
    cfg: &Config,
    max_connections: u32,
) -> Result<(Store, DatabaseKind), DbError> {
    let (url, kind) = resolve(cfg).await?;
    let store = Store::connect(&url, max_connections).await?;
    store.migrate().await?;
    Ok((store, kind))
}

/// Replaces the database name in a `postgres://…/<db>?…` URL.
pub fn with_database(url: &str, db: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            u.set_path(&format!("/{db}"));
            u.to_string()
        }
        Err(_) => url.to_owned(),
    }
}

/// Creates database `db` through the server at `admin_url` unless it exists. Two processes
/// racing here both succeed: the loser's duplicate error is ignored.
pub async fn ensure_database(admin_url: &str, db: &str) -> Result<(), StoreError> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(admin_url).await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(db)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        let sql = format!("CREATE DATABASE \"{}\"", db.replace('"', "\"\""));
        match sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut conn)
            .await
        {
            Ok(_) => {}
            Err(sqlx::Error::Database(e))
                if e.code().as_deref() == Some("42P04") || e.code().as_deref() == Some("23505") => {
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}
