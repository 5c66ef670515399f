//! Rights: licence ids (`CC-BY-4.0`, …) from Creative Commons URLs and licence names.

use regex::Regex;
use std::sync::LazyLock;

static CC_URL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)creativecommons\.org/(licenses|publicdomain)/([a-z+\-]+)/(\d\.\d)(?:/([a-z]{2,3})(?:/|$|[\s\x22'<>)]))?").expect("static regex compiles")
});
static CC_SHORT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\bCC[\s\-_]*(BY(?:[\s\-_]+(?:NC|SA|ND)){0,2})[\s\-_]*(?:v|version\s*)?(\d\.\d)\b",
    )
    .expect("static regex compiles")
});
static CC_ZERO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\bCC[\s\-]?0(?:[\s\-]*1\.0)?\b").expect("static regex compiles")
});
static CC_LONG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:creative\s+commons\s+(?:licen[cs]e\s+)?|^)[«“\x22]?attribution((?:[\s\-]+(?:non-?commercial|share-?alike|no-?derivatives|no-?derivs|no\s+derivatives))*)[»”\x22]?(?:\s+licen[cs]e)?[\s\-]+(\d\.\d)").expect("static regex compiles")
});

/// Canonical order of licence elements: BY, NC, then ND or SA.
fn cc_id(parts: &[&str], version: &str, jurisdiction: Option<&str>) -> Option<String> {
    let has = |p: &str| parts.iter().any(|x| x.eq_ignore_ascii_case(p));
    if !has("by") {
        return None;
    }
    if has("sa") && has("nd") {
        return None;
    }
    let mut id = String::from("CC-BY");
    if has("nc") {
        id.push_str("-NC");
    }
    if has("nd") {
        id.push_str("-ND");
    }
    if has("sa") {
        id.push_str("-SA");
    }
    id.push('-');
    id.push_str(version);
    if let Some(j) = jurisdiction {
        id.push('-');
        id.push_str(&j.to_ascii_uppercase());
    }
    Some(id)
}

/// The licence a rights value names, if it names one plainly.
pub(crate) fn license_id(value: &str) -> Option<String> {
    if let Some(id) = license_from_url(value) {
        return Some(id);
    }
    from_name(value)
}

/// The licence of a Creative Commons URL anywhere in the value (also inside markup).
pub(crate) fn license_from_url(value: &str) -> Option<String> {
    if !value.contains("creativecommons.org") {
        return None;
    }
    let c = CC_URL.captures(value)?;
    {
        let kind = c[1].to_ascii_lowercase();
        let name = c[2].to_ascii_lowercase();
        let version = &c[3];
        if kind == "publicdomain" {
            return (name == "zero").then(|| format!("CC0-{version}"));
        }
        let parts: Vec<&str> = name.split(['-', '+']).collect();
        cc_id(&parts, version, c.get(4).map(|m| m.as_str()))
    }
}

fn from_name(value: &str) -> Option<String> {
    let has_cc = value.contains("CC") || value.contains("cc") || value.contains("Cc");
    if has_cc && let Some(c) = CC_SHORT.captures(value) {
        let name = c[1].to_ascii_lowercase();
        let parts: Vec<&str> = name
            .split([' ', '-', '_'])
            .filter(|p| !p.is_empty())
            .collect();
        return cc_id(&parts, &c[2], None);
    }
    if value.contains("ttribution")
        && let Some(c) = CC_LONG.captures(value)
    {
        let extra = c[1].to_ascii_lowercase();
        let mut parts = vec!["by"];
        if extra.contains("commercial") {
            parts.push("nc");
        }
        if extra.contains("share") {
            parts.push("sa");
        }
        if extra.contains("deriv") {
            parts.push("nd");
        }
        return cc_id(&parts, &c[2], None);
    }
    if has_cc && CC_ZERO.is_match(value) {
        return Some("CC0-1.0".to_owned());
    }
    None
}
