//! Watermark alignment (Flink's `withWatermarkAlignment`): two sources of one alignment group,
//! one ten times faster than the other in event time. Aligned, the fast one is paused while
//! its watermark is more than the drift ahead of the slow one's, so what arrives downstream
//! never runs far ahead of the slow input; unaligned, it runs to its end at once. When the
//! slow source ends, it holds the fast one back no longer and the job finishes.

mod common;

use std::time::Duration;

use rill::api::{Collector, SourceFunction, SourcePoll, StreamEnv};
use rill::eventtime::WatermarkStrategy;
use rill::graph::JobStatus;
use rill::operators::UserError;

/// Timestamps `next..end`, `per_poll` a poll, then a pause (the subtask's idle backoff).
#[derive(Clone)]
struct Paced {
    tag: u8,
    next: i64,
    end: i64,
    per_poll: i64,
}

impl SourceFunction<(u8, i64)> for Paced {
    fn poll_next(
        &mut self,
        out: &mut Collector<'_, (u8, i64)>,
        _max: usize,
    ) -> Result<SourcePoll, UserError> {
        if self.next >= self.end {
            return Ok(SourcePoll::Finished);
        }
        let stop = (self.next + self.per_poll).min(self.end);
        for t in self.next..stop {
            out.collect((self.tag, t));
        }
        self.next = stop;
        Ok(SourcePoll::Idle)
    }
}

const FAST: u8 = 0;
const SLOW: u8 = 1;
const SLOW_END: i64 = 12_000;
const FAST_END: i64 = 30_000;

/// Runs both sources into one collecting sink; returns what arrived, in order.
fn run(aligned: bool) -> Vec<(u8, i64)> {
    let env = StreamEnv::new("alignment");
    env.set_parallelism(1);
    let strategy = || {
        // A watermark with every record: the test measures the alignment, not a period.
        let s = WatermarkStrategy::for_punctuated(|_: &(u8, i64), ts| Some(ts))
            .with_timestamp_assigner(|e: &(u8, i64), _| e.1);
        if aligned {
            s.with_watermark_alignment_every(
                "g",
                Duration::from_millis(500),
                Duration::from_millis(10),
            )
        } else {
            s
        }
    };
    let fast = env
        .add_source(
            "fast",
            Paced {
                tag: FAST,
                next: 0,
                end: FAST_END,
                per_poll: 100,
            },
        )
        .assign_timestamps_and_watermarks(strategy());
    let slow = env
        .add_source(
            "slow",
            Paced {
                tag: SLOW,
                next: 0,
                end: SLOW_END,
                per_poll: 10,
            },
        )
        .assign_timestamps_and_watermarks(strategy());
    let sink = fast.union(&slow).collect();
    common::with_cluster(
        common::cluster(1, 4),
        Duration::from_secs(60),
        |cluster| async move {
            let job = cluster.submit(&env, None).await.expect("submitted");
            let result = cluster.wait(job).await.expect("ended");
            assert_eq!(result.status, JobStatus::Finished, "{:?}", result.failure);
            sink.take()
        },
    )
}

/// How far the fast input's largest timestamp ran ahead of the slow one's, at most, while the
/// slow one was still going.
fn largest_lead(arrived: &[(u8, i64)]) -> i64 {
    let (mut fast, mut slow, mut lead) = (-1, -1, 0);
    for &(tag, ts) in arrived {
        match tag {
            FAST => fast = fast.max(ts),
            _ => slow = slow.max(ts),
        }
        if slow < SLOW_END - 1 {
            lead = lead.max(fast - slow);
        }
    }
    lead
}

#[test]
fn aligned_sources_stay_within_the_drift_and_an_ended_one_releases_the_others() {
    let aligned = run(true);
    assert_eq!(
        aligned.len() as i64,
        FAST_END + SLOW_END,
        "every record arrives: the fast source went on once the slow one ended"
    );
    let lead = largest_lead(&aligned);
    // The drift is 500 ms; what the fast source makes between a report and the announcement
    // that pauses it comes on top.
    assert!(
        lead <= 4_000,
        "aligned, the fast source ran {lead} ms ahead"
    );

    let free = run(false);
    assert_eq!(free.len() as i64, FAST_END + SLOW_END);
    let lead = largest_lead(&free);
    assert!(
        lead > 8_000,
        "unaligned, the fast source runs ahead ({lead} ms): else the test shows nothing"
    );
}
