//! A fresh real PostgreSQL database per test: `DATABASE_URL`'s server when set, else
//! sheaf's embedded cluster in a shared test data dir. Dropped when the guard drops.

use std::path::PathBuf;

use sheaf::store::Store;

/// A migrated database that is dropped (forcibly) when this guard goes out of scope.
pub struct TestDb {
    pub store: Store,
    pub url: String,
    pub name: String,
    admin_url: String,
}

/// Where tests run the embedded cluster when no DATABASE_URL is given.
pub fn test_data_dir() -> PathBuf {
    std::env::temp_dir().join("sheaf-test-cluster")
}

/// The server-level URL tests create databases through.
pub async fn admin_url() -> String {
    if let Ok(url) = std::env::var("DATABASE_URL") {
        return url;
    }
    let cluster = sheaf::store::embedded::EmbeddedCluster::ensure_started(&test_data_dir())
        .await
        .expect("start the embedded test cluster (or set DATABASE_URL)");
    cluster.url()
}

impl TestDb {
    /// Creates and migrates `sheaf_t_<random>`.
    pub async fn new() -> TestDb {
        Self::create(true).await
    }

    /// Creates an empty database without running migrations.
    pub async fn empty() -> TestDb {
        Self::create(false).await
    }

    async fn create(migrate: bool) -> TestDb {
        let admin_url = admin_url().await;
        let name = format!(
            "sheaf_t_{}",
            &uuid::Uuid::new_v4().simple().to_string()[..12]
        );
        sheaf::db::ensure_database(&admin_url, &name)
            .await
            .expect("create test database");
        let url = sheaf::db::with_database(&admin_url, &name);
        let store = Store::connect(&url, 5)
            .await
            .expect("connect to test database");
        if migrate {
            store.migrate().await.expect("migrate test database");
        }
        TestDb {
            store,
            url,
            name,
            admin_url,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let (admin, name) = (self.admin_url.clone(), self.name.clone());
        // Drop runs inside the test's runtime; a separate thread with its own runtime can
        // block on the async cleanup. The pool is not closed here: its connections belong to
        // the (now blocked) test runtime, so closing would deadlock; FORCE ends them instead.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                rt.block_on(async move {
                    if let Ok(mut c) =
                        <sqlx::PgConnection as sqlx::Connection>::connect(&admin).await
                    {
                        let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                        let _ = sqlx::query(sqlx::AssertSqlSafe(sql)).execute(&mut c).await;
                    }
                });
            }
        })
        .join();
    }
}
