//! The window assigners a window operator takes (Flink's `WindowAssigner`s): tumbling,
//! sliding and session windows in event or processing time, sessions with a gap taken from
//! each element, and the global window (of count windows and custom triggers).

use std::sync::Arc;
use std::time::Duration;

use crate::eventtime::Timestamp;
use crate::windowing::triggers::{
    EventTimeTrigger, NeverTrigger, ProcessingTimeTrigger, TimeDomain, Trigger,
};
use crate::windowing::{GlobalWindow, TimeWindow, Window, WindowAssigner, WindowError};

/// Puts elements into windows.
pub trait Assigner<T, W: Window>: Send + Sync + 'static {
    /// Appends the windows of an element with `timestamp` at `processing_time` to `out`.
    fn assign(
        &self,
        element: &T,
        timestamp: Timestamp,
        processing_time: Timestamp,
        out: &mut Vec<W>,
    ) -> Result<(), WindowError>;

    /// Whether windows end by the watermark (late data and allowed lateness apply).
    fn is_event_time(&self) -> bool;

    /// Whether windows merge (sessions): a window merges with every window of its key it
    /// [intersects](Window::intersects) into their [cover](Window::cover).
    fn is_merging(&self) -> bool {
        false
    }

    /// The trigger used when none is set.
    fn default_trigger(&self) -> Arc<dyn Trigger<T, W>>;

    /// Why the assigner cannot work, if it cannot (checked when the job is built).
    fn validate(&self) -> Result<(), WindowError> {
        Ok(())
    }
}

/// Tumbling, sliding or session windows of static sizes, in event or processing time.
#[derive(Debug, Clone)]
pub struct TimeWindows {
    kind: Result<WindowAssigner, WindowError>,
    domain: TimeDomain,
}

impl TimeWindows {
    fn new(kind: Result<WindowAssigner, WindowError>, domain: TimeDomain) -> Self {
        Self { kind, domain }
    }

    /// Tumbling windows of `size` in `domain`, aligned to the epoch plus `offset`.
    pub fn tumbling_with_offset(size: Duration, offset: Duration, domain: TimeDomain) -> Self {
        Self::new(WindowAssigner::tumbling_with_offset(size, offset), domain)
    }

    /// Sliding windows of `size` every `slide` in `domain`, aligned to the epoch plus `offset`.
    pub fn sliding_with_offset(
        size: Duration,
        slide: Duration,
        offset: Duration,
        domain: TimeDomain,
    ) -> Self {
        Self::new(
            WindowAssigner::sliding_with_offset(size, slide, offset),
            domain,
        )
    }

    /// Sessions in `domain` closed by a `gap` without elements.
    pub fn session(gap: Duration, domain: TimeDomain) -> Self {
        Self::new(WindowAssigner::session(gap), domain)
    }

    /// Tumbling event-time windows of `size`, aligned to the epoch.
    pub fn tumbling_event_time(size: Duration) -> Self {
        Self::new(WindowAssigner::tumbling(size), TimeDomain::EventTime)
    }

    /// Tumbling event-time windows aligned to the epoch plus `offset`.
    pub fn tumbling_event_time_with_offset(size: Duration, offset: Duration) -> Self {
        Self::new(
            WindowAssigner::tumbling_with_offset(size, offset),
            TimeDomain::EventTime,
        )
    }

    /// Sliding event-time windows of `size` every `slide`.
    pub fn sliding_event_time(size: Duration, slide: Duration) -> Self {
        Self::new(WindowAssigner::sliding(size, slide), TimeDomain::EventTime)
    }

    /// Sliding event-time windows aligned to the epoch plus `offset`.
    pub fn sliding_event_time_with_offset(
        size: Duration,
        slide: Duration,
        offset: Duration,
    ) -> Self {
        Self::new(
            WindowAssigner::sliding_with_offset(size, slide, offset),
            TimeDomain::EventTime,
        )
    }

    /// Event-time sessions closed by a `gap` without elements.
    pub fn event_time_session(gap: Duration) -> Self {
        Self::new(WindowAssigner::session(gap), TimeDomain::EventTime)
    }

    /// Tumbling processing-time windows of `size`.
    pub fn tumbling_processing_time(size: Duration) -> Self {
        Self::new(WindowAssigner::tumbling(size), TimeDomain::ProcessingTime)
    }

    /// Sliding processing-time windows of `size` every `slide`.
    pub fn sliding_processing_time(size: Duration, slide: Duration) -> Self {
        Self::new(
            WindowAssigner::sliding(size, slide),
            TimeDomain::ProcessingTime,
        )
    }

    /// Processing-time sessions closed by a `gap`.
    pub fn processing_time_session(gap: Duration) -> Self {
        Self::new(WindowAssigner::session(gap), TimeDomain::ProcessingTime)
    }
}

impl<T: 'static> Assigner<T, TimeWindow> for TimeWindows {
    #[inline]
    fn assign(
        &self,
        _element: &T,
        timestamp: Timestamp,
        processing_time: Timestamp,
        out: &mut Vec<TimeWindow>,
    ) -> Result<(), WindowError> {
        let kind = self.kind.as_ref().map_err(Clone::clone)?;
        let time = match self.domain {
            TimeDomain::EventTime => timestamp,
            TimeDomain::ProcessingTime => processing_time,
        };
        kind.assign_into(time, out);
        Ok(())
    }

    fn is_event_time(&self) -> bool {
        self.domain == TimeDomain::EventTime
    }

    fn is_merging(&self) -> bool {
        self.kind.as_ref().is_ok_and(WindowAssigner::is_merging)
    }

    fn default_trigger(&self) -> Arc<dyn Trigger<T, TimeWindow>> {
        match self.domain {
            TimeDomain::EventTime => Arc::new(EventTimeTrigger),
            TimeDomain::ProcessingTime => Arc::new(ProcessingTimeTrigger),
        }
    }

    fn validate(&self) -> Result<(), WindowError> {
        self.kind.as_ref().map(|_| ()).map_err(Clone::clone)
    }
}

/// Sessions whose gap each element gives (Flink's `withDynamicGap`): an element with
/// timestamp `ts` opens `[ts, ts + gap(element))`; a gap that is not positive fails the job.
pub struct DynamicSessions<T> {
    gap: Arc<dyn Fn(&T) -> Duration + Send + Sync>,
    domain: TimeDomain,
}

impl<T> Clone for DynamicSessions<T> {
    fn clone(&self) -> Self {
        Self {
            gap: self.gap.clone(),
            domain: self.domain,
        }
    }
}

impl<T> DynamicSessions<T> {
    /// Event-time sessions with the gap `gap(element)`.
    pub fn event_time(gap: impl Fn(&T) -> Duration + Send + Sync + 'static) -> Self {
        Self {
            gap: Arc::new(gap),
            domain: TimeDomain::EventTime,
        }
    }

    /// Processing-time sessions with the gap `gap(element)`.
    pub fn processing_time(gap: impl Fn(&T) -> Duration + Send + Sync + 'static) -> Self {
        Self {
            gap: Arc::new(gap),
            domain: TimeDomain::ProcessingTime,
        }
    }
}

impl<T: Send + Sync + 'static> Assigner<T, TimeWindow> for DynamicSessions<T> {
    fn assign(
        &self,
        element: &T,
        timestamp: Timestamp,
        processing_time: Timestamp,
        out: &mut Vec<TimeWindow>,
    ) -> Result<(), WindowError> {
        let gap = i64::try_from((self.gap)(element).as_millis()).unwrap_or(i64::MAX);
        if gap <= 0 {
            return Err(WindowError::Invalid(format!(
                "a dynamic session gap must be positive, the extractor gave {gap} ms"
            )));
        }
        let start = match self.domain {
            TimeDomain::EventTime => timestamp,
            TimeDomain::ProcessingTime => processing_time,
        };
        out.push(TimeWindow::new(start, start.saturating_add(gap)));
        Ok(())
    }

    fn is_event_time(&self) -> bool {
        self.domain == TimeDomain::EventTime
    }

    fn is_merging(&self) -> bool {
        true
    }

    fn default_trigger(&self) -> Arc<dyn Trigger<T, TimeWindow>> {
        match self.domain {
            TimeDomain::EventTime => Arc::new(EventTimeTrigger),
            TimeDomain::ProcessingTime => Arc::new(ProcessingTimeTrigger),
        }
    }
}

/// Every element in the one global window; it fires only by a trigger of its own (count
/// windows use this with a count trigger).
#[derive(Debug, Clone, Copy, Default)]
pub struct GlobalWindows;

impl<T: 'static> Assigner<T, GlobalWindow> for GlobalWindows {
    fn assign(
        &self,
        _element: &T,
        _timestamp: Timestamp,
        _processing_time: Timestamp,
        out: &mut Vec<GlobalWindow>,
    ) -> Result<(), WindowError> {
        out.push(GlobalWindow);
        Ok(())
    }

    fn is_event_time(&self) -> bool {
        false
    }

    fn default_trigger(&self) -> Arc<dyn Trigger<T, GlobalWindow>> {
        Arc::new(NeverTrigger)
    }
}
