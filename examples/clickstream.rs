//! `clickstream [--rate N] [--pages P] [--window-ms W] [--out-of-orderness-ms O]`: the demo's
//! streaming job, which runs until it is cancelled or stopped. Generated page clicks (N a
//! second over all source subtasks, default 5000) are counted per page in tumbling event-time
//! windows of W ms (default 1000), and the busiest page of each window is picked in one
//! subtask; results are discarded (the dashboard shows the flow).
//!
//! A click's page is drawn from P pages (default 100), skewed toward the first ones (some keys
//! are hot, as in real traffic); its event time is the time it was generated minus a delay of
//! up to O ms (default 500), so events arrive out of order and the watermark trails by O. The
//! source's position is checkpointed state: a restored job goes on after the last click it
//! counted.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::api::StreamEnv;
use crate::eventtime::WatermarkStrategy;
use crate::jobs::windowed_count::{CountSum, Event};
use crate::jobs::{JobArgs, JobError, JobSpec};
use crate::operators::sinks::DiscardSink;
use crate::windowing::assigners::TimeWindows;

/// The registry entry.
pub fn spec() -> JobSpec {
    JobSpec {
        name: "clickstream",
        description: "generated page clicks counted per page in event-time windows, the busiest page per window picked; runs until cancelled",
        usage: "[--rate N] [--pages P] [--window-ms W] [--out-of-orderness-ms O]",
        arguments: &["rate", "pages", "window-ms", "out-of-orderness-ms"],
        build,
    }
}

/// SplitMix64: a well-spread 64-bit hash of a click's number.
fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Click `n`: (event time in ms, page, 1), generated at `now_ms`.
pub fn click(n: u64, now_ms: i64, pages: u64, out_of_orderness_ms: u64) -> Event {
    let h = mix(n);
    // Squaring a uniform draw skews it toward 0: the first pages are the hot ones.
    let u = (h >> 11) as f64 / (1u64 << 53) as f64;
    let page = ((u * u) * pages as f64) as u64 % pages.max(1);
    let delay = (h & 0xffff) % (out_of_orderness_ms + 1);
    (now_ms - delay as i64, format!("page-{page}"), 1)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn build(env: &StreamEnv, args: &JobArgs) -> Result<(), JobError> {
    let rate: u64 = args.parse_or("rate", 5000)?;
    let pages: u64 = args.parse_or("pages", 100)?;
    let window = Duration::from_millis(args.parse_or("window-ms", 1000)?);
    let lateness: u64 = args.parse_or("out-of-orderness-ms", 500)?;
    if rate == 0 || pages == 0 {
        return Err(JobError::BadValue {
            job: "clickstream".into(),
            arg: if rate == 0 { "rate" } else { "pages" }.into(),
            value: "0".into(),
            reason: "it must be at least 1".into(),
        });
    }
    let strategy = WatermarkStrategy::for_bounded_out_of_orderness(Duration::from_millis(lateness))
        .with_timestamp_assigner(|e: &Event, _| e.0);
    let per_page = env
        .sequence(0, u64::MAX - 1)
        .name("Source: Clicks")
        .rate_limit(rate as f64)
        .map(move |n| click(n, now_ms(), pages, lateness))
        .name("Click")
        .assign_timestamps_and_watermarks(strategy)
        .key_by_field(|e: &Event| &e.1)
        .window(TimeWindows::tumbling_event_time(window))
        .aggregate_with(
            CountSum,
            |page: &String,
             ctx: &mut crate::windowing::functions::WindowContext<
                '_,
                crate::windowing::TimeWindow,
            >,
             results: &[(u64, i64)],
             out: &mut crate::api::Collector<'_, (i64, String, u64)>| {
                let end = ctx.window().end;
                for (count, _) in results {
                    out.collect((end, page.clone(), *count));
                }
                Ok(())
            },
        )
        .name("Clicks per page");
    per_page
        .window_all(TimeWindows::tumbling_event_time(window))
        .reduce(|a, b| if b.2 > a.2 { b } else { a })
        .name("Busiest page")
        .add_sink("Discard", DiscardSink::default());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clicks_are_skewed_and_late_within_the_bound() {
        let mut hot = 0;
        for n in 0..10_000 {
            let (ts, page, one) = click(n, 1_000_000, 100, 500);
            assert!((999_500..=1_000_000).contains(&ts), "{ts}");
            assert_eq!(one, 1);
            let p: u64 = page
                .trim_start_matches("page-")
                .parse()
                .expect("page number");
            assert!(p < 100);
            hot += usize::from(p < 25);
        }
        // u² < 1/4 for u < 1/2: about half the clicks go to the first quarter of the pages.
        assert!((4_500..5_500).contains(&hot), "{hot}");
    }

    #[test]
    fn the_job_builds_and_refuses_a_zero_rate() {
        let r = crate::jobs::JobRegistry::bundled();
        let g = r.build("clickstream", &[], Some(2), 1).expect("builds");
        assert!(g.nodes.len() >= 5, "{}", g.nodes.len());
        let args = ["--rate".to_string(), "0".to_string()];
        let e = r
            .build("clickstream", &args, None, 1)
            .expect_err("zero rate");
        assert!(e.to_string().contains("at least 1"), "{e}");
    }
}
