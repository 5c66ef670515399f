//! Self-test of the fake OAI-PMH provider: drives it over real HTTP with reqwest and checks the
//! protocol behaviour and every fault kind, so harvester tests can trust it.

mod common;

use std::io::Read as _;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use common::fake_provider::{
    FakeProvider, FakeRecord, Fault, Granularity, ProviderConfig, TokenStyle, When, utc,
};

fn client() -> reqwest::Client {
    common::fake_provider::install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// GET `base?query` (query already encoded) → (status, body).
async fn get(p: &FakeProvider, query: &str) -> (u16, String) {
    let resp = client()
        .get(format!("{}?{query}", p.base_url()))
        .send()
        .await
        .expect("send");
    let status = resp.status().as_u16();
    let body = resp.text().await.expect("body");
    if body.starts_with("<?xml") && body.ends_with("</OAI-PMH>\n") {
        assert_well_formed(&body);
    }
    (status, body)
}

/// Strict well-formedness check (sheaf parses with quick-xml too).
fn well_formed(body: &str) -> Result<(), String> {
    let mut reader = quick_xml::Reader::from_str(body);
    let mut depth = 0usize;
    loop {
        match reader.read_event() {
            Ok(quick_xml::events::Event::Start(_)) => depth += 1,
            Ok(quick_xml::events::Event::End(_)) => depth -= 1,
            Ok(quick_xml::events::Event::Eof) if depth == 0 => return Ok(()),
            Ok(quick_xml::events::Event::Eof) => return Err("unclosed elements".to_owned()),
            Ok(_) => {}
            Err(e) => return Err(format!("at {}: {e}", reader.buffer_position())),
        }
    }
}

/// Every generated answer must be well-formed.
fn assert_well_formed(body: &str) {
    if let Err(e) = well_formed(body) {
        panic!("not well-formed {e}\n{body}");
    }
}

fn error_code(body: &str) -> Option<&str> {
    let start = body.find("<error code=\"")? + "<error code=\"".len();
    Some(&body[start..start + body[start..].find('"')?])
}

/// Text of the resumptionToken, `None` when absent or empty (any spelling).
fn token(body: &str) -> Option<String> {
    let start = body.find("<resumptionToken")?;
    let rest = &body[start..];
    let gt = rest.find('>')?;
    if rest[..gt].ends_with('/') {
        return None;
    }
    let end = rest.find("</resumptionToken>")?;
    let text = rest[gt + 1..end].trim();
    (!text.is_empty()).then(|| {
        text.replace("&amp;", "&")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
    })
}

fn identifiers(body: &str) -> Vec<String> {
    body.split("<identifier>")
        .skip(1)
        .map(|s| s[..s.find("</identifier>").unwrap()].to_owned())
        .collect()
}

/// Follows tokens to the end; returns identifiers and every page body.
async fn harvest(p: &FakeProvider, verb: &str, first: &str) -> (Vec<String>, Vec<String>) {
    let mut ids = Vec::new();
    let mut pages = Vec::new();
    let mut query = format!("verb={verb}&{first}");
    loop {
        let (status, body) = get(p, &query).await;
        assert_eq!(status, 200);
        assert_eq!(error_code(&body), None, "{body}");
        ids.extend(identifiers(&body));
        let next = token(&body);
        pages.push(body);
        match next {
            Some(t) => query = format!("verb={verb}&resumptionToken={}", enc(&t)),
            None => break,
        }
        assert!(pages.len() < 100, "runaway list");
    }
    (ids, pages)
}

fn cfg() -> ProviderConfig {
    ProviderConfig {
        page_size: 10,
        ..ProviderConfig::default()
    }
}

fn t0() -> DateTime<Utc> {
    utc("2024-03-01T10:00:00Z")
}

async fn provider(n: usize) -> FakeProvider {
    FakeProvider::start(cfg(), FakeRecord::series(n, t0())).await
}

#[tokio::test]
async fn identify_envelope_and_headers() {
    let config = ProviderConfig {
        compression: true,
        response_date: Some(utc("2025-01-02T03:04:05Z")),
        earliest_datestamp: Some(utc("2001-01-01T00:00:00Z")),
        ..cfg()
    };
    let p = FakeProvider::start(config, FakeRecord::series(3, t0())).await;
    let resp = client()
        .get(format!("{}?verb=Identify", p.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-type"], "text/xml");
    let body = resp.text().await.unwrap();
    assert!(body.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<?xml-stylesheet "));
    assert!(body.contains("<OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\""));
    assert!(body.contains("<responseDate>2025-01-02T03:04:05Z</responseDate>"));
    assert!(body.contains(&format!(
        "<request verb=\"Identify\">{}</request>",
        p.base_url()
    )));
    for part in [
        "<protocolVersion>2.0</protocolVersion>",
        "<earliestDatestamp>2001-01-01T00:00:00Z</earliestDatestamp>",
        "<deletedRecord>persistent</deletedRecord>",
        "<granularity>YYYY-MM-DDThh:mm:ssZ</granularity>",
        "<compression>gzip</compression>",
        &format!("<baseURL>{}</baseURL>", p.base_url()),
    ] {
        assert!(body.contains(part), "missing {part}: {body}");
    }
    // Identify takes no arguments.
    let (_, body) = get(&p, "verb=Identify&set=a").await;
    assert_eq!(error_code(&body), Some("badArgument"));
    assert!(
        body.contains(&format!("<request>{}</request>", p.base_url())),
        "no echo on badArgument"
    );
}

#[tokio::test]
async fn paging_reaches_the_end_with_every_final_token_spelling() {
    for (style, final_marker) in [
        (TokenStyle::Absent, None),
        (TokenStyle::SelfClosing, Some("<resumptionToken/>")),
        (
            TokenStyle::SelfClosingWithAttrs,
            Some("<resumptionToken completeListSize=\"25\" cursor=\"20\"/>"),
        ),
        (TokenStyle::Whitespace, Some("<resumptionToken>\n")),
    ] {
        let config = ProviderConfig {
            token_style: style,
            ..cfg()
        };
        let p = FakeProvider::start(config, FakeRecord::series(25, t0())).await;
        for verb in ["ListRecords", "ListIdentifiers"] {
            let (ids, pages) = harvest(&p, verb, "metadataPrefix=oai_dc").await;
            let expected: Vec<String> = (1..=25).map(|i| format!("oai:fake.example:{i}")).collect();
            assert_eq!(ids, expected, "{style:?} {verb}");
            assert_eq!(pages.len(), 3);
            assert!(pages[0].contains("completeListSize=\"25\" cursor=\"0\""));
            assert!(pages[1].contains("completeListSize=\"25\" cursor=\"10\""));
            assert!(pages[0].contains("expirationDate=\""));
            let tok = token(&pages[0]).unwrap();
            assert!(
                tok.contains('+') && tok.contains('/') && tok.contains(' ') && tok.contains('=')
            );
            match final_marker {
                Some(m) => assert!(pages[2].contains(m), "{style:?}: {}", pages[2]),
                None => assert!(!pages[2].contains("<resumptionToken")),
            }
            assert_eq!(
                pages[0].matches("<metadata>").count(),
                if verb == "ListRecords" { 10 } else { 0 }
            );
        }
    }
}

#[tokio::test]
async fn single_page_list_has_no_token() {
    let p = provider(4).await;
    let (_, body) = get(&p, "verb=ListRecords&metadataPrefix=oai_dc").await;
    assert_eq!(identifiers(&body).len(), 4);
    assert!(!body.contains("resumptionToken"));
}

#[tokio::test]
async fn records_sorted_by_datestamp_then_identifier() {
    let recs = vec![
        FakeRecord::dc("oai:x:b", utc("2024-01-02T00:00:00Z"), &[], "B"),
        FakeRecord::dc("oai:x:c", utc("2024-01-01T00:00:00Z"), &[], "C"),
        FakeRecord::dc("oai:x:a", utc("2024-01-02T00:00:00Z"), &[], "A"),
    ];
    let p = FakeProvider::start(cfg(), recs).await;
    let (ids, _) = harvest(&p, "ListIdentifiers", "metadataPrefix=oai_dc").await;
    assert_eq!(ids, ["oai:x:c", "oai:x:a", "oai:x:b"]);
}

#[tokio::test]
async fn from_until_are_inclusive() {
    let p = provider(10).await; // 10:00 .. 10:09
    let (ids, _) = harvest(
        &p,
        "ListIdentifiers",
        "metadataPrefix=oai_dc&from=2024-03-01T10:02:00Z&until=2024-03-01T10:04:00Z",
    )
    .await;
    assert_eq!(
        ids,
        [
            "oai:fake.example:3",
            "oai:fake.example:4",
            "oai:fake.example:5"
        ]
    );
    // Day-form until on a seconds server covers the whole day.
    let (ids, _) = harvest(
        &p,
        "ListIdentifiers",
        "metadataPrefix=oai_dc&from=2024-03-01&until=2024-03-01",
    )
    .await;
    assert_eq!(ids.len(), 10);
    let (_, body) = get(
        &p,
        "verb=ListIdentifiers&metadataPrefix=oai_dc&until=2024-02-29",
    )
    .await;
    assert_eq!(error_code(&body), Some("noRecordsMatch"));
}

#[tokio::test]
async fn day_granularity_server_rejects_seconds() {
    let config = ProviderConfig {
        granularity: Granularity::Day,
        ..cfg()
    };
    let mut recs = FakeRecord::series(3, utc("2024-03-01T23:59:00Z"));
    recs.push(FakeRecord::dc(
        "oai:x:late",
        utc("2024-03-02T12:00:00Z"),
        &[],
        "Late",
    ));
    let p = FakeProvider::start(config, recs).await;
    let (_, body) = get(&p, "verb=Identify").await;
    assert!(body.contains("<granularity>YYYY-MM-DD</granularity>"));
    let (_, body) = get(
        &p,
        "verb=ListRecords&metadataPrefix=oai_dc&from=2024-11-07T14:40:49Z",
    )
    .await;
    assert_eq!(error_code(&body), Some("badArgument"));
    let (_, body) = get(
        &p,
        "verb=ListRecords&metadataPrefix=oai_dc&until=2024-03-01",
    )
    .await;
    assert_eq!(
        identifiers(&body),
        ["oai:fake.example:1"],
        "until day is inclusive"
    );
    assert!(body.contains("<datestamp>2024-03-01</datestamp>"));
    let (_, body) = get(
        &p,
        "verb=ListRecords&metadataPrefix=oai_dc&from=2024-03-02&until=2024-03-02",
    )
    .await;
    assert_eq!(identifiers(&body).len(), 3);
}

#[tokio::test]
async fn bad_dates_are_bad_arguments() {
    let p = provider(3).await;
    for q in [
        "from=2002-02-05&until=2002-02-06T05:35:00Z",
        "from=2024-03-02&until=2024-03-01",
        "from=2024-03-01T10:00:01Z&until=2024-03-01T10:00:00Z",
        "from=2024-13-01",
        "from=2024-03-01t10:00:00z",
        "from=2024-03-01T10:00:00.000Z",
        "from=2024-03-01T10:00:00%2B00:00",
        "from=",
        "until=yesterday",
    ] {
        let (_, body) = get(&p, &format!("verb=ListRecords&metadataPrefix=oai_dc&{q}")).await;
        assert_eq!(error_code(&body), Some("badArgument"), "{q}");
    }
}

#[tokio::test]
async fn resumption_token_is_exclusive_and_checked() {
    let p = provider(15).await;
    let (_, body) = get(&p, "verb=ListRecords&metadataPrefix=oai_dc").await;
    let tok = token(&body).unwrap();
    let (_, b) = get(
        &p,
        &format!(
            "verb=ListRecords&resumptionToken={}&metadataPrefix=oai_dc",
            enc(&tok)
        ),
    )
    .await;
    assert_eq!(error_code(&b), Some("badArgument"));
    assert!(b.contains("metadataPrefix is an illegal parameter"));
    // Unencoded `+` arrives as a space: the token no longer matches.
    let (_, b) = get(
        &p,
        &format!(
            "verb=ListRecords&resumptionToken={}",
            tok.replace(' ', "%20")
        ),
    )
    .await;
    assert_eq!(error_code(&b), Some("badResumptionToken"));
    let (_, b) = get(&p, "verb=ListRecords&resumptionToken=garbage").await;
    assert_eq!(error_code(&b), Some("badResumptionToken"));
    // Token of another verb.
    let (_, b) = get(
        &p,
        &format!("verb=ListIdentifiers&resumptionToken={}", enc(&tok)),
    )
    .await;
    assert_eq!(error_code(&b), Some("badResumptionToken"));
    // Properly encoded works, also via POST.
    let resp = client()
        .post(p.base_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("verb=ListRecords&resumptionToken={}", enc(&tok)))
        .send()
        .await
        .unwrap();
    let b = resp.text().await.unwrap();
    assert_eq!(identifiers(&b).len(), 5);
    assert_eq!(p.requests().last().unwrap().method, "POST");
    p.expire_tokens();
    let (_, b) = get(
        &p,
        &format!("verb=ListRecords&resumptionToken={}", enc(&tok)),
    )
    .await;
    assert_eq!(error_code(&b), Some("badResumptionToken"));
}

#[tokio::test]
async fn argument_errors() {
    let p = provider(2).await;
    for (q, code) in [
        ("", "badVerb"),
        ("verb=Harvest", "badVerb"),
        ("verb=Identify&verb=Identify", "badVerb"),
        ("verb=ListRecords", "badArgument"),
        (
            "verb=ListRecords&metadataPrefix=oai_dc&metadataPrefix=oai_dc",
            "badArgument",
        ),
        (
            "verb=ListRecords&metadataPrefix=oai_dc&foo=1",
            "badArgument",
        ),
        (
            "verb=ListRecords&metadataPrefix=marcxml",
            "cannotDisseminateFormat",
        ),
        (
            "verb=ListRecords&metadataPrefix=oai_dc&from=2030-01-01",
            "noRecordsMatch",
        ),
        (
            "verb=GetRecord&identifier=oai:fake.example:1",
            "badArgument",
        ),
        (
            "verb=GetRecord&identifier=oai:nope&metadataPrefix=oai_dc",
            "idDoesNotExist",
        ),
        (
            "verb=GetRecord&identifier=oai:fake.example:1&metadataPrefix=mods",
            "cannotDisseminateFormat",
        ),
        (
            "verb=ListMetadataFormats&identifier=oai:nope",
            "idDoesNotExist",
        ),
        ("verb=ListSets", "noSetHierarchy"),
        (
            "verb=ListRecords&metadataPrefix=oai_dc&set=a",
            "noSetHierarchy",
        ),
    ] {
        let (status, body) = get(&p, q).await;
        assert_eq!(status, 200);
        assert_eq!(error_code(&body), Some(code), "{q}: {body}");
    }
    let (_, body) = get(&p, "verb=ListMetadataFormats&identifier=oai:fake.example:1").await;
    assert!(body.contains("<metadataPrefix>oai_dc</metadataPrefix>"));
    let (_, body) = get(
        &p,
        "verb=GetRecord&identifier=oai:fake.example:2&metadataPrefix=oai_dc",
    )
    .await;
    assert_eq!(error_code(&body), None);
    assert!(
        body.contains("<GetRecord><record><header><identifier>oai:fake.example:2</identifier>")
    );
    assert!(body.contains("<dc:title xml:lang=\"en-US\">Article 2</dc:title>"));
    assert!(body.contains("<dc:title xml:lang=\"ru-RU\">"));
}

#[tokio::test]
async fn sets_are_hierarchical() {
    let config = ProviderConfig {
        sets: vec![
            ("a".into(), "Journal A".into()),
            ("a:b".into(), "Section B".into()),
            ("c".into(), "Journal C".into()),
        ],
        ..cfg()
    };
    let recs = vec![
        FakeRecord::dc("oai:x:1", t0(), &["a"], "1"),
        FakeRecord::dc("oai:x:2", t0(), &["a:b"], "2"),
        FakeRecord::dc("oai:x:3", t0(), &["c", "a:b"], "3"),
        FakeRecord::dc("oai:x:4", t0(), &["ab"], "4"),
    ];
    let p = FakeProvider::start(config, recs).await;
    let (_, body) = get(&p, "verb=ListSets").await;
    assert!(body.contains("<set><setSpec>a:b</setSpec><setName>Section B</setName></set>"));
    let ids = |b: &str| identifiers(b).join(",");
    let (_, b) = get(&p, "verb=ListIdentifiers&metadataPrefix=oai_dc&set=a").await;
    assert_eq!(ids(&b), "oai:x:1,oai:x:2,oai:x:3");
    let (_, b) = get(&p, "verb=ListIdentifiers&metadataPrefix=oai_dc&set=a%3Ab").await;
    assert_eq!(ids(&b), "oai:x:2,oai:x:3");
    assert!(b.contains("<setSpec>c</setSpec><setSpec>a:b</setSpec>"));
    let (_, b) = get(&p, "verb=ListIdentifiers&metadataPrefix=oai_dc&set=zzz").await;
    assert_eq!(error_code(&b), Some("noRecordsMatch"));
}

#[tokio::test]
async fn deleted_and_metadata_less_records() {
    let mut live_without_metadata = FakeRecord::dc("oai:x:7", t0(), &[], "x");
    live_without_metadata.metadata = None;
    let recs = vec![
        FakeRecord::deleted("oai:x:1", t0(), &[]),
        live_without_metadata,
        FakeRecord::dc("oai:x:9", t0(), &[], "ok"),
    ];
    let p = FakeProvider::start(cfg(), recs).await;
    let (_, b) = get(&p, "verb=ListRecords&metadataPrefix=oai_dc").await;
    assert!(b.contains("<record><header status=\"deleted\"><identifier>oai:x:1</identifier><datestamp>2024-03-01T10:00:00Z</datestamp></header></record>"));
    assert!(b.contains("<record><header><identifier>oai:x:7</identifier><datestamp>2024-03-01T10:00:00Z</datestamp></header></record>"));
    assert_eq!(b.matches("<metadata>").count(), 1);
    let (_, b) = get(&p, "verb=ListIdentifiers&metadataPrefix=oai_dc").await;
    assert!(b.contains("<header status=\"deleted\"><identifier>oai:x:1</identifier>"));
    let (_, b) = get(
        &p,
        "verb=GetRecord&metadataPrefix=oai_dc&identifier=oai:x:1",
    )
    .await;
    assert!(b.contains("<header status=\"deleted\">") && !b.contains("<metadata>"));
}

#[tokio::test]
async fn records_change_between_harvests() {
    let p = provider(3).await;
    p.upsert_record(FakeRecord::dc(
        "oai:fake.example:2",
        utc("2024-05-01T00:00:00Z"),
        &[],
        "New title",
    ));
    assert!(p.delete_record("oai:fake.example:1", utc("2024-05-02T00:00:00Z")));
    p.upsert_record(FakeRecord::dc(
        "oai:fake.example:4",
        utc("2024-05-03T00:00:00Z"),
        &[],
        "Four",
    ));
    assert!(p.remove_record("oai:fake.example:3"));
    let (_, b) = get(&p, "verb=ListRecords&metadataPrefix=oai_dc&from=2024-04-01").await;
    assert_eq!(
        identifiers(&b),
        [
            "oai:fake.example:2",
            "oai:fake.example:1",
            "oai:fake.example:4"
        ]
    );
    assert!(b.contains("New title") && b.contains("status=\"deleted\""));
    p.set_records(Vec::new());
    let (_, b) = get(&p, "verb=ListRecords&metadataPrefix=oai_dc").await;
    assert_eq!(error_code(&b), Some("noRecordsMatch"));
}

#[tokio::test]
async fn gzip_and_deflate_when_enabled() {
    let config = ProviderConfig {
        compression: true,
        ..cfg()
    };
    let p = FakeProvider::start(config, FakeRecord::series(3, t0())).await;
    let raw = reqwest::Client::builder()
        .no_gzip()
        .no_deflate()
        .build()
        .unwrap();
    let url = format!("{}?verb=ListRecords&metadataPrefix=oai_dc", p.base_url());
    let resp = raw
        .get(&url)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-encoding"], "gzip");
    let bytes = resp.bytes().await.unwrap();
    assert_eq!(&bytes[..2], &[0x1f, 0x8b]);
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(identifiers(&text).len(), 3);
    let resp = raw
        .get(&url)
        .header("accept-encoding", "deflate, gzip;q=0")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.headers()["content-encoding"], "deflate");
    let bytes = resp.bytes().await.unwrap();
    let mut text = String::new();
    flate2::read::ZlibDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .unwrap();
    assert!(text.contains("</OAI-PMH>"));
    // No Accept-Encoding → identity.
    let resp = raw.get(&url).send().await.unwrap();
    assert!(resp.headers().get("content-encoding").is_none());
    // reqwest's own decoding (what sheaf uses) sees plain XML.
    let (_, body) = get(&p, "verb=Identify").await;
    assert!(body.contains("<compression>deflate</compression>"));
    assert_eq!(p.requests()[0].content_encoding, Some("gzip"));
    // Disabled: never compressed.
    p.configure(|c| c.compression = false);
    let resp = raw
        .get(&url)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("content-encoding").is_none());
}

#[tokio::test]
async fn request_log_and_wait() {
    let config = ProviderConfig {
        sets: vec![("a".into(), "A".into())],
        ..cfg()
    };
    let p = FakeProvider::start(config, FakeRecord::series(12, t0())).await;
    let url = p.base_url();
    let task = tokio::spawn(async move {
        client()
            .get(format!(
                "{url}?verb=ListIdentifiers&metadataPrefix=oai_dc&from=2024-01-01&set=a"
            ))
            .header("user-agent", "sheaf-test")
            .send()
            .await
            .unwrap()
    });
    p.wait_for_requests(1).await;
    task.await.unwrap();
    let log = p.requests();
    assert_eq!(log.len(), 1);
    let r = &log[0];
    assert_eq!((r.seq, r.method.as_str(), r.status), (1, "GET", 200));
    assert_eq!(r.verb.as_deref(), Some("ListIdentifiers"));
    assert_eq!(r.metadata_prefix.as_deref(), Some("oai_dc"));
    assert_eq!(r.from.as_deref(), Some("2024-01-01"));
    assert_eq!(r.until, None);
    assert_eq!(r.set.as_deref(), Some("a"));
    assert_eq!(r.user_agent.as_deref(), Some("sheaf-test"));
    assert_eq!(r.oai_error.as_deref(), Some("noRecordsMatch"));
    assert_eq!(r.param_names(), ["verb", "metadataPrefix", "from", "set"]);
    assert_eq!(r.page, Some(0));
    let (ids, pages) = harvest(&p, "ListIdentifiers", "metadataPrefix=oai_dc").await;
    assert_eq!((ids.len(), pages.len()), (12, 2));
    let log = p.requests();
    let second = &log[2];
    assert_eq!(second.page, Some(1));
    assert_eq!(second.resumption_token, token(&pages[0]));
    assert!(
        second.raw_query.contains("%2B"),
        "raw query keeps encoding: {}",
        second.raw_query
    );
    p.clear_requests();
    assert!(p.requests().is_empty());
}

#[tokio::test]
async fn fault_status_raw_and_oai_error() {
    let p = provider(3).await;
    p.inject(Fault::retry_after(503, "120"));
    let resp = client()
        .get(format!("{}?verb=Identify", p.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 503);
    assert_eq!(resp.headers()["retry-after"], "120");
    // Fault used once: next request is normal.
    assert_eq!(get(&p, "verb=Identify").await.0, 200);

    p.inject(Fault::RawBody(
        "<html><body>Maintenance</body></html>".into(),
    ));
    assert_eq!(
        get(&p, "verb=Identify").await,
        (200, "<html><body>Maintenance</body></html>".to_owned())
    );

    p.inject(Fault::redirect(301, "https://example.invalid/oai"));
    let resp = client()
        .get(format!("{}?verb=Identify", p.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 301);
    assert_eq!(resp.headers()["location"], "https://example.invalid/oai");

    p.inject(Fault::Raw {
        status: 200,
        headers: vec![(
            "Content-Type".into(),
            "text/xml; charset=windows-1251".into(),
        )],
        body: b"\xef\xbb\xbf<?xml version=\"1.0\"?><x>\xcf</x>".to_vec(),
    });
    let resp = client()
        .get(format!("{}?verb=Identify", p.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["content-type"],
        "text/xml; charset=windows-1251"
    );
    assert_eq!(&resp.bytes().await.unwrap()[..4], b"\xef\xbb\xbf<");

    p.inject(Fault::oai_error("badResumptionToken", "expired"));
    let (status, body) = get(&p, "verb=ListRecords&metadataPrefix=oai_dc").await;
    assert_eq!(
        (status, error_code(&body)),
        (200, Some("badResumptionToken"))
    );
    p.inject(Fault::OaiError {
        code: "noRecordsMatch".into(),
        message: "none".into(),
        http_status: Some(422),
    });
    let (status, body) = get(&p, "verb=ListRecords&metadataPrefix=oai_dc").await;
    assert_eq!((status, error_code(&body)), (422, Some("noRecordsMatch")));

    p.inject(Fault::transform(|b| {
        b.replace("Article 1", "Art\u{b}icle &ndash; 1") + "<br>PHP Warning"
    }));
    let (_, body) = get(&p, "verb=ListRecords&metadataPrefix=oai_dc").await;
    assert!(body.contains("Art\u{b}icle &ndash; 1") && body.ends_with("<br>PHP Warning"));

    let kinds: Vec<_> = p.requests().iter().map(|r| r.fault).collect();
    assert_eq!(
        kinds,
        [
            Some("Status"),
            None,
            Some("RawBody"),
            Some("Raw"),
            Some("Raw"),
            Some("OaiError"),
            Some("OaiError"),
            Some("Transform")
        ]
    );
    assert_eq!(p.requests()[0].status, 503);
    assert_eq!(p.requests()[6].status, 422);
    assert_eq!(p.pending_faults(), 0);
}

#[tokio::test]
async fn fault_transport_breakage() {
    let p = provider(3).await;
    let url = format!("{}?verb=ListRecords&metadataPrefix=oai_dc", p.base_url());
    let (_, full) = get(&p, "verb=ListRecords&metadataPrefix=oai_dc").await;

    p.inject(Fault::Truncate { at_byte: 300 });
    let (status, body) = get(&p, "verb=ListRecords&metadataPrefix=oai_dc").await;
    assert_eq!((status, body.len()), (200, 300));
    assert!(!body.contains("</OAI-PMH>"));

    p.inject(Fault::Reset { after_bytes: 100 });
    let resp = client().get(&url).send().await.unwrap();
    assert_eq!(
        resp.headers()["content-length"],
        full.len().to_string().as_str()
    );
    assert!(resp.bytes().await.is_err(), "body must fail mid-way");

    p.inject(Fault::Delay(Duration::from_millis(300)));
    let started = Instant::now();
    assert_eq!(get(&p, "verb=Identify").await.0, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    p.inject(Fault::Trickle {
        chunk: 500,
        interval: Duration::from_millis(5),
    });
    let (_, body) = get(&p, "verb=ListRecords&metadataPrefix=oai_dc").await;
    assert_eq!(identifiers(&body), identifiers(&full));

    p.inject(Fault::Endless {
        chunk: b"<x/>".to_vec(),
        interval: Duration::from_millis(1),
    });
    let mut resp = client().get(&url).send().await.unwrap();
    let mut got = 0;
    while got < 400 {
        got += resp
            .chunk()
            .await
            .unwrap()
            .expect("endless body never ends")
            .len();
    }
    drop(resp);

    p.inject(Fault::Hang);
    let short = reqwest::Client::builder()
        .timeout(Duration::from_millis(300))
        .build()
        .unwrap();
    let err = short.get(&url).send().await.unwrap_err();
    assert!(err.is_timeout(), "{err}");
    let faults: Vec<_> = p.requests().iter().filter_map(|r| r.fault).collect();
    assert_eq!(
        faults,
        ["Truncate", "Reset", "Delay", "Trickle", "Endless", "Hang"]
    );
    assert_eq!(p.requests().last().unwrap().status, 0);
    // Shutdown ends the hung handler and the endless stream, and stops serving.
    let addr = p.addr();
    tokio::time::timeout(Duration::from_secs(5), p.shutdown())
        .await
        .expect("shutdown is bounded");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn fault_predicates_and_token_pathologies() {
    let p = provider(25).await;
    // Page 1 (first resumption) of any list fails twice with 500, then works.
    p.inject_times(When::Page(1), Fault::status(500), 2);
    let (_, first) = get(&p, "verb=ListRecords&metadataPrefix=oai_dc").await;
    let q1 = format!(
        "verb=ListRecords&resumptionToken={}",
        enc(&token(&first).unwrap())
    );
    assert_eq!(get(&p, &q1).await.0, 500);
    assert_eq!(get(&p, &q1).await.0, 500);
    let (status, second) = get(&p, &q1).await;
    assert_eq!(status, 200);
    assert!(second.contains("cursor=\"10\""));

    // Token loop: page 1 answered with its own token.
    p.inject_when(When::Token(token(&first).unwrap()), Fault::RepeatToken);
    let (_, looped) = get(&p, &q1).await;
    assert_eq!(token(&looped), token(&first));

    // Silent truncation: the list ends after page 0.
    p.inject_when(When::NthVerb("ListIdentifiers".into(), 1), Fault::DropToken);
    let (ids, pages) = harvest(&p, "ListIdentifiers", "metadataPrefix=oai_dc").await;
    assert_eq!((ids.len(), pages.len()), (10, 1));
    assert!(pages[0].contains("<resumptionToken completeListSize=\"25\" cursor=\"0\"/>"));

    // Dead-end token on the last page → noRecordsMatch.
    p.inject_when(When::Page(2), Fault::DeadEndToken);
    let mut q = "verb=ListIdentifiers&metadataPrefix=oai_dc".to_owned();
    let mut codes = Vec::new();
    for _ in 0..4 {
        let (_, b) = get(&p, &q).await;
        codes.push(error_code(&b).map(str::to_owned));
        match token(&b) {
            Some(t) => q = format!("verb=ListIdentifiers&resumptionToken={}", enc(&t)),
            None => break,
        }
    }
    assert_eq!(codes, [None, None, None, Some("noRecordsMatch".to_owned())]);

    // Custom predicate + always.
    p.inject_always(
        When::Custom(std::sync::Arc::new(|r| r.from.is_some())),
        Fault::oai_error("badArgument", "no from here"),
    );
    for _ in 0..2 {
        let (_, b) = get(&p, "verb=ListRecords&metadataPrefix=oai_dc&from=2024-01-01").await;
        assert_eq!(error_code(&b), Some("badArgument"));
    }
    p.clear_faults();
    let (_, b) = get(&p, "verb=ListRecords&metadataPrefix=oai_dc&from=2024-01-01").await;
    assert_eq!(error_code(&b), None);
    assert!(
        p.requests()
            .iter()
            .any(|r| r.seq == 5 && r.fault == Some("RepeatToken"))
    );
}

#[tokio::test]
async fn nth_request_and_verb_predicates() {
    let p = provider(1).await;
    p.inject_when(When::NthRequest(3), Fault::status(502));
    p.inject_when(When::NthVerb("Identify".into(), 2), Fault::status(504));
    let statuses = [
        get(&p, "verb=Identify").await.0,
        get(&p, "verb=ListSets").await.0,
        get(&p, "verb=ListSets").await.0,
        get(&p, "verb=Identify").await.0,
        get(&p, "verb=Identify").await.0,
    ];
    assert_eq!(statuses, [200, 200, 502, 504, 200]);
}

#[tokio::test]
async fn response_date_override_and_drop_stops_server() {
    let p = provider(1).await;
    p.set_response_date(Some(utc("2020-02-02T02:02:02Z")));
    let (_, b) = get(&p, "verb=Identify").await;
    assert!(b.contains("<responseDate>2020-02-02T02:02:02Z</responseDate>"));
    assert!(b.contains("<earliestDatestamp>2024-03-01T10:00:00Z</earliestDatestamp>"));
    let addr = p.addr();
    drop(p);
    // Graceful shutdown runs in the background after drop; a new connection is refused once
    // the listener is gone. Wait on that state change, bounded.
    let refused = async {
        while tokio::net::TcpStream::connect(addr).await.is_ok() {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), refused)
        .await
        .expect("listener closed");
}

#[tokio::test]
async fn raw_metadata_is_inserted_verbatim() {
    // Section B hook: one record carries broken markup; the rest of the page stays intact.
    let recs = vec![
        FakeRecord::dc("oai:x:1", t0(), &[], "fine"),
        FakeRecord::raw(
            "oai:x:2",
            t0(),
            &[],
            "<?xml version=\"1.0\"?><oai_dc:dc>p < 0.05 &ndash;\u{1a}</oai_dc:dc>",
        ),
    ];
    let p = FakeProvider::start(cfg(), recs).await;
    let resp = client()
        .get(format!(
            "{}?verb=ListRecords&metadataPrefix=oai_dc",
            p.base_url()
        ))
        .send()
        .await
        .unwrap();
    let body = resp.text().await.unwrap();
    assert!(body.contains(
        "<metadata><?xml version=\"1.0\"?><oai_dc:dc>p < 0.05 &ndash;\u{1a}</oai_dc:dc></metadata>"
    ));
    assert!(
        well_formed(&body).is_err(),
        "the planted record breaks the page"
    );
    assert!(body.contains("<identifier>oai:x:1</identifier>"));
}
