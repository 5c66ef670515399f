//! Adaptive date windows (issue #3 item 6) and restarts after an expired resumption token
//! (item 4): what is requested, and that every record is stored exactly once.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use common::db::TestDb;
use common::fake_provider::{
    FakeProvider, FakeRecord, Fault, Granularity, ProviderConfig, RequestLog, When, utc,
};
use common::harness::*;
use sheaf::harvest::{HarvestConfig, Harvester};
use sheaf::store::{Run, Source};

/// 40 records, one every 30 days from 2019-01-01 (13 of them in 2019).
fn spread() -> Vec<FakeRecord> {
    (0..40)
        .map(|i| {
            FakeRecord::dc(
                &format!("oai:fake.example:{i:02}"),
                utc("2019-01-01T00:00:00Z") + TimeDelta::days(30 * i),
                &[],
                &format!("Article {i}"),
            )
        })
        .collect()
}

/// A day-granularity provider whose clock says 2022-06-30, serving `records`.
async fn provider(records: Vec<FakeRecord>, page_size: usize) -> FakeProvider {
    FakeProvider::start(
        ProviderConfig {
            granularity: Granularity::Day,
            page_size,
            response_date: Some(utc("2022-06-30T00:00:00Z")),
            ..ProviderConfig::default()
        },
        records,
    )
    .await
}

/// A seconds-granularity provider with 10 records per page.
async fn paged(records: Vec<FakeRecord>) -> FakeProvider {
    FakeProvider::start(
        ProviderConfig {
            page_size: 10,
            ..ProviderConfig::default()
        },
        records,
    )
    .await
}

fn every_token_expires(p: &FakeProvider) {
    p.inject_always(
        When::Custom(Arc::new(|r: &RequestLog| r.resumption_token.is_some())),
        Fault::oai_error("badResumptionToken", "expired"),
    );
}

fn windowed(db: &TestDb, days: u64) -> Harvester {
    harvester_with(
        &db.store,
        http_config(),
        HarvestConfig {
            window: Some(Duration::from_secs(days * 86_400)),
            ..harvest_config()
        },
    )
}

/// The (from, until) of every list-starting request, in order.
fn list_starts(p: &FakeProvider) -> Vec<(Option<String>, Option<String>)> {
    p.requests()
        .into_iter()
        .filter(|r| r.verb.as_deref() == Some("ListRecords") && r.resumption_token.is_none())
        .map(|r| (r.from, r.until))
        .collect()
}

/// [`list_starts`] without the client's retries of one request.
fn distinct_starts(p: &FakeProvider) -> Vec<(Option<String>, Option<String>)> {
    let mut v = list_starts(p);
    v.dedup();
    v
}

fn list_requests(p: &FakeProvider) -> Vec<RequestLog> {
    p.requests()
        .into_iter()
        .filter(|r| r.verb.as_deref() == Some("ListRecords"))
        .collect()
}

fn w(from: Option<&str>, until: Option<&str>) -> (Option<String>, Option<String>) {
    (from.map(String::from), until.map(String::from))
}

async fn all_ids_once(db: &TestDb, src: &Source, n: usize) {
    let rows = stored(&db.store, src.id).await;
    let mut ids: Vec<String> = rows.iter().map(|r| r.0.clone()).collect();
    ids.dedup();
    assert_eq!(ids.len(), n, "every record stored exactly once");
    assert!(rows.iter().all(|r| !r.1 && r.2.is_some()));
}

async fn datestamps_committed(db: &TestDb, src: &Source) -> Vec<DateTime<Utc>> {
    sqlx::query_scalar("SELECT datestamp FROM records WHERE source_id = $1 ORDER BY datestamp")
        .bind(src.id)
        .fetch_all(db.store.pool())
        .await
        .expect("datestamps")
}

#[tokio::test]
async fn a_first_harvest_is_cut_into_consecutive_date_windows() {
    let db = TestDb::new().await;
    let p = provider(spread(), 5).await;
    let src = add_source(&db.store, "fake", &p.base_url(), &[]).await;
    let run = harvest_ok(&windowed(&db, 365), &src, &opts()).await;

    assert_eq!(
        list_starts(&p),
        vec![
            w(None, Some("2019-12-31")),
            w(Some("2020-01-01"), Some("2020-12-30")),
            w(Some("2020-12-31"), Some("2021-12-30")),
            w(Some("2021-12-31"), None),
        ],
        "open first and last windows, one day apart, no overlap"
    );
    assert_eq!(run.records_new, 40);
    assert_eq!(run.status, "completed");
    all_ids_once(&db, &src, 40).await;
    // The run covered everything, so the next one is an ordinary incremental list.
    assert_eq!(run.window_from, None);
    assert_eq!(run.window_until, None);
    p.clear_requests();
    let next = harvest_ok(&windowed(&db, 365), &src, &opts()).await;
    assert_eq!(next.records_new, 0);
    assert_eq!(list_starts(&p), vec![w(Some("2022-06-29"), None)]);
}

#[tokio::test]
async fn a_window_the_server_cannot_list_is_split_in_halves() {
    let db = TestDb::new().await;
    let p = provider(spread(), 5).await;
    // The first window's token expires after its first page, once.
    p.inject_times(
        When::Custom(Arc::new(|r: &RequestLog| {
            r.verb.as_deref() == Some("ListRecords") && r.page == Some(1)
        })),
        Fault::oai_error("badResumptionToken", "The token has expired."),
        1,
    );
    let src = add_source(&db.store, "fake", &p.base_url(), &[]).await;
    let run = harvest_ok(&windowed(&db, 365), &src, &opts()).await;

    let starts = list_starts(&p);
    assert_eq!(starts[0], w(None, Some("2019-12-31")));
    // Lower half of 2019-01-01..2019-12-31 (182 days), then the windows grow back.
    assert_eq!(starts[1], w(None, Some("2019-07-01")));
    assert_eq!(starts[2], w(Some("2019-07-02"), Some("2020-06-29")));
    assert_eq!(starts.last(), Some(&w(Some("2022-06-30"), None)));
    all_ids_once(&db, &src, 40).await;
    assert!(
        run.warnings
            .iter()
            .any(|m| m.contains("badResumptionToken") && m.contains("first half")),
        "the split is reported: {:?}",
        run.warnings
    );
}

/// Days between a list request's bounds (an open `from` counts from 2019-01-01).
fn width_days(r: &RequestLog) -> Option<i64> {
    let day = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
    let until = day(r.until.as_deref()?)?;
    let from = r.from.as_deref().map_or(day("2019-01-01"), day)?;
    Some((until - from).num_days())
}

#[tokio::test]
async fn a_window_that_fails_with_5xx_is_split_until_it_succeeds() {
    let db = TestDb::new().await;
    let p = provider(spread(), 50).await;
    // In 2019 every window wider than 40 days fails with 503 (after the client's retries).
    p.inject_always(
        When::Custom(Arc::new(|r: &RequestLog| {
            r.verb.as_deref() == Some("ListRecords")
                && r.until.as_deref().is_some_and(|u| u < "2020")
                && width_days(r).is_some_and(|d| d > 40)
        })),
        Fault::status(503),
    );
    let src = add_source(&db.store, "fake", &p.base_url(), &[]).await;
    let run = harvest_ok(&windowed(&db, 365), &src, &opts()).await;
    let starts = distinct_starts(&p);
    assert_eq!(
        &starts[..5],
        &[
            w(None, Some("2019-12-31")),
            w(None, Some("2019-07-01")),
            w(None, Some("2019-04-01")),
            w(None, Some("2019-02-14")),
            w(None, Some("2019-01-22")),
        ],
        "365 → 182 → 91 → 45 → 22 days"
    );
    assert_eq!(starts[5], w(Some("2019-01-23"), Some("2019-03-07")));
    all_ids_once(&db, &src, 40).await;
    assert_eq!(run.status, "completed");
}

#[tokio::test]
async fn a_one_day_window_that_still_fails_ends_the_run() {
    let db = TestDb::new().await;
    let p = provider(spread(), 50).await;
    p.inject_always(
        When::Custom(Arc::new(|r: &RequestLog| {
            r.verb.as_deref() == Some("ListRecords") && r.from.is_none()
        })),
        Fault::status(503),
    );
    let src = add_source(&db.store, "fake", &p.base_url(), &[]).await;
    let err = windowed(&db, 8)
        .harvest(&src, &opts(), &sheaf::harvest::LogProgress)
        .await
        .expect_err("cannot be split below one day");
    assert!(err.to_string().contains("HTTP 503"), "{err}");
    assert_eq!(
        distinct_starts(&p)
            .into_iter()
            .map(|(_, u)| u.unwrap_or_default())
            .collect::<Vec<_>>(),
        vec!["2019-01-08", "2019-01-04", "2019-01-02", "2019-01-01"]
    );
    assert!(stored(&db.store, src.id).await.is_empty());
}

#[tokio::test]
async fn a_run_stopped_inside_a_window_resumes_in_that_window() {
    let db = TestDb::new().await;
    let p = provider(spread(), 5).await;
    // Third window (2020-12-31..2021-12-30), second page: an HTML page every time.
    p.inject_always(
        When::Custom(Arc::new(|r: &RequestLog| {
            r.verb.as_deref() == Some("ListRecords") && r.page == Some(1) && r.seq > 6
        })),
        Fault::RawBody("<html><body>Maintenance</body></html>".into()),
    );
    let src = add_source(&db.store, "fake", &p.base_url(), &[]).await;
    let h = windowed(&db, 365);
    let failed = h
        .harvest(&src, &opts(), &sheaf::harvest::LogProgress)
        .await
        .expect_err("the HTML page ends the run");
    assert!(failed.to_string().contains("not an OAI-PMH"), "{failed}");
    let run: Run = db.store.list_runs(Some(src.id), 1).await.unwrap().remove(0);
    assert_eq!(run.status, "failed");
    assert_eq!(run.list.list_from.as_deref(), Some("2020-12-31"));
    assert!(run.resumption_token.is_some());
    let before = datestamps_committed(&db, &src).await;

    p.clear_faults();
    p.clear_requests();
    let resumed = harvest_ok(&h, &src, &opts()).await;
    assert_eq!(resumed.resumed_from, Some(run.id));
    let reqs = list_requests(&p);
    assert!(
        reqs[0].resumption_token.is_some(),
        "continues with the stored token"
    );
    assert_eq!(
        list_starts(&p),
        vec![w(Some("2021-12-31"), None)],
        "no earlier window is listed again"
    );
    assert_eq!(run.records_new + resumed.records_new, 40);
    assert!(before.len() < 40);
    all_ids_once(&db, &src, 40).await;
}

#[tokio::test]
async fn an_expired_token_restarts_an_ordered_list_from_its_high_water_mark() {
    let db = TestDb::new().await;
    let p = paged(FakeRecord::series(30, utc("2022-01-01T00:00:00Z"))).await;
    p.inject_times(
        When::Page(2),
        Fault::oai_error("badResumptionToken", "expired"),
        1,
    );
    let src = add_source(&db.store, "fake", &p.base_url(), &[]).await;
    let run = harvest_ok(&harvester(&db.store), &src, &opts()).await;
    // Records 1..20 (00:00..00:19) were committed in order: restart from 00:19.
    assert_eq!(
        list_starts(&p),
        vec![w(None, None), w(Some("2022-01-01T00:19:00Z"), None)]
    );
    all_ids_once(&db, &src, 30).await;
    assert_eq!(run.records_new, 30);
    assert!(
        run.warnings.iter().any(|m| m.contains("high-water mark")),
        "{:?}",
        run.warnings
    );
}

#[tokio::test]
async fn an_expired_token_restarts_an_unordered_list_from_its_start() {
    let db = TestDb::new().await;
    let p = paged(FakeRecord::series(30, utc("2022-01-01T00:00:00Z"))).await;
    // The first page carries a record dated after the others: datestamps out of order.
    p.inject_times(
        When::Page(0),
        Fault::transform(|b| {
            b.replacen(
                "<datestamp>2022-01-01T00:00:00Z</datestamp>",
                "<datestamp>2022-01-01T05:00:00Z</datestamp>",
                1,
            )
        }),
        1,
    );
    p.inject_times(
        When::Page(2),
        Fault::oai_error("badResumptionToken", "expired"),
        1,
    );
    let src = add_source(&db.store, "fake", &p.base_url(), &[]).await;
    let run = harvest_ok(&harvester(&db.store), &src, &opts()).await;
    assert_eq!(list_starts(&p), vec![w(None, None), w(None, None)]);
    all_ids_once(&db, &src, 30).await;
    assert_eq!(run.records_new, 30);
    assert!(
        run.records_unchanged + run.records_updated >= 19,
        "the first 20 were listed twice"
    );
    assert!(
        run.warnings.iter().any(|m| m.contains("from its start")),
        "{:?}",
        run.warnings
    );
}

#[tokio::test]
async fn an_ordered_list_restarts_while_it_progresses() {
    let db = TestDb::new().await;
    let p = paged(FakeRecord::series(30, utc("2022-01-01T00:00:00Z"))).await;
    every_token_expires(&p);
    let src = add_source(&db.store, "fake", &p.base_url(), &[]).await;
    let run = harvest_ok(&harvester(&db.store), &src, &opts()).await;
    assert_eq!(
        list_starts(&p),
        vec![
            w(None, None),
            w(Some("2022-01-01T00:09:00Z"), None),
            w(Some("2022-01-01T00:18:00Z"), None),
            w(Some("2022-01-01T00:27:00Z"), None),
        ]
    );
    all_ids_once(&db, &src, 30).await;
    assert_eq!(run.records_new, 30);
}

#[tokio::test]
async fn tokens_that_always_expire_without_progress_end_the_run() {
    let db = TestDb::new().await;
    // One bulk import: every record has the same datestamp, so a high-water restart cannot
    // move forward.
    let same: Vec<FakeRecord> = (1..=30)
        .map(|i| {
            FakeRecord::dc(
                &format!("oai:fake.example:{i:02}"),
                utc("2022-01-01T00:00:00Z"),
                &[],
                &format!("Article {i}"),
            )
        })
        .collect();
    let p = paged(same).await;
    every_token_expires(&p);
    let src = add_source(&db.store, "fake", &p.base_url(), &[]).await;
    let err = harvester(&db.store)
        .harvest(&src, &opts(), &sheaf::harvest::LogProgress)
        .await
        .expect_err("gives up");
    assert!(err.to_string().contains("badResumptionToken"), "{err}");
    // The list, one high-water restart, then three restarts from the start.
    assert_eq!(list_starts(&p).len(), 5);
    all_ids_once(&db, &src, 10).await;
}
