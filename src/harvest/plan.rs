//! Pure planning of a run's window: which `from`/`until` to send, in the server's
//! granularity, never mixing granularities (quirks.md #1–#8).

use chrono::{DateTime, Utc};

use crate::oai::datestamp::{Granularity, ProtocolDate};

/// A window as it will be sent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Window {
    /// `from`, formatted; `None` = from the beginning.
    pub from: Option<String>,
    /// `until`, formatted; `None` = open-ended (the default: quirks #7).
    pub until: Option<String>,
}

/// Why a window could not be planned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    /// A date the user gave does not parse.
    #[error("invalid date {0:?}: use YYYY-MM-DD or YYYY-MM-DDThh:mm:ssZ")]
    BadDate(String),
    /// `from` is after `until`.
    #[error("from ({0}) is after until ({1})")]
    Inverted(String, String),
}

/// Plans the window of a new run.
///
/// * `full`: no `from` at all (a first harvest never clamps to earliestDatestamp: #8).
/// * explicit `from`/`until`: as given, in the server's granularity.
/// * otherwise incremental: `from` = `base` (the first responseDate of the last completed
///   run) minus one granule, so the server's clock, not ours, decides (#4, #5).
pub fn plan_window(
    granularity: Granularity,
    full: bool,
    user_from: Option<&str>,
    user_until: Option<&str>,
    incremental_base: Option<DateTime<Utc>>,
) -> Result<Window, PlanError> {
    let parse = |s: &str| ProtocolDate::parse(s).ok_or_else(|| PlanError::BadDate(s.to_owned()));
    let from = match (full, user_from) {
        (_, Some(f)) => Some(parse(f)?),
        (true, None) => None,
        (false, None) => incremental_base.map(|b| ProtocolDate {
            instant: b - granularity.granule(),
            granularity: Granularity::Seconds,
        }),
    };
    let until = user_until.map(parse).transpose()?;
    if let (Some(f), Some(u)) = (&from, &until)
        && f.instant > end_of(u)
    {
        return Err(PlanError::Inverted(
            user_from.unwrap_or_default().to_owned(),
            user_until.unwrap_or_default().to_owned(),
        ));
    }
    // One granularity for both bounds: the server's if it only knows days; else seconds
    // unless every bound was given as a day.
    let form = match granularity {
        Granularity::Day => Granularity::Day,
        Granularity::Seconds => {
            let all_days = from
                .iter()
                .chain(until.iter())
                .all(|d| d.granularity == Granularity::Day);
            if all_days {
                Granularity::Day
            } else {
                Granularity::Seconds
            }
        }
    };
    let fmt_from = |d: ProtocolDate| form.format(d.instant);
    let fmt_until = |d: ProtocolDate| match (form, d.granularity) {
        // A day-form `until` covers the whole day (spec §2.7.1: inclusive).
        (Granularity::Seconds, Granularity::Day) => form.format(end_of(&d)),
        _ => form.format(d.instant),
    };
    Ok(Window {
        from: from.map(fmt_from),
        until: until.map(fmt_until),
    })
}

fn end_of(d: &ProtocolDate) -> DateTime<Utc> {
    match d.granularity {
        Granularity::Day => d.instant + chrono::TimeDelta::seconds(86_399),
        Granularity::Seconds => d.instant,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn base() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2022, 6, 21, 10, 0, 0).unwrap()
    }

    fn w(from: Option<&str>, until: Option<&str>) -> Window {
        Window {
            from: from.map(String::from),
            until: until.map(String::from),
        }
    }

    #[test]
    fn first_harvest_sends_no_dates() {
        for g in [Granularity::Day, Granularity::Seconds] {
            assert_eq!(plan_window(g, false, None, None, None), Ok(w(None, None)));
            assert_eq!(
                plan_window(g, true, None, None, Some(base())),
                Ok(w(None, None))
            );
        }
    }

    #[test]
    fn incremental_from_is_the_server_date_minus_one_granule() {
        assert_eq!(
            plan_window(Granularity::Seconds, false, None, None, Some(base())),
            Ok(w(Some("2022-06-21T09:59:59Z"), None))
        );
        assert_eq!(
            plan_window(Granularity::Day, false, None, None, Some(base())),
            Ok(w(Some("2022-06-20"), None))
        );
    }

    #[test]
    fn explicit_dates_follow_the_server_granularity_and_never_mix() {
        let cases = [
            (
                Granularity::Day,
                Some("2022-01-01T12:00:00Z"),
                Some("2022-02-01"),
                w(Some("2022-01-01"), Some("2022-02-01")),
            ),
            (
                Granularity::Seconds,
                Some("2022-01-01"),
                Some("2022-02-01"),
                w(Some("2022-01-01"), Some("2022-02-01")),
            ),
            (
                Granularity::Seconds,
                Some("2022-01-01T12:00:00Z"),
                Some("2022-02-01"),
                w(Some("2022-01-01T12:00:00Z"), Some("2022-02-01T23:59:59Z")),
            ),
            (
                Granularity::Seconds,
                Some("2022-01-01"),
                Some("2022-02-01T05:35:00Z"),
                w(Some("2022-01-01T00:00:00Z"), Some("2022-02-01T05:35:00Z")),
            ),
            (
                Granularity::Seconds,
                None,
                Some("2022-02-01"),
                w(None, Some("2022-02-01")),
            ),
        ];
        for (g, f, u, want) in cases {
            assert_eq!(
                plan_window(g, false, f, u, None),
                Ok(want),
                "{g:?} {f:?} {u:?}"
            );
        }
        // Incremental base (seconds) with a day-form until: both go to seconds.
        assert_eq!(
            plan_window(
                Granularity::Seconds,
                false,
                None,
                Some("2022-06-30"),
                Some(base())
            ),
            Ok(w(
                Some("2022-06-21T09:59:59Z"),
                Some("2022-06-30T23:59:59Z")
            ))
        );
    }

    #[test]
    fn bad_and_inverted_dates_are_refused() {
        assert!(matches!(
            plan_window(Granularity::Day, false, Some("21.06.2022"), None, None),
            Err(PlanError::BadDate(_))
        ));
        assert!(matches!(
            plan_window(
                Granularity::Day,
                false,
                Some("2022-02-02"),
                Some("2022-02-01"),
                None
            ),
            Err(PlanError::Inverted(..))
        ));
        // Same day is fine: until covers the whole day.
        assert!(
            plan_window(
                Granularity::Seconds,
                false,
                Some("2022-02-01T10:00:00Z"),
                Some("2022-02-01"),
                None
            )
            .is_ok()
        );
    }
}
