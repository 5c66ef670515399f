//! The normalized record contract (`../shared/DESIGN.md`): the one JSON object that
//! `sheaf records show --json`, `sheaf export --format jsonl` and `GET /api/records/{id}`
//! all emit. Built from a stored row; pure.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

/// The stored columns the contract is built from, with the normalized fields parsed (the
/// change feed reads the same columns borrowed: [`ContractRowRef`]).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RecordRowView {
    /// Record id.
    pub id: i64,
    /// Source name.
    pub source: String,
    /// OAI identifier.
    pub oai_identifier: String,
    /// Header datestamp.
    pub datestamp: Option<DateTime<Utc>>,
    /// Tombstone.
    pub deleted: bool,
    /// Set specs.
    pub sets: Vec<String>,
    /// Normalized fields, `None` for tombstones and non-DC formats.
    pub normalized: Option<Value>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// The contract object for a row. Tombstones and records without normalized fields carry
/// the empty field set, so every object has the same keys.
pub fn record_json(row: &RecordRowView) -> Value {
    let mut obj = Map::new();
    obj.insert("id".into(), row.id.into());
    obj.insert("source".into(), row.source.clone().into());
    obj.insert("oai_identifier".into(), row.oai_identifier.clone().into());
    obj.insert(
        "datestamp".into(),
        row.datestamp
            .map(|d| Value::from(d.to_rfc3339_opts(SecondsFormat::Secs, true)))
            .unwrap_or(Value::Null),
    );
    obj.insert("deleted".into(), row.deleted.into());
    obj.insert("sets".into(), row.sets.clone().into());
    let fields = match (&row.normalized, row.deleted) {
        (Some(Value::Object(m)), false) => m.clone(),
        _ => empty_fields(),
    };
    for (k, v) in fields {
        obj.insert(k, v);
    }
    obj.insert(
        "updated_at".into(),
        row.updated_at
            .to_rfc3339_opts(SecondsFormat::Secs, true)
            .into(),
    );
    Value::Object(obj)
}

/// One stored row as the change feed reads it: borrowed from the row PostgreSQL sent, with
/// the normalized fields as the stored JSON text, so a page is copied once, into its
/// response, instead of into owned fields first (those copies, and looking columns up by
/// name, were a quarter of sheaf's CPU in the feed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractRowRef<'a> {
    /// Record id.
    pub id: i64,
    /// Source name.
    pub source: &'a str,
    /// OAI identifier.
    pub oai_identifier: &'a str,
    /// Header datestamp.
    pub datestamp: Option<DateTime<Utc>>,
    /// Tombstone.
    pub deleted: bool,
    /// Set specs (owned: sqlx decodes arrays only into owned elements).
    pub sets: Vec<String>,
    /// The stored normalized fields as JSON object text (PostgreSQL wrote it, and the
    /// server's encoding is UTF-8, so it is not checked again); `None` for tombstones and
    /// non-DC formats.
    pub normalized: Option<&'a [u8]>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// Writes the object `record_json` builds for the same row, with the normalized fields
/// copied as text, then one more integer member (`extra`) before the closing brace.
pub fn write_record_json(
    out: &mut Vec<u8>,
    row: &ContractRowRef<'_>,
    extra: Option<(&str, i64)>,
) -> serde_json::Result<()> {
    let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::Secs, true);
    out.extend_from_slice(b"{\"id\":");
    serde_json::to_writer(&mut *out, &row.id)?;
    out.extend_from_slice(b",\"source\":");
    serde_json::to_writer(&mut *out, &row.source)?;
    out.extend_from_slice(b",\"oai_identifier\":");
    serde_json::to_writer(&mut *out, &row.oai_identifier)?;
    out.extend_from_slice(b",\"datestamp\":");
    serde_json::to_writer(&mut *out, &row.datestamp.as_ref().map(time))?;
    out.extend_from_slice(b",\"deleted\":");
    serde_json::to_writer(&mut *out, &row.deleted)?;
    out.extend_from_slice(b",\"sets\":");
    serde_json::to_writer(&mut *out, &row.sets)?;
    // The members of the stored object, as `record_json` merges them; PostgreSQL wrote the
    // text, so it is valid JSON and only the outer braces need to go.
    let members = match (row.normalized, row.deleted) {
        (Some(text), false) => text
            .trim_ascii()
            .strip_prefix(b"{")
            .and_then(|t| t.strip_suffix(b"}"))
            .unwrap_or(EMPTY_MEMBERS.as_bytes()),
        _ => EMPTY_MEMBERS.as_bytes(),
    }
    .trim_ascii();
    if !members.is_empty() {
        out.push(b',');
        out.extend_from_slice(members);
    }
    out.extend_from_slice(b",\"updated_at\":");
    serde_json::to_writer(&mut *out, &time(&row.updated_at))?;
    if let Some((name, value)) = extra {
        out.push(b',');
        serde_json::to_writer(&mut *out, name)?;
        out.push(b':');
        serde_json::to_writer(&mut *out, &value)?;
    }
    out.push(b'}');
    Ok(())
}

/// The members of `empty_fields` as JSON text, without the braces.
static EMPTY_MEMBERS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let text = Value::Object(empty_fields()).to_string();
    text.strip_prefix('{')
        .and_then(|t| t.strip_suffix('}'))
        .unwrap_or_default()
        .to_owned()
});

fn empty_fields() -> Map<String, Value> {
    match serde_json::to_value(crate::normalize::normalize(&[]).record) {
        Ok(Value::Object(m)) => m,
        _ => Map::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::DcValue;

    #[test]
    fn live_and_deleted_records_have_the_same_keys_in_contract_order() {
        let n = crate::normalize::normalize(&[
            DcValue::dc_lang("title", "T", "en"),
            DcValue::dc("identifier", "10.1234/x"),
        ]);
        let at = DateTime::parse_from_rfc3339("2022-06-21T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let live = RecordRowView {
            id: 42,
            source: "dvostok".into(),
            oai_identifier: "oai:x:1".into(),
            datestamp: Some(at),
            deleted: false,
            sets: vec!["s".into()],
            normalized: serde_json::to_value(&n.record).ok(),
            updated_at: at,
        };
        let dead = RecordRowView {
            deleted: true,
            normalized: None,
            datestamp: None,
            ..live.clone()
        };
        let (a, b) = (record_json(&live), record_json(&dead));
        let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
        assert_eq!(keys(&a), keys(&b));
        assert_eq!(
            &keys(&a)[..6],
            [
                "id",
                "source",
                "oai_identifier",
                "datestamp",
                "deleted",
                "sets"
            ]
        );
        assert_eq!(keys(&a).last().map(String::as_str), Some("updated_at"));
        assert_eq!(a["datestamp"], "2022-06-21T00:00:00Z");
        assert_eq!(a["doi"], "10.1234/x");
        assert_eq!(a["titles"][0]["value"], "T");
        assert_eq!(b["titles"], serde_json::json!([]));
        assert_eq!(b["doi"], Value::Null);
        assert_eq!(b["deleted"], true);
    }

    /// The feed's text path gives the same object as `record_json`, key for key and in the
    /// same order, for a live record (fields as stored text), a tombstone and a record
    /// whose stored fields are not an object.
    #[test]
    fn the_text_path_writes_what_record_json_builds() {
        let n = crate::normalize::normalize(&[
            DcValue::dc_lang("title", "Корейский \"полуостров\"", "ru"),
            DcValue::dc("creator", "Ким, А. В."),
            DcValue::dc("identifier", "10.1234/x"),
        ]);
        let at = DateTime::parse_from_rfc3339("2022-06-21T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let live = RecordRowView {
            id: 7,
            source: "s\"q".into(),
            oai_identifier: "oai:x:7".into(),
            datestamp: Some(at),
            deleted: false,
            sets: vec!["a".into(), "b".into()],
            normalized: serde_json::to_value(&n.record).ok(),
            updated_at: at,
        };
        let dead = RecordRowView {
            deleted: true,
            normalized: None,
            datestamp: None,
            ..live.clone()
        };
        let odd = RecordRowView {
            normalized: Some(Value::Null),
            ..live.clone()
        };
        for row in [live, dead, odd] {
            // PostgreSQL's rendering has spaces after `:` and `,`; serde's has none.
            let stored = row
                .normalized
                .as_ref()
                .map(|v| serde_json::to_vec_pretty(v).unwrap_or_default());
            let text = ContractRowRef {
                id: row.id,
                source: &row.source,
                oai_identifier: &row.oai_identifier,
                datestamp: row.datestamp,
                deleted: row.deleted,
                sets: row.sets.clone(),
                normalized: stored.as_deref(),
                updated_at: row.updated_at,
            };
            let mut out = Vec::new();
            write_record_json(&mut out, &text, Some(("change_seq", 42))).unwrap();
            let got: Value = serde_json::from_slice(&out).unwrap();
            let mut want = record_json(&row);
            want["change_seq"] = 42.into();
            let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
            assert_eq!(keys(&got), keys(&want));
            assert_eq!(got, want);
        }
    }
}
