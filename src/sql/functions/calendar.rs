//! Calendar arithmetic on the proleptic Gregorian calendar (days ↔ civil dates, weeks, months)
//! and Flink's lenient date and timestamp text, all in UTC.

/// Milliseconds in a day.
pub(crate) const MILLIS_PER_DAY: i64 = 86_400_000;

/// A date and time of day, broken into fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DateTime {
    pub year: i64,
    pub month: u32,
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub milli: u32,
}

/// Days since 1970-01-01 of a civil date (H. Hinnant's algorithm; any year).
pub(crate) fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The civil date (year, month, day) of days since 1970-01-01.
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Whether `year` is a leap year.
pub(crate) fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

/// Days in `month` of `year`.
pub(crate) fn month_length(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Splits milliseconds since the epoch into fields (floor semantics before 1970).
pub(crate) fn split(ms: i64) -> DateTime {
    let days = ms.div_euclid(MILLIS_PER_DAY);
    let in_day = ms.rem_euclid(MILLIS_PER_DAY);
    let (year, month, day) = civil_from_days(days);
    DateTime {
        year,
        month,
        day,
        hour: (in_day / 3_600_000) as u32,
        minute: (in_day / 60_000 % 60) as u32,
        second: (in_day / 1000 % 60) as u32,
        milli: (in_day % 1000) as u32,
    }
}

/// Milliseconds since the epoch of the fields; out-of-range fields roll over (as a lenient
/// `java.util.Calendar` does). `None` past the range of `i64` milliseconds.
pub(crate) fn join(t: &DateTime) -> Option<i64> {
    if t.year.unsigned_abs() > 300_000_000 {
        return None;
    }
    let m0 = i64::from(t.month) - 1;
    let year = t.year + m0.div_euclid(12);
    let month = (m0.rem_euclid(12) + 1) as u32;
    let days = days_from_civil(year, month, 1) + i64::from(t.day) - 1;
    days.checked_mul(MILLIS_PER_DAY)?
        .checked_add(i64::from(t.hour) * 3_600_000)?
        .checked_add(i64::from(t.minute) * 60_000)?
        .checked_add(i64::from(t.second) * 1000)?
        .checked_add(i64::from(t.milli))
}

/// Day of week, 1 = Sunday … 7 = Saturday (SQL's `DAYOFWEEK`, Calcite's `DOW`).
pub(crate) fn day_of_week(days: i64) -> i64 {
    (days + 4).rem_euclid(7) + 1
}

/// Day of year, 1-based.
pub(crate) fn day_of_year(days: i64) -> i64 {
    let (y, _, _) = civil_from_days(days);
    days - days_from_civil(y, 1, 1) + 1
}

/// ISO-8601 week number (weeks start on Monday; week 1 holds the year's first Thursday).
pub(crate) fn iso_week(days: i64) -> i64 {
    let iso_dow = (days + 3).rem_euclid(7); // Monday = 0
    let thursday = days - iso_dow + 3;
    let (year, _, _) = civil_from_days(thursday);
    (thursday - days_from_civil(year, 1, 1)) / 7 + 1
}

/// Reads an unsigned decimal number of `min..=max` digits at `*pos`.
fn number(b: &[u8], pos: &mut usize, min: usize, max: usize) -> Option<u32> {
    let start = *pos;
    let mut v: u32 = 0;
    while *pos < b.len() && *pos - start < max {
        match b.get(*pos) {
            Some(c @ b'0'..=b'9') => {
                v = v * 10 + u32::from(c - b'0');
                *pos += 1;
            }
            _ => break,
        }
    }
    (*pos - start >= min).then_some(v)
}

fn expect(b: &[u8], pos: &mut usize, c: u8) -> Option<()> {
    (b.get(*pos) == Some(&c)).then(|| *pos += 1)
}

/// Days since the epoch of `yyyy-[M]M-[d]d`, with the year in 0..=9999 (Flink's
/// `DateTimeUtils.parseDate` range); anything after a space or `T` is a time and ignored.
pub(crate) fn parse_date(text: &str) -> Option<i32> {
    let text = text.trim();
    let date_part = text.split([' ', 'T']).next().unwrap_or(text);
    let b = date_part.as_bytes();
    let mut pos = 0;
    let year = number(b, &mut pos, 1, 4)?;
    expect(b, &mut pos, b'-')?;
    let month = number(b, &mut pos, 1, 2)?;
    expect(b, &mut pos, b'-')?;
    let day = number(b, &mut pos, 1, 2)?;
    if pos != b.len() || !(1..=12).contains(&month) {
        return None;
    }
    if day < 1 || day > month_length(i64::from(year), month) {
        return None;
    }
    i32::try_from(days_from_civil(i64::from(year), month, day)).ok()
}

/// Milliseconds since the epoch of `yyyy-[M]M-[d]d[( |T)[H]H:[m]m[:[s]s[.fffffffff]]]`,
/// optionally followed by `Z` when `allow_zone` (an instant written in UTC). Digits past the
/// millisecond are dropped, as values are held at milliseconds.
pub(crate) fn parse_timestamp(text: &str, allow_zone: bool) -> Option<i64> {
    let text = text.trim();
    let text = match text.strip_suffix('Z') {
        Some(rest) if allow_zone => rest,
        _ => text,
    };
    let b = text.as_bytes();
    let mut pos = 0;
    let year = number(b, &mut pos, 4, 4)?;
    expect(b, &mut pos, b'-')?;
    let month = number(b, &mut pos, 1, 2)?;
    expect(b, &mut pos, b'-')?;
    let day = number(b, &mut pos, 1, 2)?;
    let (mut hour, mut minute, mut second, mut milli) = (0, 0, 0, 0);
    if pos < b.len() {
        match b.get(pos) {
            Some(b' ') | Some(b'T') => pos += 1,
            _ => return None,
        }
        hour = number(b, &mut pos, 1, 2)?;
        expect(b, &mut pos, b':')?;
        minute = number(b, &mut pos, 1, 2)?;
        if expect(b, &mut pos, b':').is_some() {
            second = number(b, &mut pos, 1, 2)?;
            if expect(b, &mut pos, b'.').is_some() {
                let start = pos;
                let frac = number(b, &mut pos, 1, 9)?;
                let digits = pos - start;
                milli = if digits >= 3 {
                    frac / 10u32.pow((digits - 3) as u32)
                } else {
                    frac * 10u32.pow((3 - digits) as u32)
                };
            }
        }
    }
    if pos != b.len() || !(1..=12).contains(&month) || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    if day < 1 || day > month_length(i64::from(year), month) {
        return None;
    }
    let t = DateTime {
        year: i64::from(year),
        month,
        day,
        hour,
        minute,
        second,
        milli,
    };
    join(&t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_civil_dates_round_trip() {
        let mut previous = civil_from_days(-800_001);
        for days in -800_000i64..800_000 {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
            assert!((1..=12).contains(&m) && d >= 1 && d <= month_length(y, m));
            // Each day follows the previous one by exactly one calendar step.
            let (py, pm, pd) = previous;
            let next_of_previous = if pd < month_length(py, pm) {
                (py, pm, pd + 1)
            } else if pm < 12 {
                (py, pm + 1, 1)
            } else {
                (py + 1, 1, 1)
            };
            assert_eq!((y, m, d), next_of_previous);
            previous = (y, m, d);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(-1), (1969, 12, 31));
        assert_eq!(days_from_civil(2000, 2, 29), 11_016);
        assert_eq!(
            days_from_civil(1900, 3, 1) - days_from_civil(1900, 2, 28),
            1
        );
    }

    #[test]
    fn weeks_and_days_of_week() {
        let nov14 = days_from_civil(2023, 11, 14);
        assert_eq!(day_of_week(nov14), 3); // Tuesday
        assert_eq!(day_of_week(0), 5); // 1970-01-01 was a Thursday
        assert_eq!(iso_week(nov14), 46);
        assert_eq!(iso_week(days_from_civil(2021, 1, 3)), 53);
        assert_eq!(iso_week(days_from_civil(2024, 12, 30)), 1);
        assert_eq!(day_of_year(days_from_civil(2024, 12, 31)), 366);
    }

    #[test]
    fn text_parses_leniently_but_checks_ranges() {
        assert_eq!(parse_date("2023-11-14"), Some(19_675));
        assert_eq!(
            parse_date("2023-1-5"),
            Some(days_from_civil(2023, 1, 5) as i32)
        );
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("2023-11-14 10:00:00"), Some(19_675));
        assert_eq!(
            parse_timestamp("2023-11-14 22:13:20", false),
            Some(1_700_000_000_000)
        );
        assert_eq!(
            parse_timestamp("2023-11-14T22:13:20.123456Z", true),
            Some(1_700_000_000_123)
        );
        assert_eq!(parse_timestamp("2023-11-14T22:13:20.1Z", false), None);
        assert_eq!(parse_timestamp("2023-11-14 25:00:00", false), None);
        assert_eq!(parse_timestamp("1969-12-31 23:59:59.999", false), Some(-1));
        let t = split(-1);
        assert_eq!(
            (t.year, t.month, t.day, t.hour, t.milli),
            (1969, 12, 31, 23, 999)
        );
    }
}
