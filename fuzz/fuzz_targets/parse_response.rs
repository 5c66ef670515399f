//! Fuzz target for sheaf's OAI-PMH response path, as the harvester runs it on a body it
//! received: bytes → `decode_body` → `parse` (for each of the six verbs) →
//! `salvage_list_records` → `normalize` of every parsed record's Dublin Core values.
//!
//! Besides "never panics", it asserts cheap invariants of each stage's contract; a failed
//! assertion is reported by libFuzzer as a crash, like a panic inside sheaf would be.
//! See docs/fuzzing.md for how to build and run it.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sheaf::domain::DcValue;
use sheaf::oai::decode::decode_body;
use sheaf::oai::response::{Salvaged, parse, salvage_list_records};
use sheaf::oai::{Header, OaiError, OaiRecord, Payload, Response, ResumptionToken, Verb};

const URL: &str = "https://fuzz.invalid/oai";

const VERBS: [Verb; 6] = [
    Verb::Identify,
    Verb::ListMetadataFormats,
    Verb::ListSets,
    Verb::ListIdentifiers,
    Verb::ListRecords,
    Verb::GetRecord,
];

/// The HTTP charset the body is decoded with a second time, picked by input length so the
/// seeds stay plain response bodies (no control prefix).
const CHARSETS: [Option<&str>; 4] = [None, Some("windows-1251"), Some("koi8-r"), Some("utf-8")];

/// Characters XML 1.0 forbids; `decode_body` promises the parser never sees them, and the
/// parsed values go to PostgreSQL, which refuses U+0000.
fn is_illegal(c: char) -> bool {
    matches!(c, '\u{0}'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}')
}

fn clean(what: &str, s: &str) {
    if let Some(c) = s.chars().find(|&c| is_illegal(c)) {
        panic!("{what} contains XML-illegal character {c:?}: {s:?}");
    }
}

fn trimmed(what: &str, s: &str) {
    assert_eq!(s, s.trim(), "{what} is not trimmed");
}

fn check_token(t: &ResumptionToken) {
    if let Some(tok) = &t.token {
        assert!(!tok.is_empty(), "resumption token is Some(\"\")");
        trimmed("resumption token", tok);
        clean("resumption token", tok);
    }
}

fn check_header(h: &Header) {
    trimmed("header identifier", &h.identifier);
    clean("header identifier", &h.identifier);
    trimmed("datestamp_raw", &h.datestamp_raw);
    for s in &h.sets {
        assert!(!s.is_empty(), "empty header setSpec kept");
        trimmed("header setSpec", s);
        clean("header setSpec", s);
    }
}

fn check_dc(dc: &[DcValue]) {
    for v in dc {
        clean("DC value", &v.value);
        clean("DC element", &v.element);
        if let Some(l) = &v.lang {
            assert!(!l.is_empty(), "empty xml:lang kept");
            trimmed("xml:lang", l);
            clean("xml:lang", l);
        }
    }
    let n = sheaf::normalize::normalize(dc);
    assert_eq!(
        n.record.titles.is_empty(),
        n.flags.iter().any(|f| f == "incomplete"),
        "`incomplete` flag disagrees with the titles"
    );
    for t in n
        .record
        .titles
        .iter()
        .chain(&n.record.subjects)
        .chain(&n.record.descriptions)
    {
        assert!(!t.value.is_empty(), "empty normalized text value");
        trimmed("normalized text value", &t.value);
    }
}

fn check_record(r: &OaiRecord) {
    check_header(&r.header);
    if r.header.deleted {
        assert!(r.metadata.is_none(), "deleted record carries metadata");
    }
    if let Some(m) = &r.metadata {
        assert!(
            m.raw_xml.is_empty() || m.raw_xml.starts_with('<'),
            "metadata raw_xml does not start with a tag: {:?}",
            m.raw_xml
        );
        assert!(
            m.dc.is_empty() || !m.raw_xml.is_empty(),
            "DC values parsed from an empty metadata fragment"
        );
        check_dc(&m.dc);
    }
}

fn check_response(verb: Verb, r: &Response) {
    if let Some(t) = &r.token {
        check_token(t);
    }
    assert_eq!(r.next_token(), r.token.as_ref().and_then(|t| t.token.as_deref()));
    match (&r.payload, verb) {
        (Payload::Identify(i), Verb::Identify) => {
            for s in [
                &i.repository_name,
                &i.base_url,
                &i.protocol_version,
                &i.earliest_datestamp,
                &i.deleted_record,
                &i.granularity_raw,
            ] {
                trimmed("Identify field", s);
                clean("Identify field", s);
            }
            let _ = i.granularity();
        }
        (Payload::MetadataFormats(fs), Verb::ListMetadataFormats) => {
            for f in fs {
                trimmed("metadataPrefix", &f.prefix);
                clean("metadataPrefix", &f.prefix);
            }
        }
        (Payload::Sets(ss), Verb::ListSets) => {
            for s in ss {
                trimmed("setSpec", &s.spec);
                clean("setSpec", &s.spec);
                clean("setName", &s.name);
            }
        }
        (Payload::Headers(hs), Verb::ListIdentifiers) => hs.iter().for_each(check_header),
        (Payload::Records(rs), Verb::ListRecords | Verb::GetRecord) => {
            rs.iter().for_each(check_record)
        }
        (p, v) => panic!("verb {v:?} gave payload {p:?}"),
    }
}

/// Number of places the salvager's record pattern `<(prefix:)?record[\s>]` can start: an
/// upper bound on the fragments it cuts.
fn record_starts(xml: &str) -> usize {
    xml.match_indices("record")
        .filter(|&(i, _)| {
            let before = xml[..i].chars().next_back();
            let after = xml[i + "record".len()..].chars().next();
            matches!(before, Some('<' | ':')) && after.is_some_and(|c| c == '>' || c.is_whitespace())
        })
        .count()
}

fn check_salvaged(xml: &str, s: &Salvaged) {
    let cut = s.records.len() + s.bad.len();
    assert!(cut > 0, "salvage returned Some with nothing in it");
    let starts = record_starts(xml);
    assert!(
        cut <= starts,
        "salvaged {cut} fragments from a page with {starts} record start tags"
    );
    s.records.iter().for_each(check_record);
    for b in &s.bad {
        assert_eq!(
            xml.get(b.offset..b.offset + b.raw.len()),
            Some(b.raw.as_str()),
            "bad record's raw text is not the page at its offset"
        );
        assert!(!b.raw.is_empty(), "empty bad-record fragment");
        assert!(!b.error.is_empty(), "bad record without an error");
    }
    if let Some(t) = &s.token {
        check_token(t);
    }
}

/// The text of errors that do not depend on the verb (XML and envelope errors).
fn verb_independent(r: &Result<Response, OaiError>) -> Option<String> {
    match r {
        Err(e @ (OaiError::Xml { .. } | OaiError::NotOai { .. })) => Some(e.to_string()),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    // Stage 1: bytes → text, as the client does with no HTTP charset, and once more with
    // one (only its own contract is checked).
    let (xml, report) = decode_body(data, None);
    clean("decoded body", &xml);
    assert!(report.junk_skipped <= data.len());
    let (other, report2) = decode_body(data, CHARSETS[data.len() % CHARSETS.len()]);
    clean("decoded body (HTTP charset)", &other);
    assert!(report2.junk_skipped <= data.len());

    // Stage 2: the parser, for every verb.
    let results: Vec<Result<Response, OaiError>> =
        VERBS.iter().map(|&v| parse(&xml, v, URL)).collect();
    for (&verb, r) in VERBS.iter().zip(&results) {
        if let Ok(resp) = r {
            check_response(verb, resp);
            for w in &resp.warnings {
                assert!(!w.is_empty());
            }
        }
    }
    // Reading the XML does not depend on the verb: a malformed page is malformed for all.
    let first = verb_independent(&results[0]);
    for (&verb, r) in VERBS.iter().zip(&results) {
        assert_eq!(
            verb_independent(r),
            first,
            "{verb:?} disagrees with Identify about the page's well-formedness"
        );
    }
    // Identify, ListMetadataFormats and GetRecord tolerate no OAI error code: same outcome.
    assert_eq!(results[0].is_ok(), results[1].is_ok());
    assert_eq!(results[0].is_ok(), results[5].is_ok());
    // ListIdentifiers and ListRecords tolerate exactly noRecordsMatch.
    assert_eq!(results[3].is_ok(), results[4].is_ok());
    // A list verb tolerates more than a non-list one, never less.
    if results[0].is_ok() {
        assert!(results[2].is_ok() && results[3].is_ok() && results[4].is_ok());
    }
    // GetRecord and ListRecords collect records the same way.
    if let (Ok(a), Ok(b)) = (&results[4], &results[5]) {
        assert_eq!(a, b, "ListRecords and GetRecord parse the same page differently");
    }

    // Stage 3: the salvager, which the harvester calls on a ListRecords page that failed.
    if let Some(s) = salvage_list_records(&xml, URL) {
        check_salvaged(&xml, &s);
    }
});
