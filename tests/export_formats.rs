//! `sheaf export --format csv|oai_dc` and `--since` (a change cursor or a time), run as the
//! real binary against a harvested database, each output parsed back.
//!
//! Constant memory is by construction, not measured: the export reads rows from one
//! streamed query (`Store::stream_records`) and each writer (`provider::export`) holds one
//! row at a time and writes it through a buffered sink, so nothing accumulates per record.

mod common;

use std::process::Command;

use common::db::TestDb;
use common::fake_provider::{FakeProvider, FakeRecord, ProviderConfig, utc};
use common::harness::*;
use sheaf::oai::Verb;
use sheaf::oai::response::{Payload, parse};
use sheaf::provider::export::CSV_COLUMNS;

fn export(db: &TestDb, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_sheaf"))
        .arg("export")
        .args(args)
        .env("DATABASE_URL", &db.url)
        .env("SHEAF_LOG__LEVEL", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The seed article, a small series and a tombstone, harvested as source `journal`.
async fn harvested() -> (TestDb, FakeProvider, sheaf::store::Source) {
    let db = TestDb::new().await;
    let seed = std::fs::read_to_string("tests/data/seed_article_oai_dc.xml").unwrap();
    let mut records = FakeRecord::series(3, utc("2022-07-01T00:00:00Z"));
    records.push(FakeRecord::raw(
        "oai:dvostok.example.org:article/123",
        utc("2022-06-21T00:00:00Z"),
        &["dvostok"],
        &seed,
    ));
    records.push(FakeRecord::deleted(
        "oai:dvostok.example.org:article/9",
        utc("2022-06-24T00:00:00Z"),
        &["dvostok"],
    ));
    let p = FakeProvider::start(ProviderConfig::default(), records).await;
    let src = add_source(&db.store, "journal", &p.base_url(), &[]).await;
    harvest_ok(&harvester(&db.store), &src, &opts()).await;
    (db, p, src)
}

fn csv_rows(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let header = r.headers().unwrap().iter().map(str::to_owned).collect();
    let rows = r
        .records()
        .map(|rec| rec.unwrap().iter().map(str::to_owned).collect())
        .collect();
    (header, rows)
}

/// CSV: a header of the documented columns, one row per record, lists joined with "; ",
/// values with commas, quotes and Cyrillic intact.
#[tokio::test]
async fn csv_export_has_one_flat_row_per_record() {
    let (db, _p, _src) = harvested().await;
    let (header, rows) = csv_rows(&export(&db, &["--format", "csv"]));
    assert_eq!(header, CSV_COLUMNS);
    assert_eq!(rows.len(), 5);
    let col = |name: &str| CSV_COLUMNS.iter().position(|c| *c == name).unwrap();
    let seed = rows
        .iter()
        .find(|r| r[col("oai_identifier")] == "oai:dvostok.example.org:article/123")
        .unwrap();
    assert_eq!(seed[col("source")], "journal");
    assert_eq!(seed[col("doi")], "10.31857/s013128120020016-6");
    assert_eq!(seed[col("issued")], "2022-06-21");
    assert_eq!(
        seed[col("title")],
        "Российские приоритеты и подходы к Корейскому полуострову"
    );
    assert_eq!(seed[col("creators")], "Лукин, Артём");
    assert!(
        seed[col("subjects")].starts_with("Russia; the Korean Peninsula; DPRK"),
        "{}",
        seed[col("subjects")]
    );
    assert_eq!(seed[col("languages")], "ru");
    assert_eq!(seed[col("types")], "article");
    assert_eq!(seed[col("journal")], "Problemy Dalnego Vostoka");
    assert_eq!(seed[col("issue")], "3");
    assert_eq!(
        seed[col("url")],
        "https://dvostok.example.org/s013128120020016-6-1/"
    );
    assert_eq!(seed[col("license")], "CC-BY-4.0");
    assert_eq!(seed[col("deleted")], "false");
    let gone = rows
        .iter()
        .find(|r| r[col("oai_identifier")] == "oai:dvostok.example.org:article/9")
        .unwrap();
    assert_eq!(
        (gone[col("deleted")].as_str(), gone[col("title")].as_str()),
        ("true", "")
    );
}

/// oai_dc: one OAI-PMH ListRecords document that sheaf's own parser reads back; the dc of
/// every live record normalizes to exactly what is stored; tombstones are deleted headers.
#[tokio::test]
async fn oai_dc_export_is_a_list_records_document_that_reads_back() {
    let (db, _p, _src) = harvested().await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("out.xml");
    let printed = export(&db, &["--format", "oai_dc", "-o", file.to_str().unwrap()]);
    assert!(printed.is_empty(), "with -o nothing goes to stdout");
    let xml = std::fs::read_to_string(&file).unwrap();
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>"));
    let resp = parse(&xml, Verb::ListRecords, "export").unwrap();
    assert!(resp.token.is_none());
    let Payload::Records(recs) = resp.payload else {
        panic!("{xml}")
    };
    let stored: Vec<(String, bool, Option<serde_json::Value>)> =
        sqlx::query_as("SELECT oai_identifier, deleted, normalized FROM records ORDER BY id")
            .fetch_all(db.store.pool())
            .await
            .unwrap();
    assert_eq!(recs.len(), stored.len());
    for (rec, (id, deleted, normalized)) in recs.iter().zip(&stored) {
        assert_eq!(&rec.header.identifier, id);
        assert_eq!(rec.header.deleted, *deleted);
        assert_eq!(rec.header.sets[0], "journal");
        match &rec.metadata {
            Some(md) => {
                let again = sheaf::normalize::normalize(&md.dc).record;
                assert_eq!(
                    Some(serde_json::to_value(&again).unwrap()),
                    *normalized,
                    "{id}"
                );
            }
            None => assert!(*deleted, "{id} has metadata"),
        }
    }
}

/// `--since N` exports records changed after change cursor N; `--since TIME` those
/// changed at or after TIME; a bad value is refused with the accepted forms named.
#[tokio::test]
async fn since_takes_a_change_cursor_or_a_time() {
    let (db, p, src) = harvested().await;
    let cursor: i64 = sqlx::query_scalar("SELECT max(change_seq) FROM records")
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    p.upsert_record(FakeRecord::dc(
        "oai:fake.example:2",
        utc("2030-01-01T00:00:00Z"),
        &[],
        "Article 2, revised",
    ));
    harvest_ok(&harvester(&db.store), &src, &opts()).await;
    let ids = |text: &str| -> Vec<String> {
        text.lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["oai_identifier"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect()
    };
    let changed = export(&db, &["--since", &cursor.to_string()]);
    assert_eq!(ids(&changed), ["oai:fake.example:2"]);
    assert_eq!(ids(&export(&db, &["--since", "0"])).len(), 5);
    let (_, rows) = csv_rows(&export(
        &db,
        &["--format", "csv", "--since", &cursor.to_string()],
    ));
    assert_eq!(rows.len(), 1);
    assert_eq!(ids(&export(&db, &["--since", "2999-01-01"])).len(), 0);
    assert_eq!(
        ids(&export(&db, &["--since", "2000-01-01T00:00:00Z"])).len(),
        5
    );

    let bad = Command::new(env!("CARGO_BIN_EXE_sheaf"))
        .args(["export", "--since", "yesterday"])
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("change cursor"), "{err}");
}
