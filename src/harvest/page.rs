//! Turning a parsed page into rows: normalization, content hashes, de-duplication.
//! Pure and CPU-bound; the harvest loop runs it off the async reactor.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::normalize;
use crate::oai::OaiRecord;
use crate::store::RecordRow;
use crate::store::reads::Renormalized;

/// Rows ready to store, plus what was wrong with the page's records.
#[derive(Debug, Default)]
pub struct PreparedPage {
    /// One row per distinct identifier, in page order (last occurrence wins).
    pub rows: Vec<RecordRow>,
    /// Records that could not be turned into rows.
    pub failed: i64,
    /// Human-readable warnings.
    pub warnings: Vec<String>,
}

/// Builds rows for a page of records.
pub fn prepare(records: Vec<OaiRecord>) -> PreparedPage {
    let mut page = PreparedPage::default();
    let mut index: HashMap<String, usize> = HashMap::with_capacity(records.len());
    for rec in records {
        let id = rec.header.identifier.trim().to_owned();
        if id.is_empty() {
            page.failed += 1;
            page.warnings
                .push("record without identifier skipped".into());
            continue;
        }
        let row = to_row(id.clone(), rec, &mut page.warnings);
        match index.get(&id) {
            // A page listing one identifier twice would make the upsert touch a row twice.
            Some(&i) => page.rows[i] = row,
            None => {
                index.insert(id, page.rows.len());
                page.rows.push(row);
            }
        }
    }
    page
}

fn to_row(id: String, rec: OaiRecord, warnings: &mut Vec<String>) -> RecordRow {
    let h = rec.header;
    let mut sets = h.sets;
    sets.sort();
    sets.dedup();
    let mut row = RecordRow {
        oai_identifier: id,
        datestamp: h.datestamp,
        datestamp_raw: h.datestamp_raw,
        deleted: h.deleted,
        sets,
        ..RecordRow::default()
    };
    match (h.deleted, rec.metadata) {
        (true, _) => {}
        (false, None) => {
            warnings.push(format!(
                "{}: live record without metadata; stored copy kept",
                row.oai_identifier
            ));
            row.flags.push("metadata_missing".into());
        }
        (false, Some(md)) => {
            if !md.dc.is_empty() {
                let f = normalized_fields(&md.dc);
                row.title = f.title;
                row.doi = f.doi;
                row.issued = f.issued;
                row.languages = f.languages;
                row.types = f.types;
                row.flags = f.flags;
                row.work_key = f.work_key;
                row.normalized = Some(f.normalized);
            }
            row.raw_metadata = Some(md.raw_xml);
        }
    }
    row.content_hash = content_hash(&row);
    row
}

/// Normalizes DC values into the stored fields (shared by harvesting and `db renormalize`).
pub fn normalized_fields(dc: &[crate::domain::DcValue]) -> Renormalized {
    let n = normalize::normalize(dc);
    // Serialize first, then move the indexed fields out instead of cloning them.
    let normalized = serde_json::to_value(&n.record).unwrap_or_default();
    let title = n.record.title().map(str::to_owned);
    let r = n.record;
    Renormalized {
        id: 0,
        title,
        doi: r.doi,
        issued: r.issued,
        languages: r.languages,
        types: r.types,
        flags: n.flags,
        work_key: n.work_key,
        normalized,
    }
}

/// What makes a record "changed": deletion state, sets and the raw metadata. The
/// datestamp is left out on purpose: some servers stamp every record "now" (quirks #10).
pub fn content_hash(row: &RecordRow) -> Vec<u8> {
    let mut h = Sha256::new();
    h.update(if row.deleted { b"D" } else { b"L" });
    for s in &row.sets {
        h.update(s.as_bytes());
        h.update([0x1f]);
    }
    h.update([0x1e]);
    match &row.raw_metadata {
        Some(raw) => {
            h.update(b"M");
            h.update(raw.as_bytes());
        }
        None => h.update(b"-"),
    }
    h.finalize().to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::DcValue;
    use crate::oai::{Header, RecordMetadata};

    fn rec(id: &str, title: &str, deleted: bool) -> OaiRecord {
        OaiRecord {
            header: Header {
                identifier: id.into(),
                datestamp_raw: "2022-06-21".into(),
                deleted,
                sets: vec!["b".into(), "a".into(), "a".into()],
                ..Header::default()
            },
            metadata: (!deleted).then(|| RecordMetadata {
                raw_xml: format!("<dc>{title}</dc>"),
                dc: vec![DcValue::dc("title", title)],
            }),
        }
    }

    #[test]
    fn duplicates_in_a_page_keep_the_last_occurrence() {
        let p = prepare(vec![
            rec("x", "one", false),
            rec("y", "two", false),
            rec("x", "three", false),
        ]);
        assert_eq!(p.rows.len(), 2);
        assert_eq!(p.rows[0].title.as_deref(), Some("three"));
        assert_eq!(p.rows[0].sets, vec!["a", "b"]);
    }

    #[test]
    fn hash_ignores_the_datestamp_but_not_content_sets_or_deletion() {
        let a = prepare(vec![rec("x", "t", false)]).rows.remove(0);
        let mut later = rec("x", "t", false);
        later.header.datestamp_raw = "2030-01-01".into();
        let b = prepare(vec![later]).rows.remove(0);
        assert_eq!(a.content_hash, b.content_hash);
        let c = prepare(vec![rec("x", "t2", false)]).rows.remove(0);
        assert_ne!(a.content_hash, c.content_hash);
        let d = prepare(vec![rec("x", "t", true)]).rows.remove(0);
        assert_ne!(a.content_hash, d.content_hash);
        assert!(d.raw_metadata.is_none() && d.normalized.is_none());
    }

    #[test]
    fn missing_metadata_and_identifiers_are_reported() {
        let mut no_md = rec("x", "t", false);
        no_md.metadata = None;
        let p = prepare(vec![no_md, rec("  ", "t", false)]);
        assert_eq!(p.failed, 1);
        assert_eq!(p.rows[0].flags, vec!["metadata_missing"]);
        assert_eq!(p.warnings.len(), 2);
    }
}
