//! The cron expressions of maintenance windows
//! (`schedulingConfig.maintenanceWindows[].startTime`, AWS's
//! `CronExpression`, 1-256 characters), in the six-field form AWS uses for
//! its schedules (<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html>):
//!
//! ```text
//! cron(Minutes Hours Day-of-month Month Day-of-week Year)
//! ```
//!
//! - Minutes 0-59, Hours 0-23, Day-of-month 1-31, Month 1-12 or JAN-DEC,
//!   Day-of-week 1-7 or SUN-SAT (1 is Sunday), Year 1970-2199;
//! - each field is `*`, a value, a range `a-b`, a step `*/n`, `a/n` or
//!   `a-b/n`, or a comma-separated list of those;
//! - exactly one of Day-of-month and Day-of-week is `?` ("any"): a rule
//!   cannot name both;
//! - times are UTC.
//!
//! `L`, `W` and `#` (last day, nearest weekday, nth weekday) are refused
//! with a message that says so, rather than misread. The `cron(...)`
//! wrapper may be left out.

use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

/// The most characters AWS accepts (`CronExpression`: 1-256).
pub const MAX_LEN: usize = 256;

/// How far ahead [`CronExpression::next_at_or_after`] looks: long enough
/// for any rule that fires at least every four years (29 February), short
/// enough to stay cheap for a rule that never fires again (a past year).
const SEARCH_DAYS: i64 = 5 * 366;

const DAY: i64 = 86_400;

/// One field: which of its values match.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Field {
    min: u32,
    matches: Vec<bool>,
}

impl Field {
    fn has(&self, value: u32) -> bool {
        value
            .checked_sub(self.min)
            .and_then(|i| self.matches.get(i as usize))
            .copied()
            .unwrap_or(false)
    }
}

/// A parsed cron expression; it keeps its text for DescribeJob, and is
/// (de)serialised as that text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CronExpression {
    text: String,
    minutes: Field,
    hours: Field,
    /// None for `?`.
    days_of_month: Option<Field>,
    months: Field,
    /// None for `?`.
    days_of_week: Option<Field>,
    years: Field,
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl CronExpression {
    /// Parses `text`; the error names the field that is wrong.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() || text.chars().count() > MAX_LEN {
            return Err(format!("a cron expression has 1-{MAX_LEN} characters"));
        }
        let inner = text
            .trim()
            .strip_prefix("cron(")
            .and_then(|s| s.strip_suffix(')'))
            .unwrap_or(text.trim());
        let fields: Vec<&str> = inner.split_whitespace().collect();
        let [minutes, hours, dom, month, dow, year] = fields[..] else {
            return Err(format!(
                "{text:?} has {} fields; write cron(Minutes Hours Day-of-month Month Day-of-week \
                 Year), e.g. cron(0 2 ? * SAT *) for 02:00 UTC every Saturday",
                fields.len()
            ));
        };
        let days_of_month = optional(dom, "Day-of-month", 1, 31, &[])?;
        let days_of_week = optional(dow, "Day-of-week", 1, 7, &WEEKDAYS)?;
        if days_of_month.is_some() == days_of_week.is_some() {
            return Err(format!(
                "{text:?}: exactly one of Day-of-month and Day-of-week must be ? (a rule \
                 cannot name both, nor leave both open)"
            ));
        }
        Ok(Self {
            text: text.to_owned(),
            minutes: field(minutes, "Minutes", 0, 59, &[])?,
            hours: field(hours, "Hours", 0, 23, &[])?,
            days_of_month,
            months: field(month, "Month", 1, 12, &MONTHS)?,
            days_of_week,
            years: field(year, "Year", 1970, 2199, &[])?,
        })
    }

    /// The text as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    fn matches_day(&self, date: Date) -> bool {
        let year_ok = u32::try_from(date.year()).is_ok_and(|y| self.years.has(y));
        let day_ok = match (&self.days_of_month, &self.days_of_week) {
            (Some(dom), _) => dom.has(u32::from(date.day())),
            (None, Some(dow)) => dow.has(u32::from(date.weekday().number_from_sunday())),
            (None, None) => true,
        };
        year_ok && day_ok && self.months.has(u32::from(u8::from(date.month())))
    }

    /// The seconds into the day at which the rule fires, in order.
    fn times_of_day(&self) -> impl DoubleEndedIterator<Item = i64> + '_ {
        (0..24u32)
            .filter(|h| self.hours.has(*h))
            .flat_map(move |h| {
                (0..60u32)
                    .filter(|m| self.minutes.has(*m))
                    .map(move |m| i64::from(h * 3600 + m * 60))
            })
    }

    /// The first time the rule fires at or after `t`, if it fires again
    /// within five years.
    pub fn next_at_or_after(&self, t: i64) -> Option<i64> {
        let first = day_start(t);
        (0..SEARCH_DAYS).find_map(|i| {
            let start = first + i * DAY;
            let date = date_of(start)?;
            if !self.matches_day(date) {
                return None;
            }
            self.times_of_day().map(|s| start + s).find(|at| *at >= t)
        })
    }

    /// The last time the rule fired at or before `t` and no earlier than
    /// `t - lookback` seconds.
    pub fn last_within(&self, t: i64, lookback: i64) -> Option<i64> {
        let earliest = t - lookback;
        let mut start = day_start(t);
        while start + DAY > earliest {
            if let Some(date) = date_of(start) {
                if self.matches_day(date) {
                    let found = self
                        .times_of_day()
                        .rev()
                        .map(|s| start + s)
                        .find(|at| *at <= t);
                    if let Some(at) = found.filter(|at| *at >= earliest) {
                        return Some(at);
                    }
                }
            }
            start -= DAY;
        }
        None
    }
}

/// Midnight UTC of the day holding `t`.
fn day_start(t: i64) -> i64 {
    t - t.rem_euclid(DAY)
}

fn date_of(t: i64) -> Option<Date> {
    OffsetDateTime::from_unix_timestamp(t)
        .ok()
        .map(|dt| dt.date())
}

/// A Day-of-month or Day-of-week field: None for `?`.
fn optional(
    text: &str,
    name: &str,
    min: u32,
    max: u32,
    names: &[&str],
) -> Result<Option<Field>, String> {
    if text == "?" {
        Ok(None)
    } else {
        field(text, name, min, max, names).map(Some)
    }
}

/// Parses one field: a list of `*`, `v`, `a-b`, each with an optional
/// `/step`.
fn field(text: &str, name: &str, min: u32, max: u32, names: &[&str]) -> Result<Field, String> {
    let mut matches = vec![false; (max - min + 1) as usize];
    let bad = |why: &str| format!("the {name} field {text:?} {why}");
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((range, step)) => (
                range,
                step.parse::<u32>()
                    .ok()
                    .filter(|s| *s >= 1)
                    .ok_or_else(|| bad("has a step that is not a positive number"))?,
            ),
            None => (item, 1),
        };
        let value = |v: &str| -> Result<u32, String> {
            let upper = v.to_ascii_uppercase();
            let n = match names.iter().position(|n| *n == upper) {
                Some(i) => min + i as u32,
                None if upper.contains(['L', 'W', '#']) => {
                    return Err(bad("uses L, W or #, which this service does not support"))
                }
                None => v
                    .parse::<u32>()
                    .map_err(|_| bad(&format!("has {v:?}, which is not a value")))?,
            };
            if (min..=max).contains(&n) {
                Ok(n)
            } else {
                Err(bad(&format!("has {n}, outside {min}-{max}")))
            }
        };
        let (from, to) = match range {
            "*" => (min, max),
            _ => match range.split_once('-') {
                Some((a, b)) => (value(a)?, value(b)?),
                // `a/n` runs from a to the end.
                None if item.contains('/') => (value(range)?, max),
                None => {
                    let v = value(range)?;
                    (v, v)
                }
            },
        };
        if from > to {
            return Err(bad(&format!(
                "has the range {from}-{to}, which runs backwards"
            )));
        }
        for v in (from..=to).step_by(step as usize) {
            matches[(v - min) as usize] = true;
        }
    }
    Ok(Field { min, matches })
}

super::text_form!(CronExpression);
