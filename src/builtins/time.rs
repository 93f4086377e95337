//! What time means in a policy, in one place: the `timestamp` type (whole seconds since
//! 1970-01-01T00:00:00Z, from RFC 3339 text with an offset), `date("…")`, and the time
//! zones `hour_of_day` and `weekday` read.
//!
//! A time zone is compiled with the policy into a table of UTC offsets from the IANA
//! database bundled with `jiff` (so every machine, and the C module, reads the same
//! rules): one entry per transition from 1900 to 2200, and the offsets of 1900 and 2200
//! before and after. Every engine looks the offset up in that table.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZoneDatabase;

/// The first and last instants whose offsets are tabulated: 1900-01-01 and 2200-01-01.
const TABLE_FROM: i64 = -2_208_988_800;
const TABLE_UNTIL: i64 = 7_258_118_400;

/// A timestamp from RFC 3339 text with an offset (`2026-08-02T10:00:00+08:00`, `…Z`).
/// Fractions of a second are dropped toward the past: timestamps are whole seconds.
pub fn parse_timestamp(text: &str) -> Result<i64, String> {
    let ts: Timestamp = text.parse().map_err(|e: jiff::Error| {
        format!("`{text}` is not an RFC 3339 timestamp with an offset ({e})")
    })?;
    let mut secs = ts.as_second();
    if ts.subsec_nanosecond() < 0 {
        secs -= 1;
    }
    Ok(secs)
}

/// `date("2026-08-02")`: midnight UTC of that day; a whole RFC 3339 timestamp is read as
/// one.
pub fn parse_date(text: &str) -> Result<i64, String> {
    if let Ok(date) = text.parse::<Date>()
        && !text.contains('T')
        && !text.contains(' ')
    {
        return date
            .to_zoned(jiff::tz::TimeZone::UTC)
            .map(|z| z.timestamp().as_second())
            .map_err(|e| e.to_string());
    }
    parse_timestamp(text).map_err(|_| {
        format!("`{text}` is not a date (`2026-08-02`) or an RFC 3339 timestamp with an offset")
    })
}

/// The system's time, in whole seconds: what a left-out clock field reads.
pub fn system_now() -> i64 {
    Timestamp::now().as_second()
}

/// A timestamp as RFC 3339 text in UTC, or the seconds when it is past the year 9999.
pub fn format_timestamp(secs: i64) -> String {
    match Timestamp::from_second(secs) {
        Ok(ts) => ts.to_string(),
        Err(_) => format!("{secs}s"),
    }
}

/// A time zone's UTC offsets: `offsets[i]` holds from `starts[i]` until the next start.
/// `starts[0]` is `i64::MIN`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Zone {
    pub name: String,
    pub starts: Vec<i64>,
    pub offsets: Vec<i32>,
}

impl Zone {
    /// The zone named `name` in the bundled IANA database, tabulated.
    pub fn load(name: &str) -> Result<Zone, String> {
        let tz = TimeZoneDatabase::bundled()
            .get(name)
            .map_err(|_| format!("`{name}` is not a time zone of the IANA database"))?;
        let at = |secs: i64| Timestamp::from_second(secs).map_err(|e| e.to_string());
        let mut starts = vec![i64::MIN];
        let mut offsets = vec![tz.to_offset(at(TABLE_FROM)?).seconds()];
        for transition in tz.following(at(TABLE_FROM)?) {
            let start = transition.timestamp().as_second();
            if start >= TABLE_UNTIL {
                break;
            }
            let offset = transition.offset().seconds();
            if offsets.last() != Some(&offset) {
                starts.push(start);
                offsets.push(offset);
            }
        }
        Ok(Zone {
            name: name.to_string(),
            starts,
            offsets,
        })
    }

    /// The UTC offset in force at `secs`.
    pub fn offset(&self, secs: i64) -> i64 {
        let i = self.starts.partition_point(|&s| s <= secs);
        i64::from(self.offsets.get(i.saturating_sub(1)).copied().unwrap_or(0))
    }
}

/// The zone names of the bundled database, for suggestions.
pub fn zone_names() -> Vec<String> {
    TimeZoneDatabase::bundled()
        .available()
        .map(|n| n.as_str().to_string())
        .collect()
}

/// `hour_of_day` (0–23) and `weekday` (0 is Monday) of a timestamp at a UTC offset, or
/// `None` if the local time is outside the range of `i64` seconds.
pub fn local(secs: i64, offset: i64, weekday: bool) -> Option<i64> {
    let local = secs.checked_add(offset)?;
    Some(if weekday {
        // 1970-01-01 was a Thursday (3, counting Monday as 0).
        (local.div_euclid(86_400) + 3).rem_euclid(7)
    } else {
        local.rem_euclid(86_400) / 3_600
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "the inputs are known to be valid")]
mod tests {
    use super::*;

    #[test]
    fn timestamps_read_offsets_and_drop_fractions() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00Z").unwrap(), 0);
        assert_eq!(parse_timestamp("1970-01-01T08:00:00+08:00").unwrap(), 0);
        assert_eq!(parse_timestamp("1969-12-31T23:59:59.5Z").unwrap(), -1);
        assert!(parse_timestamp("2026-08-02T10:00:00").is_err(), "no offset");
        assert_eq!(parse_date("2026-08-02").unwrap(), 1_785_628_800);
        assert!(parse_date("2026-02-30").is_err());
    }

    #[test]
    fn zones_follow_the_database() {
        let paris = Zone::load("Europe/Paris").unwrap();
        let summer = parse_timestamp("2026-07-01T12:00:00Z").unwrap();
        let winter = parse_timestamp("2026-01-01T12:00:00Z").unwrap();
        assert_eq!(paris.offset(summer), 7_200);
        assert_eq!(paris.offset(winter), 3_600);
        assert_eq!(local(summer, paris.offset(summer), false), Some(14));
        // 2026-07-01 is a Wednesday.
        assert_eq!(local(summer, 0, true), Some(2));
        assert_eq!(Zone::load("Asia/Shanghai").unwrap().offset(summer), 28_800);
        assert!(Zone::load("Mars/Olympus").is_err());
    }
}
