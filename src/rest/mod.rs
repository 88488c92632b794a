//! The JobManager's REST API (Flink-compatible paths where sensible). Not built yet: jobs are
//! submitted in process through the Dispatcher actor, as the CLI's `run --local` does.
