//! Issue 20: regular joins (inner, left, right, full), Top-N, deduplication and aggregates
//! over updating inputs on generated input, each checked against a computation here (a nested-loop join, a sort per partition):
//! the changelog a `print` sink shows must end in exactly those rows, at parallelism 1 and 2.

mod common;

use std::collections::BTreeMap;

use common::cli::path;
use common::sql::run_local as run;

/// Orders `(id, customer, amount)`: customers 0..40, some of them without a row in customers.
fn orders() -> Vec<(i64, i64, i64)> {
    (0..3000)
        .map(|i| (i, (i * 7) % 40, (i * 13) % 100))
        .collect()
}

/// Customers `(id, name, min_amount)`: ids 5..50 (orders of 0..5 match nothing; 40..50 order
/// nothing), the even ones twice (two rows per key).
fn customers() -> Vec<(i64, String, i64)> {
    let mut c = Vec::new();
    for id in 5..50 {
        c.push((id, format!("c{id}"), id % 30));
        if id % 2 == 0 {
            c.push((id, format!("c{id}b"), 0));
        }
    }
    c
}

/// The joined rows `order id, amount, customer name, customer id` by nested loops.
fn expected(kind: &str) -> BTreeMap<String, u64> {
    let (o, c) = (orders(), customers());
    let mut rows = BTreeMap::new();
    let mut add = |r: String| *rows.entry(r).or_insert(0) += 1;
    let matches = |(_, cust, amount): &(i64, i64, i64), (id, _, min): &(i64, String, i64)| {
        cust == id && amount >= min
    };
    for order in &o {
        let mut any = false;
        for cu in c.iter().filter(|cu| matches(order, cu)) {
            any = true;
            add(format!("{}, {}, {}, {}", order.0, order.2, cu.1, cu.0));
        }
        if !any && (kind == "LEFT" || kind == "FULL") {
            add(format!("{}, {}, NULL, NULL", order.0, order.2));
        }
    }
    if kind == "RIGHT" || kind == "FULL" {
        for cu in &c {
            if !o.iter().any(|order| matches(order, cu)) {
                add(format!("NULL, NULL, {}, {}", cu.1, cu.0));
            }
        }
    }
    rows
}

/// Writes `orders()` and `customers()` as CSV files.
fn write_orders_and_customers(o: &std::path::Path, c: &std::path::Path) {
    let lines: String = orders()
        .iter()
        .map(|(i, cu, a)| format!("{i},{cu},{a}\n"))
        .collect();
    std::fs::write(o, lines).expect("orders");
    let lines: String = customers()
        .iter()
        .map(|(i, n, m)| format!("{i},{n},{m}\n"))
        .collect();
    std::fs::write(c, lines).expect("customers");
}

#[test]
fn joins_end_in_the_nested_loop_rows() {
    let dir = common::temp_dir("sql-joins");
    let (o, c) = (dir.join("orders.csv"), dir.join("customers.csv"));
    write_orders_and_customers(&o, &c);
    for kind in ["INNER", "LEFT", "RIGHT", "FULL"] {
        for p in [1, 2] {
            let script = format!(
                "CREATE TABLE orders (id BIGINT, customer BIGINT, amount BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
                 CREATE TABLE customers (id BIGINT, name STRING, min_amount BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
                 CREATE TABLE out (order_id BIGINT, amount BIGINT, name STRING, customer BIGINT) WITH ('connector' = 'print');
                 SET 'table.exec.state.ttl' = '1 h';
                 INSERT INTO out SELECT o.id, o.amount, c.name, c.id
                 FROM orders AS o {kind} JOIN customers AS c ON o.customer = c.id AND o.amount >= c.min_amount;",
                path(&o),
                path(&c)
            );
            let got = run(&dir, &format!("{kind}-{p}"), &script, p);
            let want = expected(kind);
            assert!(!want.is_empty());
            assert!(
                got == want,
                "{kind} JOIN at p={p}: {} rows, {} expected",
                got.values().sum::<u64>(),
                want.values().sum::<u64>()
            );
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Items `(id, category, price, ts)` in a scrambled order; prices and timestamps are distinct.
fn items() -> Vec<(i64, i64, i64, i64)> {
    (0..5000)
        .map(|i| {
            let id = (i * 7919) % 5000;
            (
                id,
                id % 7,
                (id * 31) % 5000,
                1_700_000_000_000 + (id * 37) % 5000,
            )
        })
        .collect()
}

/// Writes `items()` as `dir/items.csv`; the `CREATE TABLE items` over it.
fn write_items(dir: &std::path::Path) -> String {
    let input = dir.join("items.csv");
    let lines: String = items()
        .iter()
        .map(|(i, c, p, t)| format!("{i},{c},{p},{t}\n"))
        .collect();
    std::fs::write(&input, lines).expect("items");
    format!(
        "CREATE TABLE items (id BIGINT, category BIGINT, price BIGINT, ts BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');",
        path(&input)
    )
}

#[test]
fn top_n_and_deduplication_end_in_the_sorted_rows() {
    let dir = common::temp_dir("sql-top-n");
    let table = write_items(&dir);
    let mut by_category: BTreeMap<i64, Vec<(i64, i64, i64, i64)>> = BTreeMap::new();
    for it in items() {
        by_category.entry(it.1).or_default().push(it);
    }
    // Top 3 by price, the row number kept.
    let mut want = BTreeMap::new();
    for (c, rows) in &by_category {
        let mut rows = rows.clone();
        rows.sort_by_key(|r| std::cmp::Reverse(r.2));
        for (rank, r) in rows.iter().take(3).enumerate() {
            want.insert(format!("{c}, {}, {}, {}", r.0, r.2, rank + 1), 1);
        }
    }
    // The first row per category by ts (deduplication, keep first; the ts are distinct).
    let mut first = BTreeMap::new();
    for it in items() {
        let e = first.entry(it.1).or_insert(it);
        if it.3 < e.3 {
            *e = it;
        }
    }
    let dedup: BTreeMap<String, u64> = first
        .values()
        .map(|r| (format!("{}, {}, {}", r.1, r.0, r.3), 1))
        .collect();
    for p in [1, 2] {
        let script = format!(
            "{table}
             CREATE TABLE top (category BIGINT, id BIGINT, price BIGINT, rn BIGINT) WITH ('connector' = 'print');
             INSERT INTO top SELECT category, id, price, rn FROM (
               SELECT *, ROW_NUMBER() OVER (PARTITION BY category ORDER BY price DESC) AS rn FROM items
             ) WHERE rn <= 3;"
        );
        assert_eq!(
            run(&dir, &format!("top-{p}"), &script, p),
            want,
            "Top-3 at p={p}"
        );
        let script = format!(
            "{table}
             CREATE TABLE firsts (category BIGINT, id BIGINT, ts BIGINT) WITH ('connector' = 'print');
             INSERT INTO firsts SELECT category, id, ts FROM (
               SELECT id, category, ts, ROW_NUMBER() OVER (PARTITION BY category ORDER BY ts ASC) AS row_num FROM items
             ) WHERE row_num = 1;"
        );
        assert_eq!(
            run(&dir, &format!("dedup-{p}"), &script, p),
            dedup,
            "deduplication at p={p}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn with_order_by_and_limit_end_in_the_sorted_rows() {
    let dir = common::temp_dir("sql-limit");
    let table = format!(
        "{}\nCREATE TABLE out (id BIGINT, price BIGINT) WITH ('connector' = 'print');",
        write_items(&dir)
    );
    let mut cheap: Vec<(i64, i64)> = items()
        .iter()
        .filter(|r| r.1 < 3)
        .map(|r| (r.0, r.2))
        .collect();
    cheap.sort_by_key(|r| std::cmp::Reverse(r.1));
    let top: BTreeMap<String, u64> = cheap
        .iter()
        .take(5)
        .map(|(i, p)| (format!("{i}, {p}"), 1))
        .collect();
    cheap.sort_by_key(|r| r.1);
    let bottom: BTreeMap<String, u64> = cheap
        .iter()
        .take(3)
        .map(|(i, p)| (format!("{i}, {p}"), 1))
        .collect();
    let all: std::collections::BTreeSet<String> = items()
        .iter()
        .map(|r| format!("{}, {}", r.0, r.2))
        .collect();
    for p in [1, 2] {
        // Two expressions, the second over the first; the top 5 by price, descending.
        let script = format!(
            "{table}
             INSERT INTO out WITH some AS (SELECT id, price, category FROM items WHERE category < 5),
               cheap AS (SELECT id, price FROM some WHERE category < 3)
             SELECT id, price FROM cheap ORDER BY price DESC LIMIT 5;"
        );
        assert_eq!(run(&dir, &format!("top-{p}"), &script, p), top, "p={p}");
        // By position, ascending.
        let script = format!(
            "{table}
             INSERT INTO out WITH cheap AS (SELECT id, price FROM items WHERE category < 3)
             SELECT * FROM cheap ORDER BY 2 LIMIT 3;"
        );
        assert_eq!(
            run(&dir, &format!("bottom-{p}"), &script, p),
            bottom,
            "p={p}"
        );
        // LIMIT alone: any 4 rows of the input.
        let script = format!("{table}\nINSERT INTO out SELECT id, price FROM items LIMIT 4;");
        let got = run(&dir, &format!("limit-{p}"), &script, p);
        assert_eq!(got.values().sum::<u64>(), 4, "p={p}: {got:?}");
        assert!(got.keys().all(|r| all.contains(r)), "p={p}: {got:?}");
    }
    // ORDER BY without LIMIT is refused, naming the way out.
    let refused = rill::sql::session::Session::new()
        .execute_script(&format!(
            "{table}\nINSERT INTO out SELECT id, price FROM items ORDER BY price;"
        ))
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        refused.contains("ORDER BY without LIMIT on a stream"),
        "{refused}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Sales `(shop, item, amount)`: items sold a varying number of times.
fn sales() -> Vec<(i64, i64, i64)> {
    (0..4000i64)
        .map(|i| (i % 7, (i * i + 3 * i) % 61, (i * 37) % 101))
        .collect()
}

/// Writes `sales()` as a CSV file.
fn write_sales(file: &std::path::Path) {
    let lines: String = sales()
        .iter()
        .map(|(a, b, c)| format!("{a},{b},{c}\n"))
        .collect();
    std::fs::write(file, lines).expect("sales");
}

/// Writes `sales.csv`, `orders.csv` and `customers.csv` into `dir`; their paths.
fn write_sales_orders_customers(
    dir: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let (s, o, c) = (
        dir.join("sales.csv"),
        dir.join("orders.csv"),
        dir.join("customers.csv"),
    );
    write_sales(&s);
    write_orders_and_customers(&o, &c);
    (s, o, c)
}

/// Runs each `(name, query, expected rows)` after `tables` at p=1 and 2 and checks the rows
/// its changelog ends with.
fn run_each(dir: &std::path::Path, tables: &str, queries: &[(&str, &str, &BTreeMap<String, u64>)]) {
    for (name, query, want) in queries {
        for p in [1, 2] {
            let got = run(
                dir,
                &format!("{name}-{p}"),
                &format!("{tables}\n{query}"),
                p,
            );
            assert!(
                &&got == want,
                "{name} at p={p}: got {got:?}, expected {want:?}"
            );
        }
    }
}

#[test]
fn aggregates_over_updating_inputs_end_in_the_recomputed_rows() {
    let dir = common::temp_dir("sql-retract");
    let (s, o, c) = write_sales_orders_customers(&dir);

    // Per (shop, item): its count and total; then per count: how many items, the sum, min,
    // max and average of their totals, and how many shops.
    let mut per_item: BTreeMap<(i64, i64), (i64, i64)> = BTreeMap::new();
    for (shop, item, amount) in sales() {
        let e = per_item.entry((shop, item)).or_default();
        e.0 += 1;
        e.1 += amount;
    }
    let mut per_count: BTreeMap<i64, Vec<(i64, i64)>> = BTreeMap::new();
    for ((shop, _), (cnt, total)) in &per_item {
        per_count.entry(*cnt).or_default().push((*shop, *total));
    }
    assert!(per_count.len() > 3, "the counts vary");
    let mut want_nested = BTreeMap::new();
    let mut want_distinct = BTreeMap::new();
    for (cnt, items) in &per_count {
        let totals: Vec<i64> = items.iter().map(|i| i.1).collect();
        let sum: i64 = totals.iter().sum();
        let shops: std::collections::BTreeSet<i64> = items.iter().map(|i| i.0).collect();
        let row = format!(
            "{cnt}, {}, {sum}, {}, {}, {}, {}",
            items.len(),
            totals.iter().min().expect("an item"),
            totals.iter().max().expect("an item"),
            sum / items.len() as i64,
            shops.len()
        );
        want_nested.insert(row, 1u64);
        want_distinct.insert(cnt.to_string(), 1u64);
    }
    // Per customer name (NULL for orders that match none): orders and their amount, from the
    // nested-loop LEFT JOIN's rows `order, amount, name, customer`.
    let mut per_name: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for (row, n) in expected("LEFT") {
        let f: Vec<&str> = row.split(", ").collect();
        let e = per_name.entry(f[2].to_string()).or_default();
        e.0 += n as i64;
        e.1 += f[1].parse::<i64>().expect("an amount") * n as i64;
    }
    let want_join: BTreeMap<String, u64> = per_name
        .iter()
        .map(|(name, (n, sum))| (format!("{name}, {n}, {sum}"), 1))
        .collect();

    let tables = format!(
        "CREATE TABLE sales (shop BIGINT, item BIGINT, amount BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
         CREATE TABLE orders (id BIGINT, customer BIGINT, amount BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
         CREATE TABLE customers (id BIGINT, name STRING, min_amount BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
         CREATE VIEW items AS SELECT shop, item, COUNT(*) AS cnt, SUM(amount) AS total FROM sales GROUP BY shop, item;",
        path(&s),
        path(&o),
        path(&c)
    );
    let queries = [
        (
            "nested",
            "CREATE TABLE out (cnt BIGINT, items BIGINT, total BIGINT, lo BIGINT, hi BIGINT, mean BIGINT, shops BIGINT) WITH ('connector' = 'print');
             INSERT INTO out SELECT cnt, COUNT(*), SUM(total), MIN(total), MAX(total), AVG(total), COUNT(DISTINCT shop) FROM items GROUP BY cnt;",
            &want_nested,
        ),
        (
            "distinct",
            "CREATE TABLE out (cnt BIGINT) WITH ('connector' = 'print');
             INSERT INTO out SELECT DISTINCT cnt FROM items;",
            &want_distinct,
        ),
        (
            "join",
            "CREATE TABLE out (name STRING, orders BIGINT, amount BIGINT) WITH ('connector' = 'print');
             INSERT INTO out SELECT c.name, COUNT(*), SUM(o.amount)
             FROM orders AS o LEFT JOIN customers AS c ON o.customer = c.id AND o.amount >= c.min_amount
             GROUP BY c.name;",
            &want_join,
        ),
    ];
    run_each(&dir, &tables, &queries);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn split_distinct_aggregates_end_in_the_recomputed_rows() {
    let dir = common::temp_dir("sql-split-distinct");
    let s = dir.join("sales.csv");
    write_sales(&s);
    let mut per_shop: BTreeMap<i64, Vec<(i64, i64)>> = BTreeMap::new();
    for (shop, item, amount) in sales() {
        per_shop.entry(shop).or_default().push((item, amount));
    }
    let want: BTreeMap<String, u64> = per_shop
        .iter()
        .map(|(shop, rows)| {
            let items: std::collections::BTreeSet<i64> = rows.iter().map(|r| r.0).collect();
            let cheap: std::collections::BTreeSet<i64> =
                rows.iter().filter(|r| r.1 < 50).map(|r| r.0).collect();
            let amounts = rows.iter().map(|r| r.1);
            let row = format!(
                "{shop}, {}, {}, {}, {}, {}, {}",
                items.len(),
                cheap.len(),
                rows.len(),
                amounts.clone().sum::<i64>(),
                amounts.clone().max().expect("a row"),
                amounts.min().expect("a row"),
            );
            (row, 1)
        })
        .collect();
    for (split, buckets) in [("true", 4), ("true", 1024), ("false", 1024)] {
        let script = format!(
            "SET 'table.optimizer.distinct-agg.split.enabled' = '{split}';
             SET 'table.optimizer.distinct-agg.split.bucket-num' = '{buckets}';
             CREATE TABLE sales (shop BIGINT, item BIGINT, amount BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
             CREATE TABLE out (shop BIGINT, items BIGINT, cheap_items BIGINT, n BIGINT, total BIGINT, hi BIGINT, lo BIGINT) WITH ('connector' = 'print');
             INSERT INTO out SELECT shop, COUNT(DISTINCT item), COUNT(DISTINCT item) FILTER (WHERE amount < 50),
               COUNT(*), SUM(amount), MAX(amount), MIN(amount) FROM sales GROUP BY shop;",
            path(&s)
        );
        let plan = common::sql::explain(&script);
        assert_eq!(
            plan.matches("GroupAggregate").count(),
            if split == "true" { 2 } else { 1 },
            "{plan}"
        );
        assert_eq!(
            plan.contains(&format!("HASH_CODE(item) % {buckets}")),
            split == "true",
            "{plan}"
        );
        for p in [1, 2] {
            let got = run(&dir, &format!("split-{split}-{buckets}-{p}"), &script, p);
            assert!(
                got == want,
                "split {split} ({buckets} buckets) at p={p}: got {got:?}, expected {want:?}"
            );
        }
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn row_fields_and_comma_joins_end_in_the_nested_loop_rows() {
    let dir = common::temp_dir("sql-row-fields");
    let (o, c) = (dir.join("orders.json"), dir.join("customers.csv"));
    write_orders_and_customers(&dir.join("orders.csv"), &c);
    // The orders as JSON, amount and customer inside a nested object (a ROW column).
    let lines: String = orders()
        .iter()
        .map(|(i, cu, a)| {
            format!("{{\"id\": {i}, \"detail\": {{\"customer\": {cu}, \"amount\": {a}}}}}\n")
        })
        .collect();
    std::fs::write(&o, lines).expect("orders");
    let script = format!(
        "CREATE TABLE orders (id BIGINT, detail ROW<customer BIGINT, amount BIGINT>) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'json');
         CREATE TABLE customers (id BIGINT, name STRING, min_amount BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
         CREATE VIEW flat AS SELECT orders.id, orders.detail.customer, detail.amount FROM orders;
         CREATE TABLE out (order_id BIGINT, amount BIGINT, name STRING, customer BIGINT) WITH ('connector' = 'print');
         INSERT INTO out SELECT o.id, o.amount, c.name, c.id FROM flat AS o, customers AS c
         WHERE o.customer = c.id AND o.amount >= c.min_amount;",
        path(&o),
        path(&c)
    );
    let plan = common::sql::explain(&script);
    assert!(
        plan.contains("detail.customer") && plan.contains("joinType=[Inner]"),
        "{plan}"
    );
    for p in [1, 2] {
        let got = run(&dir, &format!("fields-{p}"), &script, p);
        assert!(got == expected("INNER"), "p={p}: {} rows", got.len());
    }
    let e = rill::sql::session::Session::new()
        .execute_script(&script.replace("detail.amount FROM", "detail.price FROM"))
        .expect_err("no such field");
    assert!(e.to_string().contains("customer, amount"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn joins_of_updating_inputs_end_in_the_recomputed_rows() {
    let dir = common::temp_dir("sql-join-updating");
    let (s, o, c) = write_sales_orders_customers(&dir);
    // The items sold most often per shop (Nexmark q5's shape: a join of an aggregate with the
    // maximum of that aggregate).
    let mut per_item: BTreeMap<(i64, i64), i64> = BTreeMap::new();
    for (shop, item, _) in sales() {
        *per_item.entry((shop, item)).or_default() += 1;
    }
    let mut top: BTreeMap<i64, i64> = BTreeMap::new();
    for ((shop, _), n) in &per_item {
        let m = top.entry(*shop).or_default();
        *m = (*m).max(*n);
    }
    let want_top: BTreeMap<String, u64> = per_item
        .iter()
        .filter(|((shop, _), n)| top.get(shop) == Some(n))
        .map(|((shop, item), n)| (format!("{shop}, {item}, {n}"), 1))
        .collect();
    // Each customer row with its orders' count, NULL for a customer without orders.
    let mut per_customer: BTreeMap<i64, i64> = BTreeMap::new();
    for (_, customer, _) in orders() {
        *per_customer.entry(customer).or_default() += 1;
    }
    let mut want_left: BTreeMap<String, u64> = BTreeMap::new();
    for (id, name, _) in customers() {
        let n = per_customer
            .get(&id)
            .map_or("NULL".to_string(), |n| n.to_string());
        *want_left.entry(format!("{name}, {n}")).or_default() += 1;
    }
    let tables = format!(
        "CREATE TABLE sales (shop BIGINT, item BIGINT, amount BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
         CREATE TABLE orders (id BIGINT, customer BIGINT, amount BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
         CREATE TABLE customers (id BIGINT, name STRING, min_amount BIGINT) WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv');
         CREATE VIEW items AS SELECT shop, item, COUNT(*) AS n FROM sales GROUP BY shop, item;",
        path(&s),
        path(&o),
        path(&c)
    );
    let queries = [
        (
            "top",
            "CREATE TABLE out (shop BIGINT, item BIGINT, n BIGINT) WITH ('connector' = 'print');
             INSERT INTO out SELECT i.shop, i.item, i.n FROM items AS i
             JOIN (SELECT shop, MAX(n) AS maxn FROM items GROUP BY shop) AS m
             ON i.shop = m.shop AND i.n >= m.maxn;",
            &want_top,
        ),
        (
            "left",
            "CREATE TABLE out (name STRING, orders BIGINT) WITH ('connector' = 'print');
             INSERT INTO out SELECT c.name, o.n FROM customers AS c
             LEFT JOIN (SELECT customer, COUNT(*) AS n FROM orders GROUP BY customer) AS o
             ON c.id = o.customer;",
            &want_left,
        ),
    ];
    run_each(&dir, &tables, &queries);
    std::fs::remove_dir_all(&dir).ok();
}
