//! Tests of the script parser: each statement kind, the window TVFs, Flink's `CREATE TABLE`,
//! and errors with their positions.

mod ddl;
mod types;

use sqlparser::ast::{
    self, Expr, FunctionArg, FunctionArgExpr, FunctionArguments, Query, SelectItem, SetExpr,
    TableFactor,
};

use super::*;
use crate::sql::statement::Statement;
use crate::sql::types::DataType;

fn one(sql: &str) -> Statement {
    let mut parsed = parse_script(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
    assert_eq!(parsed.len(), 1, "{sql}");
    parsed.remove(0).statement
}

fn query(sql: &str) -> Box<Query> {
    match one(sql) {
        Statement::Query(q) => q,
        other => panic!("not a query: {other:?}"),
    }
}

fn select(q: &Query) -> &ast::Select {
    match q.body.as_ref() {
        SetExpr::Select(s) => s,
        other => panic!("not a select: {other:?}"),
    }
}

fn error(sql: &str) -> ParseError {
    match parse_script(sql) {
        Ok(parsed) => panic!("{sql} parsed: {parsed:?}"),
        Err(e) => e,
    }
}

/// The window function of `FROM TABLE(f(...))` and its arguments' expressions, as the planner
/// finds them: `TableFactor::TableFunction { expr: Expr::Function(f), .. }` with a list of
/// `FunctionArg::Unnamed(FunctionArgExpr::Expr(_))` (or `FunctionArg::Named` for named ones).
fn window_tvf(q: &Query) -> (String, Vec<Expr>) {
    let TableFactor::TableFunction {
        expr: Expr::Function(f),
        ..
    } = &select(q).from[0].relation
    else {
        panic!("not a table function: {:?}", select(q).from[0].relation)
    };
    let FunctionArguments::List(list) = &f.args else {
        panic!("no arguments")
    };
    let args = list
        .args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => e.clone(),
            FunctionArg::Named {
                arg: FunctionArgExpr::Expr(e),
                ..
            } => e.clone(),
            other => panic!("unexpected argument {other:?}"),
        })
        .collect();
    (f.name.to_string(), args)
}

fn table_arg(name: &str, partition_by: &[&str]) -> Option<TableArgument> {
    Some(TableArgument {
        name: name.into(),
        partition_by: partition_by.iter().map(|s| s.to_string()).collect(),
    })
}

#[test]
fn window_tvfs_parse_and_their_table_argument_decodes() {
    let cases = [
        ("SELECT `key`, window_start, window_end, COUNT(*), SUM(`value`) FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(rt), INTERVAL '1' SECOND)) GROUP BY `key`, window_start, window_end", "TUMBLE", 3, table_arg("events", &[])),
        ("SELECT * FROM TABLE(HOP(TABLE events, DESCRIPTOR(rt), INTERVAL '2' SECOND, INTERVAL '10' SECOND))", "HOP", 4, table_arg("events", &[])),
        ("SELECT * FROM TABLE(CUMULATE(TABLE t, DESCRIPTOR(ts), INTERVAL '2' MINUTES, INTERVAL '10' MINUTES))", "CUMULATE", 4, table_arg("t", &[])),
        ("SELECT * FROM TABLE(SESSION(TABLE events PARTITION BY `key`, DESCRIPTOR(rt), INTERVAL '0.2' SECOND))", "SESSION", 3, table_arg("events", &["key"])),
        ("SELECT * FROM TABLE(SESSION(TABLE cat.db.events PARTITION BY (a, b), DESCRIPTOR(rt), INTERVAL '10' MINUTE)) AS w", "SESSION", 3, table_arg("events", &["a", "b"])),
        ("SELECT * FROM TABLE(TUMBLE(DATA => TABLE events, TIMECOL => DESCRIPTOR(rt), SIZE => INTERVAL '1' SECOND))", "TUMBLE", 3, table_arg("events", &[])),
    ];
    for (sql, function, arity, expected) in cases {
        let q = query(sql);
        let (name, args) = window_tvf(&q);
        assert_eq!((name.as_str(), args.len()), (function, arity), "{sql}");
        assert_eq!(table_argument(&args[0]), expected, "{sql}");
        assert_eq!(table_argument(&args[1]), None, "{sql}");
        let Expr::Function(descriptor) = &args[1] else {
            panic!("DESCRIPTOR is a function call")
        };
        assert_eq!(descriptor.name.to_string(), "DESCRIPTOR");
        assert!(matches!(args[2], Expr::Interval(_)), "{sql}");
    }
}

#[test]
fn intervals_keep_their_value_and_unit() {
    let q =
        query("SELECT INTERVAL '0.2' SECOND, INTERVAL '10' MINUTE, INTERVAL '2' MINUTES FROM t");
    let texts: Vec<String> = select(&q)
        .projection
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(
        texts,
        [
            "INTERVAL '0.2' SECOND",
            "INTERVAL '10' MINUTE",
            "INTERVAL '2' MINUTES"
        ]
    );
}

#[test]
fn the_brief_queries_parse() {
    let q = query("SELECT `key`, `value` * 2 FROM events WHERE `value` % 3 = 0;");
    assert_eq!(select(&q).projection.len(), 2);
    assert!(select(&q).selection.is_some());

    let q = query("SELECT word, COUNT(*) FROM lines CROSS JOIN UNNEST(SPLIT(line, ' ')) AS T(word) GROUP BY word");
    let join = &select(&q).from[0].joins[0];
    let TableFactor::UNNEST {
        alias: Some(alias),
        array_exprs,
        ..
    } = &join.relation
    else {
        panic!("not an UNNEST: {:?}", join.relation)
    };
    assert_eq!(
        (
            alias.name.value.as_str(),
            alias.columns[0].name.value.as_str()
        ),
        ("T", "word")
    );
    assert_eq!(array_exprs[0].to_string(), "SPLIT(line, ' ')");

    let q = query("SELECT COUNT(DISTINCT a) FILTER (WHERE b > 1) FROM t");
    let SelectItem::UnnamedExpr(Expr::Function(f)) = &select(&q).projection[0] else {
        panic!()
    };
    assert_eq!(
        f.filter.as_ref().map(|e| e.to_string()),
        Some("b > 1".to_string())
    );
    let FunctionArguments::List(list) = &f.args else {
        panic!()
    };
    assert_eq!(
        list.duplicate_treatment,
        Some(ast::DuplicateTreatment::Distinct)
    );
}

#[test]
fn flink_expressions_parse() {
    let sqls = [
        "SELECT CAST(x AS DECIMAL(10, 2)), CAST(x AS TIMESTAMP(3)), CAST(x AS STRING), CAST(x AS TIMESTAMP_LTZ(3)) FROM t",
        "SELECT EXTRACT(HOUR FROM ts), CASE WHEN a > 1 THEN 'x' ELSE 'y' END FROM t WHERE x IS NOT NULL AND a IN (1, 2) AND a BETWEEN 1 AND 2 AND s LIKE '%x'",
        "SELECT * FROM (SELECT a, b, ROW_NUMBER() OVER (PARTITION BY a ORDER BY b DESC) AS rn FROM t) WHERE rn <= 3",
        "SELECT o.id, r.rate FROM orders AS o JOIN rates FOR SYSTEM_TIME AS OF o.pt AS r ON o.cur = r.cur",
        "WITH w AS (SELECT a FROM t) SELECT a FROM w UNION ALL SELECT a FROM u",
        "VALUES (1, 'a'), (2, 'b')",
        "SELECT TO_TIMESTAMP_LTZ(ts_millis, 3), PROCTIME(), CURRENT_TIMESTAMP FROM t",
    ];
    for sql in sqls {
        query(sql);
    }
    let q = query("SELECT CAST(x AS DECIMAL(10, 2)), CAST(x AS TIMESTAMP_LTZ(3)) FROM t");
    let types: Vec<DataType> = select(&q)
        .projection
        .iter()
        .map(|p| match p {
            SelectItem::UnnamedExpr(Expr::Cast { data_type, .. }) => {
                convert_data_type(data_type).expect("converts")
            }
            other => panic!("not a cast: {other}"),
        })
        .collect();
    assert_eq!(
        types,
        [
            DataType::Decimal {
                precision: 10,
                scale: 2
            },
            DataType::TimestampLtz { precision: 3 }
        ]
    );
}

#[test]
fn other_statements_convert() {
    let Statement::CreateView {
        name,
        columns,
        query,
        if_not_exists,
    } = one("CREATE TEMPORARY VIEW IF NOT EXISTS v (x, y) AS SELECT a, b FROM t")
    else {
        panic!("not a view")
    };
    assert_eq!(
        (name.as_str(), columns, if_not_exists),
        ("v", vec!["x".to_string(), "y".to_string()], true)
    );
    assert_eq!(query.to_string(), "SELECT a, b FROM t");

    assert!(
        matches!(one("DROP TABLE IF EXISTS db.t"), Statement::Drop { view: false, ref name, if_exists: true } if name == "t")
    );
    assert!(
        matches!(one("DROP TEMPORARY VIEW v"), Statement::Drop { view: true, ref name, if_exists: false } if name == "v")
    );

    let Statement::Insert {
        table,
        columns,
        query,
        overwrite,
    } = one("INSERT INTO sink (a, `b`) SELECT x, y FROM src")
    else {
        panic!()
    };
    assert_eq!(
        (table.as_str(), columns, overwrite),
        ("sink", vec!["a".to_string(), "b".to_string()], false)
    );
    assert_eq!(query.to_string(), "SELECT x, y FROM src");
    let Statement::Insert {
        columns, overwrite, ..
    } = one("INSERT OVERWRITE sink (SELECT 1)")
    else {
        panic!()
    };
    assert!(columns.is_empty() && overwrite);

    assert!(matches!(one("SET"), Statement::Set { pair: None }));
    let Statement::Set { pair } = one("SET 'table.exec.state.ttl' = '1 h'") else {
        panic!()
    };
    assert_eq!(
        pair,
        Some(("table.exec.state.ttl".to_string(), "1 h".to_string()))
    );
    assert!(matches!(one("RESET"), Statement::Reset { key: None }));
    assert!(matches!(one("RESET 'a.b'"), Statement::Reset { key: Some(ref k) } if k == "a.b"));

    let Statement::Explain(inner) = one("EXPLAIN PLAN FOR SELECT 1") else {
        panic!()
    };
    assert!(matches!(*inner, Statement::Query(_)));
    let Statement::Explain(inner) = one("EXPLAIN INSERT INTO s SELECT * FROM t") else {
        panic!()
    };
    assert!(matches!(*inner, Statement::Insert { .. }));

    assert!(matches!(one("SHOW TABLES"), Statement::ShowTables));
    assert!(matches!(one("show views"), Statement::ShowViews));
    assert!(matches!(one("SHOW FUNCTIONS"), Statement::ShowFunctions));
    assert!(matches!(one("DESCRIBE events"), Statement::Describe(ref n) if n == "events"));
    assert!(matches!(one("DESC `Events`"), Statement::Describe(ref n) if n == "Events"));
    assert!(matches!(one("(SELECT 1)"), Statement::Query(_)));
}

#[test]
fn unsupported_statements_say_so() {
    let e = error("SELECT 1;\n  GRANT SELECT ON t TO u");
    assert_eq!(
        (e.line, e.column, e.message.as_str()),
        (2, 3, "not supported: GRANT")
    );
    assert_eq!(
        error("CREATE FUNCTION f AS 'x' LANGUAGE PYTHON").message,
        "not supported: LANGUAGE PYTHON (functions are Rust, registered in the binary)"
    );
    assert_eq!(
        error("SHOW CATALOGS").message,
        "not supported: SHOW CATALOGS"
    );
    assert_eq!(
        error("DROP CATALOG c").message,
        "not supported: DROP CATALOG"
    );
    assert_eq!(
        error("INSERT INTO t PARTITION (a = 1) SELECT 1").message,
        "not supported: INSERT … PARTITION"
    );
    assert_eq!(
        error("EXPLAIN CHANGELOG_MODE SELECT 1").message,
        "not supported: EXPLAIN CHANGELOG_MODE"
    );
    let e = error("SELECT 1;\nEXPLAIN PLAN FOR");
    assert_eq!((e.line, e.column), (2, 17), "{e}");
    assert_eq!(
        e.message,
        "Expected: a query or INSERT, found: end of input"
    );
    assert_eq!(
        error("DROP 1").message,
        "Expected: TABLE, VIEW or FUNCTION, found: 1"
    );
    assert_eq!(error("+ 1").message, "not supported: +");
}

#[test]
fn syntax_errors_report_the_scripts_line_and_column() {
    let script = "CREATE TABLE events (a INT) WITH ('connector' = 'x');\nSELECT a FROM events;\nSELECT a, FROM events;";
    let e = error(script);
    assert_eq!((e.line, e.column), (3, 11), "{e}");
    assert!(e.message.starts_with("Expected: an expression"), "{e}");
    assert!(!e.message.contains("Line:"), "{e}");

    let e = error("SELECT * FROM TABLE(TUMBLE(TABLE events DESCRIPTOR(rt)))");
    assert_eq!(e.message, "Expected: ), found: DESCRIPTOR");
    let e = error("SELECT a FROM t WHERE (a = 1");
    assert_eq!(e.message, "Expected: ), found: end of input");
    assert_eq!((e.line, e.column), (1, 29), "{e}");
    let e = error("SELECT a b c FROM t");
    assert_eq!(
        (e.column, e.message.as_str()),
        (12, "Expected: ; or end of input, found: c")
    );
    let e = error("SELECT 'unterminated");
    assert_eq!((e.line, e.column), (1, 8), "{e}");
    assert_eq!(
        e.to_string(),
        format!("SQL parse error at line 1, column 8: {}", e.message)
    );
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let sql = format!("SELECT {}1{}", "(".repeat(10_000), ")".repeat(10_000));
    assert!(error(&sql).message.contains("recursion limit"));
    let sql = format!("SELECT * FROM {}t", "(".repeat(10_000));
    assert!(parse_script(&sql).is_err());
    let sql = format!("SELECT {}", "(".repeat(10_000));
    assert!(parse_script(&sql).is_err());
    let sql = format!(
        "CREATE TABLE t (a {}INT{})",
        "ARRAY<".repeat(10_000),
        ">".repeat(10_000)
    );
    assert!(parse_script(&sql).is_err());
}

#[test]
fn a_script_with_comments_keeps_each_statements_text_and_line() {
    let script = "-- the source\nCREATE TABLE events (ts_millis BIGINT, `key` STRING, `value` BIGINT, rt AS TO_TIMESTAMP_LTZ(ts_millis, 3), WATERMARK FOR rt AS rt - INTERVAL '1' SECOND) WITH ('connector' = 'filesystem', 'path' = '/abs/path/events_1m.csv', 'format' = 'csv');\n\n/* a\n   block */ ;;\nSELECT `key`, `value` * 2 FROM events WHERE `value` % 3 = 0 -- trailing\n;\nSELECT `key`, window_start, window_end, COUNT(*), SUM(`value`)\n  FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(rt), INTERVAL '1' SECOND))\n  GROUP BY `key`, window_start, window_end;\nSELECT word, COUNT(*) FROM lines CROSS JOIN UNNEST(SPLIT(line, ' ')) AS T(word) GROUP BY word;\n  SELECT COUNT(DISTINCT a) FILTER (WHERE b > 1) FROM t\n";
    let parsed = parse_script(script).expect("parses");
    let lines: Vec<u64> = parsed.iter().map(|p| p.line).collect();
    assert_eq!(lines, [2, 6, 8, 11, 12]);
    assert!(matches!(parsed[0].statement, Statement::CreateTable(_)));
    assert!(
        parsed[0].text.starts_with("CREATE TABLE events (")
            && parsed[0].text.ends_with("'format' = 'csv')")
    );
    assert_eq!(
        parsed[1].text,
        "SELECT `key`, `value` * 2 FROM events WHERE `value` % 3 = 0"
    );
    assert_eq!(
        parsed[2].text,
        "SELECT `key`, window_start, window_end, COUNT(*), SUM(`value`)\n  FROM TABLE(TUMBLE(TABLE events, DESCRIPTOR(rt), INTERVAL '1' SECOND))\n  GROUP BY `key`, window_start, window_end"
    );
    assert_eq!(
        parsed[4].text,
        "SELECT COUNT(DISTINCT a) FILTER (WHERE b > 1) FROM t"
    );
    let Statement::CreateTable(t) = &parsed[0].statement else {
        panic!()
    };
    let names: Vec<&str> = t.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["ts_millis", "key", "value", "rt"]);
    assert_eq!(t.watermark.as_ref().map(|w| w.column.as_str()), Some("rt"));

    assert!(parse_script("").expect("empty").is_empty());
    assert!(parse_script(" ; -- nothing\n;").expect("empty").is_empty());
    let parsed = parse_script("SELECT 'é' AS x; SELECT 2").expect("parses");
    assert_eq!(parsed[0].text, "SELECT 'é' AS x");
    assert_eq!(parsed[1].text, "SELECT 2");
}
