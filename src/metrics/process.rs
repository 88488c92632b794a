//! A process's own figures: resident memory and threads, read from `/proc/self/status`
//! (Linux; elsewhere there are none). Read when asked (a heartbeat, a scrape), never on the
//! data path.

use serde::{Deserialize, Serialize};

/// What a process uses.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessStats {
    /// Resident memory, in bytes.
    pub rss_bytes: u64,
    /// Threads.
    pub threads: u64,
}

impl ProcessStats {
    /// This process's figures now (`None` where `/proc` has none).
    pub fn current() -> Option<Self> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        Self::parse(&status)
    }

    /// Reads `VmRSS` (kB) and `Threads` from a `/proc/<pid>/status` text.
    pub fn parse(status: &str) -> Option<Self> {
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))?
                .split_whitespace()
                .next()?
                .parse::<u64>()
                .ok()
        };
        Some(Self {
            rss_bytes: field("VmRSS:")?.saturating_mul(1024),
            threads: field("Threads:")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_text_is_read_and_this_process_has_figures() {
        let s = ProcessStats::parse("Name:\trill\nVmRSS:\t  2048 kB\nThreads:\t7\n");
        assert_eq!(
            s,
            Some(ProcessStats {
                rss_bytes: 2048 * 1024,
                threads: 7
            })
        );
        assert_eq!(ProcessStats::parse("Name:\trill\n"), None);
        let me = ProcessStats::current().expect("Linux has /proc/self/status");
        assert!(me.rss_bytes > 0 && me.threads >= 1, "{me:?}");
    }
}
