//! `sheaf check` against the in-process fake provider: a clean endpoint, and one provoked
//! fault per finding code.

mod common;

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeDelta, Utc};
use common::fake_provider::{
    FakeProvider, FakeRecord, Fault, Granularity, ProviderConfig, RequestLog, When, utc,
};
use sheaf::check::{CheckOptions, CheckReport, Severity, check_endpoint};
use sheaf::oai::{HttpClient, HttpConfig};

/// Fast retries, short deadlines.
fn http() -> HttpClient {
    HttpClient::new(HttpConfig {
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(10),
        request_timeout: Duration::from_secs(20),
        max_attempts: 3,
        backoff_base: Duration::ZERO,
        ..HttpConfig::default()
    })
    .expect("http client")
}

fn records(n: usize) -> Vec<FakeRecord> {
    FakeRecord::series(n, utc("2022-03-01T10:00:00Z"))
}

/// A provider with nothing to complain about.
fn clean() -> ProviderConfig {
    ProviderConfig {
        compression: true,
        sets: vec![
            ("j".into(), "Journal".into()),
            ("j:art".into(), "Articles".into()),
        ],
        ..ProviderConfig::default()
    }
}

/// Ten records on pages of three: four pages, tokens on the first three.
async fn paged() -> FakeProvider {
    let cfg = ProviderConfig {
        page_size: 3,
        ..clean()
    };
    FakeProvider::start(cfg, records(10)).await
}

async fn check(p: &FakeProvider) -> CheckReport {
    check_endpoint(&http(), &p.base_url(), &CheckOptions::default()).await
}

fn when(f: impl Fn(&RequestLog) -> bool + Send + Sync + 'static) -> When {
    When::Custom(Arc::new(f))
}

fn verb(v: &str) -> When {
    When::Verb(v.into())
}

/// Asserts the finding `code` with `severity` and the verdict.
#[track_caller]
fn assert_finding(r: &CheckReport, code: &str, severity: Severity, harvestable: bool) {
    let f = r
        .finding(code)
        .unwrap_or_else(|| panic!("no {code} finding in:\n{r}"));
    assert_eq!(f.severity, severity, "{code}:\n{r}");
    assert!(!f.message.is_empty() && !f.fix.is_empty() && !f.fix.contains('\n'));
    assert_eq!(r.harvestable, harvestable, "{r}");
}

#[track_caller]
fn assert_no_finding(r: &CheckReport, code: &str) {
    assert!(r.finding(code).is_none(), "unexpected {code}:\n{r}");
}

/// An Identify document written by hand, for bodies the provider cannot produce (encodings).
fn identify_body(base: &str, name: &str, encoding: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"{encoding}\"?>\n\
         <OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\">\
         <responseDate>2024-01-01T00:00:00Z</responseDate>\
         <request verb=\"Identify\">{base}</request><Identify>\
         <repositoryName>{name}</repositoryName><baseURL>{base}</baseURL>\
         <protocolVersion>2.0</protocolVersion><adminEmail>admin@journal.example</adminEmail>\
         <earliestDatestamp>2022-03-01T10:00:00Z</earliestDatestamp>\
         <deletedRecord>persistent</deletedRecord>\
         <granularity>YYYY-MM-DDThh:mm:ssZ</granularity><compression>gzip</compression>\
         </Identify></OAI-PMH>"
    )
}

fn raw_xml(body: Vec<u8>) -> Fault {
    Fault::Raw {
        status: 200,
        headers: vec![("Content-Type".into(), "text/xml".into())],
        body,
    }
}

/// A clean endpoint: harvestable, no findings at all, every section filled in, few requests.
#[tokio::test]
async fn a_clean_endpoint_is_harvestable_without_findings() {
    let p = FakeProvider::start(clean(), records(25)).await;
    let r = check(&p).await;

    assert!(r.harvestable, "{r}");
    assert!(r.findings.is_empty(), "{r}");
    assert_eq!(r.final_url.as_deref(), Some(p.base_url().as_str()));
    let id = r.identify.as_ref().expect("identify");
    assert_eq!(id.repository_name, "Fake Journal");
    assert_eq!(id.base_url, p.base_url());
    assert_eq!(id.protocol_version, "2.0");
    assert_eq!(id.admin_emails, ["admin@journal.example"]);
    assert_eq!(id.earliest_datestamp, "2022-03-01T10:00:00Z");
    assert_eq!(id.granularity, "YYYY-MM-DDThh:mm:ssZ");
    assert_eq!(id.deleted_record, "persistent");
    assert_eq!(id.compression, ["gzip", "deflate"]);
    assert!(id.response_date.is_some());
    assert_eq!(r.formats, ["oai_dc"]);
    assert_eq!(r.sets.len(), 2);
    assert_eq!(r.sets[1], ("j:art".to_owned(), "Articles".to_owned()));
    let s = &r.sample;
    assert_eq!((s.pages, s.records, s.deleted), (3, 25, 0));
    assert_eq!(s.complete_list_size, Some(25));
    assert!(s.list_complete);
    assert_eq!(s.first_datestamp, Some(utc("2022-03-01T10:00:00Z")));
    assert_eq!(s.last_datestamp, Some(utc("2022-03-01T10:24:00Z")));
    assert!(s.median_latency_ms.is_some() && s.max_latency_ms.is_some() && s.bytes > 0);

    // Identify, formats, sets, three pages, one `from` probe: polite.
    let reqs = p.requests();
    assert_eq!(r.requests, 7);
    assert_eq!(reqs.len(), 7);
    let probe = &reqs[6];
    assert_eq!(probe.verb.as_deref(), Some("ListIdentifiers"));
    assert_eq!(probe.from.as_deref(), Some("2022-03-01T10:12:00Z"));
    assert!(reqs.iter().all(|q| q.content_encoding == Some("gzip")));

    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["harvestable"], true);
    assert_eq!(json["sample"]["records"], 25);
    assert_eq!(json["sets"][0][0], "j");
    let text = r.to_string();
    assert!(
        text.contains("Fake Journal") && text.contains("harvestable"),
        "{text}"
    );
}

/// Findings serialize with their code and a lower-case severity; text shows them.
#[tokio::test]
async fn findings_serialize_and_display() {
    let p = FakeProvider::start(ProviderConfig::default(), records(3)).await;
    let r = check(&p).await;
    assert_finding(&r, "no_compression", Severity::Info, true);
    let json = serde_json::to_value(&r).unwrap();
    let f = &json["findings"][0];
    assert_eq!(f["code"], "no_compression");
    assert_eq!(f["severity"], "info");
    assert!(f["fix"].as_str().is_some_and(|s| !s.is_empty()));
    let text = r.to_string();
    assert!(text.contains("INFO") && text.contains("no_compression") && text.contains("fix:"));
}

/// HTML with HTTP 200 instead of Identify.
#[tokio::test]
async fn an_html_page_is_not_oai() {
    let p = FakeProvider::start(clean(), records(3)).await;
    p.inject_when(
        verb("Identify"),
        Fault::RawBody("<html><body><h1>Welcome to our journal</h1></body></html>".into()),
    );
    let r = check(&p).await;
    assert_finding(&r, "not_oai", Severity::Error, false);
    assert!(r.identify.is_none());
    assert_eq!(
        r.requests, 1,
        "nothing more is asked after a failed Identify"
    );
    assert!(r.to_string().contains("NOT harvestable"));
}

/// An empty 200 body.
#[tokio::test]
async fn an_empty_body_is_not_oai() {
    let p = FakeProvider::start(clean(), records(3)).await;
    p.inject_when(verb("Identify"), Fault::RawBody(String::new()));
    let r = check(&p).await;
    assert_finding(&r, "not_oai", Severity::Error, false);
}

/// Nothing listening, and an HTTP error status.
#[tokio::test]
async fn a_closed_port_or_an_http_error_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let r = check_endpoint(
        &http(),
        &format!("http://{addr}/oai"),
        &CheckOptions::default(),
    )
    .await;
    assert_finding(&r, "unreachable", Severity::Error, false);
    assert!(r.final_url.is_none());

    let p = FakeProvider::start(clean(), records(3)).await;
    p.inject_when(verb("Identify"), Fault::status(404));
    let r = check(&p).await;
    assert_finding(&r, "unreachable", Severity::Error, false);
    assert!(r.finding("unreachable").unwrap().message.contains("404"));

    let r = check_endpoint(&http(), "ftp://x.example/oai", &CheckOptions::default()).await;
    assert_finding(&r, "unreachable", Severity::Error, false);
    assert_eq!(r.requests, 0);
}

#[tokio::test]
async fn an_invalid_granularity_is_reported() {
    let p = FakeProvider::start(clean(), records(3)).await;
    p.inject_when(
        verb("Identify"),
        Fault::transform(|b| b.replace("YYYY-MM-DDThh:mm:ssZ", "YYYY-MM-DD hh:mm:ss")),
    );
    let r = check(&p).await;
    assert_finding(&r, "granularity_invalid", Severity::Warning, true);
    // The probe falls back to the day form.
    let probe = p.requests().into_iter().last().unwrap();
    assert_eq!(probe.from.as_deref(), Some("2022-03-01"));
}

/// Seconds declared, but only the day form of `from` accepted.
#[tokio::test]
async fn declared_seconds_with_a_day_only_server_is_a_granularity_mismatch() {
    let cfg = ProviderConfig {
        granularity: Granularity::Day,
        ..clean()
    };
    let p = FakeProvider::start(cfg, records(5)).await;
    p.inject_when(
        verb("Identify"),
        Fault::transform(|b| {
            b.replace(
                "<granularity>YYYY-MM-DD<",
                "<granularity>YYYY-MM-DDThh:mm:ssZ<",
            )
        }),
    );
    let r = check(&p).await;
    assert_finding(&r, "granularity_mismatch", Severity::Warning, true);
    assert_no_finding(&r, "from_rejected");
    let froms: Vec<_> = p.requests().into_iter().filter_map(|q| q.from).collect();
    assert_eq!(froms.len(), 2, "{froms:?}");
    assert!(
        froms[0].ends_with('Z') && froms[1] == "2022-03-01",
        "{froms:?}"
    );
}

/// `from` refused in every form.
#[tokio::test]
async fn a_refused_from_is_reported() {
    let p = FakeProvider::start(clean(), records(5)).await;
    p.inject_always(
        when(|q| q.from.is_some()),
        Fault::oai_error("badArgument", "from is not supported"),
    );
    let r = check(&p).await;
    assert_finding(&r, "from_rejected", Severity::Warning, true);
    assert_no_finding(&r, "granularity_mismatch");
}

/// Records older than `from` come back.
#[tokio::test]
async fn an_ignored_from_is_reported() {
    let p = FakeProvider::start(clean(), records(5)).await;
    let base = p.base_url();
    p.inject_always(
        when(|q| q.from.is_some()),
        Fault::RawBody(format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
             <OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\">\
             <responseDate>2024-01-01T00:00:00Z</responseDate>\
             <request verb=\"ListIdentifiers\">{base}</request><ListIdentifiers>\
             <header><identifier>oai:fake.example:1</identifier>\
             <datestamp>2022-03-01T10:00:00Z</datestamp></header>\
             <header><identifier>oai:fake.example:5</identifier>\
             <datestamp>2022-03-01T10:04:00Z</datestamp></header>\
             </ListIdentifiers></OAI-PMH>"
        )),
    );
    let r = check(&p).await;
    assert_finding(&r, "from_ignored", Severity::Warning, true);
}

#[tokio::test]
async fn a_suspect_earliest_datestamp_is_reported() {
    for earliest in [
        utc("1970-01-01T00:00:00Z"),
        Utc::now() + TimeDelta::days(30),
        utc("2023-01-01T00:00:00Z"),
    ] {
        let cfg = ProviderConfig {
            earliest_datestamp: Some(earliest),
            ..clean()
        };
        let p = FakeProvider::start(cfg, records(3)).await;
        let r = check(&p).await;
        assert_finding(&r, "earliest_datestamp_suspect", Severity::Info, true);
    }
}

#[tokio::test]
async fn deletions_that_are_not_persistent_are_reported() {
    for policy in ["no", "transient"] {
        let cfg = ProviderConfig {
            deleted_record: policy.into(),
            sets: Vec::new(),
            ..clean()
        };
        let p = FakeProvider::start(cfg, records(3)).await;
        let r = check(&p).await;
        assert_finding(&r, "no_persistent_deletions", Severity::Info, true);
        // noSetHierarchy is a normal answer, not a broken ListSets.
        assert_no_finding(&r, "sets_broken");
        assert!(r.sets.is_empty());
    }
}

#[tokio::test]
async fn a_missing_oai_dc_makes_the_endpoint_unharvestable() {
    let p = FakeProvider::start(clean(), records(3)).await;
    p.inject_always(
        verb("ListMetadataFormats"),
        Fault::transform(|b| b.replace(">oai_dc<", ">marcxml<")),
    );
    p.inject_always(
        verb("ListRecords"),
        Fault::oai_error("cannotDisseminateFormat", "oai_dc is not supported"),
    );
    let r = check(&p).await;
    assert_finding(&r, "no_oai_dc", Severity::Error, false);
    assert_eq!(r.formats, ["marcxml"]);
}

/// oai_dc works but is not listed.
#[tokio::test]
async fn an_unlisted_but_working_format_is_a_warning() {
    let p = FakeProvider::start(clean(), records(3)).await;
    p.inject_always(
        verb("ListMetadataFormats"),
        Fault::transform(|b| b.replace(">oai_dc<", ">marcxml<")),
    );
    let r = check(&p).await;
    assert_finding(&r, "format_unlisted", Severity::Warning, true);
    assert_no_finding(&r, "no_oai_dc");
}

#[tokio::test]
async fn a_broken_list_sets_is_reported() {
    let p = FakeProvider::start(clean(), records(3)).await;
    p.inject_when(
        verb("ListSets"),
        Fault::oai_error("badArgument", "internal error"),
    );
    let r = check(&p).await;
    assert_finding(&r, "sets_broken", Severity::Warning, true);
}

#[tokio::test]
async fn a_repeated_token_is_a_loop() {
    let p = paged().await;
    p.inject_when(When::Page(1), Fault::RepeatToken);
    let r = check(&p).await;
    assert_finding(&r, "token_loop", Severity::Error, false);
    assert_eq!(r.sample.pages, 2);
}

#[tokio::test]
async fn whitespace_around_a_token_is_reported() {
    let p = paged().await;
    p.inject_when(
        When::Page(0),
        Fault::transform(|b| {
            b.replace("cursor=\"0\">", "cursor=\"0\">\n      ")
                .replace("</resumptionToken>", "\n    </resumptionToken>")
        }),
    );
    let r = check(&p).await;
    assert_finding(&r, "token_whitespace", Severity::Info, true);
    assert_eq!(r.sample.pages, 3, "the trimmed token still works");
}

#[tokio::test]
async fn an_inconsistent_complete_list_size_is_reported() {
    let p = paged().await;
    p.inject_when(
        When::Page(1),
        Fault::transform(|b| b.replace("completeListSize=\"10\"", "completeListSize=\"12\"")),
    );
    let r = check(&p).await;
    assert_finding(&r, "list_size_inconsistent", Severity::Info, true);
}

#[tokio::test]
async fn a_rejected_token_is_an_error() {
    let p = paged().await;
    p.inject_when(
        When::Page(1),
        Fault::oai_error("badResumptionToken", "expired"),
    );
    let r = check(&p).await;
    assert_finding(&r, "token_rejected", Severity::Error, false);
}

#[tokio::test]
async fn a_malformed_page_is_a_warning() {
    let p = paged().await;
    // Uncompressed, so the XML itself is cut.
    p.configure(|c| c.compression = false);
    p.inject_when(When::Page(1), Fault::Truncate { at_byte: 900 });
    let r = check(&p).await;
    assert_finding(&r, "malformed_xml", Severity::Warning, true);
}

#[tokio::test]
async fn html_instead_of_a_later_page_is_not_oai() {
    let p = paged().await;
    p.inject_when(
        When::Page(1),
        Fault::RawBody("<html><body>Database error</body></html>".into()),
    );
    let r = check(&p).await;
    assert_finding(&r, "not_oai", Severity::Error, false);
    assert!(r.identify.is_some());
}

/// A list that fails with HTTP 500 (after retries).
#[tokio::test]
async fn a_failing_list_is_an_error() {
    let p = FakeProvider::start(clean(), records(3)).await;
    p.inject_always(verb("ListRecords"), Fault::status(500));
    let r = check(&p).await;
    assert_finding(&r, "list_failed", Severity::Error, false);
    let tries = p
        .requests()
        .iter()
        .filter(|q| q.verb.as_deref() == Some("ListRecords"))
        .count();
    assert_eq!(tries, 3);
}

#[tokio::test]
async fn a_body_in_another_encoding_is_not_utf8() {
    let p = FakeProvider::start(clean(), records(3)).await;
    let xml = identify_body(&p.base_url(), "Вестник", "windows-1251");
    let (bytes, _, _) = encoding_rs::WINDOWS_1251.encode(&xml);
    p.inject_when(verb("Identify"), raw_xml(bytes.into_owned()));
    let r = check(&p).await;
    assert_finding(&r, "not_utf8", Severity::Warning, true);
    assert_eq!(r.identify.unwrap().repository_name, "Вестник");
}

#[tokio::test]
async fn invalid_utf8_is_reported() {
    let p = FakeProvider::start(clean(), records(3)).await;
    let xml = identify_body(&p.base_url(), "Journal @@", "UTF-8");
    let (head, tail) = xml.split_once("@@").unwrap();
    let body = [head.as_bytes(), b"\xff\xfe", tail.as_bytes()].concat();
    p.inject_when(verb("Identify"), raw_xml(body));
    let r = check(&p).await;
    assert_finding(&r, "invalid_utf8", Severity::Warning, true);
    assert_no_finding(&r, "not_utf8");
}

#[tokio::test]
async fn illegal_xml_characters_are_reported() {
    let p = FakeProvider::start(clean(), records(3)).await;
    p.inject_when(
        verb("ListRecords"),
        Fault::transform(|b| b.replacen("Abstract of", "Abstract\u{1}\u{2} of", 1)),
    );
    let r = check(&p).await;
    assert_finding(&r, "invalid_xml_chars", Severity::Warning, true);
    assert!(
        r.finding("invalid_xml_chars")
            .unwrap()
            .message
            .starts_with("2 ")
    );
}

#[tokio::test]
async fn junk_before_the_xml_declaration_is_reported() {
    let p = FakeProvider::start(clean(), records(3)).await;
    p.inject_when(
        verb("Identify"),
        Fault::transform(|b| format!("\n\nNotice: Undefined index: page in oai.php\n{b}")),
    );
    let r = check(&p).await;
    assert_finding(&r, "junk_before_xml", Severity::Info, true);
}

#[tokio::test]
async fn a_503_without_retry_after_is_reported() {
    let p = FakeProvider::start(clean(), records(3)).await;
    p.inject_when(verb("Identify"), Fault::status(503));
    let r = check(&p).await;
    assert_finding(&r, "missing_retry_after", Severity::Info, true);
    assert!(r.identify.is_some(), "the retry succeeded");
    // Identify twice, formats, sets, one page, one probe.
    assert_eq!(r.requests, 6);

    let p = FakeProvider::start(clean(), records(3)).await;
    p.inject_when(verb("ListRecords"), Fault::retry_after(503, "0"));
    let r = check(&p).await;
    assert_no_finding(&r, "missing_retry_after");
    assert!(r.harvestable && r.findings.is_empty(), "{r}");
}

#[tokio::test]
async fn slow_pages_are_reported() {
    let p = FakeProvider::start(clean(), records(3)).await;
    let opts = CheckOptions {
        slow_threshold: Duration::ZERO,
        ..CheckOptions::default()
    };
    let r = check_endpoint(&http(), &p.base_url(), &opts).await;
    assert_finding(&r, "slow", Severity::Warning, true);
}

#[tokio::test]
async fn no_compression_is_reported() {
    let cfg = ProviderConfig {
        compression: false,
        ..clean()
    };
    let p = FakeProvider::start(cfg, records(3)).await;
    let r = check(&p).await;
    assert_finding(&r, "no_compression", Severity::Info, true);
}

/// A redirect is followed, and the final URL becomes the base for the rest of the check.
#[tokio::test]
async fn a_redirect_is_reported_and_followed() {
    let p = FakeProvider::start(clean(), records(3)).await;
    let base = p.base_url();
    p.inject_when(
        when(|q| q.params.iter().any(|(k, _)| k == "old")),
        Fault::redirect(301, &format!("{base}?verb=Identify")),
    );
    let r = check_endpoint(&http(), &format!("{base}?old=1"), &CheckOptions::default()).await;
    assert_finding(&r, "redirected", Severity::Info, true);
    assert_eq!(r.final_url.as_deref(), Some(base.as_str()));
    assert_no_finding(&r, "base_url_mismatch");
    let reqs = p.requests();
    assert!(reqs[1..].iter().all(|q| !q.raw_query.contains("old")));
    assert_eq!(r.sample.records, 3);
}

#[tokio::test]
async fn a_wrong_base_url_in_identify_is_reported() {
    let p = FakeProvider::start(clean(), records(3)).await;
    let base = p.base_url();
    p.inject_when(
        verb("Identify"),
        Fault::transform(move |b| {
            b.replace(
                &format!("<baseURL>{base}</baseURL>"),
                "<baseURL>http://journal.example/index.php/j/oai</baseURL>",
            )
        }),
    );
    let r = check(&p).await;
    assert_finding(&r, "base_url_mismatch", Severity::Info, true);
}

#[tokio::test]
async fn a_wrong_protocol_version_is_reported() {
    let p = FakeProvider::start(clean(), records(3)).await;
    p.inject_when(
        verb("Identify"),
        Fault::transform(|b| b.replace(">2.0</protocolVersion>", ">1.1</protocolVersion>")),
    );
    let r = check(&p).await;
    assert_finding(&r, "protocol_version", Severity::Warning, true);
}

#[tokio::test]
async fn an_incomplete_identify_is_reported() {
    let cfg = ProviderConfig {
        repository_name: String::new(),
        admin_email: String::new(),
        ..clean()
    };
    let p = FakeProvider::start(cfg, records(3)).await;
    let r = check(&p).await;
    assert_finding(&r, "identify_incomplete", Severity::Info, true);
}

#[tokio::test]
async fn an_empty_repository_is_reported() {
    let p = FakeProvider::start(clean(), Vec::new()).await;
    let r = check(&p).await;
    assert_finding(&r, "empty", Severity::Info, true);
    assert_eq!(r.sample.pages, 1);
    // No datestamps, so no probe.
    assert_eq!(r.requests, 4);
}

#[tokio::test]
async fn unparseable_and_future_datestamps_are_reported() {
    let p = FakeProvider::start(clean(), records(3)).await;
    let future = (Utc::now() + TimeDelta::days(400))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    p.inject_when(
        verb("ListRecords"),
        Fault::transform(move |b| {
            b.replacen(
                "<datestamp>2022-03-01T10:00:00Z",
                "<datestamp>01.03.2022",
                1,
            )
            .replacen(
                "<datestamp>2022-03-01T10:01:00Z",
                &format!("<datestamp>{future}"),
                1,
            )
        }),
    );
    let r = check(&p).await;
    assert_finding(&r, "datestamp_unparseable", Severity::Warning, true);
    assert_finding(&r, "datestamp_future", Severity::Info, true);
}
