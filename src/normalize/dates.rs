//! Dates: parsing the shapes platforms send into ISO 8601 at the precision given, and
//! choosing the publication date among several.

use chrono::NaiveDate;
use regex::Regex;
use std::sync::LazyLock;

/// Years after this are not publication dates (no clock: a fixed cap keeps output stable).
pub const MAX_YEAR: i32 = 2100;
/// Years before this are typos or placeholders.
pub const MIN_YEAR: i32 = 1000;

/// A parsed date: ISO string at its own precision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParsedDate {
    pub iso: String,
    pub year: i32,
    /// It came with a time of day (a system timestamp rather than a publication date).
    pub timestamp: bool,
}

static ISO: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(\d{4})(?:[-/.](\d{1,2})(?:[-/.](\d{1,2}))?)?(T|\s+\d{1,2}:\d{2}|$)")
        .expect("static regex compiles")
});
static DMY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})(?:\s|$|,)").expect("static regex compiles")
});
static SLASH_DMY: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(\d{1,2})/(\d{1,2})/(\d{4})$").expect("static regex compiles"));
static MONTH_YEAR: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"^(?i)(?:(\d{1,2})\s+)?(\p{L}+)\.?(?:\s+(\d{1,2}),?)?\s+(\d{4})(?:\s*(?:г\.?|года?))?$",
    )
    .expect("static regex compiles")
});
static YEAR_IN_TEXT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:^|[^\d])(1\d{3}|20\d{2}|2100)(?:[^\d]|$)").expect("static regex compiles")
});

fn month_number(name: &str) -> Option<u32> {
    let n = name.to_lowercase();
    let n = n.as_str();
    const EN: [&str; 12] = [
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ];
    const RU: [&str; 12] = [
        "янв", "фев", "мар", "апр", "ма", "июн", "июл", "авг", "сен", "окт", "ноя", "дек",
    ];
    if n.len() >= 3 && n.is_ascii() {
        let full = [
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ];
        for (i, (abbr, full)) in EN.iter().zip(full).enumerate() {
            if full.starts_with(n) && n.starts_with(abbr) || (n == "sept" && *abbr == "sep") {
                return Some(i as u32 + 1);
            }
        }
        return None;
    }
    // Russian month names in any case form: `июнь`, `июня`, `мая`, `май`.
    for (i, stem) in RU.iter().enumerate() {
        if n.starts_with(stem) {
            if *stem == "ма" && !matches!(n, "май" | "мая" | "мае") {
                continue;
            }
            return Some(i as u32 + 1);
        }
    }
    None
}

fn build(year: i32, month: Option<u32>, day: Option<u32>, timestamp: bool) -> Option<ParsedDate> {
    let iso = match (month, day) {
        (None, _) => format!("{year:04}"),
        (Some(m), None) => {
            if !(1..=12).contains(&m) {
                return None;
            }
            format!("{year:04}-{m:02}")
        }
        (Some(m), Some(d)) => {
            NaiveDate::from_ymd_opt(year, m, d)?;
            format!("{year:04}-{m:02}-{d:02}")
        }
    };
    Some(ParsedDate {
        iso,
        year,
        timestamp,
    })
}

fn is_midnight(time: &str) -> bool {
    let t = time.trim_start_matches(['T', ' ']);
    t.starts_with("00:00:00") || t == "00:00" || t.starts_with("00:00Z") || t.starts_with("00:00+")
}

/// What [`DMY`] captures (and the text after its match) in ASCII text, where [`ISO`], tried
/// first, cannot match a value not starting with four digits; `None` leaves both regexes
/// to decide.
fn ascii_dmy(s: &str) -> Option<(&str, &str, &str, &str)> {
    let b = s.as_bytes();
    if !s.is_ascii() || b.get(..4).is_some_and(|h| h.iter().all(u8::is_ascii_digit)) {
        return None;
    }
    let digits = |from: usize| b[from..].iter().take_while(|c| c.is_ascii_digit()).count();
    let d = digits(0);
    let m_at = d + 1;
    if !(1..=2).contains(&d) || b.get(d) != Some(&b'.') {
        return None;
    }
    let m = digits(m_at);
    let y_at = m_at + m + 1;
    if !(1..=2).contains(&m) || b.get(m_at + m) != Some(&b'.') || digits(y_at) < 4 {
        return None;
    }
    let end = y_at + 4;
    let end = match b.get(end) {
        None => end,
        Some(c) if c.is_ascii_whitespace() || *c == 0x0B || *c == b',' => end + 1,
        Some(_) => return None,
    };
    Some((&s[..d], &s[m_at..m_at + m], &s[y_at..y_at + 4], &s[end..]))
}

/// Parses one date value; `None` when its shape is not certain.
pub(crate) fn parse_date(raw: &str) -> Option<ParsedDate> {
    let s = raw.trim();
    if s.is_empty() {
        return None;
    }
    // `21.06.2022` (OJS, Russian platforms) without the two regexes.
    if let Some((day, month, year, rest)) = ascii_dmy(s) {
        let day: u32 = day.parse().ok()?;
        let month: u32 = month.parse().ok()?;
        let year: i32 = year.parse().ok()?;
        return build(year, Some(month), Some(day), rest.contains(':'));
    }
    if let Some(c) = ISO.captures(s) {
        let year: i32 = c[1].parse().ok()?;
        // A midnight time is a date stored as a timestamp (DSpace `dc.date.issued`), not a
        // system event: it competes as a date-only value.
        let timestamp = c.get(4).is_some_and(|m| !m.as_str().is_empty())
            && !is_midnight(&s[c.get(4).map_or(s.len(), |m| m.start())..]);
        // EPrints writes unknown parts as `-00`.
        let month = c
            .get(2)
            .and_then(|m| m.as_str().parse::<u32>().ok())
            .filter(|m| *m != 0);
        let day = c
            .get(3)
            .and_then(|m| m.as_str().parse::<u32>().ok())
            .filter(|d| *d != 0 && month.is_some());
        return build(year, month, day, timestamp);
    }
    if let Some(c) = DMY.captures(s) {
        // Dotted dates are day-first everywhere they occur (Russian, German platforms).
        let day: u32 = c[1].parse().ok()?;
        let month: u32 = c[2].parse().ok()?;
        let year: i32 = c[3].parse().ok()?;
        let rest = &s[c.get(0).map_or(0, |m| m.end())..];
        let timestamp = rest.contains(':');
        return build(year, Some(month), Some(day), timestamp);
    }
    if let Some(c) = SLASH_DMY.captures(s) {
        // Only when the order is unambiguous.
        let a: u32 = c[1].parse().ok()?;
        let b: u32 = c[2].parse().ok()?;
        let year: i32 = c[3].parse().ok()?;
        return match (a > 12, b > 12) {
            (true, false) => build(year, Some(b), Some(a), false),
            (false, true) => build(year, Some(a), Some(b), false),
            _ if a == b => build(year, Some(a), Some(b), false),
            _ => None,
        };
    }
    if let Some(c) = MONTH_YEAR.captures(s)
        && let Some(month) = month_number(&c[2])
    {
        let year: i32 = c[4].parse().ok()?;
        let day = c
            .get(1)
            .or_else(|| c.get(3))
            .and_then(|m| m.as_str().parse::<u32>().ok());
        return build(year, Some(month), day, false);
    }
    // Free text holding one year and no other number ("Published in 1983", "Spring 2020").
    if s.len() <= 60 && s.chars().any(super::text::is_alphabetic) {
        let digits = s.chars().filter(char::is_ascii_digit).count();
        if digits == 4
            && let Some(c) = YEAR_IN_TEXT.captures(s)
        {
            let year: i32 = c[1].parse().ok()?;
            return build(year, None, None, false);
        }
    }
    None
}

/// Whether a date is a placeholder (epoch) or outside the plausible range.
pub(crate) fn out_of_range(d: &ParsedDate) -> bool {
    d.iso == "1970-01-01" || d.year > MAX_YEAR || d.year < MIN_YEAR
}

/// How much a date element says "publication date" (lower is stronger).
pub(crate) fn element_rank(element: &str) -> Option<u8> {
    Some(match element {
        "issued" | "dateIssued" | "datePublished" => 0,
        "date" => 1,
        "created" => 2,
        "dateCopyrighted" => 3,
        "available" => 4,
        "dateAccepted" => 5,
        "dateSubmitted" => 6,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The regex route `ascii_dmy` replaces: `ISO` first, then `DMY`.
    fn by_regex(s: &str) -> Option<(String, String, String, String)> {
        if ISO.is_match(s) {
            return None;
        }
        let c = DMY.captures(s)?;
        let end = c.get(0)?.end();
        Some((c[1].into(), c[2].into(), c[3].into(), s[end..].into()))
    }

    fn by_hand(s: &str) -> Option<(String, String, String, String)> {
        ascii_dmy(s).map(|(d, m, y, r)| (d.into(), m.into(), y.into(), r.into()))
    }

    #[test]
    fn dotted_dates_by_hand_agree_with_the_regexes() {
        for s in [
            "21.06.2022",
            "1.6.2022",
            "21.06.2022 10:00",
            "21.06.2022,x",
            "21.06.20222",
            "21.06.202",
            "123.06.2022",
            "21.006.2022",
            "2022.06.21",
            "21.06.2022\u{b}",
            "21-06-2022",
            "21.06.2022x",
            "",
        ] {
            if by_hand(s).is_some() || !s.is_ascii() {
                assert_eq!(by_hand(s), by_regex(s), "{s:?}");
            } else {
                assert!(
                    by_regex(s).is_none()
                        || s.as_bytes()
                            .get(..4)
                            .is_some_and(|h| h.iter().all(u8::is_ascii_digit)),
                    "{s:?}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn dotted_dates_agree_on_random_text(s in "[0-9.:, a]{0,14}") {
            // Where the hand reader declines, the regexes run as before.
            if let Some(hand) = by_hand(&s) {
                prop_assert_eq!(Some(hand), by_regex(&s));
            } else if !s.as_bytes().get(..4).is_some_and(|h| h.iter().all(u8::is_ascii_digit)) {
                prop_assert_eq!(by_regex(&s), None, "{:?}", s);
            }
        }
    }
}
