//! A harness that runs one operator by hand, for tests (Flink's operator test harnesses):
//! records with timestamps, watermarks and processing time go in when the test says so, and
//! what the operator emitted, on its main output, side outputs and as watermarks, comes out.
//! Processing time is a clock the test sets; nothing waits on the wall clock.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use crate::data::batch::NO_TIMESTAMP;
use crate::data::Data;
use crate::eventtime::{ProcessingClock, Timestamp};
use crate::metrics::IoMetrics;
use crate::operators::chain::{ChainNode, OutputTarget, Target};
use crate::operators::{Batch, Chain, Operator, OperatorError, Output, RuntimeContext};

#[derive(Default)]
struct Collected {
    main: Vec<Batch>,
    side: Vec<(String, Batch)>,
    watermarks: Vec<Timestamp>,
}

/// Collects what reaches it; the main collector also records watermarks.
struct Collect {
    tag: Option<String>,
    into: Arc<Mutex<Collected>>,
}

impl Collect {
    fn with<R>(&self, f: impl FnOnce(&mut Collected) -> R) -> R {
        f(&mut self.into.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Operator for Collect {
    fn process_batch(
        &mut self,
        _input: usize,
        batch: Batch,
        _out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        let tag = self.tag.clone();
        self.with(|c| match tag {
            None => c.main.push(batch),
            Some(t) => c.side.push((t, batch)),
        });
        Ok(())
    }

    fn process_watermark(
        &mut self,
        watermark: Timestamp,
        _out: &mut Output<'_>,
    ) -> Result<(), OperatorError> {
        if self.tag.is_none() {
            self.with(|c| c.watermarks.push(watermark));
        }
        Ok(())
    }
}

/// Runs one operator, its outputs collected.
pub struct OperatorHarness {
    chain: Chain,
    collected: Arc<Mutex<Collected>>,
    time: Arc<AtomicI64>,
    metrics: Arc<IoMetrics>,
}

fn records_of<T: Data>(batches: Vec<Batch>) -> Result<Vec<(T, Option<Timestamp>)>, OperatorError> {
    let mut out = Vec::new();
    for b in batches {
        let (records, ts) = b.into_parts::<T>()?;
        match ts {
            Some(ts) => out.extend(
                records
                    .into_iter()
                    .zip(ts)
                    .map(|(r, t)| (r, (t != NO_TIMESTAMP).then_some(t))),
            ),
            None => out.extend(records.into_iter().map(|r| (r, None))),
        }
    }
    Ok(out)
}

impl OperatorHarness {
    /// Opens `op` with processing time at 0; `side_tags` are the side outputs to collect.
    pub fn new(op: Box<dyn Operator>, side_tags: &[&str]) -> Result<Self, OperatorError> {
        let collected = Arc::new(Mutex::new(Collected::default()));
        let time = Arc::new(AtomicI64::new(0));
        let metrics = Arc::new(IoMetrics::default());
        let mut ctx = RuntimeContext::standalone("harness");
        ctx.clock = ProcessingClock::manual(time.clone());
        ctx.metrics = Some(metrics.clone());
        let mut outputs = vec![OutputTarget {
            tag: None,
            target: Target::Chained { node: 1, input: 0 },
        }];
        let mut nodes = vec![];
        let mut collectors = vec![ChainNode {
            name: "collect".into(),
            op: Box::new(Collect {
                tag: None,
                into: collected.clone(),
            }),
            outputs: Vec::new(),
            ctx: ctx.clone(),
        }];
        for (i, tag) in side_tags.iter().enumerate() {
            outputs.push(OutputTarget {
                tag: Some(Arc::from(*tag)),
                target: Target::Chained {
                    node: 2 + i,
                    input: 0,
                },
            });
            collectors.push(ChainNode {
                name: format!("collect {tag}"),
                op: Box::new(Collect {
                    tag: Some(tag.to_string()),
                    into: collected.clone(),
                }),
                outputs: Vec::new(),
                ctx: ctx.clone(),
            });
        }
        nodes.push(ChainNode {
            name: "operator".into(),
            op,
            outputs,
            ctx,
        });
        nodes.extend(collectors);
        let mut chain = Chain::new(nodes, Vec::new(), 1);
        chain.open()?;
        Ok(Self {
            chain,
            collected,
            time,
            metrics,
        })
    }

    /// Feeds records with timestamps.
    pub fn process<T: Data>(&mut self, records: Vec<(T, Timestamp)>) -> Result<(), OperatorError> {
        let (records, ts): (Vec<T>, Vec<Timestamp>) = records.into_iter().unzip();
        self.chain.process(0, Batch::timed(records, ts))
    }

    /// Feeds records without timestamps.
    pub fn process_untimed<T: Data>(&mut self, records: Vec<T>) -> Result<(), OperatorError> {
        self.chain.process(0, Batch::new(records))
    }

    /// Advances the input watermark.
    pub fn watermark(&mut self, watermark: Timestamp) -> Result<(), OperatorError> {
        self.chain.process_watermark(watermark)
    }

    /// Sets processing time; the operator is called if it asked for a time at or before it.
    pub fn set_processing_time(&mut self, now: Timestamp) -> Result<(), OperatorError> {
        self.time.store(now, Ordering::SeqCst);
        if self.chain.next_processing_time().is_some_and(|t| t <= now) {
            self.chain.on_processing_time(now)?;
        }
        Ok(())
    }

    /// Ends the input.
    pub fn end_input(&mut self) -> Result<(), OperatorError> {
        self.chain.end_input(0).map(|_| ())
    }

    /// Takes what the operator emitted on its main output so far, with timestamps.
    pub fn take_output<T: Data>(&mut self) -> Result<Vec<(T, Option<Timestamp>)>, OperatorError> {
        let batches = std::mem::take(&mut self.lock().main);
        records_of(batches)
    }

    /// Takes what the operator emitted on the side output `tag` so far.
    pub fn take_side<T: Data>(
        &mut self,
        tag: &str,
    ) -> Result<Vec<(T, Option<Timestamp>)>, OperatorError> {
        let mut c = self.lock();
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut c.side)
            .into_iter()
            .partition(|(t, _)| t == tag);
        c.side = rest;
        drop(c);
        records_of(mine.into_iter().map(|(_, b)| b).collect())
    }

    /// The watermarks the operator emitted so far.
    pub fn watermarks(&self) -> Vec<Timestamp> {
        self.lock().watermarks.clone()
    }

    /// The operator's counters (late records dropped).
    pub fn metrics(&self) -> &IoMetrics {
        &self.metrics
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Collected> {
        self.collected.lock().unwrap_or_else(|p| p.into_inner())
    }
}
