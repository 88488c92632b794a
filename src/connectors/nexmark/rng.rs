//! The generator's draws: a portable PRNG (SplitMix64) per event, and a pool of random
//! letters per seed that padding is cut from.

use std::sync::Arc;

use crate::sql::types::Text;

/// SplitMix64's finalizer.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// A portable PRNG (SplitMix64) for one event: the same draws on every machine and build.
pub(super) struct Rng(u64);

impl Rng {
    pub(super) fn new(seed: u64, stream: u64, n: u64) -> Self {
        Rng(mix(seed.wrapping_add(GOLDEN)) ^ mix(stream.wrapping_mul(GOLDEN) ^ mix(n)))
    }

    #[inline]
    pub(super) fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(GOLDEN);
        mix(self.0)
    }

    /// Uniform in `0..bound` (0 for a bound of 0).
    #[inline]
    pub(super) fn below(&mut self, bound: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(bound)) >> 64) as u64
    }

    /// Uniform in `[0, 1)`.
    pub(super) fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(super) fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len() as u64) as usize]
    }

    /// Skips `n` draws: what `n` calls of [`Rng::next`] would leave.
    #[inline]
    pub(super) fn skip(&mut self, n: u64) {
        self.0 = self.0.wrapping_add(GOLDEN.wrapping_mul(n));
    }

    /// 3 to `max - 1` lowercase letters, about one in 13 a `space`, trimmed at the ends,
    /// written into `buf` (at most its length).
    pub(super) fn letters<'b>(&mut self, max: u64, space: u8, buf: &'b mut Buf) -> &'b str {
        let len = (3 + self.below(max.saturating_sub(3)) as usize).min(buf.len());
        let mut x = 0;
        for (i, c) in buf[..len].iter_mut().enumerate() {
            // Four characters from each draw, 16 bits each: 1 in 13 of 338 values a space.
            if i % 4 == 0 {
                x = self.next();
            }
            let v = ((x & 0xFFFF) * 338) >> 16;
            x >>= 16;
            *c = if v < 26 { space } else { b'a' + (v % 26) as u8 };
        }
        // Only ASCII letters and the space were written.
        std::str::from_utf8(&buf[..len]).map_or("", |s| s.trim())
    }

    /// As [`Rng::letters`], made a string.
    pub(super) fn string(&mut self, max: u64, space: u8) -> Text {
        Text::new(self.letters(max, space, &mut [0; BUF]))
    }

    /// Padding that brings `current` bytes to `average` on average (±20 %): letters cut from
    /// the seed's pool at a random place; the same draws, and an empty string, unless `make`.
    pub(super) fn extra(
        &mut self,
        pool: &Letters,
        current: usize,
        average: usize,
        make: bool,
    ) -> Text {
        if current > average {
            return Text::default();
        }
        let want = average - current;
        let delta = (want as f64 * 0.2).round() as usize;
        let size = want - delta
            + if delta == 0 {
                0
            } else {
                self.below(2 * delta as u64) as usize
            };
        let at = self.below(LETTERS as u64) as usize;
        if make {
            pool.cut(at, size)
        } else {
            Text::default()
        }
    }

    /// `round(10^(6u)·100)` for a uniform `u` in `[0, 1)`, as the reference computes it
    /// (`Math.round(Math.pow(10.0, u * 6.0) * 100.0)`).
    pub(super) fn price(&mut self) -> i64 {
        price_of(self.unit() * 6.0)
    }
}

/// The largest string [`Rng::letters`] makes, bytes.
pub(super) const BUF: usize = 128;

/// Where [`Rng::letters`] writes.
pub(super) type Buf = [u8; BUF];

/// `2^(j/256)` and `2^(j/65536)` for `j` in `0..256`.
fn powers() -> &'static [[f64; 256]; 2] {
    static TABLES: std::sync::OnceLock<[[f64; 256]; 2]> = std::sync::OnceLock::new();
    TABLES.get_or_init(|| {
        [256.0, 65536.0].map(|step| std::array::from_fn(|j| 2f64.powf(j as f64 / step)))
    })
}

/// `10^y` for `y` in `[0, 6]` to within a few parts in 10^15 (two tables of powers of 2 and
/// two terms of a series), several times faster than `powf`.
fn exp10_close(y: f64) -> f64 {
    let t = y * std::f64::consts::LOG2_10;
    let whole = t as i64;
    // Exact: an integer taken from a value of the same magnitude.
    let frac = t - whole as f64;
    let sixteenths = ((frac * 65536.0) as usize).min(65535);
    // e^x for x < 1.1·10^-5: the series' next term is below 3·10^-16.
    let x = (frac - sixteenths as f64 / 65536.0) * std::f64::consts::LN_2;
    let series = 1.0 + x * (1.0 + 0.5 * x);
    let scale = f64::from_bits(((whole + 1023) as u64) << 52);
    let [high, low] = powers();
    high[sixteenths >> 8] * low[sixteenths & 255] * series * scale
}

/// `round(10^y · 100)` for `y` in `[0, 6)`, equal to `(10f64.powf(y) * 100.0).round()`: the
/// close value decides unless it lies within its error of a half, where `powf` does.
pub(super) fn price_of(y: f64) -> i64 {
    let close = exp10_close(y) * 100.0;
    let rounded = (close + 0.5) as i64;
    // How far `close` is from the half below `rounded`, in units: near 0 or 1 is a near tie.
    let from_half = close + 0.5 - rounded as f64;
    let margin = close * 1e-13;
    if from_half > margin && from_half < 1.0 - margin {
        rounded
    } else {
        (10f64.powf(y) * 100.0).round() as i64
    }
}

/// How many letters a pool holds.
const LETTERS: usize = 1 << 16;

/// Random lowercase letters, the same for a seed on every machine.
#[derive(Debug, Clone)]
pub(super) struct Letters(Arc<str>);

impl Letters {
    pub(super) fn new(seed: u64, stream: u64) -> Self {
        let mut rng = Rng::new(seed, stream, 0);
        let mut s = String::with_capacity(LETTERS);
        let mut x = 0;
        for i in 0..LETTERS {
            // Six letters from each draw.
            if i % 6 == 0 {
                x = rng.next();
            }
            s.push(char::from(b'a' + (x % 26) as u8));
            x /= 26;
        }
        Letters(s.into())
    }

    /// `len` letters from `at` on, going round past the end.
    fn cut(&self, at: usize, len: usize) -> Text {
        let at = at % LETTERS;
        let s = &self.0;
        if at + len <= LETTERS {
            return Text::new(&s[at..at + len]);
        }
        let mut out = String::with_capacity(len);
        out.push_str(&s[at..]);
        while out.len() < len {
            let more = (len - out.len()).min(LETTERS);
            out.push_str(&s[..more]);
        }
        Text::from(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(y: f64) -> i64 {
        (10f64.powf(y) * 100.0).round() as i64
    }

    #[test]
    fn prices_are_the_references_for_millions_of_draws() {
        let mut rng = Rng::new(11, 0, 0);
        for _ in 0..3_000_000 {
            let y = rng.unit() * 6.0;
            assert_eq!(price_of(y), reference(y), "y = {y:e}");
        }
        // The ends, and values whose price is exactly a half away from two integers' (the
        // near ties, decided by `powf`).
        for y in [
            0.0,
            1e-300,
            0.5,
            1.0,
            5.999_999_999_999_999,
            6.0 - f64::EPSILON * 4.0,
        ] {
            assert_eq!(price_of(y), reference(y), "y = {y:e}");
        }
        for p in [100.5f64, 1234.5, 99_999.5, 12_345_678.5] {
            let y = (p / 100.0).log10();
            for k in -50i64..50 {
                let y = f64::from_bits((y.to_bits() as i64 + k) as u64);
                assert_eq!(price_of(y), reference(y), "y = {y:e}");
            }
        }
    }

    #[test]
    fn letters_are_trimmed_and_skipping_draws_lands_where_drawing_does() {
        let mut a = Rng::new(3, 1, 9);
        let mut b = Rng::new(3, 1, 9);
        let mut buf = [0; BUF];
        for _ in 0..1000 {
            let s = a.letters(100, b' ', &mut buf).to_string();
            assert!(s.len() < 100 && s.trim() == s);
            assert!(
                s.bytes().all(|c| c == b' ' || c.is_ascii_lowercase()),
                "{s}"
            );
            assert_eq!(b.string(100, b' ').as_str(), s);
        }
        let mut c = Rng::new(3, 1, 9);
        let mut d = Rng::new(3, 1, 9);
        (0..37).for_each(|_| {
            c.next();
        });
        d.skip(37);
        assert_eq!(c.next(), d.next());
    }
}
