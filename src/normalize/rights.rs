//! Rights: licence ids (`CC-BY-4.0`, …) from Creative Commons URLs and licence names.

use regex::Regex;
use std::cell::RefCell;
use std::sync::LazyLock;

use super::memo::{Memo, memoized};

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

thread_local! {
    static LICENSES: RefCell<Memo<Option<String>>> = const { RefCell::new(Memo::new()) };
}

/// The licence a rights statement names (memoized: a journal has one or two statements).
pub(crate) fn license_id(value: &str) -> Option<String> {
    memoized(&LICENSES, value, license_id_once)
}

/// The licence a rights value names, if it names one plainly.
fn license_id_once(value: &str) -> Option<String> {
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
    let (kind, name, version, jurisdiction) = match cc_url_parts(value) {
        Some(found) => found?,
        None => {
            let c = CC_URL.captures(value)?;
            let part = |i| c.get(i).map_or("", |m| m.as_str());
            (part(1), part(2), part(3), c.get(4).map(|m| m.as_str()))
        }
    };
    let kind = kind.to_ascii_lowercase();
    let name = name.to_ascii_lowercase();
    if kind == "publicdomain" {
        return (name == "zero").then(|| format!("CC0-{version}"));
    }
    let parts: Vec<&str> = name.split(['-', '+']).collect();
    cc_id(&parts, version, jurisdiction)
}

/// Captures of a Creative Commons URL.
type CcParts<'a> = (&'a str, &'a str, &'a str, Option<&'a str>);

/// [`CC_URL`]'s captures read by hand in ASCII text (licence URLs nearly always are); `None`
/// for other text, where `(?i)` lets characters such as `ſ` match: the caller asks the
/// regex.
fn cc_url_parts(value: &str) -> Option<Option<CcParts<'_>>> {
    if !value.is_ascii() {
        return None;
    }
    const HOST: &[u8] = b"creativecommons.org/";
    let b = value.as_bytes();
    let lower = |from: usize, word: &[u8]| {
        b.get(from..from + word.len())
            .is_some_and(|w| w.eq_ignore_ascii_case(word))
    };
    // Every place the host starts, in order: the regex's leftmost match.
    for at in 0..b.len().saturating_sub(HOST.len() - 1) {
        if !lower(at, HOST) {
            continue;
        }
        let k = at + HOST.len();
        let kind_len = if lower(k, b"licenses/") {
            8
        } else if lower(k, b"publicdomain/") {
            12
        } else {
            continue;
        };
        let n = k + kind_len + 1;
        let name_len = b[n..]
            .iter()
            .take_while(|c| c.is_ascii_alphabetic() || matches!(c, b'+' | b'-'))
            .count();
        let v = n + name_len + 1;
        let version_ok = name_len > 0
            && b.get(n + name_len) == Some(&b'/')
            && b.get(v..v + 3)
                .is_some_and(|d| d[0].is_ascii_digit() && d[1] == b'.' && d[2].is_ascii_digit());
        if !version_ok {
            continue;
        }
        // Optional `/xx` or `/xxx` jurisdiction, then a URL end.
        let j = v + 4;
        let jurisdiction = if b.get(v + 3) == Some(&b'/') {
            let len = b[j..]
                .iter()
                .take_while(|c| c.is_ascii_alphabetic())
                .count();
            let ends = match b.get(j + len) {
                None => true,
                Some(c) => {
                    c.is_ascii_whitespace()
                        || matches!(c, 0x0B | b'/' | b'"' | b'\'' | b'<' | b'>' | b')')
                }
            };
            ((2..=3).contains(&len) && ends).then(|| &value[j..j + len])
        } else {
            None
        };
        return Some(Some((
            &value[k..k + kind_len],
            &value[n..n + name_len],
            &value[v..v + 3],
            jurisdiction,
        )));
    }
    Some(None)
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn by_regex(value: &str) -> Option<CcParts<'_>> {
        let c = CC_URL.captures(value)?;
        let part = |i| c.get(i).map_or("", |m| m.as_str());
        Some((part(1), part(2), part(3), c.get(4).map(|m| m.as_str())))
    }

    #[test]
    fn cc_urls_read_by_hand_agree_with_the_regex() {
        let cases = [
            "https://creativecommons.org/licenses/by/4.0/",
            "http://creativecommons.org/licenses/by-nc-sa/3.0/igo/",
            "https://CreativeCommons.org/Licenses/BY-ND/2.5/ru",
            "creativecommons.org/licenses/by/3.0/ru)",
            "creativecommons.org/licenses/by/3.0/rus.",
            "creativecommons.org/licenses/by/3.0/russia",
            "creativecommons.org/licenses/by/3.0/r",
            "creativecommons.org/licenses/by/3.0/de\"",
            "creativecommons.org/licenses/by/3.0/de\u{b}",
            "creativecommons.org/publicdomain/zero/1.0/",
            "creativecommons.org/licenses//4.0/ then creativecommons.org/licenses/by/4.0",
            "creativecommons.org/licenses/by/4/ creativecommons.org/licenses/by-sa/4.0",
            "creativecommons.org/licenses/by_nc/4.0",
            "creativecommons.org/licenses/by/4.0x",
            "creativecommons.org/licence/by/4.0",
            "<a href=\"https://creativecommons.org/licenses/by/4.0/\">CC BY</a>",
            "creativecommons.org/",
            "",
        ];
        for c in cases {
            assert_eq!(cc_url_parts(c), Some(by_regex(c)), "{c:?}");
        }
        assert_eq!(cc_url_parts("creativecommons.org/licenſes/by/4.0"), None);
    }

    proptest! {
        #[test]
        fn cc_urls_by_hand_agree_on_random_urls(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    "creativecommons.org/", "CREATIVECOMMONS.ORG/", "licenses/", "publicdomain/",
                    "by", "-nc", "+sa", "zero", "/", "4.0", "1", ".", "ru", "igo", "x", " ", "\"",
                    ")", "'", "<", "a", "\t",
                ]),
                0..10,
            )
        ) {
            let v: String = pieces.concat();
            prop_assert_eq!(cc_url_parts(&v), Some(by_regex(&v)), "{:?}", v);
        }
    }
}
