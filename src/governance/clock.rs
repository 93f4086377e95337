//! Time for the stateful runtime. Every governance operation takes the time as an
//! argument; only the edges (the CLI, a server) read a [`Clock`]. So replays run on
//! the traffic's own timestamps and tests move time by hand — nothing ever sleeps.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, from 1970 to the end of the year 9999 (RFC 3339
/// has four-digit years; see [`Timestamp::MAX`]). In JSON: an RFC 3339 string (a number of milliseconds is
/// accepted too). Arithmetic saturates at [`Timestamp::MAX`], so no computed time can
/// leave that range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Serialize for Timestamp {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Timestamp;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an RFC 3339 time or milliseconds since 1970")
            }
            fn visit_u64<E: serde::de::Error>(self, ms: u64) -> Result<Timestamp, E> {
                Timestamp::from_millis(ms).map_err(E::custom)
            }
            fn visit_i64<E: serde::de::Error>(self, ms: i64) -> Result<Timestamp, E> {
                u64::try_from(ms)
                    .map_err(|_| E::custom(format!("{ms} ms is before 1970")))
                    .and_then(|ms| Timestamp::from_millis(ms).map_err(E::custom))
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Timestamp, E> {
                Timestamp::parse_rfc3339(text).map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl Timestamp {
    /// 9999-12-30T22:00:00Z: the last moment RFC 3339 can write in every offset
    /// (it is the date-time library's own limit).
    pub const MAX: Timestamp = Timestamp(253_402_207_200_000);

    pub fn from_secs(secs: u64) -> Timestamp {
        Timestamp(secs.saturating_mul(1000).min(Self::MAX.0))
    }

    /// A time given in milliseconds since 1970; after the year 9999 is an error.
    pub fn from_millis(ms: u64) -> Result<Timestamp, String> {
        if ms > Self::MAX.0 {
            return Err(format!(
                "{ms} ms since 1970 is after the year 9999, the latest time Bylaw takes"
            ));
        }
        Ok(Timestamp(ms))
    }

    /// This time plus a policy duration (whole seconds), at most [`Timestamp::MAX`].
    /// Whole seconds since 1970: what a policy's `timestamp` holds.
    pub fn unix_seconds(self) -> i64 {
        (self.0 / 1000) as i64
    }

    pub fn plus_secs(self, secs: u64) -> Timestamp {
        Timestamp(
            self.0
                .saturating_add(secs.saturating_mul(1000))
                .min(Self::MAX.0),
        )
    }

    /// RFC 3339 in UTC, with milliseconds only when there are some.
    pub fn rfc3339(self) -> String {
        let ms = self.0.min(Self::MAX.0);
        let time = i64::try_from(ms)
            .ok()
            .and_then(|ms| jiff::Timestamp::from_millisecond(ms).ok())
            .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
        if ms.is_multiple_of(1000) {
            format!("{time:.0}")
        } else {
            format!("{time:.3}")
        }
    }

    /// Reads RFC 3339 with any offset (`2026-11-20T10:00:00Z`, `…T11:00:00.250+01:00`,
    /// lowercase `t` and `z` too); before 1970 or after 9999 is an error.
    pub fn parse_rfc3339(text: &str) -> Result<Timestamp, String> {
        let time: jiff::Timestamp = text
            .parse()
            .map_err(|e| format!("`{text}` is not an RFC 3339 time with an offset: {e}"))?;
        let ms =
            u64::try_from(time.as_millisecond()).map_err(|_| format!("`{text}` is before 1970"))?;
        Timestamp::from_millis(ms).map_err(|_| format!("`{text}` is after the year 9999"))
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.rfc3339())
    }
}

/// Where the edges of the program get the time from.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

/// The machine's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let since = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(
            u64::try_from(since.as_millis())
                .unwrap_or(u64::MAX)
                .min(Timestamp::MAX.0),
        )
    }
}

/// A clock that moves only when told to: for simulations and tests.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    pub fn new(start: Timestamp) -> Self {
        ManualClock(AtomicU64::new(start.0))
    }

    pub fn set(&self, time: Timestamp) {
        self.0.store(time.0, Ordering::SeqCst);
    }

    pub fn advance_secs(&self, secs: u64) {
        let now = Timestamp(self.0.load(Ordering::SeqCst));
        self.0.store(now.plus_secs(secs).0, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp(self.0.load(Ordering::SeqCst))
    }
}
