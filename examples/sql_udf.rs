//! A `rill` binary with a user's own SQL function, written in Rust.
//!
//! `count_char(s, c)` counts the occurrences of the character `c` in `s` (`0` for a `NULL`
//! string), as Nexmark's `CountChar` does. It is registered under its name, so a script calls
//! `count_char(extra, 'c')` directly, and under the Java class name Nexmark's query 14 gives,
//! so the query's `CREATE FUNCTION count_char AS 'com.github.nexmark.flink.udf.CountChar'`
//! runs unchanged.
//!
//! Build and use it as the `rill` binary (every node of a cluster runs it):
//!
//! ```text
//! cargo build --release --example sql_udf
//! target/release/examples/sql_udf sql --local -f query.sql
//! target/release/examples/sql_udf jobmanager …   # and taskmanager, local, run
//! ```

use std::process::ExitCode;

use rill::jobs::JobRegistry;
use rill::sql::functions::udf::ScalarUdf;
use rill::sql::functions::EvalError;
use rill::sql::types::{DataType, Value};

fn count_char(args: &[Value]) -> Result<Value, EvalError> {
    let (Some(text), Some(c)) = (
        args.first().and_then(Value::as_str),
        args.get(1).and_then(Value::as_str),
    ) else {
        return Ok(Value::Int(0));
    };
    let Some(c) = c.chars().next() else {
        return Err(EvalError::Argument {
            function: "count_char".into(),
            reason: "the character to count is an empty string".into(),
        });
    };
    let n = text.chars().filter(|x| *x == c).count();
    Ok(Value::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

fn main() -> ExitCode {
    let count_char = ScalarUdf::new(
        "count_char",
        &[DataType::String, DataType::String],
        DataType::BigInt,
        count_char,
    )
    .with_identifier("com.github.nexmark.flink.udf.CountChar");
    rill::cli::main_with(JobRegistry::bundled().with_function(count_char))
}
