//! End-to-end harvests against the in-process fake provider into a real PostgreSQL.

mod common;

use chrono::TimeDelta;
use common::db::TestDb;
use common::fake_provider::{
    FakeProvider, FakeRecord, Granularity, ProviderConfig, TokenStyle, utc,
};
use common::harness::*;

fn mixed_records() -> Vec<FakeRecord> {
    // 95 records: every 7th deleted, alternating between two sets, one hierarchical.
    (1..=95)
        .map(|i| {
            let id = format!("oai:fake.example:{i:03}");
            let ts = utc("2022-01-01T00:00:00Z") + TimeDelta::hours(i);
            let set: &[&str] = if i % 2 == 0 { &["j:art"] } else { &["j:rev"] };
            if i % 7 == 0 {
                FakeRecord::deleted(&id, ts, set)
            } else {
                FakeRecord::dc(&id, ts, set, &format!("Article {i}"))
            }
        })
        .collect()
}

/// Every record a multi-page list serves is stored exactly once, tombstones included.
#[tokio::test]
async fn a_full_harvest_stores_exactly_what_the_provider_serves() {
    let db = TestDb::new().await;
    let cfg = ProviderConfig {
        page_size: 10,
        sets: vec![
            ("j".into(), "J".into()),
            ("j:art".into(), "Articles".into()),
            ("j:rev".into(), "Reviews".into()),
        ],
        compression: true,
        ..Default::default()
    };
    let p = FakeProvider::start(cfg, mixed_records()).await;
    let src = add_source(&db.store, "fake", &p.base_url(), &[]).await;
    let run = harvest_ok(&harvester(&db.store), &src, &opts()).await;

    assert_eq!(run.status, "completed");
    assert_eq!(run.pages, 10);
    assert_eq!(run.records_new, 82);
    assert_eq!(run.records_deleted, 13);
    assert_eq!(
        (
            run.records_updated,
            run.records_unchanged,
            run.records_failed
        ),
        (0, 0, 0)
    );
    assert!(run.bytes > 0);
    let rows = stored(&db.store, src.id).await;
    assert_eq!(rows.len(), 95);
    for (id, deleted, title, has_raw) in &rows {
        let n: i64 = id.rsplit(':').next().unwrap().parse().unwrap();
        assert_eq!(*deleted, n % 7 == 0, "{id}");
        assert_eq!(*has_raw, n % 7 != 0, "{id}");
        if n % 7 != 0 {
            assert_eq!(title.as_deref(), Some(format!("Article {n}").as_str()));
        }
    }
    // Sets are kept per record; Identify is saved on the source.
    let sets: Vec<String> = sqlx::query_scalar(
        "SELECT sets[1] FROM records WHERE oai_identifier = 'oai:fake.example:002'",
    )
    .fetch_all(db.store.pool())
    .await
    .unwrap();
    assert_eq!(sets, vec!["j:art"]);
    let s = db.store.source_by_id(src.id).await.unwrap();
    assert_eq!(s.granularity.as_deref(), Some("YYYY-MM-DDThh:mm:ssZ"));
    assert_eq!(s.deleted_record.as_deref(), Some("persistent"));
    // Identify first, then the first page without dates (a first harvest is full),
    // then only verb + token.
    let reqs = p.requests();
    assert_eq!(reqs[0].verb.as_deref(), Some("Identify"));
    assert_eq!(
        (reqs[1].from.as_deref(), reqs[1].until.as_deref()),
        (None, None)
    );
    for r in &reqs[2..] {
        assert_eq!(r.param_names(), vec!["verb", "resumptionToken"]);
    }
    assert!(reqs.iter().all(|r| {
        r.user_agent
            .as_deref()
            .is_some_and(|ua| ua.starts_with("sheaf/"))
    }));
    assert!(
        reqs[1]
            .accept_encoding
            .as_deref()
            .is_some_and(|a| a.contains("gzip"))
    );
    assert_eq!(reqs[1].content_encoding, Some("gzip"));
}

/// The second run asks only for what changed since the server's own clock said the first
/// run began (minus one granule) and rewrites nothing.
#[tokio::test]
async fn a_second_run_is_incremental_and_changes_nothing() {
    let db = TestDb::new().await;
    let cfg = ProviderConfig {
        page_size: 7,
        response_date: Some(utc("2023-05-01T12:00:00Z")),
        ..Default::default()
    };
    let p = FakeProvider::start(cfg, mixed_records()).await;
    let src = add_source(&db.store, "fake", &p.base_url(), &[]).await;
    let h = harvester(&db.store);
    let first = harvest_ok(&h, &src, &opts()).await;
    assert_eq!(first.first_response_date, Some(utc("2023-05-01T12:00:00Z")));

    // Records re-stamped "now" by the server come back but are unchanged (quirks #10).
    let mut again = p.records();
    for r in again.iter_mut().take(5) {
        r.datestamp = utc("2023-05-02T00:00:00Z");
    }
    p.set_records(again);
    p.set_response_date(Some(utc("2023-05-02T12:00:00Z")));
    p.clear_requests();
    let second = harvest_ok(&h, &src, &opts()).await;
    let list = p
        .requests()
        .into_iter()
        .find(|r| r.verb.as_deref() == Some("ListRecords"))
        .unwrap();
    assert_eq!(list.from.as_deref(), Some("2023-05-01T11:59:59Z"));
    assert_eq!(list.until, None);
    assert_eq!(
        (
            second.records_new,
            second.records_updated,
            second.records_deleted
        ),
        (0, 0, 0)
    );
    assert_eq!(second.records_unchanged, 5);
    let touched: i64 = sqlx::query_scalar("SELECT count(*) FROM records WHERE last_run_id = $1")
        .bind(second.id)
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    assert_eq!(touched, 0, "unchanged records are not rewritten");
}

/// Changes, deletions and resurrections after the first run are applied and counted.
#[tokio::test]
async fn updates_deletions_and_resurrections_are_applied() {
    let db = TestDb::new().await;
    let p = FakeProvider::start(
        ProviderConfig::default(),
        FakeRecord::series(12, utc("2022-01-01T00:00:00Z")),
    )
    .await;
    let src = add_source(&db.store, "fake", &p.base_url(), &[]).await;
    let h = harvester(&db.store);
    harvest_ok(&h, &src, &opts()).await;

    let later = utc("2030-01-01T00:00:00Z");
    p.upsert_record(FakeRecord::dc(
        "oai:fake.example:3",
        later,
        &[],
        "Article 3, corrected",
    ));
    assert!(p.delete_record("oai:fake.example:4", later));
    let run = harvest_ok(&h, &src, &opts()).await;
    assert_eq!(
        (run.records_new, run.records_updated, run.records_deleted),
        (0, 1, 1)
    );
    let rows = stored(&db.store, src.id).await;
    let get = |id: &str| rows.iter().find(|r| r.0 == id).unwrap().clone();
    assert_eq!(
        get("oai:fake.example:3").2.as_deref(),
        Some("Article 3, corrected")
    );
    let four = get("oai:fake.example:4");
    assert!(
        four.1 && !four.3 && four.2.is_none(),
        "tombstone keeps only the identifier: {four:?}"
    );

    p.upsert_record(FakeRecord::dc(
        "oai:fake.example:4",
        later + TimeDelta::days(1),
        &[],
        "Article 4 is back",
    ));
    let run = harvest_ok(&h, &src, &opts()).await;
    assert_eq!(run.records_updated, 1);
    let four = stored(&db.store, src.id)
        .await
        .into_iter()
        .find(|r| r.0 == "oai:fake.example:4")
        .unwrap();
    assert!(!four.1 && four.3);
    assert_eq!(four.2.as_deref(), Some("Article 4 is back"));
}

/// A day-granularity server gets day dates only.
#[tokio::test]
async fn day_granularity_servers_get_day_dates() {
    let db = TestDb::new().await;
    let cfg = ProviderConfig {
        granularity: Granularity::Day,
        response_date: Some(utc("2023-05-01T12:00:00Z")),
        ..Default::default()
    };
    let p = FakeProvider::start(cfg, FakeRecord::series(15, utc("2022-01-01T00:00:00Z"))).await;
    let src = add_source(&db.store, "fake", &p.base_url(), &[]).await;
    let h = harvester(&db.store);
    harvest_ok(&h, &src, &opts()).await;
    p.clear_requests();
    let run = harvest_ok(&h, &src, &opts()).await;
    let list = p
        .requests()
        .into_iter()
        .find(|r| r.verb.as_deref() == Some("ListRecords"))
        .unwrap();
    assert_eq!(list.from.as_deref(), Some("2023-04-30"));
    assert_eq!(run.status, "completed");

    // Explicit seconds-form dates are cut to days for this server, both bounds alike.
    p.clear_requests();
    let o = sheaf::harvest::HarvestOptions {
        from: Some("2022-01-01T00:05:00Z".into()),
        until: Some("2022-01-01".into()),
        ..opts()
    };
    let run = harvest_ok(&h, &src, &o).await;
    let list = p
        .requests()
        .into_iter()
        .find(|r| r.verb.as_deref() == Some("ListRecords"))
        .unwrap();
    assert_eq!(
        (list.from.as_deref(), list.until.as_deref()),
        (Some("2022-01-01"), Some("2022-01-01"))
    );
    assert_eq!(run.records_unchanged, 15);
}

/// Explicit windows are honoured by the server and do not become the incremental base.
#[tokio::test]
async fn explicit_from_and_until_select_a_window() {
    let db = TestDb::new().await;
    let p = FakeProvider::start(
        ProviderConfig::default(),
        FakeRecord::series(30, utc("2022-01-01T00:00:00Z")),
    )
    .await;
    let src = add_source(&db.store, "fake", &p.base_url(), &[]).await;
    let h = harvester(&db.store);
    let o = sheaf::harvest::HarvestOptions {
        from: Some("2022-01-01T00:10:00Z".into()),
        until: Some("2022-01-01T00:19:00Z".into()),
        ..opts()
    };
    let run = harvest_ok(&h, &src, &o).await;
    assert_eq!(run.records_new, 10);
    assert_eq!(
        db.store
            .incremental_base(src.id, "oai_dc", &[])
            .await
            .unwrap(),
        None
    );
    // The next plain run is therefore a full one.
    let run = harvest_ok(&h, &src, &opts()).await;
    assert_eq!((run.records_new, run.records_unchanged), (20, 10));
}

/// A source with sets harvests each set as its own list.
#[tokio::test]
async fn sets_are_harvested_one_list_each() {
    let db = TestDb::new().await;
    let cfg = ProviderConfig {
        page_size: 4,
        sets: vec![
            ("j".into(), "J".into()),
            ("j:art".into(), "A".into()),
            ("j:rev".into(), "R".into()),
        ],
        ..Default::default()
    };
    let p = FakeProvider::start(cfg, mixed_records()).await;
    let src = add_source(&db.store, "fake-rev", &p.base_url(), &["j:rev"]).await;
    let run = harvest_ok(&harvester(&db.store), &src, &opts()).await;
    let odd = (1..=95).filter(|i| i % 2 == 1).count() as i64;
    assert_eq!(run.records_new + run.records_deleted, odd);
    assert!(
        p.requests()
            .iter()
            .filter(|r| r.verb.as_deref() == Some("ListRecords") && r.resumption_token.is_none())
            .all(|r| r.set.as_deref() == Some("j:rev"))
    );

    let both = add_source(&db.store, "fake-both", &p.base_url(), &["j:art", "j:rev"]).await;
    let run = harvest_ok(&harvester(&db.store), &both, &opts()).await;
    assert_eq!(run.records_new + run.records_deleted, 95);
}

/// Whatever spelling the server uses for the last token, the list ends there, complete.
#[tokio::test]
async fn every_final_token_spelling_completes_the_list() {
    let db = TestDb::new().await;
    for (i, style) in [
        TokenStyle::Absent,
        TokenStyle::SelfClosing,
        TokenStyle::SelfClosingWithAttrs,
        TokenStyle::Whitespace,
    ]
    .into_iter()
    .enumerate()
    {
        let cfg = ProviderConfig {
            page_size: 5,
            token_style: style,
            ..Default::default()
        };
        let p = FakeProvider::start(cfg, FakeRecord::series(23, utc("2022-01-01T00:00:00Z"))).await;
        let src = add_source(&db.store, &format!("fake{i}"), &p.base_url(), &[]).await;
        let run = harvest_ok(&harvester(&db.store), &src, &opts()).await;
        assert_eq!((run.records_new, run.pages), (23, 5), "{style:?}");
        assert!(
            p.requests()
                .iter()
                .all(|r| r.resumption_token.as_deref() != Some("")),
            "{style:?}"
        );
    }
}

/// An empty repository (noRecordsMatch) completes with zero records.
#[tokio::test]
async fn an_empty_repository_completes_with_nothing() {
    let db = TestDb::new().await;
    let p = FakeProvider::start(ProviderConfig::default(), vec![]).await;
    let src = add_source(&db.store, "empty", &p.base_url(), &[]).await;
    let run = harvest_ok(&harvester(&db.store), &src, &opts()).await;
    assert_eq!(
        (run.status.as_str(), run.records_new, run.pages),
        ("completed", 0, 1)
    );
}

/// A run that fails midway keeps what it stored; the next run resumes from the checkpoint
/// token instead of starting over, and the totals are exact.
#[tokio::test]
async fn a_failed_run_resumes_from_its_checkpoint() {
    use common::fake_provider::{Fault, When};
    let db = TestDb::new().await;
    let cfg = ProviderConfig {
        page_size: 10,
        ..Default::default()
    };
    let p = FakeProvider::start(cfg, FakeRecord::series(50, utc("2022-01-01T00:00:00Z"))).await;
    let src = add_source(&db.store, "fake", &p.base_url(), &[]).await;
    let h = harvester(&db.store);
    p.inject_always(When::Page(3), Fault::status(500));
    let err = h
        .harvest(&src, &opts(), &sheaf::harvest::LogProgress)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("HTTP 500"), "{err}");
    let failed = db.store.list_runs(Some(src.id), 1).await.unwrap().remove(0);
    assert_eq!(
        (failed.status.as_str(), failed.pages, failed.records_new),
        ("failed", 3, 30)
    );
    let token = failed.resumption_token.clone().expect("checkpoint token");

    p.clear_faults();
    p.clear_requests();
    let run = harvest_ok(&h, &src, &opts()).await;
    assert_eq!(run.resumed_from, Some(failed.id));
    assert_eq!(run.records_new, 20);
    assert_eq!(run.first_response_date, failed.first_response_date);
    let lists: Vec<_> = p
        .requests()
        .into_iter()
        .filter(|r| r.verb.as_deref() == Some("ListRecords"))
        .collect();
    assert_eq!(lists[0].resumption_token.as_deref(), Some(token.as_str()));
    assert_eq!(stored(&db.store, src.id).await.len(), 50);
}

/// Two harvests of one source cannot overlap: the second is refused while the first holds
/// the lease.
#[tokio::test]
async fn a_source_is_never_harvested_twice_at_once() {
    let db = TestDb::new().await;
    let p = FakeProvider::start(
        ProviderConfig::default(),
        FakeRecord::series(5, utc("2022-01-01T00:00:00Z")),
    )
    .await;
    let src = add_source(&db.store, "fake", &p.base_url(), &[]).await;
    assert!(
        db.store
            .acquire_lease(
                src.id,
                "other-host:1:live",
                std::time::Duration::from_secs(60),
                None
            )
            .await
            .unwrap()
    );
    let err = harvester(&db.store)
        .harvest(&src, &opts(), &sheaf::harvest::LogProgress)
        .await
        .unwrap_err();
    assert!(
        matches!(err, sheaf::harvest::HarvestError::Busy { .. }),
        "{err}"
    );
    assert!(p.requests().is_empty(), "a busy source is not contacted");
}

/// One unparseable record costs only itself: the page is salvaged, the good records are
/// stored, the bad one is quarantined with its bytes, and a later run fetches it again by
/// GetRecord once the server serves it cleanly (quirks #44, #48).
#[tokio::test]
async fn a_malformed_record_is_quarantined_and_retried_by_the_next_run() {
    let db = TestDb::new().await;
    let mut records = FakeRecord::series(12, utc("2022-01-01T00:00:00Z"));
    let broken = r#"<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>p < 0.05 & co</dc:title></oai_dc:dc>"#;
    records[6] = FakeRecord::raw("oai:fake.example:7", records[6].datestamp, &[], broken);
    let p = FakeProvider::start(
        ProviderConfig {
            page_size: 5,
            ..Default::default()
        },
        records,
    )
    .await;
    let src = add_source(&db.store, "fake", &p.base_url(), &[]).await;
    let h = harvester(&db.store);
    let run = harvest_ok(&h, &src, &opts()).await;
    assert_eq!((run.records_new, run.records_failed), (11, 1));
    assert!(
        run.warnings.iter().any(|w| w.contains("malformed page")),
        "{:?}",
        run.warnings
    );
    let q = db.store.quarantine_of_run(run.id).await.unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].oai_identifier.as_deref(), Some("oai:fake.example:7"));
    assert!(q[0].byte_offset.unwrap() > 0);
    let raw: Vec<u8> = sqlx::query_scalar("SELECT raw FROM quarantine WHERE id = $1")
        .bind(q[0].id)
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    assert!(String::from_utf8(raw).unwrap().contains("p < 0.05"));
    // The page after the broken one was still harvested.
    assert_eq!(stored(&db.store, src.id).await.len(), 11);

    // The server fixes the record (same datestamp, so an incremental list would not carry it).
    let fixed = p
        .records()
        .into_iter()
        .find(|r| r.identifier == "oai:fake.example:7")
        .unwrap();
    p.upsert_record(FakeRecord::dc(
        "oai:fake.example:7",
        fixed.datestamp,
        &[],
        "Article 7",
    ));
    let run2 = harvest_ok(&h, &src, &opts()).await;
    assert_eq!(run2.records_new, 1);
    assert!(
        db.store
            .unresolved_quarantine(src.id, 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(stored(&db.store, src.id).await.len(), 12);
}

/// A server that declares seconds granularity but rejects seconds dates gets day dates on
/// a retry, and the working form is remembered for the source (quirks #1, #3).
#[tokio::test]
async fn a_rejected_date_form_is_retried_in_the_other_and_remembered() {
    use common::fake_provider::{Fault, When};
    use std::sync::Arc;
    let db = TestDb::new().await;
    let cfg = ProviderConfig {
        response_date: Some(utc("2023-05-01T12:00:00Z")),
        ..Default::default()
    };
    let p = FakeProvider::start(cfg, FakeRecord::series(8, utc("2022-01-01T00:00:00Z"))).await;
    p.inject_always(
        When::Custom(Arc::new(|r| {
            r.from.as_deref().is_some_and(|f| f.contains('T'))
        })),
        Fault::oai_error("badArgument", "Invalid date given in from parameter"),
    );
    let src = add_source(&db.store, "fake", &p.base_url(), &[]).await;
    let h = harvester(&db.store);
    harvest_ok(&h, &src, &opts()).await;
    let run = harvest_ok(&h, &src, &opts()).await;
    assert_eq!(run.status, "completed");
    let froms: Vec<Option<String>> = p
        .requests()
        .iter()
        .filter(|r| r.verb.as_deref() == Some("ListRecords"))
        .map(|r| r.from.clone())
        .collect();
    assert_eq!(
        froms,
        vec![
            None,
            Some("2023-05-01T11:59:59Z".into()),
            Some("2023-05-01".into())
        ]
    );
    let s = db.store.source_by_id(src.id).await.unwrap();
    assert_eq!(s.quirks["date_form"], "day");
    // The next run goes straight to the working form.
    p.clear_requests();
    harvest_ok(&h, &src, &opts()).await;
    let froms: Vec<Option<String>> = p
        .requests()
        .iter()
        .filter(|r| r.verb.as_deref() == Some("ListRecords"))
        .map(|r| r.from.clone())
        .collect();
    assert_eq!(froms, vec![Some("2023-04-30".into())]);
}

/// A list that ends short of its announced completeListSize is flagged, not failed.
#[tokio::test]
async fn a_list_shorter_than_announced_is_flagged_suspect_truncated() {
    use common::fake_provider::{Fault, When};
    let db = TestDb::new().await;
    let p = FakeProvider::start(
        ProviderConfig {
            page_size: 5,
            ..Default::default()
        },
        FakeRecord::series(20, utc("2022-01-01T00:00:00Z")),
    )
    .await;
    p.inject_when(When::Page(1), Fault::DropToken);
    let src = add_source(&db.store, "fake", &p.base_url(), &[]).await;
    let run = harvest_ok(&harvester(&db.store), &src, &opts()).await;
    assert_eq!(run.records_new, 10);
    assert!(
        run.warnings
            .iter()
            .any(|w| w.contains("suspect truncated") && w.contains("10 of completeListSize 20")),
        "{:?}",
        run.warnings
    );
}

/// With `use_post` every request is a form POST; a server that answers 405 to POST is
/// switched to GET for the rest of the run (quirks #31).
#[tokio::test]
async fn post_is_used_when_configured_and_falls_back_to_get_on_405() {
    use common::fake_provider::{Fault, When};
    use std::sync::Arc;
    let db = TestDb::new().await;
    let p = FakeProvider::start(
        ProviderConfig {
            page_size: 4,
            ..Default::default()
        },
        FakeRecord::series(10, utc("2022-01-01T00:00:00Z")),
    )
    .await;
    let src = add_source(&db.store, "fake", &p.base_url(), &[]).await;
    let http = sheaf::oai::HttpConfig {
        use_post: true,
        ..http_config()
    };
    let h = harvester_with(&db.store, http.clone(), Default::default());
    let run = harvest_ok(&h, &src, &opts()).await;
    assert_eq!(run.records_new, 10);
    assert!(p.requests().iter().all(|r| r.method == "POST"));

    p.clear_requests();
    p.inject_always(
        When::Custom(Arc::new(|r| r.method == "POST")),
        Fault::status(405),
    );
    let h = harvester_with(&db.store, http, Default::default());
    let run = harvest_ok(
        &h,
        &src,
        &sheaf::harvest::HarvestOptions {
            full: true,
            ..opts()
        },
    )
    .await;
    assert_eq!(run.records_unchanged, 10);
    let methods: Vec<String> = p.requests().iter().map(|r| r.method.clone()).collect();
    assert_eq!(
        methods.iter().filter(|m| *m == "POST").count(),
        1,
        "{methods:?}"
    );
}

/// A gzip body the server did not announce is recognised by its magic bytes and inflated.
#[tokio::test]
async fn unannounced_gzip_bodies_are_inflated() {
    use common::fake_provider::{Fault, When};
    use std::io::Write;
    let db = TestDb::new().await;
    let p = FakeProvider::start(
        ProviderConfig::default(),
        FakeRecord::series(3, utc("2022-01-01T00:00:00Z")),
    )
    .await;
    let plain = reqwest::get(format!(
        "{}?verb=ListRecords&metadataPrefix=oai_dc",
        p.base_url()
    ))
    .await
    .unwrap()
    .bytes()
    .await
    .unwrap();
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(&plain).unwrap();
    let body = enc.finish().unwrap();
    p.inject_when(
        When::Verb("ListRecords".into()),
        Fault::Raw {
            status: 200,
            headers: vec![("Content-Type".into(), "text/xml".into())],
            body,
        },
    );
    let src = add_source(&db.store, "fake", &p.base_url(), &[]).await;
    let run = harvest_ok(&harvester(&db.store), &src, &opts()).await;
    assert_eq!(run.records_new, 3);
}

/// A redirected endpoint is followed and the new address recorded as an operator hint.
#[tokio::test]
async fn redirects_are_followed_and_the_target_recorded() {
    use common::fake_provider::{Fault, When};
    let db = TestDb::new().await;
    let new_home = FakeProvider::start(
        ProviderConfig::default(),
        FakeRecord::series(3, utc("2022-01-01T00:00:00Z")),
    )
    .await;
    let old = FakeProvider::start(
        ProviderConfig::default(),
        FakeRecord::series(3, utc("2022-01-01T00:00:00Z")),
    )
    .await;
    old.inject_when(
        When::Verb("Identify".into()),
        Fault::redirect(301, &format!("{}?verb=Identify", new_home.base_url())),
    );
    let src = add_source(&db.store, "fake", &old.base_url(), &[]).await;
    let run = harvest_ok(&harvester(&db.store), &src, &opts()).await;
    assert_eq!(run.records_new, 3);
    let s = db.store.source_by_id(src.id).await.unwrap();
    assert_eq!(s.quirks["redirected_to"], new_home.base_url());
}

/// A run that outlives its deadline ends as failed with its checkpoint, and the next run
/// resumes from it.
#[tokio::test]
async fn a_run_past_its_deadline_fails_and_resumes_later() {
    use common::fake_provider::{Fault, When};
    use std::time::Duration;
    let db = TestDb::new().await;
    let p = FakeProvider::start(
        ProviderConfig {
            page_size: 5,
            ..Default::default()
        },
        FakeRecord::series(15, utc("2022-01-01T00:00:00Z")),
    )
    .await;
    p.inject_when(When::Page(2), Fault::Delay(Duration::from_secs(30)));
    let src = add_source(&db.store, "fake", &p.base_url(), &[]).await;
    let cfg = sheaf::harvest::HarvestConfig {
        run_deadline: Duration::from_secs(2),
        ..harvest_config()
    };
    let h = harvester_with(&db.store, http_config(), cfg);
    let err = h
        .harvest(&src, &opts(), &sheaf::harvest::LogProgress)
        .await
        .unwrap_err();
    assert!(
        matches!(err, sheaf::harvest::HarvestError::Deadline(_)),
        "{err}"
    );
    let failed = db.store.list_runs(Some(src.id), 1).await.unwrap().remove(0);
    assert_eq!((failed.status.as_str(), failed.records_new), ("failed", 10));
    p.clear_faults();
    let run = harvest_ok(&harvester(&db.store), &src, &opts()).await;
    assert_eq!((run.resumed_from, run.records_new), (Some(failed.id), 5));
}

/// Repositories without persistent tombstones get a ListIdentifiers sweep: records no
/// longer listed become tombstones, but never from a list that looks truncated (quirks #11).
#[tokio::test]
async fn a_deletion_sweep_tombstones_records_no_longer_listed() {
    use common::fake_provider::{Fault, When};
    use std::sync::Arc;
    use std::time::Duration;
    let db = TestDb::new().await;
    let cfg = ProviderConfig {
        page_size: 4,
        deleted_record: "transient".into(),
        ..Default::default()
    };
    let p = FakeProvider::start(cfg, FakeRecord::series(10, utc("2022-01-01T00:00:00Z"))).await;
    let src = add_source(&db.store, "fake", &p.base_url(), &[]).await;
    let always = sheaf::harvest::HarvestConfig {
        sweep_interval: Some(Duration::ZERO),
        ..harvest_config()
    };
    let h = harvester_with(&db.store, http_config(), always);
    let run = harvest_ok(&h, &src, &opts()).await;
    assert_eq!((run.records_new, run.records_deleted), (10, 0));
    assert!(
        db.store
            .source_by_id(src.id)
            .await
            .unwrap()
            .last_sweep_at
            .is_some()
    );

    assert!(p.remove_record("oai:fake.example:3") && p.remove_record("oai:fake.example:8"));
    // A truncated identifier list tombstones nothing.
    p.inject_when(
        When::Custom(Arc::new(|r| {
            r.verb.as_deref() == Some("ListIdentifiers") && r.page == Some(0)
        })),
        Fault::DropToken,
    );
    let run = harvest_ok(&h, &src, &opts()).await;
    assert_eq!(run.records_deleted, 0);
    assert!(
        run.warnings
            .iter()
            .any(|w| w.contains("deletion sweep skipped")),
        "{:?}",
        run.warnings
    );

    let run = harvest_ok(&h, &src, &opts()).await;
    assert_eq!(run.records_deleted, 2);
    let rows = stored(&db.store, src.id).await;
    let deleted: Vec<&str> = rows.iter().filter(|r| r.1).map(|r| r.0.as_str()).collect();
    assert_eq!(deleted, ["oai:fake.example:3", "oai:fake.example:8"]);

    // A persistent-tombstone repository is never swept.
    let p2 = FakeProvider::start(
        ProviderConfig::default(),
        FakeRecord::series(3, utc("2022-01-01T00:00:00Z")),
    )
    .await;
    let src2 = add_source(&db.store, "persistent", &p2.base_url(), &[]).await;
    harvest_ok(&h, &src2, &opts()).await;
    assert!(
        p2.requests()
            .iter()
            .all(|r| r.verb.as_deref() != Some("ListIdentifiers"))
    );
}

/// `db renormalize` reads a batch, then writes: a record a harvest changed in between keeps
/// the harvest's fields (the write is conditional on the content hash it was computed from).
#[tokio::test]
async fn renormalize_never_overwrites_a_record_changed_since_it_was_read() {
    let db = TestDb::new().await;
    let p = FakeProvider::start(
        ProviderConfig::default(),
        FakeRecord::series(2, utc("2022-01-01T00:00:00Z")),
    )
    .await;
    let src = add_source(&db.store, "fake", &p.base_url(), &[]).await;
    harvest_ok(&harvester(&db.store), &src, &opts()).await;
    let batch = db.store.raw_batch(None, 0, 10).await.unwrap();
    assert_eq!(batch.len(), 2);
    let rows: Vec<_> = batch
        .iter()
        .map(|r| {
            let dc = sheaf::oai::response::parse_metadata_fragment(&r.raw_metadata).unwrap();
            let mut f = sheaf::harvest::page::normalized_fields(&dc);
            f.id = r.id;
            f.title = Some("stale".into());
            f
        })
        .collect();
    let hashes: Vec<Vec<u8>> = batch.iter().map(|r| r.content_hash.clone()).collect();
    // A harvest rewrites the first record meanwhile.
    sqlx::query("UPDATE records SET content_hash = '\\x01', title = 'fresh' WHERE id = $1")
        .bind(batch[0].id)
        .execute(db.store.pool())
        .await
        .unwrap();
    let written = db.store.apply_renormalized(&rows, &hashes).await.unwrap();
    assert_eq!(written, 1, "only the untouched record is rewritten");
    let titles: Vec<(i64, Option<String>)> =
        sqlx::query_as("SELECT id, title FROM records ORDER BY id")
            .fetch_all(db.store.pool())
            .await
            .unwrap();
    assert_eq!(
        titles,
        vec![
            (batch[0].id, Some("fresh".into())),
            (batch[1].id, Some("stale".into()))
        ]
    );
}

/// Runs sharing one harvester share its budget of prepared pages; with room for a single
/// page, concurrent multi-page runs still all complete (a page's permit is released when it
/// is stored, so no run can hold the others up for good).
#[tokio::test]
async fn runs_sharing_a_one_page_memory_budget_all_complete() {
    let db = TestDb::new().await;
    let cfg = sheaf::harvest::HarvestConfig {
        pages_in_memory: 1,
        prefetch_pages: 3,
        ..harvest_config()
    };
    let h = harvester_with(&db.store, http_config(), cfg);
    let mut providers = Vec::new();
    let mut sources = Vec::new();
    for i in 0..3 {
        let p = FakeProvider::start(
            ProviderConfig {
                page_size: 4,
                ..Default::default()
            },
            FakeRecord::series(30, utc("2022-01-01T00:00:00Z")),
        )
        .await;
        sources.push(add_source(&db.store, &format!("s{i}"), &p.base_url(), &[]).await);
        providers.push(p);
    }
    let o = opts();
    let all = futures_util::future::join_all(sources.iter().map(|s| harvest_ok(&h, s, &o)));
    let runs = tokio::time::timeout(std::time::Duration::from_secs(120), all)
        .await
        .expect("no run waits for the budget for good");
    for run in runs {
        assert_eq!(
            (run.status.as_str(), run.records_new, run.pages),
            ("completed", 30, 8)
        );
    }
}
