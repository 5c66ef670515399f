//! The `sheaf` binary as a user runs it: harvest by URL, list sources and runs, and
//! survive `kill -9` in the middle of a harvest.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::db::TestDb;
use common::fake_provider::{FakeProvider, FakeRecord, Fault, ProviderConfig, When, utc};

fn sheaf(db: &TestDb) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sheaf"));
    c.env("DATABASE_URL", &db.url)
        .env("SHEAF_LOG__LEVEL", "warn")
        // One list per run, so page counts are exact (windows: tests/windows.rs).
        .env("SHEAF_HARVEST__WINDOW_DAYS", "0")
        .env_remove("SHEAF_CONFIG");
    c
}

fn run_ok(c: &mut Command) -> String {
    let out = c.output().expect("run sheaf");
    assert!(
        out.status.success(),
        "sheaf failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// `sheaf harvest <URL>` registers the source, harvests, and the listings show it.
#[tokio::test]
async fn harvest_by_url_then_list_sources_and_runs() {
    let db = TestDb::new().await;
    let p = FakeProvider::start(
        ProviderConfig {
            page_size: 4,
            ..Default::default()
        },
        FakeRecord::series(9, utc("2022-01-01T00:00:00Z")),
    )
    .await;
    let url = p.base_url();
    let out = tokio::task::spawn_blocking({
        let mut c = sheaf(&db);
        c.args(["harvest", &url]);
        move || run_ok(&mut c)
    })
    .await
    .unwrap();
    assert!(out.contains("127.0.0.1: run 1 completed — 9 new, 0 updated, 0 unchanged, 0 deleted, 0 failed; 3 pages"), "{out}");

    let out = run_ok(sheaf(&db).args(["sources", "list"]));
    assert!(
        out.lines()
            .any(|l| l.starts_with("127.0.0.1") && l.contains(" 9 ") && l.contains("seconds")),
        "{out}"
    );
    let runs: serde_json::Value =
        serde_json::from_str(&run_ok(sheaf(&db).args(["runs", "--json"]))).unwrap();
    assert_eq!(runs[0]["status"], "completed");
    assert_eq!(runs[0]["records_new"], 9);

    // The same URL again harvests the same source, by name too.
    let mut c = sheaf(&db);
    c.args(["harvest", "127.0.0.1", "--json"]);
    let out = tokio::task::spawn_blocking(move || run_ok(&mut c))
        .await
        .unwrap();
    let run: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(run["source_id"], runs[0]["source_id"]);
}

/// Errors are one clear line and a non-zero exit.
#[tokio::test]
async fn failures_exit_non_zero_with_one_line() {
    let db = TestDb::new().await;
    let out = sheaf(&db)
        .args(["harvest", "no-such-source"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("no source named \"no-such-source\""), "{err}");

    let out = sheaf(&db)
        .args(["harvest", "ftp://x.example/oai"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("only http and https"));

    // A server that answers HTML with 200 is not "0 records".
    let p = FakeProvider::start(
        ProviderConfig::default(),
        FakeRecord::series(3, utc("2022-01-01T00:00:00Z")),
    )
    .await;
    p.inject_always(
        When::Verb("ListRecords".into()),
        Fault::RawBody("<html><body>Maintenance</body></html>".into()),
    );
    let mut c = sheaf(&db);
    c.env("SHEAF_HTTP__MAX_ATTEMPTS", "2")
        .env("SHEAF_HTTP__BACKOFF_BASE_MS", "10")
        .args(["harvest", &p.base_url()]);
    let out = tokio::task::spawn_blocking(move || c.output().unwrap())
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not an OAI-PMH response"), "{err}");
}

/// `kill -9` between pages, then a new process: the dead run is marked abandoned, the new
/// one resumes from the committed token, and every record is stored exactly once.
#[tokio::test]
async fn kill_dash_nine_mid_harvest_then_rerun_loses_and_duplicates_nothing() {
    let db = TestDb::new().await;
    let p = FakeProvider::start(
        ProviderConfig {
            page_size: 10,
            ..Default::default()
        },
        FakeRecord::series(80, utc("2022-01-01T00:00:00Z")),
    )
    .await;
    // Page 4 hangs, so the process is certainly mid-list when killed.
    p.inject_when(When::Page(4), Fault::Delay(Duration::from_secs(60)));
    let url = p.base_url();
    let mut child = sheaf(&db)
        .args(["harvest", &url, "--name", "victim"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();

    let started = Instant::now();
    loop {
        let pages: Option<i32> = sqlx::query_scalar("SELECT max(pages) FROM harvest_runs")
            .fetch_one(db.store.pool())
            .await
            .unwrap();
        if pages.unwrap_or(0) >= 4 {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "harvest did not progress"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    child.wait().unwrap();
    let (live, _) = db.store.record_counts(1).await.unwrap();
    assert_eq!(live, 40, "four pages were committed before the kill");

    p.clear_faults();
    p.clear_requests();
    let mut c = sheaf(&db);
    c.args(["harvest", "victim", "--json"]);
    let out = tokio::task::spawn_blocking(move || run_ok(&mut c))
        .await
        .unwrap();
    let run: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(run["status"], "completed");
    assert_eq!(run["resumed_from"], 1);
    assert_eq!(run["records_new"], 40);
    let first = db.store.run_by_id(1).await.unwrap();
    assert_eq!(first.status, "abandoned");
    let lists: Vec<_> = p
        .requests()
        .into_iter()
        .filter(|r| r.verb.as_deref() == Some("ListRecords"))
        .collect();
    assert!(
        lists[0].resumption_token.is_some(),
        "the rerun continued from the checkpoint token"
    );
    let (total, distinct): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(DISTINCT oai_identifier) FROM records")
            .fetch_one(db.store.pool())
            .await
            .unwrap();
    assert_eq!((total, distinct), (80, 80));
}

/// Migrations build the schema from an empty database and are idempotent.
#[tokio::test]
async fn migrations_apply_to_an_empty_database_and_again_harmlessly() {
    let db = TestDb::empty().await;
    assert!(!db.store.migration_status().await.unwrap().is_current());
    db.store.migrate().await.unwrap();
    db.store.migrate().await.unwrap();
    let st = db.store.migration_status().await.unwrap();
    assert!(st.is_current());
    assert_eq!(st.applied, st.known);
    for table in ["sources", "harvest_runs", "records"] {
        let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
            .bind(table)
            .fetch_one(db.store.pool())
            .await
            .unwrap();
        assert!(exists, "{table}");
    }
    let out = run_ok(sheaf(&db).args(["db", "status"]));
    assert!(out.contains("up to date"), "{out}");
}

/// `sheaf runs show` lists a run's quarantined records.
#[tokio::test]
async fn runs_show_lists_quarantined_records() {
    let db = TestDb::new().await;
    let mut records = FakeRecord::series(4, utc("2022-01-01T00:00:00Z"));
    records[1] = FakeRecord::raw(
        "oai:fake.example:2",
        records[1].datestamp,
        &[],
        "<oai_dc:dc xmlns:oai_dc=\"http://www.openarchives.org/OAI/2.0/oai_dc/\">a < b</oai_dc:dc>",
    );
    let p = FakeProvider::start(ProviderConfig::default(), records).await;
    let url = p.base_url();
    let mut c = sheaf(&db);
    c.args(["harvest", &url]);
    tokio::task::spawn_blocking(move || run_ok(&mut c))
        .await
        .unwrap();
    let out = run_ok(sheaf(&db).args(["runs", "show", "1"]));
    assert!(out.contains("3 new") && out.contains("1 failed"), "{out}");
    assert!(
        out.contains("quarantined: oai:fake.example:2 at byte"),
        "{out}"
    );
    assert!(out.contains("(unresolved)"), "{out}");
}

fn serve(db: &TestDb, listen: &str) -> std::process::Child {
    sheaf(db)
        .args(["serve", "--listen", listen])
        .env("SHEAF_ADMIN_TOKEN", "tok")
        .env("SHEAF_SERVICE__TICK_SECS", "1")
        .env("SHEAF_HARVEST__LEASE_TTL_SECS", "3")
        .env("SHEAF_SERVICE__PER_HOST_RUNS", "4")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn sheaf serve")
}

fn signal(child: &std::process::Child, sig: nix::sys::signal::Signal) {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(child.id() as i32), sig).unwrap();
}

/// Three `sheaf serve` processes on one database keep 50 due sources harvested; one is
/// killed with SIGKILL mid-harvest and another finishes its run from the checkpoint; a
/// manual trigger through the API and one through the CLI each start exactly one run; the
/// others stop cleanly on SIGTERM. Every source ends with exact records and no run left
/// running, and no source was ever harvested by two processes at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_serve_processes_share_one_database_and_survive_a_kill() {
    let db = TestDb::new().await;
    let p = FakeProvider::start(
        ProviderConfig {
            page_size: 5,
            ..Default::default()
        },
        FakeRecord::series(30, utc("2022-01-01T00:00:00Z")),
    )
    .await;
    // Every list request of page 3 is slow, so runs are in flight when the kill comes.
    p.inject_always(When::Page(3), Fault::Delay(Duration::from_millis(700)));
    for i in 0..50 {
        let s =
            common::harness::add_source(&db.store, &format!("s{i:02}"), &p.base_url(), &[]).await;
        db.store
            .update_source(
                &s.name,
                &sheaf::store::SourcePatch {
                    schedule: Some(Some("0 3 * * *".into())),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        db.store
            .set_next_run(
                s.id,
                Some(chrono::Utc::now() - chrono::TimeDelta::minutes(5)),
            )
            .await
            .unwrap();
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let api = format!("127.0.0.1:{port}");
    let mut workers: Vec<_> = (0..3)
        .map(|i| serve(&db, if i == 1 { &api } else { "127.0.0.1:0" }))
        .collect();
    let started = Instant::now();
    // Kill a worker once it holds a lease on a run that has committed pages: the first of
    // the two without the API to do so. (Waiting for one given process made the test fail
    // on a loaded machine: a process that started late found every source taken.)
    let victim = 'found: loop {
        for i in [0, 2] {
            let busy: i64 = sqlx::query_scalar("SELECT count(*) FROM harvest_runs WHERE status = 'running' AND pages >= 1 AND worker LIKE '%:' || $1 || ':%'")
                .bind(workers[i].id().to_string()).fetch_one(db.store.pool()).await.unwrap();
            if busy > 0 {
                break 'found i;
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no worker got a run with a committed page"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    signal(&workers[victim], nix::sys::signal::Signal::SIGKILL);
    workers[victim].wait().unwrap();

    loop {
        let done: i64 = sqlx::query_scalar(
            "SELECT count(DISTINCT source_id) FROM harvest_runs WHERE status = 'completed'",
        )
        .fetch_one(db.store.pool())
        .await
        .unwrap();
        if done == 50 {
            break;
        }
        if started.elapsed() > Duration::from_secs(100) {
            let dbg: Vec<(i64, i64, String, Option<String>, String, i32)> = sqlx::query_as(
                "SELECT r.source_id, r.id, r.status, r.error, r.worker, r.pages FROM harvest_runs r WHERE r.source_id NOT IN (SELECT source_id FROM harvest_runs WHERE status = 'completed') ORDER BY 1, 2",
            ).fetch_all(db.store.pool()).await.unwrap();
            // Diagnostics for a stuck source: its lease and schedule, as text.
            let src: Vec<String> = sqlx::query_scalar(
                "SELECT concat_ws(' ', id, lease_owner, lease_expires_at, next_run_at, consecutive_failures) FROM sources WHERE id NOT IN (SELECT source_id FROM harvest_runs WHERE status = 'completed')",
            ).fetch_all(db.store.pool()).await.unwrap();
            panic!("stuck: runs {dbg:?} sources {src:?}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "not every source completed ({done}/50)"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Manual triggers: one through the API of worker 1, one through the CLI.
    common::fake_provider::install_crypto_provider();
    let http = reqwest::Client::new();
    let resp = loop {
        match http
            .post(format!("http://{api}/api/sources/s07/harvest"))
            .header("content-type", "application/json")
            .body(r#"{"full": true}"#)
            .bearer_auth("tok")
            .send()
            .await
        {
            Ok(r) => break r,
            Err(_) if started.elapsed() < Duration::from_secs(60) => {
                tokio::time::sleep(Duration::from_millis(50)).await
            }
            Err(e) => panic!("API not reachable: {e}"),
        }
    };
    assert_eq!(resp.status(), 202);
    let api_run: serde_json::Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    let api_run = api_run["run_id"].as_i64().unwrap();
    let cli_run: i64 = run_ok(sheaf(&db).args(["trigger", "s08", "--full"]))
        .trim()
        .parse()
        .unwrap();
    for id in [api_run, cli_run] {
        loop {
            let r = db.store.run_by_id(id).await.unwrap();
            if r.status == "completed" {
                assert_eq!(
                    (r.trigger.as_str(), r.records_unchanged + r.records_new),
                    ("manual", 30)
                );
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(150),
                "manual run {id} did not complete: {}",
                r.status
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let manual: i64 =
        sqlx::query_scalar("SELECT count(*) FROM harvest_runs WHERE trigger = 'manual'")
            .fetch_one(db.store.pool())
            .await
            .unwrap();
    assert_eq!(manual, 2, "each trigger started exactly one run");

    for (i, w) in workers.iter().enumerate() {
        if i != victim {
            signal(w, nix::sys::signal::Signal::SIGTERM);
        }
    }
    for (i, w) in workers.iter_mut().enumerate() {
        if i != victim {
            let status = w.wait().unwrap();
            assert!(status.success(), "sheaf serve exited with {status}");
        }
    }

    let per_source: Vec<(i64, i64)> = sqlx::query_as(
        "SELECT source_id, count(*) FILTER (WHERE NOT deleted) FROM records GROUP BY 1 ORDER BY 1",
    )
    .fetch_all(db.store.pool())
    .await
    .unwrap();
    assert_eq!(per_source.len(), 50);
    assert!(per_source.iter().all(|(_, n)| *n == 30), "{per_source:?}");
    let stuck: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM harvest_runs WHERE status IN ('running', 'queued')",
    )
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    assert_eq!(stuck, 0, "no run is left running");
    // (id, resumed by, pages committed) of the killed worker's runs.
    let abandoned: Vec<(i64, Option<i64>, i32)> = sqlx::query_as(
        "SELECT a.id, (SELECT r.id FROM harvest_runs r WHERE r.resumed_from = a.id), a.pages FROM harvest_runs a WHERE a.status = 'abandoned'",
    ).fetch_all(db.store.pool()).await.unwrap();
    assert!(
        abandoned.iter().any(|(_, _, pages)| *pages >= 1),
        "the killed worker's run with committed pages was taken over: {abandoned:?}"
    );
    // A run killed before its first page has no checkpoint: the next run starts afresh
    // (and the source completed, checked above).
    assert!(
        abandoned
            .iter()
            .all(|(_, by, pages)| by.is_some() || *pages == 0),
        "every abandoned run with a checkpoint was resumed: {abandoned:?}"
    );
    // Runs of one source never overlapped in time.
    let overlaps: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM harvest_runs a JOIN harvest_runs b ON a.source_id = b.source_id AND a.id < b.id \
         WHERE a.status <> 'abandoned' AND b.started_at < a.finished_at",
    ).fetch_one(db.store.pool()).await.unwrap();
    assert_eq!(overlaps, 0);
}

/// `config check` prints the effective configuration with secrets redacted and names the
/// key of a bad value; the sample production config is valid.
#[tokio::test]
async fn config_check_redacts_secrets_and_names_bad_keys() {
    let db = TestDb::new().await;
    let out = run_ok(
        sheaf(&db)
            .args(["config", "check"])
            .env("SHEAF_ADMIN_TOKEN", "topsecret")
            .env("DATABASE_URL", "postgres://u:pw@db.example/sheaf"),
    );
    assert!(out.contains("admin_token = \"***\""), "{out}");
    assert!(out.contains("postgres://u:***@db.example/sheaf"), "{out}");
    assert!(!out.contains("topsecret") && !out.contains(":pw@"), "{out}");
    let out = run_ok(sheaf(&db).args(["--config", "config/production.toml", "config", "check"]));
    assert!(out.contains("per_host_runs = 1"), "{out}");

    let bad = sheaf(&db)
        .args(["config", "check"])
        .env("SHEAF_SERVICE__LISTEN", "nowhere")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("service.listen"));
    let dir = tempfile::tempdir().unwrap();
    let sources = dir.path().join("sources.toml");
    std::fs::write(
        &sources,
        "[[source]]\nname = \"x\"\nurl = \"https://x.example/oai\"\nschedule = \"0 3 * * 9\"\n",
    )
    .unwrap();
    let bad = sheaf(&db)
        .args(["config", "check"])
        .env("SHEAF_SERVICE__SOURCES_FILE", &sources)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("schedule"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
}

/// `sources add` checks the endpoint first and says what is wrong; enable/disable/show/remove work.
#[tokio::test]
async fn sources_add_validates_the_endpoint() {
    let db = TestDb::new().await;
    let p = FakeProvider::start(
        ProviderConfig {
            sets: vec![("j".into(), "Journal".into())],
            ..Default::default()
        },
        FakeRecord::series(2, utc("2022-01-01T00:00:00Z")),
    )
    .await;
    let url = p.base_url();
    let check = |args: Vec<String>| {
        let mut c = sheaf(&db);
        c.args(args);
        tokio::task::spawn_blocking(move || c.output().unwrap())
    };
    let out = check(vec![
        "sources".into(),
        "add".into(),
        "j".into(),
        url.clone(),
        "--prefix".into(),
        "marcxml".into(),
    ])
    .await
    .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("does not offer metadataPrefix \"marcxml\"; it offers: oai_dc")
    );
    let out = check(vec![
        "sources".into(),
        "add".into(),
        "j".into(),
        url.clone(),
        "--set".into(),
        "nope".into(),
    ])
    .await
    .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("unknown set(s) [\"nope\"]"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = check(vec![
        "sources".into(),
        "add".into(),
        "j".into(),
        url.clone(),
        "--set".into(),
        "j".into(),
        "--schedule".into(),
        "0 3 * * 1-5".into(),
    ])
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("added j (Fake Journal)"));
    run_ok(sheaf(&db).args(["sources", "disable", "j"]));
    let shown = run_ok(sheaf(&db).args(["sources", "show", "j"]));
    assert!(
        shown.contains("enabled: false") && shown.contains("0 3 * * 1-5"),
        "{shown}"
    );
    let out = run_ok(sheaf(&db).args(["trigger", "j"]));
    assert_eq!(out.trim(), "1");
    let out = run_ok(sheaf(&db).args(["trigger", "j", "--full"]));
    assert!(out.starts_with("1 (joined"), "{out}");
    run_ok(sheaf(&db).args(["sources", "remove", "j"]));
    assert!(db.store.list_sources().await.unwrap().is_empty());
}

/// `sources add` takes per-source settings: headers, basic auth by reference, any other
/// setting as TOML; they are checked before anything is stored and shown redacted.
#[tokio::test]
async fn sources_add_takes_settings_checks_them_and_shows_them_redacted() {
    let db = TestDb::new().await;
    let url = "http://127.0.0.1:9/oai";
    let add = |extra: &[&str]| {
        let mut c = sheaf(&db);
        c.args(["sources", "add", "s", url, "--no-check"])
            .args(extra)
            .env("HARVEST_TEST_PW", "pw");
        c
    };
    for (bad, says) in [
        (vec!["--setting", "nope = 1"], "nope"),
        (vec!["--setting", "window_days = \"a year\""], "window_days"),
        (vec!["--header", "Host: x"], "Host"),
        (vec!["--header", "no colon"], "Name: value"),
        (
            vec![
                "--basic-auth-user",
                "u",
                "--password-env",
                "HARVEST_TEST_UNSET_VAR_9",
            ],
            "HARVEST_TEST_UNSET_VAR_9",
        ),
        (vec!["--ca-bundle", "/nonexistent/ca.pem"], "ca_bundle"),
    ] {
        let out = add(&bad).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{bad:?} accepted");
        assert!(err.contains(says), "{bad:?}: {err}");
    }
    assert!(db.store.list_sources().await.unwrap().is_empty());

    run_ok(&mut add(&[
        "--header",
        "X-Api-Key: k-123",
        "--basic-auth-user",
        "harvester",
        "--password-env",
        "HARVEST_TEST_PW",
        "--setting",
        "window_days = 30",
        "--setting",
        "request_timeout_secs = 600",
    ]));
    let shown: serde_json::Value =
        serde_json::from_str(&run_ok(sheaf(&db).args(["sources", "show", "s", "--json"]))).unwrap();
    assert_eq!(
        shown["settings"],
        serde_json::json!({
            "request_timeout_secs": 600,
            "window_days": 30,
            "headers": {"X-Api-Key": "***"},
            "basic_auth": {"username": "harvester", "password_env": "HARVEST_TEST_PW"}
        })
    );
    let text = run_ok(sheaf(&db).args(["sources", "show", "s"]));
    assert!(
        text.contains("settings:") && !text.contains("k-123"),
        "{text}"
    );
    let stored = db.store.source_by_name("s").await.unwrap().unwrap();
    assert_eq!(stored.settings["headers"]["X-Api-Key"], "k-123");
}
