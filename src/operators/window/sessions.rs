//! Merging windows (sessions, the module's last rule): a new window absorbs every window of
//! its key it intersects, with their contents and trigger state.

use crate::api::{Data, Key};
use crate::eventtime::Timestamp;
use crate::operators::OperatorError;
use crate::windowing::functions::WindowContents;
use crate::windowing::triggers::TriggerContext;
use crate::windowing::Window;

use super::state::Slot;
use super::WindowOperator;

impl<K, T, W, C> WindowOperator<K, T, W, C>
where
    K: Key,
    T: Data,
    W: Window,
    C: WindowContents<K, T, W>,
{
    /// Merges the new window `w` of `key` with the key's windows it intersects. Returns the
    /// window the element goes to, or `None` if that window is late.
    ///
    /// A key's windows are kept sorted and never intersect each other, so the ones a window
    /// intersects are one run beside the place it would sort into: finding them is a binary
    /// search, however many sessions of the key are open (as many as the watermark lags by).
    pub(super) fn merge_into_session(
        &mut self,
        key: &K,
        w: W,
        now: Timestamp,
    ) -> Result<Option<W>, OperatorError> {
        let mut cover = w;
        let mut absorbed = std::mem::take(&mut self.absorbed);
        absorbed.clear();
        let mut run = 0..0;
        if let Some(current) = self.sessions.get(key) {
            let at = current.partition_point(|c| *c < cover);
            // Earlier windows first: absorbing them only moves the cover's start back, which
            // later windows do not depend on.
            let mut lo = at;
            while lo > 0 && current[lo - 1].intersects(&cover) {
                lo -= 1;
                cover = cover.cover(&current[lo]);
            }
            let mut hi = at;
            while hi < current.len() && current[hi].intersects(&cover) {
                cover = cover.cover(&current[hi]);
                hi += 1;
            }
            absorbed.extend_from_slice(&current[lo..hi]);
            run = lo..hi;
        }
        let result = self.merge_absorbed(key, &cover, &absorbed, run, now);
        self.absorbed = absorbed;
        result.map(|late| (!late).then_some(cover))
    }

    /// Replaces the `absorbed` windows of `key` (the run `run` of its sorted windows; where
    /// `cover` goes if the run is empty) by `cover`, merging their contents and trigger state.
    /// Returns whether `cover` is late (then nothing changes).
    fn merge_absorbed(
        &mut self,
        key: &K,
        cover: &W,
        absorbed: &[W],
        run: std::ops::Range<usize>,
        now: Timestamp,
    ) -> Result<bool, OperatorError> {
        if self.is_window_late(cover) {
            return Ok(true);
        }
        match absorbed {
            // A new session.
            [] => {
                self.sessions
                    .entry(key.clone())
                    .or_default()
                    .insert(run.start, cover.clone());
                return Ok(false);
            }
            // Inside a session that does not grow.
            [only] if only == cover => return Ok(false),
            _ => {}
        }
        if !self.spec.trigger.can_merge() {
            return Err(self
                .failed("the trigger cannot merge windows, but the assigner merges them".into()));
        }
        // The first absorbed window's slot becomes the cover's; its timers were for the old
        // window and go (the trigger sets the cover's).
        let mut target = self
            .state
            .take(key, &absorbed[0])
            .unwrap_or_else(|| Slot::new(key.clone()));
        target.timers.clear();
        let mut merged_states = Vec::new();
        for p in &absorbed[1..] {
            if let Some(old) = self.state.take(key, p) {
                if let Some(acc) = old.contents {
                    match target.contents.as_mut() {
                        Some(t) => self.contents.merge(t, acc),
                        None => target.contents = Some(acc),
                    }
                }
                merged_states.push(old.trigger_state);
            }
        }
        let mut ctx = TriggerContext {
            watermark: self.watermark,
            processing_time: now,
            timers: &mut target.timers,
            registered: &mut self.timers.registered,
            state: &mut target.trigger_state,
            merged: merged_states,
        };
        self.spec.trigger.on_merge(cover, &mut ctx);
        let hash = self.state.key_hash(key);
        self.timers.queue_registered(hash, key, cover);
        self.state.put(cover, target);
        if let Some(current) = self.sessions.get_mut(key) {
            current.splice(run, std::iter::once(cover.clone()));
        }
        Ok(false)
    }
}
