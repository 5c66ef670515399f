//! Real tests of the embedded PostgreSQL cluster: they run initdb/pg_ctl from the installed
//! PostgreSQL (found as sheaf would find it) in temporary directories, and always stop what
//! they started.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use sheaf::store::embedded::{ClusterError, EmbeddedCluster};
use sqlx::Connection;
use tempfile::TempDir;

/// Environment variable that turns `child_process_starts_cluster` into a worker.
const CHILD_DIR_ENV: &str = "SHEAF_TEST_CHILD_DATA_DIR";

/// A temporary directory in /tmp that the `postgres` user can traverse (tempfile makes 0700).
fn reachable_tempdir() -> TempDir {
    let dir = tempfile::Builder::new()
        .prefix("sheaf-pg-test-")
        .tempdir_in("/tmp")
        .expect("create tempdir");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
        .expect("chmod tempdir");
    dir
}

/// Stops the cluster when dropped, also when the test panics. Declare it after the TempDir so
/// it is dropped first.
struct StopGuard {
    cluster: EmbeddedCluster,
    /// A /tmp socket directory to remove afterwards (long data dir fallback).
    remove_socket_dir: bool,
}

impl StopGuard {
    async fn new(data_dir: &Path) -> Self {
        let cluster = EmbeddedCluster::locate(data_dir, None)
            .await
            .expect("locate PostgreSQL binaries");
        Self {
            cluster,
            remove_socket_dir: false,
        }
    }
}

impl Drop for StopGuard {
    fn drop(&mut self) {
        // Err just means it was not running.
        let _ = self.cluster.stop_blocking();
        if self.remove_socket_dir {
            let _ = std::fs::remove_dir_all(self.cluster.socket_dir());
        }
    }
}

async fn select_one(url: &str) -> i32 {
    let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
    let one: i32 = sqlx::query_scalar("SELECT 1")
        .fetch_one(&mut conn)
        .await
        .expect("SELECT 1");
    conn.close().await.expect("close");
    one
}

fn postmaster_pid(cluster: &EmbeddedCluster) -> String {
    let text = std::fs::read_to_string(cluster.pgdata().join("postmaster.pid"))
        .expect("read postmaster.pid");
    text.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn starts_is_idempotent_stops_and_restarts() {
    let dir = reachable_tempdir();
    let data_dir = dir.path().join("data");
    let _guard = StopGuard::new(&data_dir).await;

    let cluster = EmbeddedCluster::ensure_started(&data_dir)
        .await
        .expect("first start");
    assert!(cluster.pgdata().join("PG_VERSION").is_file());
    assert_eq!(cluster.socket_dir(), data_dir.join("run"));
    assert!(
        cluster
            .url()
            .contains(&format!("host={}", data_dir.join("run").display()))
    );
    assert_eq!(select_one(&cluster.url()).await, 1);
    assert!(
        cluster.describe().contains("no TCP"),
        "{}",
        cluster.describe()
    );

    // Unix socket only.
    let mut conn = sqlx::PgConnection::connect(&cluster.url())
        .await
        .expect("connect");
    let listen: String = sqlx::query_scalar("SHOW listen_addresses")
        .fetch_one(&mut conn)
        .await
        .expect("SHOW");
    assert_eq!(listen, "");
    conn.close().await.expect("close");

    // The socket directory admits only its owner (and root).
    let mode = std::fs::metadata(cluster.socket_dir())
        .expect("socket dir")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);

    // Second call: same server, no error.
    let pid = postmaster_pid(&cluster);
    let again = EmbeddedCluster::ensure_started(&data_dir)
        .await
        .expect("second start");
    assert_eq!(again.url(), cluster.url());
    assert_eq!(postmaster_pid(&again), pid);

    // Stop, then start again.
    assert!(cluster.is_running().await.expect("status"));
    cluster.stop().await.expect("stop");
    assert!(!cluster.is_running().await.expect("status"));
    assert!(sqlx::PgConnection::connect(&cluster.url()).await.is_err());
    cluster
        .stop()
        .await
        .expect("stopping a stopped cluster is a no-op");

    let restarted = EmbeddedCluster::ensure_started(&data_dir)
        .await
        .expect("restart");
    assert_eq!(select_one(&restarted.url()).await, 1);
    assert_ne!(postmaster_pid(&restarted), pid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_tasks_share_one_cluster() {
    let dir = reachable_tempdir();
    let data_dir = dir.path().join("data");
    let _guard = StopGuard::new(&data_dir).await;

    let (a, b) = tokio::join!(
        EmbeddedCluster::ensure_started(&data_dir),
        EmbeddedCluster::ensure_started(&data_dir)
    );
    let (a, b) = (a.expect("task a"), b.expect("task b"));
    assert_eq!(a.url(), b.url());
    assert_eq!(postmaster_pid(&a), postmaster_pid(&b));
    assert_eq!(select_one(&a.url()).await, 1);
}

/// Worker for `concurrent_processes_share_one_cluster`; does nothing when run normally.
#[tokio::test]
#[ignore = "worker process spawned by concurrent_processes_share_one_cluster"]
async fn child_process_starts_cluster() {
    let Some(dir) = std::env::var_os(CHILD_DIR_ENV) else {
        return;
    };
    let cluster = EmbeddedCluster::ensure_started(Path::new(&dir))
        .await
        .expect("child start");
    println!("URL={}", cluster.url());
    println!("PID={}", postmaster_pid(&cluster));
}

#[tokio::test]
async fn concurrent_processes_share_one_cluster() {
    let dir = reachable_tempdir();
    let data_dir = dir.path().join("data");
    let _guard = StopGuard::new(&data_dir).await;

    let exe = std::env::current_exe().expect("test binary");
    let spawn = || {
        Command::new(&exe)
            .args([
                "--exact",
                "child_process_starts_cluster",
                "--ignored",
                "--nocapture",
            ])
            .env(CHILD_DIR_ENV, &data_dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn child")
    };
    let children = [spawn(), spawn()];
    let mut reports = Vec::new();
    for child in children {
        let out = child.wait_with_output().expect("child output");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "child failed: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let report: Vec<String> = stdout
            .lines()
            .filter(|l| l.starts_with("URL=") || l.starts_with("PID="))
            .map(str::to_owned)
            .collect();
        assert_eq!(report.len(), 2, "{stdout}");
        reports.push(report);
    }
    assert_eq!(reports[0], reports[1], "both processes see one server");

    let cluster = EmbeddedCluster::ensure_started(&data_dir)
        .await
        .expect("parent start");
    assert_eq!(reports[0][0], format!("URL={}", cluster.url()));
    assert_eq!(select_one(&cluster.url()).await, 1);
}

#[tokio::test]
async fn missing_binaries_give_a_clear_error() {
    let dir = reachable_tempdir();
    let empty_bindir = dir.path().join("no-binaries-here");
    std::fs::create_dir(&empty_bindir).expect("mkdir");

    let err = EmbeddedCluster::ensure_started_with(&dir.path().join("data"), Some(&empty_bindir))
        .await
        .expect_err("no binaries");
    assert!(
        matches!(&err, ClusterError::NoBinaries { searched } if searched.as_slice() == std::slice::from_ref(&empty_bindir)),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(msg.contains("DATABASE_URL"), "{msg}");
    assert!(msg.contains("install"), "{msg}");
    assert!(!dir.path().join("data").exists(), "nothing created");
}

#[tokio::test]
async fn long_data_dir_uses_a_short_socket_dir() {
    let dir = reachable_tempdir();
    let data_dir: PathBuf = dir.path().join("d".repeat(100)).join("data");
    let mut guard = StopGuard::new(&data_dir).await;
    guard.remove_socket_dir = true;

    let cluster = EmbeddedCluster::ensure_started(&data_dir)
        .await
        .expect("start");
    assert!(
        cluster
            .socket_dir()
            .to_string_lossy()
            .starts_with("/tmp/sheaf-"),
        "{}",
        cluster.socket_dir().display()
    );
    assert_eq!(guard.cluster.socket_dir(), cluster.socket_dir());
    assert_eq!(select_one(&cluster.url()).await, 1);
}

#[tokio::test]
async fn interrupted_initdb_is_cleaned_up_and_redone() {
    let dir = reachable_tempdir();
    let data_dir = dir.path().join("data");
    // A cluster directory without PG_VERSION and a leftover initdb target.
    std::fs::create_dir_all(data_dir.join("pg/base")).expect("mkdir");
    std::fs::write(data_dir.join("pg/postgresql.conf"), "junk").expect("write");
    std::fs::create_dir_all(data_dir.join("pg.initdb/global")).expect("mkdir");
    let _guard = StopGuard::new(&data_dir).await;

    let cluster = EmbeddedCluster::ensure_started(&data_dir)
        .await
        .expect("start");
    assert_eq!(select_one(&cluster.url()).await, 1);
    assert!(!data_dir.join("pg.initdb").exists());
}

#[tokio::test]
async fn cluster_of_an_uninstalled_major_version_is_refused() {
    let dir = reachable_tempdir();
    let data_dir = dir.path().join("data");
    std::fs::create_dir_all(data_dir.join("pg")).expect("mkdir");
    std::fs::write(data_dir.join("pg/PG_VERSION"), "9.4\n").expect("write");

    let err = EmbeddedCluster::ensure_started(&data_dir)
        .await
        .expect_err("9.4 binaries are not installed");
    assert!(
        matches!(&err, ClusterError::VersionMismatch { cluster_version, .. } if cluster_version == "9.4"),
        "{err:?}"
    );
    assert!(err.to_string().contains("pg_upgrade"), "{err}");
}
