//! `sheaf records search` as a user runs it: JSON lines when piped or with `--json` (the
//! same contract objects as `records show`), filters, errors naming the flag, and a table
//! that fits the terminal on a TTY.

mod common;

use std::process::Command;

use common::db::TestDb;
use common::fake_provider::{FakeProvider, FakeRecord, ProviderConfig, utc};
use common::harness::*;
use serde_json::Value;

fn sheaf(db: &TestDb) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_sheaf"));
    c.env("DATABASE_URL", &db.url)
        .env("SHEAF_LOG__LEVEL", "warn")
        .env_remove("SHEAF_CONFIG");
    c
}

fn stdout_ok(c: &mut Command) -> String {
    let out = c.output().expect("run sheaf");
    assert!(
        out.status.success(),
        "sheaf failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

fn json_lines(s: &str) -> Vec<Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn harvested() -> TestDb {
    let db = TestDb::new().await;
    let seed = std::fs::read_to_string("tests/data/seed_article_oai_dc.xml").unwrap();
    let at = utc("2022-06-21T00:00:00Z");
    let mut records = vec![FakeRecord::raw(
        "oai:dvostok.example.org:article/123",
        at,
        &["dvostok"],
        &seed,
    )];
    records.extend(FakeRecord::series(3, utc("2021-01-01T00:00:00Z")));
    let p = FakeProvider::start(ProviderConfig::default(), records).await;
    let src = add_source(&db.store, "dvostok", &p.base_url(), &[]).await;
    harvest_ok(&harvester(&db.store), &src, &opts()).await;
    db
}

/// Piped, the search prints one contract object per line, identical to `records show`.
#[tokio::test]
async fn search_prints_contract_objects_as_json_lines() {
    let db = harvested().await;
    for args in [
        &["records", "search", "Korean Peninsula"][..],
        &["records", "search", "Корейский полуостров", "--json"],
    ] {
        let found = json_lines(&stdout_ok(sheaf(&db).args(args)));
        assert_eq!(found.len(), 1, "{args:?}: {found:?}");
        assert_eq!(found[0]["doi"], "10.31857/s013128120020016-6");
        let id = found[0]["id"].to_string();
        let shown: Value = serde_json::from_str(&stdout_ok(
            sheaf(&db).args(["records", "show", &id, "--json"]),
        ))
        .unwrap();
        assert_eq!(found[0], shown);
    }
}

/// Filters narrow the search exactly as the API's parameters do; bad values name the flag.
#[tokio::test]
async fn search_filters_and_flag_errors() {
    let db = harvested().await;
    let oai = |args: &[&str]| -> Vec<String> {
        let mut c = sheaf(&db);
        c.args(["records", "search"]).args(args);
        json_lines(&stdout_ok(&mut c))
            .iter()
            .map(|v| v["oai_identifier"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(oai(&[]).len(), 4);
    assert_eq!(
        oai(&["--language", "Russian", "--type", "article", "--has-doi"]),
        ["oai:dvostok.example.org:article/123"]
    );
    assert_eq!(oai(&["--issued-until", "2021"]).len(), 3);
    assert_eq!(oai(&["article", "--limit", "2"]).len(), 2);
    assert_eq!(
        oai(&["--doi", "https://doi.org/10.1234/FAKE.2"]),
        ["oai:fake.example:2"]
    );
    assert!(oai(&["--set", "nothing-here"]).is_empty());

    for (args, flag) in [
        (&["--issued-from", "2022-13"][..], "--issued-from"),
        (&["--limit", "0"], "--limit"),
        (&["--type", "poem"], "--type"),
        (&["--source", "elsewhere"], "elsewhere"),
    ] {
        let out = sheaf(&db)
            .args(["records", "search"])
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag), "{args:?}: {err}");
    }
}

/// On a terminal (a pseudo-terminal from `script`) the result is a table cut to its width.
#[tokio::test]
async fn search_on_a_terminal_prints_a_table_that_fits() {
    let db = harvested().await;
    let cmd = format!(
        "stty rows 24 cols 64; '{}' records search 'Korean Peninsula OR article'",
        env!("CARGO_BIN_EXE_sheaf")
    );
    let out = Command::new("script")
        .args(["-qec", &cmd, "/dev/null"])
        .env("DATABASE_URL", &db.url)
        .env("SHEAF_LOG__LEVEL", "warn")
        .env_remove("SHEAF_CONFIG")
        .output()
        .expect("util-linux `script` runs the command on a pseudo-terminal");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap().replace('\r', "");
    let lines: Vec<&str> = text.lines().filter(|l| !l.is_empty()).collect();
    assert!(
        lines[0].contains("ID  ISSUED      SOURCE   TITLE"),
        "{text}"
    );
    assert_eq!(lines.len(), 5, "{text}");
    assert!(
        lines.iter().all(|l| l.chars().count() <= 64),
        "wider than the terminal:\n{text}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.contains("2022-06-21  dvostok  Российские") && l.ends_with('…')),
        "{text}"
    );
}
