//! Java date patterns (`yyyy-MM-dd HH:mm:ss.SSS`, `'T'` quoting), compiled once and used to
//! format and parse milliseconds since the epoch in UTC.
//!
//! Flink uses two Java formatters and this keeps both behaviours ([`Dialect`]):
//! `DATE_FORMAT(timestamp, …)` and `TO_TIMESTAMP(…, format)` use `DateTimeFormatter` (`S` is a
//! fraction of the second, parsing is strict and must consume all the text), while
//! `FROM_UNIXTIME`, `UNIX_TIMESTAMP(…, format)` and `DATE_FORMAT(string, …)` use
//! `SimpleDateFormat` (`S` is a count of milliseconds, parsing is lenient: fields roll over and
//! trailing text is ignored).

use crate::sql::functions::calendar::{self, DateTime, MILLIS_PER_DAY};
use crate::sql::functions::PatternError;

/// Which Java formatter's rules a pattern follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// `java.time.format.DateTimeFormatter`.
    DateTimeFormatter,
    /// `java.text.SimpleDateFormat`.
    SimpleDateFormat,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(String),
    Field(char, usize),
}

/// A compiled pattern.
#[derive(Debug, Clone)]
pub(crate) struct DatePattern {
    tokens: Vec<Token>,
    dialect: Dialect,
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];
const LETTERS: &str = "GyYuMLdDEaHkKhmsSwzZX";

fn short(name: &str) -> &str {
    name.get(..3).unwrap_or(name)
}

impl DatePattern {
    /// Compiles `pattern`, or says which letter or quote is wrong.
    pub(crate) fn compile(pattern: &str, dialect: Dialect) -> Result<Self, PatternError> {
        let mut tokens: Vec<Token> = Vec::new();
        let mut literal = String::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    literal.push('\'');
                    continue;
                }
                loop {
                    match chars.next() {
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            literal.push('\'');
                        }
                        Some('\'') => break,
                        Some(q) => literal.push(q),
                        None => return Err(PatternError::UnterminatedQuote(pattern.to_string())),
                    }
                }
            } else if c.is_ascii_alphabetic() {
                if !LETTERS.contains(c) {
                    return Err(PatternError::UnknownLetter {
                        letter: c,
                        pattern: pattern.to_string(),
                    });
                }
                let mut count = 1;
                while chars.peek() == Some(&c) {
                    chars.next();
                    count += 1;
                }
                if c == 'S' && count > 9 && dialect == Dialect::DateTimeFormatter {
                    return Err(PatternError::TooManyFractionDigits(pattern.to_string()));
                }
                if !literal.is_empty() {
                    tokens.push(Token::Literal(std::mem::take(&mut literal)));
                }
                tokens.push(Token::Field(c, count));
            } else {
                literal.push(c);
            }
        }
        if !literal.is_empty() {
            tokens.push(Token::Literal(literal));
        }
        Ok(DatePattern { tokens, dialect })
    }

    /// The text of `ms` (milliseconds since the epoch, UTC).
    pub(crate) fn format(&self, ms: i64) -> String {
        let t = calendar::split(ms);
        let days = ms.div_euclid(MILLIS_PER_DAY);
        let mut out = String::new();
        let pad = |out: &mut String, v: i64, n: usize| out.push_str(&format!("{v:0n$}"));
        for token in &self.tokens {
            match token {
                Token::Literal(s) => out.push_str(s),
                Token::Field(c, n) => {
                    let n = *n;
                    match c {
                        'G' => out.push_str(if t.year > 0 { "AD" } else { "BC" }),
                        'y' | 'Y' => year(&mut out, t.year, n),
                        'u' if self.dialect == Dialect::DateTimeFormatter => {
                            year(&mut out, t.year, n)
                        }
                        'u' => pad(&mut out, (days + 3).rem_euclid(7) + 1, n),
                        'M' | 'L' if n >= 3 => {
                            let name = MONTHS.get(t.month as usize - 1).copied().unwrap_or("");
                            out.push_str(if n == 3 { short(name) } else { name });
                        }
                        'M' | 'L' => pad(&mut out, i64::from(t.month), n),
                        'd' => pad(&mut out, i64::from(t.day), n),
                        'D' => pad(&mut out, calendar::day_of_year(days), n),
                        'E' => {
                            let name = DAYS
                                .get((calendar::day_of_week(days) - 1) as usize)
                                .copied()
                                .unwrap_or("");
                            out.push_str(if n <= 3 { short(name) } else { name });
                        }
                        'a' => out.push_str(if t.hour < 12 { "AM" } else { "PM" }),
                        'H' => pad(&mut out, i64::from(t.hour), n),
                        'k' => pad(
                            &mut out,
                            if t.hour == 0 { 24 } else { i64::from(t.hour) },
                            n,
                        ),
                        'K' => pad(&mut out, i64::from(t.hour % 12), n),
                        'h' => pad(
                            &mut out,
                            match t.hour % 12 {
                                0 => 12,
                                h => i64::from(h),
                            },
                            n,
                        ),
                        'm' => pad(&mut out, i64::from(t.minute), n),
                        's' => pad(&mut out, i64::from(t.second), n),
                        'S' if self.dialect == Dialect::SimpleDateFormat => {
                            pad(&mut out, i64::from(t.milli), n)
                        }
                        'S' => {
                            let fraction = format!("{:03}000000", t.milli);
                            out.push_str(fraction.get(..n.min(9)).unwrap_or(&fraction));
                        }
                        'w' => pad(&mut out, us_week(days), n),
                        'z' => out.push_str("UTC"),
                        'Z' => out.push_str("+0000"),
                        _ => out.push('Z'),
                    }
                }
            }
        }
        out
    }

    /// Milliseconds since the epoch of `text` read with this pattern; missing fields default to
    /// 1970-01-01 00:00:00.000. `None` if the text does not match.
    pub(crate) fn parse(&self, text: &str) -> Option<i64> {
        let strict = self.dialect == Dialect::DateTimeFormatter;
        let b = text.as_bytes();
        let mut pos = 0usize;
        let mut t = DateTime {
            year: 1970,
            month: 1,
            day: 1,
            hour: 0,
            minute: 0,
            second: 0,
            milli: 0,
        };
        let (mut pm, mut twelve_hour, mut day_of_year) = (false, false, None);
        for (i, token) in self.tokens.iter().enumerate() {
            match token {
                Token::Literal(s) => {
                    if !text.get(pos..)?.starts_with(s.as_str()) {
                        return None;
                    }
                    pos += s.len();
                }
                Token::Field(c, n) => {
                    let n = *n;
                    let adjacent = matches!(self.tokens.get(i + 1), Some(Token::Field(..)));
                    let is_text =
                        matches!(c, 'E' | 'a' | 'G') || (matches!(c, 'M' | 'L') && n >= 3);
                    if is_text {
                        let rest = text.get(pos..)?;
                        match c {
                            'M' | 'L' => {
                                let (m, len) = match_name(rest, &MONTHS)?;
                                t.month = m as u32 + 1;
                                pos += len;
                            }
                            'E' => pos += match_name(rest, &DAYS)?.1,
                            'G' => {
                                pos += if starts_ci(rest, "AD") || starts_ci(rest, "BC") {
                                    2
                                } else {
                                    return None;
                                }
                            }
                            _ => {
                                pm = if starts_ci(rest, "PM") {
                                    true
                                } else if starts_ci(rest, "AM") {
                                    false
                                } else {
                                    return None;
                                };
                                pos += 2;
                            }
                        }
                        continue;
                    }
                    if matches!(c, 'z' | 'Z' | 'X') {
                        let rest = text.get(pos..)?;
                        pos += ["UTC", "GMT", "+0000", "+00:00", "Z"]
                            .iter()
                            .find(|z| rest.starts_with(**z))?
                            .len();
                        continue;
                    }
                    let (min, max) = if *c == 'S' && strict {
                        (n, n)
                    } else if strict && matches!(c, 'y' | 'u' | 'Y') && n != 2 {
                        (n, if adjacent { n } else { 10 })
                    } else if (strict && n >= 2) || adjacent {
                        (n, n)
                    } else {
                        (1, if strict { 2.max(n) } else { 10 })
                    };
                    let start = pos;
                    while pos < b.len()
                        && pos - start < max
                        && b.get(pos).is_some_and(u8::is_ascii_digit)
                    {
                        pos += 1;
                    }
                    let digits = text.get(start..pos)?;
                    if digits.len() < min {
                        return None;
                    }
                    let v: i64 = digits.parse().ok()?;
                    let as_u32 = || u32::try_from(v).ok();
                    match c {
                        'y' | 'Y' | 'u' if n == 2 && digits.len() == 2 => {
                            t.year = if strict || v < 46 { 2000 + v } else { 1900 + v };
                        }
                        'y' | 'Y' | 'u' => t.year = v,
                        'M' | 'L' => t.month = as_u32()?,
                        'd' => t.day = as_u32()?,
                        'D' => day_of_year = Some(v),
                        'H' | 'k' => t.hour = as_u32()? % if *c == 'k' { 24 } else { u32::MAX },
                        'K' | 'h' => {
                            twelve_hour = true;
                            t.hour = as_u32()? % 12;
                        }
                        'm' => t.minute = as_u32()?,
                        's' => t.second = as_u32()?,
                        'S' if strict => t.milli = (v * 1000 / 10i64.pow(n as u32)) as u32,
                        'S' => t.milli = as_u32()?,
                        _ => {}
                    }
                }
            }
        }
        if strict && pos != b.len() {
            return None;
        }
        if pm && twelve_hour {
            t.hour += 12;
        }
        if let Some(doy) = day_of_year {
            t.month = 1;
            t.day = u32::try_from(doy).ok()?;
        }
        if strict {
            if !(1..=12).contains(&t.month)
                || !(1..=31).contains(&t.day)
                || t.hour > 23
                || t.minute > 59
                || t.second > 59
            {
                return None;
            }
            // ResolverStyle.SMART: the 31st of a shorter month is its last day.
            t.day = t.day.min(calendar::month_length(t.year, t.month));
        }
        calendar::join(&t)
    }
}

fn year(out: &mut String, year: i64, n: usize) {
    if n == 2 {
        out.push_str(&format!("{:02}", year.rem_euclid(100)));
    } else {
        out.push_str(&format!("{year:0n$}"));
    }
}

/// Week of year in the US convention Java's default locale uses: weeks start on Sunday and
/// week 1 is the one holding January 1st.
fn us_week(days: i64) -> i64 {
    let sunday = days - (calendar::day_of_week(days) - 1);
    let (year, _, _) = calendar::civil_from_days(days);
    let (saturday_year, _, _) = calendar::civil_from_days(sunday + 6);
    if saturday_year > year {
        return 1;
    }
    let jan1 = calendar::days_from_civil(year, 1, 1);
    (days - (jan1 - (calendar::day_of_week(jan1) - 1))) / 7 + 1
}

fn starts_ci(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

/// The index and length of the full or three-letter name `s` starts with.
fn match_name(s: &str, names: &[&str]) -> Option<(usize, usize)> {
    names.iter().enumerate().find_map(|(i, name)| {
        if starts_ci(s, name) {
            Some((i, name.len()))
        } else if starts_ci(s, short(name)) {
            Some((i, 3))
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fmt(p: &str, d: Dialect, ms: i64) -> String {
        DatePattern::compile(p, d).expect("compiles").format(ms)
    }

    const TS: i64 = 1_700_000_000_123; // 2023-11-14 22:13:20.123, a Tuesday

    #[test]
    fn formats_like_java() {
        use Dialect::*;
        assert_eq!(
            fmt("yyyy-MM-dd HH:mm:ss.SSS", DateTimeFormatter, TS),
            "2023-11-14 22:13:20.123"
        );
        // SQL's 'yyyy-MM-dd''T''HH' reaches here unescaped; doubled quotes in the Java pattern
        // itself are a quote character, leaving T a (reserved) pattern letter.
        assert!(DatePattern::compile("yyyy-MM-dd''T''HH", DateTimeFormatter).is_err());
        assert_eq!(fmt("HH''mm", DateTimeFormatter, TS), "22'13");
        assert_eq!(
            fmt("yyyy-MM-dd'T'HH", DateTimeFormatter, TS),
            "2023-11-14T22"
        );
        assert_eq!(
            fmt("yy/M/d h:mm a E EEEE MMM MMMM D", DateTimeFormatter, TS),
            "23/11/14 10:13 PM Tue Tuesday Nov November 318"
        );
        assert_eq!(fmt("S", DateTimeFormatter, TS), "1");
        assert_eq!(fmt("S", SimpleDateFormat, TS), "123");
        assert_eq!(fmt("SSSS", SimpleDateFormat, TS), "0123");
        assert_eq!(fmt("'it''s' HH", SimpleDateFormat, TS), "it's 22");
        assert_eq!(fmt("w", SimpleDateFormat, TS), "46");
        assert_eq!(fmt("yyyyMMdd", SimpleDateFormat, -1), "19691231");
        assert!(DatePattern::compile("yyyy-bb", DateTimeFormatter).is_err());
        assert!(DatePattern::compile("yyyy 'open", DateTimeFormatter).is_err());
    }

    #[test]
    fn parses_like_java() {
        use Dialect::*;
        let p = DatePattern::compile("yyyy-MM-dd HH:mm:ss", SimpleDateFormat).expect("compiles");
        assert_eq!(p.parse("2023-11-14 22:13:20"), Some(1_700_000_000_000));
        assert_eq!(
            p.parse("2023-11-14 22:13:20 and more"),
            Some(1_700_000_000_000)
        );
        assert_eq!(
            p.parse("2023-1-5 2:3:4"),
            Some(calendar::days_from_civil(2023, 1, 5) * MILLIS_PER_DAY + 7_384_000)
        );
        assert_eq!(
            p.parse("2023-02-30 00:00:00"),
            Some(calendar::days_from_civil(2023, 3, 2) * MILLIS_PER_DAY)
        );
        assert_eq!(p.parse("nope"), None);
        let p = DatePattern::compile("yyyyMMddHHmmssSSS", DateTimeFormatter).expect("compiles");
        assert_eq!(p.parse("20231114221320123"), Some(TS));
        let p = DatePattern::compile("dd/MM/yyyy hh:mm a", DateTimeFormatter).expect("compiles");
        assert_eq!(p.parse("14/11/2023 10:13 PM"), Some(1_699_999_980_000));
        assert_eq!(p.parse("14/11/2023 10:13 PM!"), None);
        let p = DatePattern::compile("dd MMM yyyy", DateTimeFormatter).expect("compiles");
        assert_eq!(
            p.parse("14 Nov 2023"),
            Some(calendar::days_from_civil(2023, 11, 14) * MILLIS_PER_DAY)
        );
    }
}
