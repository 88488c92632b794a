//! The `datagen` connector (Flink's options): each field `random` (the default; numbers in
//! `fields.<f>.min`..=`fields.<f>.max`, strings of `fields.<f>.length` characters, timestamps up
//! to `fields.<f>.max-past` ms before now) or a `sequence` from `fields.<f>.start` to
//! `fields.<f>.end`; `number-of-rows` bounds the table (a sequence bounds it by its length),
//! `rows-per-second` (default 10000) paces it.
//!
//! A row is a function of its index (random values hash the index and the column), and the
//! source checkpoints how far each subtask got, so a restored job produces the same rows.

use std::sync::Arc;

use crate::api::{DataStream, StreamEnv};
use crate::connectors::{parsed, RowLayout};
use crate::operators::sources::Generated;
use crate::sql::catalog::TableDef;
use crate::sql::types::{DataType, Row, Value};
use crate::sql::SqlError;

enum Gen {
    Sequence { start: i64 },
    Int { min: i64, max: i64 },
    Double { min: f64, max: f64 },
    Str { length: usize },
    Bool,
    Timestamp { max_past: i64 },
}

fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The generated rows of `table`.
pub fn source(
    env: &StreamEnv,
    table: &Arc<TableDef>,
    layout: RowLayout,
) -> Result<DataStream<Row>, SqlError> {
    let schema = table.physical_schema();
    let bad = |message: String| SqlError::Connector {
        table: table.name.clone(),
        message,
    };
    let mut gens = Vec::with_capacity(schema.len());
    let mut bound: Option<u64> = table
        .option("number-of-rows")
        .map(|v| {
            v.trim()
                .parse()
                .map_err(|_| bad(format!("'number-of-rows' = '{v}' is not a count")))
        })
        .transpose()?;
    for f in &schema.fields {
        let key = |k: &str| format!("fields.{}.{k}", f.name);
        let kind = table.option(&key("kind")).unwrap_or("random");
        let g = match (kind, &f.data_type) {
            ("sequence", t) if t.is_integer() => {
                let start: i64 = parsed(table, &key("start"), 0)?;
                let end: i64 = parsed(table, &key("end"), i64::MAX)?;
                if end < start {
                    return Err(bad(format!("field '{}': sequence end {end} < start {start}", f.name)));
                }
                let n = u64::try_from(end - start).unwrap_or(u64::MAX).saturating_add(1);
                bound = Some(bound.map_or(n, |b| b.min(n)));
                Gen::Sequence { start }
            }
            ("random", t) if t.is_integer() => Gen::Int {
                min: parsed(table, &key("min"), 0)?,
                max: parsed(table, &key("max"), i64::from(i32::MAX))?,
            },
            ("random", DataType::Double | DataType::Float) => Gen::Double {
                min: parsed(table, &key("min"), 0.0)?,
                max: parsed(table, &key("max"), 1.0)?,
            },
            ("random", DataType::String) => Gen::Str {
                length: parsed(table, &key("length"), 100)?,
            },
            ("random", DataType::Boolean) => Gen::Bool,
            ("random", t) if t.is_timestamp() => Gen::Timestamp {
                max_past: parsed(table, &key("max-past"), 0)?,
            },
            (k, t) => {
                return Err(bad(format!(
                    "field '{}': datagen cannot make a {k} {t} (random: numbers, strings, booleans, timestamps; sequence: integers)",
                    f.name
                )))
            }
        };
        if let Gen::Int { min, max } = g {
            if min > max {
                return Err(bad(format!("field '{}': min {min} > max {max}", f.name)));
            }
        }
        gens.push(g);
    }
    let gens = Arc::new(gens);
    let count = bound.unwrap_or(u64::MAX);
    let rate: f64 = parsed(table, "rows-per-second", 10_000.0)?;
    let now = crate::eventtime::processing_time_now();
    let make = move |i: u64| -> Row {
        let mut values = vec![Value::Null; layout.width];
        for (c, (g, (pos, needed))) in gens.iter().zip(&layout.physical).enumerate() {
            if !needed {
                continue;
            }
            let h = mix(i.wrapping_mul(31).wrapping_add(c as u64));
            values[*pos] = match g {
                Gen::Sequence { start } => Value::Int(start.wrapping_add(i as i64)),
                Gen::Int { min, max } => {
                    let span = (*max as i128 - *min as i128 + 1) as u128;
                    Value::Int((*min as i128 + (u128::from(h) % span) as i128) as i64)
                }
                Gen::Double { min, max } => {
                    Value::Double(min + (max - min) * (h >> 11) as f64 / (1u64 << 53) as f64)
                }
                Gen::Str { length } => {
                    let mut s = String::with_capacity(*length);
                    let mut x = h;
                    for _ in 0..*length {
                        x = mix(x);
                        s.push(char::from(b'a' + (x % 26) as u8));
                    }
                    Value::str(&s)
                }
                Gen::Bool => Value::Bool(h & 1 == 1),
                Gen::Timestamp { max_past } => {
                    Value::Timestamp(now - (h % (*max_past as u64).max(1)) as i64)
                }
            };
        }
        // Computed columns of generated rows cannot fail on types the planner checked; a
        // failure leaves the column NULL.
        let _ = (layout.finish)(&mut values);
        Row::insert(values)
    };
    let stream = env.add_source(
        &format!("{}[datagen]", table.name),
        Generated::new(count, make),
    );
    Ok(if rate > 0.0 {
        stream.rate_limit(rate)
    } else {
        stream
    })
}
