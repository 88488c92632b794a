#!/usr/bin/env python3
"""Per-key event-time windows (count, sum) in Flink SQL via PyFlink: tumbling 1 s (the
default), sliding 10 s every 2 s, or sessions with a 200 ms gap (Rill's `windowed-count`
defaults, and the oracles' queries).

Usage: tumble.py INPUT_CSV PARALLELISM [--kind tumble|slide|session] [--sink blackhole|csv] [--out DIR]

Input lines are `ts_millis,key,value` (no header). Event time is ts_millis (UTC), the
watermark is rowtime - 1 s. Result rows: key, window_start_ms, window_end_ms, count, sum.

--sink blackhole (default) discards the results (throughput runs);
--sink csv writes them with the filesystem connector as CSV part files under --out.

Prints `JOB_SECONDS <s>`: the wall time of executing the INSERT job (execute_sql(...).wait():
planning, local mini-cluster start-up, submission and execution), excluding Python/JVM start-up
and environment creation; and `NET_RUNTIME_SECONDS <s>`: Flink's JobExecutionResult net
runtime (the job's execution inside the mini-cluster only).
"""
import argparse
import os
import time

from pyflink.table import EnvironmentSettings, TableEnvironment


WINDOWS = {
    "tumble": "TUMBLE(TABLE events, DESCRIPTOR(rowtime), INTERVAL '1' SECOND)",
    "slide": "HOP(TABLE events, DESCRIPTOR(rowtime), INTERVAL '2' SECOND, INTERVAL '10' SECOND)",
    "session": "SESSION(TABLE events PARTITION BY k, DESCRIPTOR(rowtime), INTERVAL '0.2' SECOND)",
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("input")
    ap.add_argument("parallelism", type=int)
    ap.add_argument("--kind", choices=["tumble", "slide", "session"], default="tumble")
    ap.add_argument("--sink", choices=["blackhole", "csv"], default="blackhole")
    ap.add_argument("--out", default=None, help="output directory for --sink csv")
    a = ap.parse_args()

    t_env = TableEnvironment.create(EnvironmentSettings.in_streaming_mode())
    conf = t_env.get_config()
    conf.set("parallelism.default", str(a.parallelism))
    conf.set("table.local-time-zone", "UTC")
    conf.set("pipeline.name", "rill-bench-%s-p%d" % (a.kind, a.parallelism))

    src = os.path.abspath(a.input)
    t_env.execute_sql(f"""
        CREATE TABLE events (
            ts_millis BIGINT,
            k STRING,
            v BIGINT,
            rowtime AS TO_TIMESTAMP_LTZ(ts_millis, 3),
            WATERMARK FOR rowtime AS rowtime - INTERVAL '1' SECOND
        ) WITH (
            'connector' = 'filesystem',
            'path' = '{src}',
            'format' = 'csv'
        )
    """)

    if a.sink == "blackhole":
        sink_with = "'connector' = 'blackhole'"
    else:
        if not a.out:
            ap.error("--sink csv needs --out DIR")
        out = os.path.abspath(a.out)
        sink_with = f"'connector' = 'filesystem', 'path' = '{out}', 'format' = 'csv'"
    t_env.execute_sql(f"""
        CREATE TABLE results (
            k STRING,
            window_start_ms BIGINT,
            window_end_ms BIGINT,
            cnt BIGINT,
            total BIGINT
        ) WITH ({sink_with})
    """)

    # window_start / window_end are TIMESTAMP(3) in the session time zone (UTC); epoch millis =
    # whole seconds since 1970-01-01 00:00:00 (TIMESTAMPDIFF returns INT: fine until 2038)
    # * 1000 + the millisecond field.
    def millis(col):
        return (f"CAST(TIMESTAMPDIFF(SECOND, TIMESTAMP '1970-01-01 00:00:00', {col}) AS BIGINT)"
                f" * 1000 + EXTRACT(MILLISECOND FROM {col})")

    insert = f"""
        INSERT INTO results
        SELECT k,
               {millis('window_start')} AS window_start_ms,
               {millis('window_end')} AS window_end_ms,
               COUNT(*) AS cnt,
               SUM(v) AS total
        FROM TABLE({WINDOWS[a.kind]})
        GROUP BY k, window_start, window_end
    """

    t0 = time.perf_counter()
    result = t_env.execute_sql(insert)
    result.wait()
    t1 = time.perf_counter()
    print("JOB_SECONDS %.3f" % (t1 - t0), flush=True)
    # Flink's own figure: JobExecutionResult.getNetRuntime() (job start to finish inside the
    # local mini-cluster; excludes planning, mini-cluster start-up and submission).
    try:
        jer = result.get_job_client().get_job_execution_result().result()
        print("NET_RUNTIME_SECONDS %.3f" % (jer.get_net_runtime() / 1000.0), flush=True)
    except Exception as e:  # informational only
        print("NET_RUNTIME_SECONDS unavailable: %s" % str(e).splitlines()[0], flush=True)


if __name__ == "__main__":
    main()
