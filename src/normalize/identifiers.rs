//! Identifiers: DOI extraction and canonical form, ISSN/ISBN/ORCID check digits, handles,
//! URNs, arXiv ids, URL keys, and the classification of every `dc:identifier`.

use regex::Regex;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::sync::LazyLock;

/// One classified identifier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identifier {
    /// `doi`, `url`, `handle`, `urn`, `issn`, `isbn`, `orcid`, `arxiv`, `citation`, `other`
    /// (static strings: no allocation per identifier).
    pub scheme: Cow<'static, str>,
    /// Canonical value for the scheme (DOI lower-cased, ISSN `NNNN-NNNC`, ...).
    pub value: String,
}

static DOI_SHAPE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^10\.\d{4,9}(?:\.\d+)*/\S+$").expect("static regex compiles"));
static DOI_START: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"10\.\d{4,9}(?:\.\d+)*\s?/").expect("static regex compiles"));
static DOI_PREFIX: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(?:doi\s*:?\s*|info:doi/|https?://(?:dx\.|www\.)?doi\.org/|https?://doi\.[a-z]+\.[a-z]+/)")
        .expect("static regex compiles")
});
static ISSN_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(?:[ep]-?issn|issn)?\s*(?:\((?:print|online|electronic)\)\s*)?:?\s*(\d{4})\s*[-‐–]?\s*(\d{3}[\dX])(?:\s*\((?:print|online|electronic)\))?$").expect("static regex compiles")
});
/// An ISSN inside longer text needs its label: a bare `1001-1010` is as likely pages.
static ISSN_LABELLED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:[ep]-?)?issn\s*(?:\((?:print|online|electronic)\)\s*)?:?\s*(\d{4})\s*[-‐–]\s*(\d{3}[\dX])\b(?:\s*\((?:print|online|electronic)\))?").expect("static regex compiles")
});
static ISBN_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(?:isbn(?:-1[03])?\s*:?\s*)?([\dX][\d\s-]{8,16}[\dX])$")
        .expect("static regex compiles")
});
static ORCID_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)(?:https?://(?:www\.)?orcid\.org/|orcid:?\s*)?\b(\d{4}-\d{4}-\d{4}-\d{3}[\dX])\b",
    )
    .expect("static regex compiles")
});
static ARXIV_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(?:arxiv:\s*|https?://(?:www\.)?arxiv\.org/(?:abs|pdf)/)(\d{4}\.\d{4,5}(?:v\d+)?|[a-z\-]+(?:\.[A-Z]{2})?/\d{7}(?:v\d+)?)(?:\.pdf)?$").expect("static regex compiles")
});
static HANDLE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^(?:hdl:\s*|https?://hdl\.handle\.net/|info:hdl/)(\d[\d.]*/\S+)$")
        .expect("static regex compiles")
});
static CITATION_HINT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\((?:1[5-9]|20)\d{2}\)|\bpp?\.\s*\d|\bvol\.?\s*\d|\bissn\b|\bс\.\s*\d|№\s*\d")
        .expect("static regex compiles")
});

static DOI_LABELLED: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:\bdoi\s*:?\s*|https?://(?:dx\.|www\.)?doi\.org/|info:doi/)?10\.\d{4,9}(?:\.\d+)*\s?/")
        .expect("static regex compiles")
});

/// Byte offset where a DOI (with its `DOI:` label or resolver) starts in free text.
pub(crate) fn doi_start(s: &str) -> Option<usize> {
    if !s.contains("10.") {
        return None;
    }
    DOI_LABELLED.find(s).map(|m| m.start())
}

/// Maps the dashes U+2010–U+2015 and the minus sign to `-`.
fn ascii_dashes(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars()
        .any(|c| matches!(c, '\u{2010}'..='\u{2015}' | '\u{2212}'))
    {
        std::borrow::Cow::Owned(
            s.chars()
                .map(|c| match c {
                    '\u{2010}'..='\u{2015}' | '\u{2212}' => '-',
                    c => c,
                })
                .collect(),
        )
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// Drops trailing punctuation that ends a sentence rather than the DOI; a `)` stays when
/// it closes a `(` inside the DOI (`10.1002/(SICI)…`).
fn trim_doi_end(mut s: &str) -> &str {
    loop {
        let Some(last) = s.chars().last() else {
            return s;
        };
        let strip = match last {
            '.' | ',' | ';' | ':' | '"' | '\'' | '>' | ']' | '}' | '»' | '”' | '’' => true,
            ')' => s.matches('(').count() < s.matches(')').count(),
            _ => false,
        };
        if !strip {
            return s;
        }
        s = &s[..s.len() - last.len_utf8()];
    }
}

fn finish_doi(candidate: &str) -> Option<String> {
    let doi = if candidate.contains(char::is_whitespace) {
        let joined: String = candidate.chars().filter(|c| !c.is_whitespace()).collect();
        trim_doi_end(&joined).to_lowercase()
    } else {
        trim_doi_end(candidate).to_lowercase()
    };
    doi_shape(&doi)
        .unwrap_or_else(|| DOI_SHAPE.is_match(&doi))
        .then_some(doi)
}

/// [`DOI_SHAPE`] by hand for ASCII text (`None` otherwise: `\d` and `\S` read wider
/// characters). The pattern has one way to match: digit runs end only at `.` or `/`.
fn doi_shape(doi: &str) -> Option<bool> {
    if !doi.is_ascii() {
        return None;
    }
    let digits = |b: &[u8]| b.iter().take_while(|c| c.is_ascii_digit()).count();
    let Some(rest) = doi.as_bytes().strip_prefix(b"10.") else {
        return Some(false);
    };
    let mut i = digits(rest);
    if !(4..=9).contains(&i) {
        return Some(false);
    }
    while rest.get(i) == Some(&b'.') {
        let n = digits(&rest[i + 1..]);
        if n == 0 {
            return Some(false);
        }
        i += 1 + n;
    }
    if rest.get(i) != Some(&b'/') {
        return Some(false);
    }
    let tail = &rest[i + 1..];
    Some(!tail.is_empty() && !tail.iter().any(|c| c.is_ascii_whitespace() || *c == 0x0B))
}

/// A value that *is* a DOI (maybe with a prefix or resolver URL): canonical lower-case form.
pub(crate) fn parse_doi(raw: &str) -> Option<String> {
    if !raw.contains("10.") {
        return None;
    }
    let s = ascii_dashes(raw.trim());
    // Every prefix starts with a letter: a bare DOI is not searched.
    let prefix = if s.starts_with(|c: char| c.is_ascii_digit()) {
        None
    } else {
        DOI_PREFIX.find(&s)
    };
    let rest = match prefix {
        Some(m) => &s[m.end()..],
        None => &s[..],
    };
    let rest = rest.trim_start();
    if !rest.starts_with("10.") {
        return None;
    }
    // URL-escaped slashes from resolver links.
    if rest.contains('%') {
        finish_doi(&rest.replace("%2F", "/").replace("%2f", "/"))
    } else {
        finish_doi(rest)
    }
}

/// Finds DOIs inside free text (citations, relations): tolerant of dashes and of spaces
/// after dots (`10.24891/ni. 14. 7.1360`).
pub(crate) fn find_dois(raw: &str) -> Vec<String> {
    let mut out = Vec::new();
    if !raw.contains("10.") {
        return out;
    }
    let s = ascii_dashes(raw);
    let mut from = 0;
    while let Some(m) = DOI_START.find_at(&s, from) {
        let bytes = s.as_bytes();
        let mut end = m.end();
        loop {
            while end < bytes.len() && !is_doi_stop(bytes[end]) {
                end += 1;
            }
            // A space after a dot, before a digit, is a typesetting artefact inside the DOI.
            let mut ws_end = end;
            while ws_end < bytes.len() && bytes[ws_end] == b' ' {
                ws_end += 1;
            }
            if end > m.end()
                && ws_end > end
                && bytes[end - 1] == b'.'
                && ws_end < bytes.len()
                && bytes[ws_end].is_ascii_digit()
            {
                end = ws_end;
                continue;
            }
            break;
        }
        if let Some(doi) = finish_doi(&s[m.start()..end])
            && !out.contains(&doi)
        {
            out.push(doi);
        }
        from = end.max(m.end());
    }
    out
}

fn is_doi_stop(b: u8) -> bool {
    b.is_ascii_whitespace() || matches!(b, b'"' | b'<' | b'>' | b'\'')
}

fn issn_check(d: impl Iterator<Item = char>, check: char) -> bool {
    let mut digits = [0u32; 7];
    let mut n = 0;
    for v in d.filter_map(|c| c.to_digit(10)) {
        if let Some(slot) = digits.get_mut(n) {
            *slot = v;
        }
        n += 1;
    }
    if n != 7 {
        return false;
    }
    let sum: u32 = digits.iter().zip((2..=8).rev()).map(|(d, w)| d * w).sum();
    let expect = (11 - sum % 11) % 11;
    match check {
        'X' | 'x' => expect == 10,
        c => c.to_digit(10) == Some(expect),
    }
}

/// A value that is an ISSN (optionally labelled), check digit valid: `NNNN-NNNC`.
pub(crate) fn parse_issn(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.len() > 40 || raw.len() < 8 {
        return None;
    }
    if let Some(fast) = issn_fast(raw) {
        return fast;
    }
    let c = ISSN_RE.captures(raw)?;
    issn_from_parts(&c[1], &c[2])
}

/// [`ISSN_RE`] without the regex for ASCII text: a bare `NNNN-NNNC`, or too few digits for
/// one (the pattern needs seven). `None` when the regex must decide.
fn issn_fast(raw: &str) -> Option<Option<String>> {
    if !raw.is_ascii() {
        return None;
    }
    let b = raw.as_bytes();
    if let &[a, b2, c, d, b'-', e, f, g, h] = b
        && [a, b2, c, d, e, f, g].iter().all(u8::is_ascii_digit)
        && (h.is_ascii_digit() || h == b'X' || h == b'x')
    {
        return Some(issn_from_parts(&raw[..4], &raw[5..]));
    }
    let mut digits = 0;
    for c in b {
        digits += usize::from(c.is_ascii_digit());
    }
    (digits < 7).then_some(None)
}

fn issn_from_parts(a: &str, b: &str) -> Option<String> {
    let check = b.chars().last()?;
    let digits = a.chars().chain(b.get(..3)?.chars());
    issn_check(digits, check).then(|| {
        let mut issn = String::with_capacity(a.len() + 1 + b.len());
        issn.push_str(a);
        issn.push('-');
        issn.push_str(&b.to_uppercase());
        issn
    })
}

/// Valid labelled ISSNs in a string, and the string without them.
pub(crate) fn take_issns(raw: &str) -> (Vec<String>, String) {
    let mut found = Vec::new();
    if !(raw.contains("SSN") || raw.contains("ssn") || raw.contains("Ssn")) {
        return (found, raw.to_owned());
    }
    let rest = ISSN_LABELLED.replace_all(raw, |c: &regex::Captures<'_>| {
        match issn_from_parts(&c[1], &c[2]) {
            Some(issn) => {
                found.push(issn);
                String::new()
            }
            None => c[0].to_owned(),
        }
    });
    (found, rest.into_owned())
}

fn parse_isbn(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.len() > 40 || raw.len() < 10 {
        return None;
    }
    let c = ISBN_RE.captures(raw)?;
    let compact: String = c[1]
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == 'X' || *c == 'x')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let ok = match compact.len() {
        10 => {
            let sum: u32 = compact
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    let v = if c == 'X' {
                        10
                    } else {
                        c.to_digit(10).unwrap_or(99)
                    };
                    v * (10 - i as u32)
                })
                .sum();
            !compact[..9].contains('X') && sum.is_multiple_of(11)
        }
        13 => {
            !compact.contains('X')
                && compact
                    .chars()
                    .enumerate()
                    .map(|(i, c)| c.to_digit(10).unwrap_or(0) * if i % 2 == 0 { 1 } else { 3 })
                    .sum::<u32>()
                    % 10
                    == 0
        }
        _ => false,
    };
    ok.then_some(compact)
}

fn orcid_valid(id: &str) -> bool {
    let chars: Vec<char> = id.chars().filter(|c| *c != '-').collect();
    if chars.len() != 16 {
        return false;
    }
    let mut total = 0u32;
    for c in &chars[..15] {
        let Some(d) = c.to_digit(10) else {
            return false;
        };
        total = (total + d) * 2;
    }
    let result = (12 - total % 11) % 11;
    let check = if result == 10 {
        'X'
    } else {
        char::from_digit(result, 10).unwrap_or('?')
    };
    chars[15].to_ascii_uppercase() == check
}

/// An ORCID iD anywhere in the string (URL or bare), checksum valid.
pub(crate) fn find_orcid(raw: &str) -> Option<String> {
    // An iD has 16 digits (the last may be X); most strings have far fewer.
    if raw.bytes().filter(u8::is_ascii_digit).count() < 15 {
        return None;
    }
    ORCID_RE
        .captures_iter(raw)
        .map(|c| c[1].to_uppercase())
        .find(|id| orcid_valid(id))
}

/// The whole value is an ORCID iD (bare, `orcid:` or orcid.org URL).
fn parse_orcid(raw: &str) -> Option<String> {
    if raw.bytes().filter(u8::is_ascii_digit).count() < 15 || raw.len() > 60 {
        return None;
    }
    let c = ORCID_RE.captures(raw.trim())?;
    let whole = c.get(0)?;
    (whole.start() == 0 && whole.end() == raw.trim().len())
        .then(|| c[1].to_uppercase())
        .filter(|id| orcid_valid(id))
}

fn is_url(s: &str) -> bool {
    let l = s.get(..8).unwrap_or(s).to_ascii_lowercase();
    (l.starts_with("http://") || l.starts_with("https://")) && !s.contains(char::is_whitespace)
}

/// A URL that points at a file (galley, bitstream, PDF) rather than a landing page.
pub(crate) fn is_file_url(url: &str) -> bool {
    static OJS_GALLEY: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(r"/article/(?:view|download)/\d+/\d+").expect("static regex compiles")
    });
    let l = url.to_ascii_lowercase();
    let path = l.split(['?', '#']).next().unwrap_or(&l);
    path.contains("/download/")
        || path.contains("/bitstream/")
        || OJS_GALLEY.is_match(path)
        || [
            ".pdf", ".doc", ".docx", ".epub", ".zip", ".djvu", ".xml", ".odt", ".rtf",
        ]
        .iter()
        .any(|ext| path.ends_with(ext))
}

/// Matching key for a URL: https, lower-case host, no fragment, no trailing slash.
pub(crate) fn url_key(url: &str) -> Option<String> {
    let trimmed = url.trim();
    let scheme_len = if trimmed
        .get(..8)
        .is_some_and(|p| p.eq_ignore_ascii_case("https://"))
    {
        8
    } else if trimmed
        .get(..7)
        .is_some_and(|p| p.eq_ignore_ascii_case("http://"))
    {
        7
    } else {
        return None;
    };
    let rest = &trimmed[scheme_len..];
    let rest = rest.split('#').next().unwrap_or(rest);
    let (host, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    if host.is_empty() {
        return None;
    }
    let host = host.to_ascii_lowercase();
    let host = host
        .strip_suffix(":443")
        .or(host.strip_suffix(":80"))
        .unwrap_or(&host);
    let path = path.trim_end_matches('/');
    Some(format!("https://{host}{path}"))
}

fn ident(scheme: &'static str, value: impl Into<String>) -> Identifier {
    Identifier {
        scheme: Cow::Borrowed(scheme),
        value: value.into(),
    }
}

/// Classifies one (already text-normalized) `dc:identifier` value.
pub(crate) fn classify(value: &str, xsi_type: Option<&str>) -> Identifier {
    let typed_doi = xsi_type.is_some_and(|t| t.to_ascii_lowercase().ends_with("doi"));
    if let Some(doi) = parse_doi(value) {
        return ident("doi", doi);
    }
    if typed_doi && let Some(doi) = find_dois(value).into_iter().next() {
        return ident("doi", doi);
    }
    let lower_head = value.get(..24).unwrap_or(value).to_ascii_lowercase();
    if (lower_head.contains("hdl") || lower_head.contains("handle"))
        && let Some(c) = HANDLE_RE.captures(value)
    {
        return ident("handle", &c[1]);
    }
    if lower_head.contains("arxiv")
        && let Some(c) = ARXIV_RE.captures(value)
    {
        return ident("arxiv", &c[1]);
    }
    if let Some(id) = parse_orcid(value) {
        return ident("orcid", id);
    }
    if is_url(value) {
        return ident("url", value);
    }
    let lower = value.get(..4).unwrap_or("").to_ascii_lowercase();
    if lower == "urn:" {
        return ident("urn", value);
    }
    if let Some(issn) = parse_issn(value) {
        return ident("issn", issn);
    }
    if let Some(isbn) = parse_isbn(value) {
        return ident("isbn", isbn);
    }
    // EPrints pushes the whole citation into dc:identifier.
    if value.len() > 30 && value.split(' ').count() >= 5 && CITATION_HINT.is_match(value) {
        return ident("citation", value);
    }
    ident("other", value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn doi_shape_and_issn_without_the_regex_agree_with_it() {
        let dois = [
            "10.31857/s013128120020007-7",
            "10.1002/(sici)1097",
            "10.123/x",
            "10.1234/",
            "10.1234",
            "10.1234.5.6/x",
            "10.1234./x",
            "10.1234.x/y",
            "10.1234567890/x",
            "10.12345678/a b",
            "10.1234/a\u{b}",
            "11.1234/x",
            "10.١٢٣٤/x",
            "",
        ];
        for d in dois {
            if let Some(fast) = doi_shape(d) {
                assert_eq!(fast, DOI_SHAPE.is_match(d), "{d:?}");
            }
        }
        let issns = [
            "0131-2812",
            "0131-2811",
            "0378-595x",
            "0378-595X",
            "ISSN 0131-2812",
            "0131 2812",
            "01312812",
            "Problemy Dalnego Vostoka; Issue 3 (2019)",
            "1234-567",
            "12345-6789",
        ];
        for i in issns {
            let by_regex = ISSN_RE
                .captures(i)
                .and_then(|c| issn_from_parts(&c[1], &c[2]));
            if let Some(fast) = issn_fast(i) {
                assert_eq!(fast, by_regex, "{i:?}");
            }
        }
    }

    proptest! {
        #[test]
        fn doi_shape_agrees_on_random_text(s in "10\\.[0-9./a-z ()-]{0,16}") {
            prop_assert_eq!(doi_shape(&s), Some(DOI_SHAPE.is_match(&s)));
        }

        #[test]
        fn issn_fast_agrees_on_random_text(s in "[0-9X xISN:()-]{0,14}") {
            let by_regex = ISSN_RE.captures(&s).and_then(|c| issn_from_parts(&c[1], &c[2]));
            if let Some(fast) = issn_fast(&s) {
                prop_assert_eq!(fast, by_regex, "{:?}", s);
            }
        }
    }
}
