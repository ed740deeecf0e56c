//! AWS's `StringDateTime` (`schedulingConfig.startTime` and `endTime`,
//! `scheduledJobRollouts[].startTime`): "YYYY-MM-DD for the date and HH:MM
//! for the time" (<https://docs.aws.amazon.com/iot/latest/apireference/API_SchedulingConfig.html>),
//! the ISO 8601 form the AWS CLI's timestamp parameters take. Seconds, a
//! fraction and a zone (`Z`, `+HH:MM`) are accepted too; without a zone the
//! time is UTC. The text is kept as the caller wrote it, so that DescribeJob
//! returns it unchanged.

use serde::{Deserialize, Serialize};
use std::fmt;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

/// The most characters AWS accepts (`StringDateTime`: 1-64).
pub const MAX_LEN: usize = 64;

/// A `StringDateTime` and the instant it names; (de)serialised as its
/// text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct StringDateTime {
    text: String,
    epoch: i64,
}

impl StringDateTime {
    /// Parses `text`; the error says what form is expected.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = || {
            format!(
                "{text:?} is not a date and time: write YYYY-MM-DDTHH:MM (UTC), optionally with \
                 :SS and a zone (Z or +HH:MM)"
            )
        };
        if text.is_empty() || text.len() > MAX_LEN || !text.is_ascii() {
            return Err(bad());
        }
        let (date, rest) = text.split_at_checked(10).ok_or_else(bad)?;
        let rest = rest
            .strip_prefix('T')
            .or_else(|| rest.strip_prefix(' '))
            .ok_or_else(bad)?;
        let date = parse_date(date).ok_or_else(bad)?;
        let (clock, offset) = split_zone(rest).ok_or_else(bad)?;
        let clock = parse_clock(clock).ok_or_else(bad)?;
        let epoch = PrimitiveDateTime::new(date, clock)
            .assume_offset(offset)
            .unix_timestamp();
        Ok(Self {
            text: text.to_owned(),
            epoch,
        })
    }

    /// The instant, in seconds since the epoch.
    pub fn epoch(&self) -> i64 {
        self.epoch
    }

    /// The text as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// `YYYY-MM-DDTHH:MM` in UTC, with `:SS` when the seconds are not zero:
/// how this service writes an instant it computed (`scheduledJobRollouts`),
/// in the form AWS documents.
pub fn format_utc(epoch: i64) -> String {
    let Ok(t) = OffsetDateTime::from_unix_timestamp(epoch) else {
        return epoch.to_string();
    };
    let minutes = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    );
    match t.second() {
        0 => minutes,
        s => format!("{minutes}:{s:02}"),
    }
}

fn number<T: std::str::FromStr>(digits: &str, len: usize) -> Option<T> {
    (digits.len() == len && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// `YYYY-MM-DD`.
fn parse_date(s: &str) -> Option<Date> {
    let mut parts = s.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let month = Month::try_from(number::<u8>(m, 2)?).ok()?;
    Date::from_calendar_date(number(y, 4)?, month, number(d, 2)?).ok()
}

/// `HH:MM[:SS[.fff]]`; a fraction is ignored (the store counts seconds).
fn parse_clock(s: &str) -> Option<Time> {
    let mut parts = s.splitn(3, ':');
    let (h, m) = (parts.next()?, parts.next()?);
    let seconds = match parts.next() {
        None => 0,
        Some(sec) => {
            let whole = match sec.split_once('.') {
                Some((whole, fraction))
                    if !fraction.is_empty() && fraction.bytes().all(|b| b.is_ascii_digit()) =>
                {
                    whole
                }
                Some(_) => return None,
                None => sec,
            };
            number(whole, 2)?
        }
    };
    Time::from_hms(number(h, 2)?, number(m, 2)?, seconds).ok()
}

/// Splits `HH:MM…` from its zone: `Z`, `±HH:MM`, or none (UTC).
fn split_zone(s: &str) -> Option<(&str, UtcOffset)> {
    if let Some(clock) = s.strip_suffix('Z') {
        return Some((clock, UtcOffset::UTC));
    }
    // A sign after the first five characters (HH:MM) starts a zone.
    match s.get(5..).and_then(|tail| tail.find(['+', '-'])) {
        None => Some((s, UtcOffset::UTC)),
        Some(at) => {
            let (clock, zone) = s.split_at(5 + at);
            let sign: i8 = if zone.starts_with('-') { -1 } else { 1 };
            let (h, m) = zone.get(1..)?.split_once(':')?;
            let offset =
                UtcOffset::from_hms(sign * number::<i8>(h, 2)?, sign * number::<i8>(m, 2)?, 0)
                    .ok()?;
            Some((clock, offset))
        }
    }
}

impl fmt::Display for StringDateTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

super::text_form!(StringDateTime);
