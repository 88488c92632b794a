//! Non-deterministic functions: `RAND`, `RAND_INTEGER` and `UUID`. A seeded `RAND(seed)`
//! replays `java.util.Random(seed)`'s sequence, as Flink's does, so a seeded query gives the
//! numbers it gives in Flink.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::sql::functions::registry::{function, int, is_int, volatile, Call, Resolver};
use crate::sql::functions::{EvalError, FunctionError, ScalarFunction};
use crate::sql::types::{DataType, Value};

pub(crate) const FUNCTIONS: &[(&str, Resolver)] = &[
    ("RAND", rand),
    ("RAND_INTEGER", rand_integer),
    ("UUID", uuid),
];

type R = Result<ScalarFunction, FunctionError>;

/// 64 unpredictable bits: std's per-process random hash keys over a counter and the clock.
fn entropy() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish()
}

/// `java.util.Random`'s 48-bit linear congruential generator, shareable across threads.
struct JavaRandom {
    seed: AtomicU64,
}

const MULTIPLIER: u64 = 0x5_DEEC_E66D;
const MASK: u64 = (1 << 48) - 1;

impl JavaRandom {
    fn new(seed: i64) -> Self {
        JavaRandom {
            seed: AtomicU64::new((seed as u64 ^ MULTIPLIER) & MASK),
        }
    }

    fn next(&self, bits: u32) -> i32 {
        let step = |s: u64| (s.wrapping_mul(MULTIPLIER).wrapping_add(0xB)) & MASK;
        let previous = match self
            .seed
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| Some(step(s)))
        {
            Ok(s) | Err(s) => s,
        };
        (step(previous) >> (48 - bits)) as i32
    }

    fn next_double(&self) -> f64 {
        let high = i64::from(self.next(26)) << 27;
        (high + i64::from(self.next(27))) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// `nextInt(bound)` for `bound > 0`.
    fn next_int(&self, bound: i32) -> i32 {
        if bound & (bound - 1) == 0 {
            return ((i64::from(bound) * i64::from(self.next(31))) >> 31) as i32;
        }
        loop {
            let bits = self.next(31);
            let value = bits % bound;
            if bits
                .checked_sub(value)
                .and_then(|d| d.checked_add(bound - 1))
                .is_some()
            {
                return value;
            }
        }
    }
}

fn unseeded_double() -> f64 {
    (entropy() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// `RAND([seed])`: a `DOUBLE` in [0, 1).
fn rand(call: &Call<'_>) -> R {
    call.check(0, 1, &[is_int], "RAND([constant INT])")?;
    if call.args.is_empty() {
        return Ok(volatile(function("RAND", DataType::Double, |_| {
            Ok(Value::Double(unseeded_double()))
        })));
    }
    let seed = call
        .literal_int(0)
        .ok_or_else(|| call.mismatch("RAND(constant INT)"))?;
    let generator = Arc::new(JavaRandom::new(seed));
    Ok(volatile(function("RAND", DataType::Double, move |_| {
        Ok(Value::Double(generator.next_double()))
    })))
}

/// `RAND_INTEGER([seed,] bound)`: an `INT` in [0, bound).
fn rand_integer(call: &Call<'_>) -> R {
    call.check(1, 2, &[is_int], "RAND_INTEGER([constant INT,] INT)")?;
    let generator = match call.args.len() {
        2 => Some(Arc::new(JavaRandom::new(call.literal_int(0).ok_or_else(
            || call.mismatch("RAND_INTEGER(constant INT, INT)"),
        )?))),
        _ => None,
    };
    let at = call.args.len() - 1;
    Ok(volatile(function(
        "RAND_INTEGER",
        DataType::Int,
        move |a| {
            if a.get(at).is_some_and(Value::is_null) {
                return Ok(Value::Null);
            }
            let bound = i32::try_from(int("RAND_INTEGER", a, at)?)
                .ok()
                .filter(|b| *b > 0)
                .ok_or_else(|| EvalError::Argument {
                    function: "RAND_INTEGER".to_string(),
                    reason: "the bound must be a positive INT".to_string(),
                })?;
            let v = match &generator {
                Some(g) => g.next_int(bound),
                None => (unseeded_double() * f64::from(bound)) as i32,
            };
            Ok(Value::Int(i64::from(v)))
        },
    )))
}

/// `UUID()`: a random (version 4) UUID as text.
fn uuid(call: &Call<'_>) -> R {
    call.check(0, 0, &[], "UUID()")?;
    Ok(volatile(function("UUID", DataType::String, |_| {
        let bits = (u128::from(entropy()) << 64 | u128::from(entropy()))
            & !(0xF000u128 << 64)
            & !(0xC0u128 << 56);
        let bits = bits | (0x4000u128 << 64) | (0x80u128 << 56);
        let hex = format!("{bits:032x}");
        let part = |r: std::ops::Range<usize>| hex.get(r).unwrap_or("");
        Ok(Value::str(&format!(
            "{}-{}-{}-{}-{}",
            part(0..8),
            part(8..12),
            part(12..16),
            part(16..20),
            part(20..32)
        )))
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::functions::resolve;

    #[test]
    fn seeded_rand_replays_java_random() {
        // new java.util.Random(42).nextDouble() and nextInt(10), as Java prints them.
        let r = JavaRandom::new(42);
        assert_eq!(r.next_double(), 0.7275636800328681);
        let r = JavaRandom::new(42);
        assert_eq!(r.next_int(10), 0);
        assert_eq!(r.next_int(10), 3);
        let f = resolve("RAND", &[DataType::Int], &[Some(Value::Int(42))]).expect("resolves");
        assert!(!f.deterministic);
        assert_eq!(
            (f.eval)(&[Value::Int(42)]),
            Ok(Value::Double(0.7275636800328681))
        );
    }

    #[test]
    fn unseeded_values_vary_and_stay_in_range() {
        let f = resolve("RAND", &[], &[]).expect("resolves");
        let a = (f.eval)(&[]).expect("evaluates");
        let b = (f.eval)(&[]).expect("evaluates");
        assert_ne!(a, b);
        assert!(matches!(a, Value::Double(d) if (0.0..1.0).contains(&d)));
        let f = resolve("RAND_INTEGER", &[DataType::Int], &[None]).expect("resolves");
        for _ in 0..100 {
            assert!(matches!((f.eval)(&[Value::Int(5)]), Ok(Value::Int(0..=4))));
        }
        assert_eq!((f.eval)(&[Value::Null]), Ok(Value::Null));
        let u = resolve("UUID", &[], &[]).expect("resolves");
        let (x, y) = ((u.eval)(&[]).expect("uuid"), (u.eval)(&[]).expect("uuid"));
        assert_ne!(x, y);
        let text = x.as_str().unwrap_or_default().to_string();
        assert_eq!(text.len(), 36);
        assert_eq!(text.get(14..15), Some("4"));
        assert!(matches!(text.get(19..20), Some("8" | "9" | "a" | "b")));
    }
}
