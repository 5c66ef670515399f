//! `dc:source` citation strings to journal title, volume, issue, year and pages.

use regex::Regex;
use std::cell::RefCell;
use std::sync::LazyLock;

use super::memo::{Memo, memoized};

/// What one citation string says; every part optional.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct SourceParts {
    pub title: Option<String>,
    pub volume: Option<String>,
    pub issue: Option<String>,
    pub year: Option<i32>,
    pub pages: Option<String>,
}

const NUM: &str = r"(\d+[a-zа-я]?(?:\s*[-–—/]\s*\d+[a-zа-я]?)?)";

static VOLUME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i)(?:^|[\s,.;(])(?:vol(?:ume)?\.?|т\.|том)\s*{NUM}"
    ))
    .expect("static regex compiles")
});
static ISSUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(&format!(
        r"(?i)(?:^|[\s,.;(])(?:no\.?|nr\.?|n°|№|iss(?:ue)?\.?|вып(?:уск)?\.?|num(?:ber)?\.?)\s*{NUM}"
    ))
    .expect("static regex compiles")
});
static PAGES: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:^|[\s,.;(])(?:pp?\.?|pages?|с\.|c\.|стр\.?|s\.)\s*(\d+(?:\s*[-–—]\s*\d+)?)")
        .expect("static regex compiles")
});
static PAREN_YEAR: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"\(((?:1[6-9]|20)\d{2})\)").expect("static regex compiles"));
static BARE_YEAR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[\s,.;(])((?:1[6-9]|20)\d{2})(?:$|[\s,.;)])").expect("static regex compiles")
});
static BARE_PAGES: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\d+(?:\s*[-–—]\s*\d+)?\.?$").expect("static regex compiles"));
static MARKER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)(?:^|[\s,.(])(?:(?:vol(?:ume)?\.?|т\.|том|no\.?|nr\.?|№|iss(?:ue)?\.?|вып(?:уск)?\.?|pp?\.|с\.)\s*\d|\((?:1[6-9]|20)\d{2}\))|[.,]\s*(?:1[6-9]|20)\d{2}(?:$|[\s.,;])|[,;]\s*\d{1,4}\s*\(\d").expect("static regex compiles")
});

static VOL_ISSUE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[\s,;])(\d{1,4})\s*\((\d{1,4}(?:\s*[-–/]\s*\d{1,4})?)\)(?:\s*[,:]\s*(\d+\s*[-–]\s*\d+))?")
        .expect("static regex compiles")
});

fn is_year(s: &str) -> bool {
    s.len() == 4 && s.parse::<i32>().is_ok_and(|y| (1600..=2100).contains(&y))
}

fn clean_num(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| if matches!(c, '–' | '—') { '-' } else { c })
        .collect()
}

fn clean_title(s: &str) -> Option<String> {
    let t = s.trim_matches(|c: char| c.is_whitespace() || matches!(c, ',' | '.' | ';' | ':'));
    // A link is where the journal lives, not its name.
    let lower = t.get(..8).unwrap_or(t).to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return None;
    }
    (t.chars().any(super::text::is_alphabetic)).then(|| t.to_owned())
}

/// Blanks the matched byte range so a later pattern cannot read it again.
fn mask(s: &mut String, range: std::ops::Range<usize>) {
    const BLANKS: &str = "                                ";
    match BLANKS.get(..range.len()) {
        Some(blank) => s.replace_range(range, blank),
        None => s.replace_range(range.clone(), &" ".repeat(range.len())),
    }
}

/// Whether every character of `s` is ASCII or basic Cyrillic (U+0400–U+04FF), `№`, a
/// dash or `°`: there a case-insensitive pattern letter can only match its own upper or
/// lower case, so a label that is absent in both cases cannot match.
fn plain_script(s: &str) -> bool {
    s.chars().all(|c| {
        c.is_ascii() || ('\u{400}'..='\u{4FF}').contains(&c) || matches!(c, '№' | '–' | '—' | '°')
    })
}

/// Whether `s` holds `word` in ASCII upper or lower case (any mix).
fn has_ascii_ci(s: &str, word: &str) -> bool {
    s.as_bytes()
        .windows(word.len())
        .any(|w| w.eq_ignore_ascii_case(word.as_bytes()))
}

/// No [`VOLUME`] label (`vol`, `т.`, `том`) in plain-script text: the regex cannot match.
fn no_volume_label(seg: &str, plain: bool) -> bool {
    plain && !has_ascii_ci(seg, "vol") && !seg.contains(['т', 'Т'])
}

/// No [`PAGES`] label (`p`, `pages`, `с.`, `c.`, `стр`, `s.`) in plain-script text.
fn no_pages_label(seg: &str, plain: bool) -> bool {
    plain
        && !seg.contains(['p', 'P', 'с', 'С'])
        && !has_ascii_ci(seg, "c.")
        && !has_ascii_ci(seg, "s.")
}

/// [`PAREN_YEAR`] by hand: the year of the first `(16xx)`–`(20xx)`. The outer `None` means
/// a digit outside ASCII is in a candidate (the regex's `\d` reads those): ask the regex.
fn paren_year(s: &str) -> Option<Option<&str>> {
    let b = s.as_bytes();
    for at in memchr::memchr_iter(b'(', b) {
        let Some(&[c1, c2, d3, d4, close]) = b.get(at + 1..at + 6) else {
            // Too short for ASCII digits; a wider digit could still fit.
            if b[at + 1..].iter().any(|c| !c.is_ascii()) {
                return None;
            }
            continue;
        };
        if !matches!((c1, c2), (b'1', b'6'..=b'9') | (b'2', b'0')) {
            continue;
        }
        if !d3.is_ascii() || !d4.is_ascii() {
            return None;
        }
        if d3.is_ascii_digit() && d4.is_ascii_digit() && close == b')' {
            return Some(Some(&s[at + 1..at + 5]));
        }
        // `(19x` with a wider character after two ASCII digits: the regex would read it.
        if !close.is_ascii() {
            return None;
        }
    }
    Some(None)
}

/// Reads labelled parts (volume, issue, pages, year) from a fragment.
fn parse_parts(seg: &str, parts: &mut SourceParts) {
    // Every part is a number.
    if !seg.bytes().any(|b| b.is_ascii_digit()) {
        return;
    }
    // Most citations name one or two parts: the regexes of the others are skipped when
    // their label is not in the text at all.
    let plain = plain_script(seg);
    let mut rest = seg.to_owned();
    if no_volume_label(seg, plain) {
        // Nothing to read.
    } else if let Some(c) = VOLUME.captures(seg)
        && let Some(m) = c.get(1)
    {
        parts.volume.get_or_insert_with(|| clean_num(m.as_str()));
        if let Some(all) = c.get(0) {
            mask(&mut rest, all.range());
        }
    }
    if let Some(c) = ISSUE.captures(seg)
        && let Some(m) = c.get(1)
    {
        parts.issue.get_or_insert_with(|| clean_num(m.as_str()));
        if let Some(all) = c.get(0) {
            mask(&mut rest, all.range());
        }
    }
    // `45(3)` with no labels at all: volume(issue), the one unlabelled form that is plain;
    // pages may follow (`45(3), 123-130`, `45(3):123-130`).
    if parts.volume.is_none() && parts.issue.is_none() {
        let found = VOL_ISSUE.captures(&rest).and_then(|c| {
            let issue = c.get(2)?.as_str();
            (!is_year(issue)).then(|| {
                (
                    c.get(0).map(|m| m.range()),
                    clean_num(c.get(1).map_or("", |m| m.as_str())),
                    clean_num(issue),
                    c.get(3).map(|m| clean_num(m.as_str())),
                )
            })
        });
        if let Some((range, volume, issue, pages)) = found {
            parts.volume = Some(volume);
            parts.issue = Some(issue);
            if let Some(p) = pages {
                parts.pages.get_or_insert(p);
            }
            if let Some(r) = range {
                mask(&mut rest, r);
            }
        }
    }
    // Masking only blanks text: no label can appear that was not in `seg`.
    let pages = if no_pages_label(&rest, plain) {
        None
    } else {
        PAGES
            .captures(&rest)
            .and_then(|c| Some((c.get(0)?.range(), clean_num(c.get(1)?.as_str()))))
    };
    if let Some((range, pages)) = pages {
        parts.pages.get_or_insert(pages);
        mask(&mut rest, range);
    }
    if parts.year.is_none() {
        let year = match paren_year(&rest) {
            Some(Some(y)) => y.parse().ok(),
            Some(None) => BARE_YEAR.captures(&rest).and_then(|c| c[1].parse().ok()),
            None => PAREN_YEAR
                .captures(&rest)
                .or_else(|| BARE_YEAR.captures(&rest))
                .and_then(|c| c[1].parse().ok()),
        };
        parts.year = year;
    }
}

/// [`BARE_PAGES`], which needs a digit first: an ASCII non-digit rules it out unasked.
fn bare_pages(seg: &str) -> bool {
    match seg.as_bytes().first() {
        Some(b) if b.is_ascii() && !b.is_ascii_digit() => false,
        _ => BARE_PAGES.is_match(seg),
    }
}

/// Title and parts from a fragment with no `;` structure: the title is what precedes the
/// first label or year.
fn parse_free(s: &str, parts: &mut SourceParts) {
    let has_digit = s.bytes().any(|b| b.is_ascii_digit());
    match has_digit.then(|| MARKER.find(s)).flatten() {
        Some(m) => {
            if parts.title.is_none() {
                parts.title = clean_title(&s[..m.start()]);
            }
            parse_parts(&s[m.start()..], parts);
        }
        None => {
            if parts.title.is_none() {
                parts.title = clean_title(s);
            }
        }
    }
}

thread_local! {
    static PARSED: RefCell<Memo<SourceParts>> = const { RefCell::new(Memo::new()) };
}

/// Parses one citation string (`Journal; Vol 5, No 2 (2022); 10-20`, `Журнал. 2022. № 3.
/// С. 5–17.`, DOAJ `Journal, Vol 2, Iss 4, Pp 174-177 (2012)`). Memoized: a page's
/// records cite a few issues.
pub(crate) fn parse_source(s: &str) -> SourceParts {
    memoized(&PARSED, s, parse_source_once)
}

fn parse_source_once(s: &str) -> SourceParts {
    let mut parts = SourceParts::default();
    if s.contains(';') {
        for (i, seg) in s.split(';').map(str::trim).enumerate() {
            if seg.is_empty() {
                continue;
            }
            if i == 0 {
                parse_free(seg, &mut parts);
            } else if bare_pages(seg) {
                let n = clean_num(seg.trim_end_matches('.'));
                let as_year = n.parse::<i32>().ok().filter(|y| (1600..=2100).contains(y));
                match as_year {
                    Some(y) if parts.year.is_none() && i == 1 => parts.year = Some(y),
                    _ if i >= 2 => {
                        parts.pages.get_or_insert(n);
                    }
                    _ => {}
                }
            } else {
                parse_parts(seg, &mut parts);
            }
        }
    } else {
        parse_free(s, &mut parts);
    }
    parts
}

/// EPrints `dc:identifier` citation: `Authors (2019) Title. Journal, 12 (3). pp. 101-120.`
static EPRINTS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\(((?:1[6-9]|20)\d{2})\)\s.+?\.\s+([^.]+?),\s*(\d+[a-z]?)\s*(?:\(([^)]+)\))?\.(?:\s*pp?\.\s*(\d+\s*[-–]\s*\d+))?")
        .expect("static regex compiles")
});

/// Parts of an EPrints citation string (used only when no `dc:source` exists).
pub(crate) fn parse_eprints_citation(s: &str) -> Option<SourceParts> {
    let c = EPRINTS.captures(s)?;
    Some(SourceParts {
        title: c.get(2).and_then(|m| clean_title(m.as_str())),
        volume: c.get(3).map(|m| clean_num(m.as_str())),
        issue: c.get(4).map(|m| clean_num(m.as_str())),
        year: c.get(1).and_then(|m| m.as_str().parse().ok()),
        pages: c.get(5).map(|m| clean_num(m.as_str())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `parse_source` as it was: every regex asked.
    fn parse_parts_regex(seg: &str, parts: &mut SourceParts) {
        if !seg.bytes().any(|b| b.is_ascii_digit()) {
            return;
        }
        let mut rest = seg.to_owned();
        if let Some(c) = VOLUME.captures(seg)
            && let Some(m) = c.get(1)
        {
            parts.volume.get_or_insert_with(|| clean_num(m.as_str()));
            if let Some(all) = c.get(0) {
                mask(&mut rest, all.range());
            }
        }
        if let Some(c) = ISSUE.captures(seg)
            && let Some(m) = c.get(1)
        {
            parts.issue.get_or_insert_with(|| clean_num(m.as_str()));
            if let Some(all) = c.get(0) {
                mask(&mut rest, all.range());
            }
        }
        if parts.volume.is_none() && parts.issue.is_none() {
            let found = VOL_ISSUE.captures(&rest).and_then(|c| {
                let issue = c.get(2)?.as_str();
                (!is_year(issue)).then(|| {
                    (
                        c.get(0).map(|m| m.range()),
                        clean_num(c.get(1).map_or("", |m| m.as_str())),
                        clean_num(issue),
                        c.get(3).map(|m| clean_num(m.as_str())),
                    )
                })
            });
            if let Some((range, volume, issue, pages)) = found {
                parts.volume = Some(volume);
                parts.issue = Some(issue);
                if let Some(p) = pages {
                    parts.pages.get_or_insert(p);
                }
                if let Some(r) = range {
                    mask(&mut rest, r);
                }
            }
        }
        let pages = PAGES
            .captures(&rest)
            .and_then(|c| Some((c.get(0)?.range(), clean_num(c.get(1)?.as_str()))));
        if let Some((range, pages)) = pages {
            parts.pages.get_or_insert(pages);
            mask(&mut rest, range);
        }
        if parts.year.is_none() {
            parts.year = PAREN_YEAR
                .captures(&rest)
                .or_else(|| BARE_YEAR.captures(&rest))
                .and_then(|c| c[1].parse().ok());
        }
    }

    /// Both ways, from nothing known and from a volume already known.
    fn both(seg: &str) -> (Vec<SourceParts>, Vec<SourceParts>) {
        let starts = [
            SourceParts::default(),
            SourceParts {
                volume: Some("v".into()),
                ..SourceParts::default()
            },
        ];
        let run = |f: fn(&str, &mut SourceParts)| {
            starts
                .iter()
                .map(|p| {
                    let mut p = p.clone();
                    f(seg, &mut p);
                    p
                })
                .collect()
        };
        (run(parse_parts), run(parse_parts_regex))
    }

    #[test]
    fn labels_skipped_without_the_regex_agree_with_it() {
        let cases = [
            "Issue 3 (2019)",
            "№ 3 (2019)",
            "Vol 5, No 2 (2022)",
            "Т. 5, № 2. С. 10-20",
            "т.5 вып.3 стр. 7",
            "VOL. 12 pp. 1-9 (1999)",
            "Iss 4, Pp 174-177 (2012)",
            "c. 12 s. 14 (2001) (2002)",
            "(1599) (1600) (2100) (2101)",
            "(19٣٤) 2001",
            "(19\u{663}4)",
            "(2\u{660}20)",
            "(20",
            "(20٣",
            "(2020",
            "(2020]",
            "2019 (x) 2020",
            "Vol. ſ 3 (2019)",
            "ᲄ. 5 (2019)",
            "no. 5, p. 7",
            "Стр 3",
            "pages 1–9",
            "45(3), 123-130",
            "45(2019)",
        ];
        for c in cases {
            let (fast, slow) = both(c);
            assert_eq!(fast, slow, "{c:?}");
        }
        assert_eq!(paren_year("x (2019) (2020)"), Some(Some("2019")));
        assert_eq!(paren_year("(19٣٤)"), None);
        for c in ["Issue 3 (2019)", "12", "1-9.", "x 12", "١٢", "", "Ж"] {
            assert_eq!(bare_pages(c), BARE_PAGES.is_match(c), "{c:?}");
        }
    }

    proptest! {
        #[test]
        fn parse_parts_agrees_with_every_regex(
            pieces in proptest::collection::vec(
                proptest::sample::select(vec![
                    "Vol", "vol.", "т.", "Т.", "том", "No", "№", "Issue", "вып.", "p.", "pp.", "P",
                    "с.", "С.", "c.", "s.", "стр", "pages", "(", ")", "2019", "1999", "1599", "20",
                    "19", "3", "5-7", "٣", " ", ",", ";", ".", "-", "–", "a", "ſ", "ᲄ", "x",
                ]),
                0..12,
            )
        ) {
            let seg: String = pieces.concat();
            let (fast, slow) = both(&seg);
            prop_assert_eq!(fast, slow, "{:?}", seg);
            prop_assert_eq!(bare_pages(&seg), BARE_PAGES.is_match(&seg));
        }
    }
}
