//! Tests of the type grammar and of the conversion of `sqlparser`'s types.

use sqlparser::ast::{self, ExactNumberInfo, TimezoneInfo};

use crate::sql::parser::{convert_data_type, parse_data_type, TypeError};
use crate::sql::types::{DataType, Field};

fn row(fields: &[(&str, DataType, bool)]) -> DataType {
    DataType::Row(
        fields
            .iter()
            .map(|(n, t, nullable)| Field {
                nullable: *nullable,
                ..Field::new(*n, t.clone())
            })
            .collect(),
    )
}

#[test]
fn every_supported_type_parses_case_insensitively() {
    let cases = [
        ("BOOLEAN", DataType::Boolean),
        ("tinyint", DataType::TinyInt),
        ("SmallInt", DataType::SmallInt),
        ("INT", DataType::Int),
        ("integer", DataType::Int),
        ("BIGINT", DataType::BigInt),
        ("FLOAT", DataType::Float),
        ("REAL", DataType::Float),
        ("DOUBLE", DataType::Double),
        ("DOUBLE PRECISION", DataType::Double),
        (
            "DECIMAL",
            DataType::Decimal {
                precision: 10,
                scale: 0,
            },
        ),
        (
            "DEC(5)",
            DataType::Decimal {
                precision: 5,
                scale: 0,
            },
        ),
        (
            "NUMERIC(10, 2)",
            DataType::Decimal {
                precision: 10,
                scale: 2,
            },
        ),
        ("STRING", DataType::String),
        ("VARCHAR(20)", DataType::String),
        ("CHAR(3)", DataType::String),
        ("VARCHAR", DataType::String),
        ("DATE", DataType::Date),
        ("TIMESTAMP", DataType::Timestamp { precision: 6 }),
        ("TIMESTAMP(3)", DataType::Timestamp { precision: 3 }),
        (
            "TIMESTAMP(3) WITHOUT TIME ZONE",
            DataType::Timestamp { precision: 3 },
        ),
        ("TIMESTAMP_LTZ(3)", DataType::TimestampLtz { precision: 3 }),
        ("timestamp_ltz", DataType::TimestampLtz { precision: 6 }),
        (
            "TIMESTAMP(3) WITH LOCAL TIME ZONE",
            DataType::TimestampLtz { precision: 3 },
        ),
        ("ARRAY<STRING>", DataType::Array(Box::new(DataType::String))),
        ("INT NOT NULL", DataType::Int),
    ];
    for (text, expected) in cases {
        assert_eq!(parse_data_type(text), Ok(expected), "{text}");
    }
}

#[test]
fn rows_and_arrays_nest_through_shift_right_tokens() {
    assert_eq!(
        parse_data_type("ROW<a INT, `b` STRING NOT NULL 'the b'>"),
        Ok(row(&[
            ("a", DataType::Int, true),
            ("b", DataType::String, false)
        ]))
    );
    assert_eq!(
        parse_data_type("ROW(auction BIGINT, price BIGINT)"),
        Ok(row(&[
            ("auction", DataType::BigInt, true),
            ("price", DataType::BigInt, true)
        ]))
    );
    let inner = row(&[("x", DataType::Array(Box::new(DataType::Int)), true)]);
    assert_eq!(
        parse_data_type("ARRAY<ROW<x ARRAY<INT>>>"),
        Ok(DataType::Array(Box::new(inner)))
    );
    assert_eq!(
        parse_data_type("ROW<a ARRAY<ARRAY<INT>>, b INT>"),
        Ok(row(&[
            (
                "a",
                DataType::Array(Box::new(DataType::Array(Box::new(DataType::Int)))),
                true
            ),
            ("b", DataType::Int, true),
        ]))
    );
}

#[test]
fn bad_types_name_themselves_with_a_position() {
    let e = parse_data_type("BYTES").expect_err("unsupported");
    assert_eq!(
        (e.line, e.column, e.message.as_str()),
        (1, 1, "not supported: type BYTES")
    );
    let e = parse_data_type("ROW<a INT, b MAP<INT, INT>>").expect_err("unsupported");
    assert_eq!(
        (e.column, e.message.as_str()),
        (14, "not supported: type MAP")
    );
    let e = parse_data_type("DECIMAL(40, 2)").expect_err("too precise");
    assert!(
        e.message
            .starts_with("Decimal precision must be between 1 and 38"),
        "{e}"
    );
    let e = parse_data_type("TIMESTAMP(10)").expect_err("too precise");
    assert!(e.message.starts_with("Timestamp precision"), "{e}");
    assert!(parse_data_type("ARRAY<INT>>").is_err());
    assert!(parse_data_type("ARRAY<INT").is_err());
    assert!(parse_data_type("ROW<a INT, a INT>").is_err());
    let deep = format!("{}INT{}", "ARRAY<".repeat(10_000), ">".repeat(10_000));
    let e = parse_data_type(&deep).expect_err("too deep");
    assert!(e.message.contains("nested too deeply"), "{e}");
}

#[test]
fn sqlparser_types_convert() {
    use ast::DataType as S;
    assert_eq!(convert_data_type(&S::String(None)), Ok(DataType::String));
    assert_eq!(
        convert_data_type(&S::Decimal(ExactNumberInfo::PrecisionAndScale(10, 2))),
        Ok(DataType::Decimal {
            precision: 10,
            scale: 2
        })
    );
    assert_eq!(
        convert_data_type(&S::Timestamp(Some(3), TimezoneInfo::None)),
        Ok(DataType::Timestamp { precision: 3 })
    );
    assert_eq!(
        convert_data_type(&S::Bytes(None)),
        Err(TypeError::Unsupported("BYTES".into()))
    );
}
