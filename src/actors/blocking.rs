//! A thread of its own for an actor's blocking I/O (fsync, directory removals), so the actor's
//! thread, which it shares with other actors, never waits on a disk. Jobs run one at a time in
//! the order they were given; each answers through a future the actor awaits in its context,
//! so results come back in order and without a message in its mailbox.

use std::future::Future;
use std::sync::mpsc;

/// Jobs queued for the thread before a new one is refused.
pub const QUEUE: usize = 64;

type Job = Box<dyn FnOnce() + Send>;

/// The handle on an I/O thread; the thread ends once the handle is dropped and its queue is
/// done.
pub struct BlockingWorker {
    jobs: mpsc::SyncSender<Job>,
}

impl BlockingWorker {
    /// Starts the thread, named `name`.
    pub fn start(name: &str) -> std::io::Result<Self> {
        let (jobs, queue) = mpsc::sync_channel::<Job>(QUEUE);
        std::thread::Builder::new()
            .name(name.to_string())
            .spawn(move || {
                for job in queue {
                    job();
                }
            })?;
        Ok(Self { jobs })
    }

    /// Runs `f` on the thread; resolves to its result, or to `None` when the queue is full or
    /// the thread is gone.
    pub fn run<T, F>(&self, f: F) -> impl Future<Output = Option<T>> + 'static
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let queued = self
            .jobs
            .try_send(Box::new(move || {
                let _ = tx.send(f());
            }))
            .is_ok();
        async move {
            if queued {
                rx.await.ok()
            } else {
                None
            }
        }
    }

    /// Runs `f` on the thread without waiting for it; on the caller's thread when the queue
    /// is full or the thread is gone (it must not be lost).
    pub fn spawn(&self, f: impl FnOnce() + Send + 'static) {
        if let Err(e) = self.jobs.try_send(Box::new(f)) {
            let (mpsc::TrySendError::Full(job) | mpsc::TrySendError::Disconnected(job)) = e;
            job();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn jobs_run_in_order_off_the_caller_thread() {
        let w = BlockingWorker::start("test-io").expect("thread");
        let caller = std::thread::current().id();
        let a = w.run(move || (1, std::thread::current().id() != caller));
        let b = w.run(|| 2);
        assert_eq!(a.await, Some((1, true)));
        assert_eq!(b.await, Some(2));
    }
}
