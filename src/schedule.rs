//! Cron schedules for sources: standard 5-field crontab lines or the `cron` crate's 6/7-field
//! form, optionally prefixed `CRON_TZ=<zone>` (UTC otherwise). Pure: no clock here.
//!
//! The `cron` crate numbers weekdays 1 = Sunday … 7 = Saturday while crontab uses
//! 0/7 = Sunday … 6 = Saturday, so a 5-field line's weekday numbers are rewritten as names
//! (`1-5` → `MON-FRI`); copying them through would silently shift every weekday.

use std::str::FromStr;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    schedule: cron::Schedule,
    tz: Tz,
    source: String,
}

/// Why a schedule line was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid schedule {line:?}: {reason}")]
pub struct ScheduleError {
    /// The line as given.
    pub line: String,
    /// What is wrong.
    pub reason: String,
}

const DAYS: [&str; 8] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"];

impl CronSchedule {
    /// Parses a schedule line.
    pub fn parse(line: &str) -> Result<Self, ScheduleError> {
        let err = |reason: String| ScheduleError {
            line: line.to_owned(),
            reason,
        };
        let mut rest = line.trim();
        let mut tz = Tz::UTC;
        if let Some(after) = rest
            .strip_prefix("CRON_TZ=")
            .or_else(|| rest.strip_prefix("TZ="))
        {
            let (zone, tail) = after
                .split_once(char::is_whitespace)
                .ok_or_else(|| err("no schedule after the time zone".into()))?;
            tz = zone
                .parse()
                .map_err(|_| err(format!("unknown time zone {zone:?}")))?;
            rest = tail.trim();
        }
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let expr = match fields.len() {
            1 if rest.starts_with('@') => rest.to_owned(),
            5 => {
                let dow = crontab_weekdays(fields[4]).map_err(err)?;
                format!(
                    "0 {} {} {} {} {dow}",
                    fields[0], fields[1], fields[2], fields[3]
                )
            }
            6 | 7 => rest.to_owned(),
            n => {
                return Err(err(format!(
                    "expected 5 (crontab), 6 or 7 fields, found {n}"
                )));
            }
        };
        let schedule = cron::Schedule::from_str(&expr).map_err(|e| {
            let msg = e.to_string();
            err(if msg.trim().is_empty() {
                "not a valid cron expression".into()
            } else {
                msg
            })
        })?;
        Ok(Self {
            schedule,
            tz,
            source: line.trim().to_owned(),
        })
    }

    /// The first firing strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.schedule
            .after(&t.with_timezone(&self.tz))
            .next()
            .map(|d| d.with_timezone(&Utc))
    }

    /// The line as given.
    pub fn as_str(&self) -> &str {
        &self.source
    }
}

/// Rewrites crontab weekday numbers (0–7, 0 and 7 = Sunday) as names, keeping ranges,
/// lists and steps.
fn crontab_weekdays(field: &str) -> Result<String, String> {
    let mut out = String::with_capacity(field.len() + 8);
    let mut num = String::new();
    let mut after_slash = false;
    let flush = |num: &mut String, out: &mut String, step: bool| -> Result<(), String> {
        if num.is_empty() {
            return Ok(());
        }
        if step {
            out.push_str(num);
        } else {
            let n: usize = num.parse().map_err(|_| format!("bad weekday {num:?}"))?;
            let name = DAYS
                .get(n)
                .ok_or_else(|| format!("weekday {n} out of range 0-7"))?;
            out.push_str(name);
        }
        num.clear();
        Ok(())
    };
    for c in field.chars() {
        if c.is_ascii_digit() {
            num.push(c);
            continue;
        }
        flush(&mut num, &mut out, after_slash)?;
        after_slash = c == '/';
        if c == ',' || c == '-' {
            after_slash = false;
        }
        out.push(c);
    }
    flush(&mut num, &mut out, after_slash)?;
    Ok(out)
}

/// How long to wait before retrying a source that failed `failures` times in a row:
/// 5 min doubling, at most a day.
pub fn failure_backoff(failures: i32) -> TimeDelta {
    let n = failures.clamp(1, 10) as u32;
    TimeDelta::minutes(5 * (1i64 << (n - 1))).min(TimeDelta::days(1))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Datelike, Timelike, Weekday};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn crontab_weekdays_1_to_5_fire_monday_to_friday() {
        let s = CronSchedule::parse("0 3 * * 1-5").unwrap();
        // 2026-11-28 is a Saturday.
        let mut t = at("2026-11-28T12:00:00Z");
        let mut days = Vec::new();
        for _ in 0..5 {
            t = s.next_after(t).unwrap();
            assert_eq!((t.hour(), t.minute()), (3, 0));
            days.push(t.weekday());
        }
        assert_eq!(
            days,
            vec![
                Weekday::Mon,
                Weekday::Tue,
                Weekday::Wed,
                Weekday::Thu,
                Weekday::Fri
            ]
        );
    }

    #[test]
    fn sunday_is_both_0_and_7_and_lists_and_steps_survive() {
        for line in ["30 6 * * 0", "30 6 * * 7"] {
            let t = CronSchedule::parse(line)
                .unwrap()
                .next_after(at("2026-11-28T12:00:00Z"))
                .unwrap();
            assert_eq!(t, at("2026-11-29T06:30:00Z"), "{line}");
        }
        assert_eq!(crontab_weekdays("1,3,5").unwrap(), "MON,WED,FRI");
        assert_eq!(crontab_weekdays("*/2").unwrap(), "*/2");
        assert_eq!(crontab_weekdays("1-5/2").unwrap(), "MON-FRI/2");
        assert!(crontab_weekdays("8").is_err());
    }

    #[test]
    fn six_and_seven_field_lines_and_shortcuts_pass_through() {
        let s = CronSchedule::parse("0 15 2 * * *").unwrap();
        assert_eq!(
            s.next_after(at("2026-11-28T12:00:00Z")).unwrap(),
            at("2026-11-29T02:15:00Z")
        );
        assert!(CronSchedule::parse("0 0 4 1 * * 2027").is_ok());
        let d = CronSchedule::parse("@daily").unwrap();
        assert_eq!(
            d.next_after(at("2026-11-28T12:00:00Z")).unwrap(),
            at("2026-11-29T00:00:00Z")
        );
    }

    #[test]
    fn a_time_zone_prefix_shifts_the_firing() {
        let s = CronSchedule::parse("CRON_TZ=Europe/Moscow 0 3 * * *").unwrap();
        assert_eq!(
            s.next_after(at("2026-11-28T12:00:00Z")).unwrap(),
            at("2026-11-29T00:00:00Z")
        );
    }

    #[test]
    fn bad_lines_say_why() {
        for (line, want) in [
            ("0 3 * *", "found 4"),
            ("61 3 * * *", "invalid schedule"),
            ("CRON_TZ=Mars/Olympus 0 3 * * *", "unknown time zone"),
            ("0 3 * * 9", "out of range"),
        ] {
            let e = CronSchedule::parse(line).unwrap_err().to_string();
            assert!(e.contains(want), "{line}: {e}");
        }
    }

    #[test]
    fn failure_backoff_grows_and_caps() {
        assert_eq!(failure_backoff(1), TimeDelta::minutes(5));
        assert_eq!(failure_backoff(3), TimeDelta::minutes(20));
        assert_eq!(failure_backoff(50), TimeDelta::days(1));
    }
}
