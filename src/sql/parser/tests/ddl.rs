//! Tests of Flink's `CREATE TABLE`: every column kind, primary keys, and errors with their
//! positions.

use super::{error, one};
use crate::sql::statement::{ColumnKind, CreateTable, Statement};
use crate::sql::types::{DataType, Field};
const FULL_DDL: &str = "CREATE TEMPORARY TABLE IF NOT EXISTS cat.db.orders (
  ts_millis BIGINT, `key` STRING NOT NULL, price DECIMAL(10, 2), bid ROW<auction BIGINT, price BIGINT>,
  tags ARRAY<STRING>, v VARCHAR(20), c CHAR(3), d DATE, t TIMESTAMP(3), l TIMESTAMP_LTZ(3),
  l2 TIMESTAMP(3) WITH LOCAL TIME ZONE, i INT, s SMALLINT, ti TINYINT, f FLOAT, db DOUBLE, b BOOLEAN, iv INTEGER,
  rt AS TO_TIMESTAMP_LTZ(ts_millis, 3) COMMENT 'event time',
  pt AS PROCTIME(),
  m TIMESTAMP_LTZ(3) METADATA FROM 'timestamp' VIRTUAL,
  WATERMARK FOR rt AS rt - INTERVAL '1' SECOND,
  CONSTRAINT pk PRIMARY KEY (ts_millis, `key`) NOT ENFORCED
) COMMENT 'orders' WITH ('connector' = 'filesystem', 'path' = '/x', 'format' = 'csv')";

fn create_table(sql: &str) -> CreateTable {
    match one(sql) {
        Statement::CreateTable(t) => *t,
        other => panic!("not CREATE TABLE: {other:?}"),
    }
}

#[test]
fn flink_create_table_parses_every_column_kind() {
    let t = create_table(FULL_DDL);
    assert_eq!((t.name.as_str(), t.if_not_exists), ("orders", true));
    let physical = |name: &str| -> (DataType, bool) {
        match &t.columns.iter().find(|c| c.name == name).expect(name).kind {
            ColumnKind::Physical {
                data_type,
                nullable,
            } => (data_type.clone(), *nullable),
            other => panic!("{name} not physical: {other:?}"),
        }
    };
    let row = DataType::Row(vec![
        Field::new("auction", DataType::BigInt),
        Field::new("price", DataType::BigInt),
    ]);
    let expected = [
        ("ts_millis", DataType::BigInt, false),
        ("key", DataType::String, false),
        (
            "price",
            DataType::Decimal {
                precision: 10,
                scale: 2,
            },
            true,
        ),
        ("bid", row, true),
        ("tags", DataType::Array(Box::new(DataType::String)), true),
        ("v", DataType::String, true),
        ("c", DataType::String, true),
        ("d", DataType::Date, true),
        ("t", DataType::Timestamp { precision: 3 }, true),
        ("l", DataType::TimestampLtz { precision: 3 }, true),
        ("l2", DataType::TimestampLtz { precision: 3 }, true),
        ("i", DataType::Int, true),
        ("s", DataType::SmallInt, true),
        ("ti", DataType::TinyInt, true),
        ("f", DataType::Float, true),
        ("db", DataType::Double, true),
        ("b", DataType::Boolean, true),
        ("iv", DataType::Int, true),
    ];
    for (name, data_type, nullable) in expected {
        assert_eq!(physical(name), (data_type, nullable), "{name}");
    }
    let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names.len(), 21);
    assert_eq!(&names[18..], ["rt", "pt", "m"]);
    let ColumnKind::Computed(rt) = &t.columns[18].kind else {
        panic!("rt not computed")
    };
    assert_eq!(rt.to_string(), "TO_TIMESTAMP_LTZ(ts_millis, 3)");
    assert_eq!(t.columns[18].comment.as_deref(), Some("event time"));
    let ColumnKind::Computed(pt) = &t.columns[19].kind else {
        panic!("pt not computed")
    };
    assert_eq!(pt.to_string(), "PROCTIME()");
    let ColumnKind::Metadata {
        data_type,
        key,
        is_virtual,
    } = &t.columns[20].kind
    else {
        panic!("m not metadata")
    };
    assert_eq!(
        (data_type, key.as_deref(), *is_virtual),
        (
            &DataType::TimestampLtz { precision: 3 },
            Some("timestamp"),
            true
        )
    );
    let watermark = t.watermark.as_ref().expect("watermark");
    assert_eq!(
        (watermark.column.as_str(), watermark.expr.to_string()),
        ("rt", "rt - INTERVAL '1' SECOND".to_string())
    );
    assert_eq!(t.primary_key, ["ts_millis", "key"]);
    let options: Vec<(&str, &str)> = t
        .options
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        options,
        [
            ("connector", "filesystem"),
            ("path", "/x"),
            ("format", "csv")
        ]
    );
}

#[test]
fn inline_and_table_primary_keys() {
    let t = create_table(
        "CREATE TABLE t (id BIGINT PRIMARY KEY NOT ENFORCED, a INT) WITH ('connector' = 'x')",
    );
    assert_eq!(t.primary_key, ["id"]);
    let t = create_table("create table t (a INT, b INT, primary key (a, b) not enforced)");
    assert_eq!(t.primary_key, ["a", "b"]);
    assert!(t.options.is_empty());

    let e = error("CREATE TABLE t (id BIGINT, PRIMARY KEY (id))");
    assert!(
        e.message
            .starts_with("Flink doesn't support ENFORCED mode for PRIMARY KEY constraint."),
        "{e}"
    );
    assert!(
        e.message
            .ends_with("the only supported mode is the NOT ENFORCED mode"),
        "{e}"
    );
    assert_eq!((e.line, e.column), (1, 28));
    assert!(error("CREATE TABLE t (id BIGINT PRIMARY KEY)")
        .message
        .starts_with("Flink doesn't support ENFORCED"));
    assert!(
        error("CREATE TABLE t (a INT PRIMARY KEY NOT ENFORCED, PRIMARY KEY (a) NOT ENFORCED)")
            .message
            .contains("Duplicate primary key")
    );
    assert!(
        error("CREATE TABLE t (a INT, PRIMARY KEY (b) NOT ENFORCED)")
            .message
            .contains("'b' does not exist")
    );
}

#[test]
fn create_table_errors_carry_their_position() {
    let e = error("CREATE TABLE t (a INT)\nWITH ('connector' = 'x',\n  path = '/x')");
    assert_eq!((e.line, e.column), (3, 3), "{e}");
    assert!(e.message.contains("string literal as option key"), "{e}");
    let e = error("CREATE TABLE t (a INT) WITH ('connector' = 1)");
    assert_eq!((e.line, e.column), (1, 44), "{e}");
    assert_eq!(
        error("CREATE TABLE t LIKE u").message,
        "not supported: CREATE TABLE … LIKE"
    );
    assert_eq!(
        error("CREATE TABLE t (a INT) WITH ('k' = 'v') LIKE u").message,
        "not supported: CREATE TABLE … LIKE"
    );
    let e = error("CREATE TABLE t (a INT, b INT) PARTITIONED BY (a, c)");
    assert_eq!(
        (e.column, e.message.as_str()),
        (50, "Partition column 'c' not defined in the table schema.")
    );
    assert_eq!(
        create_table("CREATE TABLE t (a INT, dt STRING) PARTITIONED BY (dt) WITH ('k' = 'v')")
            .partition_keys,
        vec!["dt".to_string()]
    );
    let e = error("CREATE TABLE t (a BYTES)");
    assert_eq!(
        (e.column, e.message.as_str()),
        (19, "not supported: type BYTES")
    );
    let e = error("CREATE TABLE t (a INT, WATERMARK FOR b AS b)");
    assert!(e.message.contains("rowtime attribute field 'b'"), "{e}");
    assert!(
        error("CREATE TABLE t (a INT, WATERMARK FOR a AS a, WATERMARK FOR a AS a)")
            .message
            .contains("Multiple WATERMARK")
    );
}
