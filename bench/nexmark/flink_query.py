#!/usr/bin/env python3
"""One published Nexmark query on Flink (PyFlink, local mini-cluster) over the JSON files
`rill nexmark generate` wrote, with the reference configuration (mini-batch, split distinct).

Usage: flink_query.py QUERY EVENTS_DIR PARALLELISM [--queries DIR] [--side-input FILE]
                      [--q10-output DIR] [--collect OUT]

The texts are bench/nexmark/queries/, changed as Rill's run changes them (README.md there):
ddl_gen.sql's WITH clause reads the files ('filesystem', 'json'); ${NEXMARK_TABLE} is
`datagen`; q10 writes its partitions under --q10-output (a temporary directory, removed after
the run, by default); q13's side input is --side-input; q14's count_char UDF is an
expression; q23's A.dateTime is quoted (unquoted, Flink 2.3 does not parse it).

With --collect, the query's SELECT runs instead of its INSERT into the blackhole, and its
final result (the changelog applied: for an updating query, its last state) goes to OUT as
canonical lines, sorted (compare.py compares them with Rill's).

Prints `JOB_SECONDS <s>` (execute_sql(INSERT).wait(): planning, submission, execution) and
`NET_RUNTIME_SECONDS <s>` (Flink's net runtime of the job in the mini-cluster).
"""
import argparse
import collections
import datetime
import os
import re
import shutil
import tempfile
import time

from pyflink.table import EnvironmentSettings, TableEnvironment


def statements(text):
    """The statements of a script: `--` comments dropped, split at `;`."""
    lines = [l for l in text.splitlines() if not l.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def prepare(queries, name, events, side_input, q10_output=None):
    """The statements that run `query` over the files in `events`, changed as Rill's run
    changes them."""
    def read(file):
        with open(os.path.join(queries, file)) as f:
            return f.read()
    ddl = read("ddl_gen.sql")
    start = ddl.index("'connector' = 'nexmark'")
    end = ddl.rindex(")")
    events = os.path.abspath(events)
    ddl = ddl[:start] + f"'connector' = 'filesystem', 'path' = '{events}', 'format' = 'json'\n" + ddl[end:]
    views = read("ddl_views.sql").replace("${NEXMARK_TABLE}", "datagen")
    query = read(name + ".sql")
    if name == "q10" and q10_output:
        out = os.path.abspath(q10_output) + "/"
        query = query.replace("file://${NEXMARK_DIR}/data/output/${SUBMIT_TIME}/bid/", "file://" + out)
    if name == "q13":
        side = os.path.abspath(side_input)
        query = query.replace("file://${FLINK_HOME}/data/side_input.txt", "file://" + side)
    if name == "q14":
        query = "\n".join(l for l in query.splitlines() if not l.strip().startswith("CREATE FUNCTION"))
        query = query.replace("count_char(extra, 'c')", "CHAR_LENGTH(extra) - CHAR_LENGTH(REPLACE(extra, 'c', ''))")
    if name == "q23":
        query = re.sub(r"\b([A-Z])\.dateTime\b", r"\1.`dateTime`", query)

    return statements(ddl) + statements(views) + statements(query)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("query")
    ap.add_argument("events")
    ap.add_argument("parallelism", type=int)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--queries", default=os.path.join(here, "queries"))
    ap.add_argument("--side-input", default=None)
    ap.add_argument("--collect", default=None)
    ap.add_argument("--q10-output", default=None)
    ap.add_argument("--state-backend", default="hashmap", choices=["hashmap", "rocksdb"])
    a = ap.parse_args()
    q10_output = a.q10_output or tempfile.mkdtemp(prefix="flink-nexmark-q10-")
    try:
        run(a, q10_output)
    finally:
        if a.q10_output is None:
            shutil.rmtree(q10_output, ignore_errors=True)


def run(a, q10_output):
    """Runs the query as `main` parsed it."""
    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    conf = t_env.get_config()
    conf.set("parallelism.default", str(a.parallelism))
    conf.set("table.local-time-zone", "UTC")
    conf.set("pipeline.name", "nexmark-%s" % a.query)
    conf.set("table.exec.mini-batch.enabled", "true")
    conf.set("table.exec.mini-batch.allow-latency", "2s")
    conf.set("table.exec.mini-batch.size", "50000")
    conf.set("table.optimizer.distinct-agg.split.enabled", "true")
    conf.set("state.backend.type", a.state_backend)

    inserts = []
    for s in prepare(a.queries, a.query, a.events, a.side_input, q10_output):
        if a.collect and s.upper().startswith("CREATE TABLE NEXMARK_"):
            continue
        if s.upper().startswith("INSERT"):
            inserts.append(s)
        else:
            t_env.execute_sql(s)
    if a.collect:
        collect(t_env, inserts[-1], a.collect)
        return
    t0 = time.time()
    result = t_env.execute_sql(inserts[-1])
    result.wait()
    job_seconds = time.time() - t0
    net = result.get_job_client().get_job_execution_result().result().get_net_runtime()
    print("JOB_SECONDS %.3f" % job_seconds)
    print("NET_RUNTIME_SECONDS %.3f" % (net / 1000.0))


def select_of(insert):
    """The query of `INSERT INTO table SELECT …`."""
    return re.sub(r"^\s*INSERT\s+INTO\s+\S+\s+", "", insert, flags=re.I)


def canonical(v):
    """A value as text both engines' results are compared in."""
    if v is None:
        return "NULL"
    if isinstance(v, datetime.datetime):
        return v.strftime("%Y-%m-%d %H:%M:%S.") + "%03d" % (v.microsecond // 1000)
    if isinstance(v, float):
        return "%.6g" % v
    return str(v)


def collect(t_env, insert, out):
    """Runs the SELECT of `insert`, applies its changelog and writes the final rows."""
    from pyflink.common import RowKind
    state = collections.Counter()
    with t_env.execute_sql(select_of(insert)).collect() as rows:
        for row in rows:
            line = "|".join(canonical(v) for v in row)
            if row.get_row_kind() in (RowKind.INSERT, RowKind.UPDATE_AFTER):
                state[line] += 1
            else:
                state[line] -= 1
    with open(out, "w") as f:
        for line in sorted(state.elements()):
            f.write(line + "\n")


if __name__ == "__main__":
    main()
