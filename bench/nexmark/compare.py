#!/usr/bin/env python3
"""Compares each Nexmark query's result on Flink 2.3 (PyFlink) and on Rill over the same
generated files: both run the query's SELECT (its INSERT into the blackhole, without the
sink), apply the changelog (for an updating query, its final state) and write canonical
lines, sorted; the two must be equal.

Usage: compare.py [--events N] [-p P] [--queries q0,q1,…] [--work DIR] [--rill BIN]
Needs the venv run.sh makes (VENV, default ~/.cache/flink-venv) and a release build of rill.
Exit status 1 if any query differs.

Values are compared as text: timestamps as `yyyy-MM-dd HH:mm:ss.SSS`, numbers as integers
or to 6 significant digits, NULL as `NULL`; each row's columns in the order of their names.
"""
import argparse
import collections
import json
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

# Queries whose result depends on nothing but the events. Not compared: q12 (a
# processing-time window), q18 and q19 (ROW_NUMBER among rows with equal times: which row
# ranks first among ties depends on arrival order).
DETERMINISTIC = "q0 q1 q2 q3 q4 q5 q7 q8 q9 q10 q11 q13 q14 q15 q16 q17 q20 q21 q22 q23".split()

# Flink's collect sink takes an upsert changelog where the planner knows the result's unique
# key: an update comes as +U alone, with no -U for the row it replaces. Such a changelog is
# applied by these keys (q9's ROW_NUMBER ranks per auction id).
UPSERT_KEYS = {"q9": ["id"]}

TIMESTAMP = re.compile(r"^(\d{4}-\d{2}-\d{2})[ T](\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z?$")
NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


def canon(text):
    """The canonical text of a value's text."""
    m = TIMESTAMP.match(text)
    if m:
        frac = (m.group(3) or "").ljust(3, "0")[:3]
        return "%s %s.%s" % (m.group(1), m.group(2), frac)
    if NUMBER.match(text):
        f = float(text)
        if f.is_integer() and abs(f) < 2**53:
            return str(int(f))
        return "%.6g" % f
    return text


def flink_value(v):
    import datetime
    if v is None:
        return "NULL"
    if isinstance(v, datetime.datetime):
        return canon(v.strftime("%Y-%m-%d %H:%M:%S.") + "%03d" % (v.microsecond // 1000))
    return canon(str(v))


def rill_value(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return str(v)
    return canon(str(v))


def apply(changes):
    """The final rows of a changelog of (is_addition, line)."""
    state = collections.Counter()
    for add, line in changes:
        state[line] += 1 if add else -1
    bad = [l for l, n in state.items() if n < 0]
    if bad:
        raise ValueError("a retraction of a row never added: %s" % bad[0])
    return sorted(state.elements())


def apply_upsert(changes, key):
    """The final rows of an upsert changelog of (kind, line): +I and +U replace the row with
    the same key columns (positions in `key`), -D removes it."""
    state = {}
    for kind, line in changes:
        k = tuple(line.split("|")[i] for i in key)
        if kind == "-D":
            state.pop(k, None)
        else:
            state[k] = line
    return sorted(state.values())


def select_script(statements):
    """The statements with the blackhole sink gone and the last INSERT as its SELECT."""
    out = [s for s in statements if not s.upper().startswith("CREATE TABLE NEXMARK_")]
    last = max(i for i, s in enumerate(out) if s.upper().startswith("INSERT"))
    out[last] = re.sub(r"^\s*INSERT\s+INTO\s+\S+\s+", "", out[last], flags=re.I)
    return [s for i, s in enumerate(out) if i == last or not s.upper().startswith("INSERT")]


def run_flink(query, events, p, side):
    from pyflink.table import EnvironmentSettings, TableEnvironment
    import flink_query

    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    conf = t_env.get_config()
    conf.set("parallelism.default", str(p))
    conf.set("table.local-time-zone", "UTC")
    statements = select_script(flink_query.prepare(os.path.join(HERE, "queries"), query, events, side))
    for s in statements[:-1]:
        t_env.execute_sql(s)
    result = t_env.execute_sql(statements[-1])
    names = result.get_table_schema().get_field_names()
    order = sorted(range(len(names)), key=lambda i: names[i])
    changes = []
    with result.collect() as rows:
        for row in rows:
            line = "|".join(flink_value(row[i]) for i in order)
            changes.append((str(row.get_row_kind()), line))
    kinds = {k for k, _ in changes}
    if "+U" in kinds and "-U" not in kinds:
        if query not in UPSERT_KEYS:
            raise ValueError("Flink sent an upsert changelog and %s has no key in UPSERT_KEYS" % query)
        sorted_names = [names[i] for i in order]
        return apply_upsert(changes, [sorted_names.index(n) for n in UPSERT_KEYS[query]])
    return apply([(k in ("+I", "+U"), line) for k, line in changes])


def run_rill(rill, query, events, p, side, work):
    import flink_query

    statements = select_script(flink_query.prepare(os.path.join(HERE, "queries"), query, events, side))
    script = os.path.join(work, "%s.sql" % query)
    with open(script, "w") as f:
        f.write(";\n".join(statements) + ";\n")
    out = subprocess.run([rill, "sql", "--local", "--json", "-p", str(p), "-f", script],
                         capture_output=True, text=True, timeout=1800)
    if out.returncode != 0:
        raise RuntimeError("rill sql failed: %s" % out.stderr[-2000:])
    changes = []
    for line in out.stdout.splitlines():
        if not line.startswith("{"):
            continue
        r = json.loads(line)
        data = r["data"]
        row = "|".join(rill_value(data[k]) for k in sorted(data))
        changes.append((r["op"] in ("+I", "+U"), row))
    return apply(changes)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200000)
    ap.add_argument("-p", type=int, default=2)
    ap.add_argument("--queries", default=",".join(DETERMINISTIC))
    ap.add_argument("--work", default="/tmp/nexmark-compare")
    ap.add_argument("--rill", default=os.path.expanduser("~/.cache/rill-target/release/rill"))
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    events = os.path.join(a.work, "events-%d-%d" % (a.events, a.p))
    if not os.path.exists(os.path.join(events, "part-0.json")):
        subprocess.run([a.rill, "nexmark", "generate", "--events", str(a.events),
                        "--splits", str(a.p), "--out", events], check=True)
    side = os.path.join(a.work, "side_input.txt")
    with open(side, "w") as f:
        f.writelines("%d,%d\n" % (i, i) for i in range(10000))
    failed = []
    for q in a.queries.split(","):
        try:
            flink = run_flink(q, events, a.p, side)
            rill = run_rill(a.rill, q, events, a.p, side, a.work)
        except Exception as e:  # a query one engine cannot run is a difference too
            print("%-4s ERROR %s" % (q, str(e).splitlines()[0][:300]), flush=True)
            failed.append(q)
            continue
        if flink == rill:
            print("%-4s equal: %d rows" % (q, len(rill)), flush=True)
            continue
        failed.append(q)
        only_f = sorted((collections.Counter(flink) - collections.Counter(rill)).elements())
        only_r = sorted((collections.Counter(rill) - collections.Counter(flink)).elements())
        print("%-4s DIFFERENT: Flink %d rows, Rill %d; only Flink's: %d, e.g. %s; only Rill's: %d, e.g. %s"
              % (q, len(flink), len(rill), len(only_f), only_f[:2], len(only_r), only_r[:2]), flush=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
