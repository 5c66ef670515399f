//! Protocol dates: the two granularities of OAI-PMH and a lenient datestamp parser.
//!
//! Servers send fractional seconds, offsets and date-only values under a seconds
//! granularity (quirks.md #9), so parsing accepts all of them and normalizes to UTC;
//! formatting is strict, because servers reject anything but the exact form (#1, #2).

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, TimeZone, Utc};

/// The finest date a repository accepts in `from`/`until` (Identify `<granularity>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Granularity {
    /// `YYYY-MM-DD`
    Day,
    /// `YYYY-MM-DDThh:mm:ssZ`
    Seconds,
}

impl Granularity {
    /// Parses the Identify value; anything else is `None`.
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "YYYY-MM-DD" => Some(Self::Day),
            "YYYY-MM-DDThh:mm:ssZ" => Some(Self::Seconds),
            _ => None,
        }
    }

    /// The Identify spelling of this granularity.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Day => "YYYY-MM-DD",
            Self::Seconds => "YYYY-MM-DDThh:mm:ssZ",
        }
    }

    /// Formats an instant exactly as the protocol wants it (UTC, no millis, upper-case T/Z).
    pub fn format(self, t: DateTime<Utc>) -> String {
        match self {
            Self::Day => t.format("%Y-%m-%d").to_string(),
            Self::Seconds => t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        }
    }

    /// One granule: the overlap kept between incremental runs.
    pub fn granule(self) -> TimeDelta {
        match self {
            Self::Day => TimeDelta::days(1),
            Self::Seconds => TimeDelta::seconds(1),
        }
    }
}

/// A user- or server-supplied date together with the granularity it was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolDate {
    /// The instant (for a day-form date: midnight UTC of that day).
    pub instant: DateTime<Utc>,
    /// The precision it was written with.
    pub granularity: Granularity,
}

impl ProtocolDate {
    /// Parses `YYYY-MM-DD` or a full timestamp (see [`parse_datestamp`]).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
            return Some(Self {
                instant: midnight(d),
                granularity: Granularity::Day,
            });
        }
        parse_datestamp(s).map(|instant| Self {
            instant,
            granularity: Granularity::Seconds,
        })
    }
}

fn midnight(d: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default())
}

/// Parses a datestamp or responseDate leniently: RFC 3339 with or without fractional
/// seconds and offsets, a timestamp without zone (taken as UTC), or a bare date.
pub fn parse_datestamp(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    // Lower-case t/z and a space separator occur in the wild.
    let fixed = s.replace(' ', "T").to_ascii_uppercase();
    if let Ok(t) = DateTime::parse_from_rfc3339(&fixed) {
        return Some(t.with_timezone(&Utc));
    }
    let bare = fixed.trim_end_matches('Z');
    for fmt in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%dT%H:%M",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(bare, fmt) {
            return Some(Utc.from_utc_datetime(&t));
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().map(midnight)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_datestamp_shape_seen_in_the_wild() {
        let want = Utc.with_ymd_and_hms(2012, 5, 24, 8, 9, 55).unwrap();
        for s in [
            "2012-05-24T08:09:55Z",
            "2012-05-24T08:09:55.506Z",
            "2012-05-24T11:09:55+03:00",
            "2012-05-24T08:09:55",
            "2012-05-24 08:09:55",
            " 2012-05-24t08:09:55z\n",
        ] {
            let got = parse_datestamp(s).map(|t| t.with_nanosecond_zero());
            assert_eq!(got, Some(want), "{s}");
        }
        assert_eq!(
            parse_datestamp("2024-10-30"),
            Some(Utc.with_ymd_and_hms(2024, 10, 30, 0, 0, 0).unwrap())
        );
        assert_eq!(parse_datestamp("2016-01-0Z"), None);
        assert_eq!(parse_datestamp(""), None);
    }

    trait ZeroNanos {
        fn with_nanosecond_zero(self) -> Self;
    }
    impl ZeroNanos for DateTime<Utc> {
        fn with_nanosecond_zero(self) -> Self {
            use chrono::Timelike;
            self.with_nanosecond(0).unwrap()
        }
    }

    #[test]
    fn formats_in_the_exact_protocol_form() {
        let t = Utc.with_ymd_and_hms(2024, 11, 7, 14, 40, 49).unwrap();
        assert_eq!(Granularity::Seconds.format(t), "2024-11-07T14:40:49Z");
        assert_eq!(Granularity::Day.format(t), "2024-11-07");
        assert_eq!(Granularity::parse("YYYY-MM-DD"), Some(Granularity::Day));
        assert_eq!(
            Granularity::parse(" YYYY-MM-DDThh:mm:ssZ "),
            Some(Granularity::Seconds)
        );
        assert_eq!(Granularity::parse("YYYY"), None);
    }

    #[test]
    fn protocol_date_remembers_its_precision() {
        let d = ProtocolDate::parse("2022-06-21").unwrap();
        assert_eq!(d.granularity, Granularity::Day);
        let s = ProtocolDate::parse("2022-06-21T10:00:00Z").unwrap();
        assert_eq!(s.granularity, Granularity::Seconds);
        assert!(ProtocolDate::parse("21.06.2022").is_none());
    }
}
