//! The current time, passed in so that domain code and tests never read the system clock.

use chrono::{DateTime, SubsecRound, Utc};

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The system clock, truncated to whole milliseconds so stored timestamps round-trip exactly.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now().trunc_subsecs(3)
    }
}

/// The system clock moved by an adjustable offset: lets the local stack and its tests see
/// holds expire without waiting.
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset_seconds: std::sync::atomic::AtomicI64,
}

impl OffsetClock {
    pub fn advance(&self, by: chrono::Duration) {
        self.offset_seconds
            .fetch_add(by.num_seconds(), std::sync::atomic::Ordering::SeqCst);
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        SystemClock.now()
            + chrono::Duration::seconds(
                self.offset_seconds
                    .load(std::sync::atomic::Ordering::SeqCst),
            )
    }
}
