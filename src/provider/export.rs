//! `sheaf export` writers: JSON lines (the contract), CSV (flat columns) and `oai_dc` (one
//! OAI-PMH `ListRecords` document, written with the provider's own record writer).
//!
//! Each writer takes one row at a time and keeps nothing but its output buffer, so an
//! export's memory does not grow with the number of records.

use std::io::Write;

use chrono::{DateTime, Utc};
use quick_xml::Writer;
use quick_xml::events::{BytesEnd, BytesStart, Event};
use serde_json::Value;

use super::xml::{self, OutMetadata, OutRecord};
use crate::contract::{RecordRowView, record_json};
use crate::normalize::NormalizedRecord;

/// What can go wrong writing an export.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// Writing to the output failed.
    #[error("cannot write the export: {0}")]
    Io(#[from] std::io::Error),
    /// The CSV writer failed (it wraps I/O errors too).
    #[error("cannot write CSV: {0}")]
    Csv(#[from] csv::Error),
    /// A JSON value could not be written.
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// A destination for exported records, fed in order and finished once.
pub trait RecordSink {
    /// Writes one record.
    fn write(&mut self, row: &RecordRowView) -> Result<(), ExportError>;
    /// Writes whatever closes the document and flushes.
    fn finish(self: Box<Self>) -> Result<(), ExportError>;
}

/// One contract JSON object per line.
pub fn jsonl<W: Write + 'static>(out: W) -> Box<dyn RecordSink> {
    Box::new(Jsonl(out))
}

struct Jsonl<W>(W);

impl<W: Write> RecordSink for Jsonl<W> {
    fn write(&mut self, row: &RecordRowView) -> Result<(), ExportError> {
        serde_json::to_writer(&mut self.0, &record_json(row))?;
        self.0.write_all(b"\n")?;
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<(), ExportError> {
        Ok(self.0.flush()?)
    }
}

/// The CSV columns, in order.
pub const CSV_COLUMNS: [&str; 19] = [
    "id",
    "source",
    "oai_identifier",
    "datestamp",
    "deleted",
    "doi",
    "issued",
    "title",
    "creators",
    "subjects",
    "languages",
    "types",
    "journal",
    "volume",
    "issue",
    "pages",
    "issn",
    "url",
    "license",
];

/// One row per record with [`CSV_COLUMNS`]; lists are joined with `"; "`.
pub fn csv<W: Write + 'static>(out: W) -> Result<Box<dyn RecordSink>, ExportError> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record(CSV_COLUMNS)?;
    Ok(Box::new(Csv(w)))
}

struct Csv<W: Write>(csv::Writer<W>);

fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `key` of every object in the array `v`, joined.
fn joined(v: &Value, key: Option<&str>) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| text(key.map_or(x, |k| &x[k])))
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_default()
}

/// The CSV fields of one contract object.
pub fn csv_fields(c: &Value) -> Vec<String> {
    let first = |arr: &str, pick: &dyn Fn(&Value) -> bool, key: &str| {
        c[arr]
            .as_array()
            .and_then(|a| a.iter().find(|x| pick(x)))
            .map(|x| text(&x[key]))
            .unwrap_or_default()
    };
    let si = &c["source_info"];
    vec![
        text(&c["id"]),
        text(&c["source"]),
        text(&c["oai_identifier"]),
        text(&c["datestamp"]),
        text(&c["deleted"]),
        text(&c["doi"]),
        text(&c["issued"]),
        first("titles", &|_| true, "value"),
        joined(&c["creators"], Some("name")),
        joined(&c["subjects"], Some("value")),
        joined(&c["languages"], None),
        joined(&c["types"], None),
        text(&si["title"]),
        text(&si["volume"]),
        text(&si["issue"]),
        text(&si["pages"]),
        text(&si["issn"]),
        first("identifiers", &|x| x["scheme"] == "url", "value"),
        first("rights", &|x| !x["license"].is_null(), "license"),
    ]
}

impl<W: Write> RecordSink for Csv<W> {
    fn write(&mut self, row: &RecordRowView) -> Result<(), ExportError> {
        Ok(self.0.write_record(csv_fields(&record_json(row)))?)
    }

    fn finish(mut self: Box<Self>) -> Result<(), ExportError> {
        Ok(self.0.flush()?)
    }
}

/// The pseudo base URL in an `oai_dc` export's `<request>` element.
pub const EXPORT_BASE_URL: &str = "sheaf:export";

/// One OAI-PMH `ListRecords` document (`metadataPrefix="oai_dc"`): every record as the
/// provider would serve it, with the harvested identifier and `<source>` setSpecs.
pub fn oai_dc<W: Write + 'static>(
    out: W,
    now: DateTime<Utc>,
) -> Result<Box<dyn RecordSink>, ExportError> {
    let mut w = Writer::new(out);
    xml::start_envelope(
        &mut w,
        now,
        EXPORT_BASE_URL,
        &[("verb", "ListRecords"), ("metadataPrefix", "oai_dc")],
    )?;
    w.write_event(Event::Start(BytesStart::new("ListRecords")))?;
    Ok(Box::new(OaiDc(w)))
}

struct OaiDc<W: Write>(Writer<W>);

impl<W: Write> RecordSink for OaiDc<W> {
    fn write(&mut self, row: &RecordRowView) -> Result<(), ExportError> {
        let rec: Option<NormalizedRecord> = match &row.normalized {
            Some(v) if !row.deleted => serde_json::from_value(v.clone()).ok(),
            _ => None,
        };
        let sets = super::set_specs(&row.source, &row.sets);
        let out = OutRecord {
            identifier: &row.oai_identifier,
            datestamp: row.updated_at,
            sets: &sets,
            deleted: row.deleted,
            metadata: rec.as_ref().map(OutMetadata::Dc),
        };
        Ok(xml::write_record(&mut self.0, &out)?)
    }

    fn finish(mut self: Box<Self>) -> Result<(), ExportError> {
        self.0
            .write_event(Event::End(BytesEnd::new("ListRecords")))?;
        xml::end_envelope(&mut self.0)?;
        Ok(self.0.get_mut().flush()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_follow_the_columns() {
        let c = serde_json::json!({
            "id": 7, "source": "s", "oai_identifier": "oai:x:7", "datestamp": "2022-06-21T00:00:00Z",
            "deleted": false, "doi": "10.1/x", "issued": "2022",
            "titles": [{"value": "T1", "lang": "en"}, {"value": "T2", "lang": "ru"}],
            "creators": [{"name": "A, B"}, {"name": "C, D"}],
            "subjects": [{"value": "k1", "lang": null}, {"value": "k2", "lang": null}],
            "languages": ["en", "ru"], "types": ["article"],
            "identifiers": [{"scheme": "doi", "value": "10.1/x"}, {"scheme": "url", "value": "https://x/7"}],
            "source_info": {"title": "J", "volume": "5", "issue": "2", "year": 2022, "pages": "1-2", "issn": null},
            "rights": [{"value": "(c) me", "license": null}, {"value": "https://creativecommons.org/licenses/by/4.0/", "license": "CC-BY-4.0"}]
        });
        let f = csv_fields(&c);
        assert_eq!(f.len(), CSV_COLUMNS.len());
        let get = |col: &str| f[CSV_COLUMNS.iter().position(|c| *c == col).unwrap()].as_str();
        assert_eq!(get("title"), "T1");
        assert_eq!(get("creators"), "A, B; C, D");
        assert_eq!(get("languages"), "en; ru");
        assert_eq!(get("url"), "https://x/7");
        assert_eq!(get("license"), "CC-BY-4.0");
        assert_eq!(get("issn"), "");
        assert_eq!(get("deleted"), "false");
    }
}
