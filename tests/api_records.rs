//! The records API against a real database: every search filter, keyset paging while a
//! harvest writes, parameter validation, `/raw`, the change feed (a mirror that follows it
//! through updates, deletions and re-normalization; commit order), `NOTIFY` payloads, and
//! the OpenAPI document checked against the router.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::db::TestDb;
use common::fake_provider::{
    FakeProvider, FakeRecord, ProviderConfig, escape_text, install_crypto_provider, utc,
};
use common::harness::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use sheaf::harvest::HarvestOptions;
use sheaf::store::Trigger;
use sheaf::store::reads::RecordKey;
use tokio_util::sync::CancellationToken;

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

struct Server {
    base: String,
    http: reqwest::Client,
    _stop: tokio_util::sync::DropGuard,
}

struct Reply {
    status: StatusCode,
    content_type: String,
    text: String,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or(Value::Null)
    }
}

async fn serve(db: &TestDb) -> Server {
    install_crypto_provider();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = sheaf::api::AppState {
        store: db.store.clone(),
        admin_token: None,
    };
    let stop = CancellationToken::new();
    tokio::spawn(sheaf::api::serve(listener, state, stop.clone()));
    Server {
        base,
        http: reqwest::Client::new(),
        _stop: stop.drop_guard(),
    }
}

impl Server {
    async fn request(&self, method: Method, path: &str, query: &[(&str, &str)]) -> Reply {
        let r = self
            .http
            .request(
                method,
                url::Url::parse_with_params(&format!("{}{path}", self.base), query).unwrap(),
            )
            .send()
            .await
            .unwrap();
        let status = r.status();
        let content_type = r
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        Reply {
            status,
            content_type,
            text: r.text().await.unwrap(),
        }
    }

    async fn get(&self, path: &str, query: &[(&str, &str)]) -> Reply {
        self.request(Method::GET, path, query).await
    }

    /// A 200 JSON answer.
    async fn ok(&self, path: &str, query: &[(&str, &str)]) -> Value {
        let r = self.get(path, query).await;
        assert_eq!(r.status, StatusCode::OK, "{path} {query:?}: {}", r.text);
        r.json()
    }

    /// OAI identifiers of `/api/records` items for these parameters (one page of up to 1000).
    async fn found(&self, query: &[(&str, &str)]) -> BTreeSet<String> {
        let mut q = query.to_vec();
        q.push(("limit", "1000"));
        let body = self.ok("/api/records", &q).await;
        assert_eq!(body["next_cursor"], Value::Null, "{query:?}");
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["oai_identifier"].as_str().unwrap().to_owned())
            .collect()
    }

    /// The parameter a 400 names.
    async fn bad(&self, path: &str, query: &[(&str, &str)]) -> String {
        let r = self.get(path, query).await;
        assert_eq!(
            r.status,
            StatusCode::BAD_REQUEST,
            "{path} {query:?}: {}",
            r.text
        );
        let e = r.json();
        assert_eq!(e["error"]["code"], "bad_request", "{}", r.text);
        let param = e["error"]["parameter"].as_str().unwrap().to_owned();
        let message = e["error"]["message"].as_str().unwrap();
        assert!(message.starts_with(&format!("{param}: ")), "{message}");
        param
    }
}

/// An `oai_dc` record from `(element, value)` pairs; `title@ru` adds `xml:lang="ru"`.
fn dc(fields: &[(&str, &str)]) -> String {
    let mut x = String::from(
        "<oai_dc:dc xmlns:oai_dc=\"http://www.openarchives.org/OAI/2.0/oai_dc/\" \
         xmlns:dc=\"http://purl.org/dc/elements/1.1/\">",
    );
    for (k, v) in fields {
        let (el, lang) = match k.split_once('@') {
            Some((e, l)) => (e, format!(" xml:lang=\"{l}\"")),
            None => (*k, String::new()),
        };
        x.push_str(&format!("<dc:{el}{lang}>{}</dc:{el}>", escape_text(v)));
    }
    x + "</oai_dc:dc>"
}

fn full() -> HarvestOptions {
    HarvestOptions {
        trigger: Trigger::Cli,
        full: true,
        from: None,
        until: None,
    }
}

fn ids(items: &Value) -> Vec<i64> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_i64().unwrap())
        .collect()
}

fn seed_xml() -> String {
    std::fs::read_to_string("tests/data/seed_article_oai_dc.xml").unwrap()
}

/// Harvests the seed article and a tombstone into source `dvostok`; their ids.
async fn seed_and_tombstone(db: &TestDb) -> (i64, i64) {
    let at = utc("2022-06-21T00:00:00Z");
    let p = FakeProvider::start(
        ProviderConfig::default(),
        vec![
            FakeRecord::raw(
                "oai:dvostok.example.org:article/123",
                at,
                &["dvostok"],
                &seed_xml(),
            ),
            FakeRecord::deleted("oai:dvostok.example.org:article/9", at, &[]),
        ],
    )
    .await;
    let src = add_source(&db.store, "dvostok", &p.base_url(), &[]).await;
    harvest_ok(&harvester(&db.store), &src, &opts()).await;
    sqlx::query_as(
        "SELECT min(id) FILTER (WHERE NOT deleted), min(id) FILTER (WHERE deleted) FROM records",
    )
    .fetch_one(db.store.pool())
    .await
    .unwrap()
}

/// The contract object of every stored record, by id, as the store reads it.
async fn live_table(db: &TestDb) -> BTreeMap<i64, Value> {
    let ids: Vec<i64> = sqlx::query_scalar("SELECT id FROM records ORDER BY id")
        .fetch_all(db.store.pool())
        .await
        .unwrap();
    let mut out = BTreeMap::new();
    for id in ids {
        let rows = db.store.find_records(&RecordKey::Id(id)).await.unwrap();
        out.insert(id, sheaf::contract::record_json(&rows[0]));
    }
    out
}

/// Follows `/api/changes` from `since` until caught up, applying items to `mirror`;
/// returns the new cursor. Checks the feed moves strictly forward.
async fn follow(api: &Server, mut since: i64, mirror: &mut BTreeMap<i64, Value>) -> i64 {
    loop {
        let s = since.to_string();
        let page = api
            .ok("/api/changes", &[("since", s.as_str()), ("limit", "3")])
            .await;
        for item in page["items"].as_array().unwrap() {
            let seq = item["change_seq"].as_i64().unwrap();
            assert!(seq > since, "change {seq} at or before cursor {since}");
            since = seq;
            let mut obj = item.clone();
            obj.as_object_mut().unwrap().remove("change_seq");
            mirror.insert(obj["id"].as_i64().unwrap(), obj);
        }
        match page["next_cursor"].as_str() {
            Some(c) => assert_eq!(c, since.to_string()),
            None => return since,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Search
// ---------------------------------------------------------------------------------------------

/// Two sources with records that differ in one field each; every filter, alone and
/// combined, returns exactly the records it should, and tombstones never.
#[tokio::test]
async fn every_filter_selects_exactly_its_records() {
    let db = TestDb::new().await;
    let api = serve(&db).await;
    let at = utc("2023-01-01T00:00:00Z");
    let alpha = FakeProvider::start(
        ProviderConfig::default(),
        vec![
            FakeRecord::raw(
                "a:1",
                at,
                &["ecology"],
                &dc(&[
                    ("title@en", "Soil carbon in boreal forests"),
                    ("language", "eng"),
                    ("type", "info:eu-repo/semantics/article"),
                    ("date", "2019-03-04"),
                    ("identifier", "doi:10.1016/J.GEO.2019.1"),
                ]),
            ),
            FakeRecord::raw(
                "a:2",
                at,
                &["meta"],
                &dc(&[
                    ("title@en", "Peer review practices"),
                    ("language", "eng"),
                    ("type", "info:eu-repo/semantics/review"),
                    ("date", "2020-05"),
                ]),
            ),
            FakeRecord::raw(
                "a:3",
                at,
                &["ecology"],
                &dc(&[
                    ("title@ru", "Языковая политика в регионах"),
                    ("language", "rus"),
                    ("type", "info:eu-repo/semantics/article"),
                    ("date", "2022"),
                    ("identifier", "10.1234/lang.2022"),
                ]),
            ),
            FakeRecord::raw(
                "a:4",
                at,
                &[],
                &dc(&[
                    ("title@fr", "Les forêts du nord"),
                    ("language", "fre"),
                    ("type", "info:eu-repo/semantics/doctoralThesis"),
                    ("date", "2021-12-31"),
                ]),
            ),
            FakeRecord::deleted("a:5", at, &["ecology"]),
        ],
    )
    .await;
    let src_a = add_source(&db.store, "alpha", &alpha.base_url(), &[]).await;
    harvest_ok(&harvester(&db.store), &src_a, &opts()).await;
    let between: String = sqlx::query_scalar(
        "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
    )
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    let dvostok = FakeProvider::start(
        ProviderConfig::default(),
        vec![FakeRecord::raw(
            "oai:dvostok.example.org:article/123",
            at,
            &["dvostok"],
            &seed_xml(),
        )],
    )
    .await;
    let src_d = add_source(&db.store, "dvostok", &dvostok.base_url(), &[]).await;
    harvest_ok(&harvester(&db.store), &src_d, &opts()).await;

    let set = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
    let seed = "oai:dvostok.example.org:article/123";
    type Case<'a> = (Vec<(&'a str, &'a str)>, BTreeSet<String>);
    let cases: Vec<Case> = vec![
        (vec![], set(&["a:1", "a:2", "a:3", "a:4", seed])),
        (vec![("q", "carbon")], set(&["a:1"])),
        (vec![("q", "forests -carbon")], set(&[])),
        (vec![("q", "политика")], set(&["a:3"])),
        (
            vec![("source", "alpha")],
            set(&["a:1", "a:2", "a:3", "a:4"]),
        ),
        (vec![("source", "dvostok")], set(&[seed])),
        (vec![("set", "ecology")], set(&["a:1", "a:3"])),
        (vec![("language", "ru")], set(&["a:3", seed])),
        (vec![("language", "Russian")], set(&["a:3", seed])),
        (vec![("language", "fr")], set(&["a:4"])),
        (vec![("language", "tlh")], set(&[])),
        (vec![("type", "review")], set(&["a:2"])),
        (vec![("type", "thesis")], set(&["a:4"])),
        (vec![("type", "article")], set(&["a:1", "a:3", seed])),
        // Bounds compare at the coarser precision: a record issued "2022" is within 2022-01-01.
        (vec![("issued_from", "2021-06")], set(&["a:3", "a:4", seed])),
        (vec![("issued_from", "2022")], set(&["a:3", seed])),
        (vec![("issued_until", "2020")], set(&["a:1", "a:2"])),
        (vec![("issued_until", "2020-04-30")], set(&["a:1"])),
        (
            vec![("issued_from", "2022-01-01"), ("issued_until", "2022-03")],
            set(&["a:3"]),
        ),
        (
            vec![("doi", "https://doi.org/10.1016/j.geo.2019.1")],
            set(&["a:1"]),
        ),
        (vec![("doi", "10.31857/S013128120020016-6")], set(&[seed])),
        (vec![("has_doi", "true")], set(&["a:1", "a:3", seed])),
        (vec![("has_doi", "false")], set(&["a:2", "a:4"])),
        (vec![("updated_since", between.as_str())], set(&[seed])),
        (vec![("updated_since", "2999-01-01")], set(&[])),
        (
            vec![
                ("language", "ru"),
                ("type", "article"),
                ("has_doi", "true"),
                ("set", "dvostok"),
            ],
            set(&[seed]),
        ),
    ];
    for (query, expected) in &cases {
        assert_eq!(&api.found(query).await, expected, "{query:?}");
    }

    // total only on request, counting every match, not the page.
    let page = api.ok("/api/records", &[("limit", "2")]).await;
    assert!(page.get("total").is_none());
    let page = api
        .ok("/api/records", &[("limit", "2"), ("total", "true")])
        .await;
    assert_eq!(
        (
            page["items"].as_array().unwrap().len(),
            page["total"].as_i64()
        ),
        (2, Some(5))
    );
    let page = api
        .ok("/api/records", &[("set", "ecology"), ("total", "true")])
        .await;
    assert_eq!(page["total"], 2);
}

/// The seed article is found in English and, through its Russian title, in Russian; a copy
/// without the Russian title is not found by the Russian words.
#[tokio::test]
async fn the_seed_article_is_found_in_english_and_in_russian() {
    let db = TestDb::new().await;
    let api = serve(&db).await;
    let seed = seed_xml();
    let english_only = seed
        .lines()
        .filter(|l| !l.contains("<dc:title xml:lang=\"ru-RU\">"))
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(english_only, seed);
    let at = utc("2022-06-21T00:00:00Z");
    let p = FakeProvider::start(
        ProviderConfig::default(),
        vec![
            FakeRecord::raw("oai:dvostok.example.org:article/123", at, &[], &seed),
            FakeRecord::raw("oai:copy:1", at, &[], &english_only),
            FakeRecord::dc("oai:other:1", at, &[], "Soil carbon"),
        ],
    )
    .await;
    let src = add_source(&db.store, "dvostok", &p.base_url(), &[]).await;
    harvest_ok(&harvester(&db.store), &src, &opts()).await;

    let both = BTreeSet::from([
        "oai:dvostok.example.org:article/123".to_owned(),
        "oai:copy:1".to_owned(),
    ]);
    assert_eq!(api.found(&[("q", "Korean Peninsula")]).await, both);
    assert_eq!(
        api.found(&[("q", "Корейский полуостров")]).await,
        BTreeSet::from(["oai:dvostok.example.org:article/123".to_owned()])
    );
    // The record the query is about ranks first; the item is the full contract object.
    let page = api
        .ok("/api/records", &[("q", "Корейский полуостров")])
        .await;
    let item = &page["items"][0];
    assert_eq!(item["doi"], "10.31857/s013128120020016-6");
    let by_id = api.ok(&format!("/api/records/{}", item["id"]), &[]).await;
    assert_eq!(&by_id, item);
}

/// Walking every page (by id, and by relevance) while a harvest inserts, changes and
/// deletes records between page requests: no record is returned twice, and every record
/// that existed and stayed unchanged during the walk is returned. New records that sort
/// after the cursor (every one, in id order) are returned too.
#[tokio::test]
async fn pages_have_no_gaps_or_repeats_while_a_harvest_writes() {
    let db = TestDb::new().await;
    let api = serve(&db).await;
    let at = utc("2023-01-01T00:00:00Z");
    // "river" repeated 1..=4 times gives four distinct ranks with many ties in each.
    let rec = |i: usize| {
        let title = format!("{} report {i}", "river ".repeat(i % 4 + 1));
        FakeRecord::raw(
            &format!("oai:bulk:{i}"),
            at,
            &[],
            &dc(&[("title@en", &title)]),
        )
    };
    let p1 = FakeProvider::start(
        ProviderConfig {
            page_size: 7,
            ..Default::default()
        },
        (1..=45).map(rec).collect(),
    )
    .await;
    let p2 = FakeProvider::start(ProviderConfig::default(), vec![]).await;
    let s1 = add_source(&db.store, "bulk", &p1.base_url(), &[]).await;
    let s2 = add_source(&db.store, "late", &p2.base_url(), &[]).await;
    let h = harvester(&db.store);
    harvest_ok(&h, &s1, &opts()).await;

    for q in [None, Some("river")] {
        let before: BTreeMap<String, i64> =
            sqlx::query_as("SELECT oai_identifier, id FROM records WHERE NOT deleted")
                .fetch_all(db.store.pool())
                .await
                .unwrap()
                .into_iter()
                .collect();
        let mut touched = BTreeSet::new();
        let mut inserted = BTreeSet::new();
        let mut seen: Vec<i64> = Vec::new();
        let mut cursor: Option<String> = None;
        let mut step = 0usize;
        loop {
            let mut query = vec![("limit", "4")];
            if let Some(q) = q {
                query.push(("q", q));
            }
            if let Some(c) = &cursor {
                query.push(("cursor", c.as_str()));
            }
            let page = api.ok("/api/records", &query).await;
            seen.extend(ids(&page["items"]));
            let Some(next) = page["next_cursor"].as_str() else {
                break;
            };
            cursor = Some(next.to_owned());

            // The writer: new matching records (some outrank everything seen), one changed
            // and one deleted record of the first source.
            step += 1;
            for k in 0..2 {
                let id = format!("oai:late:{}:{step}:{k}", q.is_some());
                let title = format!("{}late {step}", "river ".repeat(if k == 0 { 6 } else { 1 }));
                p2.upsert_record(FakeRecord::raw(&id, at, &[], &dc(&[("title@en", &title)])));
                inserted.insert(id);
            }
            harvest_ok(&h, &s2, &full()).await;
            if step.is_multiple_of(3) {
                let victim = format!("oai:bulk:{}", 40 - step);
                p1.delete_record(&victim, at);
                touched.insert(victim);
                let changed = format!("oai:bulk:{}", 41 - step);
                p1.upsert_record(FakeRecord::raw(
                    &changed,
                    at,
                    &[],
                    &dc(&[("title@en", &format!("river changed {step}"))]),
                ));
                touched.insert(changed);
                harvest_ok(&h, &s1, &full()).await;
            }
        }
        assert!(step >= 8, "the walk interleaved with {step} writes only");

        let unique: BTreeSet<i64> = seen.iter().copied().collect();
        assert_eq!(
            unique.len(),
            seen.len(),
            "a record came twice (q={q:?}): {seen:?}"
        );
        for (oai, id) in &before {
            if !touched.contains(oai) {
                assert!(
                    unique.contains(id),
                    "{oai} (id {id}) missing from the walk (q={q:?})"
                );
            }
        }
        if q.is_none() {
            assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
            let by_oai: BTreeMap<String, i64> =
                sqlx::query_as("SELECT oai_identifier, id FROM records")
                    .fetch_all(db.store.pool())
                    .await
                    .unwrap()
                    .into_iter()
                    .collect();
            for oai in &inserted {
                assert!(
                    unique.contains(&by_oai[oai]),
                    "inserted {oai} never returned"
                );
            }
        } else {
            // Relevance order: rank never rises along the walk, ties by id.
            let ranked: Vec<(i64, f32)> = sqlx::query_as(
                "SELECT id, coalesce(ts_rank(search, sheaf_search_query('river')), 0) FROM sheaf_api.records WHERE id = ANY($1)",
            )
            .bind(&seen)
            .fetch_all(db.store.pool())
            .await
            .unwrap();
            let rank: BTreeMap<i64, f32> = ranked.into_iter().collect();
            let untouched: Vec<(f32, i64)> = seen
                .iter()
                .filter(|id| before.values().any(|b| b == *id))
                .filter(|id| !touched.iter().any(|t| before.get(t) == Some(id)))
                .map(|id| (rank[id], *id))
                .collect();
            assert!(
                untouched
                    .windows(2)
                    .all(|w| w[0].0 > w[1].0 || (w[0].0 == w[1].0 && w[0].1 < w[1].1)),
                "{untouched:?}"
            );
        }
    }
}

/// Bad values are 400s naming the parameter; unknown ids are JSON 404s.
#[tokio::test]
async fn bad_parameters_are_400s_that_name_the_parameter() {
    let db = TestDb::new().await;
    let api = serve(&db).await;
    let p = FakeProvider::start(
        ProviderConfig::default(),
        FakeRecord::series(3, utc("2022-01-01T00:00:00Z")),
    )
    .await;
    let src = add_source(&db.store, "j", &p.base_url(), &[]).await;
    harvest_ok(&harvester(&db.store), &src, &opts()).await;

    for (k, v) in [
        ("limit", "0"),
        ("limit", "1001"),
        ("limit", "ten"),
        ("has_doi", "yes"),
        ("total", "1"),
        ("issued_from", "2022-13"),
        ("issued_until", "22"),
        ("updated_since", "last week"),
        ("doi", "not a doi"),
        ("type", "poem"),
        ("cursor", "not-a-cursor"),
        ("cursor", "i-5"),
        ("source", "no-such-source"),
    ] {
        assert_eq!(api.bad("/api/records", &[(k, v)]).await, k, "{k}={v}");
    }
    // Unknown and repeated parameters.
    assert_eq!(
        api.bad("/api/records", &[("langauge", "ru")]).await,
        "langauge"
    );
    assert_eq!(
        api.bad("/api/records", &[("limit", "1"), ("limit", "2")])
            .await,
        "limit"
    );
    // A cursor keeps its ordering: one from a relevance walk is refused without q.
    let page = api
        .ok("/api/records", &[("q", "article"), ("limit", "1")])
        .await;
    let rank_cursor = page["next_cursor"].as_str().unwrap().to_owned();
    assert_eq!(
        api.bad("/api/records", &[("cursor", &rank_cursor)]).await,
        "cursor"
    );
    let page = api.ok("/api/records", &[("limit", "1")]).await;
    let id_cursor = page["next_cursor"].as_str().unwrap().to_owned();
    assert_eq!(
        api.bad("/api/records", &[("q", "article"), ("cursor", &id_cursor)])
            .await,
        "cursor"
    );
    assert_eq!(
        ids(&api.ok("/api/records", &[("cursor", &id_cursor)]).await["items"]).len(),
        2
    );

    for (k, v) in [
        ("since", "-1"),
        ("since", "x"),
        ("limit", "0"),
        ("limit", "10001"),
        ("until", "5"),
    ] {
        assert_eq!(api.bad("/api/changes", &[(k, v)]).await, k, "{k}={v}");
    }
    assert_eq!(api.bad("/api/records/abc", &[]).await, "id");
    assert_eq!(api.bad("/api/records/0/raw", &[]).await, "id");

    for path in ["/api/records/999999", "/api/records/999999/raw"] {
        let r = api.get(path, &[]).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(r.json()["error"]["code"], "not_found", "{path}: {}", r.text);
    }
}

/// `/api/records/{id}` is the contract object (as `records show --json` prints it) and
/// `/raw` the stored XML as `application/xml`; a tombstone's `/raw` is 410.
#[tokio::test]
async fn a_record_and_its_raw_xml() {
    let db = TestDb::new().await;
    let api = serve(&db).await;
    let (live, dead) = seed_and_tombstone(&db).await;

    let obj = api.ok(&format!("/api/records/{live}"), &[]).await;
    let rows = db.store.find_records(&RecordKey::Id(live)).await.unwrap();
    assert_eq!(obj, sheaf::contract::record_json(&rows[0]));
    assert_eq!(obj["oai_identifier"], "oai:dvostok.example.org:article/123");

    let raw = api.get(&format!("/api/records/{live}/raw"), &[]).await;
    assert_eq!(raw.status, StatusCode::OK);
    assert_eq!(raw.content_type, "application/xml; charset=utf-8");
    let stored: String = sqlx::query_scalar("SELECT raw_metadata FROM records WHERE id = $1")
        .bind(live)
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    assert_eq!(raw.text, stored);
    assert!(raw.text.contains("Российские приоритеты"), "{}", raw.text);

    let tomb = api.ok(&format!("/api/records/{dead}"), &[]).await;
    assert_eq!(
        (
            tomb["deleted"].as_bool(),
            tomb["titles"].as_array().map(Vec::len)
        ),
        (Some(true), Some(0))
    );
    let gone = api.get(&format!("/api/records/{dead}/raw"), &[]).await;
    assert_eq!(gone.status, StatusCode::GONE);
    assert_eq!(gone.json()["error"]["code"], "deleted");
}

// ---------------------------------------------------------------------------------------------
// Change feed
// ---------------------------------------------------------------------------------------------

/// A consumer following `/api/changes` from 0 mirrors the table exactly (ids, deleted flags,
/// contract objects) after a first harvest; after updates, deletions, a resurrection and
/// additions; and after a `db renormalize` that changes stored output.
#[tokio::test]
async fn a_consumer_following_the_feed_mirrors_the_table() {
    let db = TestDb::new().await;
    let api = serve(&db).await;
    let p = FakeProvider::start(
        ProviderConfig {
            page_size: 3,
            ..Default::default()
        },
        FakeRecord::series(8, utc("2022-01-01T00:00:00Z")),
    )
    .await;
    let src = add_source(&db.store, "feed", &p.base_url(), &[]).await;
    let h = harvester(&db.store);
    harvest_ok(&h, &src, &opts()).await;

    let mut mirror = BTreeMap::new();
    let mut cursor = follow(&api, 0, &mut mirror).await;
    assert_eq!(mirror.len(), 8);
    assert_eq!(mirror, live_table(&db).await);

    // Caught up: nothing more, and the cursor stays.
    let empty = api
        .ok("/api/changes", &[("since", &cursor.to_string())])
        .await;
    assert_eq!(
        (
            empty["items"].as_array().map(Vec::len),
            &empty["next_cursor"]
        ),
        (Some(0), &Value::Null)
    );

    let at = utc("2022-02-01T00:00:00Z");
    p.upsert_record(FakeRecord::dc(
        "oai:fake.example:2",
        at,
        &[],
        "Article 2, revised",
    ));
    p.upsert_record(FakeRecord::dc(
        "oai:fake.example:5",
        at,
        &[],
        "Article 5, revised",
    ));
    p.delete_record("oai:fake.example:3", at);
    p.delete_record("oai:fake.example:7", at);
    p.upsert_record(FakeRecord::dc("oai:fake.example:9", at, &[], "Article 9"));
    p.upsert_record(FakeRecord::dc("oai:fake.example:10", at, &[], "Article 10"));
    harvest_ok(&h, &src, &full()).await;
    cursor = follow(&api, cursor, &mut mirror).await;
    assert_eq!(mirror, live_table(&db).await);
    assert_eq!(mirror.values().filter(|v| v["deleted"] == true).count(), 2);
    assert!(
        mirror
            .values()
            .any(|v| v["titles"][0]["value"] == "Article 5, revised")
    );

    // A resurrection.
    p.upsert_record(FakeRecord::dc(
        "oai:fake.example:3",
        utc("2022-03-01T00:00:00Z"),
        &[],
        "Article 3 is back",
    ));
    harvest_ok(&h, &src, &full()).await;
    cursor = follow(&api, cursor, &mut mirror).await;
    assert_eq!(mirror, live_table(&db).await);

    // Records written by older rules reach the mirror through the feed...
    sqlx::query(
        "UPDATE records SET normalized = jsonb_set(normalized, '{issued}', '\"old\"'), issued = 'old', \
         change_seq = nextval('record_change_seq') WHERE oai_identifier IN ('oai:fake.example:1', 'oai:fake.example:4')",
    )
    .execute(db.store.pool())
    .await
    .unwrap();
    cursor = follow(&api, cursor, &mut mirror).await;
    assert_eq!(mirror.values().filter(|v| v["issued"] == "old").count(), 2);
    // ...and so does `db renormalize` rewriting them.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sheaf"))
        .args(["db", "renormalize"])
        .env("DATABASE_URL", &db.url)
        .env("SHEAF_LOG__LEVEL", "warn")
        .env_remove("SHEAF_CONFIG")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(", 2 changed"));
    let before = cursor;
    cursor = follow(&api, cursor, &mut mirror).await;
    assert!(cursor > before);
    assert_eq!(mirror.values().filter(|v| v["issued"] == "old").count(), 0);
    assert_eq!(mirror, live_table(&db).await);
    assert_eq!(mirror.len(), 10);
    // The stored text the feed copies holds the jsonb's object after every kind of write
    // above (harvest, deletion, resurrection, hand-written SQL, renormalize).
    let (stale, texts, live): (i64, i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE normalized_text::jsonb IS DISTINCT FROM normalized), \
         count(normalized_text), count(*) FILTER (WHERE NOT deleted) FROM records",
    )
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    assert_eq!((stale, texts), (0, live));
}

/// Sequence order is commit order: a writer that draws its change_seq while another
/// transaction holds an earlier one waits for it, so a consumer never moves past an
/// uncommitted lower sequence number.
#[tokio::test]
async fn the_feed_never_skips_a_change_committed_late() {
    let db = TestDb::new().await;
    let api = serve(&db).await;
    let p = FakeProvider::start(
        ProviderConfig::default(),
        FakeRecord::series(3, utc("2022-01-01T00:00:00Z")),
    )
    .await;
    let src = add_source(&db.store, "order", &p.base_url(), &[]).await;
    let h = harvester(&db.store);
    harvest_ok(&h, &src, &opts()).await;
    let mut mirror = BTreeMap::new();
    let start = follow(&api, 0, &mut mirror).await;

    // Transaction A draws a sequence number and stays open.
    let mut a = db.store.pool().begin().await.unwrap();
    sheaf::store::lock_change_feed(&mut a).await.unwrap();
    let seq_a: i64 = sqlx::query_scalar(
        "UPDATE records SET change_seq = nextval('record_change_seq'), updated_at = now() \
         WHERE oai_identifier = 'oai:fake.example:1' RETURNING change_seq",
    )
    .fetch_one(&mut *a)
    .await
    .unwrap();

    // Writer B, a real harvest page, starts later and must wait for A.
    p.upsert_record(FakeRecord::dc(
        "oai:fake.example:2",
        utc("2022-02-01T00:00:00Z"),
        &[],
        "Changed",
    ));
    let b = tokio::spawn({
        let (h, src) = (h.clone(), src.clone());
        async move { harvest_ok(&h, &src, &full()).await }
    });
    let waiting = async {
        loop {
            let n: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND wait_event_type = 'Lock' AND wait_event = 'advisory'",
            )
            .fetch_one(db.store.pool())
            .await
            .unwrap();
            if n > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(30), waiting)
        .await
        .expect("the harvest page waits for the change-feed lock");
    assert!(!b.is_finished());
    let page = api
        .ok("/api/changes", &[("since", &start.to_string())])
        .await;
    assert_eq!(
        page["items"],
        Value::Array(vec![]),
        "nothing is committed yet"
    );

    a.commit().await.unwrap();
    b.await.unwrap();
    let page = api
        .ok("/api/changes", &[("since", &start.to_string())])
        .await;
    let got: Vec<(String, i64)> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["oai_identifier"].as_str().unwrap().to_owned(),
                i["change_seq"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0], ("oai:fake.example:1".to_owned(), seq_a));
    assert_eq!(got[1].0, "oai:fake.example:2");
    assert!(got[1].1 > seq_a);
}

/// Each committed page sends one `sheaf_records` notification with its counts and last
/// change sequence; sweeps of unchanged pages say so; re-normalization notifies too.
#[tokio::test]
async fn each_committed_page_notifies_listeners() {
    let db = TestDb::new().await;
    let mut listener = sqlx::postgres::PgListener::connect(&db.url).await.unwrap();
    listener
        .listen(sheaf::store::RECORDS_CHANNEL)
        .await
        .unwrap();
    let p = FakeProvider::start(
        ProviderConfig {
            page_size: 3,
            ..Default::default()
        },
        FakeRecord::series(7, utc("2022-01-01T00:00:00Z")),
    )
    .await;
    let src = add_source(&db.store, "notify", &p.base_url(), &[]).await;
    let h = harvester(&db.store);
    let mut next = async || -> Value {
        let n = tokio::time::timeout(Duration::from_secs(10), listener.recv())
            .await
            .expect("a notification")
            .unwrap();
        assert_eq!(n.channel(), "sheaf_records");
        serde_json::from_str(n.payload()).unwrap()
    };

    let run = harvest_ok(&h, &src, &opts()).await;
    let mut last = 0;
    for (page, new) in [(1, 3), (2, 3), (3, 1)] {
        let n = next().await;
        assert_eq!(n["kind"], "page");
        assert_eq!(n["source"], "notify");
        assert_eq!(n["run"], run.id);
        assert_eq!(n["pages"], page);
        assert_eq!(
            (
                n["new"].as_i64(),
                n["updated"].as_i64(),
                n["deleted"].as_i64(),
                n["unchanged"].as_i64()
            ),
            (Some(new), Some(0), Some(0), Some(0))
        );
        let seq = n["last_change_seq"].as_i64().unwrap();
        assert!(seq > last);
        last = seq;
    }
    let max: i64 = sqlx::query_scalar("SELECT max(change_seq) FROM records")
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    assert_eq!(last, max);

    p.delete_record("oai:fake.example:7", utc("2022-02-01T00:00:00Z"));
    let run = harvest_ok(&h, &src, &full()).await;
    let notes = [next().await, next().await, next().await];
    for n in &notes[..2] {
        assert_eq!(
            (
                n["run"].as_i64(),
                n["unchanged"].as_i64(),
                &n["last_change_seq"]
            ),
            (Some(run.id), Some(3), &Value::Null)
        );
    }
    assert_eq!(
        (notes[2]["deleted"].as_i64(), notes[2]["pages"].as_i64()),
        (Some(1), Some(3))
    );
    assert!(notes[2]["last_change_seq"].as_i64().unwrap() > last);

    sqlx::query("UPDATE records SET normalized = jsonb_set(normalized, '{issued}', '\"old\"') WHERE oai_identifier = 'oai:fake.example:1'")
        .execute(db.store.pool())
        .await
        .unwrap();
    sheaf::harvest::renormalize::renormalize(&db.store, None)
        .await
        .unwrap();
    let n = next().await;
    assert_eq!(
        (n["kind"].as_str(), n["updated"].as_i64(), &n["run"]),
        (Some("renormalize"), Some(1), &Value::Null)
    );
}

// ---------------------------------------------------------------------------------------------
// OpenAPI
// ---------------------------------------------------------------------------------------------

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

/// (path, method) of every `.route(...)` call in `src/`, read from the source: the router
/// cannot list its routes.
fn registered_routes() -> BTreeSet<(String, String)> {
    fn walk(dir: &std::path::Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(std::fs::read_to_string(&p).unwrap());
            }
        }
    }
    let mut files = Vec::new();
    walk(std::path::Path::new("src"), &mut files);
    let method = regex::Regex::new(r"\b(get|post|put|patch|delete)\(").unwrap();
    let mut routes = BTreeSet::new();
    for text in files {
        for (start, _) in text.match_indices(".route(") {
            let Some(rest) = text[start + ".route(".len()..]
                .trim_start()
                .strip_prefix('"')
            else {
                continue;
            };
            let path = &rest[..rest.find('"').unwrap()];
            // The handler expression runs to the parenthesis closing `.route(`.
            let mut depth = 1;
            let mut end = 0;
            for (i, c) in rest.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                if depth == 0 {
                    end = i;
                    break;
                }
            }
            for m in method.captures_iter(&rest[path.len()..end]) {
                routes.insert((path.to_owned(), m[1].to_owned()));
            }
        }
    }
    routes
}

/// Checks `v` against a JSON schema of the document (types, required keys, enums, nested).
fn conform(doc: &Value, schema: &Value, v: &Value, at: &str, errs: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/components/schemas/");
        let target = &doc["components"]["schemas"][name];
        assert!(target.is_object(), "dangling $ref {r}");
        return conform(doc, target, v, at, errs);
    }
    for s in schema
        .get("allOf")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        conform(doc, s, v, at, errs);
    }
    if let Some(one) = schema.get("oneOf").and_then(Value::as_array) {
        let fits = one.iter().any(|s| {
            let mut e = Vec::new();
            conform(doc, s, v, at, &mut e);
            e.is_empty()
        });
        if !fits {
            errs.push(format!("{at}: {v} fits no oneOf branch"));
        }
    }
    if let Some(t) = schema.get("type") {
        let types: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let fits = types.iter().any(|t| match *t {
            "null" => v.is_null(),
            "string" => v.is_string(),
            "integer" => v.is_i64() || v.is_u64(),
            "number" => v.is_number(),
            "boolean" => v.is_boolean(),
            "array" => v.is_array(),
            "object" => v.is_object(),
            _ => false,
        });
        if !fits {
            errs.push(format!("{at}: {v} is not {types:?}"));
            return;
        }
    }
    if let (Some(e), Some(s)) = (schema.get("enum").and_then(Value::as_array), v.as_str())
        && !e.iter().any(|x| x == s)
    {
        errs.push(format!("{at}: {s:?} not in {e:?}"));
    }
    for key in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let key = key.as_str().unwrap();
        if v.get(key).is_none() {
            errs.push(format!("{at}: required key {key:?} missing"));
        }
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, s) in props {
            if let Some(x) = v.get(k) {
                conform(doc, s, x, &format!("{at}.{k}"), errs);
            }
        }
    }
    if let (Some(items), Some(a)) = (schema.get("items"), v.as_array()) {
        for (i, x) in a.iter().enumerate() {
            conform(doc, items, x, &format!("{at}[{i}]"), errs);
        }
    }
}

/// The OpenAPI document lists exactly the routes and methods the router registers; every
/// documented operation is mounted (no 404/405 from the router) and undocumented methods
/// are 405; documented query parameters are accepted and, where unknown ones are refused,
/// are exactly the accepted set; real responses fit the declared schemas.
#[tokio::test]
async fn the_openapi_document_matches_the_router() {
    let db = TestDb::new().await;
    let api = serve(&db).await;
    let (live, dead) = seed_and_tombstone(&db).await;

    let doc = api.ok("/api/openapi.json", &[]).await;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    let documented: BTreeSet<(String, String)> = paths
        .iter()
        .flat_map(|(p, item)| {
            METHODS
                .iter()
                .filter(|m| item.get(**m).is_some())
                .map(move |m| (p.clone(), m.to_string()))
        })
        .collect();
    assert_eq!(documented, registered_routes());

    for (path, item) in paths {
        let mut concrete = path.clone();
        let mut params: Vec<&Value> = item
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .collect();
        for m in METHODS {
            params.extend(
                item.get(m)
                    .and_then(|o| o.get("parameters"))
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten(),
            );
        }
        for p in params.iter().filter(|p| p["in"] == "path") {
            concrete = concrete.replace(
                &format!("{{{}}}", p["name"].as_str().unwrap()),
                p["example"].as_str().unwrap(),
            );
        }
        for m in METHODS {
            let r = api
                .request(
                    Method::from_bytes(m.to_uppercase().as_bytes()).unwrap(),
                    &concrete,
                    &[],
                )
                .await;
            if item.get(m).is_some() {
                assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{m} {concrete}");
                // The router's own 404 has an empty body; handlers answer JSON.
                assert!(
                    !(r.status == StatusCode::NOT_FOUND && r.text.is_empty()),
                    "{m} {concrete} is not routed"
                );
            } else {
                assert_eq!(
                    r.status,
                    StatusCode::METHOD_NOT_ALLOWED,
                    "{m} {concrete} answers but is not documented"
                );
            }
        }
        let Some(op) = item.get("get") else { continue };
        let query: Vec<(&str, &str)> = op
            .get("parameters")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter(|p| p["in"] == "query")
            .map(|p| {
                (
                    p["name"].as_str().unwrap(),
                    p["example"].as_str().unwrap_or(""),
                )
            })
            .collect();
        // Each documented parameter is accepted with its example value.
        for (k, v) in &query {
            if k == &"cursor" || v.is_empty() {
                continue;
            }
            let r = api.get(&concrete, &[(k, v)]).await;
            assert_ne!(
                r.status,
                StatusCode::BAD_REQUEST,
                "{concrete}?{k}={v}: {}",
                r.text
            );
        }
        // Where unknown parameters are refused, the refusal lists the accepted set.
        let r = api.get(&concrete, &[("zzz", "1")]).await;
        if r.status == StatusCode::BAD_REQUEST {
            let msg = r.json()["error"]["message"].as_str().unwrap().to_owned();
            let accepted: BTreeSet<&str> = msg
                .split_once("expected ")
                .unwrap()
                .1
                .split([',', ' '])
                .filter(|s| !s.is_empty() && *s != "one" && *s != "of" && *s != "or")
                .collect();
            let names: BTreeSet<&str> = query.iter().map(|(k, _)| *k).collect();
            assert_eq!(accepted, names, "{path}: {msg}");
        }
    }

    // Real answers fit their declared schemas.
    let run_id: i64 = sqlx::query_scalar("SELECT max(id) FROM harvest_runs")
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    let examples = [
        ("/readyz", "/readyz".to_owned(), vec![], "200"),
        (
            "/api/records",
            "/api/records".into(),
            vec![("total", "true")],
            "200",
        ),
        (
            "/api/records",
            "/api/records".into(),
            vec![("q", "Korean Peninsula"), ("limit", "1")],
            "200",
        ),
        (
            "/api/records",
            "/api/records".into(),
            vec![("limit", "0")],
            "400",
        ),
        (
            "/api/records/{id}",
            format!("/api/records/{live}"),
            vec![],
            "200",
        ),
        (
            "/api/records/{id}",
            format!("/api/records/{dead}"),
            vec![],
            "200",
        ),
        (
            "/api/records/{id}",
            "/api/records/987654".into(),
            vec![],
            "404",
        ),
        (
            "/api/records/{id}/raw",
            format!("/api/records/{dead}/raw"),
            vec![],
            "410",
        ),
        (
            "/api/changes",
            "/api/changes".into(),
            vec![("limit", "1")],
            "200",
        ),
        ("/api/changes", "/api/changes".into(), vec![], "200"),
        ("/api/sources", "/api/sources".into(), vec![], "200"),
        (
            "/api/sources/{name}",
            "/api/sources/dvostok".into(),
            vec![],
            "200",
        ),
        (
            "/api/sources/{name}",
            "/api/sources/nope".into(),
            vec![],
            "404",
        ),
        ("/api/runs", "/api/runs".into(), vec![], "200"),
        (
            "/api/runs/{id}",
            format!("/api/runs/{run_id}"),
            vec![],
            "200",
        ),
    ];
    for (template, path, query, status) in &examples {
        let r = api.get(path, query).await;
        assert_eq!(r.status.as_str(), *status, "{path} {query:?}: {}", r.text);
        let schema = &doc["paths"][template]["get"]["responses"][status]["content"]["application/json"]
            ["schema"];
        assert!(schema.is_object(), "{template} {status} has no JSON schema");
        let mut errs = Vec::new();
        conform(&doc, schema, &r.json(), path, &mut errs);
        assert!(errs.is_empty(), "{errs:#?}");
    }
    // The validator itself rejects what does not fit.
    let mut errs = Vec::new();
    conform(
        &doc,
        &serde_json::json!({"$ref": "#/components/schemas/Record"}),
        &serde_json::json!({"id": "x"}),
        "bad",
        &mut errs,
    );
    assert!(
        errs.iter().any(|e| e.contains("\"source\" missing"))
            && errs.iter().any(|e| e.contains("bad.id")),
        "{errs:?}"
    );
}

/// English words match by their stem and never as prefixes; Russian words still match
/// their inflected forms.
#[tokio::test]
async fn english_words_are_not_prefixes_and_russian_forms_still_meet() {
    let db = TestDb::new().await;
    let api = serve(&db).await;
    let at = utc("2022-06-21T00:00:00Z");
    let p = FakeProvider::start(
        ProviderConfig::default(),
        vec![
            FakeRecord::dc("oai:t:war", at, &[], "War and trade policies"),
            FakeRecord::dc("oai:t:warm", at, &[], "Warm currents near Warsaw"),
            FakeRecord::dc("oai:t:ru", at, &[], "Путь к Корейскому полуострову"),
        ],
    )
    .await;
    let src = add_source(&db.store, "t", &p.base_url(), &[]).await;
    harvest_ok(&harvester(&db.store), &src, &opts()).await;
    let one = |id: &str| BTreeSet::from([id.to_owned()]);
    assert_eq!(api.found(&[("q", "war")]).await, one("oai:t:war"));
    assert_eq!(api.found(&[("q", "policy")]).await, one("oai:t:war"));
    assert_eq!(api.found(&[("q", "warm")]).await, one("oai:t:warm"));
    assert_eq!(
        api.found(&[("q", "Корейский полуостров")]).await,
        one("oai:t:ru")
    );
}

/// A change page larger than the server's write chunks arrives whole, in change order, with
/// the cursor of its last item only when more changes wait; a failure before the first row
/// is an error status, not a cut-off 200.
#[tokio::test]
async fn a_large_change_page_is_streamed_whole() {
    let db = TestDb::new().await;
    let src = add_source(&db.store, "big", "http://127.0.0.1:9/oai", &[]).await;
    // 150 records of ~5 KB of contract JSON each: ~750 KB, several chunks.
    sqlx::query(
        "INSERT INTO records (source_id, oai_identifier, content_hash, normalized) \
         SELECT $1, 'oai:big:' || g, '\\x00', jsonb_build_object('descriptions', jsonb_build_array( \
             jsonb_build_object('value', repeat('Корейский полуостров ' || g || ' ', 130), 'lang', 'ru'))) \
         FROM generate_series(1, 150) g",
    )
    .bind(src.id)
    .execute(db.store.pool())
    .await
    .unwrap();
    let api = serve(&db).await;

    let seqs = |page: &Value| -> Vec<i64> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["change_seq"].as_i64().unwrap())
            .collect()
    };
    let first = api.ok("/api/changes", &[("limit", "120")]).await;
    let first_seqs = seqs(&first);
    assert_eq!(first_seqs.len(), 120);
    assert!(first_seqs.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(
        first["next_cursor"],
        Value::String(first_seqs[119].to_string())
    );
    let text = &first["items"][0]["descriptions"][0]["value"];
    assert!(
        text.as_str()
            .unwrap()
            .starts_with("Корейский полуостров 1 "),
        "{text}"
    );

    let rest = api
        .ok(
            "/api/changes",
            &[("since", &first_seqs[119].to_string()), ("limit", "10000")],
        )
        .await;
    assert_eq!(seqs(&rest).len(), 30);
    assert_eq!(rest["next_cursor"], Value::Null);

    let all = api.ok("/api/changes", &[("limit", "10000")]).await;
    assert_eq!(seqs(&all).len(), 150);
    assert_eq!(all["next_cursor"], Value::Null);
    // Written into chunk buffers the earlier pages returned to the pool: nothing of theirs
    // shows through.
    let again = api.ok("/api/changes", &[("limit", "10000")]).await;
    assert_eq!(again, all);

    db.store.pool().close().await;
    let r = api.get("/api/changes", &[]).await;
    assert!(r.status.is_server_error(), "{} {}", r.status, r.text);
    assert!(r.json()["error"]["code"].is_string(), "{}", r.text);
}

/// Toasted values of `records` rows: how many values are stored out of line.
async fn toasted_values(db: &TestDb) -> i64 {
    let toast: String = sqlx::query_scalar(
        "SELECT reltoastrelid::regclass::text FROM pg_class WHERE oid = 'records'::regclass",
    )
    .fetch_one(db.store.pool())
    .await
    .unwrap();
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(DISTINCT chunk_id) FROM {toast}"
    )))
    .fetch_one(db.store.pool())
    .await
    .unwrap()
}

/// Migrations 0013–0014: beside stored JSON text that fills the row, a record's small
/// columns (OAI identifier, sets, title, DOI, languages, types, work key) stay in the row
/// instead of going to TOAST, where the change feed paid an index lookup for each; rows
/// stored before the migrations are rewritten, and read back unchanged.
#[tokio::test]
async fn small_columns_stay_in_the_row_beside_a_large_record() {
    let db = TestDb::empty().await;
    sheaf::store::MIGRATOR
        .run_to(20261128000012, db.store.pool())
        .await
        .expect("migrate to version 12");
    let src = add_source(&db.store, "s", "http://127.0.0.1:9/oai", &[]).await;
    // Hex digests compress poorly, so the stored text stays well over 2 KB.
    let insert = |id: &'static str| {
        sqlx::query(
            "INSERT INTO records (source_id, oai_identifier, content_hash, sets, title, doi, \
                 languages, types, work_key, raw_metadata, normalized) \
             SELECT $1, $2, '\\x00', ARRAY['journal:set-one', 'journal:set-two'], \
                 'A title long enough to be moved out of line', '10.12345/a-long-enough-doi', \
                 ARRAY['ru', 'en', 'de', 'fr'], ARRAY['article', 'review', 'preprint'], \
                 'doi:10.12345/a-long-enough-doi', string_agg(md5('raw' || g), ''), \
                 jsonb_build_object('descriptions', jsonb_build_array(jsonb_build_object( \
                     'value', string_agg(md5(g::text), ' '), 'lang', 'en'))) \
             FROM generate_series(1, 150) g",
        )
        .bind(src.id)
        .bind(id)
    };
    insert("oai:journal.example.org:article/1")
        .execute(db.store.pool())
        .await
        .unwrap();
    let before = toasted_values(&db).await;
    assert!(
        before >= 2 + 7,
        "raw XML, JSON and the seven small values out of line before: {before}"
    );
    let row_before: Value = sqlx::query_scalar("SELECT to_jsonb(r) FROM records r")
        .fetch_one(db.store.pool())
        .await
        .unwrap();

    db.store
        .migrate()
        .await
        .expect("migrate to the latest version");
    assert_eq!(
        toasted_values(&db).await,
        2,
        "only the raw XML and the JSON are out of line"
    );
    let row_after: Value = sqlx::query_scalar("SELECT to_jsonb(r) FROM records r")
        .fetch_one(db.store.pool())
        .await
        .unwrap();
    assert_eq!(row_after, row_before);

    insert("oai:journal.example.org:article/2")
        .execute(db.store.pool())
        .await
        .unwrap();
    assert_eq!(toasted_values(&db).await, 4, "a new row the same way");
}
