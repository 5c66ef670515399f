//! Pure planning of a run's window: which `from`/`until` to send, in the server's
//! granularity, never mixing granularities (quirks.md #1–#8).

use chrono::{DateTime, TimeDelta, Utc};

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

/// Adaptive date windows for a first harvest of a large endpoint (issue #3 item 6): the
/// open-ended list is cut into consecutive windows, so a restart redoes at most one window
/// and a window the server cannot list in one go is split in halves.
///
/// The first window has no `from` (records dated before a wrong `earliestDatestamp` are
/// not lost: quirks #8) and the last has no `until` (records dated after the run started,
/// or in the future, are not lost). Bounds are inclusive (spec §3.3.1), so consecutive
/// windows meet one granule apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunking {
    /// The form dates are sent in.
    pub granularity: Granularity,
    /// Where the second window starts counting from: the earliest datestamp, clamped.
    pub start: DateTime<Utc>,
    /// The run's first responseDate: the window reaching it is left open-ended.
    pub end: DateTime<Utc>,
    /// The largest window; a split halves it, a success doubles it back up to this.
    pub max_span: TimeDelta,
}

/// One window of a chunked list. `from: None` only for the first window, `until: None`
/// only for the last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Inclusive lower bound.
    pub from: Option<DateTime<Utc>>,
    /// Inclusive upper bound.
    pub until: Option<DateTime<Utc>>,
    /// The span this window was cut with.
    pub span: TimeDelta,
}

/// Dates before this are placeholders (OAI-PMH dates from 2001; `0001-01-01`, `1970-01-01`
/// are common bogus `earliestDatestamp`s), so windows are not counted from them.
const EARLIEST_PLAUSIBLE_YEAR: i32 = 1990;

impl Chunking {
    /// Chunking for a list from `earliest` to `end`, or `None` when one window covers it
    /// (or the earliest datestamp is unknown: then no window can be planned safely).
    pub fn plan(
        granularity: Granularity,
        earliest: Option<DateTime<Utc>>,
        end: DateTime<Utc>,
        max_span: TimeDelta,
    ) -> Option<Self> {
        let floor = DateTime::<Utc>::from_naive_utc_and_offset(
            chrono::NaiveDate::from_ymd_opt(EARLIEST_PLAUSIBLE_YEAR, 1, 1)?.and_hms_opt(0, 0, 0)?,
            Utc,
        );
        let start = align(granularity, earliest?.max(floor));
        let max_span = round_span(granularity, max_span);
        (end - start > max_span).then_some(Self {
            granularity,
            start,
            end,
            max_span,
        })
    }

    /// Windows for a run resumed inside a window when no plan can be made any more:
    /// windows continue from the stored one up to `end`.
    pub fn resumed(granularity: Granularity, end: DateTime<Utc>, span: TimeDelta) -> Self {
        Self {
            granularity,
            start: end,
            end,
            max_span: round_span(granularity, span),
        }
    }

    /// The first window: everything up to `start + max_span`.
    pub fn first(&self) -> Chunk {
        let mut c = self.cut(self.start, self.max_span);
        c.from = None;
        c
    }

    /// The window after `c` (its span doubled back towards the maximum), or `None` when
    /// `c` was the last.
    pub fn next(&self, c: &Chunk) -> Option<Chunk> {
        let until = c.until?;
        let span = (c.span * 2).min(self.max_span);
        Some(self.cut(until + self.granularity.granule(), span))
    }

    /// The lower half of `c`, to be listed instead of `c`; `None` when `c` is one granule.
    pub fn split(&self, c: &Chunk) -> Option<Chunk> {
        let lo = c.from.unwrap_or(self.start);
        let hi = c.until.unwrap_or(self.end.max(lo));
        let g = self.granularity.granule();
        let half = round_span(self.granularity, (hi - lo + g) / 2);
        if hi - lo < g || half >= hi - lo + g {
            return None;
        }
        let mut lower = self.cut(lo, half);
        lower.from = c.from;
        Some(lower)
    }

    /// The window as sent.
    pub fn window(&self, c: &Chunk) -> Window {
        Window {
            from: c.from.map(|t| self.granularity.format(t)),
            until: c.until.map(|t| self.granularity.format(t)),
        }
    }

    /// Reads back a window stored in a checkpoint.
    pub fn chunk_of(&self, from: Option<&str>, until: Option<&str>, span: TimeDelta) -> Chunk {
        let parse = |s: &str| crate::oai::datestamp::parse_datestamp(s);
        Chunk {
            from: from.and_then(parse),
            until: until.and_then(parse),
            span: round_span(self.granularity, span),
        }
    }

    fn cut(&self, from: DateTime<Utc>, span: TimeDelta) -> Chunk {
        let until = from + span - self.granularity.granule();
        Chunk {
            from: Some(from),
            until: (until < self.end).then_some(until),
            span,
        }
    }
}

/// `t` truncated to the granularity.
fn align(g: Granularity, t: DateTime<Utc>) -> DateTime<Utc> {
    let secs = g.granule().num_seconds().max(1);
    let ts = t.timestamp();
    DateTime::from_timestamp(ts - ts.rem_euclid(secs), 0).unwrap_or(t)
}

/// A span in whole granules, at least one.
fn round_span(g: Granularity, span: TimeDelta) -> TimeDelta {
    let secs = g.granule().num_seconds().max(1);
    TimeDelta::seconds((span.num_seconds() / secs).max(1) * secs)
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

    fn at(s: &str) -> DateTime<Utc> {
        crate::oai::datestamp::parse_datestamp(s).unwrap()
    }

    fn chunking(g: Granularity, earliest: &str, end: &str, days: i64) -> Chunking {
        Chunking::plan(g, Some(at(earliest)), at(end), TimeDelta::days(days)).unwrap()
    }

    #[test]
    fn windows_cover_the_whole_line_without_gaps_or_overlaps() {
        let c = chunking(Granularity::Day, "2019-03-15", "2022-06-21T10:00:00Z", 365);
        let mut windows = vec![c.first()];
        while let Some(n) = c.next(windows.last().unwrap()) {
            windows.push(n);
        }
        let sent: Vec<Window> = windows.iter().map(|w| c.window(w)).collect();
        assert_eq!(sent[0], w(None, Some("2020-03-13")));
        assert_eq!(sent[1], w(Some("2020-03-14"), Some("2021-03-13")));
        assert_eq!(sent[2], w(Some("2021-03-14"), Some("2022-03-13")));
        assert_eq!(sent[3], w(Some("2022-03-14"), None));
        assert_eq!(sent.len(), 4);
        for pair in windows.windows(2) {
            assert_eq!(
                pair[1].from.unwrap() - pair[0].until.unwrap(),
                TimeDelta::days(1)
            );
        }
    }

    #[test]
    fn small_or_undated_lists_are_not_chunked() {
        let end = at("2022-06-21T10:00:00Z");
        let year = TimeDelta::days(365);
        assert_eq!(Chunking::plan(Granularity::Day, None, end, year), None);
        assert_eq!(
            Chunking::plan(Granularity::Day, Some(at("2022-01-01")), end, year),
            None
        );
    }

    #[test]
    fn bogus_earliest_datestamps_are_clamped() {
        let c = chunking(
            Granularity::Seconds,
            "0001-01-01",
            "2022-06-21T10:00:00Z",
            3650,
        );
        assert_eq!(c.start, at("1990-01-01T00:00:00Z"));
        let first = c.window(&c.first());
        assert_eq!(first, w(None, Some("1999-12-29T23:59:59Z")));
    }

    #[test]
    fn a_split_halves_down_to_one_granule_then_stops() {
        let c = chunking(Granularity::Day, "2020-01-01", "2022-06-21T10:00:00Z", 8);
        let mut w8 = c.first();
        assert_eq!(c.window(&w8), w(None, Some("2020-01-08")));
        let mut spans = vec![];
        while let Some(lower) = c.split(&w8) {
            assert_eq!(lower.from, w8.from);
            spans.push(lower.span.num_days());
            w8 = lower;
        }
        assert_eq!(spans, vec![4, 2, 1]);
        assert_eq!(c.window(&w8), w(None, Some("2020-01-01")));
        // After a split the next windows grow back: 1, 2, 4, 8, 8 days.
        let n1 = c.next(&w8).unwrap();
        assert_eq!(c.window(&n1), w(Some("2020-01-02"), Some("2020-01-03")));
        let n2 = c.next(&n1).unwrap();
        assert_eq!(n2.span.num_days(), 4);
        assert_eq!(c.next(&c.next(&n2).unwrap()).unwrap().span.num_days(), 8);
    }

    #[test]
    fn the_open_last_window_splits_against_the_run_start() {
        let c = chunking(
            Granularity::Seconds,
            "2022-01-01",
            "2022-01-04T12:00:00Z",
            2,
        );
        let last = c.next(&c.first()).unwrap();
        assert_eq!(last.until, None);
        let lower = c.split(&last).unwrap();
        assert_eq!(
            c.window(&lower),
            w(Some("2022-01-03T00:00:00Z"), Some("2022-01-03T17:59:59Z"))
        );
        assert_eq!(c.next(&lower).unwrap().until, None);
    }

    #[test]
    fn a_stored_window_reads_back() {
        let c = chunking(Granularity::Day, "2019-03-15", "2022-06-21T10:00:00Z", 365);
        let n = c.next(&c.first()).unwrap();
        let sent = c.window(&n);
        let back = c.chunk_of(sent.from.as_deref(), sent.until.as_deref(), n.span);
        assert_eq!(back, n);
    }
}
