use super::*;
use crate::sql::types::Field;

fn reader() -> ObjectReader {
    ObjectReader::new(vec![
        ("id".into(), Some(DataType::BigInt)),
        ("name".into(), Some(DataType::String)),
        ("skipped".into(), None),
        ("at".into(), Some(DataType::Timestamp { precision: 3 })),
        ("score".into(), Some(DataType::Double)),
        (
            "bid".into(),
            Some(DataType::Row(vec![
                Field::new("price", DataType::Int),
                Field::new("tags", DataType::Array(Box::new(DataType::String))),
            ])),
        ),
        ("ok".into(), Some(DataType::Boolean)),
    ])
}

fn read(line: &str) -> Result<Vec<Value>, DecodeError> {
    let mut out = vec![Value::Null; 7];
    reader().read(line, |i, v| out[i] = v)?;
    Ok(out)
}

/// What serde_json, a full JSON parser, makes of the line: Rill's reader must agree on
/// what is JSON at all.
fn is_json(line: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(line).is_ok_and(|v| v.is_object())
}

#[test]
fn fields_are_read_by_name_in_any_order_and_unknown_ones_skipped() {
    let line = r#" {"bid": {"tags": ["a", "b\"c"], "price": 7}, "x": {"y": [1, {"z": null}]},
        "name": "Jo\u00e9 \ud83d\ude00\n", "id": -12, "at": "2015-07-15 00:00:01.500",
        "score": 1.5e2, "skipped": [true], "ok": false} "#;
    assert!(is_json(line));
    let v = read(line).expect("reads");
    assert_eq!(v[0], Value::Int(-12));
    assert_eq!(v[1], Value::str("Joé 😀\n"));
    assert_eq!(v[2], Value::Null, "a pruned field is not read");
    assert_eq!(v[3], Value::Timestamp(1_436_918_401_500));
    assert_eq!(v[4], Value::Double(150.0));
    assert_eq!(
        v[5],
        Value::Row(
            vec![
                Value::Int(7),
                Value::Array(vec![Value::str("a"), Value::str("b\"c")].into())
            ]
            .into()
        )
    );
    assert_eq!(v[6], Value::Bool(false));
    // A number for a STRING column is its text (Flink's `asText`).
    assert_eq!(read(r#"{"name": 5}"#).expect("reads")[1], Value::str("5"));
}

#[test]
fn nulls_and_missing_fields_are_null_and_the_last_of_a_repeated_key_wins() {
    let v = read(r#"{"id": null, "name": "a", "name": "b", "bid": {}}"#).expect("reads");
    assert_eq!(v[0], Value::Null);
    assert_eq!(v[1], Value::str("b"));
    assert_eq!(v[5], Value::Row(vec![Value::Null, Value::Null].into()));
    assert_eq!(v[3], Value::Null);
}

#[test]
fn values_of_the_wrong_type_are_refused_naming_the_type() {
    for (line, ty) in [
        (r#"{"id": 1.5}"#, "BIGINT"),
        (r#"{"id": "x"}"#, "BIGINT"),
        (r#"{"bid": {"price": 3000000000}}"#, "INT"),
        (r#"{"name": [5]}"#, "STRING"),
        (r#"{"ok": {}}"#, "BOOLEAN"),
        (r#"{"bid": [1]}"#, "ROW"),
        (r#"{"at": "yesterday"}"#, "TIMESTAMP"),
    ] {
        assert!(is_json(line), "{line}");
        let e = read(line).expect_err(line).to_string();
        assert!(e.contains(ty), "{line}: {e}");
    }
}

#[test]
fn what_is_not_json_is_refused_as_a_json_parser_refuses_it() {
    for line in [
        "",
        "[]",
        "{",
        r#"{"id": 1,}"#,
        r#"{"id" 1}"#,
        r#"{"id": 01x}"#,
        r#"{"id": 1} x"#,
        r#"{"name": "a\qb"}"#,
        r#"{"name": "\ud83d"}"#,
        r#"{"x": [1 2]}"#,
        r#"{"x": tru}"#,
        r#"{"x": -}"#,
        r#"{"x": 1.}"#,
        "{\"name\": \"a\tb\"}",
        r#"{"x": "\u+123"}"#,
    ] {
        assert!(!is_json(line), "serde_json refuses {line:?}");
        assert!(read(line).is_err(), "refused: {line:?}");
    }
    let deep = format!("{{\"x\": {}{}}}", "[".repeat(1000), "]".repeat(1000));
    assert!(read(&deep).is_err(), "nesting is bounded");
}

#[test]
fn the_end_of_a_plain_run_is_found_eight_bytes_at_a_time_as_one_at_a_time() {
    // Every byte value at every place of strings of lengths around the word size, over a
    // background of letters, UTF-8 and bytes just past the special ones.
    let background = "aé]!#~ \u{7f}x€";
    for len in 0..20 {
        let base: Vec<u8> = background.bytes().cycle().take(len).collect();
        for at in 0..len {
            for byte in 0..=255u8 {
                let mut b = base.clone();
                b[at] = byte;
                let naive = b
                    .iter()
                    .position(|c| *c == b'"' || *c == b'\\' || *c < 0x20);
                assert_eq!(special(&b), naive, "{b:?}");
            }
        }
        let naive = base
            .iter()
            .position(|c| *c == b'"' || *c == b'\\' || *c < 0x20);
        assert_eq!(special(&base), naive);
    }
}
