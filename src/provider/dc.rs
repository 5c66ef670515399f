//! `oai_dc` regenerated from a normalized record: clean values, `xml:lang` on every text
//! that has a language, DOIs as resolver URLs.
//!
//! The output is written so that normalizing it again gives the same record (sheaf
//! harvesting its own `/oai` reproduces the contract fields): types go out as
//! `info:eu-repo/semantics/…` terms, identifiers in a form their scheme is recognised by,
//! and `source_info` as one OJS-style citation (`Title; Vol. 5, No. 2 (2022); pp. 10-20`)
//! plus the ISSN on its own.

use std::borrow::Cow;
use std::io::Write;

use quick_xml::Writer;
use quick_xml::events::{BytesEnd, BytesStart, BytesText, Event};

use crate::domain::DC_NS;
use crate::normalize::{NormalizedRecord, Person, SourceInfo};
use crate::oai::OAI_DC_NS;

/// `xsi:schemaLocation` of an `oai_dc` record.
pub const OAI_DC_SCHEMA: &str = "http://www.openarchives.org/OAI/2.0/oai_dc.xsd";
/// The XML Schema instance namespace.
pub const XSI_NS: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Removes characters XML 1.0 cannot carry, so a stored oddity never breaks a document.
pub fn xml_safe(s: &str) -> Cow<'_, str> {
    let legal = |c: char| matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..);
    if s.chars().all(legal) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(s.chars().filter(|c| legal(*c)).collect())
    }
}

/// Writes `<name attrs…>text</name>`, the text escaped.
pub fn text_element<W: Write>(
    w: &mut Writer<W>,
    name: &str,
    attrs: &[(&str, &str)],
    text: &str,
) -> std::io::Result<()> {
    let mut start = BytesStart::new(name);
    for (k, v) in attrs {
        start.push_attribute((*k, xml_safe(v).as_ref()));
    }
    w.write_event(Event::Start(start))?;
    w.write_event(Event::Text(BytesText::new(&xml_safe(text))))?;
    w.write_event(Event::End(BytesEnd::new(name)))
}

fn dc<W: Write>(
    w: &mut Writer<W>,
    element: &str,
    text: &str,
    lang: Option<&str>,
) -> std::io::Result<()> {
    if text.is_empty() {
        return Ok(());
    }
    let name = format!("dc:{element}");
    match lang {
        Some(l) => text_element(w, &name, &[("xml:lang", l)], text),
        None => text_element(w, &name, &[], text),
    }
}

/// Writes one `<oai_dc:dc>` element for `rec`.
pub fn write_oai_dc<W: Write>(w: &mut Writer<W>, rec: &NormalizedRecord) -> std::io::Result<()> {
    let root = BytesStart::new("oai_dc:dc").with_attributes([
        ("xmlns:oai_dc", OAI_DC_NS),
        ("xmlns:dc", DC_NS),
        ("xmlns:xsi", XSI_NS),
        (
            "xsi:schemaLocation",
            &*format!("{OAI_DC_NS} {OAI_DC_SCHEMA}"),
        ),
    ]);
    w.write_event(Event::Start(root))?;
    for t in &rec.titles {
        dc(w, "title", &t.value, t.lang.as_deref())?;
    }
    write_people(w, "creator", &rec.creators)?;
    for s in &rec.subjects {
        dc(w, "subject", &s.value, s.lang.as_deref())?;
    }
    for d in &rec.descriptions {
        dc(w, "description", &d.value, d.lang.as_deref())?;
    }
    for p in &rec.publishers {
        dc(w, "publisher", p, None)?;
    }
    write_people(w, "contributor", &rec.contributors)?;
    if let Some(issued) = &rec.issued {
        dc(w, "date", issued, None)?;
    }
    for t in &rec.types {
        dc(w, "type", &type_term(t), None)?;
    }
    for f in &rec.formats {
        dc(w, "format", f, None)?;
    }
    for i in &rec.identifiers {
        dc(w, "identifier", &identifier_text(&i.scheme, &i.value), None)?;
    }
    if let Some(si) = &rec.source_info {
        if let Some(cite) = citation(si) {
            dc(w, "source", &cite, None)?;
        }
        if let Some(issn) = &si.issn {
            dc(w, "source", issn, None)?;
        }
    }
    for l in &rec.languages {
        dc(w, "language", l, None)?;
    }
    for r in &rec.relations {
        dc(w, "relation", r, None)?;
    }
    for c in &rec.coverage {
        dc(w, "coverage", c, None)?;
    }
    for r in &rec.rights {
        dc(w, "rights", &r.value, None)?;
    }
    w.write_event(Event::End(BytesEnd::new("oai_dc:dc")))
}

/// One element per person; a person known in several locales gets one per locale, each
/// with its `xml:lang`, as OJS 3.4 writes them (normalization merges them back).
fn write_people<W: Write>(
    w: &mut Writer<W>,
    element: &str,
    people: &[Person],
) -> std::io::Result<()> {
    for p in people {
        if p.variants.is_empty() {
            dc(w, element, &p.name, None)?;
        } else {
            for v in &p.variants {
                dc(w, element, &v.name, v.lang.as_deref())?;
            }
        }
    }
    Ok(())
}

/// The `info:eu-repo/semantics` term of a vocabulary type (what OpenAIRE expects).
pub fn type_term(t: &str) -> String {
    let term = match t {
        "book-part" => "bookPart",
        "thesis" => "doctoralThesis",
        "conference-paper" => "conferenceObject",
        other => other,
    };
    format!("info:eu-repo/semantics/{term}")
}

/// An identifier in the form its scheme is recognised by (DOIs as resolver URLs).
pub fn identifier_text(scheme: &str, value: &str) -> String {
    match scheme {
        "doi" => format!("https://doi.org/{value}"),
        "handle" => format!("https://hdl.handle.net/{value}"),
        "arxiv" => format!("arXiv:{value}"),
        "orcid" => format!("https://orcid.org/{value}"),
        _ => value.to_owned(),
    }
}

/// `Title; Vol. V, No. N (Y); pp. P`, with only the parts known; `None` when nothing is.
pub fn citation(si: &SourceInfo) -> Option<String> {
    let mut numbers: Vec<String> = Vec::new();
    if let Some(v) = &si.volume {
        numbers.push(format!("Vol. {v}"));
    }
    if let Some(i) = &si.issue {
        numbers.push(format!("No. {i}"));
    }
    let mut middle = numbers.join(", ");
    if let Some(y) = si.year {
        if middle.is_empty() {
            middle = format!("({y})");
        } else {
            middle = format!("{middle} ({y})");
        }
    }
    let parts: Vec<String> = [
        si.title.clone(),
        (!middle.is_empty()).then_some(middle),
        si.pages.as_ref().map(|p| format!("pp. {p}")),
    ]
    .into_iter()
    .flatten()
    .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oai::Verb;
    use crate::oai::response::{Payload, parse};

    /// Wraps a dc record in a GetRecord response and reads it back with sheaf's parser.
    fn reparse(rec: &NormalizedRecord) -> NormalizedRecord {
        let mut w = Writer::new(Vec::new());
        write_oai_dc(&mut w, rec).unwrap();
        let dc = String::from_utf8(w.into_inner()).unwrap();
        let xml = format!(
            "<OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\"><responseDate>2026-01-01T00:00:00Z</responseDate>\
             <request verb=\"GetRecord\">http://x/oai</request><GetRecord><record><header><identifier>oai:x:1</identifier>\
             <datestamp>2026-01-01T00:00:00Z</datestamp></header><metadata>{dc}</metadata></record></GetRecord></OAI-PMH>"
        );
        let resp = parse(&xml, Verb::GetRecord, "test").unwrap();
        let Payload::Records(recs) = resp.payload else {
            panic!("not records")
        };
        let values = &recs[0].metadata.as_ref().unwrap().dc;
        crate::normalize::normalize(values).record
    }

    fn seed() -> NormalizedRecord {
        let xml = include_str!("../../tests/data/seed_article_oai_dc.xml");
        let wrapped = format!(
            "<OAI-PMH xmlns=\"http://www.openarchives.org/OAI/2.0/\"><responseDate>2026-01-01T00:00:00Z</responseDate>\
             <request verb=\"GetRecord\">http://x/oai</request><GetRecord><record><header><identifier>oai:x:1</identifier>\
             <datestamp>2026-01-01T00:00:00Z</datestamp></header><metadata>{xml}</metadata></record></GetRecord></OAI-PMH>"
        );
        let Payload::Records(recs) = parse(&wrapped, Verb::GetRecord, "t").unwrap().payload else {
            panic!("not records")
        };
        crate::normalize::normalize(&recs[0].metadata.as_ref().unwrap().dc).record
    }

    #[test]
    fn the_seed_article_survives_regeneration_unchanged() {
        let rec = seed();
        assert_eq!(reparse(&rec), rec);
    }

    #[test]
    fn every_vocabulary_type_and_identifier_scheme_comes_back() {
        let mut rec = seed();
        rec.types = crate::normalize::TYPE_VOCABULARY
            .iter()
            .map(|t| (*t).to_owned())
            .collect();
        let ident = |s: &'static str, v: &str| crate::normalize::Identifier {
            scheme: s.into(),
            value: v.into(),
        };
        rec.identifiers = vec![
            ident("doi", "10.1234/abc.def"),
            ident("url", "https://example.org/a/1"),
            ident("handle", "10138/12345"),
            ident("arxiv", "2101.00001"),
            ident("orcid", "0000-0002-1825-0097"),
            ident("urn", "urn:nbn:de:1234"),
            ident("issn", "0131-2812"),
        ];
        rec.doi = Some("10.1234/abc.def".into());
        rec.source_info = Some(SourceInfo {
            title: Some("Journal of Tests".into()),
            volume: Some("5".into()),
            issue: Some("2".into()),
            year: Some(2022),
            pages: Some("10-20".into()),
            issn: Some("0131-2812".into()),
        });
        let back = reparse(&rec);
        assert_eq!(back.types, rec.types);
        assert_eq!(back.identifiers, rec.identifiers);
        assert_eq!(back.source_info, rec.source_info);
        assert_eq!(back.doi, rec.doi);
    }

    #[test]
    fn markup_and_illegal_characters_are_escaped_or_dropped() {
        let mut rec = seed();
        rec.titles[0].value = "a < b & \"c\" \u{1}d".into();
        let mut w = Writer::new(Vec::new());
        write_oai_dc(&mut w, &rec).unwrap();
        let out = String::from_utf8(w.into_inner()).unwrap();
        assert!(out.contains("a &lt; b &amp; &quot;c&quot; d"), "{out}");
        assert!(!out.contains('\u{1}'));
    }

    #[test]
    fn citations_hold_only_the_known_parts() {
        let si = SourceInfo {
            title: Some("J".into()),
            volume: None,
            issue: Some("3".into()),
            year: Some(2022),
            pages: None,
            issn: None,
        };
        assert_eq!(citation(&si).as_deref(), Some("J; No. 3 (2022)"));
        let none = SourceInfo {
            title: None,
            volume: None,
            issue: None,
            year: None,
            pages: None,
            issn: Some("0131-2812".into()),
        };
        assert_eq!(citation(&none), None);
    }
}
