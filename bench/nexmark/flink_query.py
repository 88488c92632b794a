#!/usr/bin/env python3
"""One published Nexmark query on Flink (PyFlink, local mini-cluster) over the JSON files
`rill nexmark generate` wrote, with the reference configuration (mini-batch, split distinct).

Usage: flink_query.py QUERY EVENTS_DIR PARALLELISM [--queries DIR] [--side-input FILE]

The texts are bench/nexmark/queries/, changed as Rill's run changes them (README.md there):
ddl_gen.sql's WITH clause reads the files ('filesystem', 'json'); ${NEXMARK_TABLE} is
`datagen`; q13's side input is --side-input; q14's count_char UDF is an expression; q23's
A.dateTime is quoted (unquoted, Flink 2.3 does not parse it).

Prints `JOB_SECONDS <s>` (execute_sql(INSERT).wait(): planning, submission, execution) and
`NET_RUNTIME_SECONDS <s>` (Flink's net runtime of the job in the mini-cluster).
"""
import argparse
import os
import re
import time

from pyflink.table import EnvironmentSettings, TableEnvironment


def statements(text):
    """The statements of a script: `--` comments dropped, split at `;`."""
    lines = [l for l in text.splitlines() if not l.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("query")
    ap.add_argument("events")
    ap.add_argument("parallelism", type=int)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--queries", default=os.path.join(here, "queries"))
    ap.add_argument("--side-input", default=None)
    a = ap.parse_args()

    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    conf = t_env.get_config()
    conf.set("parallelism.default", str(a.parallelism))
    conf.set("table.local-time-zone", "UTC")
    conf.set("pipeline.name", "nexmark-%s" % a.query)
    conf.set("table.exec.mini-batch.enabled", "true")
    conf.set("table.exec.mini-batch.allow-latency", "2s")
    conf.set("table.exec.mini-batch.size", "50000")
    conf.set("table.optimizer.distinct-agg.split.enabled", "true")

    read = lambda name: open(os.path.join(a.queries, name)).read()
    ddl = read("ddl_gen.sql")
    start = ddl.index("'connector' = 'nexmark'")
    end = ddl.rindex(")")
    events = os.path.abspath(a.events)
    ddl = ddl[:start] + f"'connector' = 'filesystem', 'path' = '{events}', 'format' = 'json'\n" + ddl[end:]
    views = read("ddl_views.sql").replace("${NEXMARK_TABLE}", "datagen")
    query = read(a.query + ".sql")
    if a.query == "q13":
        side = os.path.abspath(a.side_input)
        query = query.replace("file://${FLINK_HOME}/data/side_input.txt", "file://" + side)
    if a.query == "q14":
        query = "\n".join(l for l in query.splitlines() if not l.strip().startswith("CREATE FUNCTION"))
        query = query.replace("count_char(extra, 'c')", "CHAR_LENGTH(extra) - CHAR_LENGTH(REPLACE(extra, 'c', ''))")
    if a.query == "q23":
        query = re.sub(r"\b([A-Z])\.dateTime\b", r"\1.`dateTime`", query)

    inserts = []
    for s in statements(ddl) + statements(views) + statements(query):
        if s.upper().startswith("INSERT"):
            inserts.append(s)
        else:
            t_env.execute_sql(s)
    t0 = time.time()
    result = t_env.execute_sql(inserts[-1])
    result.wait()
    job_seconds = time.time() - t0
    net = result.get_job_client().get_job_execution_result().result().get_net_runtime()
    print("JOB_SECONDS %.3f" % job_seconds)
    print("NET_RUNTIME_SECONDS %.3f" % (net / 1000.0))


if __name__ == "__main__":
    main()
