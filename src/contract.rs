//! The normalized record contract (`../shared/DESIGN.md`): the one JSON object that
//! `sheaf records show --json`, `sheaf export --format jsonl` and `GET /api/records/{id}`
//! all emit. Built from a stored row; pure.

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};

/// The stored columns the contract is built from.
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
    /// Normalized fields (JSON), `None` for tombstones and non-DC formats.
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
}
