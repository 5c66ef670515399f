//! The OAI-PMH response envelope and record elements, written with quick-xml's `Writer`
//! (so every text and attribute is escaped by the library, never by hand).

use std::io::Write;

use chrono::{DateTime, Utc};
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, Event};

use super::dc::{XSI_NS, text_element, write_oai_dc};
use crate::normalize::NormalizedRecord;
use crate::oai::datestamp::Granularity;
use crate::oai::{OAI_NS, ProtocolError};

/// `xsi:schemaLocation` of the OAI-PMH envelope.
const OAI_SCHEMA: &str = "http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd";

/// One record as it goes out: the header facts and, for ListRecords/GetRecord, metadata.
#[derive(Debug, Clone)]
pub struct OutRecord<'a> {
    /// The identifier as served.
    pub identifier: &'a str,
    /// The header datestamp.
    pub datestamp: DateTime<Utc>,
    /// setSpecs, in order.
    pub sets: &'a [String],
    /// Tombstone: `status="deleted"` and no metadata.
    pub deleted: bool,
    /// What goes inside `<metadata>`.
    pub metadata: Option<OutMetadata<'a>>,
}

/// The content of `<metadata>`.
#[derive(Debug, Clone)]
pub enum OutMetadata<'a> {
    /// `oai_dc` regenerated from the normalized record.
    Dc(&'a NormalizedRecord),
    /// A stored, well-formed XML fragment, copied verbatim.
    Raw(&'a str),
}

/// Starts a document: XML declaration, `<OAI-PMH>`, `responseDate`, and the `request`
/// element echoing `attrs` (empty for badVerb/badArgument answers).
pub fn start_envelope<W: Write>(
    w: &mut Writer<W>,
    response_date: DateTime<Utc>,
    base_url: &str,
    attrs: &[(&str, &str)],
) -> std::io::Result<()> {
    w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))?;
    let root = BytesStart::new("OAI-PMH").with_attributes([
        ("xmlns", OAI_NS),
        ("xmlns:xsi", XSI_NS),
        ("xsi:schemaLocation", &*format!("{OAI_NS} {OAI_SCHEMA}")),
    ]);
    w.write_event(Event::Start(root))?;
    text_element(
        w,
        "responseDate",
        &[],
        &Granularity::Seconds.format(response_date),
    )?;
    text_element(w, "request", attrs, base_url)
}

/// Closes `<OAI-PMH>`.
pub fn end_envelope<W: Write>(w: &mut Writer<W>) -> std::io::Result<()> {
    w.write_event(Event::End(BytesEnd::new("OAI-PMH")))
}

/// Writes `<error code="…">message</error>` for each error.
pub fn write_errors<W: Write>(w: &mut Writer<W>, errors: &[ProtocolError]) -> std::io::Result<()> {
    for e in errors {
        text_element(w, "error", &[("code", e.code.as_str())], &e.message)?;
    }
    Ok(())
}

/// Writes `<header>`.
pub fn write_header<W: Write>(w: &mut Writer<W>, r: &OutRecord<'_>) -> std::io::Result<()> {
    let mut start = BytesStart::new("header");
    if r.deleted {
        start.push_attribute(("status", "deleted"));
    }
    w.write_event(Event::Start(start))?;
    text_element(w, "identifier", &[], r.identifier)?;
    text_element(
        w,
        "datestamp",
        &[],
        &Granularity::Seconds.format(r.datestamp),
    )?;
    for s in r.sets {
        text_element(w, "setSpec", &[], s)?;
    }
    w.write_event(Event::End(BytesEnd::new("header")))
}

/// Writes `<record>` (header, and metadata unless deleted).
pub fn write_record<W: Write>(w: &mut Writer<W>, r: &OutRecord<'_>) -> std::io::Result<()> {
    w.write_event(Event::Start(BytesStart::new("record")))?;
    write_header(w, r)?;
    if !r.deleted
        && let Some(m) = &r.metadata
    {
        w.write_event(Event::Start(BytesStart::new("metadata")))?;
        match m {
            OutMetadata::Dc(rec) => write_oai_dc(w, rec)?,
            OutMetadata::Raw(xml) => w.get_mut().write_all(xml.as_bytes())?,
        }
        w.write_event(Event::End(BytesEnd::new("metadata")))?;
    }
    w.write_event(Event::End(BytesEnd::new("record")))
}

/// Writes `<resumptionToken>`: `token` `None` is the empty token that ends a list.
pub fn write_token<W: Write>(
    w: &mut Writer<W>,
    token: Option<&str>,
    complete_list_size: u64,
    cursor: u64,
) -> std::io::Result<()> {
    let size = complete_list_size.to_string();
    let cur = cursor.to_string();
    let start = BytesStart::new("resumptionToken").with_attributes([
        ("completeListSize", size.as_str()),
        ("cursor", cur.as_str()),
    ]);
    match token {
        Some(t) => {
            w.write_event(Event::Start(start))?;
            w.write_event(Event::Text(quick_xml::events::BytesText::new(t)))?;
            w.write_event(Event::End(BytesEnd::new("resumptionToken")))
        }
        None => w.write_event(Event::Empty(start)),
    }
}
