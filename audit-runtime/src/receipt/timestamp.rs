//! Receipt timestamps, rendered the way pydantic v2 renders a `datetime` in JSON mode.

use std::fmt;

/// The UTC offset of a [`Timestamp`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UtcOffset {
    /// Offset zero: rendered `Z`.
    Utc,
    /// A non-zero offset in minutes east of UTC: rendered `±HH:MM`.
    Minutes(i16),
    /// No offset at all (a naive datetime): rendered with no suffix.
    Naive,
}

/// A timestamp with microsecond precision.
///
/// Rendering: `YYYY-MM-DDTHH:MM:SS`, then `.ffffff` only when the microsecond is not zero, then
/// `Z`, `±HH:MM` or nothing. Parsing accepts exactly that shape (1 to 6 fraction digits).
///
/// ```
/// use audit_runtime::Timestamp;
/// let t = Timestamp::parse("2026-01-02T03:04:05.120000Z")?;
/// assert_eq!(t.to_string(), "2026-01-02T03:04:05.120000Z");
/// assert_eq!(Timestamp::parse("2026-01-02T03:04:05.000000Z")?.to_string(), "2026-01-02T03:04:05Z");
/// # Ok::<(), audit_runtime::TimestampError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timestamp {
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
    micro: u32,
    offset: UtcOffset,
}

/// Why a string is not a v1 timestamp.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimestampError {
    /// The text does not have the `YYYY-MM-DDTHH:MM:SS[.ffffff][Z|±HH:MM]` shape.
    #[error("timestamp {text:?} is not of the form YYYY-MM-DDTHH:MM:SS[.ffffff][Z|+HH:MM]")]
    Shape {
        /// The rejected text (at most 64 characters of it).
        text: String,
    },
    /// A field is out of range (month 13, February 30, hour 24, …).
    #[error("timestamp {text:?} names a date or time that does not exist")]
    OutOfRange {
        /// The rejected text (at most 64 characters of it).
        text: String,
    },
}

fn is_leap(y: u16) -> bool {
    (y.is_multiple_of(4) && !y.is_multiple_of(100)) || y.is_multiple_of(400)
}

fn days_in_month(y: u16, m: u8) -> u8 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u8, u8) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (
        y,
        u8::try_from(m).unwrap_or(1),
        u8::try_from(d).unwrap_or(1),
    )
}

fn days_from_civil(y: i64, m: u8, d: u8) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

impl Timestamp {
    /// The current time in UTC, from the system clock.
    #[must_use]
    pub fn now_utc() -> Self {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let micros = i64::try_from(d.as_micros()).unwrap_or(i64::MAX);
        Self::from_unix_micros(micros)
    }

    /// The UTC timestamp `micros` microseconds after 1970-01-01T00:00:00Z.
    ///
    /// Values outside years 1..=9999 are clamped into that range.
    #[must_use]
    pub fn from_unix_micros(micros: i64) -> Self {
        const MIN: i64 = -62_135_596_800_000_000; // 0001-01-01T00:00:00Z
        const MAX: i64 = 253_402_300_799_999_999; // 9999-12-31T23:59:59.999999Z
        let micros = micros.clamp(MIN, MAX);
        let secs = micros.div_euclid(1_000_000);
        let micro = u32::try_from(micros.rem_euclid(1_000_000)).unwrap_or(0);
        let days = secs.div_euclid(86_400);
        let sod = secs.rem_euclid(86_400);
        let (y, month, day) = civil_from_days(days);
        Self {
            year: u16::try_from(y).unwrap_or(1),
            month,
            day,
            hour: u8::try_from(sod / 3600).unwrap_or(0),
            minute: u8::try_from(sod % 3600 / 60).unwrap_or(0),
            second: u8::try_from(sod % 60).unwrap_or(0),
            micro,
            offset: UtcOffset::Utc,
        }
    }

    /// Microseconds since the Unix epoch (a naive timestamp is taken as UTC).
    #[must_use]
    pub fn to_unix_micros(&self) -> i64 {
        let days = days_from_civil(i64::from(self.year), self.month, self.day);
        let secs = days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second);
        let offset_secs = match self.offset {
            UtcOffset::Minutes(m) => i64::from(m) * 60,
            UtcOffset::Utc | UtcOffset::Naive => 0,
        };
        (secs - offset_secs) * 1_000_000 + i64::from(self.micro)
    }

    /// The UTC offset.
    #[must_use]
    pub fn offset(&self) -> UtcOffset {
        self.offset
    }

    /// The microsecond field (0..=999_999).
    #[must_use]
    pub fn microsecond(&self) -> u32 {
        self.micro
    }

    /// Parses the strict v1 shape `YYYY-MM-DDTHH:MM:SS[.f{1,6}][Z|±HH:MM]`.
    ///
    /// # Errors
    /// [`TimestampError`] when the shape or a field is wrong.
    pub fn parse(text: &str) -> Result<Self, TimestampError> {
        let shape = || TimestampError::Shape {
            text: text.chars().take(64).collect(),
        };
        let range = || TimestampError::OutOfRange {
            text: text.chars().take(64).collect(),
        };
        let b = text.as_bytes();
        let num = |from: usize, len: usize| -> Option<u32> {
            let s = b.get(from..from + len)?;
            s.iter().try_fold(0u32, |acc, &c| {
                c.is_ascii_digit().then(|| acc * 10 + u32::from(c - b'0'))
            })
        };
        let sep = |at: usize, c: u8| b.get(at) == Some(&c);
        if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':')) {
            return Err(shape());
        }
        let year = num(0, 4).ok_or_else(shape)?;
        let month = num(5, 2).ok_or_else(shape)?;
        let day = num(8, 2).ok_or_else(shape)?;
        let hour = num(11, 2).ok_or_else(shape)?;
        let minute = num(14, 2).ok_or_else(shape)?;
        let second = num(17, 2).ok_or_else(shape)?;
        let mut pos = 19;
        let mut micro = 0u32;
        if sep(pos, b'.') {
            pos += 1;
            let start = pos;
            while b.get(pos).is_some_and(u8::is_ascii_digit) {
                pos += 1;
            }
            let n = pos - start;
            if n == 0 || n > 6 {
                return Err(shape());
            }
            micro = num(start, n).ok_or_else(shape)? * 10u32.pow(u32::try_from(6 - n).unwrap_or(0));
        }
        let offset = match b.get(pos) {
            None => UtcOffset::Naive,
            Some(b'Z') if pos + 1 == b.len() => UtcOffset::Utc,
            Some(&c @ (b'+' | b'-')) if pos + 6 == b.len() && sep(pos + 3, b':') => {
                let h = num(pos + 1, 2).ok_or_else(shape)?;
                let m = num(pos + 4, 2).ok_or_else(shape)?;
                if h > 23 || m > 59 {
                    return Err(range());
                }
                let total = i16::try_from(h * 60 + m).map_err(|_| range())?;
                match (total, c) {
                    (0, _) => UtcOffset::Utc,
                    (t, b'-') => UtcOffset::Minutes(-t),
                    (t, _) => UtcOffset::Minutes(t),
                }
            }
            Some(_) => return Err(shape()),
        };
        let year = u16::try_from(year).map_err(|_| range())?;
        let month = u8::try_from(month).map_err(|_| range())?;
        let day = u8::try_from(day).map_err(|_| range())?;
        if year == 0 || !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return Err(range());
        }
        if hour > 23 || minute > 59 || second > 59 {
            return Err(range());
        }
        Ok(Self {
            year,
            month,
            day,
            hour: u8::try_from(hour).map_err(|_| range())?,
            minute: u8::try_from(minute).map_err(|_| range())?,
            second: u8::try_from(second).map_err(|_| range())?,
            micro,
            offset,
        })
    }

    /// Writes the pydantic rendering into `out` (no allocation besides `out`'s growth).
    pub(crate) fn write_to(&self, out: &mut Vec<u8>) {
        fn two(out: &mut Vec<u8>, v: u8) {
            out.push(b'0' + v / 10);
            out.push(b'0' + v % 10);
        }
        let y = self.year;
        for d in [y / 1000, y / 100 % 10, y / 10 % 10, y % 10] {
            out.push(b'0' + u8::try_from(d).unwrap_or(0));
        }
        out.push(b'-');
        two(out, self.month);
        out.push(b'-');
        two(out, self.day);
        out.push(b'T');
        two(out, self.hour);
        out.push(b':');
        two(out, self.minute);
        out.push(b':');
        two(out, self.second);
        if self.micro != 0 {
            out.push(b'.');
            let mut m = self.micro;
            let mut digits = [b'0'; 6];
            for slot in digits.iter_mut().rev() {
                *slot = b'0' + u8::try_from(m % 10).unwrap_or(0);
                m /= 10;
            }
            out.extend_from_slice(&digits);
        }
        match self.offset {
            UtcOffset::Utc => out.push(b'Z'),
            UtcOffset::Naive => {}
            UtcOffset::Minutes(m) => {
                out.push(if m < 0 { b'-' } else { b'+' });
                let a = m.unsigned_abs();
                two(out, u8::try_from(a / 60).unwrap_or(0));
                out.push(b':');
                two(out, u8::try_from(a % 60).unwrap_or(0));
            }
        }
    }

    /// The timestamp as Python's `isoformat()` writes it (`+00:00` rather than `Z`), as used in
    /// bundle metadata.
    #[must_use]
    pub fn to_isoformat(&self) -> String {
        let mut s = self.to_string();
        if self.offset == UtcOffset::Utc {
            s.pop();
            s.push_str("+00:00");
        }
        s
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = Vec::with_capacity(32);
        self.write_to(&mut out);
        f.write_str(&String::from_utf8_lossy(&out))
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_like_pydantic() {
        for s in [
            "2026-01-02T03:04:05Z",
            "2026-01-02T03:04:05.120000Z",
            "2026-01-02T03:04:05.123456+02:00",
            "2026-01-02T03:04:05.000001-05:30",
            "2026-01-02T03:04:05",
        ] {
            assert_eq!(Timestamp::parse(s).unwrap().to_string(), s);
        }
        assert_eq!(
            Timestamp::parse("2026-01-02T03:04:05+00:00")
                .unwrap()
                .to_string(),
            "2026-01-02T03:04:05Z"
        );
        assert_eq!(
            Timestamp::parse("2026-01-02T03:04:05.5Z")
                .unwrap()
                .to_string(),
            "2026-01-02T03:04:05.500000Z"
        );
    }

    #[test]
    fn rejects_other_spellings_and_impossible_dates() {
        for s in [
            "",
            "1772366400",
            "2026-01-02 03:04:05Z",
            "2026-01-02T03:04:05.1234567Z",
            "2026-02-30T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:00z",
            "2026-01-01T00:00:00+0100",
            "2026-01-01T00:00:00Zjunk",
            "0000-01-01T00:00:00Z",
            "２026-01-01T00:00:00Z",
        ] {
            assert!(Timestamp::parse(s).is_err(), "{s}");
        }
    }

    #[test]
    fn unix_micros_round_trip() {
        for m in [0i64, 1, 1_772_366_400_000_000, 951_782_400_123_456, -1] {
            assert_eq!(Timestamp::from_unix_micros(m).to_unix_micros(), m);
        }
        assert_eq!(
            Timestamp::from_unix_micros(1_772_366_400_000_000).to_string(),
            "2026-03-01T12:00:00Z"
        );
        assert_eq!(
            Timestamp::from_unix_micros(951_782_400_000_000).to_string(),
            "2000-02-29T00:00:00Z"
        );
    }
}
