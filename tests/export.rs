//! Harvest records in the platform styles sheaf meets, then export them: each record comes
//! out with what a careful cataloguer would write down.

mod common;

use std::process::Command;

use common::db::TestDb;
use common::fake_provider::{FakeProvider, FakeRecord, ProviderConfig, utc};
use common::harness::*;
use serde_json::Value;

const DSPACE7: &str = r#"<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <dc:title>Soil carbon in boreal forests</dc:title>
  <dc:creator>Virtanen, Matti</dc:creator><dc:creator>Korhonen, Anna; Mäkinen, Pekka</dc:creator>
  <dc:subject>carbon; soil; boreal forests</dc:subject>
  <dc:date>2019-03-04T10:11:12Z</dc:date><dc:date>2019-03-04T10:11:12Z</dc:date><dc:date>2018</dc:date>
  <dc:type>Article</dc:type>
  <dc:identifier>http://hdl.handle.net/10138/12345</dc:identifier>
  <dc:identifier>doi:10.1016/J.GEODERMA.2018.01.001</dc:identifier>
  <dc:language>eng</dc:language>
</oai_dc:dc>"#;

const EPRINTS: &str = r#"<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <dc:title>A study of peer review</dc:title>
  <dc:creator>Smith, John</dc:creator>
  <dc:type>Article</dc:type><dc:type>PeerReviewed</dc:type>
  <dc:identifier>https://eprints.example.ac.uk/123/1/paper.pdf</dc:identifier>
  <dc:identifier>Smith, John (2020) A study of peer review. Journal of Reviews, 5 (2). pp. 10-20. ISSN 2049-3630</dc:identifier>
  <dc:relation>https://eprints.example.ac.uk/123/</dc:relation>
  <dc:relation>https://doi.org/10.1234/jor.2020.5</dc:relation>
  <dc:date>2020-05</dc:date>
</oai_dc:dc>"#;

/// The seed article, an OJS-like record, a DSpace 7 record and an EPrints record survive
/// harvest and `sheaf export --format jsonl` with every visible field.
#[tokio::test]
async fn exported_records_carry_what_a_cataloguer_would_write_down() {
    let db = TestDb::new().await;
    let seed = std::fs::read_to_string("tests/data/seed_article_oai_dc.xml").unwrap();
    let records = vec![
        FakeRecord::raw(
            "oai:dvostok.example.org:article/123",
            utc("2022-06-21T00:00:00Z"),
            &["dvostok"],
            &seed,
        ),
        FakeRecord::raw(
            "oai:dspace.example:10138/12345",
            utc("2022-06-22T00:00:00Z"),
            &[],
            DSPACE7,
        ),
        FakeRecord::raw(
            "oai:eprints.example.ac.uk:123",
            utc("2022-06-23T00:00:00Z"),
            &[],
            EPRINTS,
        ),
        FakeRecord::deleted(
            "oai:dvostok.example.org:article/9",
            utc("2022-06-24T00:00:00Z"),
            &["dvostok"],
        ),
    ];
    let p = FakeProvider::start(ProviderConfig::default(), records).await;
    let src = add_source(&db.store, "dvostok", &p.base_url(), &[]).await;
    harvest_ok(&harvester(&db.store), &src, &opts()).await;

    let out = Command::new(env!("CARGO_BIN_EXE_sheaf"))
        .args(["export", "--format", "jsonl"])
        .env("DATABASE_URL", &db.url)
        .env("SHEAF_LOG__LEVEL", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    let by_id = |oai: &str| {
        lines
            .iter()
            .find(|v| v["oai_identifier"] == oai)
            .unwrap()
            .clone()
    };

    let a = by_id("oai:dvostok.example.org:article/123");
    assert_eq!(a["source"], "dvostok");
    assert_eq!(a["sets"], serde_json::json!(["dvostok"]));
    let titles: Vec<(&str, &str)> = a["titles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["value"].as_str().unwrap(), t["lang"].as_str().unwrap()))
        .collect();
    assert!(
        titles.contains(&(
            "Russian Priorities and Approaches to the Korean Peninsula",
            "en"
        )),
        "{titles:?}"
    );
    assert!(
        titles.contains(&(
            "Российские приоритеты и подходы к Корейскому полуострову",
            "ru"
        )),
        "{titles:?}"
    );
    assert_eq!(a["issued"], "2022-06-21");
    assert_eq!(a["source_info"]["title"], "Problemy Dalnego Vostoka");
    assert_eq!(a["source_info"]["issue"], "3");
    assert_eq!(a["source_info"]["volume"], Value::Null);
    assert_eq!(a["source_info"]["year"], 2022);
    let subjects: Vec<&str> = a["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["value"].as_str().unwrap())
        .collect();
    assert_eq!(
        subjects,
        [
            "Russia",
            "the Korean Peninsula",
            "DPRK",
            "Republic of Korea",
            "Six-Party Talks",
            "Denuclearization",
            "Unification",
            "Russia-DPRK-RK"
        ]
    );
    let abstract_ = a["descriptions"][0]["value"].as_str().unwrap();
    assert!(
        abstract_.starts_with("The paper comprehensively examines Russia’s foreign policy"),
        "{abstract_}"
    );
    assert!(
        !abstract_.contains('<') && !abstract_.contains("&rsquo;"),
        "{abstract_}"
    );
    assert_eq!(a["doi"], "10.31857/s013128120020016-6");
    assert_eq!(a["types"], serde_json::json!(["article"]));
    assert_eq!(a["languages"], serde_json::json!(["ru"]));
    assert_eq!(a["rights"][0]["license"], "CC-BY-4.0");
    assert_eq!(
        a["creators"].as_array().unwrap().len(),
        1,
        "one person across two locales: {}",
        a["creators"]
    );
    // The record is in Russian (dc:language), so the Russian form leads; the English one
    // is kept as a variant of the same person.
    assert_eq!(a["creators"][0]["family"], "Лукин");
    assert!(
        a["creators"][0]["variants"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v["family"] == "Lukin"),
        "{}",
        a["creators"]
    );

    let d = by_id("oai:dspace.example:10138/12345");
    let names: Vec<&str> = d["creators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["family"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Virtanen", "Korhonen", "Mäkinen"]);
    assert_eq!(d["doi"], "10.1016/j.geoderma.2018.01.001");
    assert_eq!(d["issued"], "2018");
    assert_eq!(d["subjects"].as_array().unwrap().len(), 3);
    assert!(
        d["identifiers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["scheme"] == "handle")
    );

    let e = by_id("oai:eprints.example.ac.uk:123");
    assert_eq!(e["doi"], "10.1234/jor.2020.5");
    assert_eq!(e["issued"], "2020-05");
    assert_eq!(e["source_info"]["issn"], "2049-3630");

    let gone = by_id("oai:dvostok.example.org:article/9");
    assert_eq!(
        (
            gone["deleted"].as_bool(),
            gone["titles"].as_array().map(Vec::len)
        ),
        (Some(true), Some(0))
    );

    // The same object from `records show --json`, by DOI.
    let show = Command::new(env!("CARGO_BIN_EXE_sheaf"))
        .args([
            "records",
            "show",
            "https://doi.org/10.31857/S013128120020016-6",
            "--json",
        ])
        .env("DATABASE_URL", &db.url)
        .output()
        .unwrap();
    let shown: Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(shown, a);
}

/// `db renormalize` rewrites only records whose normalized output changes, each with a new
/// change sequence.
#[tokio::test]
async fn renormalize_rewrites_only_what_changes() {
    let db = TestDb::new().await;
    let p = FakeProvider::start(
        ProviderConfig::default(),
        FakeRecord::series(5, utc("2022-01-01T00:00:00Z")),
    )
    .await;
    let src = add_source(&db.store, "j", &p.base_url(), &[]).await;
    harvest_ok(&harvester(&db.store), &src, &opts()).await;
    // Simulate records stored by older rules.
    sqlx::query("UPDATE records SET normalized = jsonb_set(normalized, '{issued}', '\"old\"'), issued = 'old' WHERE oai_identifier IN ('oai:fake.example:1', 'oai:fake.example:2')")
        .execute(db.store.pool()).await.unwrap();
    let before: Vec<(String, i64)> =
        sqlx::query_as("SELECT oai_identifier, change_seq FROM records ORDER BY 1")
            .fetch_all(db.store.pool())
            .await
            .unwrap();
    let r = sheaf::harvest::renormalize::renormalize(&db.store, Some(src.id))
        .await
        .unwrap();
    assert_eq!((r.examined, r.changed, r.unparseable), (5, 2, 0));
    let after: Vec<(String, i64, Option<String>)> =
        sqlx::query_as("SELECT oai_identifier, change_seq, issued FROM records ORDER BY 1")
            .fetch_all(db.store.pool())
            .await
            .unwrap();
    for ((id, seq0), (_, seq1, issued)) in before.iter().zip(&after) {
        let touched = id.ends_with(":1") || id.ends_with(":2");
        assert_eq!(seq1 > seq0, touched, "{id}");
        assert_ne!(issued.as_deref(), Some("old"));
    }
    let again = sheaf::harvest::renormalize::renormalize(&db.store, None)
        .await
        .unwrap();
    assert_eq!(again.changed, 0);
}
