//! Issue 4's acceptance on event-time semantics: late data (dropped and counted, sent to the
//! late side output, or updating a window within the allowed lateness), idleness, timers of
//! keyed process functions (deduplicated, deletable, processing time on a clock the test sets),
//! evictors, count windows and a custom trigger, each against a hand-computed result.

mod common;

use std::sync::Arc;
use std::time::Duration;

use rill::api::{
    Collector, KeyedContext, KeyedProcessFunction, OutputTag, SourceFunction, SourcePoll, StreamEnv,
};
use rill::eventtime::{Timestamp, WatermarkStrategy};
use rill::graph::JobStatus;
use rill::operators::keyed_process::KeyedProcessOperator;
use rill::operators::window::{WindowOperator, WindowSpec};
use rill::operators::{RuntimeContext, UserError};
use rill::testing::OperatorHarness;
use rill::windowing::assigners::{GlobalWindows, TimeWindows};
use rill::windowing::evictors::{CountEvictor, DeltaEvictor, TimeEvictor};
use rill::windowing::functions::{Incremental, PassResult, Reduce, WindowContext};
use rill::windowing::triggers::{EventTimeTrigger, Trigger, TriggerContext, TriggerResult};
use rill::windowing::{GlobalWindow, TimeWindow};

type Ev = (String, i64);

fn ev(k: &str, v: i64, ts: Timestamp) -> (Ev, Timestamp) {
    ((k.to_string(), v), ts)
}

/// A per-key sum over the windows of `assigner`, as a bare operator in a harness.
fn window_sum(
    assigner: TimeWindows,
    trigger: impl Trigger<Ev, TimeWindow>,
    lateness_ms: i64,
    late: Option<&OutputTag<Ev>>,
) -> OperatorHarness {
    let spec = WindowSpec {
        key: Arc::new(|e: &Ev| e.0.clone()),
        key_ref: None,
        assigner: Arc::new(assigner),
        trigger: Arc::new(trigger),
        allowed_lateness: lateness_ms,
        late_tag: late.cloned(),
    };
    let sum = |a: Ev, b: Ev| (a.0, a.1 + b.1);
    let op = WindowOperator::new(
        "window",
        spec,
        Incremental {
            f: Reduce(Arc::new(sum)),
            result: PassResult,
        },
    );
    let tags: Vec<&str> = late.iter().map(|t| t.id()).collect();
    OperatorHarness::new(Box::new(op), &tags).expect("opens")
}

/// A per-key sum over tumbling 10 ms event-time windows.
fn tumbling_sum(lateness_ms: i64, late: Option<&OutputTag<Ev>>) -> OperatorHarness {
    let size = Duration::from_millis(10);
    window_sum(
        TimeWindows::tumbling_event_time(size),
        EventTimeTrigger,
        lateness_ms,
        late,
    )
}

#[test]
fn late_records_are_dropped_and_counted() {
    let mut h = tumbling_sum(0, None);
    h.process(vec![ev("a", 1, 1), ev("a", 2, 5)])
        .expect("process");
    h.watermark(9).expect("watermark");
    assert_eq!(
        h.take_output::<Ev>().expect("output"),
        [(("a".to_string(), 3), Some(9))],
        "[0, 10) fires at watermark 9 with the window's last timestamp"
    );
    h.process(vec![ev("a", 100, 3), ev("a", 7, 12)])
        .expect("process");
    h.watermark(19).expect("watermark");
    assert_eq!(
        h.take_output::<Ev>().expect("output"),
        [(("a".to_string(), 7), Some(19))],
        "the record at 3 came after its window closed and changed nothing"
    );
    assert_eq!(h.metrics().snapshot().late_records_dropped, 1);
    assert_eq!(h.watermarks(), [9, 19]);
}

#[test]
fn late_records_go_to_the_late_side_output() {
    let late = OutputTag::<Ev>::new("late");
    let mut h = tumbling_sum(0, Some(&late));
    h.process(vec![ev("a", 1, 1)]).expect("process");
    h.watermark(15).expect("watermark");
    h.process(vec![ev("a", 40, 4), ev("b", 50, 8), ev("a", 6, 16)])
        .expect("process");
    assert_eq!(
        h.take_side::<Ev>("late").expect("side"),
        [
            (("a".to_string(), 40), Some(4)),
            (("b".to_string(), 50), Some(8))
        ]
    );
    h.watermark(30).expect("watermark");
    assert_eq!(
        h.take_output::<Ev>().expect("output"),
        [
            (("a".to_string(), 1), Some(9)),
            (("a".to_string(), 6), Some(19))
        ]
    );
    assert_eq!(
        h.metrics().snapshot().late_records_dropped,
        0,
        "sent, not dropped"
    );
}

#[test]
fn allowed_lateness_updates_the_window_until_cleanup() {
    let mut h = tumbling_sum(10, None);
    h.process(vec![ev("a", 1, 1), ev("a", 2, 2)])
        .expect("process");
    h.watermark(12).expect("watermark");
    // Within the lateness (cleanup at 9 + 10 = 19): each late record fires the window again.
    h.process(vec![ev("a", 10, 5)]).expect("process");
    h.process(vec![ev("a", 20, 7)]).expect("process");
    h.watermark(19).expect("watermark");
    // Past the cleanup time: dropped.
    h.process(vec![ev("a", 1000, 3)]).expect("process");
    h.watermark(40).expect("watermark");
    let firings = h.take_output::<Ev>().expect("output");
    let sums: Vec<i64> = firings.iter().map(|((_, s), _)| *s).collect();
    assert_eq!(
        sums,
        [3, 13, 33],
        "one on-time firing, then one per late record"
    );
    assert_eq!(firings.len(), 3);
    assert_eq!(h.metrics().snapshot().late_records_dropped, 1);
}

/// Registers timers at `ts + 10` twice (deduplicated) and, for key `"del"`, deletes it again;
/// also a processing-time timer at `now + 100` twice. Emits `key@time:domain` on each firing.
#[derive(Clone)]
struct Timers;

impl KeyedProcessFunction<String, Ev, String> for Timers {
    fn process_element(
        &mut self,
        value: Ev,
        ctx: &mut KeyedContext<'_, String>,
        _out: &mut Collector<'_, String>,
    ) -> Result<(), UserError> {
        let ts = ctx.timestamp().ok_or("no timestamp")?;
        ctx.register_event_time_timer(ts + 10);
        ctx.register_event_time_timer(ts + 10);
        let p = ctx.current_processing_time() + 100;
        ctx.register_processing_time_timer(p);
        ctx.register_processing_time_timer(p);
        if value.0 == "del" {
            ctx.delete_event_time_timer(ts + 10);
            ctx.delete_processing_time_timer(p);
        }
        Ok(())
    }

    fn on_timer(
        &mut self,
        timestamp: Timestamp,
        ctx: &mut KeyedContext<'_, String>,
        out: &mut Collector<'_, String>,
    ) -> Result<(), UserError> {
        out.collect(format!(
            "{}@{timestamp}:{:?}",
            ctx.current_key(),
            ctx.time_domain()
        ));
        Ok(())
    }
}

#[test]
fn timers_fire_once_per_key_and_time_and_deleted_ones_never() {
    let op = KeyedProcessOperator::new("timers", Arc::new(|e: &Ev| e.0.clone()), Timers);
    let mut h = OperatorHarness::new(Box::new(op), &[]).expect("opens");
    h.set_processing_time(1_000).expect("clock");
    h.process(vec![ev("k", 1, 5), ev("k", 2, 5), ev("del", 3, 5)])
        .expect("process");
    h.watermark(14).expect("watermark");
    assert!(
        h.take_output::<String>().expect("output").is_empty(),
        "not due at 14"
    );
    h.watermark(15).expect("watermark");
    let fired = h.take_output::<String>().expect("output");
    assert_eq!(
        fired,
        [("k@15:Some(EventTime)".to_string(), Some(15))],
        "registered three times for k at 15, fired once; deleted for del"
    );
    // Processing time moves only when the test says so.
    h.set_processing_time(1_099).expect("clock");
    assert!(h.take_output::<String>().expect("output").is_empty());
    h.set_processing_time(1_100).expect("clock");
    assert_eq!(
        h.take_output::<String>().expect("output"),
        [("k@1100:Some(ProcessingTime)".to_string(), None)]
    );
    h.set_processing_time(5_000).expect("clock");
    assert!(
        h.take_output::<String>().expect("output").is_empty(),
        "nothing left"
    );
}

#[test]
fn processing_time_windows_fire_on_the_test_clock() {
    let mut h = window_sum(
        TimeWindows::tumbling_processing_time(Duration::from_millis(100)),
        rill::windowing::triggers::ProcessingTimeTrigger,
        0,
        None,
    );
    h.set_processing_time(1_010).expect("clock");
    h.process_untimed(vec![("a".to_string(), 1i64), ("a".to_string(), 2)])
        .expect("process");
    h.set_processing_time(1_098).expect("clock");
    assert!(h.take_output::<Ev>().expect("output").is_empty());
    h.set_processing_time(1_099).expect("clock");
    assert_eq!(
        h.take_output::<Ev>().expect("output"),
        [(("a".to_string(), 3), Some(1_099))],
        "[1000, 1100) fires when the clock reaches its last millisecond"
    );
    h.set_processing_time(1_100).expect("clock");
    h.process_untimed(vec![("a".to_string(), 4i64)])
        .expect("process");
    h.set_processing_time(1_250).expect("clock");
    assert_eq!(
        h.take_output::<Ev>().expect("output"),
        [(("a".to_string(), 4), Some(1_199))]
    );
}

/// Runs `build` on `(key, value, ts)` events with monotonous watermarks; returns the output.
fn run_job<O: rill::api::Data + Ord>(
    events: &[(&str, i64, i64)],
    build: impl FnOnce(rill::api::DataStream<Ev>) -> rill::api::DataStream<O>,
) -> Vec<O> {
    let env = StreamEnv::new("event-time-test");
    env.set_parallelism(1);
    let items: Vec<(String, i64, i64)> = events
        .iter()
        .map(|(k, v, t)| (k.to_string(), *v, *t))
        .collect();
    let strategy = WatermarkStrategy::for_monotonous_timestamps()
        .with_timestamp_assigner(|e: &(String, i64, i64), _| e.2);
    let stream = env
        .from_elements(items)
        .assign_timestamps_and_watermarks(strategy)
        .map(|(k, v, _): (String, i64, i64)| (k, v));
    let sink = build(stream).collect();
    let result = common::run(&env, common::cluster(1, 1));
    assert_eq!(result.status, JobStatus::Finished, "{:?}", result.failure);
    let mut out = sink.take();
    out.sort();
    out
}

// The key type is the stream's (`String`); a window function takes it by reference.
#[allow(clippy::ptr_arg)]
fn sum_values(
    key: &String,
    _ctx: &mut WindowContext<'_, TimeWindow>,
    elements: &[Ev],
    out: &mut Collector<'_, (String, i64)>,
) -> Result<(), UserError> {
    out.collect((key.clone(), elements.iter().map(|e| e.1).sum()));
    Ok(())
}

#[test]
fn evictors_remove_what_flink_removes() {
    // One key, window [0, 100): values 1, 2, 3, 4 at 10, 20, 30, 95.
    let events = [("a", 1, 10), ("a", 2, 20), ("a", 3, 30), ("a", 4, 95)];
    let tumbling = || TimeWindows::tumbling_event_time(Duration::from_millis(100));
    // The last two elements: 3 + 4.
    let count = run_job(&events, |s| {
        s.key_by(|e: &Ev| e.0.clone())
            .window(tumbling())
            .evictor(CountEvictor::of(2))
            .process(sum_values)
    });
    assert_eq!(count, [("a".to_string(), 7)]);
    // Within 70 ms of the newest (95): cutoff 25, so 30 and 95 stay: 3 + 4.
    let time = run_job(&events, |s| {
        s.key_by(|e: &Ev| e.0.clone())
            .window(tumbling())
            .evictor(TimeEvictor::of(Duration::from_millis(70)))
            .process(sum_values)
    });
    assert_eq!(time, [("a".to_string(), 7)]);
    // Values within 2 of the last (4): 2, 3 and 4 stay; a reduce folds them: 9.
    let delta = run_job(&events, |s| {
        s.key_by(|e: &Ev| e.0.clone())
            .window(tumbling())
            .evictor(DeltaEvictor::of(2.5, |a: &Ev, b: &Ev| {
                (a.1 - b.1).abs() as f64
            }))
            .reduce(|a: Ev, b: Ev| (a.0, a.1 + b.1))
    });
    assert_eq!(delta, [("a".to_string(), 9)]);
}

#[test]
fn count_windows_fire_every_n_elements() {
    let events: Vec<(&str, i64, i64)> = (1..=7).map(|i| ("a", i, i)).collect();
    let sum = |a: Ev, b: Ev| (a.0, a.1 + b.1);
    // Tumbling count windows of 3: 1+2+3 and 4+5+6; the 7 never completes a window.
    let tumbling = run_job(&events, |s| {
        s.key_by(|e: &Ev| e.0.clone()).count_window(3).reduce(sum)
    });
    assert_eq!(tumbling, [("a".to_string(), 6), ("a".to_string(), 15)]);
    // The last 3 every 2: [1,2], [2,3,4], [4,5,6].
    let sliding = run_job(&events, |s| {
        s.key_by(|e: &Ev| e.0.clone())
            .count_window_slide(3, 2)
            .reduce(sum)
    });
    assert_eq!(
        sliding,
        [
            ("a".to_string(), 3),
            ("a".to_string(), 9),
            ("a".to_string(), 15)
        ]
    );
}

/// Fires and purges when an element of 100 or more arrives.
struct FireOnLarge;

impl Trigger<Ev, GlobalWindow> for FireOnLarge {
    fn on_element(
        &self,
        element: &Ev,
        _ts: Timestamp,
        _w: &GlobalWindow,
        ctx: &mut TriggerContext<'_>,
    ) -> TriggerResult {
        // Counts elements in the trigger's own state, to show it survives between calls.
        let seen = ctx.with_state(|n: &mut u32| {
            *n += 1;
            *n
        });
        if element.1 >= 100 {
            assert!(seen >= 1);
            ctx.clear_state();
            TriggerResult::FireAndPurge
        } else {
            TriggerResult::Continue
        }
    }
}

#[test]
fn a_custom_trigger_decides_when_windows_fire() {
    let events = [
        ("a", 1, 1),
        ("b", 7, 2),
        ("a", 2, 3),
        ("a", 100, 4),
        ("a", 5, 5),
        ("b", 300, 6),
        ("a", 200, 7),
        ("a", 9, 8),
    ];
    let out = run_job(&events, |s| {
        s.key_by(|e: &Ev| e.0.clone())
            .window(GlobalWindows)
            .trigger(FireOnLarge)
            .reduce(|a: Ev, b: Ev| (a.0, a.1 + b.1))
    });
    // a: 1 + 2 + 100, then 5 + 200 (9 is never fired); b: 7 + 300.
    assert_eq!(
        out,
        [
            ("a".to_string(), 103),
            ("a".to_string(), 205),
            ("b".to_string(), 307)
        ]
    );
}

/// Emits its events once, then nothing, without ending (an input that has gone quiet).
#[derive(Clone)]
struct QuietAfter {
    events: Vec<(String, i64, i64)>,
    sent: bool,
}

impl SourceFunction<(String, i64, i64)> for QuietAfter {
    fn open(&mut self, _ctx: &RuntimeContext) -> Result<(), UserError> {
        Ok(())
    }

    fn poll_next(
        &mut self,
        out: &mut Collector<'_, (String, i64, i64)>,
        _max: usize,
    ) -> Result<SourcePoll, UserError> {
        if !self.sent {
            self.sent = true;
            for e in &self.events {
                out.collect(e.clone());
            }
        }
        Ok(SourcePoll::Idle)
    }
}

/// Two inputs unioned into a tumbling window: one has records, the other none. Returns what
/// the window emitted within `wait`.
fn windows_with_one_silent_input(idleness: Option<Duration>, wait: Duration) -> Vec<(String, i64)> {
    let env = StreamEnv::new("idleness");
    env.set_parallelism(1);
    let strategy = || {
        let s = WatermarkStrategy::for_monotonous_timestamps()
            .with_timestamp_assigner(|e: &(String, i64, i64), _| e.2);
        match idleness {
            Some(d) => s.with_idleness(d),
            None => s,
        }
    };
    let busy = QuietAfter {
        events: (0..50).map(|i| ("a".to_string(), 1, i * 10)).collect(),
        sent: false,
    };
    let silent = QuietAfter {
        events: Vec::new(),
        sent: false,
    };
    let a = env
        .add_source("busy", busy)
        .assign_timestamps_and_watermarks(strategy());
    let b = env
        .add_source("silent", silent)
        .assign_timestamps_and_watermarks(strategy());
    let sink = a
        .union(&b)
        .map(|(k, v, _): (String, i64, i64)| (k, v))
        .key_by(|e: &Ev| e.0.clone())
        .window(TimeWindows::tumbling_event_time(Duration::from_millis(100)))
        .reduce(|a: Ev, b: Ev| (a.0, a.1 + b.1))
        .collect();
    common::with_cluster(
        common::cluster(1, 4),
        Duration::from_secs(30),
        |cluster| async move {
            let job = cluster.submit(&env, None).await.expect("submitted");
            let deadline = tokio::time::Instant::now() + wait;
            // With idleness, the four complete windows [0,100) .. [300,400) fire once the silent
            // input is idle; stop waiting as soon as they are there.
            while tokio::time::Instant::now() < deadline && sink.len() < 4 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            cluster.cancel(job).await.expect("cancelled");
            let result = cluster.wait(job).await.expect("ended");
            assert_eq!(result.status, JobStatus::Canceled);
            let mut out = sink.take();
            out.sort();
            out
        },
    )
}

#[test]
fn an_idle_input_stops_holding_back_windows_only_with_idleness() {
    let fired =
        windows_with_one_silent_input(Some(Duration::from_millis(300)), Duration::from_secs(15));
    assert!(
        fired.len() >= 4,
        "windows [0,100) to [300,400) fire once the silent input is idle: {fired:?}"
    );
    assert!(fired.iter().all(|(k, s)| k == "a" && *s == 10), "{fired:?}");
    // Without idleness the silent input's watermark holds the window back for good. (Waiting
    // longer than the idleness run needed shows the difference; the job is then cancelled.)
    let held = windows_with_one_silent_input(None, Duration::from_millis(2_500));
    assert!(
        held.is_empty(),
        "no window may fire while an input holds the watermark: {held:?}"
    );
}

#[test]
fn the_watermark_operator_assigns_timestamps_and_emits_punctuated_and_periodic_watermarks() {
    use rill::operators::timestamps::TimestampsAndWatermarks;
    // Punctuated: a record with value 0 carries a watermark at its timestamp, emitted right
    // after it (before the records behind it in the same buffer).
    let strategy = WatermarkStrategy::for_punctuated(|e: &Ev, ts| (e.1 == 0).then_some(ts))
        .with_timestamp_assigner(|e: &Ev, _| e.1 * 100 + 5);
    let mut h = OperatorHarness::new(Box::new(TimestampsAndWatermarks::new(strategy, 0)), &[])
        .expect("opens");
    h.process_untimed(vec![
        ("a".to_string(), 3i64),
        ("b".to_string(), 0),
        ("c".to_string(), 7),
    ])
    .expect("process");
    let out = h.take_output::<Ev>().expect("output");
    let ts: Vec<Option<Timestamp>> = out.iter().map(|(_, t)| *t).collect();
    assert_eq!(
        ts,
        [Some(305), Some(5), Some(705)],
        "the assigner's timestamps"
    );
    assert_eq!(h.watermarks(), [5]);
    // Upstream watermarks are not passed on, except the end of input.
    h.watermark(1_000).expect("watermark");
    assert_eq!(h.watermarks(), [5]);
    h.watermark(i64::MAX).expect("watermark");
    assert_eq!(h.watermarks(), [5, i64::MAX]);

    // Periodic: bounded out-of-orderness emits max - 10 - 1 every 200 ms of the test's clock.
    let strategy = WatermarkStrategy::for_bounded_out_of_orderness(Duration::from_millis(10))
        .with_timestamp_assigner(|e: &Ev, _| e.1);
    let mut h = OperatorHarness::new(Box::new(TimestampsAndWatermarks::new(strategy, 200)), &[])
        .expect("opens");
    h.process_untimed(vec![("a".to_string(), 50i64), ("a".to_string(), 40)])
        .expect("process");
    h.set_processing_time(199).expect("clock");
    assert!(h.watermarks().is_empty(), "not before the interval");
    h.set_processing_time(200).expect("clock");
    assert_eq!(h.watermarks(), [39]);
    h.process_untimed(vec![("a".to_string(), 45i64)])
        .expect("process");
    h.set_processing_time(400).expect("clock");
    assert_eq!(h.watermarks(), [39], "no new maximum, no new watermark");
}

#[test]
fn continuous_event_time_trigger_fires_early_and_at_the_end() {
    use rill::windowing::triggers::ContinuousEventTimeTrigger;
    let mut h = window_sum(
        TimeWindows::tumbling_event_time(Duration::from_millis(100)),
        ContinuousEventTimeTrigger::of(Duration::from_millis(30)),
        0,
        None,
    );
    h.process(vec![ev("a", 1, 5), ev("a", 2, 20)])
        .expect("process");
    // The first early firing is at 30 (the interval after the first element's slot).
    h.watermark(29).expect("watermark");
    assert!(h.take_output::<Ev>().expect("output").is_empty());
    h.watermark(30).expect("watermark");
    h.process(vec![ev("a", 4, 50)]).expect("process");
    h.watermark(60).expect("watermark");
    h.watermark(99).expect("watermark");
    let sums: Vec<i64> = h
        .take_output::<Ev>()
        .expect("output")
        .into_iter()
        .map(|((_, s), _)| s)
        .collect();
    // At 30: 1 + 2; at 60: + 4; at 90: unchanged; at 99 (the window's end): unchanged.
    assert_eq!(sums, [3, 7, 7, 7]);
}

#[test]
fn window_all_sees_every_key_in_one_subtask() {
    let events = [("a", 1, 1), ("b", 2, 2), ("c", 3, 150), ("a", 4, 160)];
    let out = run_job(&events, |s| {
        s.window_all(TimeWindows::tumbling_event_time(Duration::from_millis(100)))
            .reduce(|a: Ev, b: Ev| ("all".to_string(), a.1 + b.1))
    });
    assert_eq!(out, [("all".to_string(), 3), ("all".to_string(), 7)]);
}
