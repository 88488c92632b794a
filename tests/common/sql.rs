//! Helpers for SQL tests: reading back what Flink's formats write; running a statement through
//! the SQL Gateway.

/// Runs `sql` in a SQL Gateway session at `base`: the operation's handle.
pub fn gateway_statement(base: &str, session: &str, sql: &str) -> String {
    let body = serde_json::json!({ "statement": sql }).to_string();
    let a = super::http(
        "POST",
        &format!("{base}/v1/sessions/{session}/statements"),
        Some(&body),
    );
    assert_eq!(a.status, 200, "{sql}: {}", a.json);
    a.json["operationHandle"]
        .as_str()
        .expect("an operation handle")
        .to_string()
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `yyyy-MM-dd HH:mm:ss[.SSS]` (UTC) as epoch milliseconds, as the oracle files hold them.
pub fn epoch_millis(text: &str) -> i64 {
    let n = |s: &str| -> i64 {
        s.parse()
            .unwrap_or_else(|_| panic!("bad timestamp {text:?}"))
    };
    let (date, time) = text
        .split_once(' ')
        .unwrap_or_else(|| panic!("bad timestamp {text:?}"));
    let d: Vec<&str> = date.split('-').collect();
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let t: Vec<&str> = hms.split(':').collect();
    let ms = n(&format!("{frac:0<3}")[..3]);
    let days = days_from_civil(n(d[0]), n(d[1]), n(d[2]));
    ((days * 24 + n(t[0])) * 60 + n(t[1])) * 60_000 + n(t[2]) * 1000 + ms
}

/// A window row `key,start,end,count,sum` with its timestamps as epoch milliseconds.
pub fn window_row_millis(line: &str) -> String {
    let f: Vec<&str> = line.split(',').collect();
    assert_eq!(f.len(), 5, "a window row: {line:?}");
    format!(
        "{},{},{},{},{}",
        f[0],
        epoch_millis(f[1]),
        epoch_millis(f[2]),
        f[3],
        f[4]
    )
}

/// The rows a `print` sink wrote to `stdout`, in order: each row's kind (`+I`, `-U`, `+U`,
/// `-D`) and its text (`a, b`), the subtask prefix (`N> `) dropped.
pub fn changelog(stdout: &str) -> Vec<(&'static str, String)> {
    stdout
        .lines()
        .filter_map(|line| {
            let row = line.split_once("> ").map_or(line, |(_, r)| r);
            let kind = ["+I", "-U", "+U", "-D"]
                .into_iter()
                .find(|k| row.starts_with(k))?;
            let body = row[2..].trim_start_matches('[').trim_end_matches(']');
            Some((kind, body.to_string()))
        })
        .collect()
}

/// The rows a `print` sink's changelog on `stdout` ends with: each row's text (`a, b`) and how
/// many times it is there. `+I`/`+U` add a row, `-D`/`-U` take one away (a retraction of a row
/// that is not there fails the test).
pub fn final_rows(stdout: &str) -> std::collections::BTreeMap<String, u64> {
    let mut rows = std::collections::BTreeMap::new();
    for (kind, body) in changelog(stdout) {
        if kind.starts_with('+') {
            *rows.entry(body).or_insert(0) += 1;
        } else {
            let n = rows
                .get_mut(&body)
                .unwrap_or_else(|| panic!("{kind}[{body}] retracts a row that is not there"));
            *n -= 1;
            if *n == 0 {
                rows.remove(&body);
            }
        }
    }
    rows
}

/// The plan `EXPLAIN` prints for the `INSERT`s of `script` (planned in this process).
pub fn explain(script: &str) -> String {
    let explained = rill::sql::session::Session::new()
        .execute_script(&script.replace("INSERT INTO", "EXPLAIN INSERT INTO"))
        .expect("the script plans");
    format!("{:?}", explained.last().expect("an outcome"))
}

/// Runs `script` (written to `dir/name.sql`) with `rill sql --local -p p`; its standard
/// output, once it exited 0.
pub fn run_local_stdout(dir: &std::path::Path, name: &str, script: &str, p: usize) -> String {
    use crate::common::cli::{finish, path, rill_command, Killed};
    let file = dir.join(format!("{name}.sql"));
    std::fs::write(&file, script).expect("script");
    let p_text = p.to_string();
    let args = ["sql", "--local", "-p", &p_text, "-f", path(&file)];
    let child = Killed(rill_command(&args, &[]).spawn().expect("rill starts"));
    let out = finish(child, std::time::Duration::from_secs(120), "rill sql");
    assert_eq!(out.code, Some(0), "{name}: {}", out.stderr);
    out.stdout
}

/// Runs `script` as [`run_local_stdout`] does; the rows its changelog ends with.
pub fn run_local(
    dir: &std::path::Path,
    name: &str,
    script: &str,
    p: usize,
) -> std::collections::BTreeMap<String, u64> {
    final_rows(&run_local_stdout(dir, name, script, p))
}

/// Nexmark's `ddl_gen.sql` (its `WITH` clause given) and `ddl_views.sql` (the views of
/// `datagen`).
pub fn nexmark_ddl(with: &str) -> String {
    format!(
        "CREATE TABLE datagen (
            event_type int,
            person ROW<id BIGINT, name VARCHAR, emailAddress VARCHAR, creditCard VARCHAR, city VARCHAR, state VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>,
            auction ROW<id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT, reserve BIGINT, `dateTime` TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT, extra VARCHAR>,
            bid ROW<auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR, `dateTime` TIMESTAMP(3), extra VARCHAR>,
            `dateTime` AS CASE WHEN event_type = 0 THEN person.`dateTime` WHEN event_type = 1 THEN auction.`dateTime` ELSE bid.`dateTime` END,
            WATERMARK FOR `dateTime` AS `dateTime` - INTERVAL '4' SECOND
        ) WITH ({with});
        CREATE VIEW person AS SELECT person.id, person.name, person.emailAddress, person.creditCard, person.city, person.state, `dateTime`, person.extra
        FROM datagen WHERE event_type = 0;
        CREATE VIEW auction AS SELECT auction.id, auction.itemName, auction.description, auction.initialBid, auction.reserve, `dateTime`, auction.expires, auction.seller, auction.category, auction.extra
        FROM datagen WHERE event_type = 1;
        CREATE VIEW bid AS SELECT bid.auction, bid.bidder, bid.price, bid.channel, bid.url, `dateTime`, bid.extra
        FROM datagen WHERE event_type = 2;\n"
    )
}
