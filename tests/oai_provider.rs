//! sheaf's own OAI-PMH data provider (`/oai`) against a real database filled by real
//! harvests: every verb, every error code, resumption, from/until, deletions, sets, the
//! duplicate-identifier rule, and the round trip (sheaf harvesting its own `/oai` into a
//! second database reproduces every record).

mod common;

use std::collections::BTreeSet;

use common::db::TestDb;
use common::fake_provider::{FakeProvider, FakeRecord, ProviderConfig, utc};
use common::harness::*;
use quick_xml::Reader;
use quick_xml::events::Event;
use serde_json::Value;
use sheaf::api::AppState;
use sheaf::oai::response::{Payload, Response, parse};
use sheaf::oai::{OaiError, Verb};
use sheaf::provider::ProviderSettings;
use sheaf::store::Store;

const DSPACE: &str = r#"<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" xmlns:dc="http://purl.org/dc/elements/1.1/">
  <dc:title>Soil carbon in boreal forests</dc:title>
  <dc:creator>Virtanen, Matti</dc:creator><dc:creator>Korhonen, Anna; Mäkinen, Pekka</dc:creator>
  <dc:subject>carbon; soil; boreal forests</dc:subject>
  <dc:date>2019-03-04T10:11:12Z</dc:date><dc:date>2018</dc:date>
  <dc:type>Article</dc:type>
  <dc:identifier>http://hdl.handle.net/10138/12345</dc:identifier>
  <dc:identifier>doi:10.1016/J.GEODERMA.2018.01.001</dc:identifier>
  <dc:source>Geoderma; Vol 5, No 2 (2018); 10-20</dc:source>
  <dc:language>eng</dc:language>
  <dc:rights>CC BY 4.0</dc:rights>
</oai_dc:dc>"#;

/// The realistic record set: the seed article, an OJS-like series, a DSpace record and a
/// deletion, with nested original sets.
fn fixture_records() -> Vec<FakeRecord> {
    let seed = std::fs::read_to_string("tests/data/seed_article_oai_dc.xml").unwrap();
    let mut recs = vec![
        FakeRecord::raw(
            "oai:dvostok.example.org:article/123",
            utc("2022-06-21T00:00:00Z"),
            &["dvostok", "dvostok:ART"],
            &seed,
        ),
        FakeRecord::raw(
            "oai:dspace.example:10138/12345",
            utc("2022-06-22T00:00:00Z"),
            &["col_1"],
            DSPACE,
        ),
        FakeRecord::deleted(
            "oai:dvostok.example.org:article/9",
            utc("2022-06-24T00:00:00Z"),
            &["dvostok"],
        ),
    ];
    for mut r in FakeRecord::series(5, utc("2022-07-01T00:00:00Z")) {
        r.sets = vec!["dvostok:REV".into()];
        recs.push(r);
    }
    recs
}

/// Harvests the fixture into `db` as source `journal`; returns the provider (kept alive).
async fn harvest_fixture(db: &TestDb) -> FakeProvider {
    let p = FakeProvider::start(ProviderConfig::default(), fixture_records()).await;
    let src = add_source(&db.store, "journal", &p.base_url(), &[]).await;
    harvest_ok(&harvester(&db.store), &src, &opts()).await;
    p
}

fn settings(page_size: u32) -> ProviderSettings {
    ProviderSettings {
        repository_name: "Test aggregator".into(),
        admin_email: "oai@example.org".into(),
        base_url: None,
        page_size,
    }
}

/// Serves `/oai` over `store` on 127.0.0.1; returns the base URL.
async fn serve(store: &Store, page_size: u32) -> String {
    let app = sheaf::provider::router_with(settings(page_size)).with_state(AppState {
        store: store.clone(),
        admin_token: None,
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/oai")
}

async fn get(base: &str, args: &[(&str, &str)]) -> String {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(args)
        .finish();
    let resp = reqwest::get(format!("{base}?{q}")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(ct.starts_with("text/xml"), "{ct}");
    resp.text().await.unwrap()
}

/// One element of a response: name, attributes, text.
#[derive(Debug, Clone)]
struct El {
    name: String,
    attrs: Vec<(String, String)>,
    text: String,
}

fn element(s: &quick_xml::events::BytesStart<'_>) -> El {
    let attrs = s
        .attributes()
        .map(|a| {
            let a = a.unwrap();
            (
                a.key.as_ref().to_owned(),
                a.normalized_value(quick_xml::XmlVersion::Implicit1_0)
                    .unwrap()
                    .into_owned(),
            )
        })
        .collect();
    El {
        name: s.local_name().as_ref().to_owned(),
        attrs,
        text: String::new(),
    }
}

/// Every element of a well-formed document in order (panics when it is not well-formed).
fn elements(xml: &str) -> Vec<El> {
    let mut r = Reader::from_str(xml);
    let mut out: Vec<El> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    loop {
        match r
            .read_event()
            .unwrap_or_else(|e| panic!("not well-formed: {e}\n{xml}"))
        {
            Event::Start(s) => {
                out.push(element(&s));
                open.push(out.len() - 1);
            }
            Event::Empty(s) => out.push(element(&s)),
            Event::Text(t) => {
                if let Some(&i) = open.last() {
                    out[i].text.push_str(&t.xml10_content());
                }
            }
            Event::GeneralRef(g) => {
                if let Some(&i) = open.last() {
                    let c = match g.resolve_char_ref().unwrap() {
                        Some(c) => c,
                        None => match &*g.xml10_content() {
                            "lt" => '<',
                            "gt" => '>',
                            "amp" => '&',
                            "quot" => '"',
                            "apos" => '\'',
                            other => panic!("unexpected entity {other}"),
                        },
                    };
                    out[i].text.push(c);
                }
            }
            Event::End(_) => {
                open.pop();
            }
            Event::Eof => break,
            _ => {}
        }
    }
    assert!(open.is_empty(), "unclosed elements");
    out
}

fn first<'a>(els: &'a [El], name: &str) -> Option<&'a El> {
    els.iter().find(|e| e.name == name)
}

fn all<'a>(els: &'a [El], name: &str) -> Vec<&'a El> {
    els.iter().filter(|e| e.name == name).collect()
}

fn attr<'a>(e: &'a El, key: &str) -> Option<&'a str> {
    e.attrs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// The envelope every response needs: root, responseDate in seconds form, request element.
fn check_envelope(xml: &str, base: &str) -> Vec<El> {
    let els = elements(xml);
    assert_eq!(els[0].name, "OAI-PMH");
    assert_eq!(
        attr(&els[0], "xmlns"),
        Some("http://www.openarchives.org/OAI/2.0/")
    );
    assert_eq!(els[1].name, "responseDate");
    assert!(
        chrono::NaiveDateTime::parse_from_str(&els[1].text, "%Y-%m-%dT%H:%M:%SZ").is_ok(),
        "{}",
        els[1].text
    );
    assert_eq!(els[2].name, "request");
    assert_eq!(els[2].text, base);
    els
}

/// The error codes of a response (and a check of the envelope).
fn error_codes(xml: &str, base: &str) -> Vec<String> {
    let els = check_envelope(xml, base);
    all(&els, "error")
        .iter()
        .map(|e| attr(e, "code").unwrap().to_owned())
        .collect()
}

/// Asserts that the response is exactly one error `code`, and how the request is echoed.
async fn expect_error(base: &str, args: &[(&str, &str)], code: &str) {
    let xml = get(base, args).await;
    assert_eq!(error_codes(&xml, base), [code], "{args:?}\n{xml}");
    let els = elements(&xml);
    let request = first(&els, "request").unwrap();
    if matches!(code, "badVerb" | "badArgument") {
        assert!(request.attrs.is_empty(), "{args:?}: {:?}", request.attrs);
    } else {
        let echoed: Vec<(&str, &str)> = request
            .attrs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(echoed, args, "{xml}");
    }
}

fn parsed(xml: &str, verb: Verb) -> Response {
    parse(xml, verb, "test").unwrap_or_else(|e| panic!("{e}\n{xml}"))
}

/// Follows a list to its end; returns every page's response and checks the token rules.
async fn harvest_list(base: &str, verb: Verb, args: &[(&str, &str)]) -> Vec<Response> {
    let mut pages = Vec::new();
    let mut xml = get(base, &[&[("verb", verb.as_str())], args].concat()).await;
    let mut expected_cursor = 0u64;
    loop {
        check_envelope(&xml, base);
        let r = parsed(&xml, verb);
        let n = match &r.payload {
            Payload::Headers(h) => h.len(),
            Payload::Records(r) => r.len(),
            other => panic!("{other:?}"),
        } as u64;
        if let Some(t) = &r.token {
            assert_eq!(t.cursor, Some(expected_cursor), "{xml}");
        }
        expected_cursor += n;
        let next = r.next_token().map(str::to_owned);
        pages.push(r);
        match next {
            Some(t) => {
                xml = get(base, &[("verb", verb.as_str()), ("resumptionToken", &t)]).await;
            }
            None => break,
        }
    }
    pages
}

fn headers_of(pages: &[Response]) -> Vec<sheaf::oai::Header> {
    pages
        .iter()
        .flat_map(|p| match &p.payload {
            Payload::Headers(h) => h.clone(),
            Payload::Records(r) => r.iter().map(|r| r.header.clone()).collect(),
            _ => Vec::new(),
        })
        .collect()
}

type Row = (String, bool, Option<Value>, Vec<String>);

/// (identifier, deleted, normalized, sets) of every stored record, by identifier.
async fn rows(store: &Store) -> Vec<Row> {
    sqlx::query_as(
        "SELECT oai_identifier, deleted, normalized, sets FROM records ORDER BY oai_identifier",
    )
    .fetch_all(store.pool())
    .await
    .unwrap()
}

async fn stored_identifiers(store: &Store) -> Vec<(String, bool)> {
    rows(store).await.into_iter().map(|r| (r.0, r.1)).collect()
}

/// Identify says what the spec requires, with facts from the data.
#[tokio::test]
async fn identify_describes_the_repository_from_its_data() {
    let db = TestDb::new().await;
    let _p = harvest_fixture(&db).await;
    let base = serve(&db.store, 100).await;
    let xml = get(&base, &[("verb", "Identify")]).await;
    let els = check_envelope(&xml, &base);
    assert_eq!(
        first(&els, "request").unwrap().attrs,
        [("verb".to_owned(), "Identify".to_owned())]
    );
    let Payload::Identify(id) = parsed(&xml, Verb::Identify).payload else {
        panic!("{xml}")
    };
    assert_eq!(id.repository_name, "Test aggregator");
    assert_eq!(id.base_url, base);
    assert_eq!(id.protocol_version, "2.0");
    assert_eq!(id.admin_emails, ["oai@example.org"]);
    assert_eq!(id.deleted_record, "persistent");
    assert_eq!(id.granularity_raw, "YYYY-MM-DDThh:mm:ssZ");
    let earliest = sheaf::oai::datestamp::parse_datestamp(&id.earliest_datestamp).unwrap();
    let min: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT min(updated_at) FROM records")
            .fetch_one(db.store.pool())
            .await
            .unwrap();
    assert!(earliest <= min && min - earliest < chrono::TimeDelta::seconds(1));
    // Identify takes no arguments.
    expect_error(&base, &[("verb", "Identify"), ("x", "1")], "badArgument").await;
}

/// The full router (`api::router`) serves `/oai` too, with the default settings.
#[tokio::test]
async fn the_api_router_mounts_the_provider() {
    let db = TestDb::new().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/oai", listener.local_addr().unwrap());
    let app = sheaf::api::router(AppState {
        store: db.store.clone(),
        admin_token: None,
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    let xml = get(&base, &[("verb", "Identify")]).await;
    let Payload::Identify(id) = parsed(&xml, Verb::Identify).payload else {
        panic!("{xml}")
    };
    assert_eq!(id.repository_name, "sheaf");
    assert_eq!(id.base_url, base);
}

/// ListRecords in pages of 3: every stored record exactly once, tokens with cursor and
/// completeListSize, the last page with an empty token, tombstones as deleted headers.
#[tokio::test]
async fn list_records_resumes_across_pages_without_duplicates_or_gaps() {
    let db = TestDb::new().await;
    let _p = harvest_fixture(&db).await;
    let base = serve(&db.store, 3).await;
    let pages = harvest_list(&base, Verb::ListRecords, &[("metadataPrefix", "oai_dc")]).await;
    assert_eq!(pages.len(), 3, "8 records in pages of 3");
    for p in &pages {
        assert_eq!(p.token.as_ref().unwrap().complete_list_size, Some(8));
    }
    let last = pages.last().unwrap().token.as_ref().unwrap();
    assert_eq!(last.token, None);
    let headers = headers_of(&pages);
    let got: Vec<(String, bool)> = headers
        .iter()
        .map(|h| (h.identifier.clone(), h.deleted))
        .collect();
    let unique: BTreeSet<_> = got.iter().cloned().collect();
    assert_eq!(unique.len(), got.len(), "duplicates: {got:?}");
    let want = stored_identifiers(&db.store).await;
    assert_eq!(unique.into_iter().collect::<Vec<_>>(), want);
    let records: Vec<_> = pages
        .iter()
        .flat_map(|p| match &p.payload {
            Payload::Records(r) => r.clone(),
            _ => Vec::new(),
        })
        .collect();
    for r in &records {
        assert_eq!(r.metadata.is_none(), r.header.deleted, "{r:?}");
        assert!(r.header.datestamp.is_some());
        assert!(r.header.datestamp_raw.ends_with('Z') && r.header.datestamp_raw.len() == 20);
    }
    // A small list fits one page and carries no token at all.
    let one = get(
        &base,
        &[
            ("verb", "ListIdentifiers"),
            ("metadataPrefix", "oai_dc"),
            ("set", "journal:dvostok:ART"),
        ],
    )
    .await;
    let r = parsed(&one, Verb::ListIdentifiers);
    assert!(r.token.is_none(), "{one}");
    assert_eq!(headers_of(&[r]).len(), 1);
}

/// The regenerated oai_dc is clean and keeps languages; the raw format is the harvested
/// fragment; GetRecord answers both, tombstones as deleted headers.
#[tokio::test]
async fn get_record_serves_regenerated_and_raw_dublin_core() {
    let db = TestDb::new().await;
    let _p = harvest_fixture(&db).await;
    let base = serve(&db.store, 100).await;
    let id = "oai:dvostok.example.org:article/123";
    let xml = get(
        &base,
        &[
            ("verb", "GetRecord"),
            ("identifier", id),
            ("metadataPrefix", "oai_dc"),
        ],
    )
    .await;
    let els = check_envelope(&xml, &base);
    let titles: Vec<(String, Option<&str>)> = all(&els, "title")
        .iter()
        .map(|e| (e.text.clone(), attr(e, "xml:lang")))
        .collect();
    assert!(
        titles.contains(&(
            "Russian Priorities and Approaches to the Korean Peninsula".into(),
            Some("en")
        )),
        "{titles:?}"
    );
    assert!(titles.contains(&(
        "Российские приоритеты и подходы к Корейскому полуострову".into(),
        Some("ru")
    )));
    let texts =
        |name: &str| -> Vec<String> { all(&els, name).iter().map(|e| e.text.clone()).collect() };
    assert!(texts("identifier").contains(&"https://doi.org/10.31857/s013128120020016-6".into()));
    assert_eq!(texts("date"), ["2022-06-21"]);
    assert!(texts("source").contains(&"Problemy Dalnego Vostoka; No. 3 (2022)".into()));
    // Markup of the abstract is gone, its text kept.
    let desc = texts("description").join(" ");
    assert!(
        desc.starts_with("The paper comprehensively examines Russia’s foreign policy"),
        "{desc}"
    );
    assert!(!desc.contains("<p>"));
    let r = parsed(&xml, Verb::GetRecord);
    let Payload::Records(recs) = &r.payload else {
        panic!()
    };
    assert_eq!(recs[0].header.identifier, id);
    assert_eq!(
        recs[0].header.sets,
        ["journal", "journal:dvostok", "journal:dvostok:ART"]
    );

    let raw_xml = get(
        &base,
        &[
            ("verb", "GetRecord"),
            ("identifier", id),
            ("metadataPrefix", "oai_dc_raw"),
        ],
    )
    .await;
    let Payload::Records(raw) = parsed(&raw_xml, Verb::GetRecord).payload else {
        panic!()
    };
    let stored: String =
        sqlx::query_scalar("SELECT raw_metadata FROM records WHERE oai_identifier = $1")
            .bind(id)
            .fetch_one(db.store.pool())
            .await
            .unwrap();
    assert!(
        raw_xml.contains(&stored),
        "the raw fragment is served verbatim"
    );
    let dc = &raw[0].metadata.as_ref().unwrap().dc;
    assert!(
        dc.iter()
            .any(|v| v.element == "date" && v.value == "21.06.2022")
    );

    let gone = get(
        &base,
        &[
            ("verb", "GetRecord"),
            ("identifier", "oai:dvostok.example.org:article/9"),
            ("metadataPrefix", "oai_dc"),
        ],
    )
    .await;
    let Payload::Records(g) = parsed(&gone, Verb::GetRecord).payload else {
        panic!()
    };
    assert!(g[0].header.deleted && g[0].metadata.is_none(), "{gone}");
    assert!(gone.contains("<header status=\"deleted\">"));
}

/// ListMetadataFormats for the repository and per item, and the item errors.
#[tokio::test]
async fn metadata_formats_per_repository_and_per_item() {
    let db = TestDb::new().await;
    let _p = harvest_fixture(&db).await;
    // A source harvested in another format: no oai_dc, no raw oai_dc.
    sqlx::query(
        "WITH s AS (INSERT INTO sources (name, base_url, metadata_prefix) VALUES ('marc', 'http://m.example/oai', 'marcxml') RETURNING id) \
         INSERT INTO records (source_id, oai_identifier, raw_metadata, content_hash) SELECT id, 'oai:m:1', '<record/>', '\\x00' FROM s",
    )
    .execute(db.store.pool())
    .await
    .unwrap();
    let base = serve(&db.store, 100).await;
    let prefixes = |xml: &str| -> Vec<String> {
        match parsed(xml, Verb::ListMetadataFormats).payload {
            Payload::MetadataFormats(f) => f.into_iter().map(|f| f.prefix).collect(),
            other => panic!("{other:?}"),
        }
    };
    let xml = get(&base, &[("verb", "ListMetadataFormats")]).await;
    check_envelope(&xml, &base);
    assert_eq!(prefixes(&xml), ["oai_dc", "oai_dc_raw"]);
    assert!(xml.contains(
        "<metadataNamespace>http://www.openarchives.org/OAI/2.0/oai_dc/</metadataNamespace>"
    ));
    let item = get(
        &base,
        &[
            ("verb", "ListMetadataFormats"),
            ("identifier", "oai:dspace.example:10138/12345"),
        ],
    )
    .await;
    assert_eq!(prefixes(&item), ["oai_dc", "oai_dc_raw"]);
    expect_error(
        &base,
        &[("verb", "ListMetadataFormats"), ("identifier", "oai:m:1")],
        "noMetadataFormats",
    )
    .await;
    expect_error(
        &base,
        &[
            ("verb", "ListMetadataFormats"),
            ("identifier", "oai:nowhere:1"),
        ],
        "idDoesNotExist",
    )
    .await;
    expect_error(
        &base,
        &[
            ("verb", "GetRecord"),
            ("identifier", "oai:m:1"),
            ("metadataPrefix", "oai_dc"),
        ],
        "cannotDisseminateFormat",
    )
    .await;
    // The other source's record is in no oai_dc list.
    let ids = headers_of(
        &harvest_list(
            &base,
            Verb::ListIdentifiers,
            &[("metadataPrefix", "oai_dc")],
        )
        .await,
    );
    assert!(ids.iter().all(|h| h.identifier != "oai:m:1"));
    assert_eq!(ids.len(), 8);
}

/// One set per source, the source's own sets nested under it (ancestors included), and
/// selective harvesting by any of them.
#[tokio::test]
async fn sets_nest_the_sources_own_sets_under_each_source() {
    let db = TestDb::new().await;
    let base = serve(&db.store, 100).await;
    expect_error(&base, &[("verb", "ListSets")], "noSetHierarchy").await;
    expect_error(
        &base,
        &[
            ("verb", "ListRecords"),
            ("metadataPrefix", "oai_dc"),
            ("set", "x"),
        ],
        "noSetHierarchy",
    )
    .await;
    let _p = harvest_fixture(&db).await;
    let xml = get(&base, &[("verb", "ListSets")]).await;
    check_envelope(&xml, &base);
    let Payload::Sets(sets) = parsed(&xml, Verb::ListSets).payload else {
        panic!("{xml}")
    };
    let specs: Vec<&str> = sets.iter().map(|s| s.spec.as_str()).collect();
    assert_eq!(
        specs,
        [
            "journal",
            "journal:col_1",
            "journal:dvostok",
            "journal:dvostok:ART",
            "journal:dvostok:REV"
        ]
    );
    assert_eq!(sets[0].name, "Fake Journal", "the source's repositoryName");
    let count = |set: &'static str| {
        let base = base.clone();
        async move {
            headers_of(
                &harvest_list(
                    &base,
                    Verb::ListIdentifiers,
                    &[("metadataPrefix", "oai_dc"), ("set", set)],
                )
                .await,
            )
            .len()
        }
    };
    assert_eq!(count("journal").await, 8);
    assert_eq!(
        count("journal:dvostok").await,
        7,
        "hierarchical: ART, REV and the tombstone"
    );
    assert_eq!(count("journal:dvostok:REV").await, 5);
    assert_eq!(count("journal:col_1").await, 1);
    expect_error(
        &base,
        &[
            ("verb", "ListIdentifiers"),
            ("metadataPrefix", "oai_dc"),
            ("set", "journal:nope"),
        ],
        "noRecordsMatch",
    )
    .await;
    expect_error(
        &base,
        &[
            ("verb", "ListIdentifiers"),
            ("metadataPrefix", "oai_dc"),
            ("set", "other"),
        ],
        "noRecordsMatch",
    )
    .await;
    expect_error(
        &base,
        &[("verb", "ListSets"), ("resumptionToken", "abc")],
        "badResumptionToken",
    )
    .await;
}

/// from/until are inclusive in both granularities; mixing them, bad forms and inverted
/// ranges are badArgument.
#[tokio::test]
async fn from_and_until_are_inclusive_in_both_granularities() {
    let db = TestDb::new().await;
    let _p = harvest_fixture(&db).await;
    // Deterministic datestamps: record n (by identifier order) at 2030-01-0n 12:00:00.5.
    sqlx::query(
        "UPDATE records r SET updated_at = TIMESTAMPTZ '2030-01-01 12:00:00.5+00' + (o.n - 1) * INTERVAL '1 day' \
         FROM (SELECT id, row_number() OVER (ORDER BY oai_identifier) AS n FROM records) o WHERE o.id = r.id",
    )
    .execute(db.store.pool())
    .await
    .unwrap();
    let base = serve(&db.store, 100).await;
    let ids = |args: Vec<(&'static str, &'static str)>| {
        let base = base.clone();
        async move {
            let mut a = vec![("metadataPrefix", "oai_dc")];
            a.extend(args);
            headers_of(&harvest_list(&base, Verb::ListIdentifiers, &a).await)
                .into_iter()
                .map(|h| h.datestamp_raw)
                .collect::<Vec<_>>()
        }
    };
    let all_stamps = ids(vec![]).await;
    assert_eq!(all_stamps.len(), 8);
    assert!(all_stamps.contains(&"2030-01-03T12:00:00Z".to_owned()));
    // Seconds: a bound equal to a (truncated) datestamp includes that record.
    assert_eq!(ids(vec![("from", "2030-01-03T12:00:00Z")]).await.len(), 6);
    assert_eq!(ids(vec![("until", "2030-01-03T12:00:00Z")]).await.len(), 3);
    assert_eq!(
        ids(vec![
            ("from", "2030-01-03T12:00:00Z"),
            ("until", "2030-01-03T12:00:00Z")
        ])
        .await,
        ["2030-01-03T12:00:00Z"]
    );
    assert_eq!(ids(vec![("from", "2030-01-03T12:00:01Z")]).await.len(), 5);
    // Days: until a day includes all of that day.
    assert_eq!(
        ids(vec![("from", "2030-01-02"), ("until", "2030-01-04")])
            .await
            .len(),
        3
    );
    let list = |extra: &[(&'static str, &'static str)]| {
        let mut a = vec![("verb", "ListRecords"), ("metadataPrefix", "oai_dc")];
        a.extend_from_slice(extra);
        a
    };
    for bad in [
        &[("from", "2030-01-02"), ("until", "2030-01-04T00:00:00Z")][..],
        &[("from", "2030-01-02T00:00:00")],
        &[("from", "2030-1-2")],
        &[("until", "2030-01-02T00:00:00.000Z")],
        &[("from", "2030-01-05"), ("until", "2030-01-04")],
    ] {
        expect_error(&base, &list(bad), "badArgument").await;
    }
    expect_error(&base, &list(&[("from", "2031-01-01")]), "noRecordsMatch").await;
}

/// Every argument rule and error code of the protocol, with the request echo rules.
#[tokio::test]
async fn every_error_code_with_its_request_echo() {
    let db = TestDb::new().await;
    let _p = harvest_fixture(&db).await;
    let base = serve(&db.store, 3).await;
    let article = ("identifier", "oai:dvostok.example.org:article/123");
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[], "badVerb"),
        (&[("verb", "Frobnicate")], "badVerb"),
        (&[("verb", "Identify"), ("verb", "Identify")], "badVerb"),
        (&[("verb", "ListRecords")], "badArgument"),
        (
            &[
                ("verb", "ListRecords"),
                ("metadataPrefix", "oai_dc"),
                ("metadataPrefix", "oai_dc"),
            ],
            "badArgument",
        ),
        (
            &[
                ("verb", "ListIdentifiers"),
                ("metadataPrefix", "oai_dc"),
                ("colour", "red"),
            ],
            "badArgument",
        ),
        (
            &[("verb", "GetRecord"), ("metadataPrefix", "oai_dc")],
            "badArgument",
        ),
        (
            &[("verb", "ListRecords"), ("metadataPrefix", "marc21")],
            "cannotDisseminateFormat",
        ),
        (
            &[("verb", "GetRecord"), article, ("metadataPrefix", "marc21")],
            "cannotDisseminateFormat",
        ),
        (
            &[
                ("verb", "GetRecord"),
                ("identifier", "oai:x:404"),
                ("metadataPrefix", "oai_dc"),
            ],
            "idDoesNotExist",
        ),
        (
            &[("verb", "ListRecords"), ("resumptionToken", "nonsense")],
            "badResumptionToken",
        ),
    ];
    for (args, code) in cases {
        expect_error(&base, args, code).await;
    }

    // A real token: tampered, used with another verb, or with other arguments.
    let first = get(
        &base,
        &[("verb", "ListRecords"), ("metadataPrefix", "oai_dc")],
    )
    .await;
    let token = parsed(&first, Verb::ListRecords)
        .next_token()
        .unwrap()
        .to_owned();
    let mut tampered = token.clone().into_bytes();
    let i = tampered.len() / 3;
    tampered[i] = if tampered[i] == b'a' { b'b' } else { b'a' };
    let tampered = String::from_utf8(tampered).unwrap();
    expect_error(
        &base,
        &[("verb", "ListRecords"), ("resumptionToken", &tampered)],
        "badResumptionToken",
    )
    .await;
    expect_error(
        &base,
        &[("verb", "ListIdentifiers"), ("resumptionToken", &token)],
        "badResumptionToken",
    )
    .await;
    expect_error(
        &base,
        &[
            ("verb", "ListRecords"),
            ("resumptionToken", &token),
            ("metadataPrefix", "oai_dc"),
        ],
        "badArgument",
    )
    .await;
    // The sheaf parser reads the error codes the same way.
    let xml = get(&base, &[("verb", "Frobnicate")]).await;
    match parse(&xml, Verb::Identify, "t") {
        Err(OaiError::Protocol { errors, .. }) => {
            assert_eq!(errors[0].code, sheaf::oai::OaiErrorCode::BadVerb)
        }
        other => panic!("{other:?}"),
    }
}

/// POST with a form body answers exactly like GET.
#[tokio::test]
async fn post_requests_are_answered_like_get() {
    let db = TestDb::new().await;
    let _p = harvest_fixture(&db).await;
    let base = serve(&db.store, 100).await;
    let resp = reqwest::Client::new()
        .post(&base)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            "verb=GetRecord&identifier=oai%3Adspace.example%3A10138%2F12345&metadataPrefix=oai_dc",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let xml = resp.text().await.unwrap();
    let Payload::Records(r) = parsed(&xml, Verb::GetRecord).payload else {
        panic!("{xml}")
    };
    assert_eq!(r[0].header.identifier, "oai:dspace.example:10138/12345");
    let dc = &r[0].metadata.as_ref().unwrap().dc;
    assert!(
        dc.iter()
            .any(|v| v.value == "Soil carbon in boreal forests")
    );
}

/// Two sources holding one identifier: the first registered keeps it, the other is served
/// as `sheaf:<source>:<identifier>`; both resolve, and lists stay unique.
#[tokio::test]
async fn duplicate_identifiers_across_sources_stay_unique() {
    let db = TestDb::new().await;
    let rec = FakeRecord::dc("oai:shared:1", utc("2022-01-01T00:00:00Z"), &[], "Shared");
    let p1 = FakeProvider::start(ProviderConfig::default(), vec![rec.clone()]).await;
    let mut other = rec.clone();
    other.metadata = Some(common::fake_provider::dc_xml(
        "oai:shared:1",
        utc("2022-01-01T00:00:00Z"),
        "Copy",
    ));
    let p2 = FakeProvider::start(ProviderConfig::default(), vec![other]).await;
    let a = add_source(&db.store, "first", &p1.base_url(), &[]).await;
    let b = add_source(&db.store, "second", &p2.base_url(), &[]).await;
    harvest_ok(&harvester(&db.store), &b, &opts()).await;
    harvest_ok(&harvester(&db.store), &a, &opts()).await;
    let base = serve(&db.store, 100).await;
    let ids: Vec<String> = headers_of(
        &harvest_list(
            &base,
            Verb::ListIdentifiers,
            &[("metadataPrefix", "oai_dc")],
        )
        .await,
    )
    .into_iter()
    .map(|h| h.identifier)
    .collect();
    let set: BTreeSet<&str> = ids.iter().map(String::as_str).collect();
    assert_eq!(
        set,
        BTreeSet::from(["oai:shared:1", "sheaf:second:oai:shared:1"])
    );
    let title_of = |id: &'static str| {
        let base = base.clone();
        async move {
            let xml = get(
                &base,
                &[
                    ("verb", "GetRecord"),
                    ("identifier", id),
                    ("metadataPrefix", "oai_dc"),
                ],
            )
            .await;
            let els = elements(&xml);
            let r = parsed(&xml, Verb::GetRecord);
            let Payload::Records(r) = r.payload else {
                panic!()
            };
            (
                r[0].header.sets.clone(),
                first(&els, "title").unwrap().text.clone(),
            )
        }
    };
    assert_eq!(
        title_of("oai:shared:1").await,
        (vec!["first".into()], "Shared".into())
    );
    assert_eq!(
        title_of("sheaf:second:oai:shared:1").await,
        (vec!["second".into()], "Copy".into())
    );
    // The qualified form of an identifier that is not shadowed does not exist.
    expect_error(
        &base,
        &[
            ("verb", "GetRecord"),
            ("identifier", "sheaf:first:oai:shared:1"),
            ("metadataPrefix", "oai_dc"),
        ],
        "idDoesNotExist",
    )
    .await;
}

/// The round trip: DB A harvested from the fake provider, served on 127.0.0.1, harvested
/// by sheaf into DB B, in pages of 3, once as regenerated oai_dc and once as the raw
/// fragments. B holds every record of A with the same identifier, deletion flag and
/// normalized contract fields; sets come back under the source's set.
#[tokio::test]
async fn sheaf_harvesting_its_own_oai_reproduces_every_record() {
    let a = TestDb::new().await;
    let _p = harvest_fixture(&a).await;
    let base = serve(&a.store, 3).await;
    let want = rows(&a.store).await;
    assert_eq!(want.len(), 8);

    for prefix in ["oai_dc", "oai_dc_raw"] {
        let b = TestDb::new().await;
        let src = b
            .store
            .insert_source(&sheaf::store::NewSource {
                name: "mirror".into(),
                base_url: base.clone(),
                metadata_prefix: prefix.into(),
                sets: vec![],
                schedule: None,
            })
            .await
            .unwrap();
        let run = harvest_ok(&harvester(&b.store), &src, &opts()).await;
        assert!(
            run.pages >= 3,
            "{prefix}: resumption was used ({} pages)",
            run.pages
        );
        let got = rows(&b.store).await;
        assert_eq!(got.len(), want.len(), "{prefix}");
        for (w, g) in want.iter().zip(&got) {
            assert_eq!(g.0, w.0, "{prefix}: identifier");
            assert_eq!(g.1, w.1, "{prefix}: deleted flag of {}", w.0);
            assert_eq!(g.2, w.2, "{prefix}: normalized fields of {}", w.0);
            let sets: Vec<String> = std::iter::once("journal".to_owned())
                .chain(w.3.iter().map(|s| format!("journal:{s}")))
                .collect();
            assert_eq!(g.3, sets, "{prefix}: sets of {}", w.0);
        }
        // An incremental run right after asks only for what changed: nothing.
        let again = harvest_ok(&harvester(&b.store), &src, &opts()).await;
        assert_eq!(again.records_new + again.records_updated, 0, "{prefix}");
    }
}
