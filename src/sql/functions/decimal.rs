//! Exact `DECIMAL` helpers: rescaling with `HALF_UP` (as `BigDecimal.setScale`), text in and
//! out, and 256-bit intermediates so a product or quotient of two 38-digit values is exact.

use std::cmp::Ordering;

/// The largest precision Flink allows (`DecimalType.MAX_PRECISION`).
pub(crate) const MAX_PRECISION: u8 = 38;

/// `10^n` for `n <= 38`.
pub(crate) fn pow10(n: u32) -> Option<i128> {
    POW10.get(n as usize).copied()
}

/// 10^0 to 10^38, every power of ten an `i128` holds (looked up per row, not multiplied out).
const POW10: [i128; 39] = {
    let mut t = [1i128; 39];
    let mut i = 1;
    while i < t.len() {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// Whether `v` has at most `precision` digits.
pub(crate) fn fits(v: i128, precision: u8) -> bool {
    match pow10(u32::from(precision)) {
        Some(limit) => v.unsigned_abs() < limit.unsigned_abs(),
        None => true,
    }
}

/// The decimal type an integer type is treated as when it meets a `DECIMAL` (Flink's
/// `LogicalTypeMerging`): `TINYINT` (3, 0), `SMALLINT` (5, 0), `INT` (10, 0), `BIGINT` (19, 0).
pub(crate) fn integer_precision(ty: &crate::sql::types::DataType) -> Option<u8> {
    use crate::sql::types::DataType;
    match ty {
        DataType::TinyInt => Some(3),
        DataType::SmallInt => Some(5),
        DataType::Int => Some(10),
        DataType::BigInt => Some(19),
        _ => None,
    }
}

/// `n / d` rounded `HALF_UP` (ties away from zero); `d` must not be zero.
pub(crate) fn div_half_up(n: i128, d: i128) -> Option<i128> {
    let q = n.checked_div(d)?;
    let r = n.checked_rem(d)?;
    let (ra, da) = (r.unsigned_abs(), d.unsigned_abs());
    if ra >= da - ra {
        let away = if (n < 0) != (d < 0) { -1 } else { 1 };
        q.checked_add(away)
    } else {
        Some(q)
    }
}

/// `v` (at scale `from`) at scale `to`, rounding `HALF_UP`; `None` on overflow of `i128`.
pub(crate) fn rescale(v: i128, from: u8, to: u8) -> Option<i128> {
    match to.cmp(&from) {
        Ordering::Equal => Some(v),
        Ordering::Greater => v.checked_mul(pow10(u32::from(to - from))?),
        Ordering::Less => match pow10(u32::from(from - to)) {
            Some(p) => div_half_up(v, p),
            None => Some(0),
        },
    }
}

/// `BigDecimal.toPlainString` of `v` at `scale`: exactly `scale` fraction digits.
pub(crate) fn to_string(v: i128, scale: u8) -> String {
    let digits = v.unsigned_abs().to_string();
    let scale = usize::from(scale);
    let mut out = String::with_capacity(digits.len() + 3);
    if v < 0 {
        out.push('-');
    }
    if scale == 0 {
        out.push_str(&digits);
    } else if digits.len() > scale {
        let (int, frac) = digits.split_at(digits.len() - scale);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', scale - digits.len()));
        out.push_str(&digits);
    }
    out
}

/// Why text is not a `DECIMAL(p, s)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecimalIssue {
    /// Not a number (`new BigDecimal(text)` would throw).
    Syntax,
    /// More integer digits than the precision leaves room for.
    Overflow,
}

/// Parses `BigDecimal` text (`-12.50`, `1e3`, `.5`) to `DECIMAL(precision, scale)`, rounding
/// extra fraction digits `HALF_UP`. Works on the digit string, so no digit is lost to binary.
pub(crate) fn parse(text: &str, precision: u8, scale: u8) -> Result<i128, DecimalIssue> {
    let bytes = text.as_bytes();
    let (negative, mut i) = match bytes.first() {
        Some(b'-') => (true, 1),
        Some(b'+') => (false, 1),
        _ => (false, 0),
    };
    let mut digits = String::new();
    let mut exponent: i64 = 0;
    let mut seen_digit = false;
    let mut seen_point = false;
    while let Some(&c) = bytes.get(i) {
        match c {
            b'0'..=b'9' => {
                seen_digit = true;
                if !(digits.is_empty() && c == b'0') {
                    digits.push(char::from(c));
                }
                if seen_point {
                    exponent -= 1;
                }
            }
            b'.' if !seen_point => seen_point = true,
            b'e' | b'E' => break,
            _ => return Err(DecimalIssue::Syntax),
        }
        i += 1;
    }
    if !seen_digit {
        return Err(DecimalIssue::Syntax);
    }
    if let Some(rest) = text.get(i + 1..).filter(|_| i < bytes.len()) {
        let e: i64 = rest.parse().map_err(|_| DecimalIssue::Syntax)?;
        exponent = exponent.checked_add(e).ok_or(DecimalIssue::Syntax)?;
    }
    // The value is digits × 10^exponent; the unscaled result is digits × 10^(exponent + scale).
    let shift = exponent.saturating_add(i64::from(scale));
    let magnitude = if shift >= 0 {
        if digits.is_empty() {
            0
        } else if (digits.len() as i64).saturating_add(shift) > i64::from(MAX_PRECISION) {
            return Err(DecimalIssue::Overflow);
        } else {
            let base: i128 = digits.parse().map_err(|_| DecimalIssue::Overflow)?;
            let factor = pow10(u32::try_from(shift).map_err(|_| DecimalIssue::Overflow)?)
                .ok_or(DecimalIssue::Overflow)?;
            base.checked_mul(factor).ok_or(DecimalIssue::Overflow)?
        }
    } else {
        let drop = shift
            .checked_neg()
            .and_then(|s| usize::try_from(s).ok())
            .unwrap_or(usize::MAX);
        if drop > digits.len() {
            0
        } else {
            let (kept, gone) = digits.split_at(digits.len() - drop);
            let kept: i128 = if kept.is_empty() {
                0
            } else if kept.len() > usize::from(MAX_PRECISION) {
                return Err(DecimalIssue::Overflow);
            } else {
                kept.parse().map_err(|_| DecimalIssue::Overflow)?
            };
            let round_up = gone.as_bytes().first().is_some_and(|&d| d >= b'5');
            kept + i128::from(round_up)
        }
    };
    let v = if negative { -magnitude } else { magnitude };
    if fits(v, precision) {
        Ok(v)
    } else {
        Err(DecimalIssue::Overflow)
    }
}

/// An unsigned 256-bit integer, just enough for exact decimal products and quotients.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct U256 {
    hi: u128,
    lo: u128,
}

impl U256 {
    const ZERO: U256 = U256 { hi: 0, lo: 0 };

    fn from(v: u128) -> Self {
        U256 { hi: 0, lo: v }
    }

    /// The full 256-bit product of two `u128`s.
    fn product(a: u128, b: u128) -> Self {
        let mask = u128::from(u64::MAX);
        let (a1, a0) = (a >> 64, a & mask);
        let (b1, b0) = (b >> 64, b & mask);
        let p00 = a0 * b0;
        let p01 = a0 * b1;
        let p10 = a1 * b0;
        let p11 = a1 * b1;
        let mid = (p00 >> 64) + (p01 & mask) + (p10 & mask);
        let lo = (p00 & mask) | (mid << 64);
        let hi = p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64);
        U256 { hi, lo }
    }

    fn checked_mul(self, m: u128) -> Option<Self> {
        let low = U256::product(self.lo, m);
        let high = U256::product(self.hi, m);
        if high.hi != 0 {
            return None;
        }
        let hi = low.hi.checked_add(high.lo)?;
        Some(U256 { hi, lo: low.lo })
    }

    fn shl1(self) -> Self {
        U256 {
            hi: (self.hi << 1) | (self.lo >> 127),
            lo: self.lo << 1,
        }
    }

    fn sub(self, o: Self) -> Self {
        let (lo, borrow) = self.lo.overflowing_sub(o.lo);
        U256 {
            hi: self.hi.wrapping_sub(o.hi).wrapping_sub(u128::from(borrow)),
            lo,
        }
    }

    fn bit(self, i: u32) -> bool {
        if i >= 128 {
            (self.hi >> (i - 128)) & 1 == 1
        } else {
            (self.lo >> i) & 1 == 1
        }
    }

    fn set_bit(&mut self, i: u32) {
        if i >= 128 {
            self.hi |= 1 << (i - 128);
        } else {
            self.lo |= 1 << i;
        }
    }

    /// Quotient and remainder; `d` must not be zero.
    fn div_rem(self, d: Self) -> (Self, Self) {
        let mut q = U256::ZERO;
        let mut r = U256::ZERO;
        for i in (0..256).rev() {
            let carry = r.hi >> 127 == 1;
            r = r.shl1();
            if self.bit(i) {
                r.lo |= 1;
            }
            if carry || r >= d {
                r = r.sub(d);
                q.set_bit(i);
            }
        }
        (q, r)
    }

    /// `n × 10^k`, or `None` past 256 bits.
    fn times_pow10(mut self, mut k: u32) -> Option<Self> {
        while k > 0 {
            let step = k.min(38);
            self = self.checked_mul(pow10(step)?.unsigned_abs())?;
            k -= step;
        }
        Some(self)
    }

    /// `self / d` rounded `HALF_UP`, if it fits `i128`.
    fn div_half_up(self, d: Self) -> Option<i128> {
        if d == U256::ZERO {
            return None;
        }
        let (q, r) = self.div_rem(d);
        let q = if r >= d.sub(r) {
            q.checked_add_one()?
        } else {
            q
        };
        if q.hi != 0 {
            return None;
        }
        i128::try_from(q.lo).ok()
    }

    fn checked_add_one(self) -> Option<Self> {
        let (lo, carry) = self.lo.overflowing_add(1);
        Some(U256 {
            hi: self.hi.checked_add(u128::from(carry))?,
            lo,
        })
    }
}

fn signed(magnitude: i128, negative: bool) -> i128 {
    if negative {
        -magnitude
    } else {
        magnitude
    }
}

/// `a × b / 10^down`, rounded `HALF_UP`, exact however wide the product; `None` if the result
/// does not fit `i128`.
pub(crate) fn mul_shift(a: i128, b: i128, down: u32) -> Option<i128> {
    if let Some(p) = a.checked_mul(b) {
        if down == 0 {
            // The scales add up to the result's (`0.908 * price`): no division.
            return Some(p);
        }
        return match pow10(down) {
            Some(d) => div_half_up(p, d),
            None => Some(0),
        };
    }
    let negative = (a < 0) != (b < 0);
    let product = U256::product(a.unsigned_abs(), b.unsigned_abs());
    let divisor = U256::from(1).times_pow10(down)?;
    Some(signed(product.div_half_up(divisor)?, negative))
}

/// `a × 10^up / b` (or `a / (b × 10^-up)` when `up` is negative), rounded `HALF_UP`; `None`
/// when `b` is zero or the result does not fit `i128`.
pub(crate) fn div_shift(a: i128, b: i128, up: i32) -> Option<i128> {
    if b == 0 {
        return None;
    }
    let negative = (a < 0) != (b < 0);
    let mut n = U256::from(a.unsigned_abs());
    let mut d = U256::from(b.unsigned_abs());
    if up >= 0 {
        n = n.times_pow10(up.unsigned_abs())?;
    } else {
        match d.times_pow10(up.unsigned_abs()) {
            Some(wide) => d = wide,
            None => return Some(0),
        }
    }
    Some(signed(n.div_half_up(d)?, negative))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_with_half_up() {
        assert_eq!(parse("12.345", 10, 2), Ok(1235));
        assert_eq!(parse("-12.345", 10, 2), Ok(-1235));
        assert_eq!(parse("1e3", 10, 0), Ok(1000));
        assert_eq!(parse(".5", 10, 0), Ok(1));
        assert_eq!(parse("0.004", 10, 2), Ok(0));
        assert_eq!(parse("123456", 5, 0), Err(DecimalIssue::Overflow));
        assert_eq!(parse("12a", 5, 0), Err(DecimalIssue::Syntax));
        assert_eq!(parse("", 5, 0), Err(DecimalIssue::Syntax));
        assert_eq!(to_string(1235, 2), "12.35");
        assert_eq!(to_string(-5, 3), "-0.005");
        assert_eq!(to_string(7, 0), "7");
    }

    #[test]
    fn wide_products_and_quotients_are_exact() {
        let big = 10i128.pow(37) + 7;
        assert_eq!(mul_shift(big, 10i128.pow(20), 20), Some(big));
        assert_eq!(mul_shift(-15, 1, 1), Some(-2));
        assert_eq!(div_shift(1, 3, 6), Some(333_333));
        assert_eq!(div_shift(2, 3, 6), Some(666_667));
        assert_eq!(div_shift(-2, 3, 6), Some(-666_667));
        assert_eq!(div_shift(big, 10i128.pow(30), 38), None);
        assert_eq!(div_shift(1, 0, 2), None);
        assert_eq!(rescale(125, 2, 1), Some(13));
        assert_eq!(rescale(-125, 2, 1), Some(-13));
        assert_eq!(mul_shift(908, -1234, 0), Some(-1_120_472));
    }

    #[test]
    fn powers_of_ten_are_those_an_i128_holds() {
        for n in 0..=38 {
            assert_eq!(pow10(n), 10i128.checked_pow(n), "10^{n}");
        }
        assert_eq!(pow10(39), None);
        assert!(fits(99_999, 5) && !fits(100_000, 5) && fits(i128::MAX, 39));
    }
}
