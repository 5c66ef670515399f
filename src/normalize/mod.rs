//! First cut of the pure normalizer (titles, creators, subjects, descriptions, dates,
//! identifiers, languages). The full rule set replaces this module; its API stays.
//!
//! **Architecture invariant:** pure functions, no I/O, no clock, deterministic.

use serde::{Deserialize, Serialize};

use crate::domain::DcValue;

/// A text value with its language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LangValue {
    /// The text.
    pub value: String,
    /// ISO 639-1 code, if known.
    pub lang: Option<String>,
}

/// The record contract's normalized fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NormalizedRecord {
    /// Titles.
    pub titles: Vec<LangValue>,
    /// Creators (display names).
    pub creators: Vec<serde_json::Value>,
    /// Subjects.
    pub subjects: Vec<LangValue>,
    /// Descriptions.
    pub descriptions: Vec<LangValue>,
    /// Issued date.
    pub issued: Option<String>,
    /// Languages.
    pub languages: Vec<String>,
    /// Types.
    pub types: Vec<String>,
    /// DOI.
    pub doi: Option<String>,
}

impl NormalizedRecord {
    /// The first title.
    pub fn title(&self) -> Option<&str> {
        self.titles.first().map(|t| t.value.as_str())
    }
}

/// Normalized fields plus what normalization noticed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Normalized {
    /// The contract fields.
    pub record: NormalizedRecord,
    /// Flags such as `incomplete`.
    pub flags: Vec<String>,
    /// Cross-source work key.
    pub work_key: Option<String>,
    /// DOI of the issue (from dc:source), never the article's.
    pub issue_doi: Option<String>,
}

/// Normalizes one record's DC values.
pub fn normalize(values: &[DcValue]) -> Normalized {
    let text = |el: &str| -> Vec<LangValue> {
        values
            .iter()
            .filter(|v| v.element == el)
            .filter_map(|v| {
                let t = v.value.split_whitespace().collect::<Vec<_>>().join(" ");
                (!t.is_empty()).then(|| LangValue {
                    value: t,
                    lang: v
                        .lang
                        .as_deref()
                        .map(|l| l[..l.find(['-', '_']).unwrap_or(l.len())].to_lowercase()),
                })
            })
            .collect()
    };
    let titles = text("title");
    let doi = values
        .iter()
        .filter(|v| v.element == "identifier")
        .map(|v| v.value.trim())
        .find(|v| v.starts_with("10."))
        .map(str::to_lowercase);
    let mut flags = Vec::new();
    if titles.is_empty() {
        flags.push("incomplete".to_owned());
    }
    let record = NormalizedRecord {
        titles,
        creators: text("creator")
            .into_iter()
            .map(|c| serde_json::json!({"name": c.value}))
            .collect(),
        subjects: text("subject"),
        descriptions: text("description"),
        issued: values
            .iter()
            .find(|v| v.element == "date")
            .map(|v| v.value.trim().to_owned()),
        languages: text("language").into_iter().map(|l| l.value).collect(),
        types: Vec::new(),
        doi: doi.clone(),
    };
    Normalized {
        record,
        flags,
        work_key: doi,
        issue_doi: None,
    }
}
