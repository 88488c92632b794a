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

    /// 3 to `max - 1` lowercase letters, about one in 13 a `space` (trimmed at the ends).
    pub(super) fn string(&mut self, max: u64, space: u8) -> Text {
        let len = 3 + self.below(max - 3) as usize;
        let mut s = String::with_capacity(len);
        let mut x = 0;
        for i in 0..len {
            // Four characters from each draw, 16 bits each: 1 in 13 of 338 values a space.
            if i % 4 == 0 {
                x = self.next();
            }
            let v = ((x & 0xFFFF) * 338) >> 16;
            x >>= 16;
            s.push(char::from(if v < 26 {
                space
            } else {
                b'a' + (v % 26) as u8
            }));
        }
        Text::new(s.trim())
    }

    /// Padding that brings `current` bytes to `average` on average (±20 %): letters cut from
    /// the seed's pool at a random place.
    pub(super) fn extra(&mut self, pool: &Letters, current: usize, average: usize) -> Text {
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
        pool.cut(self.below(LETTERS as u64) as usize, size)
    }

    pub(super) fn price(&mut self) -> i64 {
        (10f64.powf(self.unit() * 6.0) * 100.0).round() as i64
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
